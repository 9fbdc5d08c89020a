//! `mlagent lm`: inspect the Qwen2 policy model.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mlagent::lm::generate::{SamplingConfig, generate};
use mlagent::lm::tokenizer::ChatTokenizer;
use mlagent::lm::{hf, model};
use mlagent::seed::SeedPath;

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Train and sample a freshly initialised model on random tokens; prints one JSON line
    /// `{"params": …, "train_tokens_per_s": …, "gen_tokens_per_s": …, "peak_rss_mib": …}`
    Bench {
        /// A named configuration (`tiny`, `mini` with a 2048-token vocabulary, `qwen2.5-0.5b`, …)
        #[arg(
            long,
            conflicts_with = "model_dir",
            required_unless_present = "model_dir"
        )]
        config: Option<String>,
        /// A Hugging Face folder whose `config.json` gives the dimensions (weights not needed)
        #[arg(long, value_name = "DIR")]
        model_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 4)]
        batch: usize,
        #[arg(long, default_value_t = 256)]
        seq: usize,
        /// Timed optimiser steps (after one warm-up step)
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// Sampled tokens per row after a `seq`-token prompt
        #[arg(long, default_value_t = 64)]
        new_tokens: usize,
    },
    /// Print `{"logits": [[...], ...]}`: one row per position, full vocabulary, f32
    Logits {
        /// A Hugging Face Qwen2 directory (config.json + model.safetensors)
        #[arg(long, value_name = "DIR")]
        model_dir: PathBuf,
        /// Comma-separated token ids, e.g. 1,2,3
        #[arg(long, value_delimiter = ',', required = true)]
        token_ids: Vec<u32>,
    },
    /// Sample a continuation: prints `{"tokens": [...], "logprobs": [...], "stopped": bool}`
    /// (plus `"text"` when --tokenizer is given)
    Generate {
        #[arg(long, value_name = "DIR")]
        model_dir: PathBuf,
        /// Comma-separated prompt token ids (or use --prompt with --tokenizer)
        #[arg(long, value_delimiter = ',')]
        token_ids: Vec<u32>,
        /// Prompt text, encoded with --tokenizer
        #[arg(long, requires = "tokenizer")]
        prompt: Option<String>,
        /// A tokenizer.json
        #[arg(long, value_name = "FILE")]
        tokenizer: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 32)]
        max_new_tokens: usize,
        /// 0 = greedy; negative or non-finite values are refused
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        temperature: f64,
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        top_p: f64,
        /// Comma-separated stop token ids (the tokenizer's <|im_end|>, <|endoftext|> are added)
        #[arg(long, value_delimiter = ',')]
        stop: Vec<u32>,
    },
}

/// f32 fields serialise in their shortest f32 round-trip form.
#[derive(serde::Serialize)]
struct GenerateOut<'a> {
    tokens: &'a [u32],
    logprobs: &'a [f32],
    stopped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// `{"logits": [[a, b, ...], ...]}`, spaced exactly as the command's documented contract; each
/// float in shortest round-trip form.
fn logits_json<'a>(rows: impl Iterator<Item = &'a [f32]>) -> anyhow::Result<String> {
    let mut out = String::from("{\"logits\": [");
    for (i, row) in rows.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('[');
        for (j, x) in row.iter().enumerate() {
            if j > 0 {
                out.push_str(", ");
            }
            out.push_str(&serde_json::to_string(x)?);
        }
        out.push(']');
    }
    out.push_str("]}");
    Ok(out)
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Bench {
            config,
            model_dir,
            batch,
            seq,
            steps,
            new_tokens,
        } => {
            global.cpu_only("lm bench", "it measures the flex CPU backend")?;
            let cfg = match (config, model_dir) {
                (Some(name), _) => mlagent::lm::Qwen2Config::named(&name, 2048)?,
                (None, Some(dir)) => mlagent::lm::Qwen2Config::load(&dir.join(hf::CONFIG_FILE))?,
                (None, None) => anyhow::bail!("give --config NAME or --model-dir DIR"),
            };
            cfg.check_fits_in_memory()?;
            let t = mlagent::lm::bench::measure(&cfg, batch, seq, steps, new_tokens)?;
            println!("{}", serde_json::to_string(&t)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Logits {
            model_dir,
            token_ids,
        } => {
            let device = global.backend().device()?;
            let (cfg, m) = hf::load(&model_dir, &device)
                .with_context(|| format!("loading {}", model_dir.display()))?;
            if let Some(bad) = token_ids.iter().find(|&&t| t as usize >= cfg.vocab_size) {
                anyhow::bail!(
                    "--token-ids: id {bad} is outside the vocabulary (size {})",
                    cfg.vocab_size
                );
            }
            if token_ids.len() > cfg.max_position_embeddings {
                anyhow::bail!(
                    "--token-ids: {} ids, but the model in {} has max_position_embeddings {}; \
                     expected at most that many",
                    token_ids.len(),
                    model_dir.display(),
                    cfg.max_position_embeddings
                );
            }
            let tokens = model::token_tensor(&[token_ids], &device)?;
            let logits = m.forward(tokens.clone(), None);
            let [_, t, v] = logits.dims();
            let flat = logits
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
            mlagent::lm::finite::check_logits(&m, tokens, &flat)
                .with_context(|| format!("running {}", model_dir.display()))?;
            println!("{}", logits_json(flat.chunks(v).take(t))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            model_dir,
            token_ids,
            prompt,
            tokenizer,
            seed,
            max_new_tokens,
            temperature,
            top_p,
            mut stop,
        } => {
            if !(temperature.is_finite() && temperature >= 0.0) {
                anyhow::bail!(
                    "--temperature: expected a finite number >= 0 (0 = greedy), got {temperature}"
                );
            }
            if !(top_p > 0.0 && top_p <= 1.0) {
                anyhow::bail!("--top-p: expected a number in (0, 1], got {top_p}");
            }
            let device = global.backend().device()?;
            let (_, m) = hf::load(&model_dir, &device)
                .with_context(|| format!("loading {}", model_dir.display()))?;
            let tok = match &tokenizer {
                Some(p) => Some(ChatTokenizer::load(p)?),
                None => None,
            };
            let ids = match (&prompt, &tok) {
                (Some(text), Some(t)) => t.encode(text)?,
                _ => token_ids,
            };
            if ids.is_empty() {
                anyhow::bail!("give the prompt as --token-ids or as --prompt with --tokenizer");
            }
            if let Some(t) = &tok {
                stop.extend(mlagent::lm::chat::stop_tokens(t));
            }
            let cfg = SamplingConfig {
                temperature,
                top_p,
                max_new_tokens,
                stop_tokens: stop,
            };
            let g = generate(
                &m,
                &[ids],
                &cfg,
                &SeedPath::root(seed).child("lm-generate"),
                0,
                &device,
            )?;
            let g = &g[0];
            let text = match &tok {
                Some(t) => Some(t.decode(&g.tokens, false)?),
                None => None,
            };
            let out = GenerateOut {
                tokens: &g.tokens,
                logprobs: &g.logprobs,
                stopped: g.stopped,
                text,
            };
            println!("{}", serde_json::to_string(&out)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
