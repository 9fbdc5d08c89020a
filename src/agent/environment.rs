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
use crate::paper::EvalTask;
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

/// An error of either environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error(transparent)]
    Workbench(#[from] WorkbenchError),
    #[error(transparent)]
    Python(#[from] PythonEnvError),
    #[error("task `{task}`: a recorded episode does not replay: {message}")]
    Replay { task: String, message: String },
    #[error("task `{task}`: {message}")]
    Evaluation { task: String, message: String },
}

/// One recorded step, as an episode's record keeps it (`agent::episode::StepRecord`).
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'a> {
    pub script_before: &'a str,
    pub action: &'a str,
    pub script_after: &'a str,
}

/// An environment agents act in.
pub trait Environment: Sync {
    type Task: Sync;
    /// Where an episode stands (the current script, and what Undo needs).
    type State: Clone + Send + Sync;

    /// The system prompt that states this environment's action format.
    fn system_prompt(&self) -> &'static str;
    fn task_id<'t>(&self, task: &'t Self::Task) -> &'t str;
    /// The direction of the task's validation metric.
    fn direction(&self, task: &Self::Task) -> Direction;
    /// An episode's step limit on the task.
    fn max_steps(&self, task: &Self::Task) -> usize;
    /// The paper's evaluation task `task` stands for (its Table 1 row), if any.
    fn eval_task(&self, task: &Self::Task) -> Option<EvalTask>;
    /// The first human turn: the task and its starter script.
    fn task_turn(&self, task: &Self::Task) -> Result<String, EnvError>;
    /// The state at the task's starter script (run once for its metric; cached).
    fn start(&self, task: &Self::Task, run_seed: u64) -> Result<Start<Self::State>, EnvError>;
    /// One action on `state`: parsed, acted on, run when it edits, rewarded.
    fn step(
        &self,
        task: &Self::Task,
        state: &Self::State,
        action_text: &str,
        run_seed: u64,
    ) -> Result<Transition<Self::State>, EnvError>;
    /// Whether `text` parses as an action of this environment (the SFT probe counts them).
    fn parses(&self, text: &str) -> bool;
    /// Whether `text` parses as an Edit Script (the evaluation's budget counts them).
    fn is_edit(&self, text: &str) -> bool;
    /// The state's script as text (what step records and best scripts keep).
    fn script(&self, state: &Self::State) -> String;
    /// The state's typed script, where the environment has one (policies that act on the
    /// script's keys, such as the random baseline and the workbench expert, read it).
    fn typed_script<'s>(&self, state: &'s Self::State) -> Option<&'s Script>;
    /// The states a recorded episode passed through: before each step, then after the last
    /// (what RL's state pool and probe act on).
    fn states_of(
        &self,
        task: &Self::Task,
        steps: &[Recorded<'_>],
        run_seed: u64,
    ) -> Result<Vec<Self::State>, EnvError>;
    /// The environment work a step is charged (RL's equal-compute axis).
    fn work(
        &self,
        task: &Self::Task,
        feedback: &Feedback,
        next: &Self::State,
        run_seed: u64,
    ) -> Result<f64, EnvError>;
    /// The test metric of `script` (evaluation's door to the test split); `None` when the
    /// script wrote no gradable submission.
    fn test_metric(
        &self,
        task: &Self::Task,
        script: &str,
        run_seed: u64,
    ) -> Result<Option<f64>, EnvError>;
}

impl Environment for Workbench {
    type Task = Task;
    type State = Script;

    fn system_prompt(&self) -> &'static str {
        prompt::SYSTEM
    }

    fn task_id<'t>(&self, task: &'t Task) -> &'t str {
        &task.spec.id
    }

    fn direction(&self, task: &Task) -> Direction {
        task.spec.metric.direction()
    }

    fn max_steps(&self, task: &Task) -> usize {
        task.spec.budget.max_steps as usize
    }

    fn eval_task(&self, task: &Task) -> Option<EvalTask> {
        task.spec.id.parse().ok()
    }

    fn task_turn(&self, task: &Task) -> Result<String, EnvError> {
        Ok(prompt::task_turn(task, &self.starter(task)?))
    }

    fn start(&self, task: &Task, run_seed: u64) -> Result<Start<Script>, EnvError> {
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
    ) -> Result<Transition<Script>, EnvError> {
        let r = Workbench::step(self, task, state, action_text, run_seed)?;
        Ok(Transition {
            feedback: r.feedback,
            next: r.next_script,
            reward: r.reward,
            done: r.done,
            previous_metric: r.previous_metric,
        })
    }

    fn parses(&self, text: &str) -> bool {
        crate::env::Action::parse(text).is_ok()
    }

    fn is_edit(&self, text: &str) -> bool {
        crate::env::Action::parse(text).is_ok_and(|a| a.kind == crate::env::ActionKind::EditScript)
    }

    fn script(&self, state: &Script) -> String {
        state.to_string()
    }

    fn typed_script<'s>(&self, state: &'s Script) -> Option<&'s Script> {
        Some(state)
    }

    /// A workbench state is its script: parsed from the record, nothing rerun.
    fn states_of(
        &self,
        task: &Task,
        steps: &[Recorded<'_>],
        _run_seed: u64,
    ) -> Result<Vec<Script>, EnvError> {
        let parse = |text: &str| {
            Script::parse(task.spec.data_type, text).map_err(|e| EnvError::Replay {
                task: task.spec.id.clone(),
                message: format!("a recorded script: {e}"),
            })
        };
        let mut out = Vec::with_capacity(steps.len() + 1);
        for s in steps {
            out.push(parse(s.script_before)?);
        }
        out.push(match steps.last() {
            Some(s) => parse(s.script_after)?,
            None => self.starter(task)?,
        });
        Ok(out)
    }

    /// The planned work (multiply-adds) of the run an edit asked for, when it ran (successfully
    /// or not); 0 for non-edits, invalid actions and runs refused for exceeding the budget.
    fn work(
        &self,
        task: &Task,
        feedback: &Feedback,
        next: &Script,
        run_seed: u64,
    ) -> Result<f64, EnvError> {
        Ok(match feedback {
            Feedback::Success { .. } | Feedback::ExecutionError { .. } => {
                self.run(task, next, run_seed)?.planned_work
            }
            _ => 0.0,
        })
    }

    fn test_metric(
        &self,
        task: &Task,
        script: &str,
        run_seed: u64,
    ) -> Result<Option<f64>, EnvError> {
        let script = Script::parse(task.spec.data_type, script).map_err(|e| {
            WorkbenchError::NotEvaluable(task.spec.id.clone(), format!("best script: {e}"))
        })?;
        Ok(Some(
            crate::env::evaluate(self, task, &script, run_seed)?.test_metric,
        ))
    }
}

/// Every Python execution is seeded by its task (`MLAGENT_SEED`), so the run seed does not
/// enter: a script's feedback is a function of the script and the task.
impl Environment for PythonEnv {
    type Task = PythonTask;
    type State = PyState;

    fn system_prompt(&self) -> &'static str {
        prompt::PYTHON_SYSTEM
    }

    fn task_id<'t>(&self, task: &'t PythonTask) -> &'t str {
        &task.spec.id
    }

    fn direction(&self, task: &PythonTask) -> Direction {
        task.spec.metric.direction()
    }

    fn max_steps(&self, task: &PythonTask) -> usize {
        task.spec.max_steps
    }

    /// Its `stands_for`, else its own id when that is a paper task.
    fn eval_task(&self, task: &PythonTask) -> Option<EvalTask> {
        task.spec
            .stands_for
            .as_deref()
            .unwrap_or(&task.spec.id)
            .parse()
            .ok()
    }

    fn task_turn(&self, task: &PythonTask) -> Result<String, EnvError> {
        Ok(prompt::python_task_turn(task, &task.starter))
    }

    fn start(&self, task: &PythonTask, _run_seed: u64) -> Result<Start<PyState>, EnvError> {
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
    ) -> Result<Transition<PyState>, EnvError> {
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

    fn parses(&self, text: &str) -> bool {
        crate::env::python::action::PyAction::parse(text).is_ok()
    }

    fn is_edit(&self, text: &str) -> bool {
        crate::env::python::action::PyAction::parse(text)
            .is_ok_and(|a| a.kind == crate::env::python::action::PyActionKind::EditScript)
    }

    fn script(&self, state: &PyState) -> String {
        state.script.clone()
    }

    fn typed_script<'s>(&self, _state: &'s PyState) -> Option<&'s Script> {
        None
    }

    /// A Python state also holds what Undo returns to, which the record does not keep: the
    /// episode is replayed from the starter (executions are cached), and each replayed script
    /// must be the recorded one.
    fn states_of(
        &self,
        task: &PythonTask,
        steps: &[Recorded<'_>],
        run_seed: u64,
    ) -> Result<Vec<PyState>, EnvError> {
        let mut state = Environment::start(self, task, run_seed)?.state;
        let mut out = Vec::with_capacity(steps.len() + 1);
        for (i, s) in steps.iter().enumerate() {
            if state.script != s.script_before {
                return Err(EnvError::Replay {
                    task: task.spec.id.clone(),
                    message: format!(
                        "before step {i} the replayed train.py differs from the recorded one"
                    ),
                });
            }
            let next = Environment::step(self, task, &state, s.action, run_seed)?.next;
            out.push(std::mem::replace(&mut state, next));
        }
        if let Some(last) = steps.last()
            && state.script != last.script_after
        {
            return Err(EnvError::Replay {
                task: task.spec.id.clone(),
                message: "after the last step the replayed train.py differs from the recorded one"
                    .into(),
            });
        }
        out.push(state);
        Ok(out)
    }

    /// One unit per execution an edit asked for: the sandbox's time depends on the machine,
    /// and a charge must not.
    fn work(
        &self,
        _task: &PythonTask,
        feedback: &Feedback,
        _next: &PyState,
        _run_seed: u64,
    ) -> Result<f64, EnvError> {
        Ok(match feedback {
            Feedback::Success { .. }
            | Feedback::ExecutionError { .. }
            | Feedback::BudgetExceeded { .. } => 1.0,
            _ => 0.0,
        })
    }

    fn test_metric(
        &self,
        task: &PythonTask,
        script: &str,
        _run_seed: u64,
    ) -> Result<Option<f64>, EnvError> {
        Ok(self.evaluate(task, script)?.1)
    }
}
