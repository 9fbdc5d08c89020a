//! The training loop both RL methods share: collect an iteration's samples, update, count the
//! environment work, and at the start and every `eval_every` iterations evaluate and
//! checkpoint. A run interrupted anywhere resumes from its last checkpoint and ends with the
//! same bytes as an uninterrupted one.

use std::path::Path;
use std::time::Instant;

use super::learner::Learner;
use super::probe::Measure;
use super::resume::{self, Progress};
use super::{IterationMetrics, RlError, Sample};
use crate::env::ActionMix;
use crate::results::{CurvePoint, TaskGain};
use crate::seed::SeedPath;

/// An iteration's training data and what it cost.
#[derive(Clone, Debug, Default)]
pub struct Collected {
    pub samples: Vec<Sample>,
    /// What the sampled actions did.
    pub mix: ActionMix,
    /// Tokens the policy processed while acting: every sample's prompt and generated ids.
    pub generated_tokens: f64,
    /// Environment work units charged (`agent::environment::Environment::work`: the planned
    /// multiply-adds of every script run the iteration's steps asked for in the workbench, one
    /// per execution in the Python environment; cached or not).
    pub work_units: f64,
}

/// Forward-equivalent policy tokens of an update on `samples`: every sample's prompt and
/// action pass through two scoring forwards (old and reference log-probs), then the training
/// passes the update made (`UpdateStats::trained_tokens`: three forwards per token of each
/// stepped minibatch, a backward costing about twice its forward).
pub fn update_tokens(samples: &[Sample], trained_tokens: f64) -> f64 {
    let tokens: usize = samples
        .iter()
        .map(|s| s.prompt.len() + s.action.len())
        .sum();
    tokens as f64 * 2.0 + trained_tokens
}

fn point(rl_step: usize, progress: &Progress, wall: f64, task_gains: Vec<TaskGain>) -> CurvePoint {
    CurvePoint {
        rl_step: rl_step as u32,
        work_units: progress.work_units.round() as u64,
        policy_tokens: progress.policy_tokens.round() as u64,
        wall_seconds: Some(wall),
        task_gains,
    }
}

/// The adaptive KL coefficient a run starts from: the configured one when `rl.kl_control` adapts
/// it, `None` when it stays fixed.
fn rl_kl_start(rl: &super::RlConfig) -> Option<f64> {
    rl.kl_control.as_ref().map(|_| rl.kl_coef)
}

/// Evaluates the learner at a curve point (its RL step given): the curve's task gains and the
/// probe.
pub type Evaluate<'a> =
    dyn FnMut(&Learner, usize) -> Result<(Vec<TaskGain>, Measure), RlError> + 'a;

/// Runs (or resumes) training; returns the final progress.
pub fn train(
    learner: &mut Learner,
    resume_dir: &Path,
    seed: &SeedPath,
    collect: &mut dyn FnMut(usize, &Learner) -> Result<Collected, RlError>,
    evaluate: &mut Evaluate<'_>,
) -> Result<Progress, RlError> {
    let start = Instant::now();
    let mut progress = match resume::load(resume_dir, learner)? {
        Some(p) => {
            tracing::info!(iteration = p.iteration, "resuming RL");
            p
        }
        None => {
            let (gains, probe) = evaluate(learner, 0)?;
            let wall = start.elapsed().as_secs_f64();
            let mut p = Progress {
                iteration: 0,
                work_units: 0.0,
                policy_tokens: 0.0,
                wall_seconds: wall,
                points: Vec::new(),
                metrics: Vec::new(),
                iteration_seconds: Vec::new(),
                probes: vec![probe],
                kl_coef: rl_kl_start(&learner.rl),
            };
            p.points.push(point(0, &p, wall, gains));
            resume::save(resume_dir, learner, &p)?;
            p
        }
    };
    let base_wall = progress.wall_seconds;
    let rl = learner.rl.clone();
    let cap_reached = |p: &Progress| {
        rl.max_work_units.is_some_and(|c| p.work_units >= c)
            || rl.max_policy_tokens.is_some_and(|c| p.policy_tokens >= c)
    };
    while progress.iteration < rl.iterations && !cap_reached(&progress) {
        let it = progress.iteration + 1;
        let t0 = Instant::now();
        let c = collect(it, learner)?;
        let n = c.samples.len().max(1) as f64;
        let mean_reward = c.samples.iter().map(|s| s.reward).sum::<f64>() / n;
        let collect_s = t0.elapsed().as_secs_f64();
        let critic_only = it <= rl.critic_warmup_iterations;
        let kl_coef = progress.kl_coef.unwrap_or(rl.kl_coef);
        let stats = learner.update(
            &c.samples,
            &seed.child("update").child(it),
            critic_only,
            kl_coef,
        )?;
        if let (Some(control), false) = (&rl.kl_control, critic_only) {
            progress.kl_coef = Some(control.next(kl_coef, stats.loss.kl, c.samples.len()));
        }
        let update_s = t0.elapsed().as_secs_f64() - collect_s;
        progress.work_units += c.work_units;
        let policy_tokens = c.generated_tokens + update_tokens(&c.samples, stats.trained_tokens);
        progress.policy_tokens += policy_tokens;
        progress.metrics.push(IterationMetrics {
            iteration: it,
            samples: c.samples.len(),
            mean_reward,
            success_rate: (c.mix.improving_edit + c.mix.regressing_edit + c.mix.no_op_edit) as f64
                / n,
            invalid_rate: c.mix.invalid as f64 / n,
            action_mix: c.mix,
            policy_loss: stats.loss.policy,
            value_loss: stats.loss.value,
            kl: stats.loss.kl,
            kl_coef: rl.kl_control.as_ref().map(|_| kl_coef),
            approx_kl: rl.target_kl.map(|_| stats.loss.approx_kl),
            minibatches: rl.target_kl.map(|_| stats.minibatches),
            entropy: stats.loss.entropy,
            clip_fraction: stats.loss.clip_fraction,
            work_units: c.work_units,
            cumulative_work_units: progress.work_units,
            policy_tokens,
            cumulative_policy_tokens: progress.policy_tokens,
        });
        progress.iteration_seconds.push(t0.elapsed().as_secs_f64());
        progress.iteration = it;
        tracing::info!(
            iteration = it,
            mean_reward,
            kl = stats.loss.kl,
            work_units = progress.work_units,
            collect_s,
            update_s,
            "RL iteration"
        );
        let last = it == rl.iterations || cap_reached(&progress);
        if !last && it % rl.eval_every != 0 && crate::interrupt::requested() {
            // Sampling is named by iteration, so a checkpoint between curve points resumes
            // exactly too.
            progress.wall_seconds = base_wall + start.elapsed().as_secs_f64();
            resume::save(resume_dir, learner, &progress)?;
            return Err(RlError::Interrupted {
                iteration: it,
                dir: resume_dir.display().to_string(),
            });
        }
        if it % rl.eval_every == 0 || last {
            let e0 = Instant::now();
            let (gains, probe) = evaluate(learner, it)?;
            progress.probes.push(probe);
            tracing::info!(
                iteration = it,
                eval_s = e0.elapsed().as_secs_f64(),
                "RL evaluation"
            );
            progress.wall_seconds = base_wall + start.elapsed().as_secs_f64();
            let p = point(it, &progress, progress.wall_seconds, gains);
            progress.points.push(p);
            resume::save(resume_dir, learner, &progress)?;
            if !last && crate::interrupt::requested() {
                return Err(RlError::Interrupted {
                    iteration: it,
                    dir: resume_dir.display().to_string(),
                });
            }
        }
    }
    Ok(progress)
}
