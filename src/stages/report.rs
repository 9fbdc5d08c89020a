//! Stage `report`: the paper's Table 1 and Figure 4 beside this run's, the claims' verdicts, and
//! the digest of everything behind the numbers. Inputs: the eval run (Table 1) and the RL runs'
//! `curve.json` (Figure 4), whichever the target asks for and exist. Outputs: `report.md`,
//! `report.html` (standalone, inline SVG plots), `report.txt` (what `reproduce` prints),
//! `claims.json` (verdicts with their statistics) and `lineage.json` (digests of every config,
//! dataset, checkpoint and manifest in the lineage). The run's manifest digest is the *report
//! digest*: it covers the report's bytes and, through its parents, the whole chain.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Context, StageBodyError, StageEnvironment, StageError};
use crate::paper::RlMethod;
use crate::pipeline::{StageOutputs, StageRun, run_stage};
use crate::provenance::Digest;
use crate::provenance::files::file_digest;
use crate::report::{ClaimSet, PaperFigure4, PaperTable1, ReportInput};
use crate::results::{Figure4Run, ResultsTable};

pub const STAGE: &str = "report";
pub const MARKDOWN_FILE: &str = "report.md";
pub const HTML_FILE: &str = "report.html";
pub const TEXT_FILE: &str = "report.txt";
pub(crate) const CLAIMS_FILE: &str = "claims.json";
pub const LINEAGE_FILE: &str = "lineage.json";
/// The learning curve an RL run writes (`results::Curve`).
pub use super::rl::CURVE_FILE;

/// What a reproduction is asked to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Target {
    Table1,
    Figure4,
    All,
}

impl Target {
    pub fn id(self) -> &'static str {
        match self {
            Target::Table1 => "table1",
            Target::Figure4 => "figure4",
            Target::All => "all",
        }
    }

    pub(crate) fn wants_table(self) -> bool {
        matches!(self, Target::Table1 | Target::All)
    }

    pub(crate) fn wants_figure(self) -> bool {
        matches!(self, Target::Figure4 | Target::All)
    }
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table1" => Ok(Target::Table1),
            "figure4" => Ok(Target::Figure4),
            "all" => Ok(Target::All),
            _ => Err(format!(
                "unknown target `{s}`; expected one of: table1, figure4, all"
            )),
        }
    }
}

/// The paper's side: golden tables and the claims, with the files they came from.
pub struct PaperSources {
    pub table: PaperTable1,
    pub figure: PaperFigure4,
    pub claims: ClaimSet,
    /// (path relative to the root, sha256 of its bytes), in a fixed order.
    pub files: Vec<(String, Digest)>,
}

pub(crate) const TABLE1_PATH: &str = "golden/paper/table1.ron";
pub(crate) const FIGURE4_PATH: &str = "golden/paper/figure4.ron";
pub(crate) const CLAIMS_PATH: &str = "paper/claims.ron";

impl PaperSources {
    /// The workspace the binary was built from.
    pub fn default_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
    }

    /// Loads `golden/paper/table1.ron`, `golden/paper/figure4.ron` and `paper/claims.ron` under
    /// `root`.
    pub fn load(root: &Path) -> Result<Self, StageBodyError> {
        let cfg = |e: crate::config_file::ConfigError| StageBodyError::File {
            path: "(paper sources)".into(),
            message: e.to_string(),
        };
        let table = PaperTable1::load(&root.join(TABLE1_PATH)).map_err(cfg)?;
        let figure = PaperFigure4::load(&root.join(FIGURE4_PATH)).map_err(cfg)?;
        let claims = ClaimSet::load(&root.join(CLAIMS_PATH)).map_err(cfg)?;
        let mut files = Vec::new();
        for p in [TABLE1_PATH, FIGURE4_PATH, CLAIMS_PATH] {
            let d = file_digest(&root.join(p)).map_err(|e| StageBodyError::File {
                path: root.join(p).display().to_string(),
                message: e.to_string(),
            })?;
            files.push((p.to_string(), d));
        }
        Ok(Self {
            table,
            figure,
            claims,
            files,
        })
    }
}

/// What the report run's identity covers besides its parents.
#[derive(Serialize)]
struct ReportKey<'a> {
    target: Target,
    experiment: &'a str,
    /// Digests of the paper sources' bytes.
    paper: &'a [(String, Digest)],
}

/// One named digest of `lineage.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LineageEntry {
    pub name: String,
    pub sha256: Digest,
}

/// Runs (or reuses) the report below `eval` (Table 1) and the RL runs (Figure 4).
pub fn run<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    target: Target,
    sources: &PaperSources,
    eval: Option<&StageRun>,
    rl: &[(RlMethod, &StageRun)],
) -> Result<StageRun, StageError> {
    let body_err = |source| StageError::Body {
        stage: STAGE.into(),
        source,
    };
    let mut tasks = ctx.tasks(&ctx.experiment.train_tasks).map_err(body_err)?;
    for t in ctx.tasks(&ctx.experiment.eval_tasks).map_err(body_err)? {
        if !tasks
            .iter()
            .any(|u| ctx.env.task_key(u).0 == ctx.env.task_key(t).0)
        {
            tasks.push(t);
        }
    }
    let key_cfg = ReportKey {
        target,
        experiment: &ctx.experiment.name,
        paper: &sources.files,
    };
    let mut parents: Vec<&StageRun> = eval.into_iter().collect();
    parents.extend(rl.iter().map(|(_, r)| *r));
    let input = ctx.input(STAGE, &key_cfg, &tasks, &parents);
    run_stage(ctx.store, &input, false, |run| {
        let results: Option<ResultsTable> = eval.map(super::eval::results).transpose()?;
        let curves = if rl.is_empty() {
            None
        } else {
            let mut f = Figure4Run { curves: Vec::new() };
            for (method, r) in rl {
                let c = super::rl::curve(r)?;
                if c.method != *method {
                    return Err(StageBodyError::File {
                        path: r.path(CURVE_FILE).display().to_string(),
                        message: format!(
                            "expected a {} curve, found {}",
                            method.label(),
                            c.method.label()
                        ),
                    });
                }
                f.curves.push(c);
            }
            f.validate().map_err(|e| StageBodyError::File {
                path: CURVE_FILE.into(),
                message: e.to_string(),
            })?;
            Some(f)
        };
        let outcomes = crate::report::evaluate(
            &sources.claims,
            &sources.table,
            &sources.figure,
            results.as_ref(),
            curves.as_ref(),
            &ctx.seed(),
        );
        let lineage = lineage(ctx, &tasks, sources, &parents)?;
        let digests: Vec<(String, Digest)> =
            lineage.iter().map(|e| (e.name.clone(), e.sha256)).collect();
        let title = format!(
            "ML-Agent reproduction: {} ({}, {})",
            ctx.experiment.name,
            profile_id(ctx.experiment.profile),
            target.id()
        );
        let input = ReportInput {
            title: &title,
            table: &sources.table,
            figure: &sources.figure,
            results: results.as_ref(),
            curves: curves.as_ref(),
            claims: &outcomes,
            digests: &digests,
        };
        let dir = run.dir();
        let write = |name: &str, text: &str| -> Result<(), StageBodyError> {
            crate::provenance::atomic::write(&dir.join(name), text.as_bytes())?;
            Ok(())
        };
        write(MARKDOWN_FILE, &crate::report::markdown(&input))?;
        let page = crate::report::html(&input).map_err(|e| StageBodyError::File {
            path: HTML_FILE.into(),
            message: e.to_string(),
        })?;
        write(HTML_FILE, &page)?;
        write(TEXT_FILE, &terminal_text(&input))?;
        super::eval::write_json(&dir.join(CLAIMS_FILE), &outcomes)?;
        super::eval::write_json(&dir.join(LINEAGE_FILE), &lineage)?;
        Ok(StageOutputs {
            content: vec![
                MARKDOWN_FILE.into(),
                HTML_FILE.into(),
                TEXT_FILE.into(),
                CLAIMS_FILE.into(),
                LINEAGE_FILE.into(),
            ],
            auxiliary: vec![],
        })
    })
}

fn profile_id(p: crate::config::Profile) -> &'static str {
    match p {
        crate::config::Profile::Smoke => "smoke",
        crate::config::Profile::Mini => "mini",
        crate::config::Profile::Paper => "paper",
    }
}

/// The side-by-side table, then the claims' verdicts with their numbers.
pub(crate) fn terminal_text(input: &ReportInput<'_>) -> String {
    use std::fmt::Write as _;
    let mut s = crate::report::text_table(input);
    let _ = writeln!(s, "\nClaims:");
    for c in input.claims {
        let _ = writeln!(
            s,
            "- {}: paper {} ({})",
            c.id,
            if c.paper.holds {
                "holds"
            } else {
                "DOES NOT HOLD"
            },
            c.paper.detail
        );
        match &c.reproduction {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "  this run: {} [{}] {}",
                    r.verdict.label(),
                    r.statistic,
                    r.detail
                );
            }
            None => {
                let _ = writeln!(s, "  this run: not evaluated (no Table 1 results)");
            }
        }
    }
    s
}

/// Every digest behind the report, in a fixed order: the experiment config, the paper sources,
/// each task's data, then each run of the lineage (depth first from the report's parents): its
/// manifest digest, config digest and every content output (checkpoints included).
fn lineage<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    tasks: &[&E::Task],
    sources: &PaperSources,
    parents: &[&StageRun],
) -> Result<Vec<LineageEntry>, StageBodyError> {
    let mut out = vec![LineageEntry {
        name: format!("experiment {} (config)", ctx.experiment.name),
        sha256: ctx.experiment.digest(),
    }];
    for (p, d) in &sources.files {
        out.push(LineageEntry {
            name: p.clone(),
            sha256: *d,
        });
    }
    for t in tasks {
        let (id, digest) = ctx.env.task_key(t);
        out.push(LineageEntry {
            name: format!("task {id} (spec and data)"),
            sha256: digest,
        });
    }
    let mut seen = BTreeSet::new();
    let mut stack: Vec<Digest> = parents.iter().rev().map(|p| p.manifest.digest).collect();
    while let Some(d) = stack.pop() {
        if !seen.insert(d) {
            continue;
        }
        let (_, m) = ctx
            .store
            .manifest_by_digest(&d)
            .map_err(|e| StageBodyError::File {
                path: ctx.store.root().display().to_string(),
                message: e.to_string(),
            })?;
        out.push(LineageEntry {
            name: format!("run {} (manifest)", m.stage),
            sha256: m.digest,
        });
        out.push(LineageEntry {
            name: format!("run {} (config)", m.stage),
            sha256: m.config_digest,
        });
        for o in &m.outputs {
            if o.role == crate::provenance::manifest::OutputRole::Content {
                out.push(LineageEntry {
                    name: format!("{}/{}", m.stage, o.path),
                    sha256: o.digest,
                });
            }
        }
        stack.extend(m.parents.iter().rev().map(|p| p.digest));
    }
    Ok(out)
}

/// The verdicts of a report run's `claims.json`, as (claim id, verdict label or "not evaluated").
pub(crate) fn read_verdicts(path: &Path) -> Result<Vec<(String, String)>, StageBodyError> {
    let bad = |message: String| StageBodyError::File {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let arr = v
        .as_array()
        .ok_or_else(|| bad("expected a JSON array of claim outcomes".into()))?;
    arr.iter()
        .enumerate()
        .map(|(i, c)| {
            let id = c["id"]
                .as_str()
                .ok_or_else(|| bad(format!("[{i}].id: expected a string")))?;
            let verdict = match &c["reproduction"] {
                serde_json::Value::Null => "not evaluated".to_string(),
                r => verdict_label(&r["verdict"])
                    .ok_or_else(|| bad(format!("[{i}].reproduction.verdict: unknown")))?,
            };
            Ok((id.to_string(), verdict))
        })
        .collect()
}

fn verdict_label(v: &serde_json::Value) -> Option<String> {
    use crate::report::Verdict;
    [
        Verdict::Reproduced,
        Verdict::NotReproduced,
        Verdict::Inconclusive,
    ]
    .into_iter()
    .find(|x| serde_json::to_value(x).ok().as_ref() == Some(v))
    .map(|x| x.label().to_string())
}

/// The verdicts of a report run (its `claims.json`).
pub fn verdicts(run: &StageRun) -> Result<Vec<(String, String)>, StageBodyError> {
    read_verdicts(&run.path(CLAIMS_FILE))
}
