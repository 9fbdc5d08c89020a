//! The learning-rate schedule of fine-tuning: linear warmup, then cosine decay to zero
//! (LLaMA-Factory's `lr_scheduler_type: cosine`, i.e. transformers'
//! `get_cosine_schedule_with_warmup`).

use serde::{Deserialize, Serialize};

/// Cosine decay with linear warmup over `total` optimiser steps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CosineSchedule {
    pub peak_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl CosineSchedule {
    /// `warmup_ratio` of `total` steps (rounded up, as transformers does) warm up.
    pub fn new(peak_lr: f64, warmup_ratio: f64, total_steps: u64) -> Self {
        let warmup_steps = (warmup_ratio * total_steps as f64).ceil() as u64;
        Self {
            peak_lr,
            warmup_steps: warmup_steps.min(total_steps),
            total_steps,
        }
    }

    /// The learning rate of the update with 0-based index `step`. Warmup counts from 1 (assumed:
    /// transformers gives the very first update lr 0; here update `i < warmup` gets
    /// `peak·(i+1)/warmup`, so no update is wasted), then cosine from the peak to 0.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay as f64).min(1.0);
        self.peak_lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_rises_linearly_to_the_peak_then_cosine_falls() {
        let s = CosineSchedule::new(1.0, 0.1, 100);
        assert_eq!(s.warmup_steps, 10);
        assert!((s.lr(0) - 0.1).abs() < 1e-12);
        assert!((s.lr(4) - 0.5).abs() < 1e-12);
        assert!((s.lr(9) - 1.0).abs() < 1e-12);
        assert!((s.lr(10) - 1.0).abs() < 1e-12, "decay starts at the peak");
        // Half way through the decay the cosine is at half the peak.
        assert!((s.lr(55) - 0.5).abs() < 1e-12);
        for i in 10..99 {
            assert!(s.lr(i + 1) < s.lr(i), "decreasing after warmup at {i}");
        }
        assert!(s.lr(99) > 0.0 && s.lr(99) < 0.001);
    }

    #[test]
    fn no_warmup_starts_at_the_peak_and_ratio_rounds_up() {
        let s = CosineSchedule::new(2e-5, 0.0, 7);
        assert_eq!(s.lr(0), 2e-5);
        assert_eq!(CosineSchedule::new(1.0, 0.01, 7).warmup_steps, 1);
        // One step only: all of it is warmup at the peak.
        assert_eq!(CosineSchedule::new(1.0, 0.5, 1).lr(0), 1.0);
    }
}
