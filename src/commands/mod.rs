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
    /// command line. Also refuses a config whose backend is not compiled into this binary,
    /// before any stage runs.
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
        exp.backend
            .device()
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{}: field `backend`: {e}", path.display()))
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
    Ok(mlagent::stages::python_environment(
        experiment,
        &python,
        mlagent::sandbox::Isolation::Required,
        &global.prepared_root(),
    )?)
}
