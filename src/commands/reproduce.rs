//! `mlagent reproduce <table1|figure4|all>`: run or reuse every stage the target needs, print
//! the paper's table beside this run's with the claims' verdicts, and end with the line
//! `report digest: <sha256 hex>` (a contract: outside tools read it). `--check GOLDEN` compares
//! the numbers with a regression golden and fails naming each regressed cell; `--bless GOLDEN`
//! writes one.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use mlagent::config::Experiment;
use mlagent::provenance::{CodeVersion, LockWait, Store};
use mlagent::report::regression::{Blessed, ReproductionGolden, Tolerance};
use mlagent::stages::report::{self, PaperSources, Target};
use mlagent::stages::{Context, eval, reproduce};

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to reproduce: table1, figure4 or all
    pub target: Target,
    /// Experiment config [default: experiments/<profile>.ron of this workspace]
    #[arg(long, value_name = "FILE")]
    pub experiment: Option<PathBuf>,
    /// smoke, mini or paper (names experiments/<profile>.ron)
    #[arg(long, default_value = "mini")]
    pub profile: String,
    /// Folder holding golden/paper/ and paper/claims.ron [default: this workspace]
    #[arg(long, value_name = "DIR")]
    pub paper_root: Option<PathBuf>,
    /// Compare the numbers with this regression golden; exit non-zero on any regression
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
    /// Write a regression golden of this run to FILE
    #[arg(long, value_name = "FILE")]
    pub bless: Option<PathBuf>,
    /// Absolute tolerance written by --bless
    #[arg(long, default_value_t = 1e-9)]
    pub bless_absolute: f64,
    /// Relative tolerance written by --bless
    #[arg(long, default_value_t = 1e-6)]
    pub bless_relative: f64,
    /// The command recorded by --bless as the golden's origin
    #[arg(long, default_value = "mlagent reproduce --bless")]
    pub bless_command: String,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let root = PaperSources::default_root();
    let exp_path = args.experiment.clone().unwrap_or_else(|| {
        root.join("experiments")
            .join(format!("{}.ron", args.profile))
    });
    let experiment = Experiment::load(&exp_path)?;
    let sources = PaperSources::load(args.paper_root.as_deref().unwrap_or(&root))?;
    let store_root = global.store.clone().unwrap_or_else(Store::default_root);
    let store = Store::open(&store_root, LockWait::Wait)?;
    let workbench = mlagent::stages::workbench(&experiment).context("loading tasks/")?;
    let code = CodeVersion::of_this_build();
    let ctx = Context {
        store: &store,
        workbench: &workbench,
        experiment: &experiment,
        code: code.clone(),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let repro = reproduce::run_all(&ctx, args.target, &sources)?;
    let digest = repro.report.manifest.digest.to_hex();
    let text = std::fs::read_to_string(repro.report.path(report::TEXT_FILE))
        .with_context(|| format!("reading {}", repro.report.path(report::TEXT_FILE).display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    writeln!(
        out,
        "report: {}\n        {}\nstore:  {}",
        repro.report.path(report::MARKDOWN_FILE).display(),
        repro.report.path(report::HTML_FILE).display(),
        store_root.display()
    )?;

    let results = repro
        .eval
        .as_ref()
        .map(|e| eval::read_results(&e.path(eval::RESULTS_FILE)))
        .transpose()?;
    let verdicts = report::read_verdicts(&repro.report.path(report::CLAIMS_FILE))?;
    let mut ok = true;
    if let Some(path) = &args.bless {
        let g = ReproductionGolden::from_run(
            Blessed {
                experiment: experiment.name.clone(),
                target: args.target.id().into(),
                report_digest: digest.clone(),
                command: args.bless_command.clone(),
                code: code.describe(),
                platform: Some(mlagent::report::regression::platform()),
            },
            Tolerance {
                absolute: args.bless_absolute,
                relative: args.bless_relative,
            },
            results.as_ref(),
            &verdicts,
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        mlagent::provenance::atomic::write(path, g.to_ron().as_bytes())?;
        writeln!(out, "blessed: {}", path.display())?;
    }
    if let Some(path) = &args.check {
        let g = ReproductionGolden::load(path)?;
        if g.blessed.experiment != experiment.name || g.blessed.target != args.target.id() {
            anyhow::bail!(
                "{}: golden of experiment `{}` target `{}`, this run is `{}` target `{}`",
                path.display(),
                g.blessed.experiment,
                g.blessed.target,
                experiment.name,
                args.target.id()
            );
        }
        let c = g.compare(&digest, results.as_ref(), &verdicts);
        for n in &c.notes {
            writeln!(out, "note: {n}")?;
        }
        let here = mlagent::report::regression::platform();
        let comparable = g.blessed.platform.as_ref().is_none_or(|p| *p == here);
        let label = if comparable { "REGRESSION" } else { "differs" };
        for r in &c.regressions {
            writeln!(out, "{label} {r}")?;
        }
        if !comparable {
            writeln!(
                out,
                "note: the golden was blessed on {} and this machine is {here}: burn's CPU kernels choose SIMD code by CPU features, so numbers are not bit-comparable across them; the differences above are reported, not counted as regressions (bless a golden on this machine class to check it)",
                g.blessed.platform.as_deref().unwrap_or("?")
            )?;
        }
        writeln!(
            out,
            "check against {}: {} values compared, {} regressions",
            path.display(),
            c.compared,
            c.regressions.len()
        )?;
        ok = c.regressions.is_empty() || !comparable;
    }
    writeln!(out, "report digest: {digest}")?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
