//! Claims checked on the paper's own numbers (Table 1 and Figure 4): each must hold there.

use super::{Check, PaperCheck, trend_detail};
use crate::paper::{Level, PaperModel, RlMethod, Split};
use crate::report::golden::{PaperFigure4, PaperTable1};
use crate::stats::trend_test;

/// Checks a claim on the paper's Table 1 and Figure 4.
pub fn check_paper(check: &Check, table: &PaperTable1, figure: &PaperFigure4) -> PaperCheck {
    match check {
        Check::BestInAllCells { levels, .. } => {
            let (holds, n, fails) = paper_best_cells(table, levels, &PaperModel::BASELINES, None);
            PaperCheck {
                holds,
                detail: best_detail(n, &fails),
            }
        }
        Check::BeatsBaselines {
            paper_baselines,
            levels,
            ..
        } => {
            let (holds, n, fails) = paper_best_cells(table, levels, paper_baselines, None);
            let names: Vec<&str> = paper_baselines.iter().map(|m| m.id()).collect();
            PaperCheck {
                holds,
                detail: format!("vs {}: {}", names.join(", "), best_detail(n, &fails)),
            }
        }
        Check::ImprovesWithRlSteps {
            method,
            splits,
            alpha,
        } => {
            let tol = 2.0 * figure.tolerance();
            let mut holds = true;
            let mut parts = Vec::new();
            for s in splits {
                match figure.series(*s, *method) {
                    Some(series) => {
                        let ys: Vec<f64> = series.points.iter().map(|p| p.gain_percent).collect();
                        let t = trend_test(&ys, tol);
                        holds &= t.p_increasing <= *alpha && t.tau > 0.0;
                        parts.push(format!("{}: {}", s.label(), trend_detail(&t)));
                    }
                    None => {
                        holds = false;
                        parts.push(format!("{}: no {} series", s.label(), method.label()));
                    }
                }
            }
            PaperCheck {
                holds,
                detail: format!(
                    "Mann–Kendall, increases ≤ {tol:.1} pp count against the trend, alpha {alpha}; {}",
                    parts.join("; ")
                ),
            }
        }
        Check::StepWiseBeatsEpisodeWise { splits, .. } => {
            let margin = 2.0 * figure.tolerance();
            let mut holds = true;
            let mut parts = Vec::new();
            for s in splits {
                let (Some(step), Some(ep)) = (
                    figure.series(*s, RlMethod::StepWise),
                    figure.series(*s, RlMethod::EpisodeWise),
                ) else {
                    holds = false;
                    parts.push(format!("{}: missing a series", s.label()));
                    continue;
                };
                let x0 = step.points[0].gpu_hours.max(ep.points[0].gpu_hours);
                let mut matched = 0;
                for e in ep.points.iter().filter(|e| e.gpu_hours > x0) {
                    let latest = step
                        .points
                        .iter()
                        .rev()
                        .find(|p| p.gpu_hours <= e.gpu_hours);
                    matched += 1;
                    match latest {
                        Some(p) if p.gain_percent - e.gain_percent > margin => parts.push(format!(
                            "{}: at {:.2} GPU h step-wise {:.1}% vs episode-wise {:.1}%",
                            s.label(),
                            e.gpu_hours,
                            p.gain_percent,
                            e.gain_percent
                        )),
                        _ => {
                            holds = false;
                            parts.push(format!(
                                "{}: at {:.2} GPU h step-wise is not ahead by > {margin:.1} pp",
                                s.label(),
                                e.gpu_hours
                            ));
                        }
                    }
                }
                if matched == 0 {
                    holds = false;
                    parts.push(format!("{}: no matched budget", s.label()));
                }
            }
            PaperCheck {
                holds,
                detail: format!("margin {margin:.1} pp; {}", parts.join("; ")),
            }
        }
        Check::GeneralisesHeldOut { .. } => {
            let (best, n, fails) = paper_best_cells(
                table,
                &[Level::Avg],
                &PaperModel::BASELINES,
                Some(Split::HeldOut),
            );
            let tol = 2.0 * figure.tolerance();
            let rise = figure
                .series(Split::HeldOut, RlMethod::StepWise)
                .map(|s| s.points[s.points.len() - 1].gain_percent - s.points[0].gain_percent);
            let rises = rise.is_some_and(|r| r > tol);
            PaperCheck {
                holds: best && rises,
                detail: format!(
                    "held-out Avg cells: {}; held-out step-wise RL gain rises by {} (needs > {tol:.1} pp)",
                    best_detail(n, &fails),
                    rise.map_or("n/a".to_string(), |r| format!("{r:.1} pp"))
                ),
            }
        }
    }
}

/// Is ML-Agent strictly better than every `rivals` column in each cell? Returns (all hold,
/// cells checked, failing cells).
fn paper_best_cells(
    table: &PaperTable1,
    levels: &[Level],
    rivals: &[PaperModel],
    split: Option<Split>,
) -> (bool, usize, Vec<String>) {
    let mut n = 0;
    let mut fails = Vec::new();
    for r in &table.rows {
        if !levels.contains(&r.level) || split.is_some_and(|s| r.split != s) {
            continue;
        }
        n += 1;
        let ours = r.scores.get(PaperModel::MlAgent);
        for m in rivals {
            if !r.direction.is_better(ours, r.scores.get(*m)) {
                fails.push(format!("{} {} vs {}", r.task, r.level.label(), m));
            }
        }
    }
    (fails.is_empty() && n > 0, n, fails)
}

fn best_detail(n: usize, fails: &[String]) -> String {
    if fails.is_empty() {
        format!("ML-Agent strictly best in {n}/{n} cells")
    } else {
        format!("not best in: {}", fails.join(", "))
    }
}
