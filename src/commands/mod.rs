//! The `mlagent` subcommands, one module each.

pub mod bench;
pub mod config;
pub mod env;
pub mod lm;
pub mod metric;
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

impl Global {
    #[allow(dead_code)] // used by the stage commands that are still to come
    pub fn store_root(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(mlagent::provenance::Store::default_root)
    }
}
