//! Training loops over the policy model. `sft`: exploration-enriched supervised fine-tuning on
//! the expert's trajectories (paper §3.1); `schedule`: the learning-rate schedule it follows.

pub mod schedule;
pub mod sft;
