//! Scoring agents as the paper reports them: a trajectory's score is the test metric of the
//! script with the best validation metric it reached (the starter's when no edit beat it);
//! relative gain is measured over the starter's test metric. This is the only place (with
//! `env::evaluation`) that reads test metrics.

use serde::{Deserialize, Serialize};

use crate::agent::episode::Episode;
use crate::env::{Script, Workbench, WorkbenchError, evaluate};
use crate::tasks::Task;

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
    /// The step limit of a trajectory on `task`.
    pub(crate) fn steps_on(&self, task: &Task) -> usize {
        let budget = task.spec.budget.max_steps as usize;
        self.max_steps.map_or(budget, |m| m.min(budget))
    }
}

/// The test metric of the episode's best-validation script.
pub fn episode_test_metric(
    wb: &Workbench,
    task: &Task,
    episode: &Episode,
    run_seed: u64,
) -> Result<f64, WorkbenchError> {
    let script = Script::parse(task.spec.data_type, &episode.best_script).map_err(|e| {
        WorkbenchError::NotEvaluable(task.spec.id.clone(), format!("best script: {e}"))
    })?;
    Ok(evaluate(wb, task, &script, run_seed)?.test_metric)
}

/// The test metric of the task's starter script.
pub(crate) fn starter_test_metric(
    wb: &Workbench,
    task: &Task,
    run_seed: u64,
) -> Result<f64, WorkbenchError> {
    let starter = wb.starter(task)?;
    Ok(evaluate(wb, task, &starter, run_seed)?.test_metric)
}
