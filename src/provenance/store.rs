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

pub use super::manifest::{MANIFEST_FILE, RunKey};
use super::manifest::{MANIFEST_FORMAT, Mismatch, OutputFile, OutputRole};
use super::{Digest, Manifest, atomic, files};
pub(crate) const RESUME_DIR: &str = "resume";

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
    #[error(
        "{path} is a symbolic link or not a folder; a store holds only real folders, and \
         nothing is cleared or written through a link: remove it"
    )]
    NotAFolder { path: PathBuf },
    #[error("{path}: {message}")]
    NotAStore { path: PathBuf, message: String },
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

    /// Fails when a folder on the way from the store's root to `key`'s run folder exists but is
    /// not a real folder (a link could lead a clear or a write outside the store).
    fn check_real_folders(&self, key: &RunKey) -> Result<(), StoreError> {
        let runs = self.root.join("runs");
        let stage = runs.join(&key.stage);
        for p in [runs, stage, self.run_dir(key)] {
            match fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => return Err(StoreError::NotAFolder { path: p }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_err(&p)(e)),
            }
        }
        Ok(())
    }

    /// The complete, verified run for `key`, if there is one. A complete run whose files do
    /// not match, or whose manifest was written for another run, is an error.
    pub fn find(&self, key: &RunKey) -> Result<Option<Manifest>, StoreError> {
        self.check_real_folders(key)?;
        let dir = self.run_dir(key);
        let mpath = dir.join(MANIFEST_FILE);
        if fs::symlink_metadata(&mpath).is_err() {
            return Ok(None);
        }
        let m = read_manifest(&mpath)?;
        let mut mismatches = m.verify(&dir, &mpath);
        let want = key.digest();
        if m.run_key != want {
            mismatches.push(Mismatch {
                path: mpath.clone(),
                expected: format!("run key {want} (this run's inputs)"),
                actual: format!("run key {}: the manifest of another run", m.run_key),
            });
        }
        if !mismatches.is_empty() {
            return Err(StoreError::Tampered { dir, mismatches });
        }
        Ok(Some(m))
    }

    /// Starts (or restarts) the run for `key`. Whatever an interrupted earlier attempt left is
    /// removed, except `resume/` when `keep_resume` is set. Links are removed, never followed.
    pub fn begin(&self, key: &RunKey, keep_resume: bool) -> Result<RunBuilder, StoreError> {
        self.check_real_folders(key)?;
        let dir = self.run_dir(key);
        if fs::symlink_metadata(dir.join(MANIFEST_FILE)).is_ok() {
            // Callers reuse complete runs through `find` first; reaching here means the caller
            // asked for a fresh run, so the old one goes.
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        if dir.exists() {
            tracing::info!(run = %dir.display(), "clearing an interrupted run");
            for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
                let entry = entry.map_err(io_err(&dir))?;
                let p = entry.path();
                let ty = entry.file_type().map_err(io_err(&p))?;
                if keep_resume && entry.file_name() == RESUME_DIR && ty.is_dir() {
                    continue;
                }
                if ty.is_dir() {
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
    pub(crate) fn manifest_by_digest(
        &self,
        digest: &Digest,
    ) -> Result<(PathBuf, Manifest), StoreError> {
        manifest_by_digest(&self.root, digest)
    }
}

/// Every complete run's manifest below store `root`, with its path, in a fixed order. Reads
/// only; takes no lock.
pub(crate) fn list_manifests(root: &Path) -> Result<Vec<(PathBuf, Manifest)>, StoreError> {
    let mut out = Vec::new();
    for entry in list_runs(root)? {
        if let RunEntry::Complete(mp) = entry {
            let m = read_manifest(&mp)?;
            out.push((mp, m));
        }
    }
    Ok(out)
}

/// What the walk of a store's `runs/` folder finds, in a fixed order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RunEntry {
    /// A run folder with its manifest (the manifest's path).
    Complete(PathBuf),
    /// A run folder without a manifest: an interrupted run, or a deleted manifest.
    Incomplete(PathBuf),
    /// Anything else: a file, a link, a folder not named like a run.
    Stray(PathBuf),
}

/// Walks `<root>/runs/<stage>/<run key>/`. A path that holds no `runs/` folder is not a store.
pub(crate) fn list_runs(root: &Path) -> Result<Vec<RunEntry>, StoreError> {
    let runs = root.join("runs");
    match fs::symlink_metadata(&runs) {
        Ok(m) if m.file_type().is_dir() => {}
        Ok(_) => return Err(StoreError::NotAFolder { path: runs }),
        Err(_) => {
            return Err(StoreError::NotAStore {
                path: root.to_path_buf(),
                message: "expected a store folder (holding runs/<stage>/<run key>/), a run \
                          folder or a manifest.json; found no runs/ folder"
                    .into(),
            });
        }
    }
    let sorted = |dir: &Path| -> Result<Vec<(PathBuf, fs::FileType)>, StoreError> {
        let mut v = Vec::new();
        for e in fs::read_dir(dir).map_err(io_err(dir))? {
            let e = e.map_err(io_err(dir))?;
            let ty = e.file_type().map_err(io_err(&e.path()))?;
            v.push((e.path(), ty));
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(v)
    };
    let mut out = Vec::new();
    for (stage, ty) in sorted(&runs)? {
        if !ty.is_dir() {
            out.push(RunEntry::Stray(stage));
            continue;
        }
        for (d, ty) in sorted(&stage)? {
            let named = d
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.parse::<Digest>().is_ok());
            if !ty.is_dir() || !named {
                out.push(RunEntry::Stray(d));
                continue;
            }
            let mp = d.join(MANIFEST_FILE);
            if fs::symlink_metadata(&mp).is_ok() {
                out.push(RunEntry::Complete(mp));
            } else {
                out.push(RunEntry::Incomplete(d));
            }
        }
    }
    Ok(out)
}

/// The manifest with identity digest `digest` below store `root`, with its path.
pub(crate) fn manifest_by_digest(
    root: &Path,
    digest: &Digest,
) -> Result<(PathBuf, Manifest), StoreError> {
    list_manifests(root)?
        .into_iter()
        .find(|(_, m)| &m.digest == digest)
        .ok_or(StoreError::UnknownDigest(*digest))
}

/// Largest manifest file read: far above any real one, small enough to never exhaust memory.
const MANIFEST_LIMIT: u64 = 64 << 20;

/// Reads and parses a manifest file (a regular file, read with a bound), naming it in any
/// error.
pub fn read_manifest(path: &Path) -> Result<Manifest, StoreError> {
    let bytes = files::read_bounded(path, MANIFEST_LIMIT).map_err(io_err(path))?;
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
