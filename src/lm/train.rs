//! One optimisation step of the policy: masked next-token cross-entropy, backward, AdamW.
//! Used by SFT (with its per-epoch loss mask) and by tests of determinism and exact resume.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
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
    /// Checks the hyper-parameters AdamW needs to stay finite: a positive learning rate, betas
    /// in [0, 1) (a beta of 1 never forgets; above 1 the moments grow without bound), a
    /// positive epsilon (it guards a division by the second moment's root). Errors name the
    /// field and what was expected, as `(field, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, v: String, m: &str| Err((f.to_string(), format!("{v}: {m}")));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr.to_string(), "expected a finite number > 0");
        }
        for (f, b) in [("beta_1", self.beta_1), ("beta_2", self.beta_2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(f, b.to_string(), "expected a number in [0, 1)");
            }
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return bad(
                "epsilon",
                self.epsilon.to_string(),
                "expected a finite number > 0",
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "expected a finite number >= 0",
            );
        }
        Ok(())
    }

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
    pub(crate) fn target_count(&self) -> usize {
        self.loss_mask
            .iter()
            .map(|m| m[1..].iter().filter(|&&x| x).count())
            .sum()
    }
}

/// Mean cross-entropy over the masked target tokens (a scalar tensor, differentiable).
pub(crate) fn masked_loss(
    model: &Qwen2,
    batch: &Batch,
    device: &Device,
) -> Result<Tensor<1>, LmError> {
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
    pub(crate) fn step_with_lr(
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

/// What one accumulated optimiser step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct StepStats {
    /// Mean cross-entropy over every target token of the step's micro-batches.
    pub loss: f32,
    /// Target tokens of the step.
    pub tokens: usize,
    /// Global L2 norm of the gradient before clipping.
    pub grad_norm: f64,
}

/// Sums the squares of every parameter's gradient, in the module's fixed visiting order.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.sum += f64::from(sum_independent_of_threads(g.square()));
        }
    }
}

/// From this many elements burn-flex's full f32 `sum` adds per-chunk partials with rayon's
/// `sum`, whose tree follows the thread count and work stealing (burn-flex 0.22.1,
/// `ops/reduce.rs`, `sum_f32_contiguous`).
const FLEX_PARALLEL_SUM_ELEMENTS: usize = 4 * 1024 * 1024;

/// `t.sum()`, with the same bits under any thread count: a tensor of 2 or more dimensions at
/// flex's parallel-sum size is summed row by row (`sum_dim` is sequential per row) and the row
/// sums then summed. Below that size it is exactly `t.sum()`, so small models keep their
/// numbers. Reached by the 0.5B/7B embeddings and MLPs; no parameter of ours is a vector that
/// large, so 1-D tensors are left to `t.sum()`.
fn sum_independent_of_threads<const D: usize>(t: Tensor<D>) -> f32 {
    let n = t.shape().num_elements();
    if n < FLEX_PARALLEL_SUM_ELEMENTS || D < 2 {
        return t.sum().into_scalar();
    }
    let cols = t.dims()[D - 1];
    t.reshape([n / cols, cols]).sum_dim(1).sum().into_scalar()
}

/// Multiplies every parameter's gradient by `factor`.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads
                .register::<D>(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// Clips `grads` to global L2 norm `max_norm` (PyTorch's `clip_grad_norm_`, which transformers
/// applies with `max_grad_norm`: scale by `max_norm / (norm + 1e-6)` when that is below 1).
/// burn's own `GradientClipping::Norm` clips each tensor separately, which is not the same.
/// Returns the norm before clipping.
pub(crate) fn clip_global_norm<M: Module>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: Option<f64>,
) -> f64 {
    let mut norm = SquaredNorm { grads, sum: 0.0 };
    model.visit(&mut norm);
    let total = norm.sum.sqrt();
    if let Some(max) = max_norm {
        let factor = max / (total + 1e-6);
        if factor < 1.0 {
            model.visit(&mut Scale {
                grads,
                factor: factor as f32,
            });
        }
    }
    total
}

impl Trainer {
    /// One optimiser step over several micro-batches (gradient accumulation): the loss is the
    /// mean over every target token of all of them (each micro-batch's mean weighted by its
    /// share of the tokens, as transformers does with `num_items_in_batch`), the gradient is
    /// clipped to `max_grad_norm` (global L2), then AdamW updates at `lr`.
    pub(crate) fn step_accumulated(
        &mut self,
        micro_batches: &[Batch],
        lr: f64,
        max_grad_norm: Option<f64>,
        device: &Device,
    ) -> Result<StepStats, LmError> {
        let total: usize = micro_batches.iter().map(Batch::target_count).sum();
        if total == 0 {
            return Err(LmError::Input(
                "an optimiser step needs at least one target token".into(),
            ));
        }
        let mut acc = GradientsAccumulator::<Qwen2>::new();
        let mut loss_sum = 0.0f64;
        for b in micro_batches {
            let n = b.target_count();
            if n == 0 {
                continue;
            }
            let weight = n as f32 / total as f32;
            let loss = masked_loss(&self.model, b, device)?.mul_scalar(weight);
            let value: f32 = loss.clone().into_scalar();
            if !value.is_finite() {
                return Err(LmError::Input(format!(
                    "loss is {value} at step {}",
                    self.step
                )));
            }
            loss_sum += f64::from(value);
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            acc.accumulate(&self.model, grads);
        }
        let mut grads = acc.grads();
        let grad_norm = clip_global_norm(&self.model, &mut grads, max_grad_norm);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.step += 1;
        Ok(StepStats {
            loss: loss_sum as f32,
            tokens: total,
            grad_norm,
        })
    }
}

#[cfg(test)]
mod thread_independence_tests {
    use super::*;

    /// A tensor at flex's parallel-sum size sums to the same bits under 1, 2, 3, 8 and 16
    /// threads. (Its plain `sum()` gave three different results here: bits 1168063680 with 1
    /// thread, …678 with 2, …676 with 3 or more.)
    #[test]
    fn large_sums_do_not_depend_on_the_thread_count() {
        let (rows, cols) = (4096, 2048);
        assert!(rows * cols >= FLEX_PARALLEL_SUM_ELEMENTS);
        let mut rng = crate::seed::SeedPath::root(7).child("sum").rng();
        let data = crate::lm::model::normal_vec(&mut rng, rows * cols, 1.0);
        let bits: Vec<u32> = [1, 2, 3, 8, 16]
            .into_iter()
            .map(|threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a rayon pool of a few threads can be built");
                pool.install(|| {
                    let t: Tensor<2> = Tensor::from_data(
                        TensorData::new(data.clone(), [rows, cols]),
                        &Device::flex(),
                    );
                    sum_independent_of_threads(t).to_bits()
                })
            })
            .collect();
        assert!(bits.iter().all(|b| *b == bits[0]), "{bits:?}");
    }
}
