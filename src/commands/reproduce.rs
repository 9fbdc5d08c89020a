//! `mlagent reproduce <table1|figure4|all>`: run or reuse every stage the target needs, print
//! the paper's table beside this run's with the claims' verdicts, and end with the line
//! `report digest: <sha256 hex>` (a contract: outside tools read it). `--check GOLDEN` compares
//! the numbers with a regression golden and fails naming each regressed cell; `--bless GOLDEN`
//! writes one, only from a clean checkout (it records the exact commit); `--spread-seeds N`
//! also runs the pipeline under N − 1 more root seeds and records every cell's spread, which a
//! check on another CPU class is judged by.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use mlagent::config::{EnvironmentKind, Experiment};
use mlagent::provenance::{CodeVersion, LockWait, Store};
use mlagent::report::regression::{
    Blessed, ReproductionGolden, SeedRun, Spread, SpreadComparison, Tolerance,
};
use mlagent::seed::SeedPath;
use mlagent::stages::report::{self, PaperSources, Target};
use mlagent::stages::{Context, StageEnvironment, eval, reproduce};

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to reproduce: table1, figure4 or all
    pub target: Target,
    /// Experiment config [default: experiments/<profile>.ron of this workspace]
    #[arg(long, value_name = "FILE")]
    pub experiment: Option<PathBuf>,
    /// smoke, python-smoke, mini or paper (names experiments/<profile>.ron)
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
    /// With --bless: the number of root seeds whose runs form the golden's spread (the
    /// experiment's own seed first, then seeds derived from it by name); 1 records none
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub spread_seeds: u32,
    /// Repeat the seed-dependent stages under N root seeds (the experiment's own first, then
    /// seeds derived from it by name, as --spread-seeds) and print each claim's verdict, each
    /// agent's score and the step-wise RL probe per seed, with the spread over seeds
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seeds: u32,
    /// With --bless: write a golden from a tree with uncommitted changes (scratch goldens, tests);
    /// `cargo xtask bless` never passes it
    #[arg(long)]
    pub allow_dirty: bool,
    /// Never touch the network: API agents (`eval.api_agents`) replay their recorded answers, and
    /// the first request without one is an error naming it
    #[arg(long)]
    pub offline: bool,
}

/// The root seed of the `i`-th reference run of a spread (`i ≥ 1`; run 0 is the experiment's).
fn spread_seed(root: u64, i: u32) -> u64 {
    SeedPath::root(root).child("spread").child(i).seed()
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    // Ctrl-C / SIGTERM: every stage stops at its next safe point with its checkpoint written.
    mlagent::interrupt::install().context("installing the SIGINT / SIGTERM handlers")?;
    let root = PaperSources::default_root();
    let exp_path = args.experiment.clone().unwrap_or_else(|| {
        root.join("experiments")
            .join(format!("{}.ron", args.profile))
    });
    let experiment = Experiment::load(&exp_path)?;
    global.experiment_backend(&experiment, &exp_path)?;
    let sources = PaperSources::load(args.paper_root.as_deref().unwrap_or(&root))?;
    let store_root = global.store.clone().unwrap_or_else(Store::default_root);
    let store = Store::open(&store_root, LockWait::Wait)?;
    let code = CodeVersion::of_this_build();
    if args.bless.is_some() && !args.allow_dirty && code.exact_commit().is_none() {
        anyhow::bail!(
            "refusing to bless from {}: a golden records the exact commit that made it, so \
             commit (or stash) every change first",
            code.describe()
        );
    }
    if args.bless.is_some() {
        let t = Tolerance {
            absolute: args.bless_absolute,
            relative: args.bless_relative,
        };
        t.validate()
            .map_err(|m| anyhow::anyhow!("--bless-absolute / --bless-relative: {m}"))?;
    }
    if args.seeds == 0 {
        anyhow::bail!("--seeds: expected a count of at least 1");
    }
    if args.spread_seeds == 0 || (args.spread_seeds > 1 && args.bless.is_none()) {
        anyhow::bail!("--spread-seeds: expected a count of at least 1, used together with --bless");
    }
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match experiment.environment {
        EnvironmentKind::Workbench => {
            super::refuse_ray_for_workbench(global, &experiment)?;
            let workbench = mlagent::stages::workbench(&experiment).context("loading tasks/")?;
            let ctx = Context {
                store: &store,
                env: &workbench,
                experiment: &experiment,
                code: code.clone(),
                progress,
                offline: args.offline,
            };
            reproduce_in(&args, &ctx, &sources, &store_root)
        }
        EnvironmentKind::Python => {
            let env = super::pipeline_python_env(&experiment, global)?;
            let ctx = Context {
                store: &store,
                env: &env,
                experiment: &experiment,
                code: code.clone(),
                progress,
                offline: args.offline,
            };
            reproduce_in(&args, &ctx, &sources, &store_root)
        }
    }
}

/// The reproduction in `ctx`'s environment, then the seeds, bless and check `args` ask for.
fn reproduce_in<E: StageEnvironment>(
    args: &Args,
    ctx: &Context<'_, E>,
    sources: &PaperSources,
    store_root: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let experiment = ctx.experiment;
    let code = &ctx.code;
    let repro = reproduce::run_all(ctx, args.target, sources)?;
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

    let results = repro.eval.as_ref().map(eval::results).transpose()?;
    let verdicts = report::verdicts(&repro.report)?;
    if args.seeds > 1 {
        let mut runs = vec![SeedSummary::of(experiment.seed, &repro)?];
        for i in 1..args.seeds {
            let (seed, r) = run_under_seed(ctx, experiment, i, args.target, sources)?;
            runs.push(SeedSummary::of(seed, &r)?);
        }
        write_seed_summary(&mut out, &runs)?;
    }
    let mut ok = true;
    if let Some(path) = &args.bless {
        // The reference runs of the spread, each a whole reproduction under another root seed.
        let mut others = Vec::new();
        for i in 1..args.spread_seeds {
            let (seed, r) = run_under_seed(ctx, experiment, i, args.target, sources)?;
            let res = match &r.eval {
                Some(e) => Some(eval::results(e)?),
                None => None,
            };
            let v = report::verdicts(&r.report)?;
            writeln!(
                out,
                "spread seed {}: report digest {}",
                seed,
                r.report.manifest.digest.to_hex()
            )?;
            others.push((seed, res, v));
        }
        let mut g = ReproductionGolden::from_run(
            Blessed {
                experiment: experiment.name.clone(),
                target: args.target.id().into(),
                report_digest: digest.clone(),
                command: args.bless_command.clone(),
                code: code
                    .exact_commit()
                    .map(str::to_string)
                    .unwrap_or_else(|| code.describe()),
                platform: Some(mlagent::report::regression::platform()),
            },
            Tolerance {
                absolute: args.bless_absolute,
                relative: args.bless_relative,
            },
            results.as_ref(),
            &verdicts,
        );
        if let (false, Some(main)) = (others.is_empty(), results.as_ref()) {
            let mut runs = vec![SeedRun {
                seed: experiment.seed,
                results: main,
                verdicts: &verdicts,
            }];
            for (seed, res, v) in &others {
                let res = res
                    .as_ref()
                    .context("a spread seed's run produced no results table")?;
                runs.push(SeedRun {
                    seed: *seed,
                    results: res,
                    verdicts: v,
                });
            }
            g.spread = Some(Spread::from_runs(&runs));
        }
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
        let here = mlagent::report::regression::platform();
        let comparable = g.blessed.platform.as_ref().is_none_or(|p| *p == here);
        ok = if comparable {
            let c = g.compare(&digest, results.as_ref(), &verdicts);
            labelled(&mut out, "note:", &c.notes)?;
            labelled(&mut out, "REGRESSION", &c.regressions)?;
            writeln!(
                out,
                "check against {}: {} values compared, {} regressions",
                path.display(),
                c.compared,
                c.regressions.len()
            )?;
            c.regressions.is_empty()
        } else {
            let blessed_on = g.blessed.platform.as_deref().unwrap_or("?");
            writeln!(
                out,
                "note: the golden was blessed on {blessed_on} and this machine is {here}: burn's CPU kernels choose SIMD code by CPU features, so bits cannot match across classes"
            )?;
            match g.compare_spread(results.as_ref(), &verdicts) {
                Some(c) => report_spread(&mut out, path, &g, &c)?,
                None => {
                    let c = g.compare(&digest, results.as_ref(), &verdicts);
                    labelled(&mut out, "differs", &c.regressions)?;
                    writeln!(
                        out,
                        "check against {}: {} values compared, {} differ; the golden has no spread over seeds, so nothing is judged (bless one with --spread-seeds on {blessed_on})",
                        path.display(),
                        c.compared,
                        c.regressions.len()
                    )?;
                    true
                }
            }
        };
    }
    writeln!(out, "report digest: {digest}")?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line per item, after `label`.
fn labelled(out: &mut impl std::io::Write, label: &str, items: &[String]) -> std::io::Result<()> {
    items.iter().try_for_each(|i| writeln!(out, "{label} {i}"))
}

/// Prints a check by distribution; true when it passed.
fn report_spread(
    out: &mut impl std::io::Write,
    path: &std::path::Path,
    g: &ReproductionGolden,
    c: &SpreadComparison,
) -> anyhow::Result<bool> {
    let sp = g
        .spread
        .as_ref()
        .expect("compare_spread returns Some only with a spread");
    labelled(out, "note:", &c.notes)?;
    labelled(out, "OUTSIDE", &c.outside)?;
    writeln!(
        out,
        "check against {} by distribution over {} seeds: {} of {} cells within their 95 % prediction interval ({} outside, at most {} allowed), {} unanimous verdicts changed: {}",
        path.display(),
        sp.seeds.len(),
        c.cells - c.cells_outside,
        c.cells,
        c.cells_outside,
        c.allowed_outside,
        c.verdicts_changed,
        if c.passed() { "passed" } else { "FAILED" }
    )?;
    Ok(c.passed())
}

/// The whole reproduction under the `i`-th spread seed (`--seeds` and `--spread-seeds`).
fn run_under_seed<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    experiment: &Experiment,
    i: u32,
    target: Target,
    sources: &PaperSources,
) -> anyhow::Result<(u64, reproduce::Reproduction)> {
    let mut exp = experiment.clone();
    exp.seed = spread_seed(experiment.seed, i);
    let seed_ctx = Context {
        store: ctx.store,
        env: ctx.env,
        experiment: &exp,
        code: ctx.code.clone(),
        progress: ctx.progress,
        offline: ctx.offline,
    };
    Ok((exp.seed, reproduce::run_all(&seed_ctx, target, sources)?))
}

/// What `--seeds` prints of one seed's reproduction.
struct SeedSummary {
    seed: u64,
    verdicts: Vec<(String, String)>,
    results: Option<mlagent::results::ResultsTable>,
    /// The step-wise run's probe: the final point's held-in-states and held-out-tasks rows.
    probe: Vec<mlagent::train::rl::probe::ProbePoint>,
}

impl SeedSummary {
    fn of(seed: u64, r: &reproduce::Reproduction) -> anyhow::Result<Self> {
        let results = r.eval.as_ref().map(eval::results).transpose()?;
        let verdicts = report::verdicts(&r.report)?;
        let mut probe = Vec::new();
        if let Some((_, run)) =
            r.lm.iter()
                .find(|(a, _)| *a == mlagent::paper::Agent::MlAgent)
        {
            let path = mlagent::stages::rl::probe_path(run);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let f: mlagent::train::rl::probe::ProbeFile = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            if let Some(last) = f.points.iter().map(|p| p.rl_step).max() {
                probe = f.points.into_iter().filter(|p| p.rl_step == last).collect();
            }
        }
        Ok(Self {
            seed,
            verdicts,
            results,
            probe,
        })
    }
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, v.sqrt())
}

fn write_seed_summary(out: &mut impl std::io::Write, runs: &[SeedSummary]) -> anyhow::Result<()> {
    let seeds: Vec<String> = runs.iter().map(|r| r.seed.to_string()).collect();
    writeln!(out, "\nover {} seeds ({}):", runs.len(), seeds.join(", "))?;
    writeln!(out, "claim verdicts, seed by seed:")?;
    for (id, _) in &runs[0].verdicts {
        let per: Vec<&str> = runs
            .iter()
            .map(|r| {
                r.verdicts
                    .iter()
                    .find(|(i, _)| i == id)
                    .map_or("absent", |(_, v)| v.as_str())
            })
            .collect();
        writeln!(out, "  {id}: {}", per.join(", "))?;
    }
    if runs.iter().all(|r| r.results.is_some()) {
        writeln!(
            out,
            "mean score per agent and split (normalised improvement, else relative gain %), seed by seed; mean ± sd over seeds:"
        )?;
        let first = runs[0].results.as_ref().expect("checked above");
        for split in mlagent::paper::Split::ALL {
            let tasks: Vec<_> = mlagent::paper::EvalTask::in_split(split).collect();
            for agent in first.agents() {
                let xs: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| {
                        let res = r.results.as_ref()?;
                        let scale = mlagent::report::compare::scale_of(res);
                        let all: Vec<f64> = tasks
                            .iter()
                            .filter_map(|t| {
                                mlagent::report::compare::oriented(res.task(*t)?, agent, scale)
                            })
                            .flatten()
                            .collect();
                        (!all.is_empty()).then(|| all.iter().sum::<f64>() / all.len() as f64)
                    })
                    .collect();
                if xs.len() == runs.len() {
                    let (m, sd) = mean_sd(&xs);
                    let per: Vec<String> = xs.iter().map(|x| format!("{x:+.3}")).collect();
                    writeln!(
                        out,
                        "  {} {agent}: {}; {m:+.3} ± {sd:.3}",
                        split.label(),
                        per.join(" ")
                    )?;
                }
            }
        }
    }
    writeln!(
        out,
        "step-wise RL probe at its last point, gain over the SFT start [95% CI] and improving edits, seed by seed:"
    )?;
    for r in runs {
        for p in &r.probe {
            writeln!(
                out,
                "  {} {} (step {}): {:+.3} [{:+.3}, {:+.3}], pass@1 {:.3}, pass@k {:.3}, improving edits {} of {}",
                r.seed,
                p.split,
                p.rl_step,
                p.gain_vs_start.mean,
                p.gain_vs_start.ci95[0],
                p.gain_vs_start.ci95[1],
                p.pass_at_1,
                p.pass_at_k,
                p.action_mix.improving_edit,
                p.action_mix.total()
            )?;
        }
    }
    Ok(())
}
