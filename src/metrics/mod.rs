//! Evaluation metrics of the paper's 19 tasks, with MLE-bench / MLAgentBench grader semantics
//! (see `docs/metrics.md` and the reference data in `tests/data/metrics/`).
//!
//! Every function validates its input and returns a typed [`MetricError`] when the metric is
//! undefined or the grader would reject the submission: it never returns NaN and never panics.
//! Every function is O(n log n) or better in the number of values.

mod agreement;
mod classification;
mod correlation;
mod error;
mod json;
mod log_loss;
mod ranking;
pub mod reference;
mod regression;
mod retrieval;
mod sum;

pub use agreement::{qwk, qwk_fixed_range};
pub use classification::{accuracy, accuracy_argmax};
pub use correlation::pearson;
pub use error::MetricError;
pub use log_loss::{
    LOG_LOSS_EPS, LOG_LOSS_LEGACY_EPS, ROW_SUM_ATOL, ROW_SUM_RTOL, log_loss_binary,
    log_loss_binary_legacy, log_loss_multiclass, log_loss_multiclass_legacy,
};
pub use ranking::{mean_columnwise_roc_auc, mean_columnwise_roc_auc_jigsaw, roc_auc};
pub use regression::{mae, mcrmse, mean_columnwise_rmsle, rmse, rmsle};
pub use retrieval::map_at_k;

use serde::{Deserialize, Serialize};

/// Which way a metric improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

impl Direction {
    /// Whether `a` is strictly better than `b`.
    pub fn is_better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::HigherIsBetter => a > b,
            Direction::LowerIsBetter => a < b,
        }
    }

    /// +1 for higher-is-better, −1 for lower-is-better: `(new − old) · sign` is an improvement.
    pub fn sign(self) -> f64 {
        match self {
            Direction::HigherIsBetter => 1.0,
            Direction::LowerIsBetter => -1.0,
        }
    }

    /// `"higher_is_better"` or `"lower_is_better"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher_is_better",
            Direction::LowerIsBetter => "lower_is_better",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every metric the paper's tasks use (and the legacy / fixed-range variants the reference data
/// covers). The names are those of `reference_vectors.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    Accuracy,
    AccuracyArgmax,
    RocAuc,
    MeanColumnwiseRocAuc,
    MeanColumnwiseRocAucJigsaw,
    LogLossBinary,
    LogLossMulticlass,
    LogLossBinaryLegacy,
    LogLossMulticlassLegacy,
    Mae,
    Rmse,
    Rmsle,
    MeanColumnwiseRmsle,
    Mcrmse,
    MapAt5,
    Qwk,
    QwkFixedRange,
    Pearson,
}

impl Metric {
    /// Every metric, in the order of the reference data.
    pub const ALL: [Metric; 18] = [
        Metric::Accuracy,
        Metric::AccuracyArgmax,
        Metric::RocAuc,
        Metric::MeanColumnwiseRocAuc,
        Metric::MeanColumnwiseRocAucJigsaw,
        Metric::LogLossBinary,
        Metric::LogLossMulticlass,
        Metric::LogLossBinaryLegacy,
        Metric::LogLossMulticlassLegacy,
        Metric::Mae,
        Metric::Rmse,
        Metric::Rmsle,
        Metric::MeanColumnwiseRmsle,
        Metric::Mcrmse,
        Metric::MapAt5,
        Metric::Qwk,
        Metric::QwkFixedRange,
        Metric::Pearson,
    ];

    /// The reference-vector name, e.g. `"log_loss_binary"`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::AccuracyArgmax => "accuracy_argmax",
            Metric::RocAuc => "roc_auc",
            Metric::MeanColumnwiseRocAuc => "mean_columnwise_roc_auc",
            Metric::MeanColumnwiseRocAucJigsaw => "mean_columnwise_roc_auc_jigsaw",
            Metric::LogLossBinary => "log_loss_binary",
            Metric::LogLossMulticlass => "log_loss_multiclass",
            Metric::LogLossBinaryLegacy => "log_loss_binary_legacy",
            Metric::LogLossMulticlassLegacy => "log_loss_multiclass_legacy",
            Metric::Mae => "mae",
            Metric::Rmse => "rmse",
            Metric::Rmsle => "rmsle",
            Metric::MeanColumnwiseRmsle => "mean_columnwise_rmsle",
            Metric::Mcrmse => "mcrmse",
            Metric::MapAt5 => "map_at_5",
            Metric::Qwk => "qwk",
            Metric::QwkFixedRange => "qwk_fixed_range",
            Metric::Pearson => "pearson",
        }
    }

    /// The metric of a reference-vector name; `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether higher or lower values are better.
    pub fn direction(self) -> Direction {
        match self {
            Metric::Accuracy
            | Metric::AccuracyArgmax
            | Metric::RocAuc
            | Metric::MeanColumnwiseRocAuc
            | Metric::MeanColumnwiseRocAucJigsaw
            | Metric::MapAt5
            | Metric::Qwk
            | Metric::QwkFixedRange
            | Metric::Pearson => Direction::HigherIsBetter,
            Metric::LogLossBinary
            | Metric::LogLossMulticlass
            | Metric::LogLossBinaryLegacy
            | Metric::LogLossMulticlassLegacy
            | Metric::Mae
            | Metric::Rmse
            | Metric::Rmsle
            | Metric::MeanColumnwiseRmsle
            | Metric::Mcrmse => Direction::LowerIsBetter,
        }
    }

    /// Evaluate on one reference case's `inputs` object (keys as in `reference_vectors.json`,
    /// listed per metric in `docs/metrics.md`).
    pub fn evaluate_json(self, inputs: &serde_json::Value) -> Result<f64, MetricError> {
        json::evaluate(self, inputs)
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m));
        }
        let mut names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        assert_eq!(Metric::from_name("auc"), None);
    }

    #[test]
    fn direction_sign_and_comparison() {
        assert_eq!(Direction::HigherIsBetter.sign(), 1.0);
        assert_eq!(Direction::LowerIsBetter.sign(), -1.0);
        assert!(Direction::HigherIsBetter.is_better(0.9, 0.8));
        assert!(!Direction::HigherIsBetter.is_better(0.8, 0.8));
        assert!(Direction::LowerIsBetter.is_better(0.1, 0.2));
        assert_eq!(Metric::Mcrmse.direction(), Direction::LowerIsBetter);
        assert_eq!(Metric::Qwk.direction(), Direction::HigherIsBetter);
    }
}
