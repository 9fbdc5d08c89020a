//! The agentic ML-specific reward (paper §3.3; docs/metrics.md): one scalar from heterogeneous
//! feedback, a pure function of (step outcome, previous metric, task scale α, configuration).
//!
//! - **V1** (the paper's first version): invalid action or execution error → 0 (= σ(−∞));
//!   non-editing action or budget exceeded → 0.5 (= σ(0)); a successful edit → σ(α·Δ).
//! - **V2** (the paper's revised version: −1 / 0 / scaled improvement): invalid action or
//!   execution error → −1; non-editing action or budget exceeded → 0; a successful edit →
//!   tanh(α·Δ). The squashing function is our choice (the paper gives no formula): tanh keeps the
//!   reward strictly increasing in the improvement and inside the (−1, 1) band the two constants
//!   bound, and it is ≈ α·Δ for small gains.
//!
//! Δ = (metric − previous) · direction.sign(), so an improvement is positive whichever way the
//! metric points. `previous` is the validation metric of the script the action edited.

use serde::{Deserialize, Serialize};

use crate::metrics::Direction;

/// What one agent step produced, as far as the reward is concerned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StepOutcome {
    /// The action text did not parse or named something that does not exist.
    InvalidAction,
    /// The edited script failed when run.
    ExecutionError,
    /// The run exceeded its compute budget (the paper's "corner case").
    BudgetExceeded,
    /// A valid action that does not edit the script (inspect, understand data, ...).
    NonEdit,
    /// An edit whose script ran and produced a validation metric.
    Success { metric: f64 },
}

/// Which of the paper's two reward definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RewardVersion {
    V1,
    V2,
}

/// The reward configuration of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardConfig {
    pub version: RewardVersion,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            version: RewardVersion::V1,
        }
    }
}

impl RewardConfig {
    pub fn v1() -> Self {
        RewardConfig {
            version: RewardVersion::V1,
        }
    }

    pub fn v2() -> Self {
        RewardConfig {
            version: RewardVersion::V2,
        }
    }

    /// The closed interval every reward of this version lies in.
    pub fn range(&self) -> (f64, f64) {
        match self.version {
            RewardVersion::V1 => (0.0, 1.0),
            RewardVersion::V2 => (-1.0, 1.0),
        }
    }

    /// The constant reward of a non-success outcome; `None` for [`StepOutcome::Success`].
    pub fn constant(&self, outcome: &StepOutcome) -> Option<f64> {
        let (failure, neutral) = self.constants();
        match outcome {
            StepOutcome::InvalidAction | StepOutcome::ExecutionError => Some(failure),
            StepOutcome::NonEdit | StepOutcome::BudgetExceeded => Some(neutral),
            StepOutcome::Success { .. } => None,
        }
    }

    /// (reward of a failed step, reward of a neutral step).
    fn constants(&self) -> (f64, f64) {
        match self.version {
            RewardVersion::V1 => (0.0, 0.5),
            RewardVersion::V2 => (-1.0, 0.0),
        }
    }
}

/// Why a reward cannot be computed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum RewardError {
    #[error("the {what} metric is {value}, not a finite number")]
    NonFiniteMetric { what: &'static str, value: f64 },
    #[error("the reward scale α must be finite and positive, got {0}")]
    InvalidScale(f64),
    #[error(
        "m_init = m_best = {0}: the metric range is empty, so α = 100/|m_best − m_init| is undefined"
    )]
    EmptyRange(f64),
    #[error("α = 100/|m_best − m_init| overflows for the range [{m_init}, {m_best}]")]
    RangeTooSmall { m_init: f64, m_best: f64 },
}

/// The reward of one step. `previous`: the validation metric of the script before this action
/// (the script the action edited); `scale`: the task's α (see [`alpha_from_range`]).
/// `previous` and `scale` are validated for every outcome, so a misconfigured task fails fast.
pub fn reward(
    outcome: &StepOutcome,
    previous: f64,
    direction: Direction,
    scale: f64,
    cfg: &RewardConfig,
) -> Result<f64, RewardError> {
    if !previous.is_finite() {
        return Err(RewardError::NonFiniteMetric {
            what: "previous",
            value: previous,
        });
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(RewardError::InvalidScale(scale));
    }
    let (failure, neutral) = cfg.constants();
    let metric = match *outcome {
        StepOutcome::InvalidAction | StepOutcome::ExecutionError => return Ok(failure),
        StepOutcome::NonEdit | StepOutcome::BudgetExceeded => return Ok(neutral),
        StepOutcome::Success { metric } => metric,
    };
    if !metric.is_finite() {
        return Err(RewardError::NonFiniteMetric {
            what: "new",
            value: metric,
        });
    }
    // Δ and α·Δ may overflow to ±∞ for extreme metrics, where σ and tanh saturate to their
    // bounds; never NaN, as both metrics are finite and α is finite and positive.
    let delta = (metric - previous) * direction.sign();
    let x = scale * delta;
    Ok(match cfg.version {
        RewardVersion::V1 => sigmoid(x),
        RewardVersion::V2 => x.tanh(),
    })
}

/// α = 100 / |m_best − m_init|: the scale of the published re-implementation, where `m_init` is
/// the starter script's metric and `m_best` the best known one. It makes α·Δ the improvement in
/// hundredths of the task's metric range, so the reward does not depend on the metric's units.
pub fn alpha_from_range(m_init: f64, m_best: f64) -> Result<f64, RewardError> {
    for (what, value) in [("m_init", m_init), ("m_best", m_best)] {
        if !value.is_finite() {
            return Err(RewardError::NonFiniteMetric { what, value });
        }
    }
    if m_best == m_init {
        return Err(RewardError::EmptyRange(m_init));
    }
    // 100/|m_best − m_init| as 50/|m_best/2 − m_init/2|: the halved width cannot overflow, so
    // α > 0 for any finite range.
    let half_width = (m_best / 2.0 - m_init / 2.0).abs();
    let alpha = 50.0 / half_width;
    if !alpha.is_finite() {
        return Err(RewardError::RangeTooSmall { m_init, m_best });
    }
    Ok(alpha)
}

/// σ(x) = 1/(1 + e^(−x)), evaluated without overflow on either side; σ(0) = 0.5 exactly.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: Direction = Direction::HigherIsBetter;

    #[test]
    fn v1_constants_and_neutral_success() {
        let c = RewardConfig::v1();
        let r = |o: StepOutcome| reward(&o, 0.7, UP, 10.0, &c).unwrap();
        assert_eq!(r(StepOutcome::InvalidAction), 0.0);
        assert_eq!(r(StepOutcome::ExecutionError), 0.0);
        assert_eq!(r(StepOutcome::NonEdit), 0.5);
        assert_eq!(r(StepOutcome::BudgetExceeded), 0.5);
        assert_eq!(r(StepOutcome::Success { metric: 0.7 }), 0.5);
        assert_eq!(sigmoid(f64::INFINITY), 1.0);
        assert_eq!(sigmoid(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn v2_constants() {
        let c = RewardConfig::v2();
        let r = |o: StepOutcome| reward(&o, 0.7, UP, 10.0, &c).unwrap();
        assert_eq!(r(StepOutcome::InvalidAction), -1.0);
        assert_eq!(r(StepOutcome::NonEdit), 0.0);
        assert_eq!(r(StepOutcome::Success { metric: 0.7 }), 0.0);
        assert!((r(StepOutcome::Success { metric: 0.71 }) - 0.1f64.tanh()).abs() < 1e-12);
    }

    #[test]
    fn errors() {
        let c = RewardConfig::v1();
        let ok = StepOutcome::Success { metric: 1.0 };
        assert!(reward(&ok, f64::NAN, UP, 1.0, &c).is_err());
        assert!(reward(&ok, 0.0, UP, 0.0, &c).is_err());
        assert!(
            reward(
                &StepOutcome::Success {
                    metric: f64::INFINITY
                },
                0.0,
                UP,
                1.0,
                &c
            )
            .is_err()
        );
        assert_eq!(
            alpha_from_range(0.5, 0.5),
            Err(RewardError::EmptyRange(0.5))
        );
        assert_eq!(
            alpha_from_range(0.9, 0.8).map(|a| (a * 1e6).round()),
            Ok(1e9)
        );
        assert!(alpha_from_range(0.0, 1e-320).is_err());
        let wide = alpha_from_range(-f64::MAX, f64::MAX).unwrap();
        assert!(wide > 0.0 && wide.is_finite());
    }

    #[test]
    fn config_parses_from_ron() {
        let c: RewardConfig = ron::from_str("(version: V2)").unwrap();
        assert_eq!(c, RewardConfig::v2());
        assert!(ron::from_str::<RewardConfig>("(version: V1, clip: 1.0)").is_err());
    }
}
