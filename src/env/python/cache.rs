//! The execution cache: a run of a Python task's script is keyed by the digest of everything
//! that decides its outcome (the workspace's files, the script, the command and its
//! environment, the limits, the interpreter and its installed packages), and a replay of the
//! same key reads the sealed record instead of running again. A record that was edited,
//! renamed or copied under another key is an error naming the file, never a silent result.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{PyFeedback, PythonEnvError};
use crate::provenance::{Digest, atomic, digest_of};
use crate::sandbox::Execution;

/// What a cached execution gave: the feedback and, for an evaluation, the test metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachedRun {
    pub kind: String,
    pub message: String,
    pub metric: Option<f64>,
    /// Graded only for [`Purpose::Evaluate`].
    pub test_metric: Option<f64>,
    pub execution: Option<Execution>,
}

/// Why a script ran: feedback (validation only) or evaluation (validation and test). They are
/// cached apart, so a feedback run never holds a test grade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Execute,
    Evaluate,
}

impl CachedRun {
    pub fn of(feedback: &PyFeedback, test_metric: Option<f64>) -> Self {
        Self {
            kind: feedback.kind.to_string(),
            message: feedback.message.clone(),
            metric: feedback.metric,
            test_metric,
            execution: feedback.execution.clone(),
        }
    }

    /// The feedback again, with its kind checked against the kinds an execution can give.
    pub fn feedback(&self) -> Result<PyFeedback, String> {
        let kind = match self.kind.as_str() {
            "success" => "success",
            "execution_error" => "execution_error",
            "budget_exceeded" => "budget_exceeded",
            other => {
                return Err(format!(
                    "field `kind`: expected success, execution_error or budget_exceeded, got `{other}`"
                ));
            }
        };
        if (kind == "success") != self.metric.is_some_and(f64::is_finite) {
            return Err("field `metric`: expected a finite number exactly for `success`".into());
        }
        Ok(PyFeedback {
            kind,
            message: self.message.clone(),
            metric: self.metric,
            execution: self.execution.clone(),
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealed {
    key: String,
    record: CachedRun,
    digest: String,
}

fn seal_digest(key: &str, record: &CachedRun) -> Result<Digest, String> {
    digest_of(&("mlagent-python-execution-v1", key, record)).map_err(|e| e.to_string())
}

/// The inputs of one execution that decide its outcome.
#[derive(Serialize)]
pub struct KeyInputs<'a> {
    pub purpose: Purpose,
    pub task: &'a str,
    /// `(path in the workspace, sha256)` of every file the workspace starts with.
    pub files: Vec<(String, String)>,
    /// sha256 of the script.
    pub script: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    pub env: &'a [(String, String)],
    pub limits: &'a crate::sandbox::Limits,
    /// [`super::Interpreter::fingerprint`].
    pub interpreter: &'a str,
}

impl KeyInputs<'_> {
    pub fn key(&self) -> Result<Digest, PythonEnvError> {
        digest_of(&("mlagent-python-execution-key-v1", self)).map_err(|e| PythonEnvError::Io {
            what: "computing an execution's cache key".into(),
            source: std::io::Error::other(e.to_string()),
        })
    }
}

/// Sealed records in a folder, one file per key.
#[derive(Clone, Debug)]
pub struct ExecutionCache {
    dir: PathBuf,
}

impl ExecutionCache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, key: &Digest) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn error(path: &Path, message: impl std::fmt::Display) -> PythonEnvError {
        PythonEnvError::Cache {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    /// The feedback and test metric recorded for `key`, if a record was written; an error when
    /// the file is not a record sealed for that key, or its feedback is not one an execution
    /// gives.
    pub fn get(&self, key: &Digest) -> Result<Option<(PyFeedback, Option<f64>)>, PythonEnvError> {
        use std::io::Read as _;
        let path = self.path(key);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::error(&path, e)),
        };
        // A record holds at most two capped outputs: 64 MiB bounds a file that never ends.
        let mut bytes = Vec::new();
        file.take(64 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| Self::error(&path, e))?;
        let fail = |m: String| Self::error(&path, format!("{m}; delete the file to run again"));
        let sealed: Sealed = serde_json::from_slice(&bytes).map_err(|e| {
            fail(format!(
                "expected a sealed record {{key, record, digest}}: {e}"
            ))
        })?;
        if sealed.key != key.to_string() {
            return Err(fail(format!(
                "holds the execution of key {}, expected {key} (the file was renamed or copied)",
                sealed.key
            )));
        }
        let digest = seal_digest(&sealed.key, &sealed.record).map_err(&fail)?;
        if sealed.digest != digest.to_string() {
            return Err(fail(format!(
                "its content has digest {digest}, but the file records {} (the file was edited)",
                sealed.digest
            )));
        }
        let feedback = sealed.record.feedback().map_err(fail)?;
        Ok(Some((feedback, sealed.record.test_metric)))
    }

    /// Writes the record for `key` atomically (a crash leaves the old file or none).
    pub fn put(&self, key: &Digest, record: &CachedRun) -> Result<(), PythonEnvError> {
        let path = self.path(key);
        std::fs::create_dir_all(&self.dir).map_err(|e| Self::error(&self.dir, e))?;
        let k = key.to_string();
        let sealed = Sealed {
            digest: seal_digest(&k, record)
                .map_err(|m| Self::error(&path, m))?
                .to_string(),
            key: k,
            record: record.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&sealed).map_err(|e| Self::error(&path, e))?;
        atomic::write(&path, &bytes).map_err(|e| Self::error(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CachedRun {
        CachedRun {
            kind: "success".into(),
            message: "ran".into(),
            metric: Some(0.75),
            test_metric: None,
            execution: None,
        }
    }

    #[test]
    fn a_record_comes_back_for_its_key_only() {
        let d = tempfile::tempdir().unwrap();
        let cache = ExecutionCache::new(d.path().join("c"));
        let (a, b) = (Digest::of_bytes(b"a"), Digest::of_bytes(b"b"));
        assert_eq!(cache.get(&a).unwrap(), None);
        cache.put(&a, &record()).unwrap();
        let want = record();
        assert_eq!(
            cache.get(&a).unwrap(),
            Some((want.feedback().unwrap(), want.test_metric))
        );
        // Copied under another key: refused, naming the file.
        std::fs::copy(cache.path(&a), cache.path(&b)).unwrap();
        let e = cache.get(&b).unwrap_err().to_string();
        assert!(
            e.contains(&b.to_string()) && e.contains("renamed or copied"),
            "{e}"
        );
    }

    #[test]
    fn an_edited_or_malformed_record_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let cache = ExecutionCache::new(d.path().to_path_buf());
        let k = Digest::of_bytes(b"k");
        cache.put(&k, &record()).unwrap();
        let text = std::fs::read_to_string(cache.path(&k)).unwrap();
        std::fs::write(cache.path(&k), text.replace("0.75", "0.99")).unwrap();
        let e = cache.get(&k).unwrap_err().to_string();
        assert!(e.contains("was edited"), "{e}");
        std::fs::write(cache.path(&k), b"{\"key\": 3").unwrap();
        let e = cache.get(&k).unwrap_err().to_string();
        assert!(e.contains("expected a sealed record"), "{e}");
        let mut bad = record();
        bad.kind = "non_edit".into();
        cache.put(&k, &bad).unwrap();
        let e = cache.get(&k).unwrap_err().to_string();
        assert!(e.contains("field `kind`"), "{e}");
    }
}
