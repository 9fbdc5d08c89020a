//! `mlagent tasks prepare`: a user's upstream copy of one of the paper's tasks
//! (`super::upstream`), checked, becomes a Python task the environment runs. The training rows
//! are split with a seed into the workspace's training and validation rows; the test features
//! are upstream's; the answers of both go to files the workspace never holds. Everything is
//! written into `<out>/<id>/` and `<out>/<id>.ron` (a `super::python` task whose data is
//! `Prepared`, listing the sha256 of every file it reads and of the upstream files it came from).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom as _;

use super::TaskError;
use super::data::Csv;
use super::python::{
    PreparedFile, PythonData, PythonTaskSpec, SCRIPT, TEST_CSV, TRAIN_CSV, VALID_CSV,
};
use super::spec::{SplitRule, TaskSpec};
use super::upstream::{Recipe, TableRecipe, UpstreamTask};
use crate::provenance::{Digest, atomic};
use crate::sandbox::Limits;
use crate::seed::SeedPath;

/// The answer files of a prepared task, relative to its folder.
pub const VALID_ANSWERS: &str = "answers/valid.csv";
pub const TEST_ANSWERS: &str = "answers/test.csv";

/// What one execution of a prepared task's script may use: upstream tasks train on real data
/// (minutes, gigabytes), unlike the bundled ones. Edit the written task file to change them.
pub fn default_limits() -> Limits {
    Limits {
        wall_seconds: 1800.0,
        grace_seconds: 5.0,
        cpu_seconds: 7200,
        memory_bytes: 16 << 30,
        file_size_bytes: 4 << 30,
        open_files: 1024,
        processes: 256,
        output_bytes: 1 << 20,
        tmp_bytes: 4 << 30,
    }
}

/// What `prepare` wrote.
#[derive(Debug)]
pub struct Prepared {
    pub task_file: PathBuf,
    pub train_rows: usize,
    pub valid_rows: usize,
    pub test_rows: usize,
    /// Upstream files whose MD5 matched upstream's, and those only recorded (no upstream MD5).
    pub verified: usize,
    pub unverified: usize,
}

/// A CSV file read whole (parsed by [`Csv`]), with its path for errors.
struct Table {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(path: &Path) -> Result<Self, TaskError> {
        let bytes = std::fs::read(path).map_err(|source| TaskError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let Csv { header, rows } = Csv::parse(&bytes, path)?;
        if rows.is_empty() {
            return Err(TaskError::Format {
                path: path.to_path_buf(),
                message: "has no rows".into(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    fn column(&self, name: &str) -> Result<usize, TaskError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TaskError::Format {
                path: self.path.clone(),
                message: format!("no column `{name}` (columns: {})", self.header.join(", ")),
            })
    }
}

/// Prepares `upstream` from the copy at `from` into `out`, carving validation with `seed`.
/// `stand_in` is the paper task's stand-in (`tasks/<id>.ron`), whose held-in / held-out split
/// the prepared task keeps. `starter` is the starter template, `tasks/upstream/starter.py`.
pub fn prepare(
    upstream: &UpstreamTask,
    stand_in: &TaskSpec,
    from: &Path,
    out: &Path,
    starter: &Path,
    seed: u64,
) -> Result<Prepared, TaskError> {
    let recipe = match &upstream.recipe {
        Recipe::Table(t) => t,
        Recipe::NotYet(why) => {
            return Err(TaskError::Spec {
                task: upstream.id.clone(),
                field: "recipe".into(),
                message: format!("`mlagent tasks prepare` cannot prepare it yet: {why}"),
            });
        }
    };
    let checked = upstream.check_copy(from)?;
    let train = Table::read(&from.join(&recipe.train))?;
    let test = Table::read(&from.join(&recipe.test_features))?;
    let answers = Table::read(&from.join(&recipe.test_answers))?;
    let split = carve(&upstream.id, recipe, &train, &test, &answers, seed)?;

    let folder = out.join(&upstream.id);
    let mut files = Vec::new();
    for (rel, bytes) in [
        (TRAIN_CSV, &split.train),
        (VALID_CSV, &split.valid),
        (TEST_CSV, &split.test),
        (VALID_ANSWERS, &split.valid_answers),
        (TEST_ANSWERS, &split.test_answers),
    ] {
        write(&folder.join(rel), bytes)?;
        files.push(PreparedFile {
            file: rel.to_string(),
            sha256: Digest::of_bytes(bytes).to_string(),
        });
    }
    let template = std::fs::read_to_string(starter).map_err(|source| TaskError::Io {
        path: starter.to_path_buf(),
        source,
    })?;
    let starter = recipe.prediction.starter(&template, &recipe.target);
    write(&folder.join(SCRIPT), starter.as_bytes())?;

    let [train_f, valid_f, test_f, valid_a, test_a]: [PreparedFile; 5] = files
        .try_into()
        .expect("five files were written in this order");
    let verified = checked.iter().filter(|c| c.verified).count();
    let unverified = checked.len() - verified;
    let spec = PythonTaskSpec {
        id: upstream.id.clone(),
        split: stand_in.split,
        description: description(upstream, recipe),
        data: PythonData::Prepared {
            target: recipe.target.clone(),
            train: train_f,
            valid: valid_f,
            test: test_f,
            valid_answers: valid_a,
            test_answers: test_a,
            upstream: checked,
        },
        split_rule: SplitRule {
            valid_fraction: recipe.valid_fraction,
            test_fraction: 0.0,
            seed,
        },
        metric: upstream.metric,
        reward_scale: recipe.reward_scale,
        limits: default_limits(),
        ideas: Vec::new(),
        max_steps: super::python::default_max_steps(),
        stands_for: None,
    };
    let text =
        ron::ser::to_string_pretty(&spec, ron::ser::PrettyConfig::default().struct_names(true))
            .map_err(|e| TaskError::Spec {
                task: upstream.id.clone(),
                field: "(whole file)".into(),
                message: e.to_string(),
            })?;
    let task_file = out.join(format!("{}.ron", upstream.id));
    let header = format!(
        "// Written by `mlagent tasks prepare --task {} --seed {seed}` from a copy of the \
         upstream task; `upstream` lists the sha256 of each of its files.\n",
        upstream.id
    );
    write(&task_file, format!("{header}{text}\n").as_bytes())?;
    Ok(Prepared {
        task_file,
        train_rows: split.train_rows,
        valid_rows: split.valid_rows,
        test_rows: split.test_rows,
        verified,
        unverified,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), TaskError> {
    atomic::write(path, bytes).map_err(|e| TaskError::Io {
        path: e.path,
        source: e.source,
    })
}

fn description(upstream: &UpstreamTask, r: &TableRecipe) -> String {
    format!(
        "The task `{}`, prepared from a copy of its upstream data. data/train.csv has the \
         target column `{}`; data/valid.csv and data/test.csv have the other columns without \
         it, and every file has an `id` column. Write valid_predictions.csv and submission.csv \
         with the header `id,prediction`, one row per id. Metric: {}.",
        upstream.id,
        r.target,
        upstream.metric.name()
    )
}

/// The prepared files' bytes.
struct Split {
    train: Vec<u8>,
    valid: Vec<u8>,
    test: Vec<u8>,
    valid_answers: Vec<u8>,
    test_answers: Vec<u8>,
    train_rows: usize,
    valid_rows: usize,
    test_rows: usize,
}

fn csv_bytes(
    path: &Path,
    header: &[String],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<Vec<u8>, TaskError> {
    let fail = |e: csv::Error| TaskError::Format {
        path: path.to_path_buf(),
        message: format!("writing the prepared CSV: {e}"),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(fail)?;
    for r in rows {
        w.write_record(&r).map_err(fail)?;
    }
    w.into_inner().map_err(|e| TaskError::Format {
        path: path.to_path_buf(),
        message: format!("writing the prepared CSV: {e}"),
    })
}

/// Splits the training rows with `seed` and lines the test answers up with the test rows.
fn carve(
    task: &str,
    r: &TableRecipe,
    train: &Table,
    test: &Table,
    answers: &Table,
    seed: u64,
) -> Result<Split, TaskError> {
    let target = train.column(&r.target)?;
    let train_id = r
        .id_column
        .as_deref()
        .map(|c| train.column(c))
        .transpose()?;
    // The feature columns: every training column but the id and the target, which the test
    // features must all have.
    let features: Vec<&String> = train
        .header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != target && Some(*i) != train_id)
        .map(|(_, h)| h)
        .collect();
    if features.iter().any(|h| h.as_str() == "id") {
        return Err(TaskError::Format {
            path: train.path.clone(),
            message: "has a column `id` that is not the task's id column: the prepared files \
                      need that name for their own"
                .into(),
        });
    }
    let test_cols = features
        .iter()
        .map(|h| test.column(h))
        .collect::<Result<Vec<_>, _>>()?;
    let train_cols: Vec<usize> = features
        .iter()
        .map(|h| train.column(h))
        .collect::<Result<_, _>>()?;
    let test_id = r.id_column.as_deref().map(|c| test.column(c)).transpose()?;

    // Row ids: upstream's where it has an id column (unique, non-empty), else row numbers,
    // the test rows numbered after the training rows.
    let ids = |t: &Table, col: Option<usize>, offset: usize| -> Result<Vec<String>, TaskError> {
        let ids: Vec<String> = match col {
            Some(c) => t.rows.iter().map(|row| row[c].trim().to_string()).collect(),
            None => (0..t.rows.len())
                .map(|i| (offset + i).to_string())
                .collect(),
        };
        let mut seen = HashSet::new();
        for (i, id) in ids.iter().enumerate() {
            if id.is_empty() || !seen.insert(id.as_str()) {
                return Err(TaskError::Format {
                    path: t.path.clone(),
                    message: format!(
                        "row {}: id `{id}` is empty or repeated; expected unique ids",
                        i + 2
                    ),
                });
            }
        }
        Ok(ids)
    };
    let train_ids = ids(train, train_id, 0)?;
    let test_ids = ids(test, test_id, train.rows.len())?;
    for (i, row) in train.rows.iter().enumerate() {
        if row[target].trim().is_empty() {
            return Err(TaskError::Format {
                path: train.path.clone(),
                message: format!("row {}: the target `{}` is empty", i + 2, r.target),
            });
        }
    }

    // The test answers, by id or by row order.
    let answer_col = answers.column(&r.target)?;
    let test_answers: Vec<String> = match r.id_column.as_deref() {
        Some(c) => {
            let id_col = answers.column(c)?;
            let by_id: HashMap<&str, &str> = answers
                .rows
                .iter()
                .map(|row| (row[id_col].trim(), row[answer_col].trim()))
                .collect();
            test_ids
                .iter()
                .map(|id| {
                    by_id
                        .get(id.as_str())
                        .map(|a| a.to_string())
                        .ok_or_else(|| TaskError::Format {
                            path: answers.path.clone(),
                            message: format!("no answer for the test row `{id}`"),
                        })
                })
                .collect::<Result<_, _>>()?
        }
        None => {
            if answers.rows.len() != test.rows.len() {
                return Err(TaskError::Format {
                    path: answers.path.clone(),
                    message: format!(
                        "has {} rows, the test features {}: expected the same rows in the same \
                         order",
                        answers.rows.len(),
                        test.rows.len()
                    ),
                });
            }
            let shared: Vec<(usize, usize, &String)> = test
                .header
                .iter()
                .enumerate()
                .filter_map(|(i, h)| answers.column(h).ok().map(|j| (i, j, h)))
                .collect();
            for (k, (t, a)) in test.rows.iter().zip(&answers.rows).enumerate() {
                if let Some((_, _, h)) = shared.iter().find(|(i, j, _)| t[*i] != a[*j]) {
                    return Err(TaskError::Format {
                        path: answers.path.clone(),
                        message: format!(
                            "row {}: column `{h}` differs from the test features' row: expected \
                             the same rows in the same order",
                            k + 2
                        ),
                    });
                }
            }
            answers
                .rows
                .iter()
                .map(|row| row[answer_col].trim().to_string())
                .collect()
        }
    };
    if let Some(i) = test_answers.iter().position(|a| a.is_empty()) {
        return Err(TaskError::Format {
            path: answers.path.clone(),
            message: format!("the answer of test row `{}` is empty", test_ids[i]),
        });
    }

    let n = train.rows.len();
    let n_valid = (n as f64 * r.valid_fraction).round() as usize;
    if n_valid == 0 || n_valid >= n {
        return Err(TaskError::Format {
            path: train.path.clone(),
            message: format!(
                "{n} rows leave an empty training or validation split at valid_fraction {}",
                r.valid_fraction
            ),
        });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut SeedPath::root(seed).child("prepare").child(task).rng());
    let mut valid: Vec<usize> = order[..n_valid].to_vec();
    let mut train_idx: Vec<usize> = order[n_valid..].to_vec();
    valid.sort_unstable();
    train_idx.sort_unstable();

    let mut header: Vec<String> = vec!["id".into()];
    header.extend(features.iter().map(|h| h.to_string()));
    let mut train_header = header.clone();
    train_header.push(r.target.clone());
    let row = |t: &Table, cols: &[usize], i: usize, id: &str| -> Vec<String> {
        let mut v = vec![id.to_string()];
        v.extend(cols.iter().map(|&c| t.rows[i][c].to_string()));
        v
    };
    let answer_header = ["id".to_string(), "answer".to_string()];
    Ok(Split {
        train: csv_bytes(
            &train.path,
            &train_header,
            train_idx.iter().map(|&i| {
                let mut v = row(train, &train_cols, i, &train_ids[i]);
                v.push(train.rows[i][target].to_string());
                v
            }),
        )?,
        valid: csv_bytes(
            &train.path,
            &header,
            valid
                .iter()
                .map(|&i| row(train, &train_cols, i, &train_ids[i])),
        )?,
        test: csv_bytes(
            &test.path,
            &header,
            (0..test.rows.len()).map(|i| row(test, &test_cols, i, &test_ids[i])),
        )?,
        valid_answers: csv_bytes(
            &train.path,
            &answer_header,
            valid.iter().map(|&i| {
                vec![
                    train_ids[i].clone(),
                    train.rows[i][target].trim().to_string(),
                ]
            }),
        )?,
        test_answers: csv_bytes(
            &answers.path,
            &answer_header,
            test_ids
                .iter()
                .zip(&test_answers)
                .map(|(id, a)| vec![id.clone(), a.clone()]),
        )?,
        train_rows: train_idx.len(),
        valid_rows: valid.len(),
        test_rows: test.rows.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::upstream::Prediction;
    use super::*;

    fn table(dir: &Path, name: &str, text: &str) -> Table {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("written");
        Table::read(&p).expect("a table")
    }

    fn recipe(id_column: Option<&str>) -> TableRecipe {
        TableRecipe {
            train: "train.csv".into(),
            test_features: "test.csv".into(),
            test_answers: "answers.csv".into(),
            id_column: id_column.map(str::to_string),
            target: "y".into(),
            prediction: Prediction::Probability,
            valid_fraction: 0.25,
            reward_scale: 1.0,
        }
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).expect("UTF-8")
    }

    #[test]
    fn without_an_id_column_rows_are_numbered_and_answers_follow_the_test_rows_order() {
        let d = tempfile::tempdir().expect("a temp dir");
        let train = table(d.path(), "train.csv", "y,text\n1,a\n0,b\n1,c\n0,d\n");
        let test = table(d.path(), "test.csv", "text\ne\nf\n");
        let answers = table(d.path(), "answers.csv", "y,text\n1,e\n0,f\n");
        let s = carve("t", &recipe(None), &train, &test, &answers, 3).expect("carved");
        assert_eq!((s.train_rows, s.valid_rows, s.test_rows), (3, 1, 2));
        assert_eq!(text(&s.test), "id,text\n4,e\n5,f\n");
        assert_eq!(text(&s.test_answers), "id,answer\n4,1\n5,0\n");
        assert!(text(&s.train).starts_with("id,text,y\n"));
        assert!(!text(&s.valid).contains(",y") && text(&s.valid).starts_with("id,text\n"));

        // Answers in another order than the test features are refused, naming the column.
        let swapped = table(d.path(), "answers.csv", "y,text\n0,f\n1,e\n");
        let e = carve("t", &recipe(None), &train, &test, &swapped, 3)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.contains("`text` differs") && e.contains("answers.csv"),
            "{e}"
        );
    }

    #[test]
    fn ids_must_be_unique_targets_present_and_every_test_row_answered() {
        let d = tempfile::tempdir().expect("a temp dir");
        let test = table(d.path(), "test.csv", "k,x\n9,1\n");
        let answers = table(d.path(), "answers.csv", "k,y\n9,1\n");
        let r = recipe(Some("k"));
        let err = |train: &Table, answers: &Table| {
            carve("t", &r, train, &test, answers, 0)
                .err()
                .expect("refused")
                .to_string()
        };
        let repeated = table(d.path(), "train.csv", "k,x,y\n1,1,1\n1,2,0\n2,3,1\n3,4,0\n");
        assert!(err(&repeated, &answers).contains("repeated"));
        let empty = table(d.path(), "train.csv", "k,x,y\n1,1,1\n2,2,\n3,3,1\n4,4,0\n");
        assert!(err(&empty, &answers).contains("the target `y` is empty"));
        let good = table(d.path(), "train.csv", "k,x,y\n1,1,1\n2,2,0\n3,3,1\n4,4,0\n");
        let other = table(d.path(), "answers.csv", "k,y\n8,1\n");
        assert!(err(&good, &other).contains("no answer for the test row `9`"));
        let s = carve("t", &r, &good, &test, &answers, 0).expect("carved");
        assert_eq!(text(&s.test_answers), "id,answer\n9,1\n");
        // The split follows the seed.
        let again = carve("t", &r, &good, &test, &answers, 0).expect("carved");
        assert_eq!(s.valid, again.valid);
    }
}
