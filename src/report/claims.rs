//! The paper's claims as typed predicates (`paper/claims.ron`), each checked twice: on the
//! paper's own numbers (it must hold there: a test keeps it so) and on a reproduction, where the
//! verdict is Reproduced / NotReproduced / Inconclusive with the statistic that decided it.
//! docs/report.md explains each statistic and threshold.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compare::{Comparison, compare, fmt_p, oriented, scale_of};
use super::golden::{PaperFigure4, PaperTable1};
use crate::config_file::{ConfigError, load_ron};
use crate::paper::{Agent, EvalTask, Level, PaperModel, RlMethod, Split};
use crate::results::{Curve, Figure4Run, ResultsTable, TaskResults};
use crate::seed::SeedPath;
use crate::stats::{SignTest, TrendTest, holm, signed_rank_test, trend_test};

/// Resamples of the bootstrap effect-size intervals (reported, never deciding a verdict).
pub const BOOTSTRAP_RESAMPLES: u32 = 10_000;
/// Confidence of the bootstrap effect-size intervals.
pub const BOOTSTRAP_CONFIDENCE: f64 = 0.95;

/// How a claim is checked. Each variant carries its paper-side predicate's parameters and its
/// reproduction statistic's threshold, so a claim cannot be paired with a meaningless test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Check {
    /// ML-Agent is strictly the best column in every (task, level) cell.
    /// Reproduction: point estimates best in every cell AND a pooled paired sign test over
    /// tasks × trajectories against each task's runner-up with p ≤ `alpha`. A cell where a rival
    /// beats ML-Agent counts as a counterexample when that rival's per-cell sign test over the
    /// trajectories has p ≤ `cell_alpha`.
    BestInAllCells {
        levels: Vec<Level>,
        /// This run's agents ML-Agent is compared with.
        rivals: Vec<Agent>,
        alpha: f64,
        cell_alpha: f64,
    },
    /// ML-Agent beats each listed paper baseline in every cell at `levels`.
    /// Reproduction: per listed agent, a paired sign test over tasks × trajectories, Holm-corrected
    /// across agents at family-wise `alpha`.
    BeatsBaselines {
        paper_baselines: Vec<PaperModel>,
        levels: Vec<Level>,
        baselines: Vec<Agent>,
        alpha: f64,
    },
    /// The method's average relative gain increases with RL steps, in each split.
    /// Paper: Mann–Kendall on Figure 4's digitised curve, increases within twice the read-off
    /// tolerance counting against the trend. Reproduction: the same test on this run's curve.
    ImprovesWithRlSteps {
        method: RlMethod,
        splits: Vec<Split>,
        alpha: f64,
    },
    /// At every compute budget episode-wise RL reached (beyond the shared start), step-wise RL's
    /// latest checkpoint within that budget has a higher average gain.
    /// Reproduction (compute = work units): that dominance on the split averages AND a paired
    /// sign test over tasks at the largest matched budget with p ≤ `alpha`.
    StepWiseBeatsEpisodeWise { splits: Vec<Split>, alpha: f64 },
    /// Trained on held-in tasks only, ML-Agent is best on every held-out Avg cell and step-wise RL
    /// raises the held-out gain. Reproduction: paired sign test over held-out tasks ×
    /// trajectories, ML-Agent vs `reference` (the same policy before RL), p ≤ `alpha`.
    GeneralisesHeldOut { reference: Agent, alpha: f64 },
}

/// One claim of the paper.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub id: String,
    /// The claim in words.
    pub statement: String,
    /// Where in the paper it is made.
    pub source: String,
    pub check: Check,
}

/// `paper/claims.ron`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSet {
    pub claims: Vec<Claim>,
}

impl ClaimSet {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let s: ClaimSet = load_ron(path)?;
        for (i, c) in s.claims.iter().enumerate() {
            let bad = |field: &str, message: &str| ConfigError::Invalid {
                path: path.to_path_buf(),
                field: format!("claims[{i}].{field}"),
                message: message.to_string(),
            };
            if c.id.trim().is_empty() {
                return Err(bad("id", "expected a non-empty id"));
            }
            if s.claims[..i].iter().any(|d| d.id == c.id) {
                return Err(bad("id", "expected unique claim ids"));
            }
            let alphas: Vec<f64> = match &c.check {
                Check::BestInAllCells {
                    alpha, cell_alpha, ..
                } => vec![*alpha, *cell_alpha],
                Check::BeatsBaselines { alpha, .. }
                | Check::ImprovesWithRlSteps { alpha, .. }
                | Check::StepWiseBeatsEpisodeWise { alpha, .. }
                | Check::GeneralisesHeldOut { alpha, .. } => vec![*alpha],
            };
            if alphas.iter().any(|a| !(*a > 0.0 && *a < 1.0)) {
                return Err(bad(
                    "check.alpha",
                    "expected a significance level in (0, 1)",
                ));
            }
        }
        Ok(s)
    }
}

/// A claim checked on the paper's own numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PaperCheck {
    pub holds: bool,
    /// What was checked and the numbers that decided it.
    pub detail: String,
}

/// The outcome on a reproduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    Inconclusive,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A named number behind a verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub name: String,
    pub value: f64,
}

/// A claim checked on a reproduction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReproCheck {
    pub verdict: Verdict,
    /// The statistic used, e.g. "paired sign test (exact binomial), tasks × trajectories".
    pub statistic: String,
    pub detail: String,
    pub stats: Vec<Stat>,
}

/// A claim with both checks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClaimOutcome {
    pub id: String,
    pub statement: String,
    pub source: String,
    pub paper: PaperCheck,
    pub reproduction: Option<ReproCheck>,
}

fn stat(name: &str, value: f64) -> Stat {
    Stat {
        name: name.to_string(),
        value,
    }
}

/// Evaluates every claim on the paper and, when given, on a reproduction. `seed` roots the
/// bootstrap streams (`seed/claims/<claim id>/...`).
pub fn evaluate(
    claims: &ClaimSet,
    table: &PaperTable1,
    figure: &PaperFigure4,
    results: Option<&ResultsTable>,
    curves: Option<&Figure4Run>,
    seed: &SeedPath,
) -> Vec<ClaimOutcome> {
    claims
        .claims
        .iter()
        .map(|c| ClaimOutcome {
            id: c.id.clone(),
            statement: c.statement.clone(),
            source: c.source.clone(),
            paper: check_paper(&c.check, table, figure),
            reproduction: match results {
                Some(r) => Some(check_reproduction(
                    &c.check,
                    r,
                    curves,
                    &seed.child("claims").child(&c.id),
                )),
                // Curve claims need only the curves (the `figure4` target has no Table 1).
                None => curves.and_then(|f| check_curve_claim(&c.check, f)),
            },
        })
        .collect()
}

// ---------------------------------------------------------------- paper side

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

fn trend_detail(t: &TrendTest) -> String {
    format!(
        "n {}, tau {:.3}, p {}{}",
        t.n,
        t.tau,
        fmt_p(t.p_increasing),
        if t.exact { "" } else { " (normal approx.)" }
    )
}

// ---------------------------------------------------------------- reproduction side

/// Checks a claim that reads only the RL curves; `None` for claims that need Table 1.
pub fn check_curve_claim(check: &Check, curves: &Figure4Run) -> Option<ReproCheck> {
    match check {
        Check::ImprovesWithRlSteps {
            method,
            splits,
            alpha,
        } => Some(repro_trend(curves.curve(*method), *method, splits, *alpha)),
        Check::StepWiseBeatsEpisodeWise { splits, alpha } => {
            Some(repro_step_vs_episode(Some(curves), splits, *alpha))
        }
        _ => None,
    }
}

/// Checks a claim on a reproduction.
pub fn check_reproduction(
    check: &Check,
    results: &ResultsTable,
    curves: Option<&Figure4Run>,
    seed: &SeedPath,
) -> ReproCheck {
    match check {
        Check::BestInAllCells {
            levels,
            rivals,
            alpha,
            cell_alpha,
        } => repro_best_cells(results, levels, rivals, *alpha, *cell_alpha),
        Check::BeatsBaselines {
            baselines, alpha, ..
        } => repro_beats(results, baselines, *alpha, seed),
        Check::ImprovesWithRlSteps {
            method,
            splits,
            alpha,
        } => repro_trend(
            curves.and_then(|c| c.curve(*method)),
            *method,
            splits,
            *alpha,
        ),
        Check::StepWiseBeatsEpisodeWise { splits, alpha } => {
            repro_step_vs_episode(curves, splits, *alpha)
        }
        Check::GeneralisesHeldOut { reference, alpha } => {
            let tasks: Vec<EvalTask> = EvalTask::in_split(Split::HeldOut).collect();
            match compare(
                results,
                &tasks,
                Agent::MlAgent,
                *reference,
                &seed.child(reference.id()),
            ) {
                None => inconclusive(
                    ACROSS_TASKS,
                    format!("no held-out task has both ml-agent and {reference}"),
                ),
                Some(c) => across_verdict(
                    &c,
                    *alpha,
                    &format!("held-out tasks, ml-agent vs {reference}"),
                ),
            }
        }
    }
}

/// What an RL claim of one reproduction rests on.
const ONE_SEED: &str = "rests on one training seed (`reproduce --seeds N` repeats it under N)";

/// The statistic of every agent-vs-agent claim (report::compare).
const ACROSS_TASKS: &str = "per-task mean score (normalised improvement), Wilcoxon signed-rank test across tasks, hierarchical bootstrap CI (tasks, then trajectories)";

fn comparison_stats(c: &Comparison, prefix: &str) -> Vec<Stat> {
    vec![
        stat(&format!("{prefix}tasks better"), c.wins as f64),
        stat(&format!("{prefix}tasks worse"), c.losses as f64),
        stat(&format!("{prefix}tasks tied"), c.ties as f64),
        stat(&format!("{prefix}p (one-sided)"), c.p_better()),
        stat(&format!("{prefix}mean difference"), c.mean_diff.estimate),
        stat(&format!("{prefix}CI low"), c.mean_diff.lo),
        stat(&format!("{prefix}CI high"), c.mean_diff.hi),
    ]
}

/// Reproduced when the signed-rank p ≤ alpha; NotReproduced when the subject is not better on
/// more tasks than it is worse; otherwise Inconclusive (right direction, not significant).
fn across_verdict(c: &Comparison, alpha: f64, what: &str) -> ReproCheck {
    let verdict = if c.p_better() <= alpha && c.wins > c.losses {
        Verdict::Reproduced
    } else if c.wins <= c.losses {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    let mut stats = comparison_stats(c, "");
    stats.push(stat("alpha", alpha));
    ReproCheck {
        verdict,
        statistic: ACROSS_TASKS.to_string(),
        detail: format!("{what}: {} (alpha {alpha})", c.text()),
        stats,
    }
}

fn inconclusive(statistic: &str, detail: String) -> ReproCheck {
    ReproCheck {
        verdict: Verdict::Inconclusive,
        statistic: statistic.to_string(),
        detail,
        stats: Vec::new(),
    }
}

fn sign_stats(t: &SignTest) -> Vec<Stat> {
    vec![
        stat("wins", t.wins as f64),
        stat("losses", t.losses as f64),
        stat("ties", t.ties as f64),
        stat("p (one-sided)", t.p_better),
    ]
}

fn sign_text(t: &SignTest) -> String {
    format!(
        "{} wins, {} losses, {} ties, one-sided p {}",
        t.wins,
        t.losses,
        t.ties,
        fmt_p(t.p_better)
    )
}

/// The agent of `agents` (non-empty, all present in `tr`) with the best Avg; the first on ties.
fn strongest(tr: &TaskResults, agents: &[Agent]) -> Agent {
    let d = tr.direction();
    agents
        .iter()
        .copied()
        .reduce(|a, b| {
            if d.is_better(tr.avg(b).expect("present"), tr.avg(a).expect("present")) {
                b
            } else {
                a
            }
        })
        .expect("callers pass a non-empty list")
}

fn repro_best_cells(
    results: &ResultsTable,
    levels: &[Level],
    rivals: &[Agent],
    alpha: f64,
    cell_alpha: f64,
) -> ReproCheck {
    let statistic = "cells where ml-agent is best; Wilcoxon signed-rank test across tasks of the per-task mean score (normalised improvement) vs each task's runner-up; per-cell sign test over trajectories for reversals";
    let scale = scale_of(results);
    let (mut cells, mut best_cells) = (0, 0);
    let mut misses = Vec::new();
    let mut significant_reversals = Vec::new();
    let mut diffs = Vec::new();
    for tr in &results.tasks {
        let d = tr.direction();
        let Some(ours) = tr.scores(Agent::MlAgent) else {
            continue;
        };
        let present: Vec<Agent> = rivals
            .iter()
            .copied()
            .filter(|a| *a != Agent::MlAgent && tr.scores(*a).is_some())
            .collect();
        if present.is_empty() {
            continue;
        }
        for level in levels {
            cells += 1;
            let mine = tr.cell(Agent::MlAgent, *level).expect("ml-agent present");
            let beaten_by: Vec<Agent> = present
                .iter()
                .copied()
                .filter(|a| !d.is_better(mine, tr.cell(*a, *level).expect("rival present")))
                .collect();
            if beaten_by.is_empty() {
                best_cells += 1;
            } else {
                misses.push(format!("{} {}", tr.task, level.label()));
                if *level == Level::Avg {
                    // The strongest rival of the cell (best Avg) decides whether it is a
                    // significant counterexample.
                    let a = strongest(tr, &beaten_by);
                    let theirs = tr.scores(a).expect("rival present");
                    let t = SignTest::from_pairs(
                        theirs.iter().copied().zip(ours.iter().copied()),
                        |x, y| d.is_better(x, y),
                    );
                    if t.wins > t.losses && t.p_better <= cell_alpha {
                        significant_reversals.push(format!(
                            "{} ({a} better, p {})",
                            tr.task,
                            fmt_p(t.p_better)
                        ));
                    }
                }
            }
        }
        // Runner-up by Avg: the rival with the best mean.
        let runner = strongest(tr, &present);
        if let (Some(x), Some(y)) = (
            oriented(tr, Agent::MlAgent, scale),
            oriented(tr, runner, scale),
        ) {
            let m = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            diffs.push(m(x.as_slice()) - m(y.as_slice()));
        }
    }
    if cells == 0 {
        return inconclusive(statistic, "no task has ml-agent and a rival".to_string());
    }
    let (wins, losses) = (
        diffs.iter().filter(|d| **d > 0.0).count(),
        diffs.iter().filter(|d| **d < 0.0).count(),
    );
    let p = signed_rank_test(&diffs).map_or(1.0, |t| t.p_greater);
    let verdict = if best_cells == cells && p <= alpha && wins > losses {
        Verdict::Reproduced
    } else if wins <= losses || !significant_reversals.is_empty() {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    let mut stats = vec![
        stat("cells", cells as f64),
        stat("ml-agent best", best_cells as f64),
    ];
    stats.push(stat("tasks better than runner-up", wins as f64));
    stats.push(stat("tasks worse than runner-up", losses as f64));
    stats.push(stat("p (one-sided)", p));
    stats.push(stat("alpha", alpha));
    let mut detail = format!(
        "ml-agent best in {best_cells}/{cells} cells; vs each task's runner-up over {} tasks ({}): {wins} better, {losses} worse, Wilcoxon signed-rank one-sided p {} (alpha {alpha})",
        diffs.len(),
        scale.label(),
        fmt_p(p)
    );
    if !misses.is_empty() {
        detail.push_str(&format!("; not best in: {}", misses.join(", ")));
    }
    if !significant_reversals.is_empty() {
        detail.push_str(&format!(
            "; significant reversals (cell alpha {cell_alpha}): {}",
            significant_reversals.join(", ")
        ));
    }
    ReproCheck {
        verdict,
        statistic: statistic.to_string(),
        detail,
        stats,
    }
}

fn repro_beats(
    results: &ResultsTable,
    baselines: &[Agent],
    alpha: f64,
    seed: &SeedPath,
) -> ReproCheck {
    let statistic = "per-task mean score (normalised improvement), Wilcoxon signed-rank test across tasks per baseline, Holm-corrected across baselines; hierarchical bootstrap CI (tasks, then trajectories)";
    let tasks: Vec<EvalTask> = EvalTask::ALL.to_vec();
    let tests: Vec<(Agent, Comparison)> = baselines
        .iter()
        .filter_map(|b| {
            compare(results, &tasks, Agent::MlAgent, *b, &seed.child(b.id())).map(|c| (*b, c))
        })
        .collect();
    let missing: Vec<&str> = baselines
        .iter()
        .filter(|b| !tests.iter().any(|(a, _)| a == *b))
        .map(|b| b.id())
        .collect();
    if tests.is_empty() {
        return inconclusive(statistic, "no baseline agent was evaluated".to_string());
    }
    let ps: Vec<f64> = tests.iter().map(|(_, c)| c.p_better()).collect();
    let rejected = holm(&ps, alpha);
    let any_lost = tests.iter().any(|(_, c)| c.wins <= c.losses);
    let verdict = if any_lost {
        Verdict::NotReproduced
    } else if rejected.iter().all(|r| *r) && missing.is_empty() {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    };
    let mut stats = Vec::new();
    let mut parts = Vec::new();
    for ((a, c), r) in tests.iter().zip(&rejected) {
        stats.extend(comparison_stats(c, &format!("vs {a}: ")));
        parts.push(format!(
            "vs {a}: {}{}",
            c.text(),
            if *r { " (significant after Holm)" } else { "" }
        ));
    }
    stats.push(stat("alpha", alpha));
    let mut detail = parts.join("; ");
    if !missing.is_empty() {
        detail.push_str(&format!("; not evaluated: {}", missing.join(", ")));
    }
    ReproCheck {
        verdict,
        statistic: statistic.to_string(),
        detail,
        stats,
    }
}

fn repro_trend(
    curve: Option<&Curve>,
    method: RlMethod,
    splits: &[Split],
    alpha: f64,
) -> ReproCheck {
    let statistic = "Mann–Kendall trend test (exact null), average relative gain vs RL step; ties count against the trend";
    let Some(curve) = curve else {
        return inconclusive(
            statistic,
            format!("no {} curve was produced", method.label()),
        );
    };
    let mut verdicts = Vec::new();
    let mut parts = Vec::new();
    let mut stats = Vec::new();
    for s in splits {
        let ys: Vec<f64> = curve.points.iter().filter_map(|p| p.avg_gain(*s)).collect();
        if ys.len() < 3 {
            verdicts.push(Verdict::Inconclusive);
            parts.push(format!("{}: {} points (need ≥ 3)", s.label(), ys.len()));
            continue;
        }
        let t = trend_test(&ys, 0.0);
        verdicts.push(if t.p_increasing <= alpha && t.tau > 0.0 {
            Verdict::Reproduced
        } else if t.tau <= 0.0 {
            Verdict::NotReproduced
        } else {
            Verdict::Inconclusive
        });
        stats.push(stat(&format!("tau {}", s.label()), t.tau));
        stats.push(stat(&format!("p {}", s.label()), t.p_increasing));
        parts.push(format!("{}: {}", s.label(), trend_detail(&t)));
    }
    stats.push(stat("alpha", alpha));
    ReproCheck {
        verdict: combine(&verdicts),
        statistic: statistic.to_string(),
        detail: format!("{} (alpha {alpha}); {ONE_SEED}", parts.join("; ")),
        stats,
    }
}

/// All reproduced → Reproduced; any not reproduced → NotReproduced; else Inconclusive.
fn combine(vs: &[Verdict]) -> Verdict {
    if vs.is_empty() {
        Verdict::Inconclusive
    } else if vs.contains(&Verdict::NotReproduced) {
        Verdict::NotReproduced
    } else if vs.iter().all(|v| *v == Verdict::Reproduced) {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    }
}

fn repro_step_vs_episode(curves: Option<&Figure4Run>, splits: &[Split], alpha: f64) -> ReproCheck {
    let statistic = "average-gain dominance at every matched policy-token budget (forward-equivalent tokens, the analogue of the paper's GPU hours); exact sign test over tasks at the largest matched budget";
    let (Some(step), Some(ep)) = (
        curves.and_then(|c| c.curve(RlMethod::StepWise)),
        curves.and_then(|c| c.curve(RlMethod::EpisodeWise)),
    ) else {
        return inconclusive(
            statistic,
            "needs both a step-wise and an episode-wise curve".into(),
        );
    };
    let (Some(s0), Some(e0)) = (step.points.first(), ep.points.first()) else {
        return inconclusive(statistic, "a curve has no points".into());
    };
    let x0 = s0.policy_tokens.max(e0.policy_tokens);
    let mut dominated = true;
    let mut parts = Vec::new();
    let mut last_match = None;
    for e in ep.points.iter().filter(|e| e.policy_tokens > x0) {
        let Some(p) = step
            .points
            .iter()
            .rev()
            .find(|p| p.policy_tokens <= e.policy_tokens)
        else {
            continue;
        };
        for s in splits {
            let (Some(gs), Some(ge)) = (p.avg_gain(*s), e.avg_gain(*s)) else {
                continue;
            };
            if gs <= ge {
                dominated = false;
            }
            parts.push(format!(
                "{} at {} policy tokens: {gs:.2}% vs {ge:.2}%",
                s.label(),
                e.policy_tokens
            ));
        }
        last_match = Some((p, e));
    }
    let Some((p, e)) = last_match else {
        return inconclusive(statistic, "no episode-wise checkpoint beyond the shared start has a step-wise checkpoint within its budget".into());
    };
    let pairs: Vec<(f64, f64)> = EvalTask::ALL
        .iter()
        .filter(|t| splits.contains(&t.split()))
        .filter_map(|t| Some((p.gain(*t)?, e.gain(*t)?)))
        .collect();
    let t = SignTest::from_pairs(pairs, |a, b| a > b);
    let verdict = if dominated && t.wins + t.losses > 0 && t.p_better <= alpha {
        Verdict::Reproduced
    } else if t.wins <= t.losses {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    let mut stats = sign_stats(&t);
    stats.push(stat("alpha", alpha));
    ReproCheck {
        verdict,
        statistic: statistic.to_string(),
        detail: format!(
            "{}; dominance {}; tasks at {} policy tokens (step-wise step {} vs episode-wise step {}): {} (alpha {alpha}); {ONE_SEED}",
            parts.join("; "),
            if dominated { "holds" } else { "fails" },
            e.policy_tokens,
            p.rl_step,
            e.rl_step,
            sign_text(&t)
        ),
        stats,
    }
}
