//! Stage `expert`: the expert's rollouts on the held-in tasks, each episode seeded with 1–3
//! random ideas from the task's diverse ten (paper §3.1). Outputs:
//!
//! - `trajectories.jsonl`: ShareGPT conversations, one per episode, as LLaMA-Factory reads them;
//! - `episodes.jsonl`: per episode, every step's script, action, feedback and reward (the RL
//!   state pool reads it).

use std::path::Path;

use rand::Rng as _;
use rand::seq::SliceRandom as _;

pub(crate) use super::environment::Seat;
use super::ideas::IdeaBook;
use super::{Context, StageBodyError, StageEnvironment, StageError};
use crate::agent::api::{ApiPolicy, Recording};
use crate::agent::conversation::write_jsonl;
use crate::agent::episode::{Episode, EpisodeJob, run_episodes};
use crate::agent::expert::{ExpertKind, ExpertStageConfig};
use crate::pipeline::{StageOutputs, StageRun, run_stage};

pub const STAGE: &str = "expert";
pub const TRAJECTORIES_FILE: &str = "trajectories.jsonl";
pub const EPISODES_FILE: &str = "episodes.jsonl";

/// Seats `cfg.episodes_per_task` experts on each task, in (task, episode) order; enriched ones
/// get random ideas from the task's diverse ten. `stream` names the seed stream.
pub(crate) fn seats_for<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    cfg: &ExpertStageConfig,
    tasks: &[&E::Task],
    ideas: Option<&IdeaBook>,
    stream: &str,
) -> Vec<Seat> {
    let seed = ctx.seed().child(stream);
    let mut seats = Vec::new();
    for (ti, task) in tasks.iter().enumerate() {
        let id = ctx.env.task_id(task);
        for e in 0..cfg.episodes_per_task {
            let s = seed.child(id).child(e);
            let chosen = match (cfg.expert.kind, ideas.and_then(|b| b.get(id))) {
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
                ideas: chosen,
                seed: s,
            });
        }
    }
    seats
}

/// The episode jobs of `seats`: decisions from `seed/<task>/<episode>`, each up to the expert's
/// step limit on its task.
pub(crate) fn seat_jobs<'t, E: StageEnvironment>(
    ctx: &Context<'_, E>,
    cfg: &ExpertStageConfig,
    tasks: &[&'t E::Task],
    seats: &[Seat],
    seed: &crate::seed::SeedPath,
) -> Vec<EpisodeJob<'t, E::Task>> {
    seats
        .iter()
        .map(|s| {
            let task = tasks[s.task];
            EpisodeJob {
                task,
                seed: seed.child(ctx.env.task_id(task)).child(s.episode),
                run_seed: ctx.run_seed(),
                max_steps: cfg.expert.max_steps.min(ctx.env.max_steps(task)),
            }
        })
        .collect()
}

/// Where an API teacher's recorded answers are kept, below the run's `resume/` folder.
pub(crate) const API_DIR: &str = "api";

/// The extra system text of an API teacher's episode: the ideas it starts from.
pub(crate) fn ideas_note<E: StageEnvironment>(
    env: &E,
    ideas: &[crate::agent::ideas::Idea],
) -> String {
    if ideas.is_empty() {
        return String::new();
    }
    let mut s = String::from("Ideas worth trying first in this episode:");
    for i in ideas {
        s.push_str(&format!("\n- {}", env.describe_idea(i)));
    }
    s
}

/// Runs (or reuses) the expert stage below the ideas run.
pub fn run<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    ideas: &StageRun,
) -> Result<StageRun, StageError> {
    let cfg = &ctx.experiment.expert;
    let body_err = |source| StageError::Body {
        stage: STAGE.into(),
        source,
    };
    let tasks = ctx.tasks(&ctx.experiment.train_tasks).map_err(body_err)?;
    let input = ctx.input(STAGE, cfg, &tasks, &[ideas]);
    // An API teacher's recorded answers live in `resume/`, kept across an interruption.
    run_stage(ctx.store, &input, cfg.api.is_some(), |run| {
        ctx.env.begin_stage(&[ideas])?;
        let book = super::ideas::book(ideas)?;
        let seats = seats_for(ctx, cfg, &tasks, Some(&book), STAGE);
        let seed = ctx.seed().child(STAGE).child("decisions");
        let jobs = seat_jobs(ctx, cfg, &tasks, &seats, &seed);
        let mut recorded = Vec::new();
        let episodes = match &cfg.api {
            None => {
                let mut team = ctx
                    .env
                    .experts("expert", cfg, &tasks, &seats, ctx.run_seed())?;
                run_episodes(ctx.env, &jobs, team.as_mut())?
            }
            Some(api) => {
                let rec = Recording::new(run.resume_dir().join(API_DIR).join(&api.name));
                let notes = seats
                    .iter()
                    .map(|s| ideas_note(ctx.env, &s.ideas))
                    .collect();
                let mut teacher = ApiPolicy::new(api.clone(), rec.clone(), ctx.offline)
                    .map_err(|e| StageBodyError::Config {
                        field: "expert.api".into(),
                        message: e.to_string(),
                    })?
                    .with_system(ctx.env.system_prompt())
                    .with_episode_notes(notes);
                let episodes = run_episodes(ctx.env, &jobs, &mut teacher)?;
                tracing::info!(sent = teacher.sent, "API teacher's episodes played");
                recorded = rec.files(run.dir());
                episodes
            }
        };
        let mut convs = Vec::with_capacity(episodes.len());
        for (ep, job) in episodes.iter().zip(&jobs) {
            let c = ep.conversation(ctx.env, job.task)?;
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
            auxiliary: ctx.env.end_stage(run.dir())?,
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
