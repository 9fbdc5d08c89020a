//! The local executor: many executions of Python tasks' scripts at once on this machine, at
//! most `width` in flight, each in its own sandbox (its own uid, cgroup and workspace). Results
//! come back in the order of the jobs, whatever order they finish in, so a caller's outcome
//! does not depend on scheduling.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{PyFeedback, PythonEnv, PythonEnvError};
use crate::tasks::python::PythonTask;

/// One execution: the task and the script to run as its `train.py`.
#[derive(Clone, Copy, Debug)]
pub struct Job<'a> {
    pub task: &'a PythonTask,
    pub script: &'a str,
}

/// Runs jobs on this machine's cores through one [`PythonEnv`].
pub struct LocalExecutor<'a> {
    env: &'a PythonEnv,
    width: usize,
}

impl<'a> LocalExecutor<'a> {
    /// `width`: executions in flight at once (at least 1).
    pub fn new(env: &'a PythonEnv, width: usize) -> Self {
        Self {
            env,
            width: width.max(1),
        }
    }

    /// Runs every job; the i-th result is the i-th job's. A job's error (the sandbox could not
    /// start, a workspace could not be written) is its result alone: the others still run.
    pub fn execute_all(&self, jobs: &[Job<'_>]) -> Vec<Result<PyFeedback, PythonEnvError>> {
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Result<PyFeedback, PythonEnvError>>>> =
            jobs.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..self.width.min(jobs.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        let result = self.env.execute(job.task, job.script);
                        *slots[i]
                            .lock()
                            .expect("a result slot is written by one worker") = Some(result);
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|s| {
                s.into_inner()
                    .expect("a result slot is written by one worker")
                    .expect("every job index below the job count is taken by a worker")
            })
            .collect()
    }
}
