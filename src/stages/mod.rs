//! The pipeline's stages (ARCHITECTURE.md, "Data flow"): each is a pure function of (its config, its parents'
//! outputs, a seed), run through [`crate::pipeline::run_stage`] so that it is reused when its
//! inputs are unchanged and recorded in a manifest when it runs.
//!
//! `ideas → expert → sft → rl (and rl-episode) → eval → report`

pub mod environment;
pub mod eval;
pub mod expert;
pub mod ideas;
pub mod report;
pub mod reproduce;
pub mod rl;
pub mod sft;

use serde::Serialize;

pub use environment::StageEnvironment;

use crate::config::Experiment;
use crate::env::Workbench;
use crate::pipeline::{StageInput, StageRun};
use crate::provenance::{CodeVersion, Parent, Store};
use crate::seed::SeedPath;

/// Errors of a stage body; each names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum StageBodyError {
    #[error(transparent)]
    Workbench(#[from] crate::env::WorkbenchError),
    #[error(transparent)]
    Episode(#[from] crate::agent::episode::EpisodeError),
    #[error(transparent)]
    Env(#[from] crate::agent::environment::EnvError),
    #[error(transparent)]
    Lm(#[from] crate::lm::LmError),
    #[error(transparent)]
    Write(#[from] crate::provenance::atomic::WriteError),
    #[error(transparent)]
    Rl(#[from] crate::train::rl::RlError),
    #[error(transparent)]
    Conversation(#[from] crate::agent::conversation::ConversationError),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("config `{field}`: {message}")]
    Config { field: String, message: String },
    /// Stopped on request (SIGINT / SIGTERM) after saving its resume state.
    #[error("{0}")]
    Interrupted(String),
}

pub type StageError = crate::pipeline::StageError<StageBodyError>;

/// What every stage needs: the store, the environment (the workbench unless the experiment
/// names the Python environment), the experiment, the code version.
pub struct Context<'a, E: StageEnvironment = Workbench> {
    pub store: &'a Store,
    pub env: &'a E,
    pub experiment: &'a Experiment,
    pub code: CodeVersion,
    /// Draw progress bars (off in tests and when output is not a terminal).
    pub progress: bool,
    /// Never touch the network: API agents replay recorded answers and fail on a missing one.
    pub offline: bool,
}

/// A stage config together with the digests of the tasks it reads: a changed task file or
/// dataset gives a different run.
#[derive(Serialize)]
struct Keyed<'a, C: Serialize> {
    config: &'a C,
    /// Every stage scores steps (or reads scored steps) with the experiment's reward.
    reward: &'a crate::reward::RewardConfig,
    tasks: Vec<(String, String)>,
}

impl<'a, E: StageEnvironment> Context<'a, E> {
    /// The training seed of every script run (assumed: one per experiment, so a script's metric
    /// is a function of the script and the run cache serves every stage; PROVENANCE.md).
    pub(crate) fn run_seed(&self) -> u64 {
        self.experiment.seed
    }

    /// The root of the experiment's random streams.
    pub fn seed(&self) -> SeedPath {
        SeedPath::root(self.experiment.seed)
    }

    pub fn tasks(&self, ids: &[String]) -> Result<Vec<&'a E::Task>, StageBodyError> {
        self.env.tasks(ids)
    }

    /// The input of `stage` with `config` over `tasks`, below `parents`: its run key, and the
    /// `config.json` that `pipeline::run_stage` writes (the config, the reward, the tasks'
    /// digests).
    pub fn input<C: Serialize>(
        &self,
        stage: &str,
        config: &C,
        tasks: &[&E::Task],
        parents: &[&StageRun],
    ) -> StageInput {
        let parents = parents
            .iter()
            .map(|p| Parent {
                stage: p.manifest.stage.clone(),
                digest: p.manifest.digest,
            })
            .collect();
        StageInput::new(
            stage,
            &self.keyed(config, tasks),
            parents,
            self.experiment.seed,
            self.experiment.backend.name(),
            self.code.clone(),
        )
        .expect("stage configs are validated to hold finite numbers when loaded")
    }
}

/// The folder of a language-model stage run (sft, rl, rl-episode) that holds its policy, in the
/// Hugging Face layout plus `tokenizer.json`: what RL starts from, evaluation loads and
/// `mlagent serve` serves.
pub const POLICY_DIR: &str = "policy";

/// The policy folder of a language-model stage run (sft, rl, rl-episode).
pub(crate) fn policy_dir(run: &StageRun) -> std::path::PathBuf {
    run.path(POLICY_DIR)
}

impl<E: StageEnvironment> Context<'_, E> {
    fn keyed<'c, C: Serialize>(&'c self, config: &'c C, tasks: &[&E::Task]) -> Keyed<'c, C> {
        Keyed {
            config,
            reward: &self.experiment.reward,
            tasks: tasks
                .iter()
                .map(|t| {
                    let (id, digest) = self.env.task_key(t);
                    (id, digest.to_string())
                })
                .collect(),
        }
    }
}

/// The workbench of an experiment: the bundled tasks and the experiment's reward. Script runs
/// are cached in memory for the process; there is deliberately no disk cache in the store, so
/// every byte of a store is covered by a manifest that `verify` checks.
pub fn workbench(experiment: &Experiment) -> Result<Workbench, crate::tasks::TaskError> {
    let mut wb = Workbench::new(crate::tasks::Registry::load_default()?);
    wb.reward_config = experiment.reward.clone();
    Ok(wb)
}

/// The Python environment of an experiment: the Python tasks (bundled and those prepared into
/// `prepared`), the experiment's reward, every execution kept for the process
/// (`PythonEnv::with_memo`) and, per stage run, in its `executions.jsonl` under its manifest
/// (`environment::EXECUTIONS_FILE`). `python` is the interpreter (a name on `PATH` or a path).
pub fn python_environment(
    experiment: &Experiment,
    python: &str,
    isolation: crate::sandbox::Isolation,
    prepared: &std::path::Path,
) -> Result<crate::env::python::PythonEnv, StageBodyError> {
    use crate::env::python::{Interpreter, PythonEnv};
    let config = |message: String| StageBodyError::Config {
        field: "environment".into(),
        message,
    };
    let registry = crate::tasks::Registry::load_default().map_err(|e| config(e.to_string()))?;
    let tasks =
        crate::tasks::python::load_with_prepared(prepared).map_err(|e| config(e.to_string()))?;
    let interpreter = Interpreter::find(python).map_err(|e| config(e.to_string()))?;
    let mut env = PythonEnv::new(registry.data.clone(), interpreter, isolation)
        .with_tasks(tasks)
        .with_memo();
    env.reward_config = experiment.reward.clone();
    Ok(env)
}
