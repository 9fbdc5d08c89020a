//! Running episodes: a policy acts on a task in an environment (`agent::environment`: the
//! workbench or the Python environment), step by step, until it gives a
//! Final Answer or reaches its step limit. Several episodes run in lock step, so a language
//! model answers a batch of states at once; their workbench executions run in parallel and are
//! collected in episode order, so thread count never changes a result.
//!
//! An episode yields its ShareGPT conversation (for fine-tuning) and one [`StepRecord`] per
//! step (feedback, reward, the script before and after: the RL state pool and evaluation read
//! these).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::conversation::{Conversation, Turn};
use super::environment::{EnvError, Environment, Recorded, Transition};
use super::knobs::knobs_of;
use super::policy::{Policy, PolicyError, PolicyInput};
use super::prompt;
use crate::env::{Feedback, WorkbenchError};
use crate::seed::SeedPath;
use crate::tasks::Task;

/// One episode to run (`T`: the environment's task type).
#[derive(Clone, Debug)]
pub(crate) struct EpisodeJob<'a, T = Task> {
    pub task: &'a T,
    /// Names the stream of the policy's decisions; step `i` uses `seed.child(i)`.
    pub seed: SeedPath,
    /// The workbench seed of every training run in the episode.
    pub run_seed: u64,
    /// Step limit (the task's budget or the agent's own, whichever is smaller).
    pub max_steps: usize,
}

/// One step of an episode, as kept beside `trajectories.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    /// 0-based step index.
    pub step: usize,
    /// The script the action was taken on (rendered `key = value` lines).
    pub script_before: String,
    pub action: String,
    pub feedback: Feedback,
    pub reward: f64,
    /// Validation metric of `script_before` (the reward's baseline), when the step ran a script.
    pub previous_metric: Option<f64>,
    pub script_after: String,
    pub done: bool,
}

impl StepRecord {
    /// The step as `Environment::states_of` replays it.
    pub fn recorded(&self) -> Recorded<'_> {
        Recorded {
            script_before: &self.script_before,
            action: &self.action,
            script_after: &self.script_after,
        }
    }
}

/// A finished episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Episode {
    pub task_id: String,
    pub steps: Vec<StepRecord>,
    /// Validation metric of the starter script.
    pub starter_metric: Option<f64>,
    /// The script with the best validation metric the episode reached (the starter when no
    /// edit beat it), and that metric.
    pub best_script: String,
    pub best_metric: Option<f64>,
}

impl Episode {
    /// The ShareGPT conversation: task turn, then (action, feedback)* without the last
    /// feedback, so it ends with a gpt turn as LLaMA-Factory requires.
    pub fn conversation<E: Environment>(
        &self,
        env: &E,
        task: &E::Task,
    ) -> Result<Conversation, EnvError> {
        let mut turns = vec![Turn::human(env.task_turn(task)?)];
        for (i, s) in self.steps.iter().enumerate() {
            turns.push(Turn::gpt(s.action.clone()));
            if i + 1 < self.steps.len() {
                turns.push(Turn::human(prompt::feedback_turn(&s.feedback)));
            }
        }
        Ok(Conversation {
            conversations: turns,
        })
    }

    pub fn mean_reward(&self) -> Option<f64> {
        (!self.steps.is_empty())
            .then(|| self.steps.iter().map(|s| s.reward).sum::<f64>() / self.steps.len() as f64)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EpisodeError {
    #[error(transparent)]
    Workbench(#[from] WorkbenchError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("policy {policy} returned {got} actions for {want} states")]
    BatchSize {
        policy: String,
        got: usize,
        want: usize,
    },
}

struct Live<'a, E: Environment> {
    job: &'a EpisodeJob<'a, E::Task>,
    state: E::State,
    history: Vec<Turn>,
    episode: Episode,
    finished: bool,
}

/// Runs `jobs` with `policy` in lock step in `env`; returns the episodes in job order.
pub(crate) fn run_episodes<E: Environment>(
    env: &E,
    jobs: &[EpisodeJob<'_, E::Task>],
    policy: &mut dyn Policy,
) -> Result<Vec<Episode>, EpisodeError> {
    let mut live: Vec<Live<'_, E>> = jobs
        .iter()
        .map(|job| {
            let start = env.start(job.task, job.run_seed)?;
            let script = env.script(&start.state);
            Ok(Live {
                history: vec![Turn::human(env.task_turn(job.task)?)],
                episode: Episode {
                    task_id: env.task_id(job.task).to_string(),
                    steps: Vec::new(),
                    starter_metric: start.metric,
                    best_script: script,
                    best_metric: start.metric,
                },
                state: start.state,
                job,
                finished: job.max_steps == 0,
            })
        })
        .collect::<Result<_, EnvError>>()?;
    loop {
        let active: Vec<usize> = (0..live.len()).filter(|&i| !live[i].finished).collect();
        if active.is_empty() {
            break;
        }
        let knobs: Vec<_> = active
            .iter()
            .map(|&i| {
                env.typed_script(&live[i].state)
                    .map(knobs_of)
                    .unwrap_or_default()
            })
            .collect();
        let inputs: Vec<PolicyInput<'_>> = active
            .iter()
            .zip(&knobs)
            .map(|(&i, k)| PolicyInput {
                task_id: env.task_id(live[i].job.task),
                episode: i,
                history: &live[i].history,
                knobs: k,
            })
            .collect();
        let seeds: Vec<SeedPath> = active
            .iter()
            .map(|&i| live[i].job.seed.child(live[i].episode.steps.len()))
            .collect();
        let outputs = policy.act_batch(&inputs, &seeds)?;
        if outputs.len() != active.len() {
            return Err(EpisodeError::BatchSize {
                policy: policy.name().to_string(),
                got: outputs.len(),
                want: active.len(),
            });
        }
        let results: Vec<Result<Transition<E::State>, EnvError>> = active
            .par_iter()
            .zip(outputs.par_iter())
            .map(|(&i, out)| {
                let l = &live[i];
                env.step(l.job.task, &l.state, &out.text, l.job.run_seed)
            })
            .collect();
        for ((&i, out), r) in active.iter().zip(outputs).zip(results) {
            let r = r?;
            policy.observe(i, &r.feedback);
            let l = &mut live[i];
            let task = l.job.task;
            let script_after = env.script(&r.next);
            if let Feedback::Success { metric, .. } = &r.feedback {
                let better = match l.episode.best_metric {
                    None => true,
                    Some(b) => env.direction(task).is_better(*metric, b),
                };
                if better {
                    l.episode.best_metric = Some(*metric);
                    l.episode.best_script = script_after.clone();
                }
            }
            l.history.push(Turn::gpt(out.text.clone()));
            l.history
                .push(Turn::human(prompt::feedback_turn(&r.feedback)));
            l.episode.steps.push(StepRecord {
                step: l.episode.steps.len(),
                script_before: env.script(&l.state),
                action: out.text,
                feedback: r.feedback,
                reward: r.reward,
                previous_metric: r.previous_metric,
                script_after,
                done: r.done,
            });
            l.state = r.next;
            l.finished = r.done || l.episode.steps.len() >= l.job.max_steps;
        }
    }
    Ok(live.into_iter().map(|l| l.episode).collect())
}
