//! Stage `ideas`: for every held-in task, a pool of candidate improvement ideas (in the
//! workbench generated from the starter script's knobs; in the Python environment the task
//! file's ideas, as search/replace pairs), and the most diverse few by farthest-point sampling
//! (paper §3.1).
//! Output: `ideas.ron`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Context, StageBodyError, StageEnvironment, StageError};
use crate::agent::ideas::{Idea, most_diverse};
use crate::pipeline::{StageOutputs, StageRun, run_stage};

pub const STAGE: &str = "ideas";
pub(crate) const IDEAS_FILE: &str = "ideas.ron";

/// One task's ideas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskIdeas {
    pub task: String,
    pub pool: Vec<Idea>,
    pub diverse: Vec<Idea>,
}

/// `ideas.ron`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdeaBook {
    pub tasks: Vec<TaskIdeas>,
}

impl IdeaBook {
    pub fn load(path: &Path) -> Result<Self, StageBodyError> {
        crate::config_file::load_ron(path).map_err(|e| StageBodyError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    pub fn get(&self, task: &str) -> Option<&TaskIdeas> {
        self.tasks.iter().find(|t| t.task == task)
    }
}

/// Runs (or reuses) the ideas stage over the experiment's held-in tasks.
pub fn run<E: StageEnvironment>(ctx: &Context<'_, E>) -> Result<StageRun, StageError> {
    let cfg = &ctx.experiment.ideas;
    let tasks = ctx
        .tasks(&ctx.experiment.train_tasks)
        .map_err(|source| StageError::Body {
            stage: STAGE.into(),
            source,
        })?;
    let input = ctx.input(STAGE, cfg, &tasks, &[]);
    run_stage(ctx.store, &input, false, |run| {
        let seed = ctx.seed().child(STAGE);
        let mut book = IdeaBook { tasks: Vec::new() };
        for task in &tasks {
            let id = ctx.env.task_id(task);
            let pool = ctx.env.idea_pool(task, cfg.pool_size, &seed.child(id))?;
            if pool.len() < cfg.pool_size {
                tracing::warn!(task = %id, got = pool.len(), want = cfg.pool_size, "the task allows fewer candidate ideas than asked");
            }
            let diverse = most_diverse(&pool, cfg.diverse);
            book.tasks.push(TaskIdeas {
                task: id.to_string(),
                pool,
                diverse,
            });
        }
        let text = ron::ser::to_string_pretty(&book, ron::ser::PrettyConfig::default())
            .expect("an idea book serialises to RON");
        crate::provenance::atomic::write(&run.dir().join(IDEAS_FILE), text.as_bytes())?;
        Ok(StageOutputs {
            content: vec![IDEAS_FILE.into()],
            auxiliary: vec![],
        })
    })
}

/// The idea book of an ideas run: what its children (expert, eval) read.
pub fn book(run: &StageRun) -> Result<IdeaBook, StageBodyError> {
    IdeaBook::load(&run.path(IDEAS_FILE))
}
