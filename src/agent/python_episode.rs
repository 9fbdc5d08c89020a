//! The scripted agents of the Python environment, as [`Policy`]s that act through the one
//! episode runner (`agent::episode`): the expert, whose ideas (the task's `ideas`) become real
//! code edits kept when the validation metric improves and undone when it does not, and the
//! random agent, which draws actions and edits uniformly. [`rollout`] plays episodes of any
//! policy (these, or the language-model policy) on a Python task and returns them with their
//! ShareGPT conversations (`mlagent env rollout`).

use rand::Rng as _;
use rand::seq::SliceRandom as _;
use serde::Serialize;

use super::conversation::Conversation;
use super::episode::{Episode, EpisodeError, EpisodeJob, run_episodes};
use super::policy::{Policy, PolicyError, PolicyInput, PolicyOutput};
use crate::env::Feedback;
use crate::env::python::PythonEnv;
use crate::env::python::action::{PyAction, PyActionKind, Replace};
use crate::metrics::Direction;
use crate::seed::SeedPath;
use crate::tasks::python::{PyIdea, PythonTask, SCRIPT, TRAIN_CSV};

/// Which scripted agent acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PyAgentKind {
    Expert,
    Random,
}

impl PyAgentKind {
    pub fn name(self) -> &'static str {
        match self {
            PyAgentKind::Expert => "expert",
            PyAgentKind::Random => "random",
        }
    }
}

fn edit(idea: &PyIdea) -> String {
    PyAction {
        thought: idea.thought.clone(),
        kind: PyActionKind::EditScript,
        input: SCRIPT.into(),
        blocks: idea
            .blocks
            .iter()
            .map(|b| Replace {
                search: b.search.clone(),
                replace: b.replace.clone(),
            })
            .collect(),
    }
    .render()
}

fn plain(thought: &str, kind: PyActionKind, input: &str) -> String {
    PyAction {
        thought: thought.into(),
        kind,
        input: input.into(),
        blocks: Vec::new(),
    }
    .render()
}

/// One episode's scripted agent.
pub struct ScriptedAgent {
    kind: PyAgentKind,
    /// The expert's plan: the task's ideas in a seeded order (the random agent draws from it).
    plan: Vec<PyIdea>,
    next_idea: usize,
    direction: Direction,
    /// The validation metric of the script kept so far (the starter's at first).
    kept: f64,
    /// The last action was an edit: its feedback decides keep or undo.
    edited: bool,
    undo_next: bool,
    taken: usize,
    max_steps: usize,
}

impl ScriptedAgent {
    /// An agent that tries `plan` (the expert: in the order `shuffle` draws, else as given;
    /// the random agent draws edits from it) from a starter whose validation metric is
    /// `starter_metric`, for at most `max_steps` steps.
    pub fn new(
        kind: PyAgentKind,
        mut plan: Vec<PyIdea>,
        direction: Direction,
        starter_metric: f64,
        max_steps: usize,
        shuffle: Option<SeedPath>,
    ) -> Self {
        if let Some(seed) = shuffle {
            plan.shuffle(&mut seed.rng());
        }
        Self {
            kind,
            plan,
            next_idea: 0,
            direction,
            kept: starter_metric,
            edited: false,
            undo_next: false,
            taken: 0,
            max_steps,
        }
    }

    fn act(&mut self, seed: &SeedPath) -> String {
        let i = self.taken;
        self.taken += 1;
        self.edited = false;
        match self.kind {
            PyAgentKind::Expert => {
                let last = i + 1 >= self.max_steps;
                if self.undo_next {
                    self.undo_next = false;
                    plain(
                        "that did not help; back to the previous script",
                        PyActionKind::UndoEditScript,
                        "",
                    )
                } else if i == 0 && !last {
                    plain(
                        "read the script first",
                        PyActionKind::InspectScriptLines,
                        SCRIPT,
                    )
                } else {
                    match self.plan.get(self.next_idea).filter(|_| !last) {
                        Some(idea) => {
                            self.next_idea += 1;
                            self.edited = true;
                            edit(idea)
                        }
                        None => plain("no idea left to try", PyActionKind::FinalAnswer, ""),
                    }
                }
            }
            PyAgentKind::Random => {
                let mut rng = seed.rng();
                let kind = PyActionKind::ALL[rng.random_range(0..PyActionKind::ALL.len())];
                match kind {
                    PyActionKind::EditScript if !self.plan.is_empty() => {
                        edit(&self.plan[rng.random_range(0..self.plan.len())])
                    }
                    PyActionKind::UnderstandFile => plain("look at the data", kind, TRAIN_CSV),
                    PyActionKind::ListFiles | PyActionKind::FinalAnswer => plain("-", kind, ""),
                    _ => plain("-", kind, SCRIPT),
                }
            }
        }
    }

    /// Keeps an edit that improved the metric; undoes one that ran and did not (an invalid
    /// edit changed nothing, so there is nothing to undo).
    fn observe(&mut self, feedback: &Feedback) {
        if !std::mem::take(&mut self.edited) {
            return;
        }
        match feedback {
            Feedback::InvalidAction { .. } => {}
            Feedback::Success { metric, .. } if self.direction.is_better(*metric, self.kept) => {
                self.kept = *metric;
            }
            _ => self.undo_next = true,
        }
    }
}

/// One scripted agent per episode of a batch: episode `i` is played by `agents[i]`.
pub struct ScriptedTeam {
    name: String,
    agents: Vec<ScriptedAgent>,
}

impl ScriptedTeam {
    /// Agents for episodes on `task` from a starter whose validation metric is `starter_metric`,
    /// episode `i`'s plan shuffled by `seeds[i]`.
    pub fn new(
        kind: PyAgentKind,
        task: &PythonTask,
        starter_metric: f64,
        seeds: &[SeedPath],
        max_steps: usize,
    ) -> Self {
        let agents = seeds
            .iter()
            .map(|seed| {
                ScriptedAgent::new(
                    kind,
                    task.spec.ideas.clone(),
                    task.spec.metric.direction(),
                    starter_metric,
                    max_steps,
                    (kind == PyAgentKind::Expert).then(|| seed.child("plan")),
                )
            })
            .collect();
        Self::from_agents(kind.name(), agents)
    }

    pub fn from_agents(name: impl Into<String>, agents: Vec<ScriptedAgent>) -> Self {
        Self {
            name: name.into(),
            agents,
        }
    }
}

impl Policy for ScriptedTeam {
    fn name(&self) -> &str {
        &self.name
    }

    fn act(
        &mut self,
        input: &PolicyInput<'_>,
        seed: &SeedPath,
    ) -> Result<PolicyOutput, PolicyError> {
        let agent = self
            .agents
            .get_mut(input.episode)
            .ok_or_else(|| PolicyError::Failed {
                policy: self.name.clone(),
                message: format!("no agent for episode {}", input.episode),
            })?;
        Ok(PolicyOutput {
            text: agent.act(seed),
            tokens: None,
        })
    }

    fn observe(&mut self, episode: usize, feedback: &Feedback) {
        if let Some(a) = self.agents.get_mut(episode) {
            a.observe(feedback);
        }
    }
}

/// The seed of episode `e` of a rollout from `seed`.
pub fn episode_seed(seed: &SeedPath, e: usize) -> SeedPath {
    seed.child(e)
}

/// Plays `episodes` episodes of `policy` on `task` from its starter, at most `max_steps` steps
/// each, episode `e`'s decisions named by [`episode_seed`]; returns each episode with its
/// ShareGPT conversation.
pub fn rollout(
    env: &PythonEnv,
    task: &PythonTask,
    policy: &mut dyn Policy,
    episodes: usize,
    max_steps: usize,
    seed: &SeedPath,
) -> Result<Vec<(Episode, Conversation)>, EpisodeError> {
    let jobs: Vec<EpisodeJob<'_, PythonTask>> = (0..episodes)
        .map(|e| EpisodeJob {
            task,
            seed: episode_seed(seed, e),
            run_seed: 0,
            max_steps,
        })
        .collect();
    let eps = run_episodes(env, &jobs, policy)?;
    eps.into_iter()
        .map(|ep| {
            let c = ep.conversation(env, task)?;
            Ok((ep, c))
        })
        .collect()
}
