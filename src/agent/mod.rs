//! Agents that act in the workbench: the policy interface and the teachers.

pub mod conversation;
pub mod expert;
pub mod ideas;
pub mod policy;
