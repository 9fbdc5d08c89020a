//! Scoring agents as the paper reports them: a trajectory's score is the test metric of the
//! script with the best validation metric it reached (the starter's when no edit beat it);
//! relative gain is measured over the starter's test metric. This is the only place (with
//! `env::evaluation`) that reads test metrics.

use serde::{Deserialize, Serialize};

use crate::agent::environment::{EnvError, Environment};
use crate::agent::episode::Episode;

/// `eval` section of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Trajectories per (agent, task); the paper: 8.
    pub trajectories: usize,
    /// Step cap of a trajectory below the task's own step budget (`None`: the task's budget, as
    /// in the paper; smoke lowers it to stay fast).
    #[serde(default)]
    pub max_steps: Option<usize>,
    /// Agents driven by LLMs behind OpenAI-compatible endpoints, evaluated beside this
    /// project's agents; their answers are recorded in the run (`agent::api`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_agents: Vec<crate::agent::api::ApiAgentConfig>,
}

impl EvalConfig {
    /// The step limit of a trajectory on a task whose own step limit is `budget`.
    pub(crate) fn steps_on(&self, budget: usize) -> usize {
        self.max_steps.map_or(budget, |m| m.min(budget))
    }
}

/// The test metric of the episode's best-validation script; the starter's (`starter_test`)
/// when that script wrote no gradable submission, so an agent that breaks the submission gains
/// nothing (paper/PROVENANCE.md).
pub fn episode_test_metric<E: Environment>(
    env: &E,
    task: &E::Task,
    episode: &Episode,
    starter_test: f64,
    run_seed: u64,
) -> Result<f64, EnvError> {
    Ok(env
        .test_metric(task, &episode.best_script, run_seed)?
        .unwrap_or(starter_test))
}

/// The test metric of the task's starter script.
pub(crate) fn starter_test_metric<E: Environment>(
    env: &E,
    task: &E::Task,
    run_seed: u64,
) -> Result<f64, EnvError> {
    let start = env.start(task, run_seed)?;
    let script = env.script(&start.state);
    env.test_metric(task, &script, run_seed)?
        .ok_or_else(|| EnvError::Evaluation {
            task: env.task_id(task).to_string(),
            message: "the starter script wrote no gradable submission".into(),
        })
}
