//! The paper's claims as typed predicates (`paper/claims.ron`), each checked twice: on the
//! paper's own numbers (it must hold there: a test keeps it so) and on a reproduction, where the
//! verdict is Reproduced / NotReproduced / Inconclusive with the statistic that decided it.
//! docs/report.md explains each statistic and threshold. The two checks live apart:
//! `paper_check` (the paper's numbers) and `repro_check` (a reproduction's statistics).

mod paper_check;
mod repro_check;

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compare::fmt_p;
use super::golden::{PaperFigure4, PaperTable1};
use crate::config_file::{ConfigError, load_ron};
use crate::paper::{Agent, Level, PaperModel, RlMethod, Split};
use crate::results::{Figure4Run, ResultsTable};
use crate::seed::SeedPath;
use crate::stats::TrendTest;
pub use paper_check::check_paper;
pub use repro_check::{check_curve_claim, check_reproduction};

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

fn trend_detail(t: &TrendTest) -> String {
    format!(
        "n {}, tau {:.3}, p {}{}",
        t.n,
        t.tau,
        fmt_p(t.p_increasing),
        if t.exact { "" } else { " (normal approx.)" }
    )
}
