//! Benchmarks behind `cargo xtask bench`. Performance goals live here, never in timed tests.
//! Each domain module contributes named benchmarks; every one prints figures it measured.

use std::time::{Duration, Instant};

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// A named benchmark.
pub struct Bench {
    pub name: &'static str,
    pub run: fn() -> Vec<Figure>,
}

/// Median wall time of `reps` runs of `f` (after one warm-up run).
pub fn median_time(reps: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Every benchmark of the library, in a fixed order.
pub fn all() -> Vec<Bench> {
    vec![
        Bench {
            name: "provenance/sha256",
            run: bench_sha256,
        },
        Bench {
            name: "env/starters",
            run: crate::env::bench::bench_starters,
        },
        Bench {
            name: "metrics/roc_auc",
            run: crate::metrics::bench::bench_roc_auc,
        },
        Bench {
            name: "metrics/log_loss",
            run: crate::metrics::bench::bench_log_loss,
        },
        Bench {
            name: "metrics/qwk",
            run: crate::metrics::bench::bench_qwk,
        },
        Bench {
            name: "lm/train",
            run: crate::lm::bench::bench_train,
        },
        Bench {
            name: "lm/generate",
            run: crate::lm::bench::bench_generate,
        },
    ]
}

fn bench_sha256() -> Vec<Figure> {
    let data = vec![0xA5u8; 64 << 20];
    let t = median_time(3, || {
        std::hint::black_box(crate::provenance::Digest::of_bytes(&data));
    });
    vec![Figure {
        name: "sha256 throughput".into(),
        value: 64.0 / t.as_secs_f64(),
        unit: "MiB/s",
    }]
}
