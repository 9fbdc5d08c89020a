//! Regression goldens of a reproduction (`golden/<profile>/reproduction.ron`): the numbers one
//! blessed run produced (each task's starter, every Avg/Best cell of every agent, every claim's
//! verdict), the tolerances within which a later run must agree, and the report digest and
//! command that produced them. `reproduce --check` compares a run with it; any cell outside its
//! tolerance, missing, or any verdict that changed, is a regression named by its cell.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::results::ResultsTable;
use super::task::{Agent, EvalTask, Level};
use crate::config::{ConfigError, load_ron};

/// A value agrees with its golden when `|run − golden| ≤ absolute + relative · |golden|`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    pub absolute: f64,
    pub relative: f64,
}

impl Tolerance {
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

/// The machine class whose numbers are bit-comparable: the architecture and the SIMD levels
/// burn's CPU kernels dispatch on at run time (a machine with AVX-512 takes other code paths,
/// with other float rounding, than one without).
pub fn platform() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut levels = Vec::new();
        if std::arch::is_x86_feature_detected!("avx512f") {
            levels.push("avx512f");
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            levels.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("fma") {
            levels.push("fma");
        }
        format!("x86_64[{}]", levels.join(","))
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
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let g: Self = load_ron(path)?;
        let t = g.tolerance;
        if !(t.absolute >= 0.0
            && t.relative >= 0.0
            && t.absolute.is_finite()
            && t.relative.is_finite())
        {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                field: "tolerance".into(),
                message: "expected finite, non-negative absolute and relative tolerances".into(),
            });
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
            c.notes.push(format!(
                "report digest {report_digest} differs from the blessed {} (numbers compared above)",
                self.blessed.report_digest
            ));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::{AgentScores, TaskResults};

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
                agents: vec![AgentScores {
                    agent: Agent::Random,
                    scores: vec![x, 0.5],
                }],
            }],
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
        let moved = g.compare("e", Some(&table(0.71)), &v);
        assert_eq!(moved.regressions.len(), 1, "{moved:?}");
        assert!(moved.regressions[0].contains("house-price / random / avg"));
        assert_eq!(moved.notes.len(), 1);
        let flipped = g.compare("d", Some(&table(0.7)), &[("c".into(), "reproduced".into())]);
        assert!(flipped.regressions[0].contains("claim c"), "{flipped:?}");
        let missing = g.compare("d", None, &v);
        assert_eq!(missing.regressions.len(), 3, "{missing:?}");
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
