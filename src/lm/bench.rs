//! Benchmarks of the `mini` policy: training and generation throughput.

use burn::tensor::Device;
use rand::Rng as _;

use super::generate::{SamplingConfig, generate};
use super::train::{Batch, OptimConfig, Trainer};
use super::{Qwen2, Qwen2Config};
use crate::bench::{Figure, median_time};
use crate::seed::SeedPath;

const VOCAB: usize = 2048;

fn random_rows(seed: &SeedPath, rows: usize, len: usize) -> Vec<Vec<u32>> {
    let mut rng = seed.rng();
    (0..rows)
        .map(|_| {
            (0..len)
                .map(|_| rng.random_range(0..VOCAB as u32))
                .collect()
        })
        .collect()
}

/// Forward + backward + AdamW on `mini`, batch 4 × 256 tokens, every target in the loss.
pub fn bench_train() -> Vec<Figure> {
    let (b, t) = (4, 256);
    let device = Device::flex().autodiff();
    let seed = SeedPath::root(0).child("bench-lm-train");
    let model = Qwen2::init(&Qwen2Config::mini(VOCAB), &seed.child("init"), &device)
        .expect("the mini config is valid");
    let mut trainer = Trainer::new(model, OptimConfig::default());
    let rows = random_rows(&seed.child("data"), b, t + 1);
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
    let prompts = random_rows(&seed.child("prompts"), b, prompt);
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
