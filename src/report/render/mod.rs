//! Report renderers. Every output is a pure function of its input: no timestamps, no hash-map
//! iteration, fixed float formatting, so equal inputs give equal bytes (the report is digested).

mod html;
mod markdown;
mod text;

pub use html::html;
pub use markdown::markdown;
pub use text::text_table;

use super::claims::ClaimOutcome;
use super::golden::{PaperFigure4, PaperTable1, Table1Row};
use crate::paper::{Agent, EvalTask, Level, PaperModel};
use crate::provenance::Digest;
use crate::results::{Figure4Run, ResultsTable};

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
}

/// Everything a report shows.
#[derive(Clone, Copy, Debug)]
pub struct ReportInput<'a> {
    pub title: &'a str,
    pub table: &'a PaperTable1,
    pub figure: &'a PaperFigure4,
    /// This run's Table 1 analogue, when one was produced.
    pub results: Option<&'a ResultsTable>,
    /// This run's Figure 4 analogue, when one was produced.
    pub curves: Option<&'a Figure4Run>,
    pub claims: &'a [ClaimOutcome],
    /// (name, sha256) of every config, dataset, checkpoint and manifest behind the numbers, in the
    /// caller's order.
    pub digests: &'a [(String, Digest)],
}

/// Short column headers for the paper's models.
pub(crate) fn paper_header(m: PaperModel) -> &'static str {
    match m {
        PaperModel::Qwen7b => "Qwen2.5-7B",
        PaperModel::Qwen32b => "Qwen2.5-32B",
        PaperModel::Gpt4oMini => "GPT-4o-mini",
        PaperModel::Gpt4o => "GPT-4o",
        PaperModel::DeepseekR1 => "DeepSeek-R1",
        PaperModel::MlAgent => "ML-Agent",
    }
}

/// A paper cell as printed.
pub(crate) fn paper_cell(row: &Table1Row, m: PaperModel) -> String {
    format!("{:.*}", row.decimals as usize, row.scores.get(m))
}

/// This run's value, with the paper row's decimals but at least 3 (stand-in metrics can sit on
/// a different scale from the paper's).
pub(crate) fn our_cell(row: &Table1Row, v: f64) -> String {
    format!("{:.*}", (row.decimals as usize).max(3), v)
}

/// One line of the side-by-side table: paper cells, starter and this run's cells.
pub(crate) struct SideRow<'a> {
    pub task: EvalTask,
    pub level: Level,
    pub row: &'a Table1Row,
    pub paper: Vec<String>,
    /// Index into `paper` of the best paper column.
    pub paper_best: usize,
    pub starter: Option<String>,
    /// One per agent of `agents`; `None` when the agent was not evaluated on this task.
    pub ours: Vec<Option<String>>,
    pub ours_best: Option<usize>,
}

/// The rows of the side-by-side table, in the paper's order, and the agents shown.
pub(crate) fn side_rows<'a>(input: &ReportInput<'a>) -> (Vec<SideRow<'a>>, Vec<Agent>) {
    let agents = input.results.map(|r| r.agents()).unwrap_or_default();
    let mut rows = Vec::new();
    for task in EvalTask::ALL {
        for level in Level::ALL {
            let row = input.table.row(*task, level);
            let vals: Vec<f64> = PaperModel::ALL.iter().map(|m| row.scores.get(*m)).collect();
            let paper_best = best_index(
                row.direction,
                &vals.iter().map(|v| Some(*v)).collect::<Vec<_>>(),
            )
            .expect("six paper columns");
            let tr = input.results.and_then(|r| r.task(*task));
            let our_vals: Vec<Option<f64>> = agents
                .iter()
                .map(|a| tr.and_then(|t| t.cell(*a, level)))
                .collect();
            rows.push(SideRow {
                task: *task,
                level,
                row,
                paper: PaperModel::ALL
                    .iter()
                    .map(|m| paper_cell(row, *m))
                    .collect(),
                paper_best,
                starter: tr.map(|t| our_cell(row, t.starter)),
                ours: our_vals
                    .iter()
                    .map(|v| v.map(|v| our_cell(row, v)))
                    .collect(),
                ours_best: best_index(row.direction, &our_vals),
            });
        }
    }
    (rows, agents)
}

/// Index of the first best present value.
fn best_index(d: crate::paper::Direction, vals: &[Option<f64>]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in vals.iter().enumerate() {
        if let Some(v) = v
            && best.is_none_or(|(_, b)| d.is_better(*v, b))
        {
            best = Some((i, *v));
        }
    }
    best.map(|(i, _)| i)
}

/// Fixed formatting of a relative gain.
pub(crate) fn fmt_gain(g: Option<f64>) -> String {
    g.map_or("–".to_string(), |g| {
        let s = format!("{g:+.2}%");
        // A zero gain (or one that rounds to zero) reads as no change, never "-0.00%".
        if s == "-0.00%" {
            "+0.00%".to_string()
        } else {
            s
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn zero_gain_has_no_minus_sign() {
        assert_eq!(super::fmt_gain(Some(-0.0)), "+0.00%");
        assert_eq!(super::fmt_gain(Some(-0.001)), "+0.00%");
        assert_eq!(super::fmt_gain(Some(-0.01)), "-0.01%");
        assert_eq!(super::fmt_gain(Some(12.345)), "+12.35%");
        assert_eq!(super::fmt_gain(None), "–");
    }
}
