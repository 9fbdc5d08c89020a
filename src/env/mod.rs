//! The ML workbench the agent acts in (docs/tasks.md): typed scripts per data family, actions in
//! the MLAgentBench style, real training with burn, feedback and reward. The test split is
//! reachable only through [`workbench::evaluate`].

pub mod action;
pub mod bench;
pub mod evaluation;
pub mod features;
pub mod model;
pub mod python;
pub mod score;
pub mod script;
pub(crate) mod step_class;
pub mod workbench;

pub use action::{Action, ActionKind};
pub use evaluation::Evaluation;
pub use script::Script;
pub use step_class::{ActionMix, StepClass};
pub use workbench::{Feedback, StepResult, Workbench, WorkbenchError, evaluate};
