//! `mlagent serve --policy DIR [--addr 127.0.0.1:PORT]`: an OpenAI-compatible server
//! (`/v1/models`, `/v1/chat/completions`) in front of a policy folder. Prints
//! `serving <model> on http://<addr>/v1` once it listens; Ctrl-C stops it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mlagent::serve::Served;
use mlagent::serve::http::{Limits, serve};

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A policy folder (`<store>/runs/{sft,rl}/<key>/policy`) or a Hugging Face Qwen2 folder
    #[arg(long, value_name = "DIR")]
    pub policy: PathBuf,
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// The model name clients ask for [default: the folder's name]
    #[arg(long)]
    pub model_name: Option<String>,
    /// Requests admitted at once (one generates, the rest wait); more get HTTP 429
    #[arg(long, default_value_t = 8)]
    pub queue: usize,
    /// Largest request body in bytes
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let device = global.backend().device()?;
    let served = Served::load(&args.policy, args.model_name.clone(), device)
        .with_context(|| format!("loading the policy folder {}", args.policy.display()))?;
    let name = served.name.clone();
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        queue: args.queue,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(
        served,
        args.addr,
        limits,
        |addr| {
            println!("serving {name} on http://{addr}/v1");
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ))
    .with_context(|| format!("serving on {}", args.addr))?;
    Ok(ExitCode::SUCCESS)
}
