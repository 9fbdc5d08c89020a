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
        Bench {
            name: "metrics/roc_auc",
            run: bench_roc_auc,
        },
        Bench {
            name: "metrics/log_loss",
            run: bench_log_loss,
        },
        Bench {
            name: "metrics/qwk",
            run: bench_qwk,
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
        let Ok(script) = bench.starter(&task) else {
            continue;
        };
        if bench.dataset(&task).is_err() {
            continue;
        }
        let t = median_time(3, || {
            // A fresh workbench per run keeps the cache out of the timing; the dataset is
            // loaded outside the timed region by the warm-up's own workbench.
            let b = crate::env::Workbench::new(registry.clone());
            let data = bench.dataset(&task).expect("loaded above");
            std::hint::black_box(crate::env::evaluation::run_uncached(
                &b, &task, &data, &script, 0,
            ));
        });
        figures.push(Figure {
            name: format!("starter {}", task.spec.id),
            value: t.as_secs_f64() * 1e3,
            unit: "ms",
        });
    }
    figures
}

/// Rows in the metric benchmarks (the 10^6).
const METRIC_ROWS: usize = 1_000_000;

/// Seeded synthetic labels and noisy scores for the metric benchmarks.
fn metric_data(name: &str) -> (Vec<f64>, Vec<f64>) {
    use rand::Rng as _;
    let mut rng = crate::seed::SeedPath::root(0)
        .child("bench")
        .child(name)
        .rng();
    (0..METRIC_ROWS)
        .map(|_| {
            let y = if rng.random::<f64>() < 0.3 { 1.0 } else { 0.0 };
            let s: f64 = (0.35 * y + 0.65 * rng.random::<f64>()).clamp(0.0, 1.0);
            (y, s)
        })
        .unzip()
}

/// Throughput of one metric call on [`METRIC_ROWS`] rows, in million rows per second.
fn metric_figure(what: &str, f: impl FnMut()) -> Vec<Figure> {
    let t = median_time(3, f);
    vec![
        Figure {
            name: format!("{what}, 10^6 rows"),
            value: t.as_secs_f64() * 1e3,
            unit: "ms",
        },
        Figure {
            name: format!("{what} throughput"),
            value: METRIC_ROWS as f64 / t.as_secs_f64() / 1e6,
            unit: "Mrows/s",
        },
    ]
}

fn bench_roc_auc() -> Vec<Figure> {
    let (y, s) = metric_data("roc_auc");
    metric_figure("roc_auc", || {
        std::hint::black_box(crate::metrics::roc_auc(&y, &s).expect("both classes present"));
    })
}

fn bench_log_loss() -> Vec<Figure> {
    let (y, p) = metric_data("log_loss");
    metric_figure("log_loss_binary", || {
        std::hint::black_box(
            crate::metrics::log_loss_binary(&y, &p).expect("valid probabilities, both classes"),
        );
    })
}

fn bench_qwk() -> Vec<Figure> {
    use rand::Rng as _;
    let mut rng = crate::seed::SeedPath::root(0)
        .child("bench")
        .child("qwk")
        .rng();
    let (t, p): (Vec<f64>, Vec<f64>) = (0..METRIC_ROWS)
        .map(|_| {
            let t = rng.random_range(1..=6) as f64;
            let p = (t + rng.random_range(-1..=1) as f64).clamp(1.0, 6.0);
            (t, p)
        })
        .unzip();
    metric_figure("qwk", || {
        std::hint::black_box(crate::metrics::qwk(&t, &p).expect("ratings 1..6 vary"));
    })
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
