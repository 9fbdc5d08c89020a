//! Episodes in the Python environment: an agent takes MLAgentBench actions on a task's
//! `train.py` until it gives a Final Answer or reaches its step limit, and the episode becomes a
//! ShareGPT conversation in the format the workbench's trajectories use
//! (`agent::conversation`). Two scripted agents act here: the expert, whose ideas (the task's
//! `ideas`) become real code edits kept when the validation metric improves and undone when it
//! does not, and the random agent, which draws actions and edits uniformly.

use rand::Rng as _;
use rand::seq::SliceRandom as _;
use serde::Serialize;

use super::conversation::{Conversation, Role, Turn};
use crate::env::python::action::{PyAction, PyActionKind, Replace};
use crate::env::python::{PyState, PythonEnv, PythonEnvError};
use crate::reward::RewardConfig;
use crate::seed::SeedPath;
use crate::tasks::python::{PyIdea, PythonTask, SCRIPT, TEST_CSV, TRAIN_CSV, VALID_CSV};

/// Which scripted agent acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PyAgentKind {
    Expert,
    Random,
}

/// One step as recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PyStepRecord {
    pub action: String,
    pub kind: &'static str,
    pub message: String,
    pub metric: Option<f64>,
    pub reward: f64,
}

/// A finished episode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PyEpisode {
    pub task_id: String,
    pub agent: PyAgentKind,
    pub steps: Vec<PyStepRecord>,
    pub starter_metric: f64,
    /// The best validation metric any script of the episode reached (the starter's when none
    /// beat it).
    pub best_metric: f64,
    #[serde(skip)]
    pub conversation: Conversation,
}

fn edit(idea: &PyIdea) -> String {
    PyAction {
        thought: idea.thought.clone(),
        kind: PyActionKind::EditScript,
        input: SCRIPT.into(),
        blocks: idea
            .blocks
            .iter()
            .map(|b| Replace {
                search: b.search.clone(),
                replace: b.replace.clone(),
            })
            .collect(),
    }
    .render()
}

fn plain(thought: &str, kind: PyActionKind, input: &str) -> String {
    PyAction {
        thought: thought.into(),
        kind,
        input: input.into(),
        blocks: Vec::new(),
    }
    .render()
}

/// The first human turn: the task, the files, the script, the action format.
pub fn task_turn(task: &PythonTask, script: &str) -> String {
    format!(
        "{}\n\nFiles: {SCRIPT}, {TRAIN_CSV}, {VALID_CSV}, {TEST_CSV}.\n\n{SCRIPT}:\n```python\n{}\n```\n\n\
         Answer with `Thought: ...`, `Action: ...` (List Files, Inspect Script Lines, Understand \
         File, Edit Script, Undo Edit Script, Execute Script, Final Answer) and `Action Input: \
         ...`; Edit Script takes search/replace blocks after its input line.",
        task.spec.description,
        script.trim_end()
    )
}

/// Runs one episode of `agent` on `task` from its starter, at most `max_steps` steps; all
/// choices come from `seed`.
pub fn run(
    env: &PythonEnv,
    task: &PythonTask,
    agent: PyAgentKind,
    max_steps: usize,
    seed: &SeedPath,
    cfg: &RewardConfig,
) -> Result<PyEpisode, PythonEnvError> {
    let direction = task.spec.metric.direction();
    let mut state: PyState = env.start(task, &task.starter)?;
    let starter_metric = state.metric;
    let mut best = starter_metric;
    let mut turns = vec![Turn::human(task_turn(task, &task.starter))];
    let mut steps: Vec<PyStepRecord> = Vec::new();
    let mut rng = seed.child("choices").rng();
    // The expert's plan: its ideas in a seeded order, then Final Answer.
    let mut ideas: Vec<&PyIdea> = task.spec.ideas.iter().collect();
    ideas.shuffle(&mut rng);
    let mut plan = ideas.into_iter();
    let mut undo_next = false;
    for i in 0..max_steps.max(1) {
        let last = i + 1 == max_steps.max(1);
        let mut is_edit = false;
        let action = match agent {
            PyAgentKind::Expert => {
                if undo_next {
                    undo_next = false;
                    plain(
                        "that did not help; back to the previous script",
                        PyActionKind::UndoEditScript,
                        "",
                    )
                } else if i == 0 {
                    plain(
                        "read the script first",
                        PyActionKind::InspectScriptLines,
                        SCRIPT,
                    )
                } else {
                    match plan.next().filter(|_| !last) {
                        Some(idea) => {
                            is_edit = true;
                            edit(idea)
                        }
                        None => plain("no idea left to try", PyActionKind::FinalAnswer, ""),
                    }
                }
            }
            PyAgentKind::Random => {
                let kind = PyActionKind::ALL[rng.random_range(0..PyActionKind::ALL.len())];
                match kind {
                    PyActionKind::EditScript if !task.spec.ideas.is_empty() => {
                        edit(&task.spec.ideas[rng.random_range(0..task.spec.ideas.len())])
                    }
                    PyActionKind::UnderstandFile => plain("look at the data", kind, TRAIN_CSV),
                    PyActionKind::ListFiles | PyActionKind::FinalAnswer => plain("-", kind, ""),
                    _ => plain("-", kind, SCRIPT),
                }
            }
        };
        let before = state.metric;
        let step = env.step(task, &state, &action, cfg)?;
        // Undo only an edit that was applied (it pushed the history): after an invalid edit, an
        // Undo would take back the last edit that was kept.
        let applied = step.next.history.len() > state.history.len();
        if is_edit
            && applied
            && step
                .feedback
                .metric
                .is_none_or(|m| !direction.is_better(m, before))
        {
            undo_next = true;
        }
        if let Some(m) = step.feedback.metric
            && step.feedback.kind == "success"
            && direction.is_better(m, best)
        {
            best = m;
        }
        turns.push(Turn::gpt(action.clone()));
        steps.push(PyStepRecord {
            action,
            kind: step.feedback.kind,
            message: step.feedback.message.clone(),
            metric: step.feedback.metric,
            reward: step.reward,
        });
        state = step.next;
        if step.done {
            break;
        }
        turns.push(Turn::human(format!(
            "{}: {}",
            step.feedback.kind, step.feedback.message
        )));
    }
    // A conversation ends with the agent's turn: drop the feedback of a step limit.
    if turns.last().is_some_and(|t| t.from == Role::Human) {
        turns.pop();
    }
    Ok(PyEpisode {
        task_id: task.spec.id.clone(),
        agent,
        steps,
        starter_metric,
        best_metric: best,
        conversation: Conversation {
            conversations: turns,
        },
    })
}
