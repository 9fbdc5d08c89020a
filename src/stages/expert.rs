//! Stage `expert`: the expert's rollouts on the held-in tasks, each episode seeded with 1–3
//! random ideas from the task's diverse ten (paper §3.1). Outputs:
//!
//! - `trajectories.jsonl`: ShareGPT conversations, one per episode, as LLaMA-Factory reads them;
//! - `episodes.jsonl`: per episode, every step's script, action, feedback and reward (the RL
//!   state pool reads it).

use std::path::Path;

use rand::Rng as _;
use rand::seq::SliceRandom as _;

use super::ideas::IdeaBook;
use super::{Context, StageBodyError, StageError};
use crate::agent::api::{ApiPolicy, Recording};
use crate::agent::conversation::write_jsonl;
use crate::agent::episode::{Episode, EpisodeJob, run_episodes};
use crate::agent::expert::{Expert, ExpertKind, ExpertStageConfig, ExpertTeam};
use crate::agent::knobs::knobs_of;
use crate::pipeline::{StageOutputs, StageRun, run_stage};

pub const STAGE: &str = "expert";
pub const TRAJECTORIES_FILE: &str = "trajectories.jsonl";
pub const EPISODES_FILE: &str = "episodes.jsonl";

/// One expert episode to play: task index (into the tasks given), episode index, the expert.
pub(crate) struct Seat {
    pub task: usize,
    pub episode: usize,
    pub expert: Expert,
    /// The ideas the seat starts from (empty for the non-enriched expert).
    pub ideas: Vec<crate::agent::ideas::Idea>,
}

/// Seats `cfg.episodes_per_task` experts on each task, in (task, episode) order; enriched ones
/// get random ideas from the task's diverse ten. `stream` names the seed stream.
pub(crate) fn experts_for(
    ctx: &Context<'_>,
    cfg: &ExpertStageConfig,
    tasks: &[&crate::tasks::Task],
    ideas: Option<&IdeaBook>,
    stream: &str,
) -> Result<Vec<Seat>, StageBodyError> {
    let seed = ctx.seed().child(stream);
    let mut seats = Vec::new();
    for (ti, task) in tasks.iter().enumerate() {
        let starter = ctx.workbench.starter(task)?;
        let starter_metric = match ctx.workbench.run(task, &starter, ctx.run_seed())?.outcome {
            crate::env::evaluation::RunOutcome::Success { valid_metric } => Some(valid_metric),
            _ => None,
        };
        for e in 0..cfg.episodes_per_task {
            let s = seed.child(&task.spec.id).child(e);
            let chosen = match (cfg.expert.kind, ideas.and_then(|b| b.get(&task.spec.id))) {
                (ExpertKind::Enriched, Some(t)) if !t.diverse.is_empty() => {
                    let mut rng = s.child("ideas").rng();
                    let (lo, hi) = cfg.ideas_per_episode;
                    let k = rng.random_range(lo..=hi.max(lo)).min(t.diverse.len());
                    let mut all = t.diverse.clone();
                    all.shuffle(&mut rng);
                    all.truncate(k);
                    all
                }
                _ => Vec::new(),
            };
            seats.push(Seat {
                task: ti,
                episode: e,
                ideas: chosen.clone(),
                expert: Expert::new(
                    cfg.expert.clone(),
                    task.spec.metric.direction(),
                    knobs_of(&starter),
                    chosen,
                    starter_metric,
                    &s.child("expert"),
                ),
            });
        }
    }
    Ok(seats)
}

/// Where an API teacher's recorded answers are kept, below the run's `resume/` folder.
pub(crate) const API_DIR: &str = "api";

/// The extra system text of an API teacher's episode: the ideas it starts from.
pub(crate) fn ideas_note(ideas: &[crate::agent::ideas::Idea]) -> String {
    if ideas.is_empty() {
        return String::new();
    }
    let mut s = String::from("Ideas worth trying first in this episode:");
    for i in ideas {
        let edits: Vec<String> = i.edits.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        s.push_str(&format!("\n- {} ({})", i.thought, edits.join("; ")));
    }
    s
}

/// Runs (or reuses) the expert stage below the ideas run.
pub fn run(ctx: &Context<'_>, ideas: &StageRun) -> Result<StageRun, StageError> {
    let cfg = &ctx.experiment.expert;
    let body_err = |source| StageError::Body {
        stage: STAGE.into(),
        source,
    };
    let tasks = ctx.tasks(&ctx.experiment.train_tasks).map_err(body_err)?;
    let input = ctx.input(STAGE, cfg, &tasks, &[ideas]);
    // An API teacher's recorded answers live in `resume/`, kept across an interruption.
    run_stage(ctx.store, &input, cfg.api.is_some(), |run| {
        let book = super::ideas::book(ideas)?;
        let seats = experts_for(ctx, cfg, &tasks, Some(&book), STAGE)?;
        let seed = ctx.seed().child(STAGE).child("decisions");
        let jobs: Vec<EpisodeJob<'_>> = seats
            .iter()
            .map(
                |&Seat {
                     task: ti,
                     episode: e,
                     ..
                 }| EpisodeJob {
                    task: tasks[ti],
                    seed: seed.child(&tasks[ti].spec.id).child(e),
                    run_seed: ctx.run_seed(),
                    max_steps: cfg
                        .expert
                        .max_steps
                        .min(tasks[ti].spec.budget.max_steps as usize),
                },
            )
            .collect();
        let mut recorded = Vec::new();
        let episodes = match &cfg.api {
            None => {
                let mut team =
                    ExpertTeam::new("expert", seats.into_iter().map(|s| s.expert).collect());
                run_episodes(ctx.workbench, &jobs, &mut team)?
            }
            Some(api) => {
                let rec = Recording::new(run.resume_dir().join(API_DIR).join(&api.name));
                let notes = seats.iter().map(|s| ideas_note(&s.ideas)).collect();
                let mut teacher = ApiPolicy::new(api.clone(), rec.clone(), ctx.offline)
                    .map_err(|e| StageBodyError::Config {
                        field: "expert.api".into(),
                        message: e.to_string(),
                    })?
                    .with_episode_notes(notes);
                let episodes = run_episodes(ctx.workbench, &jobs, &mut teacher)?;
                tracing::info!(sent = teacher.sent, "API teacher's episodes played");
                recorded = rec.files(run.dir());
                episodes
            }
        };
        let mut convs = Vec::with_capacity(episodes.len());
        for (ep, job) in episodes.iter().zip(&jobs) {
            let c = ep.conversation(ctx.workbench, job.task)?;
            c.check_shape().map_err(|message| StageBodyError::File {
                path: TRAJECTORIES_FILE.into(),
                message,
            })?;
            convs.push(c);
        }
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &convs).expect("writing to memory cannot fail");
        crate::provenance::atomic::write(&run.dir().join(TRAJECTORIES_FILE), &buf)?;
        write_episodes(&run.dir().join(EPISODES_FILE), &episodes)?;
        tracing::info!(
            episodes = episodes.len(),
            steps = episodes.iter().map(|e| e.steps.len()).sum::<usize>(),
            "expert trajectories written"
        );
        let mut content = vec![TRAJECTORIES_FILE.into(), EPISODES_FILE.into()];
        content.extend(recorded);
        Ok(StageOutputs {
            content,
            auxiliary: vec![],
        })
    })
}

/// Writes episodes as JSON lines, atomically.
pub(crate) fn write_episodes(path: &Path, episodes: &[Episode]) -> Result<(), StageBodyError> {
    Ok(crate::jsonl::write(path, episodes)?)
}

/// Reads `episodes.jsonl`, naming the file and line of any problem.
pub fn read_episodes(path: &Path) -> Result<Vec<Episode>, StageBodyError> {
    crate::jsonl::read(path).map_err(|e| StageBodyError::File {
        path: format!("{}:{}", e.path.display(), e.line),
        message: e.message,
    })
}

/// The expert run's audited episodes: what RL's state pool is built from.
pub fn episodes(run: &StageRun) -> Result<Vec<Episode>, StageBodyError> {
    read_episodes(&run.path(EPISODES_FILE))
}

/// The expert run's ShareGPT conversations: what SFT trains on.
pub fn trajectories(run: &StageRun) -> std::path::PathBuf {
    run.path(TRAJECTORIES_FILE)
}
