//! Running a script, and the only door to the test split. A run trains once and scores both
//! the validation and the test split; the test score is sealed in [`TestMetric`], which only
//! [`evaluate`] opens. Feedback and reward are built from [`RunRecord::outcome`], which holds
//! the validation metric alone.

use serde::{Deserialize, Serialize};

use super::features;
use super::model::{Model, TrainError, TrainInput, forward_macs};
use super::score::{head_for, score, target_matrix};
use super::script::Script;
use crate::seed::SeedPath;
use crate::tasks::{Dataset, Task, TestAccess};

/// A sealed test metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestMetric(f64);

/// What the agent may learn from a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RunOutcome {
    Success { valid_metric: f64 },
    Failed { message: String },
    OverBudget { planned_work: f64, budget: f64 },
}

/// A cached run: the outcome, the sealed test metric, and the planned work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub outcome: RunOutcome,
    pub planned_work: f64,
    test: Option<TestMetric>,
}

impl RunRecord {
    /// Checks that the record could have been computed for a task scored by `metric`: finite
    /// numbers, non-negative work, metrics within the metric's range (with a margin of 1e-9
    /// for rounding). Used on records read back from a file, never on fresh ones.
    pub fn check_values(&self, metric: crate::tasks::TaskMetric) -> Result<(), String> {
        let (lo, hi) = metric.range();
        let in_range = |what: &str, v: f64| {
            if v.is_finite() && v >= lo - 1e-9 && v <= hi + 1e-9 {
                Ok(())
            } else {
                Err(format!(
                    "{what} {v} is outside the range [{lo}, {hi}] of {}",
                    metric.name()
                ))
            }
        };
        if !(self.planned_work.is_finite() && self.planned_work >= 0.0) {
            return Err(format!(
                "planned_work {} is not a finite number >= 0",
                self.planned_work
            ));
        }
        match &self.outcome {
            RunOutcome::Success { valid_metric } => in_range("valid_metric", *valid_metric)?,
            RunOutcome::Failed { .. } => {}
            RunOutcome::OverBudget {
                planned_work,
                budget,
            } => {
                if !(planned_work.is_finite() && budget.is_finite() && planned_work > budget) {
                    return Err(format!(
                        "over budget with planned_work {planned_work} and budget {budget}"
                    ));
                }
            }
        }
        if let Some(TestMetric(t)) = self.test {
            in_range("the test metric", t)?;
        }
        Ok(())
    }
}

/// The wall-clock guard stopped a run. Not an outcome: whether it trips depends on the
/// machine's speed, so it never becomes feedback, a reward or a cached record; the caller
/// stops with an error instead: nothing that enters a result may read the clock
/// (ARCHITECTURE.md, invariant 12).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WallClockExceeded {
    pub guard_s: f64,
}

/// Planned multiply-adds: forward + backward (≈ 3 forwards) per training row and epoch, plus
/// one forward per evaluated row.
pub fn planned_work(
    script: &Script,
    d: usize,
    k: usize,
    train_rows: usize,
    eval_rows: usize,
    image: Option<features::Shape>,
) -> Result<f64, TrainError> {
    let f = forward_macs(script, d, k, image)?;
    Ok(f * (3.0 * script.usize("epochs") as f64 * train_rows as f64 + eval_rows as f64))
}

/// Trains `script` on `data`'s training split; scores the validation and test splits.
pub(super) fn run_script(
    task: &Task,
    data: &Dataset,
    script: &Script,
    seed: u64,
    guard_s: f64,
) -> Result<RunRecord, WallClockExceeded> {
    let access = TestAccess::grant();
    let spec = &task.spec;
    if script.has("patch") && script.usize("patch").is_multiple_of(2) {
        return Ok(failed(
            format!(
                "ValueError: patch must be odd, got {}",
                script.usize("patch")
            ),
            0.0,
        ));
    }
    let test_idx = data.test.reveal(&access);
    let feats = features::build(&data.inputs, script, &data.train, &[&data.valid, test_idx]);
    let head = head_for(&data.targets, spec.metric);
    let eval_rows = data.valid.len() + test_idx.len();
    let planned = match planned_work(
        script,
        feats.train.cols,
        head.outputs(),
        feats.train.rows,
        eval_rows,
        feats.image,
    ) {
        Ok(p) => p,
        Err(e) => return Ok(failed(e.to_string(), 0.0)),
    };
    if planned > spec.budget.max_work {
        return Ok(RunRecord {
            outcome: RunOutcome::OverBudget {
                planned_work: planned,
                budget: spec.budget.max_work,
            },
            planned_work: planned,
            test: None,
        });
    }
    let y = target_matrix(&data.targets, &feats.train_source);
    let seed_path = SeedPath::root(seed).child("run").child(&spec.id);
    let model = match Model::train(
        script,
        TrainInput {
            train: &feats.train,
            targets: &y,
            head,
            image: feats.image,
            seed: seed_path,
            guard_s,
        },
    ) {
        Ok(m) => m,
        Err(TrainError::WallClock(guard_s)) => return Err(WallClockExceeded { guard_s }),
        Err(e) => return Ok(failed(e.to_string(), planned)),
    };
    let scored = |m: &features::Matrix, idx: &[usize]| -> Result<f64, String> {
        let p = model.predict(m).map_err(|e| e.to_string())?;
        score(spec.metric, &data.targets, idx, &p).map_err(|e| format!("MetricError: {e}"))
    };
    Ok(
        match (
            scored(&feats.eval[0], &data.valid),
            scored(&feats.eval[1], test_idx),
        ) {
            (Ok(v), Ok(t)) => RunRecord {
                outcome: RunOutcome::Success { valid_metric: v },
                planned_work: planned,
                test: Some(TestMetric(t)),
            },
            (Err(e), _) | (_, Err(e)) => failed(e, planned),
        },
    )
}

fn failed(message: String, planned: f64) -> RunRecord {
    RunRecord {
        outcome: RunOutcome::Failed { message },
        planned_work: planned,
        test: None,
    }
}

/// Validation and test metric of a script: for evaluation and reports only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub task: String,
    pub valid_metric: f64,
    pub test_metric: f64,
    pub planned_work: f64,
}

/// Opens the test metric of a run: for evaluation and reports only. `Err` says why the run
/// has none (it failed, or ran out of budget).
pub fn open(task: &Task, rec: &RunRecord) -> Result<Evaluation, String> {
    match (&rec.outcome, rec.test) {
        (RunOutcome::Success { valid_metric }, Some(TestMetric(t))) => Ok(Evaluation {
            task: task.spec.id.clone(),
            valid_metric: *valid_metric,
            test_metric: t,
            planned_work: rec.planned_work,
        }),
        (other, _) => Err(format!("{other:?}")),
    }
}
