//! The policy language model (docs/lm.md): a Qwen2-architecture decoder in burn, read and written
//! in Hugging Face's format, with checkpoints, training steps, a tokenizer, the chat template,
//! KV-cached generation and a value head. See docs/lm.md.

pub mod bench;
pub mod chat;
pub mod checkpoint;
pub mod config;
pub mod finite;
pub mod generate;
pub mod hf;
pub mod model;
pub mod safetensors;
pub mod tokenizer;
pub mod train;
pub mod value;

use std::path::{Path, PathBuf};

pub use config::Qwen2Config;
pub use model::{KvCache, Qwen2};

/// Errors of the language-model module; each names the file or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    #[error("model config: {0}")]
    Config(String),
    #[error("weights: {0}")]
    Weights(String),
    #[error("input: {0}")]
    Input(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] crate::provenance::atomic::WriteError),
}

impl LmError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
