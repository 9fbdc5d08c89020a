//! `mlagent config check FILE`: parse and validate an experiment config, print its digest.

use std::path::PathBuf;
use std::process::ExitCode;

use mlagent::config::Experiment;

use super::Global;

#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Parse and validate an experiment config; print its canonical digest
    Check { file: PathBuf },
}

pub fn run(args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    match args {
        Args::Check { file } => {
            let exp = Experiment::load(&file)?;
            println!("{}: ok, digest {}", file.display(), exp.digest());
            Ok(ExitCode::SUCCESS)
        }
    }
}
