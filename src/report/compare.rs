//! Agents compared the way a reviewer would accept: per task, then tested across tasks. The
//! unit of evidence is the task (13 in Table 1), not the trajectory: trajectory i of two agents
//! shares only a seed path, which different policies use differently, so pooling tasks ×
//! trajectories into one test would count one task's luck eight times.
//!
//! The score is the normalised improvement (`results::normalised_improvement`), the share of a
//! task's known achievable improvement, so tasks with different metrics and starters near 0 can
//! be averaged; tables without improvement ranges (the paper's) fall back to relative gain.
//! Following rliable (Agarwal et al. 2021): interquartile means with stratified bootstrap
//! intervals, and the probability of improvement.

use serde::{Deserialize, Serialize};

use crate::paper::{Agent, EvalTask};
use crate::results::{ResultsTable, TaskResults, relative_gain};
use crate::seed::SeedPath;
use crate::stats::{
    Interval, SignedRankTest, hierarchical_bootstrap_ci, interquartile_mean,
    probability_of_improvement, signed_rank_test, stratified_bootstrap_ci,
};

/// Resamples of every interval here.
pub(crate) const RESAMPLES: u32 = 2_000;
pub(crate) const CONFIDENCE: f64 = 0.95;

/// What a task's scores are measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    /// Share of the known achievable improvement, clipped to [−1, 1].
    Normalised,
    /// Relative gain over the starter, in %.
    RelativeGainPercent,
}

impl Scale {
    pub fn label(self) -> &'static str {
        match self {
            Scale::Normalised => "normalised improvement",
            Scale::RelativeGainPercent => "relative gain (%)",
        }
    }
}

/// The table's scale: normalised when every task has an improvement range.
pub fn scale_of(results: &ResultsTable) -> Scale {
    if !results.tasks.is_empty() && results.tasks.iter().all(|t| t.improvement_range.is_some()) {
        Scale::Normalised
    } else {
        Scale::RelativeGainPercent
    }
}

/// An agent's trajectory scores on a task in `scale` (higher is better).
pub fn oriented(tr: &TaskResults, agent: Agent, scale: Scale) -> Option<Vec<f64>> {
    match scale {
        Scale::Normalised => tr.normalised(agent),
        Scale::RelativeGainPercent => tr
            .scores(agent)?
            .iter()
            .map(|s| relative_gain(tr.direction(), tr.starter, *s))
            .collect(),
    }
}

/// `a` against `b` over tasks.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub scale: Scale,
    pub tasks: usize,
    /// Tasks where a's mean score is above, below, equal to b's.
    pub wins: usize,
    pub losses: usize,
    pub ties: usize,
    /// Wilcoxon signed-rank over the per-task mean differences (`None`: all tied).
    pub signed_rank: Option<SignedRankTest>,
    /// Mean over tasks of the mean difference, with its two-level bootstrap interval.
    pub mean_diff: Interval,
    /// rliable's P(a > b), with its stratified bootstrap interval.
    pub p_improvement: Option<Interval>,
}

impl Comparison {
    /// One-sided p of "a is better" (1 when every task ties).
    pub(crate) fn p_better(&self) -> f64 {
        self.signed_rank.map_or(1.0, |t| t.p_greater)
    }

    pub fn text(&self) -> String {
        let mut s = format!(
            "over {} tasks ({}): {} better, {} worse, {} tied; Wilcoxon signed-rank one-sided p {}; mean difference {:+.3} (95% hierarchical bootstrap CI [{:+.3}, {:+.3}])",
            self.tasks,
            self.scale.label(),
            self.wins,
            self.losses,
            self.ties,
            fmt_p(self.p_better()),
            self.mean_diff.estimate,
            self.mean_diff.lo,
            self.mean_diff.hi
        );
        if let Some(p) = &self.p_improvement {
            s.push_str(&format!(
                "; P(improvement) {:.2} [{:.2}, {:.2}]",
                p.estimate, p.lo, p.hi
            ));
        }
        s
    }
}

/// Compares `a` with `b` over `tasks` (tasks lacking either agent, or a defined score, are
/// skipped); `None` when no task remains.
pub fn compare(
    results: &ResultsTable,
    tasks: &[EvalTask],
    a: Agent,
    b: Agent,
    seed: &SeedPath,
) -> Option<Comparison> {
    let scale = scale_of(results);
    let mut pairs = Vec::new();
    let (mut xa, mut xb) = (Vec::new(), Vec::new());
    for t in tasks {
        let Some(tr) = results.task(*t) else { continue };
        let (Some(sa), Some(sb)) = (oriented(tr, a, scale), oriented(tr, b, scale)) else {
            continue;
        };
        pairs.push(
            sa.iter()
                .copied()
                .zip(sb.iter().copied())
                .collect::<Vec<_>>(),
        );
        xa.push(sa);
        xb.push(sb);
    }
    if pairs.is_empty() {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let diffs: Vec<f64> = xa.iter().zip(&xb).map(|(x, y)| mean(x) - mean(y)).collect();
    let mean_diff = hierarchical_bootstrap_ci(
        &pairs,
        RESAMPLES,
        CONFIDENCE,
        &mut seed.child("mean-diff").rng(),
    )?;
    let n = xa.len();
    let both: Vec<Vec<f64>> = xa.iter().chain(&xb).cloned().collect();
    let p_improvement = stratified_bootstrap_ci(
        &both,
        |s| probability_of_improvement(&s[..n], &s[n..]),
        RESAMPLES,
        CONFIDENCE,
        &mut seed.child("p-improvement").rng(),
    );
    Some(Comparison {
        scale,
        tasks: diffs.len(),
        wins: diffs.iter().filter(|d| **d > 0.0).count(),
        losses: diffs.iter().filter(|d| **d < 0.0).count(),
        ties: diffs.iter().filter(|d| **d == 0.0).count(),
        signed_rank: signed_rank_test(&diffs),
        mean_diff,
        p_improvement,
    })
}

/// One agent's aggregate over tasks: a row of the report's aggregate table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Aggregate {
    pub agent: Agent,
    pub tasks: usize,
    /// Interquartile mean of every (task, trajectory) score, stratified bootstrap interval.
    pub iqm: Interval,
    /// Mean of the same scores, stratified bootstrap interval.
    pub mean: Interval,
}

/// Every agent's aggregate over `tasks` in the table's scale.
pub(crate) fn aggregates(
    results: &ResultsTable,
    tasks: &[EvalTask],
    seed: &SeedPath,
) -> Vec<Aggregate> {
    let scale = scale_of(results);
    let flat = |s: &[Vec<f64>]| s.iter().flatten().copied().collect::<Vec<f64>>();
    results
        .agents()
        .into_iter()
        .filter_map(|agent| {
            let strata: Vec<Vec<f64>> = tasks
                .iter()
                .filter_map(|t| oriented(results.task(*t)?, agent, scale))
                .collect();
            if strata.is_empty() {
                return None;
            }
            let s = seed.child(agent.id());
            let iqm = stratified_bootstrap_ci(
                &strata,
                |x| interquartile_mean(&flat(x)),
                RESAMPLES,
                CONFIDENCE,
                &mut s.child("iqm").rng(),
            )?;
            let mean = stratified_bootstrap_ci(
                &strata,
                |x| {
                    let f = flat(x);
                    (!f.is_empty()).then(|| f.iter().sum::<f64>() / f.len() as f64)
                },
                RESAMPLES,
                CONFIDENCE,
                &mut s.child("mean").rng(),
            )?;
            Some(Aggregate {
                agent,
                tasks: strata.len(),
                iqm,
                mean,
            })
        })
        .collect()
}

/// Fixed formatting of numbers in verdict texts (the report's bytes must be deterministic).
pub(crate) fn fmt_p(p: f64) -> String {
    if p >= 1e-3 {
        format!("{p:.4}")
    } else {
        format!("{p:.3e}")
    }
}
