//! The agentic ML-specific reward (issue 3). PROVISIONAL copy on the `tasks` branch: the
//! `metrics` branch owns this module; this implements the agreed signature (paper v1, DESIGN §1.3)
//! so the workbench compiles until that branch lands. On merge, take the `metrics` branch's version.

use crate::metrics::Direction;

/// What one agent step produced, as the reward sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    InvalidAction,
    ExecutionError,
    BudgetExceeded,
    NonEdit,
    Success { metric: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct RewardConfig {}

impl Default for RewardConfig {
    fn default() -> Self {
        Self {}
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RewardError {
    #[error("non-finite metric {0}")]
    NonFinite(f64),
}

/// Paper v1: 0 for invalid/failed, 0.5 for non-edit/corner case, σ(scale·Δ) for a success.
pub fn reward(
    outcome: &StepOutcome,
    previous: f64,
    direction: Direction,
    scale: f64,
    _cfg: &RewardConfig,
) -> Result<f64, RewardError> {
    Ok(match outcome {
        StepOutcome::InvalidAction | StepOutcome::ExecutionError => 0.0,
        StepOutcome::BudgetExceeded | StepOutcome::NonEdit => 0.5,
        StepOutcome::Success { metric } => {
            if !metric.is_finite() {
                return Err(RewardError::NonFinite(*metric));
            }
            let delta = direction.sign() * (metric - previous);
            1.0 / (1.0 + (-scale * delta).exp())
        }
    })
}
