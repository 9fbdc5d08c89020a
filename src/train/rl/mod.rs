//! Reinforcement learning of the policy (paper §3.2, Figure 4): step-wise PPO on single steps
//! sampled from expert states, and the episode-wise baseline that rolls out whole episodes from
//! each task's start. Both share the actor-critic, the PPO losses, the evaluation curve and the
//! exact-resume checkpoints; they differ only in where their training samples come from.

pub mod actor;
pub mod curve;
pub mod driver;
pub(crate) mod episodic;
pub mod kl_control;
pub mod learner;
pub(crate) mod ppo;
pub mod probe;
pub mod resume;
pub mod state_pool;
pub(crate) mod stepwise;

use serde::{Deserialize, Serialize};

use crate::lm::train::OptimConfig;

/// How advantages are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// PPO with a learned value baseline: advantage = return − V(s).
    Ppo,
    /// GRPO: advantage = outcome − its group's mean outcome (the samples of one state, or,
    /// episode-wise, the episodes of one task in an iteration); no critic.
    Grpo,
}

/// Settings of both RL stages (the paper publishes none: PROVENANCE.md, "RL").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlConfig {
    pub algorithm: Algorithm,
    /// PPO iterations (each: sample, execute, score, update).
    pub iterations: usize,
    /// Stop early once this many environment work units are charged (equal-compute cap for the
    /// step-wise / episode-wise comparison); `None`: run all iterations.
    #[serde(default)]
    pub max_work_units: Option<f64>,
    /// Stop early once the policy has processed this many forward-equivalent tokens (acting and
    /// updates: `driver::update_tokens`), the analogue of the paper's GPU-hour budget for
    /// Figure 4; `None`: no cap.
    #[serde(default)]
    pub max_policy_tokens: Option<f64>,
    /// Step-wise: expert states sampled per iteration.
    pub states_per_iteration: usize,
    /// Step-wise: actions generated per state (GRPO needs at least 2). Episode-wise GRPO: the
    /// episodes of one task compared as a group.
    pub samples_per_state: usize,
    /// Passes over an iteration's samples.
    pub epochs: usize,
    /// Samples per optimiser step.
    pub minibatch_size: usize,
    pub optim: OptimConfig,
    /// PPO clip range ε: the ratio is clipped to [1 − ε, 1 + ε].
    pub clip_epsilon: f64,
    /// Clip each minibatch gradient (policy and value head together) to this global L2 norm;
    /// `None`: no clipping.
    #[serde(default)]
    pub max_grad_norm: Option<f64>,
    /// Weight of the value loss ½ (V − return)² (PPO only).
    pub value_coef: f64,
    /// PPO: the first this many iterations update the critic only (verl's `critic_warmup`): the
    /// value head starts random, and until it has learnt the rewards' scale, target − V is
    /// mostly its error.
    #[serde(default)]
    pub critic_warmup_iterations: usize,
    /// Weight of the KL penalty to the frozen SFT policy (k3 estimator); with `kl_control`, its
    /// starting value.
    pub kl_coef: f64,
    /// Adapt `kl_coef` after every update toward a target KL (`kl_control::KlControl`); `None`:
    /// the coefficient stays fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl_control: Option<kl_control::KlControl>,
    /// Stop an update once the policy has moved more than 1.5 × this KL from the iteration's
    /// start (Stable-Baselines3's `target_kl`; `ppo::LossStats::approx_kl`), a trust region
    /// per update; `None`: every epoch's minibatches run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_kl: Option<f64>,
    /// The temperature RL's own rollouts sample and score at; `None`: the policy's (the
    /// evaluation's), so RL trains exactly the policy that is evaluated. Above it, the samples of
    /// one state differ more (at 0.2 they are mostly one action), so comparisons within a state
    /// carry signal; the curve and probe still act at the policy's temperature (docs/rl.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_temperature: Option<f64>,
    /// Weight of the entropy bonus.
    pub entropy_coef: f64,
    /// PPO: standardise advantages over the iteration's samples.
    pub normalize_advantages: bool,
    /// Evaluate (and checkpoint) every this many iterations; also after the last.
    pub eval_every: usize,
    pub eval: CurveConfig,
    /// The probe measured at every curve point (`probe.json`).
    pub probe: probe::ProbeConfig,
    pub episode: EpisodeRlConfig,
}

/// The evaluation at each curve point: sampled episodes from each evaluation task's starter,
/// at the policy's temperature and context, as RL acts and the final evaluation acts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurveConfig {
    pub episodes_per_task: usize,
    pub max_steps: usize,
}

/// The episode-wise baseline's rollouts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeRlConfig {
    /// Episodes per iteration, spread round-robin over the held-in tasks.
    pub episodes_per_iteration: usize,
    pub max_steps: usize,
    /// Discount of the Monte-Carlo returns over steps.
    pub gamma: f64,
}

impl RlConfig {
    /// Checks the settings; `Err((field, message))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: &str| Err((format!("rl.{f}"), m.to_string()));
        if self.iterations == 0 {
            return bad("iterations", "expected at least 1");
        }
        if self.states_per_iteration == 0 {
            return bad("states_per_iteration", "expected at least 1");
        }
        if self.samples_per_state == 0
            || (self.algorithm == Algorithm::Grpo && self.samples_per_state < 2)
        {
            return bad(
                "samples_per_state",
                "expected at least 1 (at least 2 with GRPO: a group needs a spread)",
            );
        }
        if self
            .rollout_temperature
            .is_some_and(|t| !(t.is_finite() && t > 0.0))
        {
            return bad("rollout_temperature", "expected a finite temperature > 0");
        }
        if self.critic_warmup_iterations > 0 && self.algorithm != Algorithm::Ppo {
            return bad(
                "critic_warmup_iterations",
                "expected 0: only PPO has a critic",
            );
        }
        if self.critic_warmup_iterations >= self.iterations {
            return bad(
                "critic_warmup_iterations",
                "expected fewer than rl.iterations: the policy must get updates",
            );
        }
        if self.epochs == 0 || self.minibatch_size == 0 {
            return bad("epochs", "expected epochs >= 1 and minibatch_size >= 1");
        }
        if !(self.clip_epsilon > 0.0 && self.clip_epsilon < 1.0) {
            return bad("clip_epsilon", "expected a number in (0, 1)");
        }
        if self
            .max_grad_norm
            .is_some_and(|n| !(n.is_finite() && n > 0.0))
        {
            return bad("max_grad_norm", "expected a finite number > 0, or None");
        }
        for (f, v) in [
            ("value_coef", self.value_coef),
            ("kl_coef", self.kl_coef),
            ("entropy_coef", self.entropy_coef),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(f, "expected a finite number >= 0");
            }
        }
        if self.target_kl.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return bad("target_kl", "expected a finite number > 0, or None");
        }
        if let Some(Err(e)) = self
            .kl_control
            .as_ref()
            .map(kl_control::KlControl::validate)
        {
            return Err(e);
        }
        if let Err((f, m)) = self.optim.validate() {
            return bad(&format!("optim.{f}"), &m);
        }
        if self.eval_every == 0 {
            return bad("eval_every", "expected at least 1");
        }
        if self.eval.episodes_per_task == 0 || self.eval.max_steps == 0 {
            return bad("eval", "expected episodes_per_task >= 1 and max_steps >= 1");
        }
        if self.probe.states == 0 || self.probe.samples_per_state == 0 {
            return bad("probe", "expected states >= 1 and samples_per_state >= 1");
        }
        if self.episode.episodes_per_iteration == 0 || self.episode.max_steps == 0 {
            return bad(
                "episode",
                "expected episodes_per_iteration >= 1 and max_steps >= 1",
            );
        }
        if !(self.episode.gamma >= 0.0 && self.episode.gamma <= 1.0) {
            return bad("episode.gamma", "expected a number in [0, 1]");
        }
        if let Some(w) = self.max_work_units
            && !(w.is_finite() && w > 0.0)
        {
            return bad("max_work_units", "expected a finite number > 0");
        }
        if let Some(w) = self.max_policy_tokens
            && !(w.is_finite() && w > 0.0)
        {
            return bad("max_policy_tokens", "expected a finite number > 0");
        }
        Ok(())
    }
}

/// Errors of RL training; each names what is at fault.
#[derive(Debug, thiserror::Error)]
pub enum RlError {
    #[error(transparent)]
    Lm(#[from] crate::lm::LmError),
    #[error(transparent)]
    Workbench(#[from] crate::env::WorkbenchError),
    #[error(transparent)]
    Episode(#[from] crate::agent::episode::EpisodeError),
    #[error(transparent)]
    Env(#[from] crate::agent::environment::EnvError),
    #[error(transparent)]
    Write(#[from] crate::provenance::atomic::WriteError),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Input(String),
    /// Stopped on request (`crate::interrupt`) after checkpointing the iteration.
    #[error(
        "interrupted after RL iteration {iteration}; the checkpoint is in {dir}; resume by running again"
    )]
    Interrupted { iteration: usize, dir: String },
}

/// One training sample: a state's prompt tokens, the sampled action's tokens (stop token
/// included), and the scalars the update needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub prompt: Vec<u32>,
    pub action: Vec<u32>,
    /// The step's reward.
    pub reward: f64,
    /// The regression target of the value head (the reward step-wise; the Monte-Carlo return
    /// episode-wise).
    pub target: f64,
    /// What GRPO compares within the group: the reward step-wise, the whole episode's return
    /// episode-wise.
    pub outcome: f64,
    /// GRPO group (samples of one state, or the episodes of one task in an iteration).
    pub group: usize,
}

/// What one iteration did: a line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IterationMetrics {
    /// 1-based iteration.
    pub iteration: usize,
    pub samples: usize,
    pub mean_reward: f64,
    /// Share of samples whose action parsed and ran successfully (feedback `Success`).
    pub success_rate: f64,
    /// Share of samples with an invalid action.
    pub invalid_rate: f64,
    /// What the iteration's sampled actions did (`env::StepClass`).
    pub action_mix: crate::env::ActionMix,
    pub policy_loss: f64,
    pub value_loss: f64,
    pub kl: f64,
    /// The KL coefficient the update used, when `rl.kl_control` adapts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl_coef: Option<f64>,
    /// With `rl.target_kl`: the mean KL(π_old ‖ π_θ) over the stepped minibatches, and how many
    /// were stepped before the update stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approx_kl: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minibatches: Option<usize>,
    pub entropy: f64,
    /// Share of action tokens whose ratio was clipped.
    pub clip_fraction: f64,
    /// Environment work units charged in this iteration and in total.
    pub work_units: f64,
    pub cumulative_work_units: f64,
    /// Forward-equivalent policy tokens of the iteration (acting and update) and in total.
    pub policy_tokens: f64,
    pub cumulative_policy_tokens: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn smoke_rl() -> RlConfig {
        crate::config::Experiment::load(Path::new("experiments/smoke.ron"))
            .expect("the smoke config loads")
            .rl
    }

    #[test]
    fn every_profile_has_a_valid_rl_section() {
        for p in ["smoke", "mini", "paper"] {
            let e = crate::config::Experiment::load(Path::new(&format!("experiments/{p}.ron")));
            assert!(e.is_ok(), "{p}: {e:?}");
        }
    }

    #[test]
    fn bad_settings_name_their_field() {
        let mut c = smoke_rl();
        c.max_grad_norm = Some(0.0);
        assert_eq!(c.validate().unwrap_err().0, "rl.max_grad_norm");
        let mut c = smoke_rl();
        c.algorithm = Algorithm::Grpo;
        c.samples_per_state = 1;
        assert_eq!(c.validate().unwrap_err().0, "rl.samples_per_state");
        let mut c = smoke_rl();
        c.clip_epsilon = 1.5;
        assert_eq!(c.validate().unwrap_err().0, "rl.clip_epsilon");
        let mut c = smoke_rl();
        c.episode.gamma = f64::NAN;
        assert_eq!(c.validate().unwrap_err().0, "rl.episode.gamma");
        let mut c = smoke_rl();
        c.max_work_units = Some(-1.0);
        assert_eq!(c.validate().unwrap_err().0, "rl.max_work_units");
        let mut c = smoke_rl();
        c.rollout_temperature = Some(0.0);
        assert_eq!(c.validate().unwrap_err().0, "rl.rollout_temperature");
        assert!(smoke_rl().validate().is_ok());
    }
}
