//! Stage `eval`: every agent plays `trajectories` episodes on each evaluation task, each up to the
//! task's step budget; a trajectory's score is the test metric of the best-validation script it
//! reached (`eval::episode_test_metric`). Table 1's Avg and Best are computed from these scores.
//!
//! Agents: the random baseline, the non-enriched expert and the expert (the teacher) always;
//! the language-model agents (SFT, ML-Agent, ML-Agent with episode-wise RL) when their runs are
//! given, each loaded from its run's `policy/` folder. Trajectory `i` of every agent on a task
//! reads the same seed path (`eval/<task>/<i>`), so index `i` pairs trajectories across agents.
//!
//! Outputs: `results.json` (`report::ResultsTable`) and `episodes.jsonl` (every trajectory, for
//! audit: agent, task, index, score and the full episode).

use serde::{Deserialize, Serialize};

use super::expert::seats_for;
use super::{Context, StageBodyError, StageEnvironment, StageError};
use crate::agent::api::{ApiPolicy, Recording};
use crate::agent::episode::{Episode, EpisodeJob, run_episodes};
use crate::agent::expert::ExpertKind;
use crate::agent::expert::ExpertStageConfig;
use crate::agent::lm_policy::LmPolicy;
use crate::agent::policy::Policy;
use crate::eval::EvalConfig;
use crate::eval::{episode_test_metric, starter_test_metric};
use crate::paper::{Agent, EvalTask};
use crate::pipeline::{StageOutputs, StageRun, run_stage};
use crate::results::{AgentScores, ResultsTable, TaskResults};
use crate::results::{ApiAgentInfo, ApiScores};

pub const STAGE: &str = "eval";
pub const RESULTS_FILE: &str = "results.json";
pub const EPISODES_FILE: &str = "episodes.jsonl";

/// What the eval run's identity covers besides its parents: its own settings, the expert
/// agents' settings, the LM agents' sampling settings and which agents were evaluated.
#[derive(Serialize)]
struct EvalKey<'a> {
    eval: &'a EvalConfig,
    expert: &'a ExpertStageConfig,
    policy: &'a crate::config::PolicyConfig,
    agents: Vec<Agent>,
}

/// Where the API agents' recorded answers are kept, below the run's `resume/` folder
/// (`<resume>/api/<agent>/<request digest>.json`; content outputs of the run).
pub(crate) const API_DIR: &str = "api";
/// The API agents' audited trajectories.
pub(crate) const API_EPISODES_FILE: &str = "api_episodes.jsonl";

/// One audited trajectory of `episodes.jsonl` (`A`: how the agent is named).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trajectory<A = Agent> {
    pub agent: A,
    pub task: EvalTask,
    pub index: usize,
    /// Test metric of the best-validation script.
    pub score: f64,
    pub episode: Episode,
}

/// The evaluation tasks of the experiment in canonical (Table 1) order, as (EvalTask, task).
#[allow(clippy::type_complexity)]
pub fn eval_tasks<'a, E: StageEnvironment>(
    ctx: &Context<'a, E>,
) -> Result<Vec<(EvalTask, &'a E::Task)>, StageBodyError> {
    let mut out = Vec::new();
    for (i, id) in ctx.experiment.eval_tasks.iter().enumerate() {
        let task = ctx.tasks(std::slice::from_ref(id))?[0];
        let t = ctx
            .env
            .eval_task(task)
            .ok_or_else(|| StageBodyError::Config {
                field: format!("eval_tasks[{i}]"),
                message: format!("`{id}` stands for none of the paper's evaluation tasks"),
            })?;
        out.push((t, task));
    }
    out.sort_by_key(|(t, _)| *t);
    out.dedup_by_key(|(t, _)| *t);
    Ok(out)
}

/// Runs (or reuses) the evaluation below the ideas run and the given language-model runs.
pub fn run<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    ideas: &StageRun,
    lm_agents: &[(Agent, &StageRun)],
) -> Result<StageRun, StageError> {
    let body_err = |source| StageError::Body {
        stage: STAGE.into(),
        source,
    };
    let cfg = &ctx.experiment.eval;
    let evals = eval_tasks(ctx).map_err(body_err)?;
    let tasks: Vec<&E::Task> = evals.iter().map(|(_, t)| *t).collect();
    let mut agents = vec![Agent::Random, Agent::NonEnrichedExpert, Agent::Expert];
    for (a, _) in lm_agents {
        if agents.contains(a) {
            return Err(body_err(StageBodyError::Config {
                field: "eval agents".into(),
                message: format!("agent {a} given twice or is a built-in agent"),
            }));
        }
        agents.push(*a);
    }
    agents.sort();
    let key_cfg = EvalKey {
        eval: cfg,
        expert: &ctx.experiment.expert,
        policy: &ctx.experiment.policy,
        agents: agents.clone(),
    };
    let mut parents = vec![ideas];
    parents.extend(lm_agents.iter().map(|(_, r)| *r));
    let input = ctx.input(STAGE, &key_cfg, &tasks, &parents);
    // With API agents the run keeps `resume/` across an interruption: their recorded answers
    // live there, so a rerun asks no question twice.
    run_stage(ctx.store, &input, !cfg.api_agents.is_empty(), |run| {
        ctx.env.begin_stage(&parents)?;
        let book = super::ideas::book(ideas)?;
        let mut table = ResultsTable {
            trajectories: cfg.trajectories,
            api_agents: cfg
                .api_agents
                .iter()
                .map(|a| ApiAgentInfo {
                    name: a.name.clone(),
                    model: a.model.clone(),
                    column: a.column.as_deref().and_then(|c| c.parse().ok()),
                })
                .collect(),
            tasks: Vec::with_capacity(evals.len()),
            budgets: Vec::new(),
        };
        for (et, task) in &evals {
            table.tasks.push(TaskResults {
                task: *et,
                starter: starter_test_metric(ctx.env, *task, ctx.run_seed())?,
                improvement_range: Some(100.0 / ctx.env.reward_scale(task)),
                agents: Vec::new(),
                api: Vec::new(),
            });
        }
        let mut audit = Vec::new();
        for agent in &agents {
            if crate::interrupt::requested() {
                return Err(StageBodyError::Interrupted(format!(
                    "interrupted in stage {STAGE} before agent {agent}; the evaluation keeps no partial state and runs again in full"
                )));
            }
            let episodes =
                match agent {
                    Agent::Random => {
                        let per_episode: Vec<&E::Task> = tasks
                            .iter()
                            .flat_map(|t| std::iter::repeat_n(*t, cfg.trajectories))
                            .collect();
                        play(ctx, &tasks, ctx.env.random_agent(&per_episode).as_mut())?
                    }
                    Agent::NonEnrichedExpert | Agent::Expert => {
                        let kind = if *agent == Agent::Expert {
                            ExpertKind::Enriched
                        } else {
                            ExpertKind::NonEnriched
                        };
                        let mut ecfg = ctx.experiment.expert.clone();
                        ecfg.expert.kind = kind;
                        ecfg.episodes_per_task = cfg.trajectories;
                        // Every agent gets the task's step budget in evaluation (the episode job
                        // caps each task); the teacher's own limit applies to its training data.
                        ecfg.expert.max_steps = tasks
                            .iter()
                            .map(|t| cfg.steps_on(ctx.env.max_steps(t)))
                            .max()
                            .unwrap_or(ecfg.expert.max_steps);
                        let seats = seats_for(ctx, &ecfg, &tasks, Some(&book), STAGE);
                        let mut team =
                            ctx.env
                                .experts(agent.id(), &ecfg, &tasks, &seats, ctx.run_seed())?;
                        play(ctx, &tasks, team.as_mut())?
                    }
                    lm => {
                        let (_, lm_run) = lm_agents
                            .iter()
                            .find(|(a, _)| a == lm)
                            .expect("every LM agent in `agents` came from `lm_agents`");
                        let p = &ctx.experiment.policy;
                        let device = ctx.experiment.backend.device().map_err(|e| {
                            StageBodyError::Config {
                                field: "backend".into(),
                                message: e.to_string(),
                            }
                        })?;
                        let mut policy = LmPolicy::load(
                            lm.id(),
                            &super::policy_dir(lm_run),
                            p.sampling(),
                            p.context_tokens,
                            device,
                        )?
                        .with_system(ctx.env.system_prompt());
                        play(ctx, &tasks, &mut policy)?
                    }
                };
            let budgets: Vec<usize> = evals
                .iter()
                .flat_map(|(_, task)| {
                    std::iter::repeat_n(cfg.steps_on(ctx.env.max_steps(task)), cfg.trajectories)
                })
                .collect();
            table
                .budgets
                .push(budget_of(ctx.env, *agent, &episodes, &budgets));
            for (ti, scores) in score_episodes(ctx, &evals, &episodes, *agent, &mut audit)?
                .into_iter()
                .enumerate()
            {
                table.tasks[ti].agents.push(AgentScores {
                    agent: *agent,
                    scores,
                });
            }
        }
        let mut api_audit = Vec::new();
        let mut recorded = Vec::new();
        for a in &cfg.api_agents {
            if crate::interrupt::requested() {
                return Err(StageBodyError::Interrupted(format!(
                    "interrupted in stage {STAGE} before API agent {}; its recorded answers are kept and a rerun replays them",
                    a.name
                )));
            }
            let rec = Recording::new(run.resume_dir().join(API_DIR).join(&a.name));
            let mut policy = ApiPolicy::new(a.clone(), rec.clone(), ctx.offline)
                .map_err(|e| StageBodyError::Config {
                    field: format!("eval.api_agents ({})", a.name),
                    message: e.to_string(),
                })?
                .with_system(ctx.env.system_prompt());
            let episodes = play(ctx, &tasks, &mut policy)?;
            tracing::info!(agent = %a.name, sent = policy.sent, "API agent evaluated");
            for (ti, scores) in
                score_episodes(ctx, &evals, &episodes, a.name.clone(), &mut api_audit)?
                    .into_iter()
                    .enumerate()
            {
                table.tasks[ti].api.push(ApiScores {
                    name: a.name.clone(),
                    scores,
                });
            }
            recorded.extend(rec.files(run.dir()));
        }
        table.validate().map_err(|e| StageBodyError::File {
            path: RESULTS_FILE.into(),
            message: e.to_string(),
        })?;
        write_json(&run.dir().join(RESULTS_FILE), &table)?;
        crate::jsonl::write(&run.dir().join(EPISODES_FILE), &audit)?;
        let mut content = vec![RESULTS_FILE.into(), EPISODES_FILE.into()];
        if !cfg.api_agents.is_empty() {
            crate::jsonl::write(&run.dir().join(API_EPISODES_FILE), &api_audit)?;
            content.push(API_EPISODES_FILE.into());
            content.extend(recorded);
        }
        tracing::info!(
            agents = agents.len(),
            tasks = evals.len(),
            trajectories = audit.len(),
            "evaluation written"
        );
        Ok(StageOutputs {
            content,
            auxiliary: ctx.env.end_stage(run.dir())?,
        })
    })
}

/// Each task's trajectory scores (test metric of the best-validation script) of `episodes`,
/// played in (task, index) order by `agent`; every trajectory is appended to `audit`.
fn score_episodes<A: Clone, E: StageEnvironment>(
    ctx: &Context<'_, E>,
    evals: &[(EvalTask, &E::Task)],
    episodes: &[Episode],
    agent: A,
    audit: &mut Vec<Trajectory<A>>,
) -> Result<Vec<Vec<f64>>, StageBodyError> {
    let n = ctx.experiment.eval.trajectories;
    let mut out = Vec::with_capacity(evals.len());
    for (ti, (et, task)) in evals.iter().enumerate() {
        let mut scores = Vec::with_capacity(n);
        let starter = starter_test_metric(ctx.env, *task, ctx.run_seed())?;
        for i in 0..n {
            let episode = &episodes[ti * n + i];
            let score = episode_test_metric(ctx.env, *task, episode, starter, ctx.run_seed())?;
            scores.push(score);
            audit.push(Trajectory {
                agent: agent.clone(),
                task: *et,
                index: i,
                score,
                episode: episode.clone(),
            });
        }
        out.push(scores);
    }
    Ok(out)
}

/// Plays `trajectories` episodes per task with `policy`, in (task, index) order. Trajectory `i`
/// on `task` decides with the stream `eval/<task>/<i>/decisions` whichever agent plays it.
fn play<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    tasks: &[&E::Task],
    policy: &mut dyn Policy,
) -> Result<Vec<Episode>, StageBodyError> {
    let cfg = &ctx.experiment.eval;
    let seed = ctx.seed().child(STAGE);
    let jobs: Vec<EpisodeJob<'_, E::Task>> = tasks
        .iter()
        .flat_map(|task| {
            let seed = &seed;
            (0..cfg.trajectories).map(move |i| EpisodeJob {
                task: *task,
                seed: seed
                    .child(ctx.env.task_id(task))
                    .child(i)
                    .child("decisions"),
                run_seed: ctx.run_seed(),
                max_steps: cfg.steps_on(ctx.env.max_steps(task)),
            })
        })
        .collect();
    Ok(run_episodes(ctx.env, &jobs, policy)?)
}

/// Writes pretty JSON atomically (serde_json prints floats in their shortest round-trip form,
/// so equal values give equal bytes).
pub(crate) fn write_json<T: Serialize>(
    path: &std::path::Path,
    value: &T,
) -> Result<(), StageBodyError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StageBodyError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    crate::provenance::atomic::write(path, &bytes)?;
    Ok(())
}

/// Reads `results.json` of an eval run, validated.
pub fn read_results(path: &std::path::Path) -> Result<ResultsTable, StageBodyError> {
    let bad = |message: String| StageBodyError::File {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let t: ResultsTable = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    t.validate().map_err(|e| bad(e.to_string()))?;
    Ok(t)
}

/// How `agent` spent its trajectories (`budgets[i]`: the step limit of `episodes[i]`).
fn budget_of<E: StageEnvironment>(
    env: &E,
    agent: Agent,
    episodes: &[Episode],
    budgets: &[usize],
) -> crate::results::AgentBudget {
    let n = episodes.len().max(1) as f64;
    let steps: usize = episodes.iter().map(|e| e.steps.len()).sum();
    let edits = episodes
        .iter()
        .flat_map(|e| &e.steps)
        .filter(|s| env.is_edit(&s.action))
        .count();
    let finals: Vec<usize> = episodes
        .iter()
        .filter(|e| e.steps.last().is_some_and(|s| s.done))
        .map(|e| e.steps.len())
        .collect();
    crate::results::AgentBudget {
        agent,
        trajectories: episodes.len(),
        mean_steps: steps as f64 / n,
        mean_budget: budgets.iter().sum::<usize>() as f64 / n,
        edit_share: edits as f64 / steps.max(1) as f64,
        final_answer_share: finals.len() as f64 / n,
        mean_final_answer_step: (!finals.is_empty())
            .then(|| finals.iter().sum::<usize>() as f64 / finals.len() as f64),
    }
}

/// The results table of an eval run, validated: what the report reads.
pub fn results(run: &StageRun) -> Result<ResultsTable, StageBodyError> {
    read_results(&run.path(RESULTS_FILE))
}
