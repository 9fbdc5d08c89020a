//! The workbench: takes one agent action against a task's current script and returns the
//! feedback, the next script and the reward. Runs are cached by the digest of
//! (task, script, seed), in memory and optionally on disk. A record on disk carries the key it
//! was computed for and a digest of both; on read the key, the digest and the values are checked
//! (`RunRecord::check_values`), so an edited, moved or forged file is an error naming it, never
//! feedback.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::action::{Action, ActionKind};
use super::evaluation::{self, Evaluation, RunOutcome, RunRecord, WallClockExceeded, run_script};
use super::script::Script;
use crate::metrics::Direction;
use crate::provenance::{Digest, digest_of};
use crate::reward::{RewardConfig, StepOutcome, reward};
use crate::tasks::{Dataset, Inputs, Registry, Targets, Task, TaskError};

/// What the agent is told after an action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Feedback {
    InvalidAction {
        message: String,
    },
    ExecutionError {
        message: String,
    },
    /// A limit hit: the workbench's work budget (with the planned work and the budget), or a
    /// sandbox limit of a Python task (the message names which).
    BudgetExceeded {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        planned_work: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<f64>,
    },
    NonEdit {
        message: String,
    },
    Success {
        metric: f64,
        message: String,
    },
}

impl Feedback {
    pub fn kind(&self) -> &'static str {
        match self {
            Feedback::InvalidAction { .. } => "invalid_action",
            Feedback::ExecutionError { .. } => "execution_error",
            Feedback::BudgetExceeded { .. } => "budget_exceeded",
            Feedback::NonEdit { .. } => "non_edit",
            Feedback::Success { .. } => "success",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Feedback::InvalidAction { message }
            | Feedback::ExecutionError { message }
            | Feedback::BudgetExceeded { message, .. }
            | Feedback::NonEdit { message }
            | Feedback::Success { message, .. } => message,
        }
    }

    pub(crate) fn outcome(&self) -> StepOutcome {
        match self {
            Feedback::InvalidAction { .. } => StepOutcome::InvalidAction,
            Feedback::ExecutionError { .. } => StepOutcome::ExecutionError,
            Feedback::BudgetExceeded { .. } => StepOutcome::BudgetExceeded,
            Feedback::NonEdit { .. } => StepOutcome::NonEdit,
            Feedback::Success { metric, .. } => StepOutcome::Success { metric: *metric },
        }
    }
}

/// The result of one step.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub feedback: Feedback,
    pub next_script: Script,
    pub reward: f64,
    /// `Final Answer` ends the episode.
    pub done: bool,
    /// Validation metric of the script before the action (the reward's baseline), if it ran.
    pub previous_metric: Option<f64>,
    /// Wall-clock seconds of the step (reported, never used to decide anything cached).
    pub wall_s: f64,
    pub cached: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkbenchError {
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error("task `{0}`: the starter script does not parse: {1}")]
    Starter(String, String),
    #[error("task `{0}`: script cannot be evaluated: {1}")]
    NotEvaluable(String, String),
    #[error("task `{0}`: no baseline metric: the current and the starter script both fail")]
    NoBaseline(String),
    #[error("reward: {0}")]
    Reward(String),
    #[error("cache {path}: {message}")]
    Cache { path: PathBuf, message: String },
    #[error(
        "task `{task}`: a run of the script `{script}` was still training after the wall-clock guard of {guard_s} s; \
         whether a guard trips depends on this machine's speed, so it is never recorded as feedback: \
         stopped here (the deterministic work budget in tasks/{task}.ron is what limits a run)"
    )]
    WallClock {
        task: String,
        script: String,
        guard_s: f64,
    },
}

/// A run record as kept on disk: the run key it was computed for, and the digest of both.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedRecord {
    key: String,
    record: RunRecord,
    digest: String,
}

impl SealedRecord {
    fn digest_of(key: &str, record: &RunRecord) -> Result<Digest, String> {
        digest_of(&("mlagent-cached-run-v1", key, record)).map_err(|e| e.to_string())
    }

    /// The checked record of a cache file's bytes, computed for `key` on a task scored by
    /// `metric`; the error says what does not hold.
    fn open(
        bytes: &[u8],
        key: &Digest,
        metric: crate::tasks::TaskMetric,
    ) -> Result<RunRecord, String> {
        let sealed: SealedRecord = serde_json::from_slice(bytes)
            .map_err(|e| format!("expected a sealed run record {{key, record, digest}}: {e}"))?;
        if sealed.key != key.to_string() {
            return Err(format!(
                "holds the run of key {}, expected {key} (the file was renamed or copied)",
                sealed.key
            ));
        }
        let digest = Self::digest_of(&sealed.key, &sealed.record)?;
        if sealed.digest != digest.to_string() {
            return Err(format!(
                "its content has digest {digest}, but the file records {} (the file was edited)",
                sealed.digest
            ));
        }
        sealed.record.check_values(metric)?;
        Ok(sealed.record)
    }
}

/// A cache file's bytes, at most 16 MiB of them (a record is a few hundred bytes), so a file
/// that never ends cannot be read until memory runs out.
fn read_bounded(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(16 << 20)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The workbench over a task registry.
pub struct Workbench {
    pub registry: Registry,
    datasets: Mutex<HashMap<String, Arc<Dataset>>>,
    cache: Mutex<HashMap<Digest, RunRecord>>,
    cache_dir: Option<PathBuf>,
    /// Seconds after which a run is stopped with [`WorkbenchError::WallClock`]: a safeguard
    /// against a hung run, never an outcome (results must not depend on the machine's speed).
    pub guard_s: f64,
    pub reward_config: RewardConfig,
}

/// What an edit changed, as the one-hunk diff of `train.py` that MLAgentBench's Edit Script
/// observation shows: the old lines (`- key = value`), then the new ones (`+ key = value`),
/// in script order. A revert is then a copy of the `-` lines of the last observation, in the
/// very `key = value` form an edit takes (PROVENANCE.md).
pub(crate) fn describe_changes(before: &Script, after: &Script) -> String {
    let changed: Vec<(&str, String, String)> = before
        .entries()
        .zip(after.entries())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((k, a), (_, b))| (k, a.to_string(), b.to_string()))
        .collect();
    if changed.is_empty() {
        return "no change to train.py".to_string();
    }
    let mut out = String::from("diff of train.py:");
    for (k, a, _) in &changed {
        out.push_str(&format!("\n- {k} = {a}"));
    }
    for (k, _, b) in &changed {
        out.push_str(&format!("\n+ {k} = {b}"));
    }
    out
}

/// `0.216636, worse than the previous script's 0.089434`: the new validation metric with its
/// verdict against the script before the edit, in the metric's own direction (values as
/// shown, 6 decimals). A 7B agent compares two numbers itself; the verdict spares a small
/// policy that arithmetic, so keep / revert can be read off the text. PROVENANCE.md.
pub(crate) fn compare_metric(now: f64, before: f64, direction: Direction) -> String {
    let (a, b) = (format!("{now:.6}"), format!("{before:.6}"));
    let verdict = if a == b {
        "the same as"
    } else if direction.is_better(now, before) {
        "better than"
    } else {
        "worse than"
    };
    format!("{a}, {verdict} the previous script's {b}")
}

impl Workbench {
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            datasets: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            cache_dir: None,
            guard_s: 120.0,
            reward_config: RewardConfig::default(),
        }
    }

    /// Also keeps run records as JSON files in `dir`.
    pub fn with_cache_dir(mut self, dir: PathBuf) -> Self {
        self.cache_dir = Some(dir);
        self
    }

    pub fn task(&self, id: &str) -> Result<&Task, WorkbenchError> {
        Ok(self.registry.get(id)?)
    }

    /// The task's starter script.
    pub fn starter(&self, task: &Task) -> Result<Script, WorkbenchError> {
        Script::parse(task.spec.data_type, &task.spec.starter)
            .map_err(|e| WorkbenchError::Starter(task.spec.id.clone(), e.to_string()))
    }

    /// The task's data (loaded and verified once per workbench).
    pub fn dataset(&self, task: &Task) -> Result<Arc<Dataset>, WorkbenchError> {
        let mut map = self
            .datasets
            .lock()
            .expect("dataset cache lock is never poisoned by a panic-free loader");
        if let Some(d) = map.get(&task.spec.id) {
            return Ok(d.clone());
        }
        let d = Arc::new(self.registry.dataset(task)?);
        map.insert(task.spec.id.clone(), d.clone());
        Ok(d)
    }

    /// The cache key of a run.
    pub(crate) fn run_key(task: &Task, script: &Script, seed: u64) -> Digest {
        digest_of(&(
            "mlagent-run-v1",
            task.digest.to_string(),
            script.to_string(),
            seed,
        ))
        .expect("a run key holds only strings and integers")
    }

    /// Runs `script` (or fetches its record): the validation metric, the sealed test metric.
    pub fn run(
        &self,
        task: &Task,
        script: &Script,
        seed: u64,
    ) -> Result<RunRecord, WorkbenchError> {
        Ok(self.run_cached(task, script, seed)?.0)
    }

    fn run_cached(
        &self,
        task: &Task,
        script: &Script,
        seed: u64,
    ) -> Result<(RunRecord, bool), WorkbenchError> {
        let key = Self::run_key(task, script, seed);
        if let Some(r) = self.cache.lock().expect("run cache lock").get(&key) {
            return Ok((r.clone(), true));
        }
        let path = self
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{key}.json")));
        if let Some(p) = &path
            && let Ok(bytes) = read_bounded(p)
        {
            let rec = SealedRecord::open(&bytes, &key, task.spec.metric).map_err(|message| {
                WorkbenchError::Cache {
                    path: p.clone(),
                    message: format!("{message}; delete the file to recompute the run"),
                }
            })?;
            self.remember(key, &rec);
            return Ok((rec, true));
        }
        let data = self.dataset(task)?;
        let rec = run_script(task, &data, script, seed, self.guard_s).map_err(|e| {
            WorkbenchError::WallClock {
                task: task.spec.id.clone(),
                script: script.to_string().replace('\n', "; "),
                guard_s: e.guard_s,
            }
        })?;
        if let Some(p) = &path {
            let k = key.to_string();
            let sealed = SealedRecord {
                digest: SealedRecord::digest_of(&k, &rec)
                    .map_err(|message| WorkbenchError::Cache {
                        path: p.clone(),
                        message,
                    })?
                    .to_string(),
                key: k,
                record: rec.clone(),
            };
            let bytes = serde_json::to_vec_pretty(&sealed).expect("a run record serialises");
            crate::provenance::atomic::write(p, &bytes).map_err(|e| WorkbenchError::Cache {
                path: p.clone(),
                message: e.to_string(),
            })?;
        }
        self.remember(key, &rec);
        Ok((rec, false))
    }

    /// Keeps a run record in the in-memory cache.
    fn remember(&self, key: Digest, rec: &RunRecord) {
        self.cache
            .lock()
            .expect("run cache lock is never poisoned: no code panics while holding it")
            .insert(key, rec.clone());
    }

    fn baseline(&self, task: &Task, script: &Script, seed: u64) -> Result<f64, WorkbenchError> {
        for s in [script.clone(), self.starter(task)?] {
            if let RunOutcome::Success { valid_metric } = self.run(task, &s, seed)?.outcome {
                return Ok(valid_metric);
            }
        }
        Err(WorkbenchError::NoBaseline(task.spec.id.clone()))
    }

    /// One agent step: parse `action_text`, act on `script`, return feedback, next script, reward.
    pub fn step(
        &self,
        task: &Task,
        script: &Script,
        action_text: &str,
        seed: u64,
    ) -> Result<StepResult, WorkbenchError> {
        let start = std::time::Instant::now();
        let mut next = script.clone();
        let mut done = false;
        let mut cached = false;
        let mut previous = None;
        let feedback = match Action::parse(action_text) {
            Err(e) => Feedback::InvalidAction {
                message: e.to_string(),
            },
            Ok(a) => match a.kind {
                ActionKind::EditScript => match next.apply(&a.edits) {
                    Err(e) => Feedback::InvalidAction {
                        message: e.to_string(),
                    },
                    Ok(()) => {
                        previous = Some(self.baseline(task, script, seed)?);
                        let (rec, hit) = self.run_cached(task, &next, seed)?;
                        cached = hit;
                        let changed = describe_changes(script, &next);
                        match rec.outcome {
                            RunOutcome::Success { valid_metric } => Feedback::Success {
                                metric: valid_metric,
                                message: format!(
                                    "{changed}\nvalidation {} = {}",
                                    task.spec.metric.name(),
                                    compare_metric(
                                        valid_metric,
                                        previous.expect("set above"),
                                        task.spec.metric.direction()
                                    )
                                ),
                            },
                            RunOutcome::Failed { message } => Feedback::ExecutionError {
                                message: format!("{changed}\n{message}"),
                            },
                            RunOutcome::OverBudget {
                                planned_work,
                                budget,
                            } => Feedback::BudgetExceeded {
                                message: format!(
                                    "{changed}\nthe run would cost {planned_work:.3e} multiply-adds; the task's budget is {budget:.3e}"
                                ),
                                planned_work: Some(planned_work),
                                budget: Some(budget),
                            },
                        }
                    }
                },
                ActionKind::InspectScript => Feedback::NonEdit {
                    message: format!("{}\n{}", script, script.describe_keys()),
                },
                ActionKind::UnderstandData => Feedback::NonEdit {
                    message: describe_data(task, &*self.dataset(task)?),
                },
                ActionKind::FinalAnswer => {
                    done = true;
                    Feedback::NonEdit {
                        message: "episode ended".into(),
                    }
                }
            },
        };
        let r = reward(
            &feedback.outcome(),
            previous.unwrap_or(0.0),
            task.spec.metric.direction(),
            task.spec.reward_scale,
            &self.reward_config,
        )
        .map_err(|e| WorkbenchError::Reward(e.to_string()))?;
        Ok(StepResult {
            feedback,
            next_script: next,
            reward: r,
            done,
            previous_metric: previous,
            wall_s: start.elapsed().as_secs_f64(),
            cached,
        })
    }
}

/// The `Understand Data` answer: sizes, label balance and feature statistics of the training split.
pub fn describe_data(task: &Task, data: &Dataset) -> String {
    let t = &data.train;
    let mut out = format!(
        "task {}: {}\nexamples: train {}, validation {} (test held out)\nmetric: {} ({:?})\n",
        task.spec.id,
        task.spec.description,
        t.len(),
        data.valid.len(),
        task.spec.metric.name(),
        task.spec.metric.direction()
    );
    match &data.targets {
        Targets::Classes { labels, names } => {
            let mut c = vec![0usize; names.len()];
            t.iter().for_each(|&i| c[labels[i]] += 1);
            let parts: Vec<String> = names
                .iter()
                .zip(&c)
                .map(|(n, k)| format!("{n}: {k}"))
                .collect();
            out.push_str(&format!("classes (train counts): {}\n", parts.join(", ")));
        }
        Targets::Binary(y) => {
            let pos = t.iter().filter(|&&i| y[i] == 1.0).count();
            out.push_str(&format!(
                "binary label: {pos} positive, {} negative\n",
                t.len() - pos
            ));
        }
        Targets::Columns { names, values } => {
            for (j, n) in names.iter().enumerate() {
                let v: Vec<f64> = t.iter().map(|&i| values[i][j]).collect();
                out.push_str(&format!("target {n}: {}\n", stats(&v)));
            }
        }
    }
    match &data.inputs {
        Inputs::Table {
            numeric_names,
            numeric,
            categorical_names,
            categorical,
        } => {
            for (j, n) in numeric_names.iter().enumerate() {
                let v: Vec<f64> = t.iter().map(|&i| numeric[i][j]).collect();
                out.push_str(&format!("feature {n}: {}\n", stats(&v)));
            }
            for (j, n) in categorical_names.iter().enumerate() {
                let mut l: Vec<&str> = t.iter().map(|&i| categorical[i][j].as_str()).collect();
                l.sort();
                l.dedup();
                out.push_str(&format!("categorical {n}: levels {}\n", l.join(", ")));
            }
        }
        Inputs::Images {
            height,
            width,
            pixels,
        } => {
            let v: Vec<f64> = t
                .iter()
                .flat_map(|&i| pixels[i].iter().map(|p| f64::from(*p)))
                .collect();
            out.push_str(&format!(
                "images: {height}x{width} grayscale; pixels {}\n",
                stats(&v)
            ));
        }
        Inputs::Texts(texts) | Inputs::Graph { texts, .. } => {
            let v: Vec<f64> = t
                .iter()
                .map(|&i| texts[i].split_whitespace().count() as f64)
                .collect();
            out.push_str(&format!("texts: words per text {}\n", stats(&v)));
            if let Inputs::Graph { group, .. } = &data.inputs {
                let groups = group.iter().max().map_or(0, |m| m + 1);
                out.push_str(&format!(
                    "graph: {} nodes, edges join the nodes of each of {groups} speeches\n",
                    texts.len()
                ));
            }
        }
        Inputs::Pairs(p) => {
            out.push_str(&format!(
                "text pairs: {} pairs; target is a graded similarity in [0, 1]\n",
                p.len()
            ));
        }
        Inputs::Pixels { documents, .. } => {
            for (i, d) in documents.iter().enumerate() {
                out.push_str(&format!(
                    "document {i}: {}x{} pixels; a pixel's target is its clean intensity\n",
                    d.width, d.height
                ));
            }
        }
    }
    out
}

fn stats(v: &[f64]) -> String {
    if v.is_empty() {
        return "empty".into();
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("mean {m:.4}, std {s:.4}, min {lo:.4}, max {hi:.4}")
}

/// Runs (or fetches from the cache) `script` on `task` and opens the test metric.
pub fn evaluate(
    bench: &Workbench,
    task: &Task,
    script: &Script,
    seed: u64,
) -> Result<Evaluation, WorkbenchError> {
    let rec = bench.run(task, script, seed)?;
    evaluation::open(task, &rec).map_err(|m| WorkbenchError::NotEvaluable(task.spec.id.clone(), m))
}

/// One run, bypassing the cache (benchmarks).
pub(crate) fn run_uncached(
    bench: &Workbench,
    task: &Task,
    data: &Dataset,
    script: &Script,
    seed: u64,
) -> Result<RunRecord, WallClockExceeded> {
    run_script(task, data, script, seed, bench.guard_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::DataType;

    /// A record under its own key with a valid digest but a metric no run can produce (an
    /// MAE below 0) is refused; so is an edited one and one moved to another key.
    #[test]
    fn cached_records_are_checked_for_key_digest_and_values() {
        use crate::tasks::TaskMetric;
        let key = Digest::of_bytes(b"run");
        let record = |metric: f64| -> RunRecord {
            serde_json::from_value(serde_json::json!({
                "outcome": {"Success": {"valid_metric": metric}},
                "planned_work": 10.0,
                "test": null,
            }))
            .unwrap()
        };
        let seal = |rec: RunRecord, k: &Digest| {
            let k = k.to_string();
            serde_json::to_vec(&SealedRecord {
                digest: SealedRecord::digest_of(&k, &rec).unwrap().to_string(),
                key: k,
                record: rec,
            })
            .unwrap()
        };
        let good = seal(record(0.5), &key);
        assert_eq!(
            SealedRecord::open(&good, &key, TaskMetric::Mae).unwrap(),
            record(0.5)
        );
        let forged = seal(record(-1e308), &key);
        let e = SealedRecord::open(&forged, &key, TaskMetric::Mae).unwrap_err();
        assert!(e.contains("outside the range") && e.contains("mae"), "{e}");
        let edited = String::from_utf8(good.clone())
            .unwrap()
            .replace("0.5", "0.25");
        let e = SealedRecord::open(edited.as_bytes(), &key, TaskMetric::Mae).unwrap_err();
        assert!(e.contains("edited"), "{e}");
        let e =
            SealedRecord::open(&good, &Digest::of_bytes(b"other"), TaskMetric::Mae).unwrap_err();
        assert!(e.contains("renamed or copied"), "{e}");
        let e = SealedRecord::open(b"{\"outcome\": 1}", &key, TaskMetric::Mae).unwrap_err();
        assert!(e.contains("sealed run record"), "{e}");
    }

    #[test]
    fn changes_are_a_diff_old_lines_then_new_in_schema_order() {
        let before = Script::defaults(DataType::Tabular);
        let mut after = before.clone();
        after
            .apply(&[
                ("epochs".into(), "3".into()),
                ("learning_rate".into(), "0.3".into()),
            ])
            .unwrap();
        let lr = before
            .entries()
            .find(|(k, _)| *k == "learning_rate")
            .unwrap()
            .1;
        let ep = before.entries().find(|(k, _)| *k == "epochs").unwrap().1;
        assert_eq!(
            describe_changes(&before, &after),
            format!(
                "diff of train.py:\n- epochs = {ep}\n- learning_rate = {lr}\n+ epochs = 3\n+ learning_rate = 0.3"
            )
        );
        assert_eq!(describe_changes(&before, &before), "no change to train.py");
    }

    #[test]
    fn metric_verdicts_follow_the_direction_and_the_shown_digits() {
        use Direction::*;
        let c = |a, b, d| compare_metric(a, b, d);
        assert_eq!(
            c(0.5, 0.25, HigherIsBetter),
            "0.500000, better than the previous script's 0.250000"
        );
        assert_eq!(
            c(0.5, 0.25, LowerIsBetter),
            "0.500000, worse than the previous script's 0.250000"
        );
        assert_eq!(
            c(0.1, 0.1 + 1e-9, LowerIsBetter),
            "0.100000, the same as the previous script's 0.100000"
        );
    }
}
