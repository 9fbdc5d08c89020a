//! The `mlagent` subcommands, one module each.

pub mod bench;
pub mod config;
pub mod env;
pub mod lm;
pub mod metric;
pub mod reproduce;
pub mod run;
pub mod serve;
pub mod tasks;
pub mod verify;

use std::path::PathBuf;

use mlagent::backend::BackendKind;

/// Options every subcommand understands.
#[derive(Clone, Debug, clap::Args)]
pub struct Global {
    /// Artifact store folder [default: target/mlagent/store of this workspace]
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Compute backend: flex (CPU, default), or wgpu / cuda when compiled in
    #[arg(long, global = true, default_value = "flex")]
    pub backend: BackendKind,
}

/// A progress bar on stderr; drawn only when stderr is a terminal, so logs and pipes stay clean.
pub fn progress_bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed})")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}
