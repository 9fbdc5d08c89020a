//! `mlagent metric`: list the metrics, evaluate one on a JSON inputs file, or check the
//! implementation against a file of reference cases.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mlagent::metrics::{Metric, reference};

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: MetricCmd,
}

#[derive(Debug, clap::Subcommand)]
enum MetricCmd {
    /// Print every metric name with its direction
    List,
    /// Evaluate one metric on one case's `inputs` object; exit code 2 on an error
    Eval {
        /// Metric name, as `mlagent metric list` prints it
        #[arg(long)]
        name: String,
        /// JSON file holding one case's `inputs` object
        #[arg(long, value_name = "FILE.json")]
        inputs: PathBuf,
    },
    /// Evaluate every case of a reference-vector file; print failures, then `N passed, M failed`
    Check {
        /// JSON list of cases in the schema of tests/data/metrics/reference_vectors.json
        #[arg(long, value_name = "FILE.json")]
        vectors: PathBuf,
    },
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    global.cpu_only("metric", "metrics are computed on the host in f64")?;
    match args.cmd {
        MetricCmd::List => {
            for m in Metric::ALL {
                println!("{:<32} {}", m.name(), m.direction());
            }
            Ok(ExitCode::SUCCESS)
        }
        MetricCmd::Eval { name, inputs } => Ok(match eval(&name, &inputs) {
            Ok(v) => {
                println!("{v:?}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        }),
        MetricCmd::Check { vectors } => {
            let text = std::fs::read_to_string(&vectors)
                .with_context(|| format!("reading {}", vectors.display()))?;
            let checks = reference::check_text(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", vectors.display()))?;
            let failed: Vec<_> = checks.iter().filter(|c| !c.passed()).collect();
            for c in &failed {
                println!("{c}");
            }
            println!(
                "{} passed, {} failed",
                checks.len() - failed.len(),
                failed.len()
            );
            Ok(if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn eval(name: &str, inputs: &std::path::Path) -> anyhow::Result<f64> {
    let metric = Metric::from_name(name).with_context(|| {
        format!(
            "unknown metric name `{name}` (known: {})",
            Metric::ALL.map(Metric::name).join(", ")
        )
    })?;
    let text =
        std::fs::read_to_string(inputs).with_context(|| format!("reading {}", inputs.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", inputs.display()))?;
    metric
        .evaluate_json(&value)
        .with_context(|| format!("{} on {}", metric.name(), inputs.display()))
}
