//! Bundled data files: checksum verification and the three loaders (CSV, gzipped IDX, PNG).
//! Every read goes through [`DataDir::read_verified`], so a tampered or swapped file is an error
//! naming it before any byte of it is used. Reads are confined to the data folder: a task file
//! may only name a regular file inside it (no `..`, no absolute path, no symlink leading out,
//! no device), and at most [`MAX_DATA_FILE_BYTES`] of it are read.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use crate::provenance::Digest;

use super::TaskError;

/// The `tasks/data/` folder.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
    max_bytes: u64,
}

/// The largest data file read (the bundled files are at most a few MB); a larger file is an
/// error, so a file that never ends (a device, a pipe) cannot be read until memory runs out.
pub const MAX_DATA_FILE_BYTES: u64 = 256 << 20;

/// Checks that `rel` names a path inside the data folder by its spelling alone: relative, with
/// only plain components (no `..`, `.`, root or prefix).
pub(crate) fn check_relative(rel: &str) -> Result<(), String> {
    let p = Path::new(rel);
    if rel.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!(
            "data path {rel:?} must be relative to tasks/data, without `..`, `.` or a leading `/`"
        ));
    }
    Ok(())
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            max_bytes: MAX_DATA_FILE_BYTES,
        }
    }

    /// A data folder whose files may be up to `max_bytes` (a prepared upstream task's tables
    /// are larger than the bundled files).
    pub fn with_max_bytes(root: impl Into<PathBuf>, max_bytes: u64) -> Self {
        Self {
            root: root.into(),
            max_bytes,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file `rel` names, once it is known to be a regular file inside the data folder
    /// (after following symlinks) of at most [`MAX_DATA_FILE_BYTES`].
    fn resolve(&self, rel: &str) -> Result<PathBuf, TaskError> {
        let path = self.root.join(rel);
        let format = |message: String| TaskError::Format {
            path: path.clone(),
            message,
        };
        check_relative(rel).map_err(format)?;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| TaskError::Io { path: p, source }
        };
        let root = std::fs::canonicalize(&self.root).map_err(io(&self.root))?;
        let real = std::fs::canonicalize(&path).map_err(io(&path))?;
        if !real.starts_with(&root) {
            return Err(format(format!(
                "resolves to {}, outside the data folder {}: expected a file inside it",
                real.display(),
                root.display()
            )));
        }
        let meta = std::fs::metadata(&real).map_err(io(&real))?;
        if !meta.is_file() {
            return Err(format(format!(
                "is not a regular file ({:?}): expected a data file",
                meta.file_type()
            )));
        }
        if meta.len() > self.max_bytes {
            return Err(format(format!(
                "is {} bytes, more than the {} a data file may have",
                meta.len(),
                self.max_bytes
            )));
        }
        Ok(real)
    }

    /// Reads `rel` and checks its sha256 against `expected` (hex).
    pub fn read_verified(&self, rel: &str, expected: &str) -> Result<Vec<u8>, TaskError> {
        let path = self.root.join(rel);
        let real = self.resolve(rel)?;
        let mut bytes = Vec::new();
        std::fs::File::open(&real)
            .and_then(|f| f.take(self.max_bytes + 1).read_to_end(&mut bytes))
            .map_err(|source| TaskError::Io {
                path: path.clone(),
                source,
            })?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(TaskError::Format {
                path,
                message: format!(
                    "grew past the {} bytes a data file may have while read",
                    self.max_bytes
                ),
            });
        }
        let actual = Digest::of_bytes(&bytes).to_string();
        if actual != expected {
            return Err(TaskError::Checksum {
                path,
                expected: expected.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Checks every line of `CHECKSUMS.sha256` (`sha256sum` format); returns the files checked.
    pub fn verify_all(&self) -> Result<Vec<String>, TaskError> {
        let list = self.root.join("CHECKSUMS.sha256");
        let text = std::fs::read_to_string(&list).map_err(|source| TaskError::Io {
            path: list.clone(),
            source,
        })?;
        let mut checked = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let (hash, name) = line.split_once("  ").ok_or_else(|| TaskError::Format {
                path: list.clone(),
                message: format!("line {}: expected `<sha256>  <path>`", i + 1),
            })?;
            self.read_verified(name, hash)?;
            checked.push(name.to_string());
        }
        Ok(checked)
    }

    /// The checksum listed for `rel` in `CHECKSUMS.sha256`, if any.
    pub fn listed_checksum(&self, rel: &str) -> Result<Option<String>, TaskError> {
        let list = self.root.join("CHECKSUMS.sha256");
        let text = std::fs::read_to_string(&list).map_err(|source| TaskError::Io {
            path: list.clone(),
            source,
        })?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once("  "))
            .find(|(_, n)| *n == rel)
            .map(|(h, _)| h.to_string()))
    }
}

/// A CSV file as header + string rows.
pub(crate) struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, TaskError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        let fmt = |e: csv::Error| TaskError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let header = reader
            .headers()
            .map_err(fmt)?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Vec::new();
        for rec in reader.records() {
            rows.push(rec.map_err(fmt)?.iter().map(str::to_string).collect());
        }
        Ok(Self { header, rows })
    }

    /// The index of column `name`, or an error naming the file and the column.
    pub fn column(&self, name: &str, path: &Path) -> Result<usize, TaskError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TaskError::Format {
                path: path.to_path_buf(),
                message: format!("no column `{name}` (columns: {})", self.header.join(", ")),
            })
    }
}

/// Decodes a gzipped IDX file: returns (dims, bytes).
pub(crate) fn read_idx_gz(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<u8>), TaskError> {
    use std::io::Read;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut raw)
        .map_err(|e| TaskError::Format {
            path: path.to_path_buf(),
            message: format!("gzip: {e}"),
        })?;
    let bad = |m: &str| TaskError::Format {
        path: path.to_path_buf(),
        message: m.to_string(),
    };
    if raw.len() < 4 || raw[0] != 0 || raw[1] != 0 || raw[2] != 0x08 {
        return Err(bad("IDX: expected magic 0x0000_08nn (unsigned bytes)"));
    }
    let ndim = raw[3] as usize;
    let head = 4 + 4 * ndim;
    if raw.len() < head {
        return Err(bad("IDX: truncated header"));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            u32::from_be_bytes(raw[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let n: usize = dims.iter().product();
    if raw.len() != head + n {
        return Err(bad(&format!(
            "IDX: expected {n} data bytes for dims {dims:?}, found {}",
            raw.len() - head
        )));
    }
    Ok((dims, raw[head..].to_vec()))
}

/// Decodes an 8-bit grayscale PNG into (width, height, pixels in [0, 1]).
pub(crate) fn read_gray_png(
    bytes: &[u8],
    path: &Path,
) -> Result<(usize, usize, Vec<f32>), TaskError> {
    let bad = |m: String| TaskError::Format {
        path: path.to_path_buf(),
        message: m,
    };
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(|e| bad(format!("png: {e}")))?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(format!("png: {e}")))?;
    if info.color_type != png::ColorType::Grayscale || info.bit_depth != png::BitDepth::Eight {
        return Err(bad(format!(
            "png: expected 8-bit grayscale, found {:?} {:?}",
            info.color_type, info.bit_depth
        )));
    }
    let (w, h) = (info.width as usize, info.height as usize);
    let pixels = buf[..w * h].iter().map(|&b| b as f32 / 255.0).collect();
    Ok((w, h, pixels))
}
