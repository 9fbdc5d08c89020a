//! The task file schema: one RON file per task in `tasks/`, typed with serde and closed to
//! unknown fields, so a typo in a task file is an error naming the field, never a silent default.

use serde::{Deserialize, Serialize};

use crate::metrics::Direction;

/// Whether the paper trains on the task (held-in) or only evaluates on it (held-out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskSplit {
    HeldIn,
    HeldOut,
}

impl TaskSplit {
    pub fn name(self) -> &'static str {
        match self {
            TaskSplit::HeldIn => "held-in",
            TaskSplit::HeldOut => "held-out",
        }
    }
}

/// The data family; it decides which script keys exist and how features are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    Tabular,
    Image,
    Text,
    Graph,
    TextPairs,
    Denoising,
}

impl DataType {
    /// Every family, in declaration order.
    pub const ALL: [DataType; 6] = [
        DataType::Tabular,
        DataType::Image,
        DataType::Text,
        DataType::Graph,
        DataType::TextPairs,
        DataType::Denoising,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DataType::Tabular => "tabular",
            DataType::Image => "image",
            DataType::Text => "text",
            DataType::Graph => "graph",
            DataType::TextPairs => "text-pairs",
            DataType::Denoising => "denoising",
        }
    }
}

/// The task's metric (DEFINITIONS.md §1); computed by `crate::metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskMetric {
    AccuracyPercent,
    RocAuc,
    LogLossBinary,
    LogLossMulticlass,
    MeanColumnwiseAuc,
    Mae,
    Rmse,
    MeanColumnwiseRmsle,
    Mcrmse,
    MapAt5,
    Qwk,
    Pearson,
}

impl TaskMetric {
    pub fn name(self) -> &'static str {
        match self {
            TaskMetric::AccuracyPercent => "accuracy_percent",
            TaskMetric::RocAuc => "roc_auc",
            TaskMetric::LogLossBinary => "log_loss_binary",
            TaskMetric::LogLossMulticlass => "log_loss_multiclass",
            TaskMetric::MeanColumnwiseAuc => "mean_columnwise_auc",
            TaskMetric::Mae => "mae",
            TaskMetric::Rmse => "rmse",
            TaskMetric::MeanColumnwiseRmsle => "mean_columnwise_rmsle",
            TaskMetric::Mcrmse => "mcrmse",
            TaskMetric::MapAt5 => "map_at_5",
            TaskMetric::Qwk => "qwk",
            TaskMetric::Pearson => "pearson",
        }
    }

    /// The values the metric can take (closed interval). A value outside it was not computed
    /// by this metric: checked where a metric is read back from a file.
    pub fn range(self) -> (f64, f64) {
        match self {
            TaskMetric::AccuracyPercent => (0.0, 100.0),
            TaskMetric::RocAuc | TaskMetric::MeanColumnwiseAuc | TaskMetric::MapAt5 => (0.0, 1.0),
            TaskMetric::Qwk | TaskMetric::Pearson => (-1.0, 1.0),
            TaskMetric::LogLossBinary
            | TaskMetric::LogLossMulticlass
            | TaskMetric::Mae
            | TaskMetric::Rmse
            | TaskMetric::MeanColumnwiseRmsle
            | TaskMetric::Mcrmse => (0.0, f64::INFINITY),
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            TaskMetric::AccuracyPercent
            | TaskMetric::RocAuc
            | TaskMetric::MeanColumnwiseAuc
            | TaskMetric::MapAt5
            | TaskMetric::Qwk
            | TaskMetric::Pearson => Direction::HigherIsBetter,
            _ => Direction::LowerIsBetter,
        }
    }
}

/// One bundled data file and its expected sha256 (hex), relative to `tasks/data/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFile {
    pub path: String,
    pub sha256: String,
}

/// How labels are derived from a class column (image and text sources).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum LabelRule {
    /// Keep rows whose class is listed; the label is the class's index in the list.
    Classes(Vec<String>),
    /// Binary: 1 for the listed classes, 0 for every other kept class (`negative`, or all).
    Binary {
        positive: Vec<String>,
        negative: Option<Vec<String>>,
    },
    /// Keep the listed classes; the target is one 0/1 column per class (one-vs-rest).
    OneHot(Vec<String>),
}

/// What the model predicts from a SOTU paragraph (text family).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SotuTarget {
    /// A class column (`party`, `president`) with a label rule.
    Column { column: String, rule: LabelRule },
    /// Two regression targets scaled to [1, 5]: speech year and relative position in the speech.
    YearAndPosition,
    /// Ordinal half-century bucket of the year: (year - 1790) / 50.
    HalfCentury,
}

/// How a task's examples, features and labels are built from its files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Source {
    /// A CSV table: numeric and categorical feature columns; `NA` rows are dropped.
    Table {
        file: String,
        numeric: Vec<String>,
        categorical: Vec<String>,
        target: TableTarget,
    },
    /// Fashion-MNIST IDX files (train and t10k pooled), 28x28.
    FashionMnist {
        /// Per kept class, at most this many images (few-shot tasks); all when absent.
        per_class: Option<usize>,
        rule: LabelRule,
    },
    /// sklearn digits CSV, 8x8 pixels 0..16.
    Digits { rule: LabelRule },
    /// SOTU paragraphs (text), optionally restricted to presidents.
    Sotu {
        presidents: Option<Vec<String>>,
        target: SotuTarget,
    },
    /// SpamAssassin bodies, label spam (1) vs ham (0).
    Spam,
    /// SOTU paragraphs as graph nodes; edges join paragraphs of the same speech; label = class column.
    SotuGraph { column: String, rule: LabelRule },
    /// SOTU paragraph pairs with a graded similarity: 1 same speech, 0.75 same president,
    /// 0.5 same party, 0.25 same half-century, else 0.
    SotuPairs { pairs: usize },
    /// Clean document images; training and evaluation images get seeded synthetic stains.
    Documents {
        train: String,
        eval: String,
        stains_per_image: usize,
    },
}

/// The label of a table source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum TableTarget {
    /// A class column; classes are the sorted distinct values (numeric order when numeric).
    Class(String),
    /// One or more regression columns.
    Regression(Vec<String>),
}

/// The train / validation / test split rule: a seeded permutation, cut by fractions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRule {
    pub valid_fraction: f64,
    pub test_fraction: f64,
    pub seed: u64,
}

/// Budgets in deterministic work units (planned multiply-adds of a run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// The most planned multiply-adds one run may cost.
    pub max_work: f64,
    /// The most agent steps an episode may take.
    pub max_steps: u32,
}

/// One task file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub id: String,
    pub paper_task: String,
    pub split: TaskSplit,
    pub data_type: DataType,
    pub description: String,
    pub files: Vec<DataFile>,
    pub source: Source,
    pub split_rule: SplitRule,
    pub metric: TaskMetric,
    /// Reward scale α of σ(α·Δ) (docs/metrics.md, the reward).
    pub reward_scale: f64,
    pub budget: Budget,
    /// The starter script as `key = value` lines.
    pub starter: String,
}
