//! Python tasks (docs/sandbox.md): a real Python training script works on CSV files, in the
//! MLE-bench manner. A task is `<root>/<id>.ron` (this schema) and its starter script
//! `<root>/<id>/train.py`. Its rows are either a bundled table of `tasks/data/` (the tasks of
//! `tasks/python/`), verified by sha256 and split by the same seeded rule as the workbench tasks,
//! or the splits `mlagent tasks prepare` wrote from a user's upstream copy into `<root>/<id>/`
//! (`super::prepare`), verified by the sha256 the task file lists.
//!
//! The workspace a script sees ([`PythonTask::workspace_files`]) holds the training rows with
//! their target, and the validation and test rows without it. The answers stay in the harness
//! ([`Answers`]): no label of either split is ever written where the script could read it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TaskError;
use super::data::{Csv, DataDir};
use super::spec::{SplitRule, TaskMetric, TaskSplit};
use super::upstream::CheckedFile;
use crate::provenance::{Digest, digest_of};
use crate::sandbox::Limits;

/// Where a Python task's rows come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PythonData {
    /// A bundled table of `tasks/data/`, split by the task's `split_rule`.
    Table {
        /// A CSV file of `tasks/data/`.
        file: String,
        sha256: String,
        /// The column to predict.
        target: String,
        /// The columns the script may use; rows with an `NA` or empty cell in any of these or
        /// the target are dropped.
        features: Vec<String>,
    },
    /// The splits `mlagent tasks prepare` wrote into the folder `<id>/` beside the task file;
    /// the task's `split_rule` records how validation was carved (its `test_fraction` is 0: the
    /// test rows are upstream's).
    Prepared {
        /// The column to predict (the last of `train`).
        target: String,
        /// The workspace's files (`data/train.csv`, `data/valid.csv`, `data/test.csv`).
        train: PreparedFile,
        valid: PreparedFile,
        test: PreparedFile,
        /// `id,answer` files, never in a workspace.
        valid_answers: PreparedFile,
        test_answers: PreparedFile,
        /// The upstream files they were made from, as found.
        upstream: Vec<CheckedFile>,
    },
}

impl PythonData {
    /// A prepared task's files by field name: train, valid, test, valid_answers, test_answers.
    pub fn prepared_files(&self) -> Option<[(&'static str, &PreparedFile); 5]> {
        match self {
            PythonData::Table { .. } => None,
            PythonData::Prepared {
                train,
                valid,
                test,
                valid_answers,
                test_answers,
                ..
            } => Some([
                ("train", train),
                ("valid", valid),
                ("test", test),
                ("valid_answers", valid_answers),
                ("test_answers", test_answers),
            ]),
        }
    }
}

/// A file of a prepared task's folder and its sha256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreparedFile {
    pub file: String,
    pub sha256: String,
}

/// The largest file of a prepared task read into a workspace.
pub const MAX_PREPARED_FILE_BYTES: u64 = 4 << 30;

/// One `<root>/<id>.ron`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "PythonTask")]
pub struct PythonTaskSpec {
    pub id: String,
    pub split: TaskSplit,
    pub description: String,
    pub data: PythonData,
    pub split_rule: SplitRule,
    /// One of [`GRADED_METRICS`].
    pub metric: TaskMetric,
    /// Reward scale α of σ(α·Δ).
    pub reward_scale: f64,
    /// What one execution of the script may use.
    pub limits: Limits,
    /// Edits of the starter the scripted expert tries (and the random agent draws from).
    #[serde(default)]
    pub ideas: Vec<PyIdea>,
    /// An episode's step limit (the paper's expert trajectories take up to 15 steps).
    #[serde(default = "default_max_steps")]
    pub max_steps: usize,
    /// The paper's evaluation task this task stands in for (its Table 1 row), when its own id
    /// is not one (`paper::EvalTask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stands_for: Option<String>,
}

pub(crate) fn default_max_steps() -> usize {
    15
}

/// One idea for a Python task's script: an Edit Script's search/replace blocks and the thought
/// that goes with them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PyIdea {
    pub thought: String,
    pub blocks: Vec<PyIdeaBlock>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PyIdeaBlock {
    pub search: String,
    pub replace: String,
}

/// The labels of the validation and test rows, by row id; never written to a workspace.
#[derive(Clone, Debug)]
pub struct Answers {
    pub valid: Vec<(String, String)>,
    pub test: Vec<(String, String)>,
}

/// A workspace's files: (path relative to the workspace, bytes).
pub type WorkspaceFiles = Vec<(&'static str, Vec<u8>)>;

/// A loaded Python task.
#[derive(Clone, Debug)]
pub struct PythonTask {
    pub spec: PythonTaskSpec,
    pub digest: Digest,
    pub path: PathBuf,
    /// The starter script's text.
    pub starter: String,
}

/// The file names a script reads and writes, relative to its workspace.
pub const TRAIN_CSV: &str = "data/train.csv";
pub const VALID_CSV: &str = "data/valid.csv";
pub const TEST_CSV: &str = "data/test.csv";
pub const SCRIPT: &str = "train.py";
pub const VALID_PREDICTIONS: &str = "valid_predictions.csv";
pub const SUBMISSION: &str = "submission.csv";

/// The metrics a Python task's predictions (`id,prediction`) are graded with
/// (`crate::env::python::grade`).
pub const GRADED_METRICS: [TaskMetric; 6] = [
    TaskMetric::AccuracyPercent,
    TaskMetric::Rmse,
    TaskMetric::Mae,
    TaskMetric::RocAuc,
    TaskMetric::Qwk,
    TaskMetric::Pearson,
];

/// Loads every `*.ron` of `root` (`tasks/python/`, or a folder of prepared tasks), sorted by id.
pub fn load_all(root: &Path) -> Result<Vec<PythonTask>, TaskError> {
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut tasks = Vec::new();
    for path in super::registry::task_files(root)? {
        let spec: PythonTaskSpec = crate::config_file::load_ron(&path)?;
        let stem = super::registry::file_stem(&path);
        let field = |field: &str, message: String| TaskError::Spec {
            task: spec.id.clone(),
            field: field.into(),
            message,
        };
        if stem != spec.id {
            return Err(field("id", format!("must equal the file name `{stem}`")));
        }
        if !GRADED_METRICS.contains(&spec.metric) {
            return Err(field(
                "metric",
                format!(
                    "expected one of {} (the graders Python tasks have)",
                    GRADED_METRICS.map(|m| m.name()).join(", ")
                ),
            ));
        }
        if !(spec.reward_scale.is_finite() && spec.reward_scale > 0.0) {
            return Err(field("reward_scale", "expected a finite number > 0".into()));
        }
        if spec.max_steps == 0 {
            return Err(field("max_steps", "expected at least 1".into()));
        }
        if let Some(paper) = &spec.stands_for
            && let Err(e) = paper.parse::<crate::paper::EvalTask>()
        {
            return Err(field("stands_for", e.to_string()));
        }
        match &spec.data {
            PythonData::Table {
                file,
                target,
                features,
                ..
            } => {
                if features.is_empty() || features.contains(target) {
                    return Err(field(
                        "data.features",
                        "expected at least one column, not the target".into(),
                    ));
                }
                super::data::check_relative(file).map_err(|m| field("data.file", m))?;
            }
            PythonData::Prepared { .. } => {
                let files = spec.data.prepared_files().expect("the data is Prepared");
                let expected = [Some(TRAIN_CSV), Some(VALID_CSV), Some(TEST_CSV), None, None];
                for ((name, f), expected) in files.into_iter().zip(expected) {
                    super::data::check_relative(&f.file)
                        .map_err(|m| field(&format!("data.{name}.file"), m))?;
                    if let Some(e) = expected
                        && f.file != e
                    {
                        return Err(field(
                            &format!("data.{name}.file"),
                            format!("expected `{e}` (the name the script reads)"),
                        ));
                    }
                }
            }
        }
        spec.limits
            .validate()
            .map_err(|e| field("limits", e.to_string()))?;
        let starter_path = root.join(&spec.id).join(SCRIPT);
        let starter = std::fs::read_to_string(&starter_path).map_err(|source| TaskError::Io {
            path: starter_path.clone(),
            source,
        })?;
        for (i, idea) in spec.ideas.iter().enumerate() {
            if idea.blocks.is_empty() {
                return Err(field(
                    &format!("ideas[{i}].blocks"),
                    "expected a block".into(),
                ));
            }
            for (j, b) in idea.blocks.iter().enumerate() {
                let n = if b.search.is_empty() {
                    0
                } else {
                    starter.matches(b.search.as_str()).count()
                };
                if n != 1 {
                    return Err(field(
                        &format!("ideas[{i}].blocks[{j}].search"),
                        format!(
                            "expected text that occurs exactly once in the starter {SCRIPT}, found it {n} times"
                        ),
                    ));
                }
            }
        }
        let digest =
            digest_of(&(&spec, &starter)).map_err(|e| field("(whole file)", e.to_string()))?;
        tasks.push(PythonTask {
            spec,
            digest,
            path,
            starter,
        });
    }
    tasks.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
    Ok(tasks)
}

/// The `tasks/python/` folder of this source tree.
pub fn default_root() -> PathBuf {
    super::registry::default_root().join("python")
}

/// The default folder of prepared tasks (`mlagent tasks prepare`): `target/mlagent/prepared` of
/// this workspace, outside the source tree since the data is the user's.
pub fn default_prepared_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mlagent/prepared")
}

/// The bundled Python tasks and those prepared into `prepared` (which need not exist), sorted by
/// id; an id in both is an error naming both files.
pub fn load_with_prepared(prepared: &Path) -> Result<Vec<PythonTask>, TaskError> {
    let mut tasks = load_all(&default_root())?;
    for t in load_all(prepared)? {
        if let Some(other) = tasks.iter().find(|o| o.spec.id == t.spec.id) {
            return Err(TaskError::Spec {
                task: t.spec.id.clone(),
                field: "id".into(),
                message: format!(
                    "{} and {} both define it; expected one",
                    other.path.display(),
                    t.path.display()
                ),
            });
        }
        tasks.push(t);
    }
    tasks.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
    Ok(tasks)
}

fn missing(cell: &str) -> bool {
    let c = cell.trim();
    c.is_empty() || c == "NA"
}

impl PythonTask {
    /// The workspace's data files (path relative to the workspace, bytes) and the answers.
    /// Rows get an `id` (their row number in the source file) so predictions can be matched.
    pub fn workspace_files(&self, data: &DataDir) -> Result<(WorkspaceFiles, Answers), TaskError> {
        let (file, sha256, target_name, feature_names) = match &self.spec.data {
            PythonData::Table {
                file,
                sha256,
                target,
                features,
            } => (file, sha256, target, features),
            PythonData::Prepared { .. } => {
                let files = self
                    .spec
                    .data
                    .prepared_files()
                    .expect("the data is Prepared");
                return self.prepared_workspace(files.map(|(_, f)| f));
            }
        };
        let bytes = data.read_verified(file, sha256)?;
        let path = data.root().join(file);
        let csv = Csv::parse(&bytes, &path)?;
        let target = csv.column(target_name, &path)?;
        let features = feature_names
            .iter()
            .map(|f| csv.column(f, &path))
            .collect::<Result<Vec<_>, _>>()?;
        let rows: Vec<(usize, &Vec<String>)> = csv
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| !missing(&r[target]) && features.iter().all(|&c| !missing(&r[c])))
            .collect();
        let super::dataset::SplitIndices { valid, test, train } =
            super::dataset::split_indices(&self.spec.id, &self.spec.split_rule, rows.len())?;
        let write = |idx: &[usize], with_target: bool| -> Result<Vec<u8>, TaskError> {
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut header = vec!["id".to_string()];
            header.extend(feature_names.iter().cloned());
            if with_target {
                header.push(target_name.clone());
            }
            let fail = |e: csv::Error| TaskError::Format {
                path: path.clone(),
                message: format!("writing the workspace's CSV: {e}"),
            };
            w.write_record(&header).map_err(fail)?;
            let mut sorted = idx.to_vec();
            sorted.sort_unstable();
            for &i in &sorted {
                let (row_id, r) = rows[i];
                let mut rec = vec![row_id.to_string()];
                rec.extend(features.iter().map(|&c| r[c].clone()));
                if with_target {
                    rec.push(r[target].clone());
                }
                w.write_record(&rec).map_err(fail)?;
            }
            w.into_inner().map_err(|e| TaskError::Format {
                path: path.clone(),
                message: format!("writing the workspace's CSV: {e}"),
            })
        };
        let answers = |idx: &[usize]| {
            let mut v: Vec<(String, String)> = idx
                .iter()
                .map(|&i| (rows[i].0.to_string(), rows[i].1[target].trim().to_string()))
                .collect();
            v.sort_by_key(|(id, _)| id.parse::<usize>().unwrap_or(usize::MAX));
            v
        };
        let files = vec![
            (TRAIN_CSV, write(&train, true)?),
            (VALID_CSV, write(&valid, false)?),
            (TEST_CSV, write(&test, false)?),
        ];
        Ok((
            files,
            Answers {
                valid: answers(&valid),
                test: answers(&test),
            },
        ))
    }

    /// The folder of a prepared task's files: `<id>/` beside its task file.
    pub fn folder(&self) -> PathBuf {
        self.path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.spec.id)
    }

    /// A prepared task's workspace files and answers, each verified by its sha256.
    fn prepared_workspace(
        &self,
        [train, valid, test, valid_answers, test_answers]: [&PreparedFile; 5],
    ) -> Result<(WorkspaceFiles, Answers), TaskError> {
        let dir = DataDir::with_max_bytes(self.folder(), MAX_PREPARED_FILE_BYTES);
        let read = |f: &PreparedFile| dir.read_verified(&f.file, &f.sha256);
        let answers = |f: &PreparedFile| -> Result<Vec<(String, String)>, TaskError> {
            let path = dir.root().join(&f.file);
            let csv = Csv::parse(&read(f)?, &path)?;
            if csv.header != ["id", "answer"] {
                return Err(TaskError::Format {
                    path,
                    message: format!(
                        "expected the header `id,answer`, found `{}`",
                        csv.header.join(",")
                    ),
                });
            }
            Ok(csv
                .rows
                .into_iter()
                .map(|mut r| {
                    let answer = r.pop().unwrap_or_default();
                    (r.pop().unwrap_or_default(), answer)
                })
                .collect())
        };
        Ok((
            vec![
                (TRAIN_CSV, read(train)?),
                (VALID_CSV, read(valid)?),
                (TEST_CSV, read(test)?),
            ],
            Answers {
                valid: answers(valid_answers)?,
                test: answers(test_answers)?,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn penguins() -> (PythonTask, DataDir) {
        let tasks = load_all(&default_root()).expect("tasks/python/ loads");
        let t = tasks
            .into_iter()
            .find(|t| t.spec.id == "penguins-species")
            .expect("the penguins task exists");
        (
            t,
            DataDir::new(super::super::registry::default_root().join("data")),
        )
    }

    #[test]
    fn the_workspace_holds_no_label_of_the_validation_or_test_rows() {
        let (task, data) = penguins();
        let (files, answers) = task.workspace_files(&data).expect("the workspace is built");
        let text = |rel: &str| {
            let (_, bytes) = files.iter().find(|(r, _)| *r == rel).expect("listed");
            String::from_utf8(bytes.clone()).expect("UTF-8 CSV")
        };
        let train = text(TRAIN_CSV);
        assert!(train.lines().next().unwrap().ends_with(",species"));
        for rel in [VALID_CSV, TEST_CSV] {
            let t = text(rel);
            assert!(!t.lines().next().unwrap().contains("species"), "{rel}");
            let ids: Vec<&str> = t
                .lines()
                .skip(1)
                .map(|l| l.split(',').next().unwrap())
                .collect();
            let expected = if rel == VALID_CSV {
                &answers.valid
            } else {
                &answers.test
            };
            assert_eq!(ids.len(), expected.len());
            assert!(ids.iter().zip(expected).all(|(a, (b, _))| a == b), "{rel}");
        }
        // The same bytes every time: the split is seeded.
        let (again, _) = task.workspace_files(&data).expect("the workspace is built");
        assert_eq!(files, again);
    }

    #[test]
    fn a_task_file_with_a_wrong_field_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let good = std::fs::read_to_string(default_root().join("penguins-species.ron"))
            .expect("the penguins task file");
        std::fs::write(
            dir.path().join("penguins-species.ron"),
            good.replace("metric: AccuracyPercent", "metric: MapAt5"),
        )
        .unwrap();
        let e = load_all(dir.path()).unwrap_err().to_string();
        assert!(e.contains("`metric`"), "{e}");
        std::fs::write(
            dir.path().join("penguins-species.ron"),
            good.replace("wall_seconds: 60.0", "wall_secs: 60.0"),
        )
        .unwrap();
        let e = load_all(dir.path()).unwrap_err().to_string();
        assert!(e.contains("wall_secs"), "{e}");
    }
}
