//! The PPO objective and advantage estimators.
//!
//! Per action token, averaged over the sample's action and then over the minibatch's samples
//! (`token_weights`): `ratio = exp(log π_θ − log π_old)`, policy loss
//! `−min(ratio·A, clip(ratio, 1−ε, 1+ε)·A)`; KL to the frozen SFT reference by the k3 estimator
//! `exp(r − n) − (r − n) − 1` (Schulman's unbiased, always-positive estimator of
//! KL(π_θ ‖ π_ref) from samples of π_θ), with the log-ratio clamped to ±20 and each token's
//! estimate to at most 10 as verl's `low_var_kl` does: at a low sampling temperature one token
//! the reference prefers by a wide margin would otherwise contribute `e^Δ` and swamp the update;
//! entropy of π_θ at each position (exact, over the vocabulary). Per sample: value loss
//! `½ (V − target)²`.
//!
//! Padding positions (weight 0) have their log-ratios set to 0 *before* any `exp`: a pad's
//! log-prob can be far below −88, where `exp` overflows and `∞ · 0` would turn the whole loss
//! (and every gradient) into NaN. On finite inputs the result is bit for bit the same.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};

/// Weights of the loss terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LossWeights {
    pub clip_epsilon: f64,
    pub value_coef: f64,
    pub kl_coef: f64,
    pub entropy_coef: f64,
}

/// Scalars of one minibatch's loss, for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    pub policy: f64,
    pub value: f64,
    pub kl: f64,
    pub entropy: f64,
    pub clip_fraction: f64,
    /// KL(π_old ‖ π_θ) on the minibatch before its step (the k3 estimate `(ρ − 1) − ln ρ` of
    /// the ratio ρ over the sampled tokens, as Stable-Baselines3's `approx_kl`): how far this
    /// update has moved the policy so far.
    pub approx_kl: f64,
}

/// `a − b` where the weight is positive, 0 at padding (weight 0), so `exp` of it is finite.
fn live_log_ratio(a: Tensor<2>, b: Tensor<2>, w: &Tensor<2>) -> Tensor<2> {
    (a - b).mask_fill(w.clone().equal_elem(0.0), 0.0)
}

/// The clipped surrogate, summed with per-token weights `w` (`[B, A]`; each row's tokens carry
/// the advantage of its sample, `adv` `[B, A]`).
pub(crate) fn clipped_policy_loss(
    new_logp: Tensor<2>,
    old_logp: Tensor<2>,
    adv: Tensor<2>,
    w: Tensor<2>,
    eps: f64,
) -> Tensor<1> {
    let ratio = live_log_ratio(new_logp, old_logp, &w).exp();
    let unclipped = ratio.clone() * adv.clone();
    let clipped = ratio.clamp(1.0 - eps, 1.0 + eps) * adv;
    (unclipped.min_pair(clipped) * w).sum().neg()
}

/// Bounds of the k3 estimator (verl's `low_var_kl`): the log-ratio, then each token's estimate.
pub(crate) const KL_LOG_RATIO_BOUND: f64 = 20.0;
pub(crate) const KL_TOKEN_BOUND: f64 = 10.0;

/// k3 estimate of KL(π_θ ‖ π_ref), bounded per token, summed with per-token weights `w`.
pub(crate) fn kl_k3(new_logp: Tensor<2>, ref_logp: Tensor<2>, w: Tensor<2>) -> Tensor<1> {
    let d = live_log_ratio(ref_logp, new_logp, &w).clamp(-KL_LOG_RATIO_BOUND, KL_LOG_RATIO_BOUND);
    ((d.clone().exp() - d - 1.0).clamp_max(KL_TOKEN_BOUND) * w).sum()
}

fn t2(v: Vec<f32>, b: usize, a: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, [b, a]), device)
}

/// Per-token weights of a `[B, A]` mask: 1 / (B · the sample's action length) on real tokens,
/// 0 on padding; each sample's weights sum to 1 / B.
pub fn token_weights(mask: &[f32], b: usize, a: usize) -> Vec<f32> {
    let mut w = vec![0f32; b * a];
    for r in 0..b {
        let row = &mask[r * a..(r + 1) * a];
        let len: f32 = row.iter().sum();
        if len > 0.0 {
            for (t, &m) in row.iter().enumerate() {
                w[r * a + t] = m / (len * b as f32);
            }
        }
    }
    w
}

/// The full loss of a minibatch: `policy_weight`·policy + value_coef·value + kl_coef·KL − entropy_coef·entropy.
/// `old_logp`, `ref_logp` are `[B·A]` row-major like `mask`; `adv`, `targets` are per sample.
///
/// Aggregation: each token term is averaged over its own action, then over the minibatch's
/// samples (`token_weights`), so every sample weighs the same whatever its length and a long
/// action truncated at `max_new_tokens` cannot outweigh several short ones (a token mean over
/// the whole minibatch would give it weight in proportion to its length; docs/rl.md).
#[allow(clippy::too_many_arguments)]
pub(crate) fn ppo_loss(
    policy_weight: f64,
    new: super::actor::Scored,
    old_logp: &[f32],
    ref_logp: &[f32],
    adv: &[f32],
    targets: &[f32],
    with_value: bool,
    weights: &LossWeights,
    device: &Device,
) -> (Tensor<1>, LossStats) {
    let a = new.action_len;
    let b = adv.len();
    let w = token_weights(&new.mask, b, a);
    let adv_tok: Vec<f32> = (0..b * a).map(|i| adv[i / a]).collect();
    let w_t = t2(w.clone(), b, a, device);
    let old = t2(old_logp.to_vec(), b, a, device);
    let policy = clipped_policy_loss(
        new.logp.clone(),
        old.clone(),
        t2(adv_tok, b, a, device),
        w_t.clone(),
        weights.clip_epsilon,
    );
    let kl = kl_k3(
        new.logp.clone(),
        t2(ref_logp.to_vec(), b, a, device),
        w_t.clone(),
    );
    let entropy = (new.entropy * w_t).sum();
    let mut total = policy.clone() * policy_weight + kl.clone() * weights.kl_coef
        - entropy.clone() * weights.entropy_coef;
    let mut value = 0.0;
    if with_value {
        let tgt = Tensor::<1>::from_data(TensorData::new(targets.to_vec(), [b]), device);
        let vl = (new.values - tgt).powi_scalar(2).mean() * 0.5;
        value = vl.clone().into_scalar::<f32>() as f64;
        total = total + vl * weights.value_coef;
    }
    // Clip fraction on the host, from the same numbers.
    let ratio = super::actor::to_host((new.logp - old).exp());
    let eps = weights.clip_epsilon as f32;
    let clipped: f32 = ratio
        .iter()
        .zip(&w)
        .filter(|(r, _)| (**r - 1.0).abs() > eps)
        .map(|(_, w)| w)
        .sum();
    let approx_kl: f64 = ratio
        .iter()
        .zip(&w)
        .filter(|(_, w)| **w > 0.0)
        .map(|(&r, &w)| {
            let r = f64::from(r);
            f64::from(w) * ((r - 1.0) - r.ln())
        })
        .sum();
    let stats = LossStats {
        policy: policy.into_scalar::<f32>() as f64,
        value,
        kl: kl.into_scalar::<f32>() as f64,
        entropy: entropy.into_scalar::<f32>() as f64,
        clip_fraction: clipped as f64,
        approx_kl,
    };
    (total, stats)
}

/// The advantages of an update, for every method and algorithm: PPO's `target − V_old(s)`
/// (standardised over the batch when `normalize`), or GRPO's group-centred outcomes.
pub fn advantages(
    algorithm: super::Algorithm,
    samples: &[super::Sample],
    old_values: &[f32],
    normalize: bool,
) -> Vec<f64> {
    match algorithm {
        super::Algorithm::Grpo => {
            let outcomes: Vec<f64> = samples.iter().map(|s| s.outcome).collect();
            let groups: Vec<usize> = samples.iter().map(|s| s.group).collect();
            grpo_advantages(&outcomes, &groups)
        }
        super::Algorithm::Ppo => {
            let mut a: Vec<f64> = samples
                .iter()
                .zip(old_values)
                .map(|(s, &v)| s.target - v as f64)
                .collect();
            if normalize {
                standardize(&mut a);
            }
            a
        }
    }
}

/// GRPO advantages, Dr. GRPO style (Liu et al. 2025, "Understanding R1-Zero-Like Training"):
/// each reward less its group's mean, not divided by the group's standard deviation. With the
/// near-three-valued v1 reward the std division blew tiny differences up (two regressions
/// scored 1e-6 and 1.6e-4 got ±0.99) and weighted groups by how alike their rewards happened
/// to be; centring alone keeps an advantage in the reward's own units. A group whose rewards
/// are all equal, or of one sample, gets zero advantages.
pub(crate) fn grpo_advantages(rewards: &[f64], groups: &[usize]) -> Vec<f64> {
    let mut by: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
    for (&r, &g) in rewards.iter().zip(groups) {
        let e = by.entry(g).or_default();
        e.0 += r;
        e.1 += 1;
    }
    rewards
        .iter()
        .zip(groups)
        .map(|(&r, g)| {
            let (sum, n) = by[g];
            r - sum / n as f64
        })
        .collect()
}

/// Standardises in place to zero mean and unit (population) standard deviation (+1e-8).
pub(crate) fn standardize(xs: &mut [f64]) {
    if xs.is_empty() {
        return;
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
    let s = v.sqrt() + 1e-8;
    for x in xs {
        *x = (*x - m) / s;
    }
}

/// Monte-Carlo discounted returns `G_t = r_t + γ G_{t+1}` of one episode's rewards.
pub(crate) fn discounted_returns(rewards: &[f64], gamma: f64) -> Vec<f64> {
    let mut out = vec![0.0; rewards.len()];
    let mut g = 0.0;
    for i in (0..rewards.len()).rev() {
        g = rewards[i] + gamma * g;
        out[i] = g;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dev() -> Device {
        Device::flex().autodiff()
    }

    fn row(v: &[f32], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), device)
    }

    fn grad_of(loss: Tensor<1>, x: &Tensor<2>) -> Vec<f32> {
        let g = loss.backward();
        x.grad(&g)
            .expect("x requires grad")
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap()
    }

    /// At ratio 1 (new = old) the loss is −Σ w·A and its gradient w.r.t. log π is −w·A: a
    /// positive advantage pushes the token's log-prob up, a negative one down.
    #[test]
    fn ratio_one_gives_unclipped_gradient_sign() {
        let d = dev();
        let lp = [-1.0f32, -2.0, -0.5];
        let new = row(&lp, &d).require_grad();
        let adv = [2.0f32, -1.0, 0.5];
        let w = [0.5f32, 0.25, 0.25];
        let loss = clipped_policy_loss(new.clone(), row(&lp, &d), row(&adv, &d), row(&w, &d), 0.2);
        let value: f32 = loss.clone().into_scalar();
        let want: f32 = -(0..3).map(|i| adv[i] * w[i]).sum::<f32>();
        assert!((value - want).abs() < 1e-6, "{value} vs {want}");
        let g = grad_of(loss, &new);
        for i in 0..3 {
            assert!((g[i] + w[i] * adv[i]).abs() < 1e-6, "grad {i}: {}", g[i]);
        }
    }

    /// Beyond the clip range in the advantage's direction the gradient vanishes (the update
    /// cannot push further); against it, the gradient still acts.
    #[test]
    fn clipping_bounds_the_update() {
        let d = dev();
        let old = [0.0f32, 0.0, 0.0, 0.0];
        // ratios e^0.5 ≈ 1.65 (above 1.2) and e^-0.5 ≈ 0.61 (below 0.8), each with A > 0, A < 0.
        let lp = [0.5f32, 0.5, -0.5, -0.5];
        let adv = [1.0f32, -1.0, 1.0, -1.0];
        let w = [0.25f32; 4];
        let new = row(&lp, &d).require_grad();
        let loss = clipped_policy_loss(new.clone(), row(&old, &d), row(&adv, &d), row(&w, &d), 0.2);
        let value: f32 = loss.clone().into_scalar();
        // Token terms: min(1.65, 1.2) = 1.2; min(-1.65, -1.2) = -1.65; min(0.61, 0.8) = 0.61;
        // min(-0.61, -0.8) = -0.8.
        let r = 0.5f32.exp();
        let want = -0.25 * (1.2 - r + 1.0 / r - 0.8);
        assert!((value - want).abs() < 1e-5, "{value} vs {want}");
        let g = grad_of(loss, &new);
        assert_eq!(g[0], 0.0, "clipped above with A > 0: no push further up");
        assert!(
            g[1] > 0.0,
            "A < 0 at high ratio: pushed down (loss grows with log π)"
        );
        assert!(g[2] < 0.0, "A > 0 at low ratio: pushed up");
        assert_eq!(g[3], 0.0, "clipped below with A < 0: no push further down");
        // Every surviving term is bounded by the unclipped one.
        assert!(value >= -0.25 * (1.2 + 1.0 / r));
    }

    #[test]
    fn k3_is_zero_at_the_reference_and_positive_elsewhere() {
        let d = Device::flex();
        let w = row(&[0.5, 0.5], &d);
        let same: f32 =
            kl_k3(row(&[-1.0, -2.0], &d), row(&[-1.0, -2.0], &d), w.clone()).into_scalar();
        assert_eq!(same, 0.0);
        let apart: f32 = kl_k3(row(&[-1.0, -2.0], &d), row(&[-1.5, -1.0], &d), w).into_scalar();
        assert!(apart > 0.0);
    }

    /// A padding position whose log-probs are far apart (a pad token's log-prob below −88)
    /// adds nothing: no NaN in the loss or the gradient (before the fix, `exp(100) · 0`).
    #[test]
    fn padding_with_extreme_log_probs_cannot_poison_the_loss() {
        let d = dev();
        let w = row(&[0.5, 0.5, 0.0], &d);
        let new = row(&[-1.0, -2.0, -100.0], &d).require_grad();
        let old = row(&[-1.0, -2.0, 0.0], &d);
        let adv = row(&[1.0, -1.0, -1.0], &d);
        let policy = clipped_policy_loss(
            new.clone(),
            row(&[-1.0, -2.0, -200.0], &d),
            adv.clone(),
            w.clone(),
            0.2,
        );
        let kl = kl_k3(new.clone(), old, w.clone());
        let (p, k): (f32, f32) = (policy.clone().into_scalar(), kl.clone().into_scalar());
        assert!(p.is_finite() && k.is_finite(), "policy {p}, kl {k}");
        assert_eq!(k, 0.0, "the live tokens agree with the reference");
        // The same loss as without the padded column.
        let unpadded: f32 = clipped_policy_loss(
            row(&[-1.0, -2.0], &d),
            row(&[-1.0, -2.0], &d),
            row(&[1.0, -1.0], &d),
            row(&[0.5, 0.5], &d),
            0.2,
        )
        .into_scalar();
        assert_eq!(p, unpadded);
        let g = grad_of(policy + kl, &new);
        assert!(g.iter().all(|x| x.is_finite()), "{g:?}");
        assert_eq!(g[2], 0.0, "no gradient reaches a pad");
    }

    #[test]
    fn discounted_returns_accumulate_backwards() {
        assert_eq!(
            discounted_returns(&[1.0, 0.0, 2.0], 0.5),
            vec![1.5, 1.0, 2.0]
        );
        assert_eq!(discounted_returns(&[1.0, 1.0], 0.0), vec![1.0, 1.0]);
    }

    /// One function gives every update its advantages: PPO from the value targets and the old
    /// values, GRPO from the outcomes within their groups (never from the targets).
    #[test]
    fn advantages_follow_the_algorithm() {
        use super::super::{Algorithm, Sample};
        let s = |target: f64, outcome: f64, group: usize| Sample {
            prompt: vec![1],
            action: vec![2],
            reward: 0.0,
            target,
            outcome,
            group,
        };
        let samples = [s(1.0, 5.0, 0), s(0.0, 3.0, 0), s(2.0, 7.0, 1)];
        let ppo = advantages(Algorithm::Ppo, &samples, &[0.5, 0.5, 0.5], false);
        assert_eq!(ppo, vec![0.5, -0.5, 1.5]);
        let mut standardised = ppo.clone();
        standardize(&mut standardised);
        assert_eq!(
            advantages(Algorithm::Ppo, &samples, &[0.5; 3], true),
            standardised
        );
        let grpo = advantages(Algorithm::Grpo, &samples, &[], true);
        assert_eq!(grpo, vec![1.0, -1.0, 0.0]);
    }

    /// Tiny reward differences stay tiny (before the fix the std division made 1e-6 against
    /// 1.6e-4 into ±0.99), and a lone sample or an all-equal group learns nothing.
    #[test]
    fn grpo_advantages_are_centred_not_scaled() {
        let adv = grpo_advantages(&[1e-6, 1.6e-4, 0.5, 0.7, 0.7, 0.3], &[0, 0, 1, 2, 2, 3]);
        let half = (1.6e-4 - 1e-6) / 2.0;
        assert!(
            (adv[0] + half).abs() < 1e-15 && (adv[1] - half).abs() < 1e-15,
            "{adv:?}"
        );
        assert_eq!(&adv[2..], &[0.0, 0.0, 0.0, 0.0]);
    }

    proptest! {
        #[test]
        fn grpo_advantages_have_zero_mean_per_group(
            rs in prop::collection::vec((0.0f64..1.0, 0usize..4), 1..40)
        ) {
            let rewards: Vec<f64> = rs.iter().map(|r| r.0).collect();
            let groups: Vec<usize> = rs.iter().map(|r| r.1).collect();
            let adv = grpo_advantages(&rewards, &groups);
            for g in 0..4 {
                let a: Vec<f64> = adv.iter().zip(&groups).filter(|(_, x)| **x == g).map(|(a, _)| *a).collect();
                if !a.is_empty() {
                    let m = a.iter().sum::<f64>() / a.len() as f64;
                    prop_assert!(m.abs() < 1e-6, "group {g}: mean {m}");
                    prop_assert!(a.iter().all(|x| x.is_finite()));
                }
            }
        }

        #[test]
        fn standardize_gives_zero_mean(mut xs in prop::collection::vec(-5.0f64..5.0, 2..30)) {
            standardize(&mut xs);
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            prop_assert!(m.abs() < 1e-9);
        }
    }

    /// Every sample weighs 1 / B whatever its length (before, a token mean over the minibatch
    /// gave a 6-token action three times the weight of a 2-token one).
    #[test]
    fn each_sample_weighs_the_same_whatever_its_length() {
        let mask = vec![1., 1., 0., 0., 0., 0., 1., 1., 1., 1., 1., 1.];
        let w = token_weights(&mask, 2, 6);
        let short: f32 = w[..6].iter().sum();
        let long: f32 = w[6..].iter().sum();
        assert!(
            (short - 0.5).abs() < 1e-6 && (long - 0.5).abs() < 1e-6,
            "{short} {long}"
        );
        assert!(w[2..6].iter().all(|&x| x == 0.0));
        assert_eq!(token_weights(&[0., 0.], 1, 2), vec![0., 0.]);
    }

    /// A token the reference prefers by 50 nats contributes the bound, not e^50 (before the
    /// bound, one such token made the minibatch's KL 1,851 at temperature 0.2 on `mini`).
    #[test]
    fn one_far_token_cannot_swamp_the_kl() {
        let device = Device::flex();
        let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [1, 2]), &device);
        let kl =
            kl_k3(t(vec![-50.0, -1.0]), t(vec![0.0, -1.0]), t(vec![0.5, 0.5])).into_scalar::<f32>();
        assert!((kl - 5.0).abs() < 1e-5, "{kl}");
        let small =
            kl_k3(t(vec![-0.1, -1.0]), t(vec![0.0, -1.0]), t(vec![0.5, 0.5])).into_scalar::<f32>();
        let want = 0.5 * ((0.1f32).exp() - 0.1 - 1.0);
        assert!((small - want).abs() < 1e-6, "{small} vs {want}");
    }
}
