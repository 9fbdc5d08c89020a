//! Re-hashing a whole store, or one manifest's lineage, against the recorded digests.

use std::path::{Path, PathBuf};

use super::store::{MANIFEST_FILE, StoreError, list_manifests, manifest_by_digest, read_manifest};
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
}

/// Verifies every complete run in the store at `root`.
pub fn verify_store(root: &Path) -> Result<VerifyReport, StoreError> {
    verify_store_with_progress(root, |_, _| {})
}

/// [`verify_store`], calling `progress(done, total)` after each run (for progress bars).
pub fn verify_store_with_progress(
    root: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let manifests = list_manifests(root)?;
    let total = manifests.len();
    for (i, (path, m)) in manifests.into_iter().enumerate() {
        report.check(&path, &m);
        progress(i + 1, total);
    }
    Ok(report)
}

/// Verifies the run of `manifest_path` and every ancestor, found in the store that holds it
/// (`<store>/runs/<stage>/<key>/manifest.json`) or in `store_root` when given.
pub fn verify_lineage(
    manifest_path: &Path,
    store_root: Option<&Path>,
) -> Result<VerifyReport, StoreError> {
    let manifest_path = if manifest_path.is_dir() {
        manifest_path.join(MANIFEST_FILE)
    } else {
        manifest_path.to_path_buf()
    };
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
