//! JSON Lines, the one format of every record file the stages write (`trajectories.jsonl`,
//! `episodes.jsonl`, `metrics.jsonl`, ...): one compact JSON value per line, in order. Reading
//! names the file and line of any problem; blank lines are skipped.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::provenance::atomic;

#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct JsonlError {
    pub path: PathBuf,
    /// 1-based; 0 when the file itself could not be opened.
    pub line: usize,
    pub message: String,
}

/// The lines of `rows`.
pub(crate) fn to_bytes<T: Serialize>(rows: &[T]) -> Vec<u8> {
    let mut buf = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut buf, r).expect(
            "record types are plain data (no maps with non-string keys), so they serialise",
        );
        buf.push(b'\n');
    }
    buf
}

/// Writes `rows` to `path` atomically.
pub fn write<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), atomic::WriteError> {
    atomic::write(path, &to_bytes(rows))
}

/// Reads every record of `path`.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, JsonlError> {
    let bad = |line: usize, message: String| JsonlError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let f = std::fs::File::open(path).map_err(|e| bad(0, e.to_string()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| bad(i + 1, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| bad(i + 1, e.to_string()))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_the_bad_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.jsonl");
        write(&p, &[1u32, 2, 3]).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1\n2\n3\n");
        assert_eq!(read::<u32>(&p).unwrap(), vec![1, 2, 3]);
        std::fs::write(&p, "1\n\n{oops\n").unwrap();
        let e = read::<u32>(&p).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:3:", p.display())), "{e}");
    }
}
