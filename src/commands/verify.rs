//! `mlagent verify <store-dir | manifest>`: re-hash every recorded file.

use std::path::PathBuf;
use std::process::ExitCode;

use mlagent::provenance::store::MANIFEST_FILE;
use mlagent::provenance::verify::{verify_lineage, verify_store_with_progress};

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A store folder (every run in it), or a run's manifest.json / run folder (that run and
    /// its whole lineage)
    pub path: PathBuf,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let p = &args.path;
    let is_run = p.is_file() || p.join(MANIFEST_FILE).is_file();
    let report = if is_run {
        verify_lineage(p, global.store.as_deref())?
    } else if p.is_dir() {
        let bar = super::progress_bar(0, "verifying runs");
        let report = verify_store_with_progress(p, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
        report
    } else {
        anyhow::bail!(
            "{}: expected a store folder, a run folder or a manifest.json",
            p.display()
        );
    };
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
