//! The manifest of one stage run: what went in, what came out, and who computed it.
//!
//! Two digests are recorded. `digest` is the run's *identity*: stage, config, parents, seed,
//! backend and the content outputs; children and reports cite it, so the final report's digest
//! pins the whole chain. It leaves out who computed the result (code version, toolchain,
//! platform, times) and auxiliary outputs (resume state, which cannot be byte-reproducible).
//! `integrity` covers every field, so any edit of a manifest file is detected by `verify`.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::sized_file_digest;
use super::{CodeVersion, Digest, canonical};

/// Format version of manifest files.
pub(crate) const MANIFEST_FORMAT: u32 = 1;

/// The manifest's file name in its run folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The run's canonical config (stage section, reward, task digests) in its run folder; its
/// digest is the manifest's `config_digest`.
pub(crate) const RUN_CONFIG_FILE: &str = "config.json";

/// What a stage run depends on. Its digest names the run folder, and the manifest records every
/// field, so a manifest's run key can be recomputed from the manifest alone.
#[derive(Clone, Debug, Serialize)]
pub struct RunKey {
    pub stage: String,
    pub config_digest: Digest,
    pub parents: Vec<Parent>,
    pub seed: u64,
    pub backend: String,
    /// Code that computes the stage: results of other code are never reused.
    pub code: CodeVersion,
}

impl RunKey {
    pub fn digest(&self) -> Digest {
        canonical::digest_of(self).expect("a run key holds no floats")
    }
}

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
    pub(crate) fn seal(mut self) -> Self {
        self.digest = self.identity_digest();
        self.integrity = self.integrity_digest();
        self
    }

    pub(crate) fn identity_digest(&self) -> Digest {
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

    pub(crate) fn integrity_digest(&self) -> Digest {
        let mut copy = self.clone();
        copy.integrity = Digest::from_raw([0; 32]);
        canonical::digest_of(&copy)
            .expect("a manifest holds no floats, so it always has a canonical encoding")
    }

    pub fn output(&self, path: &str) -> Option<&OutputFile> {
        self.outputs.iter().find(|o| o.path == path)
    }

    /// The run key the manifest's own fields (stage, config, parents, seed, backend, code)
    /// make; a manifest that was not written for its run key does not match it.
    pub(crate) fn recomputed_run_key(&self) -> Digest {
        RunKey {
            stage: self.stage.clone(),
            config_digest: self.config_digest,
            parents: self.parents.clone(),
            seed: self.seed,
            backend: self.backend.clone(),
            code: self.code.clone(),
        }
        .digest()
    }

    /// Checks the run in folder `dir`, whose manifest is at `manifest_path`: both digests of the
    /// manifest; that it belongs where it sits (folder named by its run key, under its stage's
    /// folder, run key and config digest consistent with its fields and `config.json`); every
    /// output a regular file of the recorded size and digest reached without symbolic links;
    /// and no file or folder the manifest does not list. Returns every mismatch (empty when all
    /// is intact).
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
        out.extend(self.check_location(dir, manifest_path));
        for o in &self.outputs {
            let path = dir.join(&o.path);
            if !is_plain_relative(&o.path) {
                out.push(Mismatch {
                    path,
                    expected: "an output path inside the run folder".into(),
                    actual: format!("path {:?}", o.path),
                });
                continue;
            }
            if let Some(link) = linked_ancestor(dir, &o.path) {
                out.push(Mismatch {
                    path,
                    expected: o.digest.to_hex(),
                    actual: format!(
                        "reached through {}, not a folder of the run",
                        link.display()
                    ),
                });
                continue;
            }
            match sized_file_digest(&path, o.bytes) {
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
        out.extend(self.unlisted(dir));
        out
    }

    fn check_location(&self, dir: &Path, manifest_path: &Path) -> Vec<Mismatch> {
        let mut out = Vec::new();
        let recomputed = self.recomputed_run_key();
        if recomputed != self.run_key {
            out.push(Mismatch {
                path: manifest_path.to_path_buf(),
                expected: format!(
                    "run key {recomputed} (of the manifest's stage, config, parents, seed, \
                     backend and code)"
                ),
                actual: format!("run key {}", self.run_key),
            });
        }
        if let Some(config) = self.output(RUN_CONFIG_FILE)
            && config.digest != self.config_digest
        {
            out.push(Mismatch {
                path: dir.join(RUN_CONFIG_FILE),
                expected: format!("the manifest's config digest {}", self.config_digest),
                actual: config.digest.to_hex(),
            });
        }
        let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let name = |p: Option<&Path>| {
            p.and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let folder = name(Some(&abs));
        if folder != self.run_key.to_hex() {
            out.push(Mismatch {
                path: dir.to_path_buf(),
                expected: format!("the folder of run key {}", self.run_key),
                actual: format!("folder {folder:?}: the manifest of another run"),
            });
        }
        let stage = name(abs.parent());
        if stage != self.stage {
            out.push(Mismatch {
                path: dir.to_path_buf(),
                expected: format!("a run under runs/{}/", self.stage),
                actual: format!("a run under {stage:?}/"),
            });
        }
        out
    }

    /// Files and folders in `dir` that the manifest does not account for.
    fn unlisted(&self, dir: &Path) -> Vec<Mismatch> {
        let mut listed: BTreeSet<&str> = self.outputs.iter().map(|o| o.path.as_str()).collect();
        listed.insert(MANIFEST_FILE);
        let folders: BTreeSet<&str> = listed
            .iter()
            .flat_map(|p| p.match_indices('/').map(|(i, _)| &p[..i]))
            .collect();
        let mut out = Vec::new();
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        while let Some((folder, prefix)) = stack.pop() {
            let entries = match std::fs::read_dir(&folder) {
                Ok(e) => e,
                Err(e) => {
                    out.push(Mismatch {
                        path: folder,
                        expected: "a readable folder".into(),
                        actual: format!("unreadable ({e})"),
                    });
                    continue;
                }
            };
            let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let rel = format!("{prefix}{}", entry.file_name().to_string_lossy());
                let Ok(ty) = entry.file_type() else { continue };
                if ty.is_dir() && folders.contains(rel.as_str()) {
                    stack.push((entry.path(), format!("{rel}/")));
                } else if !listed.contains(rel.as_str()) {
                    let what = if ty.is_dir() {
                        "a folder"
                    } else if ty.is_symlink() {
                        "a symbolic link"
                    } else if ty.is_file() {
                        "a file"
                    } else {
                        "a FIFO, socket or device"
                    };
                    out.push(Mismatch {
                        path: entry.path(),
                        expected: "nothing: the manifest does not list it".into(),
                        actual: what.into(),
                    });
                }
            }
        }
        out
    }
}

/// A `/`-separated path of plain names, so joining it to the run folder stays inside it.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// The first folder on the way from `dir` to output `rel` that is not a real folder.
fn linked_ancestor(dir: &Path, rel: &str) -> Option<PathBuf> {
    let mut at = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_dir() => {}
            _ => return Some(at),
        }
    }
    None
}

/// `rustc --version` of the compiler that built this crate.
pub(crate) fn rustc_version() -> &'static str {
    env!("MLAGENT_RUSTC_VERSION")
}

/// `os-arch`, e.g. `linux-x86_64`.
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}
