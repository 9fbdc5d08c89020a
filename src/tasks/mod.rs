//! The 19 stand-in tasks (docs/tasks.md): one RON file per task in `tasks/`, bundled data in
//! `tasks/data/` verified by sha256 on every read, and the seeded train / validation / test split;
//! the Python tasks (`python`), and the upstream registry of the paper's own tasks (`upstream`)
//! with `prepare`, which makes a Python task of a user's upstream copy.

pub mod data;
pub mod dataset;
pub mod prepare;
pub mod python;
pub mod registry;
mod sources;
pub mod spec;
pub mod upstream;

use std::path::PathBuf;

pub use data::DataDir;
pub use dataset::{Dataset, Inputs, Targets, TestAccess, TestIndices};
pub use registry::{Registry, Task};
pub use spec::{DataType, TaskMetric, TaskSpec, TaskSplit};

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: checksum mismatch: expected sha256 {expected}, found {actual} (file tampered or replaced)"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "{path}: md5 {actual} differs from the upstream checksum {expected}: the file is not \
         the one upstream's preparation writes (another version, or changed)"
    )]
    UpstreamChecksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("task `{task}`: field `{field}`: {message}")]
    Spec {
        task: String,
        field: String,
        message: String,
    },
    #[error(transparent)]
    Config(#[from] crate::config_file::ConfigError),
    #[error("unknown task `{0}` (see `mlagent tasks list`)")]
    Unknown(String),
}
