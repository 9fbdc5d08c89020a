//! Training the policy beyond the expert data: reinforcement learning (`rl`).

pub mod rl;
