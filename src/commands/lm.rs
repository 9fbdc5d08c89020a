//! `mlagent lm`: inspect the Qwen2 policy model.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mlagent::lm::{hf, model};

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print `{"logits": [[...], ...]}`: one row per position, full vocabulary, f32
    Logits {
        /// A Hugging Face Qwen2 directory (config.json + model.safetensors)
        #[arg(long, value_name = "DIR")]
        model_dir: PathBuf,
        /// Comma-separated token ids, e.g. 1,2,3
        #[arg(long, value_delimiter = ',', required = true)]
        token_ids: Vec<u32>,
    },
}

#[derive(serde::Serialize)]
struct LogitsOut {
    logits: Vec<Vec<f32>>,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Logits {
            model_dir,
            token_ids,
        } => {
            let device = global.backend.device()?;
            let (cfg, m) = hf::load(&model_dir, &device)
                .with_context(|| format!("loading {}", model_dir.display()))?;
            if let Some(bad) = token_ids.iter().find(|&&t| t as usize >= cfg.vocab_size) {
                anyhow::bail!(
                    "--token-ids: id {bad} is outside the vocabulary (size {})",
                    cfg.vocab_size
                );
            }
            let tokens = model::token_tensor(&[token_ids], &device)?;
            let logits = m.forward(tokens, None);
            let [_, t, v] = logits.dims();
            let flat = logits
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
            let out = LogitsOut {
                logits: flat.chunks(v).take(t).map(<[f32]>::to_vec).collect(),
            };
            println!("{}", serde_json::to_string(&out)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
