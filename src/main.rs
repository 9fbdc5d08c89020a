//! The `mlagent` command line.

mod commands;

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a training step allocates a fresh buffer per op result
/// and gradient, and glibc hands large ones back to the kernel and faults them in again
/// (docs/benchmarks.md). Where memory comes from never changes a result.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's own setter (in the library `mimalloc` links); the Rust bindings only declare it
    /// behind a feature whose extra dependency is not worth taking for one call.
    fn mi_option_set_default(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc v2's `mi_option_t` (include/mimalloc.h).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Keeps freed pages mapped instead of purging them after 10 ms: every training step frees and
/// reallocates the same large buffers, and each purge made the kernel zero them again on the
/// next touch, about a seventh of a mini step (docs/benchmarks.md). Peak memory is unchanged,
/// since the pages are reused. `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn keep_freed_memory() {
    // SAFETY: the option index is in range for the linked mimalloc (v2), and setting an option's
    // default is allowed at any time from any thread.
    unsafe { mi_option_set_default(MI_OPTION_PURGE_DELAY, -1) }
}

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mlagent",
    version,
    about = "ML-Agent re-implementation and reproducibility harness"
)]
struct Cli {
    #[command(flatten)]
    global: commands::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Re-hash every file of a store, or of one run's whole lineage, against its manifests
    Verify(commands::verify::Args),
    /// Experiment configs
    #[command(subcommand)]
    Config(commands::config::Args),
    /// Metrics: list, evaluate, check against reference vectors
    Metric(commands::metric::Args),
    /// The stand-in tasks
    Tasks(commands::tasks::Args),
    /// The ML workbench: take one agent step, or play the agent yourself
    Env(commands::env::Args),
    /// Run or reuse every stage and print the paper's Table 1 / Figure 4 beside this run's
    Reproduce(commands::reproduce::Args),
    /// The Qwen2 policy model
    Lm(commands::lm::Args),
    /// Run the pipeline's stages in order (reusing unchanged runs)
    Run(commands::run::Args),
    /// Serve a policy folder behind an OpenAI-compatible chat-completions API
    Serve(commands::serve::Args),
    /// The sandbox agent code runs in: run a job folder (the Ray executor's entrypoint)
    Sandbox(commands::sandbox::Args),
    /// Run the benchmarks (use `cargo xtask bench` for a release build)
    #[command(hide = true)]
    Bench(commands::bench::Args),
}

fn main() -> ExitCode {
    keep_freed_memory();
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(a) => commands::verify::run(a, &cli.global),
        Command::Config(a) => commands::config::run(a, &cli.global),
        Command::Metric(a) => commands::metric::run(a, &cli.global),
        Command::Tasks(a) => commands::tasks::run(a, &cli.global),
        Command::Env(a) => commands::env::run(a, &cli.global),
        Command::Reproduce(a) => commands::reproduce::run(a, &cli.global),
        Command::Lm(a) => commands::lm::run(a, &cli.global),
        Command::Run(a) => commands::run::run(a, &cli.global),
        Command::Serve(a) => commands::serve::run(a, &cli.global),
        Command::Sandbox(a) => commands::sandbox::run(a, &cli.global),
        Command::Bench(a) => commands::bench::run(a, &cli.global),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: an error whose text already holds its cause's
/// (a stage error quotes its body's) does not repeat it.
fn message(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}
