//! `mlagent bench [FILTER]`: run the library's benchmarks (use a release build:
//! `cargo xtask bench`).

use std::process::ExitCode;

use mlagent::bench::Bench;

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only benchmarks whose name contains this
    pub filter: Option<String>,
}

pub fn run(args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build; figures are not representative (use `cargo xtask bench`)"
        );
    }
    let mut ran = 0;
    let benches = all();
    let bar = super::progress_bar(benches.len() as u64, "benchmarks");
    for b in benches {
        bar.inc(1);
        if let Some(f) = &args.filter
            && !b.name.contains(f.as_str())
        {
            continue;
        }
        ran += 1;
        for fig in (b.run)() {
            bar.suspend(|| {
                println!(
                    "{:<28} {:<44} {:>14.3} {}",
                    b.name, fig.name, fig.value, fig.unit
                )
            });
        }
    }
    bar.finish_and_clear();
    if ran == 0 {
        anyhow::bail!("no benchmark matches {:?}", args.filter);
    }
    Ok(ExitCode::SUCCESS)
}

/// Every benchmark of the library, in a fixed order.
fn all() -> Vec<Bench> {
    vec![
        Bench {
            name: "provenance/sha256",
            run: mlagent::provenance::bench::bench_sha256,
        },
        Bench {
            name: "env/starters",
            run: mlagent::env::bench::bench_starters,
        },
        Bench {
            name: "metrics/roc_auc",
            run: mlagent::metrics::bench::bench_roc_auc,
        },
        Bench {
            name: "metrics/log_loss",
            run: mlagent::metrics::bench::bench_log_loss,
        },
        Bench {
            name: "metrics/qwk",
            run: mlagent::metrics::bench::bench_qwk,
        },
        Bench {
            name: "lm/train",
            run: mlagent::lm::bench::bench_train,
        },
        Bench {
            name: "lm/generate",
            run: mlagent::lm::bench::bench_generate,
        },
    ]
}
