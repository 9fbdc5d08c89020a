//! Regression goldens of a reproduction (`golden/<profile>/reproduction.ron`): the numbers one
//! blessed run produced (each task's starter, every Avg/Best cell of every agent, every claim's
//! verdict), the tolerances within which a later run must agree, and the report digest and
//! command that produced them. `reproduce --check` compares a run with it; any cell outside its
//! tolerance, missing, or any verdict that changed, is a regression named by its cell.
//!
//! On the golden's CPU class results do not depend on the machine (vendor/README.md), so a
//! changed report digest is a regression too. On another class bits cannot match; a golden
//! with a [`Spread`] (reference runs under other seeds) is then checked by distribution.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config_file::{ConfigError, load_ron};
use crate::paper::{Agent, EvalTask, Level};
use crate::results::ResultsTable;
use crate::stats::prediction_half_width_95;

/// A value agrees with its golden when `|run − golden| ≤ absolute + relative · |golden|`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    pub absolute: f64,
    pub relative: f64,
}

impl Tolerance {
    /// Both tolerances finite and non-negative: a NaN tolerance agrees with nothing and a
    /// negative one with less than the golden itself, so neither may be blessed or loaded.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("absolute", self.absolute), ("relative", self.relative)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "the {name} tolerance is {v}; expected a finite number >= 0"
                ));
            }
        }
        Ok(())
    }

    pub fn agrees(&self, golden: f64, run: f64) -> bool {
        (run - golden).abs() <= self.absolute + self.relative * golden.abs()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenStarter {
    pub task: EvalTask,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenCell {
    pub task: EvalTask,
    pub agent: Agent,
    pub level: Level,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenVerdict {
    pub claim: String,
    /// A verdict label (`reproduced`, `not reproduced`, `inconclusive`) or `not evaluated`.
    pub verdict: String,
}

/// Where a golden came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blessed {
    pub experiment: String,
    pub target: String,
    /// The report digest of the blessed run (a different digest with equal numbers is reported,
    /// not a regression: e.g. a changed report text).
    pub report_digest: String,
    /// The command that wrote the golden, and the code version it ran.
    pub command: String,
    pub code: String,
    /// The CPU class that computed it ([`platform`]); absent in goldens older than the field.
    #[serde(default)]
    pub platform: Option<String>,
}

/// The machine class whose numbers are bit-comparable: the architecture and the SIMD level that
/// burn's CPU kernels run at. On x86-64 that is the psABI level `x86-64-v3` (AVX2 and FMA) for
/// every machine that has it, AVX-512 or not: the vendored macerator never takes its AVX-512
/// code and gemm is built without it (vendor/README.md), so a v4 machine computes exactly as a
/// v3 one. Below v3 the kernels take other code paths with other rounding (gemm's FMA kernels on
/// `fma` alone, named when present). Nothing else of the machine enters a result.
pub fn platform() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! all {
            ($($f:tt),*) => { true $(&& std::arch::is_x86_feature_detected!($f))* };
        }
        let v2 = all!("sse3", "ssse3", "sse4.1", "sse4.2", "popcnt");
        let v3 = v2
            && all!(
                "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "lzcnt", "movbe"
            );
        let level = if v3 {
            "-v3"
        } else if v2 {
            "-v2"
        } else {
            ""
        };
        let extra = if !v3 && all!("fma") { "+fma" } else { "" };
        format!("x86_64{level}{extra}")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

/// `golden/<profile>/reproduction.ron`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproductionGolden {
    pub blessed: Blessed,
    pub tolerance: Tolerance,
    pub starters: Vec<GoldenStarter>,
    pub cells: Vec<GoldenCell>,
    pub verdicts: Vec<GoldenVerdict>,
    /// Reference runs under other root seeds, for checks on another CPU class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
}

/// The same experiment blessed under several root seeds on the golden's CPU class. On another
/// class a chaotic training run takes another path from its first differently rounded sum, much
/// as under another seed; a run there is judged as one more draw from the distribution these
/// runs sample (after MLPerf's reference convergence points: reference samples, a declared
/// statistic and a threshold). Statistic: each cell's 95 % prediction interval from its values
/// (Student t, n − 1 degrees of freedom, [`prediction_half_width_95`]), never narrower than the
/// golden's tolerance; threshold: at most `max_outside` of the cells may fall outside.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    /// Root seeds of the reference runs, the blessed run's first.
    pub seeds: Vec<u64>,
    /// The fraction of cells that may lie outside their interval (a 95 % interval misses 5 %
    /// of honest draws on average; cells of one run are correlated, so the bound is looser).
    pub max_outside: f64,
    pub cells: Vec<SpreadCell>,
    pub verdicts: Vec<SpreadVerdict>,
}

/// One cell's values, one per seed of [`Spread::seeds`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpreadCell {
    pub task: EvalTask,
    pub agent: Agent,
    pub level: Level,
    pub values: Vec<f64>,
}

/// One claim's verdict under each seed of [`Spread::seeds`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpreadVerdict {
    pub claim: String,
    pub verdicts: Vec<String>,
}

/// One reference run of a spread: its root seed, its numbers and its verdicts.
pub struct SeedRun<'a> {
    pub seed: u64,
    pub results: &'a ResultsTable,
    pub verdicts: &'a [(String, String)],
}

impl Spread {
    /// The default threshold of [`Spread::max_outside`].
    pub const MAX_OUTSIDE: f64 = 0.15;

    /// Collects every cell and verdict of `runs` (the blessed run first). A cell missing from
    /// any run is left out.
    pub fn from_runs(runs: &[SeedRun<'_>]) -> Self {
        let mut cells = Vec::new();
        let mut verdicts = Vec::new();
        if let Some(first) = runs.first() {
            for t in &first.results.tasks {
                for a in &t.agents {
                    for level in Level::ALL {
                        let values: Option<Vec<f64>> = runs
                            .iter()
                            .map(|r| r.results.task(t.task).and_then(|x| x.cell(a.agent, level)))
                            .collect();
                        if let Some(values) = values {
                            cells.push(SpreadCell {
                                task: t.task,
                                agent: a.agent,
                                level,
                                values,
                            });
                        }
                    }
                }
            }
            for (claim, _) in first.verdicts {
                let all: Option<Vec<String>> = runs
                    .iter()
                    .map(|r| {
                        r.verdicts
                            .iter()
                            .find(|(c, _)| c == claim)
                            .map(|(_, v)| v.clone())
                    })
                    .collect();
                if let Some(verdicts_of_claim) = all {
                    verdicts.push(SpreadVerdict {
                        claim: claim.clone(),
                        verdicts: verdicts_of_claim,
                    });
                }
            }
        }
        Self {
            seeds: runs.iter().map(|r| r.seed).collect(),
            max_outside: Self::MAX_OUTSIDE,
            cells,
            verdicts,
        }
    }

    /// The interval a cell of another CPU class must fall in: mean ± the 95 % prediction
    /// half-width, at least the tolerance around the mean.
    pub fn interval(&self, cell: &SpreadCell, tol: Tolerance) -> (f64, f64) {
        let n = cell.values.len().max(1) as f64;
        let mean = cell.values.iter().sum::<f64>() / n;
        let floor = tol.absolute + tol.relative * mean.abs();
        let half = prediction_half_width_95(&cell.values)
            .unwrap_or(f64::INFINITY)
            .max(floor);
        (mean - half, mean + half)
    }
}

/// The outcome of a check by distribution (another CPU class).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpreadComparison {
    /// Cells outside their interval, and verdicts that every seed agreed on and this run does
    /// not: each names its cell or claim and the numbers.
    pub outside: Vec<String>,
    pub notes: Vec<String>,
    pub cells: usize,
    pub cells_outside: usize,
    /// The most cells that may lie outside (`floor(max_outside × cells)`).
    pub allowed_outside: usize,
    pub verdicts_changed: usize,
}

impl SpreadComparison {
    pub fn passed(&self) -> bool {
        self.cells_outside <= self.allowed_outside && self.verdicts_changed == 0
    }
}

/// The outcome of a comparison.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// Each names its cell and both values.
    pub regressions: Vec<String>,
    /// Differences that are not regressions (new cells, another digest).
    pub notes: Vec<String>,
    /// Values compared.
    pub compared: usize,
}

impl ReproductionGolden {
    /// Builds a golden from a run's numbers.
    pub fn from_run(
        blessed: Blessed,
        tolerance: Tolerance,
        results: Option<&ResultsTable>,
        verdicts: &[(String, String)],
    ) -> Self {
        let mut starters = Vec::new();
        let mut cells = Vec::new();
        if let Some(r) = results {
            for t in &r.tasks {
                starters.push(GoldenStarter {
                    task: t.task,
                    value: t.starter,
                });
                for a in &t.agents {
                    for level in Level::ALL {
                        if let Some(value) = t.cell(a.agent, level) {
                            cells.push(GoldenCell {
                                task: t.task,
                                agent: a.agent,
                                level,
                                value,
                            });
                        }
                    }
                }
            }
        }
        Self {
            blessed,
            tolerance,
            starters,
            cells,
            verdicts: verdicts
                .iter()
                .map(|(c, v)| GoldenVerdict {
                    claim: c.clone(),
                    verdict: v.clone(),
                })
                .collect(),
            spread: None,
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let g: Self = load_ron(path)?;
        if let Err(m) = g.tolerance.validate() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                field: "tolerance".into(),
                message: format!(
                    "expected finite, non-negative absolute and relative tolerances: {m}"
                ),
            });
        }
        if let Some(sp) = &g.spread {
            let invalid = |field: &str, message: String| ConfigError::Invalid {
                path: path.to_path_buf(),
                field: format!("spread.{field}"),
                message,
            };
            let n = sp.seeds.len();
            if n < 2 {
                return Err(invalid(
                    "seeds",
                    format!("expected at least 2 seeds, found {n}"),
                ));
            }
            if !(0.0..=1.0).contains(&sp.max_outside) {
                return Err(invalid(
                    "max_outside",
                    format!("expected a fraction in [0, 1], found {}", sp.max_outside),
                ));
            }
            for c in &sp.cells {
                if c.values.len() != n || c.values.iter().any(|v| !v.is_finite()) {
                    return Err(invalid(
                        "cells",
                        format!(
                            "cell {} / {} / {}: expected {n} finite values (one per seed), found {:?}",
                            c.task,
                            c.agent,
                            c.level.label(),
                            c.values
                        ),
                    ));
                }
            }
            for v in &sp.verdicts {
                if v.verdicts.len() != n {
                    return Err(invalid(
                        "verdicts",
                        format!(
                            "claim {}: expected {n} verdicts (one per seed), found {}",
                            v.claim,
                            v.verdicts.len()
                        ),
                    ));
                }
            }
        }
        Ok(g)
    }

    pub fn to_ron(&self) -> String {
        super::golden::to_ron_text(self).expect("a reproduction golden holds finite numbers")
    }

    /// Compares a run with this golden.
    pub fn compare(
        &self,
        report_digest: &str,
        results: Option<&ResultsTable>,
        verdicts: &[(String, String)],
    ) -> Comparison {
        let mut c = Comparison::default();
        let tol = self.tolerance;
        let check = |name: String, golden: f64, run: Option<f64>, c: &mut Comparison| {
            c.compared += 1;
            match run {
                None => c
                    .regressions
                    .push(format!("{name}: golden {golden}, missing from this run")),
                Some(v) if !tol.agrees(golden, v) => c.regressions.push(format!(
                    "{name}: golden {golden}, this run {v} (tolerance {} + {}·|golden|)",
                    tol.absolute, tol.relative
                )),
                Some(_) => {}
            }
        };
        for s in &self.starters {
            let run = results.and_then(|r| r.task(s.task)).map(|t| t.starter);
            check(format!("starter {}", s.task), s.value, run, &mut c);
        }
        for g in &self.cells {
            let run = results
                .and_then(|r| r.task(g.task))
                .and_then(|t| t.cell(g.agent, g.level));
            check(
                format!("cell {} / {} / {}", g.task, g.agent, g.level.label()),
                g.value,
                run,
                &mut c,
            );
        }
        if let Some(r) = results {
            for t in &r.tasks {
                for a in &t.agents {
                    if !self
                        .cells
                        .iter()
                        .any(|g| g.task == t.task && g.agent == a.agent)
                    {
                        c.notes.push(format!(
                            "cell {} / {}: new in this run (not in the golden)",
                            t.task, a.agent
                        ));
                    }
                }
            }
        }
        for g in &self.verdicts {
            c.compared += 1;
            match verdicts.iter().find(|(id, _)| *id == g.claim) {
                None => c
                    .regressions
                    .push(format!("claim {}: missing from this run", g.claim)),
                Some((_, v)) if *v != g.verdict => c.regressions.push(format!(
                    "claim {}: golden verdict `{}`, this run `{v}`",
                    g.claim, g.verdict
                )),
                Some(_) => {}
            }
        }
        if report_digest != self.blessed.report_digest {
            c.regressions.push(format!(
                "report digest {report_digest}, blessed {}: on the golden's CPU class every byte \
                 behind the report is machine-independent, so another digest means another \
                 computation (re-bless after a deliberate change)",
                self.blessed.report_digest
            ));
        }
        c
    }

    /// Compares a run of another CPU class with the spread of the reference seeds; `None` when
    /// the golden has no spread.
    pub fn compare_spread(
        &self,
        results: Option<&ResultsTable>,
        verdicts: &[(String, String)],
    ) -> Option<SpreadComparison> {
        let sp = self.spread.as_ref()?;
        let mut c = SpreadComparison {
            cells: sp.cells.len(),
            allowed_outside: (sp.max_outside * sp.cells.len() as f64).floor() as usize,
            ..SpreadComparison::default()
        };
        for cell in &sp.cells {
            let name = format!(
                "cell {} / {} / {}",
                cell.task,
                cell.agent,
                cell.level.label()
            );
            let (lo, hi) = sp.interval(cell, self.tolerance);
            match results
                .and_then(|r| r.task(cell.task))
                .and_then(|t| t.cell(cell.agent, cell.level))
            {
                None => {
                    c.cells_outside += 1;
                    c.outside.push(format!("{name}: missing from this run"));
                }
                Some(v) if !(lo..=hi).contains(&v) => {
                    c.cells_outside += 1;
                    c.outside.push(format!(
                        "{name}: this run {v}, outside [{lo}, {hi}] (seeds: {:?})",
                        cell.values
                    ));
                }
                Some(_) => {}
            }
        }
        for v in &sp.verdicts {
            let run = verdicts.iter().find(|(id, _)| *id == v.claim).map(|x| &x.1);
            let unanimous = v.verdicts.iter().all(|x| *x == v.verdicts[0]);
            match run {
                Some(r) if unanimous && *r != v.verdicts[0] => {
                    c.verdicts_changed += 1;
                    c.outside.push(format!(
                        "claim {}: every seed gave `{}`, this run `{r}`",
                        v.claim, v.verdicts[0]
                    ));
                }
                None => {
                    c.verdicts_changed += 1;
                    c.outside
                        .push(format!("claim {}: missing from this run", v.claim));
                }
                Some(r) if !unanimous => c.notes.push(format!(
                    "claim {}: the seeds disagree ({}); this run `{r}`",
                    v.claim,
                    v.verdicts.join(" / ")
                )),
                Some(_) => {}
            }
        }
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{AgentScores, TaskResults};

    fn blessed() -> Blessed {
        Blessed {
            experiment: "smoke".into(),
            target: "table1".into(),
            report_digest: "d".into(),
            command: "b".into(),
            code: "c".into(),
            platform: Some(platform()),
        }
    }

    #[test]
    fn platform_names_the_architecture() {
        assert!(
            platform().starts_with(std::env::consts::ARCH),
            "{}",
            platform()
        );
    }

    fn table(x: f64) -> ResultsTable {
        ResultsTable {
            trajectories: 2,
            tasks: vec![TaskResults {
                task: EvalTask::HousePrice,
                starter: 1.0,
                improvement_range: None,
                agents: vec![AgentScores {
                    agent: Agent::Random,
                    scores: vec![x, 0.5],
                }],
                api: Vec::new(),
            }],
            budgets: Vec::new(),
            api_agents: Vec::new(),
        }
    }

    #[test]
    fn a_moved_cell_is_a_named_regression_and_tolerance_is_honoured() {
        let tol = Tolerance {
            absolute: 1e-9,
            relative: 1e-6,
        };
        let v = vec![("c".to_string(), "inconclusive".to_string())];
        let g = ReproductionGolden::from_run(blessed(), tol, Some(&table(0.7)), &v);
        assert_eq!(g.cells.len(), 2);
        let same = g.compare("d", Some(&table(0.7)), &v);
        assert!(
            same.regressions.is_empty() && same.notes.is_empty(),
            "{same:?}"
        );
        assert_eq!(same.compared, 4);
        // Within the relative tolerance of the Avg cell (0.6).
        assert!(
            g.compare("d", Some(&table(0.7 + 1e-8)), &v)
                .regressions
                .is_empty()
        );
        let moved = g.compare("d", Some(&table(0.71)), &v);
        assert_eq!(moved.regressions.len(), 1, "{moved:?}");
        assert!(moved.regressions[0].contains("house-price / random / avg"));
        // Same numbers, another digest: a regression on the golden's class.
        let other = g.compare("e", Some(&table(0.7)), &v);
        assert_eq!(other.regressions.len(), 1, "{other:?}");
        assert!(
            other.regressions[0].contains("report digest e"),
            "{other:?}"
        );
        let flipped = g.compare("d", Some(&table(0.7)), &[("c".into(), "reproduced".into())]);
        assert!(flipped.regressions[0].contains("claim c"), "{flipped:?}");
        let missing = g.compare("d", None, &v);
        assert_eq!(missing.regressions.len(), 3, "{missing:?}");
    }

    #[test]
    fn another_class_is_judged_by_the_seeds_spread() {
        let tol = Tolerance {
            absolute: 1e-9,
            relative: 1e-6,
        };
        let verdicts = |v: &str| vec![("c".to_string(), v.to_string())];
        let (t1, t2, t3) = (table(0.70), table(0.72), table(0.74));
        let (v1, v2) = (verdicts("inconclusive"), verdicts("inconclusive"));
        let runs = [
            SeedRun {
                seed: 1,
                results: &t1,
                verdicts: &v1,
            },
            SeedRun {
                seed: 2,
                results: &t2,
                verdicts: &v2,
            },
            SeedRun {
                seed: 3,
                results: &t3,
                verdicts: &v2,
            },
        ];
        let mut g = ReproductionGolden::from_run(blessed(), tol, Some(&t1), &v1);
        assert_eq!(g.compare_spread(Some(&t1), &v1), None);
        g.spread = Some(Spread::from_runs(&runs));
        let sp = g.spread.as_ref().unwrap();
        assert_eq!(sp.seeds, vec![1, 2, 3]);
        assert_eq!(sp.cells.len(), 2);
        // Avg cell values 0.6, 0.61, 0.62: mean 0.61, s 0.01, t(2) 4.303, ×√(4/3).
        let (lo, hi) = sp.interval(&sp.cells[0], tol);
        let half = 4.303 * 0.01 * (4.0f64 / 3.0).sqrt();
        assert!((lo - (0.61 - half)).abs() < 1e-9 && (hi - (0.61 + half)).abs() < 1e-9);
        // The Best cell is 0.5 under every seed: its interval is the tolerance.
        let (lo, hi) = sp.interval(&sp.cells[1], tol);
        assert!(lo < 0.5 && hi > 0.5 && hi - lo < 1e-5, "{lo} {hi}");

        let within = g.compare_spread(Some(&table(0.73)), &v1).unwrap();
        assert!(within.passed(), "{within:?}");
        assert_eq!((within.cells, within.cells_outside), (2, 0));
        let far = g.compare_spread(Some(&table(1.5)), &v1).unwrap();
        assert!(!far.passed(), "{far:?}");
        assert!(
            far.outside[0].contains("house-price / random / avg"),
            "{far:?}"
        );
        let flipped = g
            .compare_spread(Some(&table(0.72)), &verdicts("reproduced"))
            .unwrap();
        assert_eq!(flipped.verdicts_changed, 1);
        assert!(!flipped.passed());

        // A malformed spread is an error naming the field.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("g.ron");
        std::fs::write(&p, g.to_ron()).unwrap();
        assert_eq!(ReproductionGolden::load(&p).unwrap(), g);
        g.spread.as_mut().unwrap().cells[0].values.pop();
        std::fs::write(&p, g.to_ron()).unwrap();
        let e = ReproductionGolden::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("spread.cells") && e.contains("one per seed"),
            "{e}"
        );
    }

    #[test]
    fn golden_round_trips_through_ron() {
        let tol = Tolerance {
            absolute: 0.0,
            relative: 1e-6,
        };
        let g = ReproductionGolden::from_run(blessed(), tol, Some(&table(0.25)), &[]);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("g.ron");
        std::fs::write(&p, g.to_ron()).unwrap();
        assert_eq!(ReproductionGolden::load(&p).unwrap(), g);
        std::fs::write(
            &p,
            g.to_ron().replace("relative: 0.000001", "relative: -1.0"),
        )
        .unwrap();
        let e = ReproductionGolden::load(&p).unwrap_err().to_string();
        assert!(e.contains("tolerance"), "{e}");
    }
}
