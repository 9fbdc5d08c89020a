//! Supervised fine-tuning on the expert's conversations (paper §3.1, LLaMA-Factory's
//! `stage: sft`): cross-entropy on every assistant turn with system, task and feedback tokens
//! masked; AdamW; cosine schedule with warmup; global gradient-norm clipping; micro-batches
//! grouped by length; gradient accumulation to an effective batch; epochs.
//!
//! Training checkpoints after every epoch and whenever it is asked to stop, and resumes from
//! the last checkpoint exactly: the batch order of an epoch is a function of its seed, and the
//! optimiser state reloads with its parameters (see `lm::checkpoint`), so a resumed run ends
//! with the same weights as an uninterrupted one.

mod examples;
mod plan;
mod progress;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::schedule::CosineSchedule;
use crate::lm::train::{Batch, Trainer};
use crate::lm::{LmError, Qwen2Config, checkpoint};
use crate::provenance::atomic;
use crate::provenance::checkpoints::Checkpoints;
use crate::seed::SeedPath;
pub use examples::{Example, messages, render_examples, render_windows, tokenizer_corpus};
pub(crate) use plan::{epoch_plan, steps_per_epoch};
use progress::save_progress;
pub use progress::{Progress, read_progress};

/// Numeric precision of training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    F32,
    /// The paper's setting (LLaMA-Factory `bf16: true`, mixed precision). Not implemented by
    /// this trainer: it is rejected with an error rather than silently run in f32.
    Bf16,
}

/// The `sft` section of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftConfig {
    /// Peak learning rate (the paper: 2e-5 for Qwen2.5-7B).
    pub lr: f64,
    /// Fraction of the optimiser steps spent warming up linearly to `lr`.
    pub warmup_ratio: f64,
    pub epochs: usize,
    /// Conversations per forward/backward pass.
    pub micro_batch: usize,
    /// Conversations per optimiser step (a multiple of `micro_batch`; the paper: 64).
    pub effective_batch: usize,
    /// Longer rendered conversations are truncated to this many tokens (the paper: 15000).
    pub cutoff_tokens: usize,
    /// Global L2 gradient-norm clip (transformers' default 1.0); absent: no clipping.
    pub max_grad_norm: Option<f64>,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    pub precision: Precision,
    /// Held-out states the stage's probe scores the fine-tuned policy on (`probe.json`).
    pub probe_states: usize,
    /// The first this many epochs target every token, prompt and feedback turns too
    /// (LLaMA-Factory's `train_on_prompt`, off in the published script); later epochs target
    /// the assistant turns only. For a policy trained from scratch: the script listing and the
    /// diff observations teach copying `key = value` text from context, which the assistant
    /// turns alone do not teach in mini's few steps (PROVENANCE.md).
    #[serde(default)]
    pub train_on_prompt_epochs: usize,
    /// Re-open conversations longer than `cutoff_tokens` in windows that start at the acting
    /// prompt of a later state ([`render_windows`]), so late turns are trained too; off, they
    /// are cut (LLaMA-Factory's `cutoff_len`, the published script). For mini: at its 768
    /// tokens the cut leaves 85 % of the expert's go-further steps untrained (PROVENANCE.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub windows: bool,
}

impl SftConfig {
    /// Checks the settings; the message names the field and what was expected.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: &str| Err((format!("sft.{f}"), m.to_string()));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", "expected a positive number");
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return bad("warmup_ratio", "expected a number in [0, 1]");
        }
        if self.epochs == 0 {
            return bad("epochs", "expected at least 1");
        }
        if self.micro_batch == 0 || !self.effective_batch.is_multiple_of(self.micro_batch) {
            return bad(
                "effective_batch",
                "expected a positive multiple of micro_batch (micro_batch >= 1)",
            );
        }
        if self.effective_batch == 0 {
            return bad("effective_batch", "expected at least 1");
        }
        if self.cutoff_tokens < 2 {
            return bad("cutoff_tokens", "expected at least 2");
        }
        if let Some(n) = self.max_grad_norm
            && !(n.is_finite() && n > 0.0)
        {
            return bad("max_grad_norm", "expected a positive number or None");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", "expected a number >= 0");
        }
        if self.train_on_prompt_epochs > self.epochs {
            return bad("train_on_prompt_epochs", "expected at most `epochs`");
        }
        Ok(())
    }

    /// Micro-batches per optimiser step.
    pub fn grad_accum(&self) -> usize {
        self.effective_batch / self.micro_batch
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SftError {
    #[error(transparent)]
    Lm(#[from] LmError),
    #[error(transparent)]
    Write(#[from] atomic::WriteError),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Config(String),
    #[error(
        "interrupted after optimiser step {step} (epoch {epoch}); the checkpoint is in {}; resume by running again",
        dir.display()
    )]
    Interrupted {
        step: u64,
        epoch: usize,
        dir: PathBuf,
    },
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRow {
    /// 1-based optimiser step.
    pub step: u64,
    /// 0-based epoch.
    pub epoch: usize,
    pub lr: f64,
    pub loss: f32,
    /// Target tokens of the step.
    pub tokens: usize,
    pub grad_norm: f64,
}

/// What a training run needs besides the config and the data.
pub struct TrainingRun<'a> {
    pub model_cfg: &'a Qwen2Config,
    /// Names the epochs' batch orders (`seed.child("epoch").child(e)`).
    pub seed: SeedPath,
    pub resume_dir: &'a Path,
    pub device: &'a Device,
    pub pad_id: u32,
    /// Set (e.g. by SIGINT) to checkpoint and stop between two optimiser steps.
    pub stop: &'a AtomicBool,
    /// Called after every optimiser step (progress display).
    pub on_step: &'a mut dyn FnMut(&MetricRow),
}

/// Fine-tunes `trainer` on `examples`, resuming from `run.resume_dir` when it holds a
/// checkpoint (then `trainer` is replaced by it). Returns the trained trainer and every step's
/// metrics.
pub(crate) fn fine_tune(
    cfg: &SftConfig,
    mut trainer: Trainer,
    examples: &[Example],
    run: TrainingRun<'_>,
) -> Result<(Trainer, Vec<MetricRow>), SftError> {
    cfg.validate()
        .map_err(|(f, m)| SftError::Config(format!("`{f}`: {m}")))?;
    if cfg.precision == Precision::Bf16 {
        return Err(SftError::Config(
            "`sft.precision`: Bf16 is not implemented by this trainer (it trains in f32 on every \
             backend); set `precision: F32`"
                .into(),
        ));
    }
    if examples.is_empty() {
        return Err(SftError::Config(
            "no training example: every conversation was empty after the cutoff".into(),
        ));
    }
    let per_epoch = steps_per_epoch(examples.len(), cfg);
    let schedule = CosineSchedule::new(cfg.lr, cfg.warmup_ratio, (per_epoch * cfg.epochs) as u64);
    let (mut epoch, mut skip, mut metrics) = (0, 0, Vec::new());
    let resumed = Checkpoints::new(run.resume_dir).resume(|dir, p: Progress| {
        let (_, t, m) = checkpoint::load(dir, run.device).map_err(|e| e.to_string())?;
        if m.step != p.metrics.len() as u64 {
            return Err(format!(
                "the pointer records {} steps but its checkpoint is at step {}",
                p.metrics.len(),
                m.step
            ));
        }
        Ok((t, p))
    })?;
    if let Some((t, p)) = resumed {
        tracing::info!(step = t.step, epoch = p.epoch, "resuming fine-tuning");
        trainer = t;
        (epoch, skip, metrics) = (p.epoch, p.step_in_epoch, p.metrics);
    }
    let lengths: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    while epoch < cfg.epochs {
        let plan = epoch_plan(
            &lengths,
            cfg.micro_batch,
            cfg.grad_accum(),
            &run.seed.child("epoch").child(epoch),
        );
        for (si, step) in plan.iter().enumerate().skip(skip) {
            if run.stop.load(Ordering::SeqCst) {
                save_progress(run.resume_dir, run.model_cfg, &trainer, epoch, si, &metrics)?;
                return Err(SftError::Interrupted {
                    step: trainer.step,
                    epoch,
                    dir: run.resume_dir.to_path_buf(),
                });
            }
            let on_prompt = epoch < cfg.train_on_prompt_epochs;
            let batches = step
                .iter()
                .map(|mb| {
                    Batch::pad(
                        mb.iter()
                            .map(|&i| (examples[i].ids.clone(), examples[i].targets(on_prompt)))
                            .collect(),
                        run.pad_id,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let lr = schedule.lr(trainer.step);
            let s = trainer.step_accumulated(&batches, lr, cfg.max_grad_norm, run.device)?;
            let row = MetricRow {
                step: trainer.step,
                epoch,
                lr,
                loss: s.loss,
                tokens: s.tokens,
                grad_norm: s.grad_norm,
            };
            (run.on_step)(&row);
            metrics.push(row);
        }
        epoch += 1;
        skip = 0;
        save_progress(run.resume_dir, run.model_cfg, &trainer, epoch, 0, &metrics)?;
    }
    Ok((trainer, metrics))
}

/// `metrics.jsonl`: one [`MetricRow`] per line.
pub(crate) fn metrics_jsonl(rows: &[MetricRow]) -> Vec<u8> {
    crate::jsonl::to_bytes(rows)
}

/// The loss curve as SVG (`plot::loss_curve`: bytes depend only on the data).
pub(crate) fn loss_svg(rows: &[MetricRow]) -> Result<String, SftError> {
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.step as f64, f64::from(r.loss)))
        .collect();
    crate::plot::loss_curve(
        "SFT training loss",
        "optimiser step",
        "cross-entropy (assistant tokens)",
        &pts,
    )
    .map_err(|e| SftError::File {
        path: "loss.svg".into(),
        message: format!("plotting: {}", e.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::conversation::Conversation;
    use crate::agent::conversation::Turn;
    use crate::lm::chat::render;
    use crate::lm::tokenizer::ChatTokenizer;

    fn cfg() -> SftConfig {
        SftConfig {
            lr: 1e-3,
            warmup_ratio: 0.1,
            epochs: 2,
            micro_batch: 2,
            effective_batch: 4,
            cutoff_tokens: 64,
            max_grad_norm: Some(1.0),
            weight_decay: 0.0,
            precision: Precision::F32,
            probe_states: 4,
            train_on_prompt_epochs: 0,
            windows: false,
        }
    }

    #[test]
    fn plan_covers_every_example_once_groups_by_length_and_follows_the_seed() {
        let lengths: Vec<usize> = (0..23).map(|i| (i * 37) % 101).collect();
        let s = SeedPath::root(3).child("epoch").child(0);
        let plan = epoch_plan(&lengths, 2, 3, &s);
        assert_eq!(plan.len(), 23usize.div_ceil(6));
        let mut seen: Vec<usize> = plan.iter().flatten().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
        for step in &plan {
            let flat: Vec<usize> = step.iter().flatten().map(|&i| lengths[i]).collect();
            assert!(flat.windows(2).all(|w| w[0] >= w[1]), "sorted by length");
            assert!(step.iter().all(|mb| mb.len() <= 2));
        }
        assert_eq!(plan, epoch_plan(&lengths, 2, 3, &s));
        assert_ne!(
            plan,
            epoch_plan(&lengths, 2, 3, &SeedPath::root(3).child("epoch").child(1))
        );
    }

    /// The text of an example's target tokens.
    fn target_text(tok: &ChatTokenizer, e: &Example) -> String {
        let ids: Vec<u32> = e
            .ids
            .iter()
            .zip(&e.mask)
            .filter(|p| *p.1)
            .map(|p| *p.0)
            .collect();
        tok.decode(&ids, false).unwrap()
    }

    #[test]
    fn only_assistant_turns_are_targets_and_cutoff_truncates() {
        let conv = Conversation {
            conversations: vec![
                Turn::human("task text"),
                Turn::gpt("Thought: a\nAction: Inspect Script\nAction Input: "),
                Turn::human("Observation (non_edit): fine"),
                Turn::gpt("Thought: b\nAction: Final Answer\nAction Input: "),
            ],
        };
        let tok = ChatTokenizer::train_bpe(
            &tokenizer_corpus(crate::agent::prompt::SYSTEM, std::slice::from_ref(&conv)),
            300,
        )
        .unwrap();
        let (ex, dropped) = render_examples(
            &tok,
            crate::agent::prompt::SYSTEM,
            std::slice::from_ref(&conv),
            10_000,
        )
        .unwrap();
        assert_eq!(dropped, 0);
        let e = &ex[0];
        let text = target_text(&tok, e);
        assert!(text.contains("Action: Inspect Script") && text.contains("Final Answer"));
        assert!(!text.contains("task text") && !text.contains("Observation"));
        assert!(!text.contains("You are an ML engineer"));
        // Cut inside the system prompt: no target left, so the example is dropped.
        let (ex, dropped) = render_examples(
            &tok,
            crate::agent::prompt::SYSTEM,
            std::slice::from_ref(&conv),
            5,
        )
        .unwrap();
        assert!(ex.is_empty() && dropped == 1);
        // Cut in the middle of the first action: it is partly kept.
        let first = e.mask.iter().position(|&m| m).unwrap();
        let (ex, _) = render_examples(
            &tok,
            crate::agent::prompt::SYSTEM,
            std::slice::from_ref(&conv),
            first + 3,
        )
        .unwrap();
        assert_eq!(ex[0].ids.len(), first + 3);
        assert_eq!(ex[0].mask.iter().filter(|&&m| m).count(), 3);
    }

    #[test]
    fn windows_train_every_turn_of_a_long_conversation_at_its_acting_prompt() {
        let mut turns = vec![Turn::human("task text with a script")];
        for i in 0..12 {
            turns.push(Turn::gpt(format!(
                "Thought: step {i}\nAction: Edit Script\nAction Input: epochs = {i}"
            )));
            turns.push(Turn::human(format!(
                "Observation (success): diff of train.py:\n- epochs = {i}\n+ epochs = {}",
                i + 1
            )));
        }
        turns.pop();
        let conv = Conversation {
            conversations: turns,
        };
        let convs = std::slice::from_ref(&conv);
        let tok =
            ChatTokenizer::train_bpe(&tokenizer_corpus(crate::agent::prompt::SYSTEM, convs), 400)
                .unwrap();
        let full = render(&tok, &messages(crate::agent::prompt::SYSTEM, &conv), false)
            .unwrap()
            .ids
            .len();
        let base = render(
            &tok,
            &messages(crate::agent::prompt::SYSTEM, &conv)[..2],
            false,
        )
        .unwrap()
        .ids
        .len();
        let cutoff = base + (full - base) / 3;
        let (cut, _) = render_examples(&tok, crate::agent::prompt::SYSTEM, convs, cutoff).unwrap();
        let budget = base + (full - base) / 6;
        let (win, dropped) =
            render_windows(&tok, crate::agent::prompt::SYSTEM, convs, cutoff, budget).unwrap();
        assert_eq!(dropped, 0);
        assert!(win.len() > 2, "{} windows", win.len());
        assert_eq!(
            win[0], cut[0],
            "the first window is the truncated conversation"
        );
        let targets = |e: &Example| target_text(&tok, e);
        for (w, e) in win.iter().enumerate() {
            assert!(e.ids.len() <= cutoff);
            let text = tok.decode(&e.ids, false).unwrap();
            let t = targets(e);
            assert!(
                !t.contains("Observation") && !t.contains("task text"),
                "{t}"
            );
            if w > 0 {
                assert!(
                    text.contains("oldest step(s) of the history were omitted"),
                    "{text}"
                );
            }
        }
        for i in 0..12 {
            let turn =
                format!("Thought: step {i}\nAction: Edit Script\nAction Input: epochs = {i}");
            assert!(
                win.iter().any(|e| targets(e).contains(&turn)),
                "turn {i} untrained"
            );
        }
        // Short conversations are unchanged.
        let (w, _) =
            render_windows(&tok, crate::agent::prompt::SYSTEM, convs, 100_000, 100_000).unwrap();
        assert_eq!(
            w,
            render_examples(&tok, crate::agent::prompt::SYSTEM, convs, 100_000)
                .unwrap()
                .0
        );
    }

    #[test]
    fn train_on_prompt_targets_every_token_else_the_assistant_mask() {
        let e = Example {
            ids: vec![5, 6, 7, 8],
            mask: vec![false, true, true, false],
        };
        assert_eq!(e.targets(false), e.mask);
        assert_eq!(e.targets(true), vec![true; 4]);
    }

    #[test]
    fn config_errors_name_the_field() {
        let mut c = cfg();
        assert!(c.validate().is_ok());
        c.effective_batch = 5;
        assert_eq!(c.validate().unwrap_err().0, "sft.effective_batch");
        let mut c = cfg();
        c.warmup_ratio = 1.5;
        assert_eq!(c.validate().unwrap_err().0, "sft.warmup_ratio");
        let mut c = cfg();
        c.train_on_prompt_epochs = c.epochs + 1;
        assert_eq!(c.validate().unwrap_err().0, "sft.train_on_prompt_epochs");
    }

    #[test]
    fn loss_plot_is_a_function_of_the_metrics() {
        let rows: Vec<MetricRow> = (1..=5)
            .map(|i| MetricRow {
                step: i,
                epoch: 0,
                lr: 1e-3,
                loss: 3.0 / i as f32,
                tokens: 10,
                grad_norm: 1.0,
            })
            .collect();
        let a = loss_svg(&rows).unwrap();
        assert!(a.starts_with("<svg"));
        assert_eq!(a, loss_svg(&rows).unwrap());
        assert_ne!(a, loss_svg(&rows[..4]).unwrap());
    }
}
