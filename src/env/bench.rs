//! Benchmark of every task's starter run (`cargo xtask bench env`).

use crate::bench::{Figure, median_time};

/// Wall time of every task's starter run (train + validation + test scoring; data loaded once,
/// no cache). The goal: each under 2 s in a release build.
pub fn bench_starters() -> Vec<Figure> {
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
            let _ = std::hint::black_box(crate::env::workbench::run_uncached(
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
