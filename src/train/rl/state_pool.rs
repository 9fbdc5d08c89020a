//! The state pool of step-wise RL: every prefix of the expert's trajectories on the held-in
//! tasks — (task, the script at that point, the task turn and the (action, feedback) pairs so
//! far) — deduplicated by digest (every episode of a task shares its first state), in first-seen
//! order, sampled uniformly from a named seed.

use std::collections::BTreeSet;

use rand::Rng as _;
use serde::Serialize;

use crate::agent::conversation::{Role, Turn};
use crate::agent::episode::Episode;
use crate::agent::prompt;
use crate::provenance::{Digest, digest_of};
use crate::seed::SeedPath;
use crate::tasks::Task;

/// One state to act on.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub task_id: String,
    /// The script the action will be taken on (rendered `key = value` lines).
    pub script: String,
    /// Task turn, then (gpt action, human feedback) pairs; ends with a human turn.
    pub history: Vec<Turn>,
    pub digest: Digest,
}

#[derive(Serialize)]
struct Key<'a> {
    task: &'a str,
    script: &'a str,
    /// (is the agent's turn, text)
    history: Vec<(bool, &'a str)>,
}

fn state(task_id: &str, script: String, history: Vec<Turn>) -> State {
    let key = Key {
        task: task_id,
        script: &script,
        history: history
            .iter()
            .map(|t| (t.from == Role::Gpt, t.value.as_str()))
            .collect(),
    };
    let digest = digest_of(&key).expect("a state key holds only strings");
    State {
        task_id: task_id.to_string(),
        script,
        history,
        digest,
    }
}

/// The history of `steps` after the task turn: (action, feedback) pairs.
pub(crate) fn history_of(
    task_turn: String,
    steps: &[crate::agent::episode::StepRecord],
) -> Vec<Turn> {
    let mut h = vec![Turn::human(task_turn)];
    for s in steps {
        h.push(Turn::gpt(s.action.clone()));
        h.push(Turn::human(prompt::feedback_turn(&s.feedback)));
    }
    h
}

/// All distinct expert states.
#[derive(Clone, Debug, Default)]
pub struct StatePool {
    pub states: Vec<State>,
}

impl StatePool {
    /// Every prefix of every episode: before each step the expert took, and after its last step
    /// unless that step ended the episode. `tasks` must hold every episode's task.
    pub fn from_episodes(
        episodes: &[Episode],
        tasks: &[&Task],
    ) -> Result<Self, crate::env::WorkbenchError> {
        let mut seen = BTreeSet::new();
        let mut states = Vec::new();
        for ep in episodes {
            let task = tasks
                .iter()
                .find(|t| t.spec.id == ep.task_id)
                .ok_or_else(|| {
                    crate::env::WorkbenchError::NotEvaluable(
                        ep.task_id.clone(),
                        "an expert episode's task is not among the stage's tasks".into(),
                    )
                })?;
            let starter = crate::env::Script::parse(task.spec.data_type, &task.spec.starter)
                .map_err(|e| {
                    crate::env::WorkbenchError::Starter(task.spec.id.clone(), e.to_string())
                })?;
            let turn = prompt::task_turn(task, &starter);
            let last_done = ep.steps.last().is_some_and(|s| s.done);
            let ends = if last_done {
                ep.steps.len()
            } else {
                ep.steps.len() + 1
            };
            for k in 0..ends {
                let script = match ep.steps.get(k) {
                    Some(s) => s.script_before.clone(),
                    None => ep
                        .steps
                        .last()
                        .map_or_else(|| starter.to_string(), |s| s.script_after.clone()),
                };
                let s = state(
                    &ep.task_id,
                    script,
                    history_of(turn.clone(), &ep.steps[..k]),
                );
                if seen.insert(s.digest) {
                    states.push(s);
                }
            }
        }
        Ok(Self { states })
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// `n` state indices drawn uniformly with replacement from `seed`.
    pub fn sample(&self, n: usize, seed: &SeedPath) -> Vec<usize> {
        let mut rng = seed.rng();
        (0..n)
            .map(|_| rng.random_range(0..self.states.len()))
            .collect()
    }
}
