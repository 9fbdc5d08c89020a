//! What an agent acts in, as one interface: the workbench (typed `key = value` scripts trained
//! in-process) and the Python environment (a task's `train.py` run in the sandbox). Episodes
//! (`agent::episode`), and through them RL, evaluation and rollouts, act through
//! [`Environment`], so a policy acts in either the same way: it reads the environment's system
//! prompt and task turn, answers with action text, and is told the feedback in the workbench's
//! terms ([`Feedback`]), which the reward and the action classes (`env::StepClass`) read.

use super::prompt;
use crate::env::python::{PyState, PythonEnv, PythonEnvError};
use crate::env::{Feedback, Script, Workbench, WorkbenchError};
use crate::metrics::Direction;
use crate::tasks::Task;
use crate::tasks::python::PythonTask;

/// Where an episode starts.
#[derive(Clone, Debug)]
pub struct Start<S> {
    pub state: S,
    /// The starter's validation metric, when it runs.
    pub metric: Option<f64>,
}

/// What one action did.
#[derive(Clone, Debug)]
pub struct Transition<S> {
    pub feedback: Feedback,
    pub next: S,
    pub reward: f64,
    /// `Final Answer` ends the episode.
    pub done: bool,
    /// Validation metric of the script before the action (the reward's baseline), if it ran.
    pub previous_metric: Option<f64>,
}

/// An environment agents act in.
pub trait Environment: Sync {
    type Task: Sync;
    /// Where an episode stands (the current script, and what Undo needs).
    type State: Clone + Send + Sync;
    type Error: std::error::Error + Send + Sync + 'static;

    /// The system prompt that states this environment's action format.
    fn system_prompt(&self) -> &'static str;
    fn task_id<'t>(&self, task: &'t Self::Task) -> &'t str;
    /// The direction of the task's validation metric.
    fn direction(&self, task: &Self::Task) -> Direction;
    /// The first human turn: the task and its starter script.
    fn task_turn(&self, task: &Self::Task) -> Result<String, Self::Error>;
    /// The state at the task's starter script (run once for its metric; cached).
    fn start(&self, task: &Self::Task, run_seed: u64) -> Result<Start<Self::State>, Self::Error>;
    /// One action on `state`: parsed, acted on, run when it edits, rewarded.
    fn step(
        &self,
        task: &Self::Task,
        state: &Self::State,
        action_text: &str,
        run_seed: u64,
    ) -> Result<Transition<Self::State>, Self::Error>;
    /// The state's script as text (what step records and best scripts keep).
    fn script(&self, state: &Self::State) -> String;
    /// The state's typed script, where the environment has one (policies that act on the
    /// script's keys, such as the random baseline and the workbench expert, read it).
    fn typed_script<'s>(&self, state: &'s Self::State) -> Option<&'s Script>;
}

impl Environment for Workbench {
    type Task = Task;
    type State = Script;
    type Error = WorkbenchError;

    fn system_prompt(&self) -> &'static str {
        prompt::SYSTEM
    }

    fn task_id<'t>(&self, task: &'t Task) -> &'t str {
        &task.spec.id
    }

    fn direction(&self, task: &Task) -> Direction {
        task.spec.metric.direction()
    }

    fn task_turn(&self, task: &Task) -> Result<String, WorkbenchError> {
        Ok(prompt::task_turn(task, &self.starter(task)?))
    }

    fn start(&self, task: &Task, run_seed: u64) -> Result<Start<Script>, WorkbenchError> {
        let script = self.starter(task)?;
        let metric = match self.run(task, &script, run_seed)?.outcome {
            crate::env::evaluation::RunOutcome::Success { valid_metric } => Some(valid_metric),
            _ => None,
        };
        Ok(Start {
            state: script,
            metric,
        })
    }

    fn step(
        &self,
        task: &Task,
        state: &Script,
        action_text: &str,
        run_seed: u64,
    ) -> Result<Transition<Script>, WorkbenchError> {
        let r = Workbench::step(self, task, state, action_text, run_seed)?;
        Ok(Transition {
            feedback: r.feedback,
            next: r.next_script,
            reward: r.reward,
            done: r.done,
            previous_metric: r.previous_metric,
        })
    }

    fn script(&self, state: &Script) -> String {
        state.to_string()
    }

    fn typed_script<'s>(&self, state: &'s Script) -> Option<&'s Script> {
        Some(state)
    }
}

/// Every Python execution is seeded by its task (`MLAGENT_SEED`), so the run seed does not
/// enter: a script's feedback is a function of the script and the task.
impl Environment for PythonEnv {
    type Task = PythonTask;
    type State = PyState;
    type Error = PythonEnvError;

    fn system_prompt(&self) -> &'static str {
        prompt::PYTHON_SYSTEM
    }

    fn task_id<'t>(&self, task: &'t PythonTask) -> &'t str {
        &task.spec.id
    }

    fn direction(&self, task: &PythonTask) -> Direction {
        task.spec.metric.direction()
    }

    fn task_turn(&self, task: &PythonTask) -> Result<String, PythonEnvError> {
        Ok(prompt::python_task_turn(task, &task.starter))
    }

    fn start(&self, task: &PythonTask, _run_seed: u64) -> Result<Start<PyState>, PythonEnvError> {
        let state = PythonEnv::start(self, task, &task.starter)?;
        Ok(Start {
            metric: Some(state.metric),
            state,
        })
    }

    fn step(
        &self,
        task: &PythonTask,
        state: &PyState,
        action_text: &str,
        _run_seed: u64,
    ) -> Result<Transition<PyState>, PythonEnvError> {
        let r = PythonEnv::step(self, task, state, action_text, &self.reward_config)?;
        let feedback = r.feedback.to_feedback();
        // As in the workbench: a baseline only where the step ran a script.
        let ran = matches!(
            feedback,
            Feedback::Success { .. }
                | Feedback::ExecutionError { .. }
                | Feedback::BudgetExceeded { .. }
        );
        Ok(Transition {
            feedback,
            next: r.next,
            reward: r.reward,
            done: r.done,
            previous_metric: ran.then_some(r.previous_metric),
        })
    }

    fn script(&self, state: &PyState) -> String {
        state.script.clone()
    }

    fn typed_script<'s>(&self, _state: &'s PyState) -> Option<&'s Script> {
        None
    }
}
