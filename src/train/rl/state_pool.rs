//! The state pool of step-wise RL: every prefix of the expert's trajectories on the held-in
//! tasks — (task, the script at that point, the task turn and the (action, feedback) pairs so
//! far) — deduplicated by digest (every episode of a task shares its first state), in first-seen
//! order, sampled uniformly from a named seed.

use std::collections::BTreeSet;

use rand::Rng as _;
use serde::Serialize;

use super::RlError;
use crate::agent::conversation::{Role, Turn};
use crate::agent::environment::Environment;
use crate::agent::episode::Episode;
use crate::agent::prompt;
use crate::env::Script;
use crate::provenance::{Digest, digest_of};
use crate::seed::SeedPath;

/// One state to act on (`S`: the environment's state, `agent::environment`).
#[derive(Clone, Debug, PartialEq)]
pub struct State<S = Script> {
    pub task_id: String,
    /// The script the action will be taken on, as text.
    pub script: String,
    /// Task turn, then (gpt action, human feedback) pairs; ends with a human turn.
    pub history: Vec<Turn>,
    pub digest: Digest,
    /// What the environment acts on.
    pub env_state: S,
}

#[derive(Serialize)]
struct Key<'a> {
    task: &'a str,
    script: &'a str,
    /// (is the agent's turn, text)
    history: Vec<(bool, &'a str)>,
}

fn state<S>(task_id: &str, script: String, history: Vec<Turn>, env_state: S) -> State<S> {
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
        env_state,
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
#[derive(Clone, Debug)]
pub struct StatePool<S = Script> {
    pub states: Vec<State<S>>,
}

impl<S> Default for StatePool<S> {
    fn default() -> Self {
        Self { states: Vec::new() }
    }
}

impl<S: Clone> StatePool<S> {
    /// Every prefix of every episode: before each step the expert took, and after its last step
    /// unless that step ended the episode. `tasks` must hold every episode's task.
    pub fn from_episodes<E: Environment<State = S>>(
        env: &E,
        episodes: &[Episode],
        tasks: &[&E::Task],
        run_seed: u64,
    ) -> Result<Self, RlError> {
        let mut seen = BTreeSet::new();
        let mut states = Vec::new();
        for ep in episodes {
            let task = *tasks
                .iter()
                .find(|t| env.task_id(t) == ep.task_id)
                .ok_or_else(|| {
                    RlError::Input(format!(
                        "task {}: an expert episode's task is not among the stage's tasks",
                        ep.task_id
                    ))
                })?;
            let turn = env.task_turn(task)?;
            let recorded: Vec<_> = ep.steps.iter().map(|s| s.recorded()).collect();
            let env_states = env.states_of(task, &recorded, run_seed)?;
            let last_done = ep.steps.last().is_some_and(|s| s.done);
            let ends = if last_done {
                ep.steps.len()
            } else {
                ep.steps.len() + 1
            };
            for (k, env_state) in env_states.into_iter().enumerate().take(ends) {
                let script = env.script(&env_state);
                let s = state(
                    &ep.task_id,
                    script,
                    history_of(turn.clone(), &ep.steps[..k]),
                    env_state,
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
