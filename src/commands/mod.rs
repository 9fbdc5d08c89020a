//! The `mlagent` subcommands, one module each.

pub mod bench;
pub mod config;
pub mod env;
pub mod lm;
pub mod metric;
pub mod reproduce;
pub mod run;
pub mod sandbox;
pub mod serve;
pub mod tasks;
pub mod verify;

use std::path::PathBuf;

use anyhow::Context as _;

use mlagent::backend::BackendKind;

/// Options every subcommand understands.
#[derive(Clone, Debug, clap::Args)]
pub struct Global {
    /// Artifact store folder [default: target/mlagent/store of this workspace]
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Folder of prepared upstream tasks (`mlagent tasks prepare` writes, the Python
    /// environment reads) [default: target/mlagent/prepared of this workspace]
    #[arg(long, global = true, value_name = "DIR")]
    pub prepared: Option<PathBuf>,
    /// Compute backend: flex (CPU, default), or wgpu / cuda when compiled in. `run` and
    /// `reproduce` run on the experiment's `backend` and refuse another; commands that only
    /// compute on the CPU refuse any but flex
    #[arg(long, global = true)]
    pub backend: Option<BackendKind>,
    /// `run` and `reproduce` of a Python experiment: send every execution as a job to the Ray
    /// cluster whose Jobs API (the dashboard) is at this URL, e.g. http://127.0.0.1:8265
    #[arg(long, global = true, value_name = "URL", requires = "ray_shared_dir")]
    pub ray_address: Option<String>,
    /// With --ray-address: a folder every node of the cluster sees at this same path (job
    /// folders are written there); this `mlagent` binary and the interpreter must be at the same
    /// paths on every node
    #[arg(long, global = true, value_name = "DIR", requires = "ray_address")]
    pub ray_shared_dir: Option<PathBuf>,
}

impl Global {
    /// The folder of prepared upstream tasks.
    pub fn prepared_root(&self) -> PathBuf {
        self.prepared
            .clone()
            .unwrap_or_else(mlagent::tasks::python::default_prepared_root)
    }

    /// The Python tasks: `tasks/python/` and the prepared ones.
    pub fn python_tasks(&self) -> anyhow::Result<Vec<mlagent::tasks::python::PythonTask>> {
        let prepared = self.prepared_root();
        mlagent::tasks::python::load_with_prepared(&prepared).map_err(|e| {
            anyhow::anyhow!(
                "loading the Python tasks (tasks/python/ and {}): {e}",
                prepared.display()
            )
        })
    }

    /// The backend asked for, flex when none was.
    pub fn backend(&self) -> BackendKind {
        self.backend.unwrap_or_default()
    }

    /// Refuses a `--backend` other than flex for a command that computes on the CPU only, so
    /// the flag is never silently ignored.
    pub fn cpu_only(&self, command: &str, why: &str) -> anyhow::Result<()> {
        match self.backend {
            Some(b) if b != BackendKind::Flex => anyhow::bail!(
                "--backend {b}: `mlagent {command}` runs on the flex CPU backend only ({why}); \
                 leave out --backend or pass --backend flex"
            ),
            _ => Ok(()),
        }
    }

    /// Refuses a `--backend` that differs from the experiment's own `backend` field: the
    /// backend is part of every stage's run key, so it is set in the config, not on the
    /// command line. A backend not compiled into this binary is refused by the first stage
    /// that needs its device, so the stages before it (on the CPU) still run.
    pub fn experiment_backend(
        &self,
        exp: &mlagent::config::Experiment,
        path: &std::path::Path,
    ) -> anyhow::Result<()> {
        if let Some(b) = self.backend
            && b != exp.backend
        {
            anyhow::bail!(
                "--backend {b}: this experiment runs on backend {} (field `backend` of {}), \
                 which is part of every stage's run key; set the backend in the config instead \
                 of passing --backend",
                exp.backend,
                path.display()
            );
        }
        // A backend not compiled in is named by the first stage that needs the device (sft):
        // the stages before it run on the CPU.
        Ok(())
    }
}

/// A progress bar on stderr; drawn only when stderr is a terminal, so logs and pipes stay clean.
pub fn progress_bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed})")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

/// The Python environment of a pipeline run: the interpreter `$MLAGENT_PYTHON` (else `python3`)
/// in the sandbox with full isolation (a machine that cannot isolate is refused, naming why),
/// the Python tasks found through `--prepared`.
pub(crate) fn pipeline_python_env(
    experiment: &mlagent::config::Experiment,
    global: &Global,
) -> anyhow::Result<mlagent::env::python::PythonEnv> {
    let python = std::env::var("MLAGENT_PYTHON").unwrap_or_else(|_| "python3".into());
    mlagent::sandbox::Sandbox::isolation_available().map_err(|why| {
        anyhow::anyhow!(
            "experiment `{}` runs agent-written Python in the sandbox, which cannot isolate it \
             on this machine: {why}",
            experiment.name
        )
    })?;
    let env = mlagent::stages::python_environment(
        experiment,
        &python,
        mlagent::sandbox::Isolation::Required,
        &global.prepared_root(),
    )?;
    Ok(match (&global.ray_address, &global.ray_shared_dir) {
        (Some(address), Some(shared)) => env.with_ray(mlagent::env::python::ray::RayExecutor {
            address: address.clone(),
            shared_dir: shared.clone(),
            mlagent: std::env::current_exe()
                .context("locating this mlagent binary for the cluster's jobs")?,
            width: 1,
            schedule_seconds: 120.0,
        }),
        _ => env,
    })
}

/// `--ray-address` is for the Python environment's executions; a workbench experiment trains
/// its scripts in-process.
pub(crate) fn refuse_ray_for_workbench(
    global: &Global,
    experiment: &mlagent::config::Experiment,
) -> anyhow::Result<()> {
    if global.ray_address.is_some() {
        anyhow::bail!(
            "--ray-address: experiment `{}` acts in the workbench, whose scripts train in this \
             process; Ray runs the Python environment's executions (`environment: Python`)",
            experiment.name
        );
    }
    Ok(())
}
