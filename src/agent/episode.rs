//! Running episodes: a policy acts on a task in the workbench, step by step, until it gives a
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
use super::knobs::knobs_of;
use super::policy::{Policy, PolicyError, PolicyInput};
use super::prompt;
use crate::env::evaluation::RunOutcome;
use crate::env::{Feedback, Script, StepResult, Workbench, WorkbenchError};
use crate::seed::SeedPath;
use crate::tasks::Task;

/// One episode to run.
#[derive(Clone, Debug)]
pub(crate) struct EpisodeJob<'a> {
    pub task: &'a Task,
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
    pub fn conversation(&self, task: &Task) -> Result<Conversation, WorkbenchError> {
        let starter = Script::parse(task.spec.data_type, &task.spec.starter)
            .map_err(|e| WorkbenchError::Starter(task.spec.id.clone(), e.to_string()))?;
        let mut turns = vec![Turn::human(prompt::task_turn(task, &starter))];
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
    Policy(#[from] PolicyError),
    #[error("policy {policy} returned {got} actions for {want} states")]
    BatchSize {
        policy: String,
        got: usize,
        want: usize,
    },
}

struct Live<'a> {
    job: &'a EpisodeJob<'a>,
    script: Script,
    history: Vec<Turn>,
    episode: Episode,
    finished: bool,
}

/// The validation metric of a script, if it runs.
fn valid_metric(
    wb: &Workbench,
    task: &Task,
    script: &Script,
    seed: u64,
) -> Result<Option<f64>, WorkbenchError> {
    Ok(match wb.run(task, script, seed)?.outcome {
        RunOutcome::Success { valid_metric } => Some(valid_metric),
        _ => None,
    })
}

/// Runs `jobs` with `policy` in lock step; returns the episodes in job order.
pub(crate) fn run_episodes(
    wb: &Workbench,
    jobs: &[EpisodeJob<'_>],
    policy: &mut dyn Policy,
) -> Result<Vec<Episode>, EpisodeError> {
    let mut live: Vec<Live<'_>> = jobs
        .iter()
        .map(|job| {
            let script = wb.starter(job.task)?;
            let starter_metric = valid_metric(wb, job.task, &script, job.run_seed)?;
            Ok(Live {
                history: vec![Turn::human(prompt::task_turn(job.task, &script))],
                episode: Episode {
                    task_id: job.task.spec.id.clone(),
                    steps: Vec::new(),
                    starter_metric,
                    best_script: script.to_string(),
                    best_metric: starter_metric,
                },
                script,
                job,
                finished: job.max_steps == 0,
            })
        })
        .collect::<Result<_, WorkbenchError>>()?;
    loop {
        let active: Vec<usize> = (0..live.len()).filter(|&i| !live[i].finished).collect();
        if active.is_empty() {
            break;
        }
        let knobs: Vec<_> = active.iter().map(|&i| knobs_of(&live[i].script)).collect();
        let inputs: Vec<PolicyInput<'_>> = active
            .iter()
            .zip(&knobs)
            .map(|(&i, k)| PolicyInput {
                task_id: &live[i].job.task.spec.id,
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
        let results: Vec<Result<StepResult, WorkbenchError>> = active
            .par_iter()
            .zip(outputs.par_iter())
            .map(|(&i, out)| {
                let l = &live[i];
                wb.step(l.job.task, &l.script, &out.text, l.job.run_seed)
            })
            .collect();
        for ((&i, out), r) in active.iter().zip(outputs).zip(results) {
            let r = r?;
            policy.observe(i, &r.feedback);
            let l = &mut live[i];
            let task = l.job.task;
            if let Feedback::Success { metric, .. } = &r.feedback {
                let better = match l.episode.best_metric {
                    None => true,
                    Some(b) => task.spec.metric.direction().is_better(*metric, b),
                };
                if better {
                    l.episode.best_metric = Some(*metric);
                    l.episode.best_script = r.next_script.to_string();
                }
            }
            l.history.push(Turn::gpt(out.text.clone()));
            l.history
                .push(Turn::human(prompt::feedback_turn(&r.feedback)));
            l.episode.steps.push(StepRecord {
                step: l.episode.steps.len(),
                script_before: l.script.to_string(),
                action: out.text,
                feedback: r.feedback,
                reward: r.reward,
                previous_metric: r.previous_metric,
                script_after: r.next_script.to_string(),
                done: r.done,
            });
            l.script = r.next_script;
            l.finished = r.done || l.episode.steps.len() >= l.job.max_steps;
        }
    }
    Ok(live.into_iter().map(|l| l.episode).collect())
}
