//! The actor-critic: the Qwen2 policy with a value head on its last prompt token's hidden
//! state, one module so one optimiser (and one checkpoint) covers both, and the scoring of
//! sampled actions with gradients. Acting goes through `agent::lm_policy::LmPolicy`, as it
//! does everywhere else (`Learner::acting_policy`).

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{RlError, Sample};
use crate::lm::model::{Positions, param_id, positions_after_pads};
use crate::lm::value::ValueHead;
use crate::lm::{LmError, Qwen2, Qwen2Config};
use crate::seed::SeedPath;

#[derive(Module, Debug)]
pub struct ActorCritic {
    pub policy: Qwen2,
    pub value: ValueHead,
}

/// The value head's weights as plain numbers (`value_head.json`): `hidden_size` weights, then
/// the bias. JSON floats round-trip exactly (shortest representation).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValueWeights {
    pub weight: Vec<f32>,
    pub bias: f32,
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("a float tensor converts to f32")
}

impl ValueWeights {
    pub fn of(head: &ValueHead) -> Self {
        let bias = head
            .linear
            .bias
            .as_ref()
            .expect("the value head has a bias")
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("a float tensor converts to f32")[0];
        Self {
            weight: host(head.linear.weight.val()),
            bias,
        }
    }

    pub(crate) fn to_head(&self, device: &Device) -> ValueHead {
        let d = self.weight.len();
        let mut head = ValueHead::init(d, &SeedPath::root(0), device);
        let mut w = Param::from_tensor(Tensor::from_data(
            TensorData::new(self.weight.clone(), [d, 1]),
            device,
        ));
        w.id = param_id("value_head.weight");
        let mut b = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![self.bias], [1]),
            device,
        ));
        b.id = param_id("value_head.bias");
        head.linear.weight = w;
        head.linear.bias = Some(b);
        head
    }
}

/// A copy of `model` on another device (e.g. the inference copy of the trained policy), through
/// its host tensors so both hold the same bits.
pub(crate) fn copy_to(cfg: &Qwen2Config, model: &Qwen2, device: &Device) -> Result<Qwen2, LmError> {
    let tensors: BTreeMap<_, _> = model.to_tensors();
    Qwen2::from_tensors(cfg, &tensors, device)
}

/// Per-token quantities of a batch of samples, as `[B, A]` tensors over action positions
/// (`A` = the longest action), plus values `[B]`.
pub struct Scored {
    /// log π(action token | prefix).
    pub logp: Tensor<2>,
    /// Entropy of π at each action position.
    pub entropy: Tensor<2>,
    /// V(state) from the last prompt token (zeros when no value head is given).
    pub values: Tensor<1>,
    /// 1 for real action tokens, 0 for padding.
    pub mask: Vec<f32>,
    pub action_len: usize,
}

/// Scores `samples` with `model` (and `value`, when given): prompts are left-padded so that all
/// end at one position, actions right-padded after it; only the action positions go through
/// the LM head. Log-probs and entropy are those of the distribution the sampler draws from at
/// `temperature` (`lm::generate::sample` divides the logits by it), so the PPO ratio, the KL
/// and the entropy are on-policy at any temperature. The sampler's top-p is not applied: RL
/// configs keep `policy.top_p` at 1 (`config::Experiment::validate`).
pub fn score(
    model: &Qwen2,
    value: Option<&ValueHead>,
    samples: &[&Sample],
    temperature: f64,
    device: &Device,
) -> Result<Scored, RlError> {
    score_with(model, value, samples, temperature, device, true)
}

/// [`score`], where `value_trunk_grad = false` detaches the trunk's hidden state from the value
/// head, so a loss on the values alone trains the head and leaves the policy's weights as they
/// are (PPO's critic warm-up).
pub(crate) fn score_with(
    model: &Qwen2,
    value: Option<&ValueHead>,
    samples: &[&Sample],
    temperature: f64,
    device: &Device,
    value_trunk_grad: bool,
) -> Result<Scored, RlError> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(RlError::Input(format!(
            "scoring needs a finite temperature > 0 (got {temperature})"
        )));
    }
    if samples.is_empty()
        || samples
            .iter()
            .any(|s| s.prompt.is_empty() || s.action.is_empty())
    {
        return Err(RlError::Input(
            "scoring needs samples with a non-empty prompt and action".into(),
        ));
    }
    let p = samples
        .iter()
        .map(|s| s.prompt.len())
        .max()
        .expect("non-empty");
    let a = samples
        .iter()
        .map(|s| s.action.len())
        .max()
        .expect("non-empty");
    let b = samples.len();
    // Inputs: [pads | prompt | action without its last token | right pads]; length p + a - 1.
    let t = p + a - 1;
    let mut ids = Vec::with_capacity(b * t);
    let mut pads = Vec::with_capacity(b);
    let mut targets = Vec::with_capacity(b * a);
    let mut mask = Vec::with_capacity(b * a);
    for s in samples {
        let left = p - s.prompt.len();
        let mut row_pad = vec![true; left];
        row_pad.resize(t, false);
        pads.push(row_pad);
        ids.extend(std::iter::repeat_n(0i64, left));
        ids.extend(s.prompt.iter().map(|&x| x as i64));
        ids.extend(s.action[..s.action.len() - 1].iter().map(|&x| x as i64));
        ids.extend(std::iter::repeat_n(0i64, a - s.action.len()));
        targets.extend(s.action.iter().map(|&x| x as i64));
        targets.extend(std::iter::repeat_n(0i64, a - s.action.len()));
        mask.extend(std::iter::repeat_n(1f32, s.action.len()));
        mask.extend(std::iter::repeat_n(0f32, a - s.action.len()));
    }
    if let Some(bad) = ids
        .iter()
        .chain(&targets)
        .find(|&&x| x as usize >= model.vocab_size)
    {
        return Err(RlError::Input(format!(
            "token id {bad} outside the policy's vocabulary ({})",
            model.vocab_size
        )));
    }
    let pos: Vec<Vec<usize>> = pads.iter().map(|r| positions_after_pads(r)).collect();
    let positions = Positions::new(&pos, &pads, model.head_dim(), model.rope_theta, device);
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), device);
    let hidden = model.hidden(tokens, &positions, None);
    let d = hidden.dims()[2];
    // Position p - 1 (the last prompt token) predicts action token 0.
    let act_hidden = hidden.clone().narrow(1, p - 1, a);
    let logits = model.head(act_hidden);
    // At 1 the logits are used as they are (the same bits as before temperature was applied).
    let logits = if temperature == 1.0 {
        logits
    } else {
        logits.div_scalar(temperature)
    };
    let logp_all = log_softmax(logits.clone(), 2);
    let probs = softmax(logits, 2);
    let entropy = (probs * logp_all.clone()).sum_dim(2).reshape([b, a]).neg();
    let idx = Tensor::<3, Int>::from_data(TensorData::new(targets, [b, a, 1]), device);
    let logp = logp_all.gather(2, idx).reshape([b, a]);
    let values = match value {
        Some(v) => {
            let last = hidden.narrow(1, p - 1, 1).reshape([b, d]);
            let last = if value_trunk_grad {
                last
            } else {
                last.detach()
            };
            v.linear.forward(last).reshape([b])
        }
        None => Tensor::zeros([b], device),
    };
    Ok(Scored {
        logp,
        entropy,
        values,
        mask,
        action_len: a,
    })
}

/// A `[B, A]` tensor's values on the host, row-major.
pub(crate) fn to_host(t: Tensor<2>) -> Vec<f32> {
    host(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::generate::{SamplingConfig, generate};

    fn sample(prompt: Vec<u32>, action: Vec<u32>) -> Sample {
        Sample {
            prompt,
            action,
            reward: 0.0,
            target: 0.0,
            outcome: 0.0,
            group: 0,
        }
    }

    /// Scoring in a padded batch agrees with scoring each sample alone (padding is masked),
    /// and log-probs match a plain forward over the concatenated sequence.
    #[test]
    fn scores_match_unpadded_forward() {
        let device = Device::flex();
        let cfg = Qwen2Config::tiny(24);
        let model = Qwen2::init(&cfg, &SeedPath::root(3).child("m"), &device).unwrap();
        let a = sample(vec![1, 5, 7, 9, 2], vec![4, 4, 6]);
        let b = sample(vec![3, 8], vec![11, 12, 13, 14, 15]);
        let both = score(&model, None, &[&a, &b], 1.0, &device).unwrap();
        let lp = to_host(both.logp);
        assert_eq!(both.action_len, 5);
        assert_eq!(both.mask, vec![1., 1., 1., 0., 0., 1., 1., 1., 1., 1.]);
        for (r, s) in [&a, &b].into_iter().enumerate() {
            let mut seq = s.prompt.clone();
            seq.extend(&s.action);
            let logits = model.forward(
                crate::lm::model::token_tensor(&[seq.clone()], &device).unwrap(),
                None,
            );
            let logp = log_softmax(logits, 2);
            let v = logp.dims()[2];
            let all = logp
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap();
            for (j, &tok) in s.action.iter().enumerate() {
                let at = s.prompt.len() + j - 1;
                let want = all[at * v + tok as usize];
                let got = lp[r * 5 + j];
                assert!(
                    (want - got).abs() < 1e-4,
                    "row {r} token {j}: {want} vs {got}"
                );
            }
        }
    }

    /// Scoring applies the sampler's transform: actions sampled at temperature 0.5 score, at
    /// 0.5, the very log-probs the sampler drew them with (before the fix, scoring used the raw
    /// logits and disagreed at any temperature but 1).
    #[test]
    fn scores_of_sampled_actions_match_the_samplers_own_log_probs() {
        let device = Device::flex();
        let cfg = Qwen2Config::tiny(24);
        let model = Qwen2::init(&cfg, &SeedPath::root(5).child("m"), &device).unwrap();
        let prompts = vec![vec![1u32, 5, 7, 9, 2], vec![3u32, 8]];
        for temperature in [0.5, 1.0, 1.7] {
            let sampling = SamplingConfig {
                temperature,
                top_p: 1.0,
                max_new_tokens: 6,
                stop_tokens: vec![],
            };
            let gens =
                generate(&model, &prompts, &sampling, &SeedPath::root(9), 0, &device).unwrap();
            let samples: Vec<Sample> = prompts
                .iter()
                .zip(&gens)
                .map(|(p, g)| sample(p.clone(), g.tokens.clone()))
                .collect();
            let refs: Vec<&Sample> = samples.iter().collect();
            let scored = score(&model, None, &refs, temperature, &device).unwrap();
            let a = scored.action_len;
            let lp = to_host(scored.logp);
            for (r, g) in gens.iter().enumerate() {
                for (j, want) in g.sampled_logprobs.iter().enumerate() {
                    let got = lp[r * a + j];
                    assert!(
                        (want - got).abs() < 1e-4,
                        "temperature {temperature}, row {r} token {j}: sampler {want}, score {got}"
                    );
                }
            }
        }
        let one = sample(vec![1, 2], vec![3]);
        assert!(score(&model, None, &[&one], 0.0, &device).is_err());
    }
}
