//! The paper's published numbers as typed, provenance-carrying golden data
//! (`golden/paper/table1.ron`, `golden/paper/figure4.ron`). The RON files are generated from
//! the transcribed CSVs committed beside them (`from_csv`), and a test keeps the two equal.
//! They are never edited to fit results.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config_file::{ConfigError, load_ron};
use crate::paper::{Direction, EvalTask, Level, Modality, PaperModel, RlMethod, Split};
use crate::provenance::Digest;

/// Where a golden file's numbers come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Authors and title.
    pub paper: String,
    pub arxiv_id: String,
    pub arxiv_version: String,
    pub repository: String,
    /// The repository commit whose image was read.
    pub commit: String,
    /// The image's path in that repository.
    pub image: String,
    pub image_sha256: Digest,
    /// The transcription this file was generated from, relative to the repository root.
    pub source_csv: String,
    pub fidelity: Fidelity,
    /// How the numbers were read.
    pub method: String,
}

/// How faithfully the numbers match the source.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Fidelity {
    /// Every number as printed.
    Exact,
    /// Read off a plot: each value within ± `tolerance_pp` percentage points.
    Approximate { tolerance_pp: f64 },
}

impl Fidelity {
    pub fn tolerance(self) -> f64 {
        match self {
            Fidelity::Exact => 0.0,
            Fidelity::Approximate { tolerance_pp } => tolerance_pp,
        }
    }
}

/// One value per column of Table 1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperScores {
    pub qwen2_5_7b_instruct: f64,
    pub qwen2_5_32b_instruct: f64,
    pub gpt_4o_mini: f64,
    pub gpt_4o: f64,
    pub deepseek_r1: f64,
    pub ml_agent: f64,
}

impl PaperScores {
    pub fn get(&self, m: PaperModel) -> f64 {
        match m {
            PaperModel::Qwen7b => self.qwen2_5_7b_instruct,
            PaperModel::Qwen32b => self.qwen2_5_32b_instruct,
            PaperModel::Gpt4oMini => self.gpt_4o_mini,
            PaperModel::Gpt4o => self.gpt_4o,
            PaperModel::DeepseekR1 => self.deepseek_r1,
            PaperModel::MlAgent => self.ml_agent,
        }
    }

    fn set(&mut self, m: PaperModel, v: f64) {
        *match m {
            PaperModel::Qwen7b => &mut self.qwen2_5_7b_instruct,
            PaperModel::Qwen32b => &mut self.qwen2_5_32b_instruct,
            PaperModel::Gpt4oMini => &mut self.gpt_4o_mini,
            PaperModel::Gpt4o => &mut self.gpt_4o,
            PaperModel::DeepseekR1 => &mut self.deepseek_r1,
            PaperModel::MlAgent => &mut self.ml_agent,
        } = v;
    }
}

/// One row of Table 1: a task at one level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table1Row {
    /// This project's id of the task.
    pub task: EvalTask,
    /// The name the paper prints.
    pub paper_name: String,
    /// The Kaggle / benchmark id.
    pub paper_task_id: String,
    pub split: Split,
    pub data_type: Modality,
    pub metric: String,
    pub direction: Direction,
    pub level: Level,
    /// Decimals printed in this row: `format!("{:.*}", decimals, v)` gives the printed text.
    pub decimals: u8,
    pub scores: PaperScores,
}

/// Table 1 of the paper.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperTable1 {
    pub provenance: Provenance,
    pub rows: Vec<Table1Row>,
}

/// Errors while turning a transcription CSV into golden data.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{path}: {source}")]
    Csv {
        path: String,
        #[source]
        source: csv::Error,
    },
    #[error("{path}:{line}: field `{field}`: {message}")]
    Field {
        path: String,
        line: u64,
        field: String,
        message: String,
    },
}

fn invalid(path: &Path, field: String, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        field,
        message: message.into(),
    }
}

impl PaperTable1 {
    /// Loads and validates `table1.ron`; errors name the file, line and field.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let t: PaperTable1 = load_ron(path)?;
        t.validate(path)?;
        Ok(t)
    }

    /// Checks what the types cannot: each task exactly once per level, its split and direction
    /// as fixed by [`EvalTask`], finite numbers, an exact source.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        if self.provenance.fidelity != Fidelity::Exact {
            return Err(invalid(
                path,
                "provenance.fidelity".into(),
                "expected Exact for Table 1",
            ));
        }
        for (i, r) in self.rows.iter().enumerate() {
            let f = |name: &str| format!("rows[{i}].{name}");
            if r.split != r.task.split() {
                return Err(invalid(
                    path,
                    f("split"),
                    format!("expected {:?} for task {}", r.task.split(), r.task),
                ));
            }
            if r.direction != r.task.direction() {
                return Err(invalid(
                    path,
                    f("direction"),
                    format!("expected {:?} for task {}", r.task.direction(), r.task),
                ));
            }
            if r.paper_name != r.task.paper_name() {
                return Err(invalid(
                    path,
                    f("paper_name"),
                    format!("expected `{}` for task {}", r.task.paper_name(), r.task),
                ));
            }
            for m in PaperModel::ALL {
                if !r.scores.get(*m).is_finite() {
                    return Err(invalid(path, f("scores"), "expected finite numbers"));
                }
            }
        }
        for t in EvalTask::ALL {
            for l in Level::ALL {
                let n = self
                    .rows
                    .iter()
                    .filter(|r| r.task == *t && r.level == l)
                    .count();
                if n != 1 {
                    return Err(invalid(
                        path,
                        "rows".into(),
                        format!(
                            "expected exactly one {} row for task {t}, found {n}",
                            l.label()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The row of `task` at `level`.
    pub fn row(&self, task: EvalTask, level: Level) -> &Table1Row {
        self.rows
            .iter()
            .find(|r| r.task == task && r.level == level)
            .expect("a validated Table 1 has one row per task and level")
    }

    /// Builds the table from the transcription `table1.csv` (see golden/paper/README.md).
    pub fn from_csv(path: &Path, provenance: Provenance) -> Result<Self, CsvError> {
        let p = path.display().to_string();
        let mut rdr = csv::Reader::from_path(path).map_err(|source| CsvError::Csv {
            path: p.clone(),
            source,
        })?;
        let headers = rdr
            .headers()
            .map_err(|source| CsvError::Csv {
                path: p.clone(),
                source,
            })?
            .clone();
        let col = |name: &str| headers.iter().position(|h| h == name);
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|source| CsvError::Csv {
                path: p.clone(),
                source,
            })?;
            let line = rec.position().map_or(0, |pos| pos.line());
            let err = |field: &str, message: String| CsvError::Field {
                path: p.clone(),
                line,
                field: field.to_string(),
                message,
            };
            let get = |field: &str| -> Result<&str, CsvError> {
                col(field)
                    .and_then(|i| rec.get(i))
                    .ok_or_else(|| err(field, "missing column".into()))
            };
            let paper_name = get("task")?;
            let task = EvalTask::from_paper_name(paper_name)
                .ok_or_else(|| err("task", format!("unknown task `{paper_name}`")))?;
            let split = match get("split")? {
                "held-in" => Split::HeldIn,
                "held-out" => Split::HeldOut,
                s => {
                    return Err(err(
                        "split",
                        format!("expected held-in|held-out, got `{s}`"),
                    ));
                }
            };
            let data_type = match get("data_type")? {
                "image" => Modality::Image,
                "tabular" => Modality::Tabular,
                "text" => Modality::Text,
                s => return Err(err("data_type", format!("unknown `{s}`"))),
            };
            let direction = match get("direction")? {
                "higher" => Direction::HigherIsBetter,
                "lower" => Direction::LowerIsBetter,
                s => {
                    return Err(err(
                        "direction",
                        format!("expected higher|lower, got `{s}`"),
                    ));
                }
            };
            let level = match get("level")? {
                "avg" => Level::Avg,
                "best" => Level::Best,
                s => return Err(err("level", format!("expected avg|best, got `{s}`"))),
            };
            let mut scores = PaperScores {
                qwen2_5_7b_instruct: f64::NAN,
                qwen2_5_32b_instruct: f64::NAN,
                gpt_4o_mini: f64::NAN,
                gpt_4o: f64::NAN,
                deepseek_r1: f64::NAN,
                ml_agent: f64::NAN,
            };
            let mut decimals = None;
            for m in PaperModel::ALL {
                let text = get(m.id())?;
                let v: f64 = text
                    .parse()
                    .map_err(|e| err(m.id(), format!("expected a number, got `{text}`: {e}")))?;
                let d = text.split_once('.').map_or(0, |(_, frac)| frac.len());
                match decimals {
                    None => decimals = Some(d),
                    Some(d0) if d0 != d => {
                        return Err(err(
                            m.id(),
                            format!("row mixes {d0} and {d} printed decimals"),
                        ));
                    }
                    _ => {}
                }
                scores.set(*m, v);
            }
            rows.push(Table1Row {
                task,
                paper_name: paper_name.to_string(),
                paper_task_id: get("paper_task_id")?.to_string(),
                split,
                data_type,
                metric: get("metric")?.to_string(),
                direction,
                level,
                decimals: decimals.expect("Table 1 has six columns") as u8,
                scores,
            });
        }
        Ok(PaperTable1 { provenance, rows })
    }
}

/// One digitised point of Figure 4.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperPoint {
    pub gpu_hours: f64,
    pub gain_percent: f64,
}

/// One RL curve of one panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperSeries {
    pub panel: Split,
    pub method: RlMethod,
    /// In increasing compute order.
    pub points: Vec<PaperPoint>,
}

/// A dashed baseline line of one panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperBaseline {
    pub panel: Split,
    pub model: PaperModel,
    pub gain_percent: f64,
}

/// Figure 4 of the paper: average relative gain (%) over held-in / held-out tasks vs GPU hours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperFigure4 {
    pub provenance: Provenance,
    pub series: Vec<PaperSeries>,
    pub baselines: Vec<PaperBaseline>,
}

impl PaperFigure4 {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let f: PaperFigure4 = load_ron(path)?;
        f.validate(path)?;
        Ok(f)
    }

    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        if !matches!(self.provenance.fidelity, Fidelity::Approximate { tolerance_pp } if tolerance_pp > 0.0 && tolerance_pp.is_finite())
        {
            return Err(invalid(
                path,
                "provenance.fidelity".into(),
                "expected Approximate(tolerance_pp: > 0) for a digitised figure",
            ));
        }
        for (i, s) in self.series.iter().enumerate() {
            if s.points.is_empty() {
                return Err(invalid(
                    path,
                    format!("series[{i}].points"),
                    "expected points",
                ));
            }
            for (j, w) in s.points.windows(2).enumerate() {
                if w[1].gpu_hours <= w[0].gpu_hours {
                    return Err(invalid(
                        path,
                        format!("series[{i}].points[{}].gpu_hours", j + 1),
                        "expected strictly increasing compute",
                    ));
                }
            }
            if s.points
                .iter()
                .any(|p| !p.gpu_hours.is_finite() || !p.gain_percent.is_finite())
            {
                return Err(invalid(
                    path,
                    format!("series[{i}].points"),
                    "expected finite numbers",
                ));
            }
        }
        for (i, a) in self.series.iter().enumerate() {
            if self.series[..i]
                .iter()
                .any(|b| b.panel == a.panel && b.method == a.method)
            {
                return Err(invalid(
                    path,
                    format!("series[{i}]"),
                    "expected one series per (panel, method)",
                ));
            }
        }
        Ok(())
    }

    pub fn series(&self, panel: Split, method: RlMethod) -> Option<&PaperSeries> {
        self.series
            .iter()
            .find(|s| s.panel == panel && s.method == method)
    }

    pub fn tolerance(&self) -> f64 {
        self.provenance.fidelity.tolerance()
    }

    /// Builds the figure from `figure4_digitized.csv`; series keep the file's order.
    pub fn from_csv(path: &Path, provenance: Provenance) -> Result<Self, CsvError> {
        let p = path.display().to_string();
        let mut rdr = csv::Reader::from_path(path).map_err(|source| CsvError::Csv {
            path: p.clone(),
            source,
        })?;
        let mut series: Vec<PaperSeries> = Vec::new();
        let mut baselines = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|source| CsvError::Csv {
                path: p.clone(),
                source,
            })?;
            let line = rec.position().map_or(0, |pos| pos.line());
            let err = |field: &str, message: String| CsvError::Field {
                path: p.clone(),
                line,
                field: field.to_string(),
                message,
            };
            let field =
                |i: usize, name: &str| rec.get(i).ok_or_else(|| err(name, "missing column".into()));
            let panel = match field(0, "panel")? {
                "held-in" => Split::HeldIn,
                "held-out" => Split::HeldOut,
                s => {
                    return Err(err(
                        "panel",
                        format!("expected held-in|held-out, got `{s}`"),
                    ));
                }
            };
            let curve = field(1, "curve")?;
            let gain: f64 = field(3, "avg_relative_gain_percent")?
                .parse()
                .map_err(|e| err("avg_relative_gain_percent", format!("{e}")))?;
            if let Some(model) = curve.strip_prefix("baseline:") {
                let model = model
                    .parse::<PaperModel>()
                    .map_err(|e| err("curve", e.to_string()))?;
                baselines.push(PaperBaseline {
                    panel,
                    model,
                    gain_percent: gain,
                });
                continue;
            }
            let method = match curve {
                "step-wise-rl" => RlMethod::StepWise,
                "episode-wise-rl" => RlMethod::EpisodeWise,
                s => return Err(err("curve", format!("unknown curve `{s}`"))),
            };
            let gpu_hours: f64 = field(2, "gpu_hours")?
                .parse()
                .map_err(|e| err("gpu_hours", format!("{e}")))?;
            let point = PaperPoint {
                gpu_hours,
                gain_percent: gain,
            };
            match series
                .iter_mut()
                .find(|s| s.panel == panel && s.method == method)
            {
                Some(s) => s.points.push(point),
                None => series.push(PaperSeries {
                    panel,
                    method,
                    points: vec![point],
                }),
            }
        }
        Ok(PaperFigure4 {
            provenance,
            series,
            baselines,
        })
    }
}

/// Serialises golden data as the committed RON text (pretty, fixed layout).
pub fn to_ron_text<T: Serialize>(value: &T) -> Result<String, ron::Error> {
    let cfg = ron::ser::PrettyConfig::new()
        .indentor("    ".to_string())
        .struct_names(true);
    ron::ser::to_string_pretty(value, cfg).map(|mut s| {
        s.push('\n');
        s
    })
}
