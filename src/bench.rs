//! What a benchmark is (behind `cargo xtask bench`): a named function that returns the figures
//! it measured, and the median timer they share. Each domain module contributes its benchmarks
//! (`provenance::bench`, `metrics::bench`, `env::bench`, `lm::bench`); the CLI lists them
//! (src/commands/bench.rs). Performance goals live here, never in timed tests.

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
pub(crate) fn median_time(reps: usize, mut f: impl FnMut()) -> Duration {
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
