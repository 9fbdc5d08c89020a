//! Scoring agents as the paper reports them: a trajectory's score is the test metric of the
//! script with the best validation metric it reached (the starter's when no edit beat it);
//! relative gain is measured over the starter's test metric. This is the only place (with
//! `env::evaluation`) that reads test metrics.

use crate::agent::episode::Episode;
use crate::env::{Script, Workbench, WorkbenchError, evaluate};
use crate::tasks::Task;

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
pub fn starter_test_metric(
    wb: &Workbench,
    task: &Task,
    run_seed: u64,
) -> Result<f64, WorkbenchError> {
    let starter = wb.starter(task)?;
    Ok(evaluate(wb, task, &starter, run_seed)?.test_metric)
}
