//! The learner: the actor-critic being trained (autodiff device), its optimiser, the frozen SFT
//! reference (inference device), and the PPO update over an iteration's samples.
//!
//! "Old" log-probs and values are recomputed right before each update from an inference copy
//! of the current weights, through the same scoring code as the update itself (not taken from
//! the sampler), so at the first minibatch the ratio is 1 up to float summation order.

use std::path::Path;

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use rand::seq::SliceRandom as _;

use super::actor::{ActorCritic, ValueWeights, copy_to, score, score_with, to_host};
use super::ppo::{LossStats, LossWeights, advantages, ppo_loss};
use super::{Algorithm, RlConfig, RlError, Sample};
use crate::agent::lm_policy::{LmPolicy, TOKENIZER_FILE};
use crate::agent::policy::{ActionTokens, PolicyOutput};
use crate::lm::chat::stop_tokens;
use crate::lm::generate::SamplingConfig;
use crate::lm::tokenizer::ChatTokenizer;
use crate::lm::value::ValueHead;
use crate::lm::{Qwen2, Qwen2Config, hf};
use crate::seed::SeedPath;

/// The token ids of an action the learner's acting policy took.
pub(crate) fn tokens_of(out: PolicyOutput) -> Result<ActionTokens, RlError> {
    out.tokens.ok_or_else(|| {
        RlError::Input("the acting policy returned an action without its token ids".into())
    })
}

pub struct Learner {
    pub cfg: Qwen2Config,
    pub tok: ChatTokenizer,
    pub ac: ActorCritic,
    pub optim: ModuleOptimizer,
    pub reference: Qwen2,
    pub rl: RlConfig,
    /// Sampling of the actions RL trains on: the policy's own settings, the ones it is
    /// evaluated with.
    pub sampling: SamplingConfig,
    pub context_tokens: usize,
    pub train_device: Device,
    pub infer_device: Device,
    /// The system prompt of the environment the policy acts in (the workbench's unless the
    /// stage sets its environment's).
    pub system: &'static str,
}

/// Means over an update's minibatches.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UpdateStats {
    pub loss: LossStats,
    /// Minibatches stepped.
    pub minibatches: usize,
    /// Forward-equivalent tokens of the training passes: three per token of every stepped
    /// minibatch (forward and backward), one per token of a minibatch that stopped the update
    /// (`rl.target_kl`) after its forward.
    pub trained_tokens: f64,
    /// The update stopped early because the policy had moved more than `rl.target_kl` allows.
    pub stopped_early: bool,
}

impl Learner {
    /// Starts from the SFT policy directory: the policy and the reference both load its weights;
    /// the value head is initialised from `seed`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_sft(
        dir: &Path,
        rl: &RlConfig,
        policy_sampling: SamplingConfig,
        context_tokens: usize,
        seed: &SeedPath,
        train_device: Device,
        infer_device: Device,
    ) -> Result<Self, RlError> {
        let tok = ChatTokenizer::load(&dir.join(TOKENIZER_FILE))?;
        let (cfg, policy) = hf::load(dir, &train_device)?;
        let reference = copy_to(&cfg, &policy, &infer_device)?;
        let value = ValueHead::init(cfg.hidden_size, &seed.child("value_head"), &train_device);
        Ok(Self::assemble(
            cfg,
            tok,
            ActorCritic { policy, value },
            rl.optim.build(),
            reference,
            rl,
            policy_sampling,
            context_tokens,
            train_device,
            infer_device,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        cfg: Qwen2Config,
        tok: ChatTokenizer,
        ac: ActorCritic,
        optim: ModuleOptimizer,
        reference: Qwen2,
        rl: &RlConfig,
        mut sampling: SamplingConfig,
        context_tokens: usize,
        train_device: Device,
        infer_device: Device,
    ) -> Self {
        sampling.stop_tokens = stop_tokens(&tok);
        Self {
            cfg,
            tok,
            ac,
            optim,
            reference,
            rl: rl.clone(),
            sampling,
            context_tokens,
            train_device,
            infer_device,
            system: crate::agent::prompt::SYSTEM,
        }
    }

    /// The current policy on the inference device.
    pub(crate) fn snapshot(&self) -> Result<Qwen2, RlError> {
        Ok(copy_to(&self.cfg, &self.ac.policy, &self.infer_device)?)
    }

    /// The current policy as an agent: the one acting path (fit the state, generate, strip,
    /// decode) that RL's rollouts (`rollout_policy`), its curve and probe, and the evaluation
    /// stage all use, with the policy's sampling and context.
    pub fn acting_policy(&self, name: &str) -> Result<LmPolicy, RlError> {
        self.policy_at(name, self.sampling.temperature)
    }

    /// The temperature RL's rollouts sample at and every update scores at: `rl.rollout_temperature`,
    /// else the policy's.
    pub(crate) fn rollout_temperature(&self) -> f64 {
        self.rl
            .rollout_temperature
            .unwrap_or(self.sampling.temperature)
    }

    /// The current policy as RL's rollouts act: `acting_policy` at the rollout temperature.
    pub fn rollout_policy(&self, name: &str) -> Result<LmPolicy, RlError> {
        self.policy_at(name, self.rollout_temperature())
    }

    fn policy_at(&self, name: &str, temperature: f64) -> Result<LmPolicy, RlError> {
        let mut sampling = self.sampling.clone();
        sampling.temperature = temperature;
        Ok(LmPolicy::new(
            name,
            self.snapshot()?,
            self.tok.clone(),
            sampling,
            self.context_tokens,
            self.infer_device.clone(),
        )
        .with_system(self.system))
    }

    fn snapshot_value(&self) -> ValueHead {
        ValueWeights::of(&self.ac.value).to_head(&self.infer_device)
    }

    fn weights(&self, kl_coef: f64) -> LossWeights {
        LossWeights {
            clip_epsilon: self.rl.clip_epsilon,
            value_coef: self.rl.value_coef,
            kl_coef,
            entropy_coef: self.rl.entropy_coef,
        }
    }

    /// Per sample: log-probs of its action tokens under `model`, and V(state) when `value`.
    fn score_all(
        &self,
        model: &Qwen2,
        value: Option<&ValueHead>,
        samples: &[Sample],
    ) -> Result<(Vec<Vec<f32>>, Vec<f32>), RlError> {
        let mut logps = Vec::with_capacity(samples.len());
        let mut values = Vec::with_capacity(samples.len());
        for chunk in samples.chunks(self.rl.minibatch_size) {
            let refs: Vec<&Sample> = chunk.iter().collect();
            let s = score(
                model,
                value,
                &refs,
                self.rollout_temperature(),
                &self.infer_device,
            )?;
            let a = s.action_len;
            let lp = to_host(s.logp);
            for (r, smp) in chunk.iter().enumerate() {
                logps.push(lp[r * a..r * a + smp.action.len()].to_vec());
            }
            values.extend(
                s.values
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .expect("a float tensor converts to f32"),
            );
        }
        Ok((logps, values))
    }

    /// One PPO update on `samples`, with advantages from [`advantages`] (both methods, both
    /// algorithms) and the KL penalty weighted by `kl_coef` (the config's, or the adaptive
    /// controller's current value). Minibatch order comes from `seed.child("epoch").child(e)`.
    /// With `critic_only` the loss is the value loss alone, so the policy's weights do not move.
    pub fn update(
        &mut self,
        samples: &[Sample],
        seed: &SeedPath,
        critic_only: bool,
        kl_coef: f64,
    ) -> Result<UpdateStats, RlError> {
        if samples.is_empty() {
            return Ok(UpdateStats::default());
        }
        let with_value = self.rl.algorithm == Algorithm::Ppo;
        let current = self.snapshot()?;
        let vhead = self.snapshot_value();
        let (old_logp, old_values) =
            self.score_all(&current, with_value.then_some(&vhead), samples)?;
        let (ref_logp, _) = self.score_all(&self.reference, None, samples)?;
        let adv = advantages(
            self.rl.algorithm,
            samples,
            &old_values,
            self.rl.normalize_advantages,
        );
        if adv.len() != samples.len() {
            return Err(RlError::Input(format!(
                "{} advantages for {} samples",
                adv.len(),
                samples.len()
            )));
        }
        let weights = if critic_only {
            LossWeights {
                clip_epsilon: self.rl.clip_epsilon,
                value_coef: 1.0,
                kl_coef: 0.0,
                entropy_coef: 0.0,
            }
        } else {
            self.weights(kl_coef)
        };
        let policy_weight = if critic_only { 0.0 } else { 1.0 };
        let mut stats = UpdateStats::default();
        let mut order: Vec<usize> = (0..samples.len()).collect();
        let tokens = |chunk: &[usize]| -> f64 {
            chunk
                .iter()
                .map(|&i| samples[i].prompt.len() + samples[i].action.len())
                .sum::<usize>() as f64
        };
        'epochs: for e in 0..self.rl.epochs {
            order.shuffle(&mut seed.child("epoch").child(e).rng());
            for chunk in order.chunks(self.rl.minibatch_size) {
                let refs: Vec<&Sample> = chunk.iter().map(|&i| &samples[i]).collect();
                let scored = score_with(
                    &self.ac.policy,
                    Some(&self.ac.value),
                    &refs,
                    self.rollout_temperature(),
                    &self.train_device,
                    !critic_only,
                )?;
                let a = scored.action_len;
                let pad = |per: &[Vec<f32>]| -> Vec<f32> {
                    let mut v = Vec::with_capacity(chunk.len() * a);
                    for &i in chunk {
                        v.extend(&per[i]);
                        v.extend(std::iter::repeat_n(0f32, a - per[i].len()));
                    }
                    v
                };
                let old = pad(&old_logp);
                let reference = pad(&ref_logp);
                let mb_adv: Vec<f32> = chunk.iter().map(|&i| adv[i] as f32).collect();
                let targets: Vec<f32> = chunk.iter().map(|&i| samples[i].target as f32).collect();
                let (loss, s) = ppo_loss(
                    policy_weight,
                    scored,
                    &old,
                    &reference,
                    &mb_adv,
                    &targets,
                    with_value,
                    &weights,
                    &self.train_device,
                );
                // Stable-Baselines3's `target_kl`: once the update has moved the policy past
                // 1.5 × the target (measured before this minibatch's step), it stops.
                if !critic_only
                    && let Some(target) = self.rl.target_kl
                    && s.approx_kl > 1.5 * target
                {
                    stats.trained_tokens += tokens(chunk);
                    stats.stopped_early = true;
                    break 'epochs;
                }
                let total: f32 = loss.clone().into_scalar();
                if !total.is_finite() {
                    return Err(RlError::Input(format!(
                        "the PPO loss is {total} (epoch {e}): lower rl.optim.lr or rl.clip_epsilon"
                    )));
                }
                let mut grads = GradientsParams::from_grads(loss.backward(), &self.ac);
                crate::lm::train::clip_global_norm(&self.ac, &mut grads, self.rl.max_grad_norm);
                self.ac = self.optim.step(self.rl.optim.lr, self.ac.clone(), grads);
                stats.loss.policy += s.policy;
                stats.loss.value += s.value;
                stats.loss.kl += s.kl;
                stats.loss.entropy += s.entropy;
                stats.loss.clip_fraction += s.clip_fraction;
                stats.loss.approx_kl += s.approx_kl;
                stats.minibatches += 1;
                stats.trained_tokens += 3.0 * tokens(chunk);
            }
        }
        let n = stats.minibatches.max(1) as f64;
        stats.loss.policy /= n;
        stats.loss.value /= n;
        stats.loss.kl /= n;
        stats.loss.entropy /= n;
        stats.loss.clip_fraction /= n;
        stats.loss.approx_kl /= n;
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::generate::SamplingConfig;

    fn learner() -> Learner {
        let device = Device::flex();
        let train = device.clone().autodiff();
        let corpus: Vec<String> = (0..20)
            .map(|i| format!("Action: Edit Script lr = {i} epochs = {}", i % 3))
            .collect();
        let tok = ChatTokenizer::train_bpe(&corpus, 300).unwrap();
        let cfg = Qwen2Config::tiny(tok.vocab_size());
        let seed = SeedPath::root(4);
        let policy = Qwen2::init(&cfg, &seed.child("m"), &train).unwrap();
        let reference = copy_to(&cfg, &policy, &device).unwrap();
        let value = ValueHead::init(cfg.hidden_size, &seed.child("v"), &train);
        let rl = crate::config::Experiment::load(Path::new("experiments/smoke.ron"))
            .unwrap()
            .rl;
        Learner::assemble(
            cfg,
            tok,
            ActorCritic { policy, value },
            rl.optim.build(),
            reference,
            &rl,
            SamplingConfig {
                temperature: 1.0,
                top_p: 1.0,
                max_new_tokens: 4,
                stop_tokens: vec![],
            },
            64,
            train,
            device,
        )
    }

    fn samples() -> Vec<Sample> {
        (0..4u32)
            .map(|i| Sample {
                prompt: vec![5 + i, 9, 12, 7],
                action: vec![20 + i, 3],
                reward: f64::from(i) / 3.0,
                target: f64::from(i) / 3.0,
                outcome: f64::from(i) / 3.0,
                group: 0,
            })
            .collect()
    }

    /// A warm-up update trains the value head and leaves every policy weight bit for bit as it
    /// was; a full update moves the policy.
    #[test]
    fn critic_warmup_moves_the_value_head_only() {
        let mut l = learner();
        let before = l.ac.policy.to_tensors();
        let head_before = ValueWeights::of(&l.ac.value);
        l.update(&samples(), &SeedPath::root(1), true, 0.05)
            .unwrap();
        assert_eq!(
            l.ac.policy.to_tensors(),
            before,
            "the policy moved during warm-up"
        );
        assert_ne!(ValueWeights::of(&l.ac.value), head_before);
        l.update(&samples(), &SeedPath::root(2), false, 0.05)
            .unwrap();
        assert_ne!(l.ac.policy.to_tensors(), before);
    }
}
