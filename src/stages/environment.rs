//! What the stages need of an environment besides acting in it (`agent::environment`): the
//! experiment's tasks by id, what keys a stage run by a task, the ideas stage's candidate pool, and the scripted agents (the expert, the
//! random baseline) seated on a batch of episodes. The workbench and the Python environment
//! implement it, so every stage runs in either (`experiment.environment`).

use std::path::Path;

use super::StageBodyError;
use crate::agent::environment::Environment;
use crate::agent::expert::{Expert, ExpertKind, ExpertStageConfig, ExpertTeam};
use crate::agent::ideas::{Idea, candidate_pool};
use crate::agent::knobs::knobs_of;
use crate::agent::policy::{Policy, RandomPolicy};
use crate::agent::python_episode::{PyAgentKind, ScriptedAgent, ScriptedTeam};
use crate::env::Workbench;
use crate::env::python::PythonEnv;
use crate::pipeline::StageRun;
use crate::provenance::Digest;
use crate::seed::SeedPath;
use crate::tasks::Task;
use crate::tasks::python::{PyIdea, PyIdeaBlock, PythonTask};

/// One scripted expert episode to play: the task (an index into the tasks given), the episode
/// index, the ideas it starts from (none for the non-enriched expert) and its seed.
#[derive(Clone, Debug)]
pub struct Seat {
    pub task: usize,
    pub episode: usize,
    pub ideas: Vec<Idea>,
    pub seed: SeedPath,
}

/// An environment the stages run in.
pub trait StageEnvironment: Environment {
    /// The tasks named by `ids`, in that order; an unknown id is an error naming it.
    fn tasks(&self, ids: &[String]) -> Result<Vec<&Self::Task>, StageBodyError>;
    /// `(id, digest of the task's file and data)`: what a stage input records of a task.
    fn task_key(&self, task: &Self::Task) -> (String, Digest);
    /// The reward scale α of σ(α·Δ) (100 / α is normalised improvement's range).
    fn reward_scale(&self, task: &Self::Task) -> f64;
    /// The ideas stage's candidate pool for `task` (at most `size`, drawn from `seed`).
    fn idea_pool(
        &self,
        task: &Self::Task,
        size: usize,
        seed: &SeedPath,
    ) -> Result<Vec<Idea>, StageBodyError>;
    /// An idea as a teacher is told it (`stages::expert::ideas_note`).
    fn describe_idea(&self, idea: &Idea) -> String;
    /// One scripted expert per seat, as one policy named `name` over the batch (episode `i` is
    /// `seats[i]`'s), each acting on `tasks[seat.task]` up to `cfg.expert.max_steps`.
    fn experts<'s>(
        &'s self,
        name: &str,
        cfg: &ExpertStageConfig,
        tasks: &[&'s Self::Task],
        seats: &[Seat],
        run_seed: u64,
    ) -> Result<Box<dyn Policy + 's>, StageBodyError>;
    /// The random baseline over a batch of episodes or states, the `i`-th on `tasks[i]`.
    fn random_agent<'s>(&'s self, tasks: &[&'s Self::Task]) -> Box<dyn Policy + 's>;
    /// As a stage's body begins: takes in what its parent runs kept of the environment, so a
    /// replay of their work makes no new run.
    fn begin_stage(&self, _parents: &[&StageRun]) -> Result<(), StageBodyError> {
        Ok(())
    }
    /// As a stage's body ends: writes what the stage used of the environment into its run
    /// folder; returns the content outputs written.
    fn end_stage(&self, _run_dir: &Path) -> Result<Vec<String>, StageBodyError> {
        Ok(Vec::new())
    }
}

/// A Python stage run's executions (`env::python::ExecutionRecord` lines, by key): auxiliary
/// outputs under the run's manifest, so `verify` covers them, and what its children replay
/// instead of running again. Auxiliary, as a cache is: a resumed run holds only the executions
/// of its last process, and what a stage computes never depends on them.
pub const EXECUTIONS_FILE: &str = "executions.jsonl";

impl StageEnvironment for Workbench {
    fn tasks(&self, ids: &[String]) -> Result<Vec<&Task>, StageBodyError> {
        ids.iter().map(|id| Ok(self.task(id)?)).collect()
    }

    fn task_key(&self, task: &Task) -> (String, Digest) {
        (task.spec.id.clone(), task.digest)
    }

    fn reward_scale(&self, task: &Task) -> f64 {
        task.spec.reward_scale
    }

    /// Edits of the starter script's knobs.
    fn idea_pool(
        &self,
        task: &Task,
        size: usize,
        seed: &SeedPath,
    ) -> Result<Vec<Idea>, StageBodyError> {
        let knobs = knobs_of(&self.starter(task)?);
        Ok(candidate_pool(&knobs, size, seed))
    }

    /// `thought (key = value; ...)`.
    fn describe_idea(&self, idea: &Idea) -> String {
        let edits: Vec<String> = idea
            .edits
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        format!("{} ({})", idea.thought, edits.join("; "))
    }

    fn experts<'s>(
        &'s self,
        name: &str,
        cfg: &ExpertStageConfig,
        tasks: &[&'s Task],
        seats: &[Seat],
        run_seed: u64,
    ) -> Result<Box<dyn Policy + 's>, StageBodyError> {
        let mut starts = Vec::with_capacity(tasks.len());
        for task in tasks {
            let start = self.start(task, run_seed)?;
            starts.push((knobs_of(&start.state), start.metric));
        }
        let experts = seats
            .iter()
            .map(|s| {
                let (knobs, metric) = &starts[s.task];
                Expert::new(
                    cfg.expert.clone(),
                    tasks[s.task].spec.metric.direction(),
                    knobs.clone(),
                    s.ideas.clone(),
                    *metric,
                    &s.seed.child("expert"),
                )
            })
            .collect();
        Ok(Box::new(ExpertTeam::new(name, experts)))
    }

    fn random_agent<'s>(&'s self, _tasks: &[&'s Task]) -> Box<dyn Policy + 's> {
        Box::new(RandomPolicy)
    }
}

/// A Python idea as the ideas stage records it: its thought, and its search/replace blocks as
/// `(search, replace)` pairs in `Idea::edits`.
fn idea_of(idea: &PyIdea) -> Idea {
    Idea {
        thought: idea.thought.clone(),
        edits: idea
            .blocks
            .iter()
            .map(|b| (b.search.clone(), b.replace.clone()))
            .collect(),
    }
}

fn py_idea_of(idea: &Idea) -> PyIdea {
    PyIdea {
        thought: idea.thought.clone(),
        blocks: idea
            .edits
            .iter()
            .map(|(search, replace)| PyIdeaBlock {
                search: search.clone(),
                replace: replace.clone(),
            })
            .collect(),
    }
}

impl StageEnvironment for PythonEnv {
    fn tasks(&self, ids: &[String]) -> Result<Vec<&PythonTask>, StageBodyError> {
        ids.iter()
            .map(|id| {
                self.tasks
                    .iter()
                    .find(|t| &t.spec.id == id)
                    .ok_or_else(|| StageBodyError::Config {
                        field: "train_tasks / eval_tasks".into(),
                        message: crate::tasks::upstream::load_all(
                            &crate::tasks::upstream::default_root(),
                        )
                        .ok()
                        .and_then(|all| all.into_iter().find(|u| &u.id == id))
                        .map_or_else(
                            || {
                                format!(
                                    "`{id}` is not a Python task (tasks/python/*.ron or a \
                                     prepared task)"
                                )
                            },
                            |up| up.unprepared(),
                        ),
                    })
            })
            .collect()
    }

    fn task_key(&self, task: &PythonTask) -> (String, Digest) {
        (task.spec.id.clone(), task.digest)
    }

    fn reward_scale(&self, task: &PythonTask) -> f64 {
        task.spec.reward_scale
    }

    /// The task file's ideas: a Python script has no knobs to enumerate.
    fn idea_pool(
        &self,
        task: &PythonTask,
        size: usize,
        _seed: &SeedPath,
    ) -> Result<Vec<Idea>, StageBodyError> {
        Ok(task.spec.ideas.iter().take(size).map(idea_of).collect())
    }

    /// `thought`, then each search/replace block as an Edit Script writes it.
    fn describe_idea(&self, idea: &Idea) -> String {
        let mut s = idea.thought.clone();
        for (search, replace) in &idea.edits {
            s.push_str(&format!(
                "\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE"
            ));
        }
        s
    }

    /// The enriched expert tries its seat's ideas (on a task outside the idea book, every idea
    /// of the task file) in a seeded order; the non-enriched one has a fixed habit: every idea
    /// of the task file, in the file's order.
    fn experts<'s>(
        &'s self,
        name: &str,
        cfg: &ExpertStageConfig,
        tasks: &[&'s PythonTask],
        seats: &[Seat],
        run_seed: u64,
    ) -> Result<Box<dyn Policy + 's>, StageBodyError> {
        let mut starters = Vec::with_capacity(tasks.len());
        for task in tasks {
            let m = Environment::start(self, task, run_seed)?.metric;
            starters.push(m.expect("a Python episode starts only from a starter that runs"));
        }
        let agents = seats
            .iter()
            .map(|s| {
                let task = tasks[s.task];
                let plan = match cfg.expert.kind {
                    ExpertKind::Enriched if !s.ideas.is_empty() => {
                        s.ideas.iter().map(py_idea_of).collect()
                    }
                    // A task outside the idea book (an evaluation task): every idea of its file.
                    ExpertKind::Enriched | ExpertKind::NonEnriched => task.spec.ideas.clone(),
                };
                ScriptedAgent::new(
                    PyAgentKind::Expert,
                    plan,
                    task.spec.metric.direction(),
                    starters[s.task],
                    cfg.expert.max_steps.min(task.spec.max_steps),
                    (cfg.expert.kind == ExpertKind::Enriched).then(|| s.seed.child("plan")),
                )
            })
            .collect();
        Ok(Box::new(ScriptedTeam::from_agents(name, agents)))
    }

    /// Every parent's `executions.jsonl` (verified with the run) is preloaded; recording starts.
    fn begin_stage(&self, parents: &[&StageRun]) -> Result<(), StageBodyError> {
        for p in parents {
            let path = p.path(EXECUTIONS_FILE);
            if !path.exists() {
                continue;
            }
            let records: Vec<crate::env::python::ExecutionRecord> = crate::jsonl::read(&path)
                .map_err(|e| StageBodyError::File {
                    path: format!("{}:{}", e.path.display(), e.line),
                    message: e.message,
                })?;
            self.preload(&records)
                .map_err(|message| StageBodyError::File {
                    path: path.display().to_string(),
                    message,
                })?;
        }
        self.begin_recording();
        Ok(())
    }

    fn end_stage(&self, run_dir: &Path) -> Result<Vec<String>, StageBodyError> {
        crate::jsonl::write(&run_dir.join(EXECUTIONS_FILE), &self.recorded())?;
        Ok(vec![EXECUTIONS_FILE.to_string()])
    }

    fn random_agent<'s>(&'s self, tasks: &[&'s PythonTask]) -> Box<dyn Policy + 's> {
        let agents = tasks
            .iter()
            .map(|t| {
                ScriptedAgent::new(
                    PyAgentKind::Random,
                    t.spec.ideas.clone(),
                    t.spec.metric.direction(),
                    0.0,
                    t.spec.max_steps,
                    None,
                )
            })
            .collect();
        Box::new(ScriptedTeam::from_agents("random", agents))
    }
}
