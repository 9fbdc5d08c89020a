//! Claims checked on a reproduction: per-task comparisons tested across tasks, trends over
//! the RL curve, step- vs episode-wise at matched budgets; each verdict with its statistic.

use super::{Check, ReproCheck, Stat, Verdict, stat, trend_detail};
use crate::paper::{Agent, EvalTask, Level, RlMethod, Split};
use crate::report::compare::{Comparison, compare, fmt_p, oriented, scale_of};
use crate::results::{Curve, Figure4Run, ResultsTable, TaskResults};
use crate::seed::SeedPath;
use crate::stats::{SignTest, holm, signed_rank_test, trend_test};

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
