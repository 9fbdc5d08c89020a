//! The plain-text side-by-side table for the terminal.

use std::fmt::Write as _;

use super::{ReportInput, paper_header, side_rows};
use crate::paper::PaperModel;

/// Paper columns and this run's agents per task and level, aligned, best of each group marked
/// with `*`; then one line per claim.
pub fn text_table(input: &ReportInput) -> String {
    let (rows, agents) = side_rows(input);
    let mut header: Vec<String> = vec!["task".into(), "lvl".into()];
    header.extend(PaperModel::ALL.iter().map(|m| paper_header(*m).to_string()));
    header.push("|".into());
    header.push("starter".into());
    header.extend(agents.iter().map(|a| a.to_string()));
    let mut table: Vec<Vec<String>> = vec![header];
    for r in &rows {
        let mut line = vec![r.task.to_string(), r.level.label().to_string()];
        for (i, c) in r.paper.iter().enumerate() {
            line.push(if i == r.paper_best {
                format!("{c}*")
            } else {
                c.clone()
            });
        }
        line.push("|".into());
        line.push(r.starter.clone().unwrap_or_else(|| "-".into()));
        for (i, c) in r.ours.iter().enumerate() {
            line.push(match c {
                Some(c) if r.ours_best == Some(i) => format!("{c}*"),
                Some(c) => c.clone(),
                None => "-".into(),
            });
        }
        table.push(line);
    }
    let cols = table[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|j| {
            table
                .iter()
                .map(|r| r[j].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<w$}  paper (Table 1)  |  this run",
        "",
        w = widths[0] + widths[1] + 2
    );
    for r in &table {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let pad = widths[j] - c.chars().count();
                if j < 2 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        let _ = writeln!(s, "{}", cells.join("  ").trim_end());
    }
    if !input.claims.is_empty() {
        let _ = writeln!(s);
        for c in input.claims {
            let repro = c
                .reproduction
                .as_ref()
                .map_or("not evaluated".to_string(), |r| {
                    r.verdict.label().to_string()
                });
            let _ = writeln!(
                s,
                "claim {:<32} paper: {:<14} this run: {}",
                c.id,
                if c.paper.holds {
                    "holds"
                } else {
                    "DOES NOT HOLD"
                },
                repro
            );
        }
    }
    s
}
