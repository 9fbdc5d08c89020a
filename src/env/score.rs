//! From a model's predictions to the task's metric (through `crate::metrics`), and from a
//! task's targets to the head the model is trained with.

use crate::metrics::{self, MetricError};
use crate::tasks::{Targets, TaskMetric};

use super::features::Matrix;
use super::model::Head;

/// Why predictions could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Metric(#[from] MetricError),
    #[error("metric {0} does not apply to {1} targets (task file inconsistent)")]
    Mismatch(&'static str, &'static str),
}

/// The head for a task's targets and metric.
pub(crate) fn head_for(targets: &Targets, metric: TaskMetric) -> Head {
    match targets {
        Targets::Classes { names, .. } => Head::Softmax(names.len()),
        Targets::Binary(_) => Head::Sigmoid(1),
        Targets::Columns { names, .. } => match metric {
            TaskMetric::MeanColumnwiseAuc => Head::Sigmoid(names.len()),
            _ => Head::Regression(names.len()),
        },
    }
}

/// Training targets of examples `idx` (one row per training row of `source`).
pub(crate) fn target_matrix(targets: &Targets, source: &[usize]) -> Matrix {
    match targets {
        Targets::Classes { labels, names } => {
            let k = names.len();
            let rows = source
                .iter()
                .map(|&i| {
                    (0..k)
                        .map(|c| f32::from(u8::from(labels[i] == c)))
                        .collect()
                })
                .collect();
            Matrix::from_rows(rows, k)
        }
        Targets::Binary(y) => {
            Matrix::from_rows(source.iter().map(|&i| vec![y[i] as f32]).collect(), 1)
        }
        Targets::Columns { names, values } => Matrix::from_rows(
            source
                .iter()
                .map(|&i| values[i].iter().map(|v| *v as f32).collect())
                .collect(),
            names.len(),
        ),
    }
}

fn top_k(row: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    // Stable sort by descending score: ties keep class order, so the ranking is deterministic.
    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
    idx.truncate(k);
    idx
}

fn argmax(row: &[f64]) -> usize {
    top_k(row, 1)[0]
}

/// The metric of predictions `pred` (one row per example of `idx`).
pub fn score(
    metric: TaskMetric,
    targets: &Targets,
    idx: &[usize],
    pred: &[Vec<f64>],
) -> Result<f64, ScoreError> {
    let col = |c: usize| -> Vec<f64> { pred.iter().map(|r| r[c]).collect() };
    let value: Result<f64, MetricError> = match (metric, targets) {
        (TaskMetric::AccuracyPercent, Targets::Classes { labels, .. }) => {
            let y: Vec<usize> = idx.iter().map(|&i| labels[i]).collect();
            Ok(100.0 * metrics::accuracy_argmax(pred, &y)?)
        }
        (TaskMetric::AccuracyPercent, Targets::Binary(y)) => {
            let truth: Vec<bool> = idx.iter().map(|&i| y[i] == 1.0).collect();
            let guess: Vec<bool> = col(0).iter().map(|p| *p >= 0.5).collect();
            Ok(100.0 * metrics::accuracy(&truth, &guess)?)
        }
        (TaskMetric::RocAuc, Targets::Binary(y)) => {
            metrics::roc_auc(&idx.iter().map(|&i| y[i]).collect::<Vec<_>>(), &col(0))
        }
        (TaskMetric::LogLossBinary, Targets::Binary(y)) => {
            metrics::log_loss_binary(&idx.iter().map(|&i| y[i]).collect::<Vec<_>>(), &col(0))
        }
        (TaskMetric::LogLossMulticlass, Targets::Classes { labels, .. }) => {
            metrics::log_loss_multiclass(&idx.iter().map(|&i| labels[i]).collect::<Vec<_>>(), pred)
        }
        (TaskMetric::Qwk, Targets::Classes { labels, .. }) => metrics::qwk(
            &idx.iter().map(|&i| labels[i] as f64).collect::<Vec<_>>(),
            &pred.iter().map(|r| argmax(r) as f64).collect::<Vec<_>>(),
        ),
        (TaskMetric::MapAt5, Targets::Classes { labels, names }) => {
            let truth: Vec<Vec<String>> = idx
                .iter()
                .map(|&i| vec![names[labels[i]].clone()])
                .collect();
            let guess: Vec<Vec<String>> = pred
                .iter()
                .map(|r| top_k(r, 5).into_iter().map(|c| names[c].clone()).collect())
                .collect();
            metrics::map_at_k(&truth, &guess, 5)
        }
        (m, Targets::Columns { values, .. }) => {
            let truth: Vec<Vec<f64>> = idx.iter().map(|&i| values[i].clone()).collect();
            match m {
                TaskMetric::MeanColumnwiseAuc => metrics::mean_columnwise_roc_auc(&truth, pred),
                TaskMetric::MeanColumnwiseRmsle => metrics::mean_columnwise_rmsle(&truth, pred),
                TaskMetric::Mcrmse => metrics::mcrmse(&truth, pred),
                TaskMetric::Mae => {
                    metrics::mae(&truth.iter().map(|r| r[0]).collect::<Vec<_>>(), &col(0))
                }
                TaskMetric::Rmse => {
                    // Pixel intensities: predictions are clipped to the valid range [0, 1].
                    let p: Vec<f64> = col(0).iter().map(|v| v.clamp(0.0, 1.0)).collect();
                    metrics::rmse(&truth.iter().map(|r| r[0]).collect::<Vec<_>>(), &p)
                }
                TaskMetric::Pearson => {
                    metrics::pearson(&truth.iter().map(|r| r[0]).collect::<Vec<_>>(), &col(0))
                }
                _ => return Err(ScoreError::Mismatch(m.name(), "real-valued column")),
            }
        }
        (m, Targets::Classes { .. }) => return Err(ScoreError::Mismatch(m.name(), "class")),
        (m, Targets::Binary(_)) => return Err(ScoreError::Mismatch(m.name(), "binary")),
    };
    Ok(value?)
}
