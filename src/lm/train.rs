//! One optimisation step of the policy: masked next-token cross-entropy, backward, AdamW.
//! Used by SFT (assistant tokens only) and by tests of determinism and exact resume.

use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::LmError;
use super::model::{Qwen2, token_tensor};

/// AdamW hyper-parameters (burn's AdamW: decoupled weight decay).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimConfig {
    pub lr: f64,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
}

impl Default for OptimConfig {
    fn default() -> Self {
        // LLaMA-Factory's defaults for the paper's SFT are AdamW (0.9, 0.999, 1e-8) with lr 2e-5;
        // the lr here is for a small model trained from scratch.
        Self {
            lr: 1e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl OptimConfig {
    pub fn build(&self) -> ModuleOptimizer {
        AdamWConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_weight_decay(self.weight_decay)
            .init()
    }
}

/// A batch of sequences for next-token training: row `b` predicts `tokens[b][t+1]` from
/// `tokens[b][..=t]`, and position `t+1` counts in the loss iff `loss_mask[b][t+1]`. Rows are
/// right-padded to equal length (pads masked out; causal attention never lets real tokens see
/// later pads, so no attention mask is needed).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub tokens: Vec<Vec<u32>>,
    pub loss_mask: Vec<Vec<bool>>,
}

impl Batch {
    /// Right-pads sequences with `pad_id` (masked) to the longest row.
    pub fn pad(rows: Vec<(Vec<u32>, Vec<bool>)>, pad_id: u32) -> Result<Self, LmError> {
        let t = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        if t < 2 {
            return Err(LmError::Input(
                "a training batch needs a row of >= 2 tokens".into(),
            ));
        }
        let mut tokens = Vec::new();
        let mut loss_mask = Vec::new();
        for (i, (mut tok, mut mask)) in rows.into_iter().enumerate() {
            if tok.len() != mask.len() {
                return Err(LmError::Input(format!(
                    "row {i}: {} tokens but {} mask flags",
                    tok.len(),
                    mask.len()
                )));
            }
            tok.resize(t, pad_id);
            mask.resize(t, false);
            tokens.push(tok);
            loss_mask.push(mask);
        }
        Ok(Self { tokens, loss_mask })
    }

    /// Number of tokens that count in the loss.
    pub fn target_count(&self) -> usize {
        self.loss_mask
            .iter()
            .map(|m| m[1..].iter().filter(|&&x| x).count())
            .sum()
    }
}

/// Mean cross-entropy over the masked target tokens (a scalar tensor, differentiable).
pub fn masked_loss(model: &Qwen2, batch: &Batch, device: &Device) -> Result<Tensor<1>, LmError> {
    let t = batch.tokens.first().map_or(0, Vec::len);
    if t < 2
        || batch.loss_mask.len() != batch.tokens.len()
        || batch
            .tokens
            .iter()
            .zip(&batch.loss_mask)
            .any(|(r, m)| r.len() != t || m.len() != t)
    {
        return Err(LmError::Input(
            "a batch needs rows of one length >= 2, each with a mask of that length".into(),
        ));
    }
    let n = batch.target_count();
    if n == 0 {
        return Err(LmError::Input(
            "the loss mask selects no target token".into(),
        ));
    }
    let inputs: Vec<Vec<u32>> = batch
        .tokens
        .iter()
        .map(|r| r[..r.len() - 1].to_vec())
        .collect();
    let b = inputs.len();
    let t = inputs[0].len();
    let targets: Vec<i64> = batch
        .tokens
        .iter()
        .flat_map(|r| r[1..].iter().map(|&x| x as i64))
        .collect();
    if let Some(bad) = targets.iter().find(|&&x| x as usize >= model.vocab_size) {
        return Err(LmError::Input(format!(
            "token id {bad} outside the vocabulary"
        )));
    }
    let weights: Vec<f32> = batch
        .loss_mask
        .iter()
        .flat_map(|m| m[1..].iter().map(|&x| if x { 1.0 / n as f32 } else { 0.0 }))
        .collect();
    let logits = model.forward(token_tensor(&inputs, device)?, None);
    let logp = log_softmax(logits, 2);
    let targets =
        Tensor::<3, burn::tensor::Int>::from_data(TensorData::new(targets, [b, t, 1]), device);
    let picked = logp.gather(2, targets).reshape([b, t]);
    let w = Tensor::<2>::from_data(TensorData::new(weights, [b, t]), device);
    Ok((picked * w).sum().neg())
}

/// A model with its optimiser: the unit that checkpoints save and resume.
pub struct Trainer {
    pub model: Qwen2,
    pub optim: ModuleOptimizer,
    pub optim_config: OptimConfig,
    /// Optimiser steps taken so far.
    pub step: u64,
}

impl Trainer {
    pub fn new(model: Qwen2, optim_config: OptimConfig) -> Self {
        Self {
            model,
            optim: optim_config.build(),
            optim_config,
            step: 0,
        }
    }

    /// One step at the configured learning rate; returns the batch loss before the update.
    pub fn step(&mut self, batch: &Batch, device: &Device) -> Result<f32, LmError> {
        let lr = self.optim_config.lr;
        self.step_with_lr(batch, lr, device)
    }

    /// One step at `lr` (for schedules); returns the batch loss before the update.
    pub fn step_with_lr(
        &mut self,
        batch: &Batch,
        lr: f64,
        device: &Device,
    ) -> Result<f32, LmError> {
        let loss = masked_loss(&self.model, batch, device)?;
        let value: f32 = loss.clone().into_scalar();
        if !value.is_finite() {
            return Err(LmError::Input(format!(
                "loss is {value} at step {}",
                self.step
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.step += 1;
        Ok(value)
    }
}
