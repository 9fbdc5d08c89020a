//! The batch plan of an epoch: shuffled by seed, grouped by length into micro-batches.

use rand::seq::SliceRandom as _;

use super::SftConfig;
use crate::seed::SeedPath;

/// One epoch's optimiser steps, each a list of micro-batches of example indices. The examples
/// are shuffled by `seed`; each step takes the next `micro_batch · grad_accum` of them, sorts
/// them by length (longest first, ties by index) and cuts them into micro-batches, so a
/// micro-batch holds similar lengths (little padding) while steps stay random
/// (transformers' `group_by_length`, with a mega-batch of one optimiser step). The last step
/// of an epoch may be smaller.
pub(crate) fn epoch_plan(
    lengths: &[usize],
    micro_batch: usize,
    grad_accum: usize,
    seed: &SeedPath,
) -> Vec<Vec<Vec<usize>>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(&mut seed.rng());
    order
        .chunks(micro_batch * grad_accum)
        .map(|step| {
            let mut s = step.to_vec();
            s.sort_by_key(|&i| (std::cmp::Reverse(lengths[i]), i));
            s.chunks(micro_batch).map(<[usize]>::to_vec).collect()
        })
        .collect()
}

/// Optimiser steps per epoch for `n` examples.
pub(crate) fn steps_per_epoch(n: usize, cfg: &SftConfig) -> usize {
    n.div_ceil(cfg.effective_batch)
}
