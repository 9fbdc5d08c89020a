//! What an action did, in seven classes: the reward alone cannot tell a safe non-edit from an
//! edit that changed nothing (both earn reward v1's 0.5), so an RL run that learns to avoid
//! edits would look like one that learns to improve scripts. Counting the classes beside the
//! reward shows which it is.

use serde::{Deserialize, Serialize};

use super::Feedback;
use crate::metrics::Direction;

/// The class of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepClass {
    /// The text did not parse, or named a key or value the script does not have.
    Invalid,
    /// Inspect Script, Understand Data or Final Answer.
    NonEdit,
    /// An edit that ran and left the validation metric where it was.
    NoOpEdit,
    ImprovingEdit,
    RegressingEdit,
    ExecutionError,
    BudgetExceeded,
}

impl StepClass {
    /// Classifies a step from its feedback and the metric of the script it acted on
    /// (`StepResult::previous_metric`; an edit of a script that never ran counts as improving
    /// when it now runs).
    pub fn of(feedback: &Feedback, previous_metric: Option<f64>, direction: Direction) -> Self {
        match feedback {
            Feedback::InvalidAction { .. } => StepClass::Invalid,
            Feedback::NonEdit { .. } => StepClass::NonEdit,
            Feedback::ExecutionError { .. } => StepClass::ExecutionError,
            Feedback::BudgetExceeded { .. } => StepClass::BudgetExceeded,
            Feedback::Success { metric, .. } => match previous_metric {
                Some(p) if direction.is_better(*metric, p) => StepClass::ImprovingEdit,
                Some(p) if direction.is_better(p, *metric) => StepClass::RegressingEdit,
                Some(_) => StepClass::NoOpEdit,
                None => StepClass::ImprovingEdit,
            },
        }
    }
}

/// How many samples fell in each [`StepClass`] (`probe.json` and RL's `metrics.jsonl`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionMix {
    pub invalid: usize,
    pub non_edit: usize,
    pub no_op_edit: usize,
    pub improving_edit: usize,
    pub regressing_edit: usize,
    pub execution_error: usize,
    pub budget_exceeded: usize,
}

impl ActionMix {
    pub fn add(&mut self, class: StepClass) {
        let n = match class {
            StepClass::Invalid => &mut self.invalid,
            StepClass::NonEdit => &mut self.non_edit,
            StepClass::NoOpEdit => &mut self.no_op_edit,
            StepClass::ImprovingEdit => &mut self.improving_edit,
            StepClass::RegressingEdit => &mut self.regressing_edit,
            StepClass::ExecutionError => &mut self.execution_error,
            StepClass::BudgetExceeded => &mut self.budget_exceeded,
        };
        *n += 1;
    }

    /// Adds another mix's counts.
    pub(crate) fn merge(&mut self, other: &ActionMix) {
        self.invalid += other.invalid;
        self.non_edit += other.non_edit;
        self.no_op_edit += other.no_op_edit;
        self.improving_edit += other.improving_edit;
        self.regressing_edit += other.regressing_edit;
        self.execution_error += other.execution_error;
        self.budget_exceeded += other.budget_exceeded;
    }

    pub fn total(&self) -> usize {
        self.invalid
            + self.non_edit
            + self.no_op_edit
            + self.improving_edit
            + self.regressing_edit
            + self.execution_error
            + self.budget_exceeded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn success(metric: f64) -> Feedback {
        Feedback::Success {
            metric,
            message: String::new(),
        }
    }

    #[test]
    fn edits_are_classed_by_the_metric_direction() {
        let hi = Direction::HigherIsBetter;
        let lo = Direction::LowerIsBetter;
        assert_eq!(
            StepClass::of(&success(0.6), Some(0.5), hi),
            StepClass::ImprovingEdit
        );
        assert_eq!(
            StepClass::of(&success(0.6), Some(0.5), lo),
            StepClass::RegressingEdit
        );
        assert_eq!(
            StepClass::of(&success(0.5), Some(0.5), lo),
            StepClass::NoOpEdit
        );
        let non_edit = Feedback::NonEdit {
            message: String::new(),
        };
        assert_eq!(StepClass::of(&non_edit, None, hi), StepClass::NonEdit);
        let mut mix = ActionMix::default();
        for c in [StepClass::NoOpEdit, StepClass::NoOpEdit, StepClass::Invalid] {
            mix.add(c);
        }
        assert_eq!((mix.no_op_edit, mix.invalid, mix.total()), (2, 1, 3));
    }
}
