//! Stages `rl` (step-wise RL, the paper's method) and `rl-episode` (the episode-wise baseline of
//! Figure 4), both below the expert and SFT runs. Outputs:
//!
//! - `policy/`: the final policy (tokenizer.json, config.json, model.safetensors), loadable as
//!   the SFT policy is; `value_head.json`: the critic's head;
//! - `curve.json`: a [`Curve`] (point 0 = the SFT start, then every `eval_every` iterations),
//!   `wall_seconds` left out so the file is reproducible; `curve_timed.json`: the same with
//!   measured wall seconds (auxiliary);
//! - `metrics.jsonl`: one [`IterationMetrics`] per iteration; `timing.jsonl`: measured seconds
//!   per iteration (auxiliary);
//! - `curve.svg`: mean step reward per iteration and held-in / held-out gain per point;
//! - `probe.json`: the probe (`train::rl::probe`) at every curve point, with the gain over the
//!   SFT start;
//! - `resume/`: the last checkpoint (auxiliary).

use serde::Serialize;

use super::{Context, StageBodyError, StageEnvironment, StageError};
use crate::agent::lm_policy::TOKENIZER_FILE;
use crate::config::PolicyConfig;
use crate::paper::RlMethod;
use crate::pipeline::{StageOutputs, StageRun, run_stage};
use crate::provenance::atomic;
use crate::results::Curve;
use crate::reward::RewardConfig;
use crate::train::rl::curve::{CurveTasks, Series, plot_svg, task_gains};
use crate::train::rl::learner::Learner;
use crate::train::rl::probe::{self, ProbeSet};
use crate::train::rl::state_pool::State;
use crate::train::rl::state_pool::StatePool;
use crate::train::rl::{IterationMetrics, RlConfig, driver, episodic, stepwise};

pub const STAGE: &str = "rl";
pub(crate) const EPISODE_STAGE: &str = "rl-episode";
use super::POLICY_DIR;
pub(crate) const VALUE_FILE: &str = "value_head.json";
pub const CURVE_FILE: &str = "curve.json";
pub const CURVE_TIMED_FILE: &str = "curve_timed.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub(crate) const TIMING_FILE: &str = "timing.jsonl";
pub const PLOT_FILE: &str = "curve.svg";
pub const PROBE_FILE: &str = "probe.json";

/// What an RL run's identity covers besides its parents and tasks.
#[derive(Serialize)]
struct RlStageConfig<'a> {
    method: RlMethod,
    rl: &'a RlConfig,
    policy: &'a PolicyConfig,
    reward: &'a RewardConfig,
    train_tasks: &'a [String],
    eval_tasks: &'a [String],
}

/// Runs (or reuses, or resumes) step-wise RL below the expert and SFT runs.
pub fn run<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    expert: &StageRun,
    sft: &StageRun,
) -> Result<StageRun, StageError> {
    run_method(ctx, expert, sft, RlMethod::StepWise)
}

/// Runs (or reuses, or resumes) the episode-wise baseline below the expert and SFT runs.
pub fn run_episode<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    expert: &StageRun,
    sft: &StageRun,
) -> Result<StageRun, StageError> {
    run_method(ctx, expert, sft, RlMethod::EpisodeWise)
}

fn run_method<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    expert: &StageRun,
    sft: &StageRun,
    method: RlMethod,
) -> Result<StageRun, StageError> {
    let exp = ctx.experiment;
    let stage = match method {
        RlMethod::StepWise => STAGE,
        RlMethod::EpisodeWise => EPISODE_STAGE,
    };
    let body_err = |source| StageError::Body {
        stage: stage.into(),
        source,
    };
    let train = ctx.tasks(&exp.train_tasks).map_err(body_err)?;
    let eval_tasks = ctx.tasks(&exp.eval_tasks).map_err(body_err)?;
    let mut all = train.clone();
    for t in &eval_tasks {
        if !all.iter().any(|a| ctx.env.task_id(a) == ctx.env.task_id(t)) {
            all.push(t);
        }
    }
    let cfg = RlStageConfig {
        method,
        rl: &exp.rl,
        policy: &exp.policy,
        reward: &exp.reward,
        train_tasks: &exp.train_tasks,
        eval_tasks: &exp.eval_tasks,
    };
    let input = ctx.input(stage, &cfg, &all, &[expert, sft]);
    run_stage(ctx.store, &input, true, |run| {
        ctx.env.begin_stage(&[expert, sft])?;
        let backend = |e: crate::backend::BackendError| StageBodyError::Config {
            field: "backend".into(),
            message: e.to_string(),
        };
        let train_device = exp.backend.train_device().map_err(backend)?;
        let infer_device = exp.backend.device().map_err(backend)?;
        let seed = ctx.seed().child(stage);
        let sft_policy = super::policy_dir(sft);
        let mut learner = Learner::from_sft(
            &sft_policy,
            &exp.rl,
            exp.policy.sampling(),
            exp.policy.context_tokens,
            &seed,
            train_device,
            infer_device.clone(),
        )?;
        learner.system = ctx.env.system_prompt();
        let run_seed = ctx.run_seed();
        let set = CurveTasks::new(ctx.env, &eval_tasks, run_seed)?;
        // Both methods build the same probe and the same state split, so their curves start
        // from the same measurement of the same SFT policy and differ only through training.
        let episodes = super::expert::episodes(expert)?;
        let (pool, probe_set) = probe_states(ctx, &episodes, &train)?;
        tracing::info!(
            pool = pool.len(),
            held_in = probe_set.held_in.len(),
            held_out = probe_set.held_out.len(),
            "expert state pool and probe states"
        );
        let eval_seed = ctx.seed().child("rl-eval");
        let mut eval = |l: &Learner, rl_step: usize| {
            let mut policy = l.acting_policy("rl-eval")?;
            let gains = task_gains(
                ctx.env,
                &set,
                &mut policy,
                &exp.rl.eval,
                &eval_seed,
                run_seed,
            )?;
            let m = probe::measure(ctx.env, &probe_set, &mut policy, rl_step, run_seed)?;
            Ok((gains, m))
        };
        let mut collect = |it: usize, l: &Learner| match method {
            RlMethod::StepWise => stepwise::collect(ctx.env, &pool, &train, l, it, &seed, run_seed),
            RlMethod::EpisodeWise => episodic::collect(ctx.env, &train, l, it, &seed, run_seed),
        };
        let progress = driver::train(
            &mut learner,
            &run.resume_dir(),
            &seed,
            &mut collect,
            &mut eval,
        )?;

        // The final policy, in the SFT policy's layout.
        let pdir = run.dir().join(POLICY_DIR);
        std::fs::create_dir_all(&pdir).map_err(|e| StageBodyError::File {
            path: pdir.display().to_string(),
            message: e.to_string(),
        })?;
        let tok_src = sft_policy.join(TOKENIZER_FILE);
        let tok_bytes = std::fs::read(&tok_src).map_err(|e| StageBodyError::File {
            path: tok_src.display().to_string(),
            message: e.to_string(),
        })?;
        atomic::write(&pdir.join(TOKENIZER_FILE), &tok_bytes)?;
        crate::lm::hf::save(&pdir, &learner.cfg, &learner.ac.policy)?;
        let value = crate::train::rl::actor::ValueWeights::of(&learner.ac.value);
        atomic::write(
            &run.dir().join(VALUE_FILE),
            &serde_json::to_vec(&value).expect("value weights serialise"),
        )?;

        let timed = Curve {
            method,
            points: progress.points.clone(),
        };
        let mut content = timed.clone();
        for p in &mut content.points {
            p.wall_seconds = None;
        }
        let pretty = |c: &Curve| {
            let mut v = serde_json::to_vec_pretty(c).expect("a curve serialises");
            v.push(b'\n');
            v
        };
        atomic::write(&run.dir().join(CURVE_FILE), &pretty(&content))?;
        atomic::write(&run.dir().join(CURVE_TIMED_FILE), &pretty(&timed))?;
        atomic::write(
            &run.dir().join(METRICS_FILE),
            &crate::jsonl::to_bytes(&progress.metrics),
        )?;
        let probe_file = probe::summarise(
            exp.seed,
            exp.rl.probe.samples_per_state,
            &progress.probes,
            &ctx.seed().child("rl-probe").child("bootstrap"),
        )?;
        let mut text = serde_json::to_vec_pretty(&probe_file).expect("a probe serialises");
        text.push(b'\n');
        atomic::write(&run.dir().join(PROBE_FILE), &text)?;
        #[derive(Serialize)]
        struct Timing {
            iteration: usize,
            wall_seconds: f64,
        }
        let timing: Vec<Timing> = progress
            .iteration_seconds
            .iter()
            .enumerate()
            .map(|(i, &s)| Timing {
                iteration: i + 1,
                wall_seconds: s,
            })
            .collect();
        atomic::write(
            &run.dir().join(TIMING_FILE),
            &crate::jsonl::to_bytes(&timing),
        )?;
        let plot_path = run.dir().join(PLOT_FILE);
        let svg = plot_svg(
            &[Series {
                label: method.label(),
                metrics: &progress.metrics,
                curve: &content,
            }],
            &plot_path,
        )?;
        atomic::write(&plot_path, svg.as_bytes())?;
        tracing::info!(
            iterations = progress.iteration,
            work_units = progress.work_units,
            "RL finished"
        );
        let mut auxiliary = vec![CURVE_TIMED_FILE.to_string(), TIMING_FILE.to_string()];
        auxiliary.extend(
            crate::provenance::checkpoints::Checkpoints::new(run.resume_dir())
                .files(run.dir())
                .map_err(|e| StageBodyError::File {
                    path: e.path.display().to_string(),
                    message: e.message,
                })?,
        );
        auxiliary.extend(ctx.env.end_stage(run.dir())?);
        Ok(StageOutputs {
            content: vec![
                format!("{POLICY_DIR}/{TOKENIZER_FILE}"),
                format!("{POLICY_DIR}/{}", crate::lm::hf::CONFIG_FILE),
                format!("{POLICY_DIR}/{}", crate::lm::hf::WEIGHTS_FILE),
                VALUE_FILE.into(),
                CURVE_FILE.into(),
                METRICS_FILE.into(),
                PROBE_FILE.into(),
                PLOT_FILE.into(),
            ],
            auxiliary,
        })
    })
}

/// Reads a run's `metrics.jsonl`.
pub fn read_metrics(path: &std::path::Path) -> Result<Vec<IterationMetrics>, StageBodyError> {
    crate::jsonl::read(path).map_err(|e| StageBodyError::File {
        path: format!("{}:{}", e.path.display(), e.line),
        message: e.message,
    })
}

/// Splits the expert's episodes by episode: the last `rl.probe.held_in_episodes_per_task` of
/// each task are held back for the probe, the rest form the state pool. Held-in probe states
/// are the held-back episodes' states that no pooled episode also reaches (every episode of a
/// task shares its first state); held-out probe states come from expert rollouts on the
/// evaluation tasks that are not training tasks (stream `rl-probe`). Each split keeps a seeded
/// sample of `rl.probe.states`.
#[allow(clippy::type_complexity)]
fn probe_states<'a, E: StageEnvironment>(
    ctx: &Context<'a, E>,
    episodes: &[crate::agent::episode::Episode],
    train: &[&'a E::Task],
) -> Result<(StatePool<E::State>, ProbeSet<'a, E::Task, E::State>), StageBodyError> {
    let cfg = &ctx.experiment.rl.probe;
    let seed = ctx.seed().child("rl-probe");
    let (pooled, held) = split_episodes(episodes, cfg.held_in_episodes_per_task);
    let pool = StatePool::from_episodes(ctx.env, &pooled, train, ctx.run_seed())?;
    let held_in = unseen_states(
        StatePool::from_episodes(ctx.env, &held, train, ctx.run_seed())?,
        &pool,
    );

    let held_out_ids = super::sft::held_out_tasks(ctx);
    let held_out_tasks = ctx.tasks(&held_out_ids)?;
    let mut held_out = Vec::new();
    if !held_out_tasks.is_empty() {
        let mut ecfg = ctx.experiment.expert.clone();
        ecfg.episodes_per_task = cfg.states.div_ceil(held_out_tasks.len()).max(1);
        let seats = super::expert::seats_for(ctx, &ecfg, &held_out_tasks, None, "rl-probe");
        let jobs = super::expert::seat_jobs(
            ctx,
            &ecfg,
            &held_out_tasks,
            &seats,
            &seed.child("decisions"),
        );
        let mut team = ctx
            .env
            .experts("expert", &ecfg, &held_out_tasks, &seats, ctx.run_seed())?;
        let rollouts = crate::agent::episode::run_episodes(ctx.env, &jobs, team.as_mut())?;
        held_out =
            StatePool::from_episodes(ctx.env, &rollouts, &held_out_tasks, ctx.run_seed())?.states;
    }
    let mut tasks: Vec<&'a E::Task> = train.to_vec();
    tasks.extend(held_out_tasks.iter().copied());
    Ok((
        pool,
        ProbeSet {
            held_in: sample_states(held_in, cfg.states, &seed.child("held-in")),
            held_out: sample_states(held_out, cfg.states, &seed.child("held-out")),
            tasks,
            samples_per_state: cfg.samples_per_state,
            seed: seed.child("samples"),
        },
    ))
}

/// A seeded sample of `n` states without replacement, in their original order.
fn sample_states<S>(
    states: Vec<State<S>>,
    n: usize,
    seed: &crate::seed::SeedPath,
) -> Vec<State<S>> {
    use rand::seq::SliceRandom as _;
    if states.len() <= n {
        return states;
    }
    let mut idx: Vec<usize> = (0..states.len()).collect();
    idx.shuffle(&mut seed.rng());
    idx.truncate(n);
    idx.sort_unstable();
    let mut keep = vec![false; states.len()];
    for i in idx {
        keep[i] = true;
    }
    states
        .into_iter()
        .zip(keep)
        .filter_map(|(s, k)| k.then_some(s))
        .collect()
}

/// Each task's last `held_back` episodes (in file order) apart from the rest.
fn split_episodes(
    episodes: &[crate::agent::episode::Episode],
    held_back: usize,
) -> (
    Vec<crate::agent::episode::Episode>,
    Vec<crate::agent::episode::Episode>,
) {
    let mut per_task: std::collections::BTreeMap<&str, usize> = Default::default();
    for ep in episodes {
        *per_task.entry(ep.task_id.as_str()).or_default() += 1;
    }
    let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
    let (mut pooled, mut held) = (Vec::new(), Vec::new());
    for ep in episodes {
        let i = seen.entry(ep.task_id.as_str()).or_default();
        let back = *i + held_back >= per_task[ep.task_id.as_str()];
        *i += 1;
        if back {
            held.push(ep.clone());
        } else {
            pooled.push(ep.clone());
        }
    }
    (pooled, held)
}

/// The states of `held` that the state pool does not also hold.
fn unseen_states<S>(held: StatePool<S>, pool: &StatePool<S>) -> Vec<State<S>> {
    let in_pool: std::collections::BTreeSet<_> = pool.states.iter().map(|s| s.digest).collect();
    held.states
        .into_iter()
        .filter(|s| !in_pool.contains(&s.digest))
        .collect()
}

/// Reads an RL run's `curve.json`, naming the file in any error.
pub(crate) fn read_curve(path: &std::path::Path) -> Result<Curve, StageBodyError> {
    let bad = |message: String| StageBodyError::File {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))
}

/// The learning curve of an RL run (`curve.json`): what the report reads.
pub fn curve(run: &StageRun) -> Result<Curve, StageBodyError> {
    read_curve(&run.path(CURVE_FILE))
}

/// Where an RL run's probe (`probe.json`) is.
pub fn probe_path(run: &StageRun) -> std::path::PathBuf {
    run.path(PROBE_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::episode::Episode;

    fn episode(task: &str) -> Episode {
        Episode {
            task_id: task.into(),
            steps: Vec::new(),
            starter_metric: None,
            best_script: String::new(),
            best_metric: None,
        }
    }

    /// The probe takes whole episodes, the last ones of each task; the rest feed the pool.
    #[test]
    fn each_task_holds_back_its_last_episodes() {
        let eps: Vec<Episode> = ["a", "b", "a", "a", "b"]
            .iter()
            .map(|t| episode(t))
            .collect();
        let (pooled, held) = split_episodes(&eps, 1);
        let ids = |v: &[Episode]| v.iter().map(|e| e.task_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&pooled), vec!["a", "b", "a"]);
        assert_eq!(ids(&held), vec!["a", "b"]);
        let (pooled, held) = split_episodes(&eps, 0);
        assert_eq!((pooled.len(), held.len()), (5, 0));
    }
}
