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
            run: bench_starters,
        },
    ]
}

/// Wall time of every task's starter run (train + validation + test scoring; data loaded once,
/// no cache). Issue 4's goal: each under 2 s in a release build.
fn bench_starters() -> Vec<Figure> {
    let registry = match crate::tasks::Registry::load_default() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("env/starters: {e}");
            return Vec::new();
        }
    };
    let mut figures = Vec::new();
    for task in registry.tasks.clone() {
        let bench = crate::env::Workbench::new(registry.clone());
        let Ok(script) = bench.starter(&task) else { continue };
        if bench.dataset(&task).is_err() {
            continue;
        }
        let t = median_time(3, || {
            // A fresh workbench per run keeps the cache out of the timing; the dataset is
            // loaded outside the timed region by the warm-up's own workbench.
            let b = crate::env::Workbench::new(registry.clone());
            let data = bench.dataset(&task).expect("loaded above");
            std::hint::black_box(crate::env::evaluation::run_uncached(&b, &task, &data, &script, 0));
        });
        figures.push(Figure {
            name: format!("starter {}", task.spec.id),
            value: t.as_secs_f64() * 1e3,
            unit: "ms",
        });
    }
    figures
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
