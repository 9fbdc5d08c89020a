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

/// Opens `path` for reading only if it is a regular file itself: not a symbolic link, FIFO,
/// device or folder. The check is made on the opened descriptor (the FIFO is opened without
/// blocking), so nothing swapped in can make a reader hang or read without end.
pub fn open_regular(path: &Path) -> io::Result<(fs::File, u64)> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    let mut opts = fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let f = opts.open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    Ok((f, meta.len()))
}

fn not_regular(ty: &fs::FileType) -> io::Error {
    let what = if ty.is_symlink() {
        "a symbolic link"
    } else if ty.is_dir() {
        "a folder"
    } else {
        "a FIFO, socket or device"
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("expected a regular file, found {what}"),
    )
}

/// Reads a regular file (see [`open_regular`]) of at most `limit` bytes.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use io::Read;
    let (f, len) = open_regular(path)?;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes, expected at most {limit}"),
        ));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("grew past {limit} bytes while being read"),
        ));
    }
    Ok(buf)
}

/// sha256 of a regular file that must hold exactly `bytes` bytes: the size is checked before
/// reading, and no more than `bytes` are read, so a swapped-in file cannot stall a check.
pub(crate) fn sized_file_digest(path: &Path, bytes: u64) -> Result<Digest, HashError> {
    let wrap = |source| HashError {
        path: path.to_path_buf(),
        source,
    };
    let (f, len) = open_regular(path).map_err(wrap)?;
    if len != bytes {
        return Err(wrap(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes, expected {bytes}"),
        )));
    }
    let mut h = Hasher::new();
    let copied = io::copy(&mut io::Read::take(f, bytes), &mut h).map_err(wrap)?;
    if copied != bytes {
        return Err(wrap(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{copied} bytes read, expected {bytes}"),
        )));
    }
    Ok(h.finish())
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
pub(crate) fn listing_digest(entries: &[(String, Digest)]) -> Digest {
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

    #[cfg(unix)]
    #[test]
    fn links_fifos_and_wrong_sizes_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        fs::write(&real, "abc").unwrap();
        assert!(sized_file_digest(&real, 3).is_ok());
        let e = sized_file_digest(&real, 4).unwrap_err().to_string();
        assert!(e.contains("3 bytes, expected 4"), "{e}");
        let link = d.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = sized_file_digest(&link, 3).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo is part of coreutils");
        let e = sized_file_digest(&fifo, 3).unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");
        let e = read_bounded(&fifo, 10).unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");
        let e = read_bounded(&real, 2).unwrap_err().to_string();
        assert!(e.contains("at most 2"), "{e}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = file_digest(Path::new("/nonexistent/zz")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/zz"));
    }
}
