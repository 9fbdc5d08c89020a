//! Digests of files and folders.
//!
//! A folder's digest is sha256 over its sorted list of (relative path, file digest), so the
//! order in which files were created never matters. Relative paths use `/` on every platform.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Digest, Hasher};

/// A file that could not be read for hashing.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash {path}: {source}")]
pub struct HashError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// sha256 of a file's bytes.
pub fn file_digest(path: &Path) -> Result<Digest, HashError> {
    let wrap = |source| HashError {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::File::open(path).map_err(wrap)?;
    let mut h = Hasher::new();
    io::copy(&mut f, &mut h).map_err(wrap)?;
    Ok(h.finish())
}

/// Every regular file below `root`, as sorted `/`-separated relative paths. Hidden temporary
/// files of atomic writes (`.tmp-*`) are skipped.
pub fn list_files(root: &Path) -> Result<Vec<String>, HashError> {
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), HashError> {
    let wrap = |source| HashError {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(wrap)? {
        let entry = entry.map_err(wrap)?;
        let path = entry.path();
        let ty = entry.file_type().map_err(wrap)?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".tmp-") {
            continue;
        }
        if ty.is_dir() {
            walk(root, &path, out)?;
        } else if ty.is_file() {
            out.push(relative(root, &path));
        }
    }
    Ok(())
}

/// `path` relative to `root`, with `/` separators.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Digest of a sorted (relative path, file digest) list.
pub fn listing_digest(entries: &[(String, Digest)]) -> Digest {
    let mut sorted: Vec<&(String, Digest)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Hasher::new();
    for (path, d) in sorted {
        h.update(&(path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update(d.as_bytes());
    }
    h.finish()
}

/// Digest of every file below `root` (see the module docs).
pub fn folder_digest(root: &Path) -> Result<Digest, HashError> {
    let entries = list_files(root)?
        .into_iter()
        .map(|rel| {
            let d = file_digest(&root.join(&rel))?;
            Ok((rel, d))
        })
        .collect::<Result<Vec<_>, HashError>>()?;
    Ok(listing_digest(&entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_digest_ignores_creation_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::create_dir_all(a.path().join("sub")).unwrap();
        fs::create_dir_all(b.path().join("sub")).unwrap();
        fs::write(a.path().join("x"), "1").unwrap();
        fs::write(a.path().join("sub/y"), "2").unwrap();
        fs::write(b.path().join("sub/y"), "2").unwrap();
        fs::write(b.path().join("x"), "1").unwrap();
        assert_eq!(
            folder_digest(a.path()).unwrap(),
            folder_digest(b.path()).unwrap()
        );
        fs::write(b.path().join("x"), "2").unwrap();
        assert_ne!(
            folder_digest(a.path()).unwrap(),
            folder_digest(b.path()).unwrap()
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = file_digest(Path::new("/nonexistent/zz")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/zz"));
    }
}
