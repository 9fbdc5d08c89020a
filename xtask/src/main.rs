//! `cargo xtask`: the project's developer and reviewer commands.
//!
//! - `reproduce <table1|figure4|all> [--profile smoke|mini|paper] [--store DIR] [--check]`
//! - `verify [--store DIR]`: re-hash every artifact of a store
//! - `bless [--profile ...]`: write golden/<profile>/ from a reproduction
//! - `bench`: performance figures (release build)
//! - `ci`: exactly what CI runs
//! - `check-gpu`: type-check the wgpu and cuda backends offline

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Target {
    Table1,
    Figure4,
    All,
}

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Profile {
    Smoke,
    Mini,
    Paper,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run (or reuse) every stage and print the paper's numbers beside this run's, with verdicts
    Reproduce {
        target: Target,
        #[arg(long, value_enum, default_value = "mini")]
        profile: Profile,
        #[arg(long)]
        store: Option<PathBuf>,
        /// Compare with golden/<profile>/ and fail on a regression
        #[arg(long)]
        check: bool,
    },
    /// Re-hash every artifact of a store
    Verify {
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Write golden/<profile>/ from a reproduction
    Bless {
        #[arg(long, value_enum, default_value = "mini")]
        profile: Profile,
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Performance figures, from a release build
    Bench {
        /// Only benchmarks whose name contains this
        filter: Option<String>,
    },
    /// Everything CI runs: fmt, clippy, tests, and the smoke reproduction
    Ci,
    /// Type-check the GPU backends offline (`DOCS_RS=1` skips cuda's LLVM download)
    CheckGpu,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one folder below the workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut cmd: Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Reproduce { .. } => {
            bail!("`reproduce` is not built yet (issue 8): no stage pipeline exists to run")
        }
        Cmd::Bless { .. } => bail!("`bless` is not built yet (issue 8)"),
        Cmd::Verify { store } => {
            let store = store.unwrap_or_else(|| root().join("target/mlagent/store"));
            let mut c = cargo();
            c.args(["run", "--quiet", "--bin", "mlagent", "--", "verify"])
                .arg(store);
            run(c)
        }
        Cmd::Bench { filter } => {
            let mut c = cargo();
            c.args([
                "run",
                "--release",
                "--quiet",
                "--bin",
                "mlagent",
                "--",
                "bench",
            ]);
            if let Some(f) = filter {
                c.arg(f);
            }
            run(c)
        }
        Cmd::Ci => ci(),
        Cmd::CheckGpu => check_gpu(),
    }
}

fn ci() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    let mut test = cargo();
    test.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    run(test)?;
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc"]);
    run(doc)?;
    Ok(())
}

fn check_gpu() -> Result<()> {
    let mut wgpu = cargo();
    wgpu.args(["check", "--features", "wgpu", "--all-targets"]);
    run(wgpu)?;
    let mut cuda = cargo();
    cuda.env("DOCS_RS", "1")
        .args(["check", "--features", "cuda", "--all-targets"]);
    run(cuda)
}
