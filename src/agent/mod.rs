//! Agents that act in the workbench or the Python environment (`environment`): the policy interface and the teachers.

pub mod api;
pub mod conversation;
pub mod environment;
pub mod episode;
pub mod expert;
pub mod ideas;
pub mod knobs;
pub mod lm_policy;
pub mod policy;
pub mod prompt;
pub mod python_episode;
