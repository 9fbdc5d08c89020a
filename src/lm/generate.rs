//! Batched sampling with a KV cache. Prompts are left-padded to a common length; each row's
//! positions start at its first real token, and pads are masked as keys, so a row's tokens do
//! not depend on the other rows of the batch. Sampling runs on the host in f64 from a per-row
//! `SeedPath` stream: the same seed gives the same text.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::LmError;
use super::model::{KvCache, Positions, Qwen2, positions_after_pads};
use crate::seed::SeedPath;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingConfig {
    /// 0 = greedy (argmax; ties go to the lowest id).
    pub temperature: f64,
    /// Nucleus sampling: keep the most likely tokens up to this cumulative probability.
    pub top_p: f64,
    pub max_new_tokens: usize,
    /// Generation of a row ends after it emits one of these (the stop token is included).
    pub stop_tokens: Vec<u32>,
}

/// One row's continuation. `logprobs[i]` is log π(tokens[i] | prefix) under the model's own
/// distribution (temperature 1, no top-p truncation); `sampled_logprobs[i]` is its log-prob
/// under the distribution it was actually drawn from (temperature, nucleus; 0 when greedy),
/// which RL's scoring must reproduce (`train::rl::actor::score`).
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub sampled_logprobs: Vec<f32>,
    /// True when a stop token ended the row (false: `max_new_tokens` reached).
    pub stopped: bool,
}

/// One drawn token.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    pub token: u32,
    /// log-prob under temperature 1 without truncation.
    pub logprob: f32,
    /// log-prob under the distribution it was drawn from (temperature and nucleus).
    pub sampled_logprob: f32,
}

/// Picks a token from one row of logits.
pub fn sample(logits: &[f32], cfg: &SamplingConfig, rng: &mut crate::seed::Rng) -> Draw {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + logits
            .iter()
            .map(|&l| (l as f64 - max).exp())
            .sum::<f64>()
            .ln();
    let (chosen, sampled_logprob) = if cfg.temperature <= 0.0 {
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        (best, 0.0)
    } else {
        let mut probs: Vec<(usize, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i, ((l as f64 - max) / cfg.temperature).exp()))
            .collect();
        let total: f64 = probs.iter().map(|p| p.1).sum();
        // Descending probability, ties by id: a total order, so the nucleus is deterministic.
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut kept = 0.0;
        let mut n = 0;
        for p in &probs {
            kept += p.1;
            n += 1;
            if kept >= cfg.top_p * total {
                break;
            }
        }
        let u = rng.random::<f64>() * kept;
        let mut acc = 0.0;
        let mut pick = (probs[n - 1].0, probs[n - 1].1);
        for p in &probs[..n] {
            acc += p.1;
            if u < acc {
                pick = *p;
                break;
            }
        }
        (pick.0, (pick.1 / kept).ln())
    };
    Draw {
        token: chosen as u32,
        logprob: (logits[chosen] as f64 - lse) as f32,
        sampled_logprob: sampled_logprob as f32,
    }
}

fn last_logits(model: &Qwen2, hidden: Tensor<3>) -> Vec<f32> {
    let [_, t, _] = hidden.dims();
    model
        .head(hidden.narrow(1, t - 1, 1))
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("logits convert to f32")
}

/// Generates a continuation for every prompt. Row `b` samples from `seed.child(b)`.
pub fn generate(
    model: &Qwen2,
    prompts: &[Vec<u32>],
    cfg: &SamplingConfig,
    seed: &SeedPath,
    pad_id: u32,
    device: &Device,
) -> Result<Vec<Generation>, LmError> {
    let seeds: Vec<SeedPath> = (0..prompts.len()).map(|b| seed.child(b)).collect();
    generate_seeded(model, prompts, cfg, &seeds, pad_id, device)
}

/// Like [`generate`], with the sampling stream of each row given: row `b` samples from
/// `seeds[b]`, so a row's draws do not depend on its place in the batch.
pub(crate) fn generate_seeded(
    model: &Qwen2,
    prompts: &[Vec<u32>],
    cfg: &SamplingConfig,
    seeds: &[SeedPath],
    pad_id: u32,
    device: &Device,
) -> Result<Vec<Generation>, LmError> {
    if seeds.len() != prompts.len() {
        return Err(LmError::Input(format!(
            "{} prompts but {} seeds",
            prompts.len(),
            seeds.len()
        )));
    }
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(LmError::Input(
            "every prompt needs at least one token".into(),
        ));
    }
    // A negative temperature would silently act as greedy decoding (`sample`'s `<= 0` branch).
    if !(0.0..=1.0).contains(&cfg.top_p)
        || cfg.top_p == 0.0
        || !(cfg.temperature.is_finite() && cfg.temperature >= 0.0)
    {
        return Err(LmError::Input(format!(
            "top_p must be in (0, 1] and temperature a finite number >= 0 (0 = greedy) \
             (got {}, {})",
            cfg.top_p, cfg.temperature
        )));
    }
    let v = model.vocab_size;
    if let Some(bad) = prompts.iter().flatten().find(|&&t| t as usize >= v) {
        return Err(LmError::Input(format!(
            "prompt token {bad} outside the vocabulary ({v})"
        )));
    }
    let b = prompts.len();
    let len = prompts.iter().map(Vec::len).max().expect("non-empty");
    if len.saturating_add(cfg.max_new_tokens) > model.max_positions {
        return Err(LmError::Input(format!(
            "a prompt of {len} tokens plus max_new_tokens {} exceeds the model's \
             max_position_embeddings {}",
            cfg.max_new_tokens, model.max_positions
        )));
    }
    let mut key_pad: Vec<Vec<bool>> = prompts
        .iter()
        .map(|p| (0..len).map(|i| i < len - p.len()).collect())
        .collect();
    let ids: Vec<i64> = prompts
        .iter()
        .flat_map(|p| {
            std::iter::repeat_n(pad_id as i64, len - p.len()).chain(p.iter().map(|&t| t as i64))
        })
        .collect();
    let pos: Vec<Vec<usize>> = key_pad.iter().map(|r| positions_after_pads(r)).collect();
    let hd = model.head_dim();
    let mut cache = KvCache::default();
    let positions = Positions::new(&pos, &key_pad, hd, model.rope_theta, device);
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, len]), device);
    let mut logits = last_logits(model, model.hidden(tokens, &positions, Some(&mut cache)));

    let mut rngs: Vec<_> = seeds.iter().map(SeedPath::rng).collect();
    let mut out: Vec<Generation> = (0..b)
        .map(|_| Generation {
            tokens: vec![],
            logprobs: vec![],
            sampled_logprobs: vec![],
            stopped: false,
        })
        .collect();
    let mut next_pos: Vec<usize> = prompts.iter().map(Vec::len).collect();
    for step in 0..cfg.max_new_tokens {
        let mut feed = Vec::with_capacity(b);
        for (r, g) in out.iter_mut().enumerate() {
            if g.stopped {
                feed.push(pad_id as i64);
                continue;
            }
            let d = sample(&logits[r * v..(r + 1) * v], cfg, &mut rngs[r]);
            let tok = d.token;
            g.tokens.push(tok);
            g.logprobs.push(d.logprob);
            g.sampled_logprobs.push(d.sampled_logprob);
            g.stopped = cfg.stop_tokens.contains(&tok);
            feed.push(tok as i64);
        }
        if step + 1 == cfg.max_new_tokens || out.iter().all(|g| g.stopped) {
            break;
        }
        for pads in &mut key_pad {
            pads.push(false);
        }
        let pos: Vec<Vec<usize>> = next_pos.iter().map(|&p| vec![p]).collect();
        for p in &mut next_pos {
            *p += 1;
        }
        let positions = Positions::new(&pos, &key_pad, hd, model.rope_theta, device);
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(feed, [b, 1]), device);
        logits = last_logits(model, model.hidden(tokens, &positions, Some(&mut cache)));
    }
    Ok(out)
}
