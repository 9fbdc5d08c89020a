//! mlagent: a Rust re-implementation of ML-Agent (Liu et al. 2025, arXiv 2505.23723) inside a
//! reproducibility harness. See ARCHITECTURE.md for the modules, the data flow and the
//! invariants.

pub mod agent;
pub mod backend;
pub mod bench;
pub mod config;
pub mod config_file;
pub mod env;
pub mod eval;
pub mod interrupt;
pub mod jsonl;
pub mod limits;
pub mod lm;
pub mod metrics;
pub mod paper;
pub mod pipeline;
pub mod plot;
pub mod provenance;
pub mod report;
pub mod results;
pub mod reward;
pub mod sandbox;
pub mod seed;
pub mod serve;
pub mod stages;
pub mod stats;
pub mod tasks;
pub mod train;
