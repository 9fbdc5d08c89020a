//! The policy interface (state → action text) and the random baseline policy.
//!
//! A state is a task's conversation so far: the task turn, then (action, feedback) pairs. A
//! policy answers with action text in the MLAgentBench format; the workbench parses it, so a
//! policy may well produce malformed text (that is scored, not an error of the policy).

use rand::Rng as _;

use super::conversation::Turn;
use super::ideas::Knob;
use crate::env::{Action, ActionKind, Feedback};
use crate::seed::SeedPath;

/// What a policy sees at one step.
#[derive(Clone, Debug)]
pub struct PolicyInput<'a> {
    pub task_id: &'a str,
    /// Which episode of a batch this state belongs to (stateful policies keep one memory each).
    pub episode: usize,
    /// Task turn, then alternating action (gpt) and feedback (human) turns; ends with a human turn.
    pub history: &'a [Turn],
    /// The task's editable keys (for policies that act on the schema rather than on text).
    pub knobs: &'a [Knob],
}

/// One generated action.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyOutput {
    pub text: String,
    /// The token ids behind `text`, for policies that are language models: what RL trains on
    /// (re-encoding the decoded text would not give them back).
    pub tokens: Option<ActionTokens>,
}

/// A language model's prompt and generated ids for one decision.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionTokens {
    /// The state as the model saw it (fitted to the context).
    pub prompt: Vec<u32>,
    /// Generated ids, the stop token included when one ended the action.
    pub action: Vec<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy {policy}: {message}")]
    Failed { policy: String, message: String },
}

/// Maps a state to action text. `seed` names the random stream of this one decision, so a
/// decision never depends on what other decisions were made before it.
pub trait Policy {
    fn name(&self) -> &str;
    fn act(
        &mut self,
        input: &PolicyInput<'_>,
        seed: &SeedPath,
    ) -> Result<PolicyOutput, PolicyError>;

    /// Acts on several states at once (a language model batches them); `seeds[i]` names the
    /// stream of decision `i`, so the answer to one state never depends on the others.
    fn act_batch(
        &mut self,
        inputs: &[PolicyInput<'_>],
        seeds: &[SeedPath],
    ) -> Result<Vec<PolicyOutput>, PolicyError> {
        inputs
            .iter()
            .zip(seeds)
            .map(|(i, s)| self.act(i, s))
            .collect()
    }

    /// Told the feedback of the action it gave for `episode` (stateful policies learn from it).
    fn observe(&mut self, _episode: usize, _feedback: &Feedback) {}
}

/// Uniformly random actions over the action space, with some malformed text: the floor every
/// learned agent must beat.
#[derive(Clone, Debug, Default)]
pub(crate) struct RandomPolicy;

/// What `Inspect Script` and `Final Answer` name: the script (MLAgentBench's actions all take
/// an input). Non-edit actions never end at a bare `Action Input:`, so a policy is never
/// taught to stop there, which is how an Edit Script loses its edits (PROVENANCE.md).
pub(crate) const SCRIPT_INPUT: &str = "train.py";
/// What `Understand Data` names.
pub(crate) const DATA_INPUT: &str = "training data";

impl Policy for RandomPolicy {
    fn name(&self) -> &str {
        "random"
    }

    fn act(
        &mut self,
        input: &PolicyInput<'_>,
        seed: &SeedPath,
    ) -> Result<PolicyOutput, PolicyError> {
        let mut rng = seed.rng();
        let roll: f64 = rng.random();
        let text = if roll < 0.1 || input.knobs.is_empty() {
            // Free text that does not follow the format.
            "I will try something different this time.".to_string()
        } else if roll < 0.2 {
            Action::other(
                "look at the script",
                ActionKind::InspectScript,
                SCRIPT_INPUT,
            )
            .render()
        } else if roll < 0.3 {
            Action::other("look at the data", ActionKind::UnderstandData, DATA_INPUT).render()
        } else if roll < 0.35 {
            Action::other("stop here", ActionKind::FinalAnswer, SCRIPT_INPUT).render()
        } else {
            let n = rng.random_range(1..=2usize.min(input.knobs.len()));
            let mut edits = Vec::new();
            for _ in 0..n {
                let k = &input.knobs[rng.random_range(0..input.knobs.len())];
                let v = if k.candidates.is_empty() {
                    k.current.clone()
                } else {
                    k.candidates[rng.random_range(0..k.candidates.len())].clone()
                };
                edits.push((k.key.clone(), v));
            }
            Action::edit("try a random change", edits).render()
        };
        Ok(PolicyOutput { text, tokens: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_policy_is_a_function_of_its_seed() {
        let knobs = vec![Knob {
            key: "epochs".into(),
            current: "3".into(),
            candidates: vec!["1".into(), "10".into()],
        }];
        let history = [Turn::human("task")];
        let input = PolicyInput {
            task_id: "t",
            episode: 0,
            history: &history,
            knobs: &knobs,
        };
        let mut p = RandomPolicy;
        let s = SeedPath::root(5).child("step");
        let a = p.act(&input, &s).unwrap();
        let b = p.act(&input, &s).unwrap();
        assert_eq!(a, b);
        let texts: std::collections::BTreeSet<String> = (0..200)
            .map(|i| p.act(&input, &s.child(i)).unwrap().text)
            .collect();
        assert!(texts.len() >= 4, "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("Action: Edit Script")));
    }
}
