//! `mlagent sandbox run-job --job-dir DIR`: runs a job folder (`sandbox::job`) in this
//! machine's sandbox and writes its `execution.json`; the entrypoint of the Ray executor's jobs
//! (`env::python::ray`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run DIR/workspace as DIR/job.json describes, in the sandbox; write DIR/execution.json
    RunJob {
        #[arg(long, value_name = "DIR")]
        job_dir: PathBuf,
    },
}

pub fn run(args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::RunJob { job_dir } => {
            let e = mlagent::sandbox::job::run(&job_dir)
                .with_context(|| format!("running the job in {}", job_dir.display()))?;
            println!(
                "exit {:?}, signal {:?}, limit {:?}, {:.2} s",
                e.exit_code, e.signal, e.limit, e.wall_seconds
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
