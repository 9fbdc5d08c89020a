//! A task's examples and labels (built from its files by `sources`) and the seeded train /
//! validation / test split. The test indices sit behind [`TestIndices`], which only the evaluation API can open.

use rand::seq::SliceRandom;

use super::TaskError;
use super::spec::{SplitRule, TaskSpec};
use crate::seed::SeedPath;

/// A grayscale document image with its seeded stained copy.
#[derive(Clone, Debug)]
pub struct Document {
    pub width: usize,
    pub height: usize,
    pub clean: Vec<f32>,
    pub noisy: Vec<f32>,
}

/// The raw inputs of every example, before the script's feature transforms.
#[derive(Clone, Debug)]
pub enum Inputs {
    Table {
        numeric_names: Vec<String>,
        numeric: Vec<Vec<f64>>,
        categorical_names: Vec<String>,
        categorical: Vec<Vec<String>>,
    },
    /// Pixels in [0, 1], row-major `height x width`.
    Images {
        height: usize,
        width: usize,
        pixels: Vec<Vec<f32>>,
    },
    Texts(Vec<String>),
    /// Node texts; `group[i]` is node i's speech (edges join nodes of one group).
    Graph {
        texts: Vec<String>,
        group: Vec<usize>,
    },
    Pairs(Vec<(String, String)>),
    /// Examples are pixels `(document, x, y)`.
    Pixels {
        documents: Vec<Document>,
        pixels: Vec<(usize, usize, usize)>,
    },
}

/// The labels of every example.
#[derive(Clone, Debug)]
pub enum Targets {
    /// A class index per example.
    Classes {
        labels: Vec<usize>,
        names: Vec<String>,
    },
    /// 0 / 1 per example.
    Binary(Vec<f64>),
    /// Several real columns per example (regression or one-vs-rest 0/1 columns).
    Columns {
        names: Vec<String>,
        values: Vec<Vec<f64>>,
    },
}

impl Targets {
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Binary(v) => v.len(),
            Targets::Columns { values, .. } => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A capability to read test indices. Only `env::evaluation`, the one door to the test split,
/// makes one ([`TestAccess::grant`]; the tidy test in tests/it/tidy.rs fails on any other
/// caller). Outside the crate none can be made:
///
/// ```compile_fail
/// let access = mlagent::tasks::TestAccess(());
/// ```
pub struct TestAccess(());

impl TestAccess {
    /// Called by `env::evaluation` only (tidy-checked).
    pub(crate) fn grant() -> Self {
        TestAccess(())
    }
}

/// Test indices: opened only with a [`TestAccess`].
#[derive(Clone, Debug)]
pub struct TestIndices(Vec<usize>);

impl TestIndices {
    pub(crate) fn reveal(&self, _access: &TestAccess) -> &[usize] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A loaded task: inputs, targets and the split.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub inputs: Inputs,
    pub targets: Targets,
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: TestIndices,
}

impl Dataset {
    /// Splits `spec`'s examples (built by `sources`) by its split rule.
    pub fn split(spec: &TaskSpec, inputs: Inputs, targets: Targets) -> Result<Self, TaskError> {
        let n = targets.len();
        if let Inputs::Pixels { documents, pixels } = &inputs {
            // Documents split by image: all of document 0 trains; document 1's top half
            // validates, its bottom half tests (no pixel neighbourhood crosses the split
            // except along one row boundary).
            let h = documents[1].height;
            let mut train = Vec::new();
            let mut valid = Vec::new();
            let mut test = Vec::new();
            for (i, (d, _, y)) in pixels.iter().enumerate() {
                match (d, *y < h / 2) {
                    (0, _) => train.push(i),
                    (_, true) => valid.push(i),
                    (_, false) => test.push(i),
                }
            }
            return Ok(Self {
                inputs,
                targets,
                train,
                valid,
                test: TestIndices(test),
            });
        }
        let SplitIndices { valid, test, train } = split_indices(&spec.id, &spec.split_rule, n)?;
        Ok(Self {
            inputs,
            targets,
            train,
            valid,
            test: TestIndices(test),
        })
    }
}

/// Example indices of each split, in permutation order.
pub(crate) struct SplitIndices {
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
    pub train: Vec<usize>,
}

/// The seeded split of a task's `n` examples by its rule. The workbench's datasets and the
/// Python tasks' CSVs split by this one rule.
pub(crate) fn split_indices(
    task: &str,
    rule: &SplitRule,
    n: usize,
) -> Result<SplitIndices, TaskError> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut SeedPath::root(rule.seed).child("split").child(task).rng());
    let n_valid = (n as f64 * rule.valid_fraction).round() as usize;
    let n_test = (n as f64 * rule.test_fraction).round() as usize;
    if n_valid == 0 || n_test == 0 || n_valid + n_test >= n {
        return Err(TaskError::Spec {
            task: task.to_string(),
            field: "split_rule".into(),
            message: format!("fractions leave an empty split of {n} examples"),
        });
    }
    let train = order.split_off(n_valid + n_test);
    let test = order.split_off(n_valid);
    Ok(SplitIndices {
        valid: order,
        test,
        train,
    })
}
