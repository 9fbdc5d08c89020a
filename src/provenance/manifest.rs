//! The manifest of one stage run: what went in, what came out, and who computed it.
//!
//! Two digests are recorded. `digest` is the run's *identity*: stage, config, parents, seed,
//! backend and the content outputs; children and reports cite it, so the final report's digest
//! pins the whole chain. It leaves out who computed the result (code version, toolchain,
//! platform, times) and auxiliary outputs (resume state, which cannot be byte-reproducible).
//! `integrity` covers every field, so any edit of a manifest file is detected by `verify`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::file_digest;
use super::{CodeVersion, Digest, canonical};

/// Format version of manifest files.
pub const MANIFEST_FORMAT: u32 = 1;

/// Whether an output defines the run's identity or is integrity-checked resume state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputRole {
    /// Deterministic bytes (weights as metadata-free safetensors, trajectories, metrics).
    Content,
    /// Needed for exact resume but not byte-reproducible (burn records, optimizer state).
    Auxiliary,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Path relative to the run folder, `/`-separated.
    pub path: String,
    pub digest: Digest,
    pub bytes: u64,
    pub role: OutputRole,
}

/// A parent run, by stage name and identity digest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Parent {
    pub stage: String,
    pub digest: Digest,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub stage: String,
    /// Digest of the run's inputs; the run folder is named by it.
    pub run_key: Digest,
    pub config_digest: Digest,
    pub parents: Vec<Parent>,
    pub seed: u64,
    pub backend: String,
    pub outputs: Vec<OutputFile>,
    pub code: CodeVersion,
    pub rustc: String,
    pub platform: String,
    pub started_unix_ms: u64,
    pub finished_unix_ms: u64,
    /// Identity digest (see the module docs).
    pub digest: Digest,
    /// Digest of every other field.
    pub integrity: Digest,
}

#[derive(Serialize)]
struct Identity<'a> {
    format: u32,
    stage: &'a str,
    config_digest: &'a Digest,
    parents: &'a [Parent],
    seed: u64,
    backend: &'a str,
    content: Vec<(&'a str, &'a Digest)>,
}

/// One file whose bytes differ from the manifest's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub path: PathBuf,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {}, found {}",
            self.path.display(),
            self.expected,
            self.actual
        )
    }
}

impl Manifest {
    /// Computes `digest` and `integrity` from the other fields.
    pub fn seal(mut self) -> Self {
        self.digest = self.identity_digest();
        self.integrity = self.integrity_digest();
        self
    }

    pub fn identity_digest(&self) -> Digest {
        let mut content: Vec<(&str, &Digest)> = self
            .outputs
            .iter()
            .filter(|o| o.role == OutputRole::Content)
            .map(|o| (o.path.as_str(), &o.digest))
            .collect();
        content.sort();
        canonical::digest_of(&Identity {
            format: self.format,
            stage: &self.stage,
            config_digest: &self.config_digest,
            parents: &self.parents,
            seed: self.seed,
            backend: &self.backend,
            content,
        })
        .expect("a manifest identity holds no floats, so it always has a canonical encoding")
    }

    pub fn integrity_digest(&self) -> Digest {
        let mut copy = self.clone();
        copy.integrity = Digest::from_raw([0; 32]);
        canonical::digest_of(&copy)
            .expect("a manifest holds no floats, so it always has a canonical encoding")
    }

    pub fn output(&self, path: &str) -> Option<&OutputFile> {
        self.outputs.iter().find(|o| o.path == path)
    }

    /// Re-hashes every output below `dir` and re-checks both digests of the manifest itself,
    /// which is at `manifest_path`. Returns every mismatch (empty when all is intact).
    pub fn verify(&self, dir: &Path, manifest_path: &Path) -> Vec<Mismatch> {
        let mut out = Vec::new();
        let integrity = self.integrity_digest();
        if integrity != self.integrity {
            out.push(Mismatch {
                path: manifest_path.to_path_buf(),
                expected: format!("integrity {}", self.integrity),
                actual: format!("integrity {integrity}"),
            });
        }
        let identity = self.identity_digest();
        if identity != self.digest {
            out.push(Mismatch {
                path: manifest_path.to_path_buf(),
                expected: format!("identity {}", self.digest),
                actual: format!("identity {identity}"),
            });
        }
        for o in &self.outputs {
            let path = dir.join(&o.path);
            match file_digest(&path) {
                Ok(d) if d == o.digest => {}
                Ok(d) => out.push(Mismatch {
                    path,
                    expected: o.digest.to_hex(),
                    actual: d.to_hex(),
                }),
                Err(e) => out.push(Mismatch {
                    path,
                    expected: o.digest.to_hex(),
                    actual: format!("unreadable ({})", e.source),
                }),
            }
        }
        out
    }
}

/// `rustc --version` of the compiler that built this crate.
pub fn rustc_version() -> &'static str {
    env!("MLAGENT_RUSTC_VERSION")
}

/// `os-arch`, e.g. `linux-x86_64`.
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}
