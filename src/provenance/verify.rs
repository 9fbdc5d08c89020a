//! Re-hashing a whole store, or one manifest's lineage, against the recorded digests. Nothing
//! found is trusted: a run must sit in the folder of its own run key, hold exactly the files its
//! manifest lists, each a regular file of the recorded size; anything else in the store's
//! `runs/` is reported.

use std::path::{Path, PathBuf};

use super::store::{
    MANIFEST_FILE, RunEntry, StoreError, list_runs, manifest_by_digest, read_manifest,
};
use super::{Manifest, Mismatch};

/// What a verification found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub runs: usize,
    pub files: usize,
    pub mismatches: Vec<Mismatch>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }

    fn check(&mut self, manifest_path: &Path, m: &Manifest) {
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        self.runs += 1;
        self.files += m.outputs.len() + 1;
        self.mismatches.extend(m.verify(dir, manifest_path));
    }

    fn incomplete(&mut self, dir: PathBuf) {
        self.runs += 1;
        self.mismatches.push(Mismatch {
            path: dir.join(MANIFEST_FILE),
            expected: "a manifest: every run folder of a store holds one".into(),
            actual: "none (an interrupted run, or a deleted manifest; rerun to finish it)".into(),
        });
    }
}

/// Verifies every run in the store at `root`.
pub fn verify_store(root: &Path) -> Result<VerifyReport, StoreError> {
    verify_store_with_progress(root, |_, _| {})
}

/// [`verify_store`], calling `progress(done, total)` after each run (for progress bars).
pub(crate) fn verify_store_with_progress(
    root: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let entries = list_runs(root)?;
    let total = entries.len();
    for (i, entry) in entries.into_iter().enumerate() {
        match entry {
            RunEntry::Complete(path) => match read_manifest(&path) {
                Ok(m) => report.check(&path, &m),
                Err(e) => {
                    report.runs += 1;
                    report.mismatches.push(Mismatch {
                        path,
                        expected: "a readable manifest".into(),
                        actual: e.to_string(),
                    });
                }
            },
            RunEntry::Incomplete(dir) => report.incomplete(dir),
            RunEntry::Stray(path) => report.mismatches.push(Mismatch {
                path,
                expected: "only run folders, as runs/<stage>/<run key>/".into(),
                actual: "something else".into(),
            }),
        }
        progress(i + 1, total);
    }
    Ok(report)
}

/// Verifies what `path` names: a store folder (every run in it), or a run folder or its
/// manifest (that run and its lineage, found in `store_root` or the store holding the run).
/// Works from any working directory; a path that is none of these is an error.
pub fn verify_path(
    path: &Path,
    store_root: Option<&Path>,
    progress: impl FnMut(usize, usize),
) -> Result<VerifyReport, StoreError> {
    let abs = std::path::absolute(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if abs.join("runs").exists() && !abs.join(MANIFEST_FILE).exists() {
        return verify_store_with_progress(&abs, progress);
    }
    let run_dir = if abs.file_name().is_some_and(|n| n == MANIFEST_FILE) {
        abs.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        abs.clone()
    };
    let in_store = run_dir
        .ancestors()
        .nth(2)
        .and_then(Path::file_name)
        .is_some_and(|n| n == "runs");
    if !in_store && store_root.is_none() {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            message: "expected a store folder (holding runs/<stage>/<run key>/), a run folder \
                      or a manifest.json inside one"
                .into(),
        });
    }
    if !run_dir.join(MANIFEST_FILE).exists() {
        if in_store && run_dir.is_dir() {
            let mut report = VerifyReport::default();
            report.incomplete(run_dir);
            return Ok(report);
        }
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            message: "expected a store folder, a run folder or a manifest.json; found none".into(),
        });
    }
    verify_lineage(&run_dir.join(MANIFEST_FILE), store_root)
}

/// Verifies the run of `manifest_path` and every ancestor, found in the store that holds it
/// (`<store>/runs/<stage>/<key>/manifest.json`) or in `store_root` when given.
pub(crate) fn verify_lineage(
    manifest_path: &Path,
    store_root: Option<&Path>,
) -> Result<VerifyReport, StoreError> {
    let manifest_path = if manifest_path.is_dir() {
        manifest_path.join(MANIFEST_FILE)
    } else {
        manifest_path.to_path_buf()
    };
    let manifest_path = std::path::absolute(&manifest_path).map_err(|source| StoreError::Io {
        path: manifest_path.clone(),
        source,
    })?;
    let root: PathBuf = match store_root {
        Some(r) => r.to_path_buf(),
        None => manifest_path
            .ancestors()
            .nth(4)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let mut report = VerifyReport::default();
    let first = read_manifest(&manifest_path)?;
    let mut queue = vec![(manifest_path, first)];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((path, m)) = queue.pop() {
        if !seen.insert(m.digest) {
            continue;
        }
        report.check(&path, &m);
        for p in &m.parents {
            queue.push(manifest_by_digest(&root, &p.digest)?);
        }
    }
    Ok(report)
}
