//! `mlagent run --experiment FILE --store DIR --until STAGE`: runs the pipeline's stages in
//! order up to STAGE, reusing every run whose inputs are unchanged, and prints each stage's run
//! folder and manifest digest.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use mlagent::config::Experiment;
use mlagent::pipeline::StageRun;
use mlagent::provenance::{CodeVersion, LockWait, Store};
use mlagent::stages::{Context, expert, ideas, rl, sft};

use super::Global;

/// The pipeline's stages, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Stage {
    Ideas,
    Expert,
    Sft,
    Rl,
    RlEpisode,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment config (RON), e.g. experiments/mini.ron
    #[arg(long, value_name = "FILE")]
    pub experiment: PathBuf,
    /// Run the stages up to and including this one
    #[arg(long, value_enum, default_value = "rl-episode")]
    pub until: Stage,
    /// Never touch the network: an API teacher (`expert.api`) replays its recorded answers, and
    /// the first request without one is an error naming it
    #[arg(long)]
    pub offline: bool,
}

fn report(stage: Stage, run: &StageRun) {
    println!(
        "{:<10} {} {} ({})",
        match stage {
            Stage::Ideas => "ideas",
            Stage::Expert => "expert",
            Stage::Sft => "sft",
            Stage::Rl => "rl",
            Stage::RlEpisode => "rl-episode",
        },
        run.manifest.digest,
        run.dir.display(),
        if run.reused { "reused" } else { "ran" }
    );
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    // Ctrl-C / SIGTERM: every stage stops at its next safe point with its checkpoint written.
    mlagent::interrupt::install().context("installing the SIGINT / SIGTERM handlers")?;
    let store_dir = global
        .store
        .clone()
        .context("`run` needs --store DIR (the artifact store folder)")?;
    // The backend is the config's (it is part of every run key), not `--backend`'s.
    let exp = Experiment::load(&args.experiment)?;
    global.experiment_backend(&exp, &args.experiment)?;
    let store = Store::open(&store_dir, LockWait::Wait)
        .with_context(|| format!("opening the store {}", store_dir.display()))?;
    let code = CodeVersion::of_this_build();
    let progress = std::io::stderr().is_terminal();
    match exp.environment {
        mlagent::config::EnvironmentKind::Workbench => {
            super::refuse_ray_for_workbench(global, &exp)?;
            let wb = mlagent::stages::workbench(&exp).context("loading tasks/")?;
            let ctx = Context {
                store: &store,
                env: &wb,
                experiment: &exp,
                code,
                progress,
                offline: args.offline,
            };
            run_until(&ctx, args.until)
        }
        mlagent::config::EnvironmentKind::Python => {
            let env = super::pipeline_python_env(&exp, global)?;
            let ctx = Context {
                store: &store,
                env: &env,
                experiment: &exp,
                code,
                progress,
                offline: args.offline,
            };
            run_until(&ctx, args.until)
        }
    }
}

/// The stages in order, up to and including `until`.
fn run_until<E: mlagent::stages::StageEnvironment>(
    ctx: &Context<'_, E>,
    until: Stage,
) -> anyhow::Result<ExitCode> {
    let i = ideas::run(ctx)?;
    report(Stage::Ideas, &i);
    if until == Stage::Ideas {
        return Ok(ExitCode::SUCCESS);
    }
    let e = expert::run(ctx, &i)?;
    report(Stage::Expert, &e);
    if until == Stage::Expert {
        return Ok(ExitCode::SUCCESS);
    }
    let s = sft::run(ctx, &e)?;
    report(Stage::Sft, &s);
    if until == Stage::Sft {
        return Ok(ExitCode::SUCCESS);
    }
    let r = rl::run(ctx, &e, &s)?;
    report(Stage::Rl, &r);
    if until == Stage::Rl {
        return Ok(ExitCode::SUCCESS);
    }
    let r = rl::run_episode(ctx, &e, &s)?;
    report(Stage::RlEpisode, &r);
    Ok(ExitCode::SUCCESS)
}
