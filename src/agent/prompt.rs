//! What the agent reads: the system prompt, the task turn (task, metric, budget, the script)
//! and the feedback turns. One rendering serves the expert's trajectories, SFT, RL states and
//! evaluation, so a policy is trained on exactly the text it later acts on.

use crate::env::{Feedback, Script};
use crate::tasks::Task;
use crate::tasks::python::{PythonTask, SCRIPT, TEST_CSV, TRAIN_CSV, VALID_CSV};

/// The system prompt (assumed: the paper's prompts are not public; this is MLAgentBench's
/// action format in a few lines).
pub(crate) const SYSTEM: &str = "You are an ML engineer. Improve the validation metric of the script. \
Answer with three lines: `Thought: ...`, `Action: ...` (Edit Script, Inspect Script, \
Understand Data or Final Answer) and `Action Input: ...` (for Edit Script: `key = value; ...`; \
for Understand Data: `training data`; otherwise `train.py`).";

/// The first human turn: the task and its starter script.
pub(crate) fn task_turn(task: &Task, script: &Script) -> String {
    let s = &task.spec;
    format!(
        "Task {id}: {desc}\nMetric: {metric} ({dir}).\nYou have at most {steps} actions.\n\nScript:\n{script}",
        id = s.id,
        desc = s.description,
        metric = s.metric.name(),
        dir = s.metric.direction().as_str(),
        steps = s.budget.max_steps,
    )
}

/// The system prompt of the Python environment (assumed, as [`SYSTEM`]); the task turn states
/// the action format in full.
pub const PYTHON_SYSTEM: &str = "You are an ML engineer. Improve the validation metric of \
train.py. Each answer is one action: `Thought: ...`, `Action: ...` and `Action Input: ...`; an Edit \
Script gives search/replace blocks after its input line.";

/// The first human turn of a Python task: the task, the files, the script, the action format.
pub fn python_task_turn(task: &PythonTask, script: &str) -> String {
    format!(
        "{}\n\nFiles: {SCRIPT}, {TRAIN_CSV}, {VALID_CSV}, {TEST_CSV}.\n\n{SCRIPT}:\n```python\n{}\n```\n\n\
         Answer with `Thought: ...`, `Action: ...` (List Files, Inspect Script Lines, Understand \
         File, Edit Script, Undo Edit Script, Execute Script, Final Answer) and `Action Input: \
         ...`; Edit Script takes search/replace blocks after its input line.",
        task.spec.description,
        script.trim_end()
    )
}

/// A human turn reporting the feedback of the last action.
pub(crate) fn feedback_turn(feedback: &Feedback) -> String {
    format!("Observation ({}): {}", feedback.kind(), feedback.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_prompt_names_the_inputs_policies_write() {
        use crate::agent::policy::{DATA_INPUT, SCRIPT_INPUT};
        assert!(SYSTEM.contains(&format!("`{SCRIPT_INPUT}`")));
        assert!(SYSTEM.contains(&format!("`{DATA_INPUT}`")));
    }

    #[test]
    fn feedback_turn_names_kind_and_message() {
        let f = Feedback::ExecutionError {
            message: "loss diverged".into(),
        };
        assert_eq!(
            feedback_turn(&f),
            "Observation (execution_error): loss diverged"
        );
    }
}
