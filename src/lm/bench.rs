//! Benchmarks of the `mini` policy: training and generation throughput.

use burn::tensor::Device;
use rand::Rng as _;

use super::generate::{SamplingConfig, generate};
use super::train::{Batch, OptimConfig, Trainer};
use super::{Qwen2, Qwen2Config};
use crate::bench::{Figure, median_time};
use crate::seed::SeedPath;

const VOCAB: usize = 2048;

/// `rows` rows of `len` token ids drawn uniformly from a `vocab`-token vocabulary.
fn random_rows(seed: &SeedPath, rows: usize, len: usize, vocab: usize) -> Vec<Vec<u32>> {
    let mut rng = seed.rng();
    (0..rows)
        .map(|_| {
            (0..len)
                .map(|_| rng.random_range(0..vocab as u32))
                .collect()
        })
        .collect()
}

/// What `mlagent lm bench` measures of one model configuration.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Throughput {
    pub params: usize,
    /// Forward + backward + AdamW, every token a target: tokens per second over `steps` steps
    /// after one warm-up step.
    pub train_tokens_per_s: f64,
    /// KV-cached sampling of `new_tokens` after a `seq`-token prompt per row: new tokens per
    /// second.
    pub gen_tokens_per_s: f64,
    /// The process's peak resident memory (Linux `VmHWM`; 0 where it cannot be read).
    pub peak_rss_mib: f64,
}

/// The process's peak resident set, in MiB (`VmHWM` of /proc/self/status).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Trains and samples a freshly initialised model of `cfg` on random tokens: batch `batch` ×
/// `seq` tokens for `steps` optimiser steps (after a warm-up step), then `new_tokens` sampled
/// tokens after `seq`-token prompts.
pub fn measure(
    cfg: &Qwen2Config,
    batch: usize,
    seq: usize,
    steps: usize,
    new_tokens: usize,
) -> Result<Throughput, super::LmError> {
    if batch == 0 || seq == 0 || steps == 0 || new_tokens == 0 {
        return Err(super::LmError::Input(
            "batch, seq, steps and new tokens must all be at least 1".into(),
        ));
    }
    if seq + new_tokens > cfg.max_position_embeddings {
        return Err(super::LmError::Input(format!(
            "seq {seq} + new tokens {new_tokens} exceeds the model's {} positions",
            cfg.max_position_embeddings
        )));
    }
    let seed = SeedPath::root(0).child("lm-bench");
    let device = Device::flex().autodiff();
    let model = Qwen2::init(cfg, &seed.child("init"), &device)?;
    let params = cfg.num_params();
    let mut trainer = Trainer::new(model, OptimConfig::default());
    let batch_rows = Batch::pad(
        random_rows(&seed.child("data"), batch, seq + 1, cfg.vocab_size)
            .into_iter()
            .map(|r| (r.clone(), vec![true; r.len()]))
            .collect(),
        0,
    )?;
    trainer.step(&batch_rows, &device)?;
    let t0 = std::time::Instant::now();
    for _ in 0..steps {
        trainer.step(&batch_rows, &device)?;
    }
    let train = (batch * seq * steps) as f64 / t0.elapsed().as_secs_f64();
    let gen_device = Device::flex();
    let model = Qwen2::init(cfg, &seed.child("init"), &gen_device)?;
    let prompts = random_rows(&seed.child("prompts"), batch, seq, cfg.vocab_size);
    let sampling = SamplingConfig {
        temperature: 1.0,
        top_p: 1.0,
        max_new_tokens: new_tokens,
        stop_tokens: vec![],
    };
    let t0 = std::time::Instant::now();
    let g = generate(
        &model,
        &prompts,
        &sampling,
        &seed.child("sample"),
        0,
        &gen_device,
    )?;
    let produced: usize = g.iter().map(|x| x.tokens.len()).sum();
    let gen_rate = produced as f64 / t0.elapsed().as_secs_f64();
    Ok(Throughput {
        params,
        train_tokens_per_s: train,
        gen_tokens_per_s: gen_rate,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Forward + backward + AdamW on `mini`, batch 4 × 256 tokens, every target in the loss.
pub fn bench_train() -> Vec<Figure> {
    let (b, t) = (4, 256);
    let device = Device::flex().autodiff();
    let seed = SeedPath::root(0).child("bench-lm-train");
    let model = Qwen2::init(&Qwen2Config::mini(VOCAB), &seed.child("init"), &device)
        .expect("the mini config is valid");
    let mut trainer = Trainer::new(model, OptimConfig::default());
    let rows = random_rows(&seed.child("data"), b, t + 1, VOCAB);
    let batch = Batch::pad(
        rows.into_iter()
            .map(|r| (r.clone(), vec![true; r.len()]))
            .collect(),
        0,
    )
    .expect("rows are non-empty");
    let dt = median_time(3, || {
        trainer
            .step(&batch, &device)
            .expect("a finite loss on random tokens");
    });
    vec![Figure {
        name: format!("mini train fwd+bwd+AdamW, batch {b}x{t}"),
        value: (b * t) as f64 / dt.as_secs_f64(),
        unit: "tokens/s",
    }]
}

/// KV-cached sampling on `mini`: 4 prompts of 128 tokens, 64 new tokens each.
pub fn bench_generate() -> Vec<Figure> {
    let (b, prompt, new) = (4, 128, 64);
    let device = Device::flex();
    let seed = SeedPath::root(0).child("bench-lm-generate");
    let model = Qwen2::init(&Qwen2Config::mini(VOCAB), &seed.child("init"), &device)
        .expect("the mini config is valid");
    let prompts = random_rows(&seed.child("prompts"), b, prompt, VOCAB);
    let cfg = SamplingConfig {
        temperature: 1.0,
        top_p: 0.95,
        max_new_tokens: new,
        stop_tokens: vec![],
    };
    let dt = median_time(2, || {
        generate(&model, &prompts, &cfg, &seed.child("sample"), 0, &device).expect("valid prompts");
    });
    vec![Figure {
        name: format!("mini generate, batch {b}, prompt {prompt}, +{new}"),
        value: (b * new) as f64 / dt.as_secs_f64(),
        unit: "tokens/s",
    }]
}
