//! A sandboxed execution described in files, so that another machine can run it: an executor
//! writes a job folder on a filesystem both machines share (`job.json` and `workspace/`), the
//! remote side runs `mlagent sandbox run-job --job-dir DIR` (the same sandbox as a local run)
//! and writes `execution.json` next to the workspace, where the script, confined to its
//! workspace, cannot forge it. Nothing in a job folder is secret: the answers that grade the
//! script stay with the executor.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Execution, Isolation, Limits, Sandbox, SandboxError};

/// The job's description.
pub const SPEC_FILE: &str = "job.json";
/// The folder the script runs in.
pub const WORKSPACE_DIR: &str = "workspace";
/// What the execution did, written by the runner when it ends.
pub const RESULT_FILE: &str = "execution.json";

/// What to run, as [`Sandbox::run`] takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// An absolute path that exists on the machine that runs the job.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    /// Host folders mounted read-only (the interpreter's prefixes).
    pub read_only: Vec<PathBuf>,
    /// Run with process limits only where the machine cannot isolate.
    pub allow_unisolated: bool,
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Io {
        what: path.display().to_string(),
        source,
    }
}

fn invalid(path: &Path, message: String) -> SandboxError {
    SandboxError::Io {
        what: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    }
}

/// Reads at most 64 MiB of a JSON file into `T` (a file that never ends cannot exhaust memory).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, SandboxError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io_at(path))?
        .take(64 << 20)
        .read_to_end(&mut bytes)
        .map_err(io_at(path))?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(path, format!("expected {what}: {e}")))
}

/// Writes the job's description into `dir` (its workspace is the caller's to fill).
pub fn write_spec(dir: &Path, spec: &JobSpec) -> Result<(), SandboxError> {
    let path = dir.join(SPEC_FILE);
    let bytes = serde_json::to_vec_pretty(spec).expect("a job spec serialises");
    crate::provenance::atomic::write(&path, &bytes)
        .map_err(|e| invalid(&path, format!("writing: {e}")))
}

/// Runs the job in `dir` in this machine's sandbox and writes its record.
pub fn run(dir: &Path) -> Result<Execution, SandboxError> {
    let spec: JobSpec = read_json(&dir.join(SPEC_FILE), "a job spec (JobSpec)")?;
    let isolation = if spec.allow_unisolated {
        Isolation::AllowUnisolated
    } else {
        Isolation::Required
    };
    let sandbox = Sandbox::new(spec.limits.clone(), spec.read_only.clone(), isolation)?;
    let workspace = dir.join(WORKSPACE_DIR);
    let execution = sandbox.run(&workspace, &spec.program, &spec.args, &spec.env)?;
    let path = dir.join(RESULT_FILE);
    let bytes = serde_json::to_vec(&execution).expect("an execution record serialises");
    crate::provenance::atomic::write(&path, &bytes)
        .map_err(|e| invalid(&path, format!("writing: {e}")))?;
    Ok(execution)
}

/// The record the runner wrote in `dir`.
pub fn read_result(dir: &Path) -> Result<Execution, SandboxError> {
    read_json(&dir.join(RESULT_FILE), "an execution record")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_job_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let e = run(d.path()).unwrap_err().to_string();
        assert!(e.contains(SPEC_FILE), "{e}");
        std::fs::write(d.path().join(SPEC_FILE), b"{\"program\": 3}").unwrap();
        let e = run(d.path()).unwrap_err().to_string();
        assert!(
            e.contains(SPEC_FILE) && e.contains("expected a job spec"),
            "{e}"
        );
        let e = read_result(d.path()).unwrap_err().to_string();
        assert!(e.contains(RESULT_FILE), "{e}");
    }

    #[test]
    fn a_spec_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let spec = JobSpec {
            program: "/usr/bin/python3".into(),
            args: vec!["train.py".into()],
            env: vec![("PYTHONHASHSEED".into(), "0".into())],
            limits: Limits::default(),
            read_only: vec!["/usr".into()],
            allow_unisolated: false,
        };
        write_spec(d.path(), &spec).unwrap();
        let back: JobSpec = read_json(&d.path().join(SPEC_FILE), "a job spec").unwrap();
        assert_eq!(back, spec);
    }
}
