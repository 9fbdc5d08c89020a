//! The artifact store: one folder per stage run, named by the digest of the run's inputs.
//!
//! Layout: `<root>/runs/<stage>/<run key hex>/` holding the run's files and, written last and
//! atomically, `manifest.json`. A folder without a manifest is an interrupted run: it is
//! cleared and redone (a resumable stage keeps its `resume/` subfolder, whose files carry their
//! own checks). A complete run whose files no longer match their digests is an error, never
//! reused. `<root>/.lock` is held exclusively by one process at a time.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::manifest::{MANIFEST_FORMAT, Mismatch, OutputFile, OutputRole, Parent};
use super::{CodeVersion, Digest, Manifest, atomic, canonical, files};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const RESUME_DIR: &str = "resume";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("store {path} is locked by another mlagent process ({holder}); {hint}")]
    Locked {
        path: PathBuf,
        holder: String,
        hint: &'static str,
    },
    #[error("manifest {path} is malformed: {message}")]
    BadManifest { path: PathBuf, message: String },
    #[error("run {dir} was tampered with or corrupted:\n{}", .mismatches.iter().map(|m| format!("  {m}")).collect::<Vec<_>>().join("\n"))]
    Tampered {
        dir: PathBuf,
        mismatches: Vec<Mismatch>,
    },
    #[error("run {dir}: declared output {path} does not exist")]
    MissingOutput { dir: PathBuf, path: String },
    #[error("no manifest with digest {0} in the store")]
    UnknownDigest(Digest),
    #[error(transparent)]
    Write(#[from] atomic::WriteError),
    #[error(transparent)]
    Hash(#[from] files::HashError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a stage run depends on. Its digest names the run folder.
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

/// An open store. Holding it holds the store's lock.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    _lock: fs::File,
}

/// How to behave when another process holds the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWait {
    Wait,
    Fail,
}

impl Store {
    /// The default store folder: `target/mlagent/store` of this workspace.
    pub fn default_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mlagent/store")
    }

    /// Opens (creating if needed) the store at `root` and takes its lock.
    pub fn open(root: &Path, wait: LockWait) -> Result<Self, StoreError> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        let lock_path = root.join(".lock");
        let mut lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&lock_path).unwrap_or_default();
                let holder = if holder.trim().is_empty() {
                    "unknown pid".to_string()
                } else {
                    holder.trim().to_string()
                };
                if wait == LockWait::Fail {
                    return Err(StoreError::Locked {
                        path: root.to_path_buf(),
                        holder,
                        hint: "try again when it finishes, or use another --store",
                    });
                }
                tracing::warn!(store = %root.display(), %holder, "store is locked by another process; waiting");
                eprintln!(
                    "waiting: store {} is locked by another mlagent process ({holder})",
                    root.display()
                );
                lock.lock().map_err(io_err(&lock_path))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        lock.set_len(0).map_err(io_err(&lock_path))?;
        writeln!(lock, "pid {}", std::process::id()).map_err(io_err(&lock_path))?;
        Ok(Self {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn run_dir(&self, key: &RunKey) -> PathBuf {
        self.root
            .join("runs")
            .join(&key.stage)
            .join(key.digest().to_hex())
    }

    /// The complete, verified run for `key`, if there is one. A complete run whose files do
    /// not match is an error.
    pub fn find(&self, key: &RunKey) -> Result<Option<Manifest>, StoreError> {
        let dir = self.run_dir(key);
        let mpath = dir.join(MANIFEST_FILE);
        if !mpath.exists() {
            return Ok(None);
        }
        let m = read_manifest(&mpath)?;
        let mismatches = m.verify(&dir, &mpath);
        if !mismatches.is_empty() {
            return Err(StoreError::Tampered { dir, mismatches });
        }
        Ok(Some(m))
    }

    /// Starts (or restarts) the run for `key`. Whatever an interrupted earlier attempt left is
    /// removed, except `resume/` when `keep_resume` is set.
    pub fn begin(&self, key: &RunKey, keep_resume: bool) -> Result<RunBuilder, StoreError> {
        let dir = self.run_dir(key);
        if dir.join(MANIFEST_FILE).exists() {
            // Callers reuse complete runs through `find` first; reaching here means the caller
            // asked for a fresh run, so the old one goes.
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        if dir.exists() {
            tracing::info!(run = %dir.display(), "clearing an interrupted run");
            for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
                let entry = entry.map_err(io_err(&dir))?;
                let p = entry.path();
                if keep_resume && entry.file_name() == RESUME_DIR {
                    continue;
                }
                if entry.file_type().map_err(io_err(&p))?.is_dir() {
                    fs::remove_dir_all(&p).map_err(io_err(&p))?;
                } else {
                    fs::remove_file(&p).map_err(io_err(&p))?;
                }
            }
        }
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(RunBuilder {
            dir,
            key: key.clone(),
            started_unix_ms: now_ms(),
        })
    }

    /// Every complete run's manifest, with its path, in a fixed order.
    pub fn manifests(&self) -> Result<Vec<(PathBuf, Manifest)>, StoreError> {
        list_manifests(&self.root)
    }

    /// The manifest with identity digest `digest`, with its path.
    pub fn manifest_by_digest(&self, digest: &Digest) -> Result<(PathBuf, Manifest), StoreError> {
        manifest_by_digest(&self.root, digest)
    }
}

/// Every complete run's manifest below store `root`, with its path, in a fixed order. Reads
/// only; takes no lock.
pub fn list_manifests(root: &Path) -> Result<Vec<(PathBuf, Manifest)>, StoreError> {
    let runs = root.join("runs");
    let mut out = Vec::new();
    if !runs.exists() {
        return Ok(out);
    }
    let mut stages: Vec<_> = fs::read_dir(&runs)
        .map_err(io_err(&runs))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    stages.sort();
    for stage in stages {
        let mut dirs: Vec<_> = fs::read_dir(&stage)
            .map_err(io_err(&stage))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        dirs.sort();
        for d in dirs {
            let mp = d.join(MANIFEST_FILE);
            if mp.exists() {
                let m = read_manifest(&mp)?;
                out.push((mp, m));
            }
        }
    }
    Ok(out)
}

/// The manifest with identity digest `digest` below store `root`, with its path.
pub fn manifest_by_digest(root: &Path, digest: &Digest) -> Result<(PathBuf, Manifest), StoreError> {
    list_manifests(root)?
        .into_iter()
        .find(|(_, m)| &m.digest == digest)
        .ok_or(StoreError::UnknownDigest(*digest))
}

/// Reads and parses a manifest file, naming it in any error.
pub fn read_manifest(path: &Path) -> Result<Manifest, StoreError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::BadManifest {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A run being written. Dropping it without `finish` leaves an incomplete folder, which the
/// next `begin` clears.
#[derive(Debug)]
pub struct RunBuilder {
    dir: PathBuf,
    key: RunKey,
    started_unix_ms: u64,
}

impl RunBuilder {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Resume state of this run; survives an interruption when the stage asks for it.
    pub fn resume_dir(&self) -> PathBuf {
        self.dir.join(RESUME_DIR)
    }

    /// Hashes the named outputs (relative paths) and writes the manifest, completing the run.
    pub fn finish(self, content: &[&str], auxiliary: &[&str]) -> Result<Manifest, StoreError> {
        let mut outputs = Vec::new();
        for (names, role) in [
            (content, OutputRole::Content),
            (auxiliary, OutputRole::Auxiliary),
        ] {
            for name in names {
                let path = self.dir.join(name);
                if !path.is_file() {
                    return Err(StoreError::MissingOutput {
                        dir: self.dir.clone(),
                        path: name.to_string(),
                    });
                }
                let bytes = fs::metadata(&path).map_err(io_err(&path))?.len();
                outputs.push(OutputFile {
                    path: name.to_string(),
                    digest: files::file_digest(&path)?,
                    bytes,
                    role,
                });
            }
        }
        outputs.sort_by(|a, b| a.path.cmp(&b.path));
        let zero = Digest::from_raw([0; 32]);
        let m = Manifest {
            format: MANIFEST_FORMAT,
            stage: self.key.stage.clone(),
            run_key: self.key.digest(),
            config_digest: self.key.config_digest,
            parents: self.key.parents.clone(),
            seed: self.key.seed,
            backend: self.key.backend.clone(),
            outputs,
            code: self.key.code.clone(),
            rustc: super::manifest::rustc_version().to_string(),
            platform: super::manifest::platform(),
            started_unix_ms: self.started_unix_ms,
            finished_unix_ms: now_ms(),
            digest: zero,
            integrity: zero,
        }
        .seal();
        let json = serde_json::to_vec_pretty(&m).expect("a manifest always serialises");
        atomic::write(&self.dir.join(MANIFEST_FILE), &json)?;
        Ok(m)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
