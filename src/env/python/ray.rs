//! The Ray executor: executions submitted as jobs to an existing Ray cluster through its Jobs
//! REST API (`POST /api/jobs/`, `GET /api/jobs/{id}`, `GET /api/jobs/{id}/logs`,
//! `DELETE /api/jobs/{id}`), so a user with many machines fans executions out without new code.
//!
//! Each job is a folder on a filesystem the cluster's nodes share with this machine
//! (`sandbox::job`): the workspace (training data, the validation and test features, the
//! script; never an answer) and the sandbox's settings. The job's entrypoint is
//! `mlagent sandbox run-job --job-dir DIR`, so the script runs in the same sandbox as a local run,
//! on whichever node Ray picks; the validation predictions are graded here
//! (`super::feedback_of`), as a local run's are. The `mlagent` binary and the interpreter must be
//! at the same paths on every node.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::executor::Job;
use super::{PyFeedback, PythonEnv, PythonEnvError, feedback_of, grade, run_env, write_workspace};
use crate::sandbox::job::{self, JobSpec};
use crate::tasks::python::{SCRIPT, SUBMISSION};

/// Where the cluster is and how jobs reach it.
#[derive(Clone, Debug)]
pub struct RayExecutor {
    /// The Jobs API, e.g. `http://127.0.0.1:8265` (the dashboard's address).
    pub address: String,
    /// A folder every node of the cluster sees at this same path.
    pub shared_dir: PathBuf,
    /// The `mlagent` binary the nodes run (`sandbox run-job`).
    pub mlagent: PathBuf,
    /// Jobs in flight at once.
    pub width: usize,
    /// Seconds a job may wait for a node before it counts as lost (on top of the task's
    /// wall-clock limit and grace).
    pub schedule_seconds: f64,
}

#[derive(Deserialize)]
struct JobStatus {
    status: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct JobLogs {
    logs: String,
}

/// A word for the shell: single-quoted, with each `'` closed, escaped and reopened.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

impl RayExecutor {
    fn error(&self, job: &str, message: impl Into<String>) -> PythonEnvError {
        PythonEnvError::Ray {
            address: self.address.clone(),
            job: job.to_string(),
            message: message.into(),
        }
    }

    /// Runs every job on the cluster; the i-th result is the i-th job's, as
    /// [`super::executor::LocalExecutor::execute_all`] gives it.
    pub fn execute_all(
        &self,
        env: &PythonEnv,
        jobs: &[Job<'_>],
    ) -> Vec<Result<PyFeedback, PythonEnvError>> {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                return jobs
                    .iter()
                    .map(|_| Err(self.error("-", format!("starting the async runtime: {e}"))))
                    .collect();
            }
        };
        let client = reqwest::Client::new();
        let gate = tokio::sync::Semaphore::new(self.width.max(1));
        runtime.block_on(async {
            let runs = jobs.iter().enumerate().map(|(i, j)| {
                let (client, gate) = (&client, &gate);
                async move {
                    let _slot = gate.acquire().await.expect("the semaphore is never closed");
                    self.execute_one(client, env, j, i, false)
                        .await
                        .map(|(feedback, _)| feedback)
                }
            });
            futures_util::future::join_all(runs).await
        })
    }

    /// Runs one script on the cluster, as [`PythonEnv`] runs it locally: its feedback, and
    /// with `grade_test` (evaluation only) its test submission's metric, graded here.
    pub fn execute(
        &self,
        env: &PythonEnv,
        task: &crate::tasks::python::PythonTask,
        script: &str,
        grade_test: bool,
    ) -> Result<(PyFeedback, Option<f64>), PythonEnvError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| self.error("-", format!("starting the async runtime: {e}")))?;
        let client = reqwest::Client::new();
        let job = Job { task, script };
        runtime.block_on(self.execute_one(&client, env, &job, 0, grade_test))
    }

    async fn execute_one(
        &self,
        client: &reqwest::Client,
        env: &PythonEnv,
        j: &Job<'_>,
        i: usize,
        grade_test: bool,
    ) -> Result<(PyFeedback, Option<f64>), PythonEnvError> {
        let task = j.task;
        let (files, answers) = task.workspace_files(&env.data)?;
        let dir = tempfile::Builder::new()
            .prefix("mlagent-ray-")
            .tempdir_in(&self.shared_dir)
            .map_err(|source| PythonEnvError::Io {
                what: format!("creating a job folder in {}", self.shared_dir.display()),
                source,
            })?;
        write_workspace(&dir.path().join(job::WORKSPACE_DIR), &files, j.script)?;
        job::write_spec(
            dir.path(),
            &JobSpec {
                program: env.interpreter.executable.clone(),
                args: vec![SCRIPT.to_string()],
                env: run_env(task),
                limits: task.spec.limits.clone(),
                read_only: env.interpreter.prefixes.clone(),
                allow_unisolated: env.isolation == crate::sandbox::Isolation::AllowUnisolated,
            },
        )?;
        let id = format!(
            "mlagent-{}-{}-{i}",
            std::process::id(),
            dir.path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let entrypoint = format!(
            "{} sandbox run-job --job-dir {}",
            quote(&self.mlagent),
            quote(dir.path())
        );
        let base = self.address.trim_end_matches('/');
        let body = serde_json::json!({"entrypoint": entrypoint, "submission_id": id});
        let r = client
            .post(format!("{base}/api/jobs/"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| self.error(&id, format!("submitting: {}", e.without_url())))?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            return Err(self.error(&id, format!("submitting: HTTP {status}: {text}")));
        }
        let limits = &task.spec.limits;
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs_f64(
                limits.wall_seconds + limits.grace_seconds + self.schedule_seconds,
            );
        let status = loop {
            let s: JobStatus = self
                .get_json(client, &format!("{base}/api/jobs/{id}"), &id)
                .await?;
            if matches!(s.status.as_str(), "SUCCEEDED" | "FAILED" | "STOPPED") {
                break s;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = client
                    .post(format!("{base}/api/jobs/{id}/stop"))
                    .send()
                    .await;
                return Err(self.error(
                    &id,
                    format!(
                        "still {} after the task's wall-clock limit and grace plus {} s to be scheduled; stopped",
                        s.status, self.schedule_seconds
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let outcome = if status.status == "SUCCEEDED" {
            let ws = dir.path().join(job::WORKSPACE_DIR);
            job::read_result(dir.path())
                .map_err(PythonEnvError::from)
                .map(|execution| {
                    let feedback = feedback_of(task, execution, &ws, &answers);
                    let test = (grade_test && feedback.kind == "success")
                        .then(|| grade(task.spec.metric, &ws.join(SUBMISSION), &answers.test).ok())
                        .flatten();
                    (feedback, test)
                })
        } else {
            // The runner itself failed (the script's own failures are feedback, not this).
            let logs = self
                .get_json::<JobLogs>(client, &format!("{base}/api/jobs/{id}/logs"), &id)
                .await
                .map(|l| l.logs)
                .unwrap_or_default();
            let tail: Vec<&str> = logs.lines().rev().take(20).collect();
            Err(self.error(
                &id,
                format!(
                    "the job {}: {}; its log ends:\n{}",
                    status.status,
                    status.message.unwrap_or_default(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ),
            ))
        };
        // Finished jobs are deleted so a long run does not fill the cluster's job table.
        let _ = client.delete(format!("{base}/api/jobs/{id}")).send().await;
        outcome
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        client: &reqwest::Client,
        url: &str,
        id: &str,
    ) -> Result<T, PythonEnvError> {
        let r = client
            .get(url)
            .send()
            .await
            .map_err(|e| self.error(id, format!("polling: {}", e.without_url())))?;
        let status = r.status();
        let bytes = r
            .bytes()
            .await
            .map_err(|e| self.error(id, format!("reading a reply: {}", e.without_url())))?;
        if !status.is_success() {
            return Err(self.error(
                id,
                format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            self.error(
                id,
                format!(
                    "unexpected reply ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(quote(Path::new("/a b/c")), "'/a b/c'");
        assert_eq!(quote(Path::new("/it's")), r"'/it'\''s'");
    }
}
