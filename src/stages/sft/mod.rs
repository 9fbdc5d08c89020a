//! Stage `sft`: exploration-enriched fine-tuning of the policy on the expert's trajectories
//! (paper §3.1; the trainer is `train::sft`). Outputs:
//!
//! - `policy/` (tokenizer.json, config.json, model.safetensors): the fine-tuned policy, the
//!   layout `agent::lm_policy::LmPolicy::load` reads (RL and evaluation start from it);
//! - `metrics.jsonl` (per optimiser step) and `loss.svg` (the loss curve);
//! - `probe.json`: the policy and the random baseline on states of held-out tasks — fraction
//!   of well-formed actions and mean step reward of one sampled action per state — beside the
//!   expert's own actions at those states;
//! - `resume/`: the last training checkpoint and progress (auxiliary).

use serde::Serialize;

mod probe;

use super::{Context, StageBodyError, StageEnvironment, StageError};
use crate::agent::conversation::read_jsonl;
use crate::agent::expert::ExpertStageConfig;
use crate::agent::lm_policy::TOKENIZER_FILE;
use crate::config::PolicyConfig;
use crate::lm::tokenizer::ChatTokenizer;
use crate::lm::train::{OptimConfig, Trainer};
use crate::lm::{Qwen2, Qwen2Config, hf};
use crate::pipeline::{StageOutputs, StageRun, run_stage};
use crate::reward::RewardConfig;
use crate::train::sft::{self as trainer, SftConfig, SftError};
pub use probe::{Probe, ProbeSample, ProbeScore};

pub const STAGE: &str = "sft";
use super::POLICY_DIR;
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const LOSS_PLOT_FILE: &str = "loss.svg";
pub const PROBE_FILE: &str = "probe.json";

/// Everything the stage's result depends on besides its parent and tasks.
#[derive(Serialize)]
struct Keyed<'a> {
    sft: &'a SftConfig,
    policy: &'a PolicyConfig,
    /// The probe's rollouts and rewards.
    expert: &'a ExpertStageConfig,
    reward: &'a RewardConfig,
    probe_tasks: &'a [String],
}

fn file_err(path: &std::path::Path, e: impl std::fmt::Display) -> StageBodyError {
    StageBodyError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn sft_err(e: SftError) -> StageBodyError {
    match e {
        SftError::Lm(e) => StageBodyError::Lm(e),
        SftError::Write(e) => StageBodyError::Write(e),
        SftError::File { path, message } => StageBodyError::File { path, message },
        SftError::Config(m) => StageBodyError::Config {
            field: "sft".into(),
            message: m,
        },
        e @ SftError::Interrupted { .. } => StageBodyError::Interrupted(e.to_string()),
    }
}

/// The held-out tasks of the experiment: evaluation tasks that are not training tasks.
pub(crate) fn held_out_tasks<E: StageEnvironment>(ctx: &Context<'_, E>) -> Vec<String> {
    ctx.experiment
        .eval_tasks
        .iter()
        .filter(|t| !ctx.experiment.train_tasks.contains(t))
        .cloned()
        .collect()
}

/// Runs (or reuses, or resumes) the sft stage below the expert run.
pub fn run<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    expert: &StageRun,
) -> Result<StageRun, StageError> {
    let exp = ctx.experiment;
    let cfg = &exp.sft;
    let body_err = |source| StageError::Body {
        stage: STAGE.into(),
        source,
    };
    let probe_tasks = held_out_tasks(ctx);
    let mut ids = exp.train_tasks.clone();
    ids.extend(probe_tasks.iter().cloned());
    let tasks = ctx.tasks(&ids).map_err(body_err)?;
    let keyed = Keyed {
        sft: cfg,
        policy: &exp.policy,
        expert: &exp.expert,
        reward: &exp.reward,
        probe_tasks: &probe_tasks,
    };
    let input = ctx.input(STAGE, &keyed, &tasks, &[expert]);
    run_stage(ctx.store, &input, true, |run| {
        ctx.env.begin_stage(&[expert])?;
        let traj = super::expert::trajectories(expert);
        let convs = read_jsonl(&traj)?;
        let pcfg = &exp.policy;
        let device = exp
            .backend
            .train_device()
            .map_err(|e| StageBodyError::Config {
                field: "backend".into(),
                message: e.to_string(),
            })?;
        let seed = ctx.seed().child(STAGE);
        let system = ctx.env.system_prompt();
        let (tok, model_cfg, model) = match &pcfg.pretrained {
            Some(dir) => {
                let tok = ChatTokenizer::load(&dir.join(TOKENIZER_FILE))?;
                let (c, m) = hf::load(dir, &device)?;
                (tok, c, m)
            }
            None => {
                let tok = ChatTokenizer::train_bpe(
                    &trainer::tokenizer_corpus(system, &convs),
                    pcfg.vocab_size,
                )?;
                let c = Qwen2Config::named(&pcfg.model, tok.vocab_size())?;
                let m = Qwen2::init(&c, &seed.child("init"), &device)?;
                (tok, c, m)
            }
        };
        // A pretrained directory absent when the config was checked is checked here, once its
        // config is read (config::bounds::check_model checks the rest before any stage).
        if exp.policy.context_tokens > model_cfg.max_position_embeddings {
            return Err(StageBodyError::Config {
                field: "policy.context_tokens".into(),
                message: format!(
                    "{} exceeds the model's {} positions",
                    exp.policy.context_tokens, model_cfg.max_position_embeddings
                ),
            });
        }
        if cfg.cutoff_tokens > model_cfg.max_position_embeddings {
            return Err(StageBodyError::Config {
                field: "sft.cutoff_tokens".into(),
                message: format!(
                    "{} exceeds the model's {} positions",
                    cfg.cutoff_tokens, model_cfg.max_position_embeddings
                ),
            });
        }
        let (examples, dropped) = if cfg.windows {
            // The acting budget, so a window's prompt is the one the policy gets at that state.
            let budget = crate::agent::lm_policy::prompt_budget(
                exp.policy.context_tokens,
                exp.policy.sampling().max_new_tokens,
            );
            trainer::render_windows(&tok, system, &convs, cfg.cutoff_tokens, budget)?
        } else {
            trainer::render_examples(&tok, system, &convs, cfg.cutoff_tokens)?
        };
        let tokens: usize = examples.iter().map(|e| e.ids.len()).sum();
        tracing::info!(
            examples = examples.len(),
            dropped,
            tokens,
            params = model_cfg.num_params(),
            "fine-tuning"
        );
        let optim = OptimConfig {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay as f32,
            ..OptimConfig::default()
        };
        let total_steps = (trainer::steps_per_epoch(examples.len(), cfg) * cfg.epochs) as u64;
        let bar = ctx.progress.then(|| {
            let b = indicatif::ProgressBar::new(total_steps);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "sft [{bar:40}] {pos}/{len} steps ({elapsed}, eta {eta}) {msg}",
                )
                .expect("the progress template is valid")
                .progress_chars("=> "),
            );
            b
        });
        let stop = crate::interrupt::flag();
        let resume = run.resume_dir();
        let result = {
            let mut on_step = |r: &trainer::MetricRow| {
                if let Some(b) = &bar {
                    b.set_position(r.step);
                    b.set_message(format!("loss {:.4}", r.loss));
                }
            };
            trainer::fine_tune(
                cfg,
                Trainer::new(model, optim),
                &examples,
                trainer::TrainingRun {
                    model_cfg: &model_cfg,
                    seed: seed.clone(),
                    resume_dir: &resume,
                    device: &device,
                    pad_id: tok.end_of_text,
                    stop: &stop,
                    on_step: &mut on_step,
                },
            )
        };
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let (trained, metrics) = result.map_err(sft_err)?;

        let policy_dir = run.dir().join(POLICY_DIR);
        tok.save(&policy_dir.join(TOKENIZER_FILE))?;
        hf::save(&policy_dir, &model_cfg, &trained.model)?;
        crate::provenance::atomic::write(
            &run.dir().join(METRICS_FILE),
            &trainer::metrics_jsonl(&metrics),
        )?;
        let svg = trainer::loss_svg(&metrics).map_err(sft_err)?;
        crate::provenance::atomic::write(&run.dir().join(LOSS_PLOT_FILE), svg.as_bytes())?;

        let probe = probe::measure(ctx, run.dir(), &probe_tasks)?;
        tracing::info!(?probe, "probe on held-out states");
        let mut text = serde_json::to_string_pretty(&probe).expect("a probe serialises");
        text.push('\n');
        crate::provenance::atomic::write(&run.dir().join(PROBE_FILE), text.as_bytes())?;

        let mut auxiliary = crate::provenance::checkpoints::Checkpoints::new(&resume)
            .files(run.dir())
            .map_err(|e| file_err(&e.path, e.message))?;
        auxiliary.extend(ctx.env.end_stage(run.dir())?);
        Ok(StageOutputs {
            content: vec![
                format!("{POLICY_DIR}/{TOKENIZER_FILE}"),
                format!("{POLICY_DIR}/{}", hf::CONFIG_FILE),
                format!("{POLICY_DIR}/{}", hf::WEIGHTS_FILE),
                METRICS_FILE.into(),
                LOSS_PLOT_FILE.into(),
                PROBE_FILE.into(),
            ],
            auxiliary,
        })
    })
}
