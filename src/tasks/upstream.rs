//! The upstream registry (`tasks/upstream/<id>.ron`): where each of the paper's 19 tasks comes
//! from (an MLE-bench competition or an MLAgentBench benchmark), the files of a user's prepared
//! copy with the MD5 upstream publishes for each (MLE-bench's `checksums.yaml`; MLAgentBench
//! publishes none), and how `mlagent tasks prepare` turns that copy into a Python task
//! (`super::prepare`). The data stays the user's to download; docs/upstream-tasks.md has the
//! upstream sources these entries were read from.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::TaskError;
use super::spec::TaskMetric;

/// One `tasks/upstream/<id>.ron`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "UpstreamTask")]
pub struct UpstreamTask {
    /// The paper's task, as the stand-in `tasks/<id>.ron` names it.
    pub id: String,
    pub source: Source,
    /// The upstream grader's metric.
    pub metric: TaskMetric,
    /// The files of the user's copy, relative to the folder `--from` names.
    pub files: Vec<UpstreamFile>,
    pub recipe: Recipe,
}

/// Where the task comes from, with the upstream commit the entry was read at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// `--from` is the competition's `prepared/` folder (holding `public/` and `private/`), as
    /// `mlebench prepare -c <competition>` writes it.
    MleBench { competition: String, commit: String },
    /// `--from` is `MLAgentBench/benchmarks/<benchmark>/` after its `scripts/prepare.py` ran.
    MlAgentBench { benchmark: String, commit: String },
}

/// A file of the user's copy and the MD5 upstream publishes for it, if any.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    pub path: String,
    pub md5: Option<String>,
}

/// How `tasks prepare` makes a Python task of the copy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Recipe {
    /// One table with one target: a validation split is carved out of `train` with a seed.
    Table(TableRecipe),
    /// Not preparable yet; the reason names what the Python environment lacks.
    NotYet(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRecipe {
    /// The training rows, with the target.
    pub train: String,
    /// The test rows, without it.
    pub test_features: String,
    /// The test rows' answers (the id column, or the same row order, and the target).
    pub test_answers: String,
    /// The column that keys rows; `None` numbers them, and the answers then follow the test
    /// features' row order (checked on the columns both files have).
    pub id_column: Option<String>,
    pub target: String,
    /// What the starter script predicts.
    pub prediction: Prediction,
    /// The share of training rows carved out for validation.
    pub valid_fraction: f64,
    /// Reward scale α of σ(α·Δ) for the prepared task.
    pub reward_scale: f64,
}

/// What a prepared task's predictions are, which picks the starter's model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prediction {
    /// A class label (accuracy).
    Label,
    /// The positive class's probability (ROC AUC).
    Probability,
    /// A number (MAE, RMSE, Pearson).
    Number,
    /// An integer rating (QWK, which rejects fractions as sklearn's does).
    Rating,
}

impl Prediction {
    /// The starter script: the template (`tasks/upstream/starter.py`, which loads the tables
    /// and writes the predictions) with this kind's model and the task's target filled in.
    pub fn starter(self, template: &str, target: &str) -> String {
        let (doc, import, model) = match self {
            Prediction::Label => (
                "predicts a class label with a depth-2 decision tree",
                "from sklearn.tree import DecisionTreeClassifier",
                "model = DecisionTreeClassifier(max_depth=2, random_state=0)\n\
                 model.fit(X, y)\n\n\n\
                 def predict(M):\n    return model.predict(M)\n",
            ),
            Prediction::Probability => (
                "predicts the positive class's probability with a logistic regression",
                "from sklearn.linear_model import LogisticRegression",
                "model = LogisticRegression(max_iter=200)\n\
                 model.fit(X, y)\n\
                 # The positive class: \"1\" or \"True\" when present, else the last in sorted order.\n\
                 classes = list(model.classes_)\n\
                 positive = next((c for c in (\"1\", \"True\", \"true\") if c in classes), classes[-1])\n\n\n\
                 def predict(M):\n    return model.predict_proba(M)[:, classes.index(positive)]\n",
            ),
            Prediction::Number => (
                "predicts a number with a ridge regression",
                "from sklearn.linear_model import Ridge",
                "model = Ridge(alpha=1.0)\n\
                 model.fit(X, y.astype(float))\n\n\n\
                 def predict(M):\n    return model.predict(M)\n",
            ),
            Prediction::Rating => (
                "predicts an integer rating with a ridge regression, rounded",
                "from sklearn.linear_model import Ridge",
                "model = Ridge(alpha=1.0)\n\
                 model.fit(X, y.astype(float))\n\n\n\
                 def predict(M):\n    return np.rint(model.predict(M)).astype(int)\n",
            ),
        };
        template
            .replace("__MODEL_DOC__", doc)
            .replace("__MODEL_IMPORT__", import)
            .replace("__MODEL__", model)
            .replace("__TARGET__", target)
    }

    /// The metrics a prediction of this kind can be graded with.
    fn fits(self, metric: TaskMetric) -> bool {
        match self {
            Prediction::Label => metric == TaskMetric::AccuracyPercent,
            Prediction::Probability => metric == TaskMetric::RocAuc,
            Prediction::Number => matches!(
                metric,
                TaskMetric::Mae | TaskMetric::Rmse | TaskMetric::Pearson
            ),
            Prediction::Rating => metric == TaskMetric::Qwk,
        }
    }
}

/// A file of the user's copy as it was found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckedFile {
    pub path: String,
    pub sha256: String,
    pub md5: String,
    /// Whether upstream publishes an MD5 for it (and it matched); `false` means recorded only.
    pub verified: bool,
}

/// The `tasks/upstream/` folder of this source tree.
pub fn default_root() -> PathBuf {
    super::registry::default_root().join("upstream")
}

fn is_md5_hex(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Loads and checks every `*.ron` of `root`, sorted by id.
pub fn load_all(root: &Path) -> Result<Vec<UpstreamTask>, TaskError> {
    let mut tasks = Vec::new();
    for path in super::registry::task_files(root)? {
        let task: UpstreamTask = crate::config_file::load_ron(&path)?;
        let stem = super::registry::file_stem(&path);
        let field = |field: &str, message: String| TaskError::Spec {
            task: task.id.clone(),
            field: field.into(),
            message,
        };
        if stem != task.id {
            return Err(field("id", format!("must equal the file name `{stem}`")));
        }
        for (i, f) in task.files.iter().enumerate() {
            super::data::check_relative(&f.path)
                .map_err(|m| field(&format!("files[{i}].path"), m))?;
            if let Some(m) = &f.md5
                && !is_md5_hex(m)
            {
                return Err(field(
                    &format!("files[{i}].md5"),
                    format!("expected 32 lowercase hex digits, found `{m}`"),
                ));
            }
        }
        if let Recipe::Table(t) = &task.recipe {
            for (name, rel) in [
                ("train", &t.train),
                ("test_features", &t.test_features),
                ("test_answers", &t.test_answers),
            ] {
                if !task.files.iter().any(|f| &f.path == rel) {
                    return Err(field(
                        &format!("recipe.{name}"),
                        format!("`{rel}` is not one of the entry's `files`"),
                    ));
                }
            }
            if !(t.valid_fraction > 0.0 && t.valid_fraction <= 0.5) {
                return Err(field(
                    "recipe.valid_fraction",
                    format!("expected a share in (0, 0.5], found {}", t.valid_fraction),
                ));
            }
            if !(t.reward_scale.is_finite() && t.reward_scale > 0.0) {
                return Err(field(
                    "recipe.reward_scale",
                    "expected a finite number > 0".into(),
                ));
            }
            if !t.prediction.fits(task.metric) {
                return Err(field(
                    "recipe.prediction",
                    format!(
                        "{:?} predictions cannot be graded with {}",
                        t.prediction,
                        task.metric.name()
                    ),
                ));
            }
        }
        tasks.push(task);
    }
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(tasks)
}

impl UpstreamTask {
    /// Why a pipeline cannot read this task yet: it is the user's data, not prepared; how to
    /// prepare it, or why it cannot be prepared yet.
    pub fn unprepared(&self) -> String {
        let id = &self.id;
        let how = match &self.recipe {
            Recipe::Table(_) => format!(
                "prepare it from your copy ({}) with `mlagent tasks prepare --from DIR --task {id}`",
                self.origin()
            ),
            Recipe::NotYet(why) => {
                format!(
                    "it comes from {} and cannot be prepared yet: {why}",
                    self.origin()
                )
            }
        };
        format!(
            "task `{id}` is not prepared (target/mlagent/prepared, or --prepared DIR): the \
             paper's tasks are the user's data and this stage reads it; {how} (`mlagent tasks \
             upstream` lists every task)"
        )
    }

    /// Where the user's copy comes from, in words, for error messages.
    pub fn origin(&self) -> String {
        match &self.source {
            Source::MleBench { competition, .. } => format!(
                "MLE-bench's prepared `{competition}` (`mlebench prepare -c {competition}`; pass \
                 its `prepared/` folder)"
            ),
            Source::MlAgentBench { benchmark, .. } => format!(
                "MLAgentBench's `benchmarks/{benchmark}` after its scripts/prepare.py ran (pass \
                 that folder)"
            ),
        }
    }

    /// Checks every listed file of the copy at `from`: present, a regular file, and of the MD5
    /// upstream publishes where it publishes one. Returns each file's digests.
    pub fn check_copy(&self, from: &Path) -> Result<Vec<CheckedFile>, TaskError> {
        self.files
            .iter()
            .map(|f| {
                let path = from.join(&f.path);
                let meta = std::fs::metadata(&path).map_err(|_| TaskError::Format {
                    path: path.clone(),
                    message: format!("missing: expected `{}` of {}", f.path, self.origin()),
                })?;
                if !meta.is_file() {
                    return Err(TaskError::Format {
                        path,
                        message: "is not a regular file".into(),
                    });
                }
                let (md5, sha256) = hash_file(&path)?;
                if let Some(expected) = &f.md5
                    && *expected != md5
                {
                    return Err(TaskError::UpstreamChecksum {
                        path,
                        expected: expected.clone(),
                        actual: md5,
                    });
                }
                Ok(CheckedFile {
                    path: f.path.clone(),
                    sha256,
                    md5,
                    verified: f.md5.is_some(),
                })
            })
            .collect()
    }
}

/// The MD5 and sha256 of a file, read once in chunks (upstream files can be large).
fn hash_file(path: &Path) -> Result<(String, String), TaskError> {
    let io = |source| TaskError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        sha.update(&buf[..n]);
    }
    Ok((hex(&md5.finalize()), hex(&sha.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_has_an_entry_for_each_stand_in_task() {
        let upstream = load_all(&default_root()).expect("tasks/upstream/ loads");
        let stand_ins = super::super::Registry::load_default().expect("tasks/ loads");
        let ids: Vec<&str> = upstream.iter().map(|t| t.id.as_str()).collect();
        let expected: Vec<&str> = stand_ins.tasks.iter().map(|t| t.spec.id.as_str()).collect();
        assert_eq!(ids, expected);
        let tables = upstream
            .iter()
            .filter(|t| matches!(t.recipe, Recipe::Table(_)))
            .count();
        assert_eq!(tables, 6, "the preparable tasks");
    }

    #[test]
    fn md5_and_sha256_are_the_known_digests() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").expect("written");
        let (md5, sha) = hash_file(&p).expect("hashed");
        // RFC 1321 and FIPS 180-2 test vectors for "abc".
        assert_eq!(md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_missing_or_changed_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(dir.path().join("public")).expect("folder");
        std::fs::write(dir.path().join("public/train.csv"), b"abc").expect("written");
        let task = UpstreamTask {
            id: "t".into(),
            source: Source::MleBench {
                competition: "c".into(),
                commit: "0".into(),
            },
            metric: TaskMetric::AccuracyPercent,
            files: vec![UpstreamFile {
                path: "public/train.csv".into(),
                md5: Some("900150983cd24fb0d6963f7d28e17f72".into()),
            }],
            recipe: Recipe::NotYet("-".into()),
        };
        let ok = task.check_copy(dir.path()).expect("the copy matches");
        assert!(ok[0].verified);
        std::fs::write(dir.path().join("public/train.csv"), b"abd").expect("written");
        let e = task.check_copy(dir.path()).unwrap_err().to_string();
        assert!(e.contains("public/train.csv") && e.contains("900150983cd24fb0d6963f7d28e17f72"));
        std::fs::remove_file(dir.path().join("public/train.csv")).expect("removed");
        let e = task.check_copy(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("missing") && e.contains("mlebench prepare -c c"),
            "{e}"
        );
    }
}
