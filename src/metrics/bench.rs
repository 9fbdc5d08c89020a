//! Benchmarks of the metrics on 10^6 rows (`cargo xtask bench metrics`).

use crate::bench::{Figure, median_time};

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

pub fn bench_roc_auc() -> Vec<Figure> {
    let (y, s) = metric_data("roc_auc");
    metric_figure("roc_auc", || {
        std::hint::black_box(crate::metrics::roc_auc(&y, &s).expect("both classes present"));
    })
}

pub fn bench_log_loss() -> Vec<Figure> {
    let (y, p) = metric_data("log_loss");
    metric_figure("log_loss_binary", || {
        std::hint::black_box(
            crate::metrics::log_loss_binary(&y, &p).expect("valid probabilities, both classes"),
        );
    })
}

pub fn bench_qwk() -> Vec<Figure> {
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
