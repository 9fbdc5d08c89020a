//! The RL curve (Figure 4): at the SFT start and every `eval_every` iterations the current
//! policy plays sampled episodes from each evaluation task's starter; a task's score is the
//! mean test metric of its episodes' best-validation scripts, and its gain is the relative gain
//! over the starter's test metric. Every point reuses the same episode seeds (common random
//! numbers), so differences between points come from the policy, not from the draw.

use std::path::Path;

use super::{CurveConfig, IterationMetrics, RlError};
use crate::agent::environment::Environment;
use crate::agent::episode::{EpisodeJob, run_episodes};
use crate::agent::lm_policy::LmPolicy;
use crate::paper::{EvalTask, Split};
use crate::results::{Curve, TaskGain, relative_gain};
use crate::seed::SeedPath;
use crate::tasks::Task;

/// The evaluation tasks that are Table 1 tasks, with their starters' test metrics.
pub struct CurveTasks<'a, T = Task> {
    pub tasks: Vec<(&'a T, EvalTask, f64)>,
}

impl<'a, T> CurveTasks<'a, T> {
    pub fn new<E: Environment<Task = T>>(
        env: &E,
        tasks: &[&'a T],
        run_seed: u64,
    ) -> Result<Self, RlError> {
        let mut out = Vec::new();
        for t in tasks {
            if let Some(e) = env.eval_task(t) {
                let starter = crate::eval::starter_test_metric(env, t, run_seed)?;
                out.push((*t, e, starter));
            }
        }
        Ok(Self { tasks: out })
    }
}

/// Plays the evaluation episodes with `policy` (the learner's acting policy); returns each
/// task's gain (tasks whose gain is undefined, a zero starter, are left out).
pub fn task_gains<E: Environment>(
    env: &E,
    set: &CurveTasks<'_, E::Task>,
    policy: &mut LmPolicy,
    cfg: &CurveConfig,
    seed: &SeedPath,
    run_seed: u64,
) -> Result<Vec<TaskGain>, RlError> {
    let mut jobs = Vec::new();
    for (task, _, _) in &set.tasks {
        for e in 0..cfg.episodes_per_task {
            jobs.push(EpisodeJob {
                task: *task,
                seed: seed.child(env.task_id(task)).child(e),
                run_seed,
                max_steps: cfg.max_steps.min(env.max_steps(task)),
            });
        }
    }
    let episodes = run_episodes(env, &jobs, policy)?;
    let mut gains = Vec::new();
    for (i, (task, id, starter)) in set.tasks.iter().enumerate() {
        let eps = &episodes[i * cfg.episodes_per_task..(i + 1) * cfg.episodes_per_task];
        let mut total = 0.0;
        for ep in eps {
            total += crate::eval::episode_test_metric(env, task, ep, *starter, run_seed)?;
        }
        let mean = total / eps.len() as f64;
        if let Some(g) = relative_gain(env.direction(task), *starter, mean) {
            gains.push(TaskGain {
                task: *id,
                gain_percent: g,
            });
        }
    }
    Ok(gains)
}

/// One method's series for a plot.
pub struct Series<'a> {
    pub label: &'a str,
    pub metrics: &'a [IterationMetrics],
    pub curve: &'a Curve,
}

/// Draws mean step reward per iteration (left) and held-in / held-out average relative gain
/// per curve point (right) for each series, as SVG text (`plot::reward_and_gain`).
pub fn plot_svg(series: &[Series<'_>], path: &Path) -> Result<String, RlError> {
    let data: Vec<crate::plot::RewardAndGain<'_>> = series
        .iter()
        .map(|s| crate::plot::RewardAndGain {
            label: s.label,
            rewards: s
                .metrics
                .iter()
                .map(|m| (m.iteration, m.mean_reward))
                .collect(),
            gains: s
                .curve
                .points
                .iter()
                .map(|p| {
                    (
                        p.policy_tokens,
                        p.avg_gain(Split::HeldIn),
                        p.avg_gain(Split::HeldOut),
                    )
                })
                .collect(),
        })
        .collect();
    crate::plot::reward_and_gain(&data).map_err(|e| RlError::File {
        path: path.display().to_string(),
        message: format!("plotting: {}", e.0),
    })
}
