//! Running a Python task's script (docs/sandbox.md): a fresh workspace per execution, the
//! script in the sandbox, its validation predictions graded here with the task's metric, and
//! the outcome as feedback in the reward's terms. Test predictions are graded only by
//! [`PythonEnv::evaluate`], never for feedback.

pub mod action;
pub mod cache;
pub mod executor;
pub mod ray;

use std::path::{Path, PathBuf};

use serde::Serialize;

use action::{PyAction, PyActionKind};

use crate::reward::{RewardConfig, StepOutcome, reward};
use crate::sandbox::{Execution, Isolation, Sandbox, SandboxError};
use crate::tasks::python::{
    Answers, PythonTask, SCRIPT, SUBMISSION, TEST_CSV, TRAIN_CSV, VALID_CSV, VALID_PREDICTIONS,
};
use crate::tasks::{DataDir, TaskError, TaskMetric};

#[derive(Debug, thiserror::Error)]
pub enum PythonEnvError {
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("python interpreter `{python}`: {message}")]
    Interpreter { python: String, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Reward(#[from] crate::reward::RewardError),
    #[error("Ray cluster {address}, job {job}: {message}")]
    Ray {
        address: String,
        job: String,
        message: String,
    },
    #[error("execution cache {path}: {message}")]
    Cache { path: PathBuf, message: String },
    #[error(
        "task `{task}`: the episode's first script gave no validation metric ({kind}: {message})"
    )]
    NoBaseline {
        task: String,
        kind: &'static str,
        message: String,
    },
}

/// An interpreter: its executable and the folders it reads (its prefix and base prefix), found
/// by asking it outside the sandbox.
#[derive(Clone, Debug)]
pub struct Interpreter {
    pub executable: PathBuf,
    pub prefixes: Vec<PathBuf>,
    /// sha256 of the interpreter's version and its installed distributions (`name==version`,
    /// sorted): part of every execution's cache key, so upgrading a package runs scripts anew.
    pub fingerprint: String,
}

impl Interpreter {
    /// `python` may be a name on `PATH` or a path (a virtual environment's `bin/python`).
    pub fn find(python: &str) -> Result<Self, PythonEnvError> {
        let fail = |message: String| PythonEnvError::Interpreter {
            python: python.into(),
            message,
        };
        let out = std::process::Command::new(python)
            .args([
                "-c",
                "import sys, importlib.metadata as m; print(sys.executable); print(sys.prefix); \
                 print(sys.base_prefix); print(sys.version.replace(chr(10), ' ')); \
                 [print(n) for n in sorted({f\"{d.metadata['Name']}=={d.version}\" \
                 for d in m.distributions()})]",
            ])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .map_err(|e| fail(format!("cannot start it: {e}")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        let [exe, prefix, base, ..] = lines[..] else {
            return Err(fail(format!(
                "unexpected answer to sys.executable: {text:?}"
            )));
        };
        // A virtual environment's `bin/python` is a link into the base interpreter: keep the
        // link (so the venv's site-packages are found) and mount both prefixes.
        let executable = PathBuf::from(exe);
        let mut prefixes = vec![PathBuf::from(prefix)];
        if base != prefix {
            prefixes.push(PathBuf::from(base));
        }
        if let Ok(real) = executable.canonicalize()
            && !prefixes.iter().any(|p| real.starts_with(p))
            && let Some(dir) = real.parent().and_then(Path::parent)
        {
            prefixes.push(dir.to_path_buf());
        }
        let fingerprint = crate::provenance::Digest::of_bytes(lines[3..].join("\n").as_bytes());
        Ok(Self {
            executable,
            prefixes,
            fingerprint: fingerprint.to_string(),
        })
    }
}

/// What the agent is told after an action or an execution, in the reward's terms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PyFeedback {
    /// `success`, `execution_error`, `budget_exceeded` (a limit hit: the reward's corner case),
    /// `non_edit` or `invalid_action`.
    pub kind: &'static str,
    pub message: String,
    /// The validation metric, on success.
    pub metric: Option<f64>,
    /// What the sandbox recorded, when the script ran.
    pub execution: Option<Execution>,
}

impl PyFeedback {
    fn said(kind: &'static str, message: String) -> Self {
        Self {
            kind,
            message,
            metric: None,
            execution: None,
        }
    }

    /// The feedback in the workbench's terms, which every agent reads (`agent::environment`):
    /// a sandbox limit hit is a `BudgetExceeded` without work figures.
    pub fn to_feedback(&self) -> crate::env::Feedback {
        use crate::env::Feedback;
        let message = self.message.clone();
        match (self.kind, self.metric) {
            ("success", Some(metric)) => Feedback::Success { metric, message },
            ("budget_exceeded", _) => Feedback::BudgetExceeded {
                message,
                planned_work: None,
                budget: None,
            },
            ("non_edit", _) => Feedback::NonEdit { message },
            ("invalid_action", _) => Feedback::InvalidAction { message },
            _ => Feedback::ExecutionError { message },
        }
    }

    pub fn outcome(&self) -> StepOutcome {
        match (self.kind, self.metric) {
            ("success", Some(metric)) => StepOutcome::Success { metric },
            ("budget_exceeded", _) => StepOutcome::BudgetExceeded,
            ("non_edit", _) => StepOutcome::NonEdit,
            ("invalid_action", _) => StepOutcome::InvalidAction,
            _ => StepOutcome::ExecutionError,
        }
    }
}

/// One execution as a stage run keeps it (`executions.jsonl`): its cache key and what it gave.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRecord {
    pub key: String,
    pub record: cache::CachedRun,
}

/// Where an episode in the Python environment stands.
#[derive(Clone, Debug, PartialEq)]
pub struct PyState {
    /// The current `train.py`.
    pub script: String,
    /// The validation metric of the last script that ran successfully (the reward's baseline).
    pub metric: f64,
    /// The scripts and metrics before each edit, for Undo Edit Script.
    pub history: Vec<(String, f64)>,
}

/// One step's result.
#[derive(Clone, Debug)]
pub struct PyStep {
    pub feedback: PyFeedback,
    pub reward: f64,
    /// `Final Answer` ends the episode.
    pub done: bool,
    pub previous_metric: f64,
    pub next: PyState,
    /// The step's execution was a replay from the execution cache.
    pub cached: bool,
}

/// Python tasks' executions on this machine.
pub struct PythonEnv {
    data: DataDir,
    interpreter: Interpreter,
    isolation: Isolation,
    scratch: PathBuf,
    cache: Option<cache::ExecutionCache>,
    /// The reward of agents' steps (`agent::environment`); reward v1 unless set.
    pub reward_config: RewardConfig,
    /// The tasks a pipeline finds by id (`stages::environment`); none unless set.
    pub tasks: Vec<PythonTask>,
    /// Every execution of this process by its cache key, when kept (`with_memo`).
    memo: Option<Memo>,
    /// The executions used since `begin_recording` (`with_memo` only).
    used: Option<
        std::sync::Mutex<std::collections::BTreeMap<crate::provenance::Digest, cache::CachedRun>>,
    >,
    /// Executions go to this Ray cluster instead of this machine's sandbox (`with_ray`).
    remote: Option<ray::RayExecutor>,
}

type Memo = std::sync::Mutex<
    std::collections::HashMap<crate::provenance::Digest, (PyFeedback, Option<f64>)>,
>;

/// The last `n` lines of `text`, for error messages.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl PythonEnv {
    pub fn new(data: DataDir, interpreter: Interpreter, isolation: Isolation) -> Self {
        Self {
            data,
            interpreter,
            isolation,
            scratch: std::env::temp_dir(),
            cache: None,
            reward_config: RewardConfig::v1(),
            tasks: Vec::new(),
            memo: None,
            used: None,
            remote: None,
        }
    }

    /// Executions are cached in `dir` (`cache::ExecutionCache`): a replay of the same workspace,
    /// script, command, limits and interpreter reads the record instead of running.
    pub fn with_cache(mut self, dir: PathBuf) -> Self {
        self.cache = Some(cache::ExecutionCache::new(dir));
        self
    }

    /// Keeps every execution's result for the life of this value, so the same script on the
    /// same task runs once (a pipeline replays recorded episodes and restarts episodes from
    /// the starter often).
    pub fn with_memo(mut self) -> Self {
        self.memo = Some(Default::default());
        self.used = Some(Default::default());
        self
    }

    /// Every execution runs as a job on `cluster` (`ray::RayExecutor`): the same sandbox and
    /// grading on whichever node Ray picks, so the results are a local run's.
    pub fn with_ray(mut self, cluster: ray::RayExecutor) -> Self {
        self.remote = Some(cluster);
        self
    }

    /// The tasks a pipeline finds by id.
    pub fn with_tasks(mut self, tasks: Vec<PythonTask>) -> Self {
        self.tasks = tasks;
        self
    }

    /// Workspaces are created under `dir` instead of the system's temporary folder.
    pub fn with_scratch(mut self, dir: PathBuf) -> Self {
        self.scratch = dir;
        self
    }

    /// Runs `script` as the task's `train.py` in a fresh workspace; returns the feedback and
    /// the workspace (the caller may read `submission.csv` from it) with the answers.
    fn run(
        &self,
        task: &PythonTask,
        files: &[(&'static str, Vec<u8>)],
        answers: &Answers,
        script: &str,
    ) -> Result<(PyFeedback, tempfile::TempDir), PythonEnvError> {
        let ws = tempfile::Builder::new()
            .prefix("mlagent-ws-")
            .tempdir_in(&self.scratch)
            .map_err(|source| PythonEnvError::Io {
                what: "creating a workspace".into(),
                source,
            })?;
        write_workspace(ws.path(), files, script)?;
        let sandbox = Sandbox::new(
            task.spec.limits.clone(),
            self.interpreter.prefixes.clone(),
            self.isolation,
        )?;
        let execution = sandbox.run(
            ws.path(),
            &self.interpreter.executable,
            &[SCRIPT.to_string()],
            &run_env(task),
        )?;
        let feedback = feedback_of(task, execution, ws.path(), answers);
        Ok((feedback, ws))
    }

    /// Runs `script` for `purpose`, or replays its cached record: the feedback, the test metric
    /// (evaluation only) and whether it was a replay.
    fn run_cached(
        &self,
        purpose: cache::Purpose,
        task: &PythonTask,
        script: &str,
    ) -> Result<(PyFeedback, Option<f64>, bool), PythonEnvError> {
        let (files, answers) = task.workspace_files(&self.data)?;
        let env = run_env(task);
        let key = cache::KeyInputs {
            purpose,
            task: &task.spec.id,
            files: files
                .iter()
                .map(|(rel, bytes)| {
                    (
                        rel.to_string(),
                        crate::provenance::Digest::of_bytes(bytes).to_string(),
                    )
                })
                .collect(),
            script: crate::provenance::Digest::of_bytes(script.as_bytes()).to_string(),
            command: vec![
                self.interpreter.executable.display().to_string(),
                SCRIPT.to_string(),
            ],
            env: &env,
            limits: &task.spec.limits,
            interpreter: &self.interpreter.fingerprint,
        }
        .key()?;
        if let Some(memo) = &self.memo
            && let Some((feedback, test)) = memo
                .lock()
                .expect("the memo lock is never poisoned: no code panics while holding it")
                .get(&key)
                .cloned()
        {
            self.note_used(key, &feedback, test);
            return Ok((feedback, test, true));
        }
        if let Some(c) = &self.cache
            && let Some((feedback, test)) = c.get(&key)?
        {
            self.remember(key, &feedback, test);
            return Ok((feedback, test, true));
        }
        let evaluate = purpose == cache::Purpose::Evaluate;
        let (feedback, test) = match &self.remote {
            Some(cluster) => cluster.execute(self, task, script, evaluate)?,
            None => {
                let (feedback, ws) = self.run(task, &files, &answers, script)?;
                let test = if evaluate && feedback.kind == "success" {
                    grade(task.spec.metric, &ws.path().join(SUBMISSION), &answers.test).ok()
                } else {
                    None
                };
                (feedback, test)
            }
        };
        if let Some(c) = &self.cache {
            c.put(&key, &cache::CachedRun::of(&feedback, test))?;
        }
        self.remember(key, &feedback, test);
        Ok((feedback, test, false))
    }

    /// Keeps an execution's result for the rest of the process (a replay of a recorded
    /// episode, or an episode's start, reruns nothing), and notes that it was used.
    fn remember(&self, key: crate::provenance::Digest, feedback: &PyFeedback, test: Option<f64>) {
        if let Some(memo) = &self.memo {
            memo.lock()
                .expect("the memo lock is never poisoned: no code panics while holding it")
                .insert(key, (feedback.clone(), test));
        }
        self.note_used(key, feedback, test);
    }

    fn note_used(&self, key: crate::provenance::Digest, feedback: &PyFeedback, test: Option<f64>) {
        if let Some(used) = &self.used {
            let mut record = cache::CachedRun::of(feedback, test);
            // What the sandbox measured (times, memory) depends on the machine; the record a
            // store keeps holds only what decides the feedback.
            record.execution = None;
            used.lock()
                .expect("the used-executions lock is never poisoned")
                .insert(key, record);
        }
    }

    /// Starts noting every execution used (`with_memo` only), and forgets what was noted.
    pub fn begin_recording(&self) {
        if let Some(used) = &self.used {
            used.lock()
                .expect("the used-executions lock is never poisoned")
                .clear();
        }
    }

    /// Every execution used since `begin_recording`, by key (what a stage run keeps of the
    /// environment: `stages::environment`).
    pub fn recorded(&self) -> Vec<ExecutionRecord> {
        self.used.as_ref().map_or_else(Vec::new, |used| {
            used.lock()
                .expect("the used-executions lock is never poisoned")
                .iter()
                .map(|(key, record)| ExecutionRecord {
                    key: key.to_string(),
                    record: record.clone(),
                })
                .collect()
        })
    }

    /// Takes recorded executions in (a parent stage run's), so their scripts never run again in
    /// this process; a record whose values do not hold is an error naming its key.
    pub fn preload(&self, records: &[ExecutionRecord]) -> Result<(), String> {
        let Some(memo) = &self.memo else {
            return Ok(());
        };
        let mut memo = memo
            .lock()
            .expect("the memo lock is never poisoned: no code panics while holding it");
        for r in records {
            let key: crate::provenance::Digest = r
                .key
                .parse()
                .map_err(|e| format!("execution record: {e}"))?;
            let feedback = r
                .record
                .feedback()
                .map_err(|e| format!("execution record {key}: {e}"))?;
            memo.insert(key, (feedback, r.record.test_metric));
        }
        Ok(())
    }

    /// The state at the start of an episode from `script`: it is run once for its metric.
    pub fn start(&self, task: &PythonTask, script: &str) -> Result<PyState, PythonEnvError> {
        let fb = self.execute(task, script)?;
        let metric = fb.metric.ok_or_else(|| PythonEnvError::NoBaseline {
            task: task.spec.id.clone(),
            kind: fb.kind,
            message: fb.message.clone(),
        })?;
        Ok(PyState {
            script: script.to_string(),
            metric,
            history: Vec::new(),
        })
    }

    /// One agent step: parse the action, act, run the script when an edit asks for it, and
    /// reward the outcome against the state's metric.
    pub fn step(
        &self,
        task: &PythonTask,
        state: &PyState,
        action_text: &str,
        cfg: &RewardConfig,
    ) -> Result<PyStep, PythonEnvError> {
        let mut next = state.clone();
        let mut done = false;
        let mut cached = false;
        let feedback = match PyAction::parse(action_text) {
            Err(e) => PyFeedback::said("invalid_action", e.to_string()),
            Ok(a) => match a.kind {
                PyActionKind::FinalAnswer => {
                    done = true;
                    PyFeedback::said("non_edit", "episode ended".into())
                }
                PyActionKind::ListFiles => {
                    let (files, _) = task.workspace_files(&self.data)?;
                    let mut lines = vec![format!("{SCRIPT} ({} bytes)", state.script.len())];
                    lines.extend(
                        files
                            .iter()
                            .map(|(p, b)| format!("{p} ({} bytes)", b.len())),
                    );
                    PyFeedback::said("non_edit", lines.join("\n"))
                }
                PyActionKind::InspectScriptLines => match inspect(&state.script, &a.input) {
                    Ok(text) => PyFeedback::said("non_edit", text),
                    Err(m) => PyFeedback::said("invalid_action", m),
                },
                PyActionKind::UnderstandFile => match self.understand(task, state, &a.input)? {
                    Ok(text) => PyFeedback::said("non_edit", text),
                    Err(m) => PyFeedback::said("invalid_action", m),
                },
                PyActionKind::UndoEditScript => match next.history.pop() {
                    Some((script, metric)) => {
                        next.script = script;
                        next.metric = metric;
                        PyFeedback::said(
                            "non_edit",
                            format!(
                                "train.py is back to before the last edit (validation {} = {metric})",
                                task.spec.metric.name()
                            ),
                        )
                    }
                    None => PyFeedback::said("invalid_action", "there is no edit to undo".into()),
                },
                PyActionKind::ExecuteScript if a.input != SCRIPT => PyFeedback::said(
                    "invalid_action",
                    format!("only {SCRIPT} can be executed, got `{}`", a.input),
                ),
                PyActionKind::ExecuteScript => {
                    // Running the unchanged script changes nothing: a non-edit, with its output.
                    let (mut fb, hit) = self.execute_cached(task, &state.script)?;
                    cached = hit;
                    if fb.kind == "success" {
                        let out = fb
                            .execution
                            .as_ref()
                            .map(|e| tail(&e.stdout, 20))
                            .unwrap_or_default();
                        fb.message = format!("{}\n{out}", fb.message);
                        fb.kind = "non_edit";
                    }
                    fb
                }
                PyActionKind::EditScript if a.input != SCRIPT => PyFeedback::said(
                    "invalid_action",
                    format!("only {SCRIPT} can be edited, got `{}`", a.input),
                ),
                PyActionKind::EditScript => match action::apply(&state.script, &a.blocks) {
                    Err(m) => PyFeedback::said("invalid_action", m),
                    Ok(script) => {
                        next.history.push((state.script.clone(), state.metric));
                        let (mut fb, hit) = self.execute_cached(task, &script)?;
                        cached = hit;
                        next.script = script;
                        // As the workbench says it: the new metric against the script before.
                        if let (Some(m), "success") = (fb.metric, fb.kind) {
                            fb.message = format!(
                                "validation {} = {}",
                                task.spec.metric.name(),
                                crate::env::workbench::compare_metric(
                                    m,
                                    state.metric,
                                    task.spec.metric.direction()
                                )
                            );
                        }
                        if let Some(m) = fb.metric {
                            next.metric = m;
                        }
                        fb
                    }
                },
            },
        };
        let reward = Self::reward(task, &feedback, state.metric, cfg)?;
        Ok(PyStep {
            feedback,
            reward,
            done,
            previous_metric: state.metric,
            next,
            cached,
        })
    }

    /// Understand File: the script, or a data file's header, size and first rows.
    fn understand(
        &self,
        task: &PythonTask,
        state: &PyState,
        file: &str,
    ) -> Result<Result<String, String>, PythonEnvError> {
        if file == SCRIPT {
            return Ok(Ok(state.script.clone()));
        }
        let (files, _) = task.workspace_files(&self.data)?;
        let Some((_, bytes)) = files.iter().find(|(p, _)| *p == file) else {
            return Ok(Err(format!(
                "no file `{file}` (files: {SCRIPT}, {TRAIN_CSV}, {VALID_CSV}, {TEST_CSV})"
            )));
        };
        let text = String::from_utf8_lossy(bytes);
        let rows = text.lines().count().saturating_sub(1);
        let head: Vec<&str> = text.lines().take(4).collect();
        Ok(Ok(format!(
            "{file}: {rows} rows; header and first rows:\n{}",
            head.join("\n")
        )))
    }

    /// Runs `script` and grades its validation predictions.
    pub fn execute(&self, task: &PythonTask, script: &str) -> Result<PyFeedback, PythonEnvError> {
        Ok(self.run_cached(cache::Purpose::Execute, task, script)?.0)
    }

    /// As [`Self::execute`], and whether the feedback is a cached replay.
    pub fn execute_cached(
        &self,
        task: &PythonTask,
        script: &str,
    ) -> Result<(PyFeedback, bool), PythonEnvError> {
        let (feedback, _, hit) = self.run_cached(cache::Purpose::Execute, task, script)?;
        Ok((feedback, hit))
    }

    /// The reward of `feedback` against `previous` (the validation metric of the script it
    /// replaced, e.g. the starter's).
    pub fn reward(
        task: &PythonTask,
        feedback: &PyFeedback,
        previous: f64,
        cfg: &RewardConfig,
    ) -> Result<f64, PythonEnvError> {
        Ok(reward(
            &feedback.outcome(),
            previous,
            task.spec.metric.direction(),
            task.spec.reward_scale,
            cfg,
        )?)
    }

    /// Runs `script` and grades both its validation predictions and its test submission
    /// (evaluation only): `(feedback, test metric)`.
    pub fn evaluate(
        &self,
        task: &PythonTask,
        script: &str,
    ) -> Result<(PyFeedback, Option<f64>), PythonEnvError> {
        let (feedback, test, _) = self.run_cached(cache::Purpose::Evaluate, task, script)?;
        Ok((feedback, test))
    }
}

/// Writes a workspace: the task's files and the script as `train.py`.
pub(crate) fn write_workspace(
    dir: &Path,
    files: &[(&'static str, Vec<u8>)],
    script: &str,
) -> Result<(), PythonEnvError> {
    let write = |rel: &str, bytes: &[u8]| {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|source| PythonEnvError::Io {
                what: format!("creating {}", parent.display()),
                source,
            })?;
        }
        std::fs::write(&p, bytes).map_err(|source| PythonEnvError::Io {
            what: format!("writing {}", p.display()),
            source,
        })
    };
    for (rel, bytes) in files {
        write(rel, bytes)?;
    }
    write(SCRIPT, script.as_bytes())
}

/// The feedback of an execution of `task`'s script whose workspace is `ws`: a limit hit, an
/// error with the end of stderr, or the validation predictions graded against `answers`. Every
/// executor ends here, so a run gives the same feedback wherever it ran.
pub(crate) fn feedback_of(
    task: &PythonTask,
    execution: Execution,
    ws: &Path,
    answers: &Answers,
) -> PyFeedback {
    if let Some(hit) = execution.limit {
        PyFeedback {
            kind: "budget_exceeded",
            message: hit.describe(&task.spec.limits),
            metric: None,
            execution: Some(execution),
        }
    } else if !execution.succeeded() {
        let how = match (execution.exit_code, execution.signal) {
            (Some(c), _) => format!("exited with status {c}"),
            (_, Some(s)) => format!("was killed by signal {s}"),
            _ => "ended abnormally".into(),
        };
        PyFeedback {
            kind: "execution_error",
            message: format!("the script {how}:\n{}", tail(&execution.stderr, 20)),
            metric: None,
            execution: Some(execution),
        }
    } else {
        match grade(
            task.spec.metric,
            &ws.join(VALID_PREDICTIONS),
            &answers.valid,
        ) {
            Ok(metric) => PyFeedback {
                kind: "success",
                // No wall time here: what the agent reads must not depend on the machine's
                // speed (the execution record keeps it).
                message: format!("validation {} = {metric}", task.spec.metric.name()),
                metric: Some(metric),
                execution: Some(execution),
            },
            Err(problem) => PyFeedback {
                kind: "execution_error",
                message: format!("the script ran but {VALID_PREDICTIONS} {problem}"),
                metric: None,
                execution: Some(execution),
            },
        }
    }
}

/// The environment of a task's execution: seeds pinned.
fn run_env(task: &PythonTask) -> Vec<(String, String)> {
    vec![
        ("PYTHONHASHSEED".to_string(), "0".to_string()),
        (
            "MLAGENT_SEED".to_string(),
            task.spec.split_rule.seed.to_string(),
        ),
    ]
}

/// Inspect Script Lines: `train.py` or `train.py A-B` (1-based, inclusive, at most 100 lines).
fn inspect(script: &str, input: &str) -> Result<String, String> {
    let mut parts = input.split_whitespace();
    if parts.next() != Some(SCRIPT) {
        return Err(format!(
            "expected `{SCRIPT}` or `{SCRIPT} A-B`, got `{input}`"
        ));
    }
    let lines: Vec<&str> = script.lines().collect();
    let (a, b) = match parts.next() {
        None => (1, lines.len().min(100)),
        Some(range) => {
            let (a, b) = range
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
                .filter(|&(a, b)| a >= 1 && a <= b)
                .ok_or_else(|| format!("expected a line range `A-B`, got `{range}`"))?;
            (a, b.min(a + 99).min(lines.len()))
        }
    };
    if a > lines.len() {
        return Err(format!("{SCRIPT} has {} lines", lines.len()));
    }
    Ok((a..=b)
        .map(|i| format!("{i:>4} {}", lines[i - 1]))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Grades a predictions file (`id,prediction`, one row per id of `answers`, any order) with
/// `metric`; the error says what is wrong with the file, for the agent to read.
pub fn grade(
    metric: TaskMetric,
    predictions: &Path,
    answers: &[(String, String)],
) -> Result<f64, String> {
    const MAX_BYTES: u64 = 64 << 20;
    let meta = std::fs::symlink_metadata(predictions).map_err(|_| {
        format!("was not written (expected it next to {SCRIPT}; {TEST_CSV} has the ids)")
    })?;
    if !meta.is_file() {
        return Err("is not a plain file".into());
    }
    if meta.len() > MAX_BYTES {
        return Err(format!("is larger than {} MiB", MAX_BYTES >> 20));
    }
    let bytes = std::fs::read(predictions).map_err(|e| format!("cannot be read: {e}"))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&bytes[..]);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("is not CSV: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header != ["id", "prediction"] {
        return Err(format!(
            "must have the header `id,prediction`, found `{}`",
            header.join(",")
        ));
    }
    let mut by_id = std::collections::HashMap::new();
    for (line, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| format!("is not CSV at row {}: {e}", line + 2))?;
        if rec.len() != 2 {
            return Err(format!(
                "row {} has {} fields, expected 2",
                line + 2,
                rec.len()
            ));
        }
        let id = rec[0].trim().to_string();
        if by_id
            .insert(id.clone(), rec[1].trim().to_string())
            .is_some()
        {
            return Err(format!("has id {id} twice"));
        }
    }
    if by_id.len() != answers.len() {
        return Err(format!(
            "has {} rows, expected one per id ({})",
            by_id.len(),
            answers.len()
        ));
    }
    let mut truth = Vec::with_capacity(answers.len());
    let mut pred = Vec::with_capacity(answers.len());
    for (id, label) in answers {
        let p = by_id
            .get(id)
            .ok_or_else(|| format!("has no prediction for id {id}"))?;
        truth.push(label.as_str());
        pred.push(p.as_str());
    }
    let number = |s: &str| -> Result<f64, String> {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("has `{s}` where a finite number was expected"))
    };
    let value = match metric {
        TaskMetric::AccuracyPercent => crate::metrics::accuracy(&truth, &pred).map(|a| 100.0 * a),
        TaskMetric::Rmse
        | TaskMetric::Mae
        | TaskMetric::RocAuc
        | TaskMetric::Qwk
        | TaskMetric::Pearson => {
            let t = truth
                .iter()
                .map(|s| number(s))
                .collect::<Result<Vec<_>, _>>()?;
            let p = pred
                .iter()
                .map(|s| number(s))
                .collect::<Result<Vec<_>, _>>()?;
            match metric {
                TaskMetric::Rmse => crate::metrics::rmse(&t, &p),
                TaskMetric::Mae => crate::metrics::mae(&t, &p),
                TaskMetric::RocAuc => crate::metrics::roc_auc(&t, &p),
                TaskMetric::Qwk => crate::metrics::qwk(&t, &p),
                _ => crate::metrics::pearson(&t, &p),
            }
        }
        other => return Err(format!("cannot be graded with {}", other.name())),
    };
    value.map_err(|e| format!("cannot be graded: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answers() -> Vec<(String, String)> {
        vec![("1".into(), "a".into()), ("2".into(), "b".into())]
    }

    fn graded(text: &[u8], metric: TaskMetric) -> Result<f64, String> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let p = dir.path().join(VALID_PREDICTIONS);
        std::fs::write(&p, text).expect("write");
        grade(metric, &p, &answers())
    }

    #[test]
    fn predictions_are_matched_by_id_in_any_order() {
        let v = graded(b"id,prediction\n2,b\n1,x\n", TaskMetric::AccuracyPercent);
        assert_eq!(v, Ok(50.0));
    }

    #[test]
    fn a_bad_file_says_what_is_wrong() {
        let cases: [(&[u8], &str); 5] = [
            (b"id,pred\n1,a\n2,b\n", "header"),
            (b"id,prediction\n1,a\n1,b\n", "twice"),
            (b"id,prediction\n1,a\n", "one per id"),
            (b"id,prediction\n1,a\n3,b\n", "no prediction for id 2"),
            (b"id,prediction\n1,a,c\n2,b\n", "CSV"),
        ];
        for (text, expected) in cases {
            let e = graded(text, TaskMetric::AccuracyPercent).unwrap_err();
            assert!(e.contains(expected), "{e}");
        }
        let e = graded(b"id,prediction\n1,NaN\n2,3\n", TaskMetric::Rmse).unwrap_err();
        assert!(e.contains("finite number"), "{e}");
    }

    proptest! {
        /// Whatever a script writes, grading returns a value or a message; it never panics.
        #[test]
        fn grading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for metric in [TaskMetric::AccuracyPercent, TaskMetric::Rmse, TaskMetric::Mae] {
                let _ = graded(&bytes, metric);
            }
        }
    }
}
