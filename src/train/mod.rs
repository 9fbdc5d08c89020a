//! Training loops over the policy model. `sft`: exploration-enriched supervised fine-tuning on
//! the expert's trajectories (paper §3.1), with `schedule`, its learning-rate schedule; `rl`:
//! step-wise PPO / GRPO and the episode-wise baseline (paper §3.2).

pub mod rl;
pub mod schedule;
pub mod sft;
