//! `mlagent verify <store-dir | run-dir | manifest>`: re-hash every recorded file.

use std::path::PathBuf;
use std::process::ExitCode;

use mlagent::provenance::verify::verify_path;

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A store folder (every run in it), or a run's manifest.json / run folder (that run and
    /// its whole lineage)
    pub path: PathBuf,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let bar = super::progress_bar(0, "verifying runs");
    let report = verify_path(&args.path, global.store.as_deref(), |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let report = report?;
    for m in &report.mismatches {
        println!("MISMATCH {m}");
    }
    println!(
        "verified {} runs, {} files: {} mismatches",
        report.runs,
        report.files,
        report.mismatches.len()
    );
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
