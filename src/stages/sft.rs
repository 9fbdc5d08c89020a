//! Stage `sft`: exploration-enriched fine-tuning of the policy on the expert's trajectories
//! (paper §3.1; the trainer is `train::sft`). Outputs:
//!
//! - `policy/` (tokenizer.json, config.json, model.safetensors): the fine-tuned policy, the
//!   layout `agent::lm_policy::LmPolicy::load` reads (RL and evaluation start from it);
//! - `metrics.jsonl` (per optimiser step) and `loss.svg` (the loss curve);
//! - `probe.json`: the policy and the random baseline on states of held-out tasks — fraction
//!   of well-formed actions and mean step reward of one sampled action per state — beside the
//!   expert's own actions at those states;
//! - `resume/`: the last training checkpoint and progress (auxiliary).

use rand::seq::SliceRandom as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::expert::{Seat, experts_for};
use super::{Context, StageBodyError, StageError};
use crate::agent::conversation::{Turn, read_jsonl};
use crate::agent::episode::{EpisodeJob, run_episodes};
use crate::agent::expert::ExpertStageConfig;
use crate::agent::expert::ExpertTeam;
use crate::agent::knobs::knobs_of;
use crate::agent::lm_policy::{LmPolicy, TOKENIZER_FILE};
use crate::agent::policy::{Policy, PolicyError, PolicyInput, PolicyOutput, RandomPolicy};
use crate::config::PolicyConfig;
use crate::env::{Action, Feedback, Script};
use crate::lm::tokenizer::ChatTokenizer;
use crate::lm::train::{OptimConfig, Trainer};
use crate::lm::{Qwen2, Qwen2Config, hf};
use crate::pipeline::{StageOutputs, StageRun, run_stage};
use crate::reward::RewardConfig;
use crate::stats::{Interval, SignTest, bootstrap_mean_ci};
use crate::train::sft::{self as trainer, SftConfig, SftError};

pub const STAGE: &str = "sft";
use super::POLICY_DIR;
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const LOSS_PLOT_FILE: &str = "loss.svg";
pub const PROBE_FILE: &str = "probe.json";

/// Everything the stage's result depends on besides its parent and tasks.
#[derive(Serialize)]
struct Keyed<'a> {
    sft: &'a SftConfig,
    policy: &'a PolicyConfig,
    /// The probe's rollouts and rewards.
    expert: &'a ExpertStageConfig,
    reward: &'a RewardConfig,
    probe_tasks: &'a [String],
}

/// One policy's score on the probe states.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeScore {
    pub policy: String,
    pub states: usize,
    /// Fraction of actions that parse (`env::Action::parse`).
    pub parsed: f64,
    /// Fraction that parse and are not rejected as invalid by the workbench (unknown key,
    /// value of the wrong type, ...).
    pub well_formed: f64,
    pub mean_reward: f64,
    /// Every state's (task, step, action, feedback, reward), so a reader can check the figures
    /// and see each failure.
    pub samples: Vec<ProbeSample>,
}

/// One probe action and what the workbench made of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSample {
    pub task: String,
    /// The state's step: how many actions the episode had taken before it.
    pub step: usize,
    pub action: String,
    pub feedback: String,
    pub reward: f64,
}

/// `probe.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Held-out tasks (evaluation tasks that are not training tasks) the states come from.
    pub tasks: Vec<String>,
    pub sft: ProbeScore,
    pub random: ProbeScore,
    /// The expert's own actions at the same states, replayed (what SFT imitates): the
    /// reference the policy's figures are read against.
    pub expert: ProbeScore,
    /// Paired per-state reward difference, sft − random: its mean with a 95 % bootstrap
    /// interval, so "beats the random policy" can be read against the probe's sampling noise.
    pub reward_gain: Option<Interval>,
    /// Per-state sign test of sft's reward against random's.
    pub reward_sign_test: SignTest,
}

/// Bootstrap resamples of the probe's reward-gain interval.
pub const PROBE_RESAMPLES: u32 = 10_000;

fn file_err(path: &std::path::Path, e: impl std::fmt::Display) -> StageBodyError {
    StageBodyError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn sft_err(e: SftError) -> StageBodyError {
    match e {
        SftError::Lm(e) => StageBodyError::Lm(e),
        SftError::Write(e) => StageBodyError::Write(e),
        SftError::File { path, message } => StageBodyError::File { path, message },
        SftError::Config(m) => StageBodyError::Config {
            field: "sft".into(),
            message: m,
        },
        e @ SftError::Interrupted { .. } => StageBodyError::Interrupted(e.to_string()),
    }
}

/// The held-out tasks of the experiment: evaluation tasks that are not training tasks.
pub fn held_out_tasks(ctx: &Context<'_>) -> Vec<String> {
    ctx.experiment
        .eval_tasks
        .iter()
        .filter(|t| !ctx.experiment.train_tasks.contains(t))
        .cloned()
        .collect()
}

/// Runs (or reuses, or resumes) the sft stage below the expert run.
pub fn run(ctx: &Context<'_>, expert: &StageRun) -> Result<StageRun, StageError> {
    let exp = ctx.experiment;
    let cfg = &exp.sft;
    let body_err = |source| StageError::Body {
        stage: STAGE.into(),
        source,
    };
    cfg.validate()
        .map_err(|(field, message)| body_err(StageBodyError::Config { field, message }))?;
    let probe_tasks = held_out_tasks(ctx);
    let mut ids = exp.train_tasks.clone();
    ids.extend(probe_tasks.iter().cloned());
    let tasks = ctx.tasks(&ids).map_err(body_err)?;
    let keyed = Keyed {
        sft: cfg,
        policy: &exp.policy,
        expert: &exp.expert,
        reward: &exp.reward,
        probe_tasks: &probe_tasks,
    };
    let input = ctx.input(STAGE, &keyed, &tasks, &[expert]);
    run_stage(ctx.store, &input, true, |run| {
        let traj = super::expert::trajectories(expert);
        let convs = read_jsonl(&traj)?;
        let pcfg = &exp.policy;
        let device = exp
            .backend
            .train_device()
            .map_err(|e| StageBodyError::Config {
                field: "backend".into(),
                message: e.to_string(),
            })?;
        let seed = ctx.seed().child(STAGE);
        let (tok, model_cfg, model) = match &pcfg.pretrained {
            Some(dir) => {
                let tok = ChatTokenizer::load(&dir.join(TOKENIZER_FILE))?;
                let (c, m) = hf::load(dir, &device)?;
                (tok, c, m)
            }
            None => {
                let tok =
                    ChatTokenizer::train_bpe(&trainer::tokenizer_corpus(&convs), pcfg.vocab_size)?;
                let c = Qwen2Config::named(&pcfg.model, tok.vocab_size())?;
                let m = Qwen2::init(&c, &seed.child("init"), &device)?;
                (tok, c, m)
            }
        };
        // A pretrained directory absent when the config was checked is checked here, once its
        // config is read (config::bounds::check_model checks the rest before any stage).
        if exp.policy.context_tokens > model_cfg.max_position_embeddings {
            return Err(StageBodyError::Config {
                field: "policy.context_tokens".into(),
                message: format!(
                    "{} exceeds the model's {} positions",
                    exp.policy.context_tokens, model_cfg.max_position_embeddings
                ),
            });
        }
        if cfg.cutoff_tokens > model_cfg.max_position_embeddings {
            return Err(StageBodyError::Config {
                field: "sft.cutoff_tokens".into(),
                message: format!(
                    "{} exceeds the model's {} positions",
                    cfg.cutoff_tokens, model_cfg.max_position_embeddings
                ),
            });
        }
        let (examples, dropped) = if cfg.windows {
            // The acting budget, so a window's prompt is the one the policy gets at that state.
            let budget = crate::agent::lm_policy::prompt_budget(
                exp.policy.context_tokens,
                exp.policy.sampling().max_new_tokens,
            );
            trainer::render_windows(&tok, &convs, cfg.cutoff_tokens, budget)?
        } else {
            trainer::render_examples(&tok, &convs, cfg.cutoff_tokens)?
        };
        let tokens: usize = examples.iter().map(|e| e.ids.len()).sum();
        tracing::info!(
            examples = examples.len(),
            dropped,
            tokens,
            params = model_cfg.num_params(),
            "fine-tuning"
        );
        let optim = OptimConfig {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay as f32,
            ..OptimConfig::default()
        };
        let total_steps = (trainer::steps_per_epoch(examples.len(), cfg) * cfg.epochs) as u64;
        let bar = ctx.progress.then(|| {
            let b = indicatif::ProgressBar::new(total_steps);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "sft [{bar:40}] {pos}/{len} steps ({elapsed}, eta {eta}) {msg}",
                )
                .expect("the progress template is valid")
                .progress_chars("=> "),
            );
            b
        });
        let stop = crate::interrupt::flag();
        let resume = run.resume_dir();
        let result = {
            let mut on_step = |r: &trainer::MetricRow| {
                if let Some(b) = &bar {
                    b.set_position(r.step);
                    b.set_message(format!("loss {:.4}", r.loss));
                }
            };
            trainer::fine_tune(
                cfg,
                Trainer::new(model, optim),
                &examples,
                trainer::Run {
                    model_cfg: &model_cfg,
                    seed: seed.clone(),
                    resume_dir: &resume,
                    device: &device,
                    pad_id: tok.end_of_text,
                    stop: &stop,
                    on_step: &mut on_step,
                },
            )
        };
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let (trained, metrics) = result.map_err(sft_err)?;

        let policy_dir = run.dir().join(POLICY_DIR);
        tok.save(&policy_dir.join(TOKENIZER_FILE))?;
        hf::save(&policy_dir, &model_cfg, &trained.model)?;
        crate::provenance::atomic::write(
            &run.dir().join(METRICS_FILE),
            &trainer::metrics_jsonl(&metrics),
        )?;
        let svg = trainer::loss_svg(&metrics).map_err(sft_err)?;
        crate::provenance::atomic::write(&run.dir().join(LOSS_PLOT_FILE), svg.as_bytes())?;

        let probe = probe(ctx, run.dir(), &probe_tasks)?;
        tracing::info!(?probe, "probe on held-out states");
        let mut text = serde_json::to_string_pretty(&probe).expect("a probe serialises");
        text.push('\n');
        crate::provenance::atomic::write(&run.dir().join(PROBE_FILE), text.as_bytes())?;

        let auxiliary = crate::provenance::checkpoints::Checkpoints::new(&resume)
            .files(run.dir())
            .map_err(|e| file_err(&e.path, e.message))?;
        Ok(StageOutputs {
            content: vec![
                format!("{POLICY_DIR}/{TOKENIZER_FILE}"),
                format!("{POLICY_DIR}/{}", hf::CONFIG_FILE),
                format!("{POLICY_DIR}/{}", hf::WEIGHTS_FILE),
                METRICS_FILE.into(),
                LOSS_PLOT_FILE.into(),
                PROBE_FILE.into(),
            ],
            auxiliary,
        })
    })
}

/// A state to act on: the task, the conversation so far (ends with a human turn) and the
/// script it refers to.
struct State<'a> {
    task: &'a crate::tasks::Task,
    history: Vec<Turn>,
    script: Script,
    /// What the expert did at this state in its rollout.
    expert_action: String,
}

/// The done-when measurement: states from the expert's rollouts on held-out tasks (every
/// prefix of every episode; a seeded sample of `probe_states` of them). The rollouts number
/// `probe_states` in all, spread evenly over the tasks, so the sample holds about one state
/// per episode: one episode's context weighs on few states. One action per state from the
/// fine-tuned policy in `run_dir/policy` and one from the random policy, with the same seed
/// names; each executed once in the workbench.
fn probe(
    ctx: &Context<'_>,
    run_dir: &std::path::Path,
    task_ids: &[String],
) -> Result<Probe, StageBodyError> {
    let exp = ctx.experiment;
    let n = exp.sft.probe_states;
    let tasks = ctx.tasks(task_ids)?;
    if tasks.is_empty() {
        return Err(StageBodyError::Config {
            field: "eval_tasks".into(),
            message: "the sft probe needs an evaluation task that is not a training task".into(),
        });
    }
    let mut ecfg = exp.expert.clone();
    ecfg.episodes_per_task = n.div_ceil(tasks.len()).max(1);
    let stream = format!("{STAGE}-probe");
    let seats = experts_for(ctx, &ecfg, &tasks, None, &stream)?;
    let seed = ctx.seed().child(&stream);
    let jobs: Vec<EpisodeJob<'_>> = seats
        .iter()
        .map(|&Seat { task, episode, .. }| EpisodeJob {
            task: tasks[task],
            seed: seed
                .child("decisions")
                .child(&tasks[task].spec.id)
                .child(episode),
            run_seed: ctx.run_seed(),
            max_steps: ecfg
                .expert
                .max_steps
                .min(tasks[task].spec.budget.max_steps as usize),
        })
        .collect();
    let mut team = ExpertTeam::new("expert", seats.into_iter().map(|s| s.expert).collect());
    let episodes = run_episodes(ctx.workbench, &jobs, &mut team)?;
    let mut states = Vec::new();
    for (ep, job) in episodes.iter().zip(&jobs) {
        let turns = ep.conversation(job.task)?.conversations;
        for (i, step) in ep.steps.iter().enumerate() {
            let script = Script::parse(job.task.spec.data_type, &step.script_before)
                .map_err(|e| file_err(std::path::Path::new("(probe state script)"), e))?;
            // Task turn, then (action, feedback) of the steps before i; the conversation lacks
            // only the last step's feedback, which no state needs.
            states.push(State {
                task: job.task,
                history: turns[..1 + 2 * i].to_vec(),
                script,
                expert_action: turns[1 + 2 * i].value.clone(),
            });
        }
    }
    if states.len() > n {
        let mut idx: Vec<usize> = (0..states.len()).collect();
        idx.shuffle(&mut seed.child("sample").rng());
        idx.truncate(n);
        idx.sort_unstable();
        let mut keep = vec![false; states.len()];
        for i in idx {
            keep[i] = true;
        }
        let mut k = keep.into_iter();
        states.retain(|_| k.next().expect("one flag per state"));
    }
    let device = exp.backend.device().map_err(|e| StageBodyError::Config {
        field: "backend".into(),
        message: e.to_string(),
    })?;
    let mut lm = LmPolicy::load(
        "sft",
        &run_dir.join(POLICY_DIR),
        exp.policy.sampling(),
        exp.policy.context_tokens,
        device,
    )?;
    let sft = score(ctx, &states, &mut lm, &seed)?;
    let random = score(ctx, &states, &mut RandomPolicy, &seed)?;
    let mut teacher = Replay {
        name: "expert",
        actions: states.iter().map(|s| s.expert_action.clone()).collect(),
    };
    let expert = score(ctx, &states, &mut teacher, &seed)?;
    let pairs: Vec<(f64, f64)> = sft
        .samples
        .iter()
        .zip(&random.samples)
        .map(|(a, b)| (a.reward, b.reward))
        .collect();
    let gains: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
    Ok(Probe {
        tasks: task_ids.to_vec(),
        reward_gain: bootstrap_mean_ci(
            &gains,
            PROBE_RESAMPLES,
            0.95,
            &mut seed.child("bootstrap").rng(),
        ),
        reward_sign_test: SignTest::from_pairs(pairs, |a, b| a > b),
        sft,
        random,
        expert,
    })
}

/// Plays back recorded actions: `actions[i]` at probe state `i` (`PolicyInput::episode`).
struct Replay {
    name: &'static str,
    actions: Vec<String>,
}

impl Policy for Replay {
    fn name(&self) -> &str {
        self.name
    }

    fn act(
        &mut self,
        input: &PolicyInput<'_>,
        _seed: &crate::seed::SeedPath,
    ) -> Result<PolicyOutput, PolicyError> {
        let text = self
            .actions
            .get(input.episode)
            .cloned()
            .ok_or_else(|| PolicyError::Failed {
                policy: self.name.to_string(),
                message: format!("no recorded action for probe state {}", input.episode),
            })?;
        Ok(PolicyOutput { text, tokens: None })
    }
}

fn score(
    ctx: &Context<'_>,
    states: &[State<'_>],
    policy: &mut dyn Policy,
    seed: &crate::seed::SeedPath,
) -> Result<ProbeScore, StageBodyError> {
    let knobs: Vec<_> = states.iter().map(|s| knobs_of(&s.script)).collect();
    let inputs: Vec<PolicyInput<'_>> = states
        .iter()
        .zip(&knobs)
        .enumerate()
        .map(|(i, (s, k))| PolicyInput {
            task_id: &s.task.spec.id,
            episode: i,
            history: &s.history,
            knobs: k,
        })
        .collect();
    let seeds: Vec<_> = (0..states.len())
        .map(|i| seed.child("act").child(i))
        .collect();
    let outs = policy
        .act_batch(&inputs, &seeds)
        .map_err(crate::agent::episode::EpisodeError::from)?;
    let results = states
        .par_iter()
        .zip(outs.par_iter())
        .map(|(s, o)| {
            ctx.workbench
                .step(s.task, &s.script, &o.text, ctx.run_seed())
        })
        .collect::<Vec<_>>();
    let (mut parsed, mut well, mut reward) = (0usize, 0usize, 0.0f64);
    let mut samples = Vec::new();
    for ((o, r), s) in outs.iter().zip(results).zip(states) {
        let r = r?;
        samples.push(ProbeSample {
            task: s.task.spec.id.clone(),
            step: s.history.len() / 2,
            action: o.text.clone(),
            feedback: format!("{}: {}", r.feedback.kind(), r.feedback.message()),
            reward: r.reward,
        });
        let ok = Action::parse(&o.text).is_ok();
        parsed += usize::from(ok);
        well += usize::from(ok && !matches!(r.feedback, Feedback::InvalidAction { .. }));
        reward += r.reward;
    }
    let k = states.len().max(1) as f64;
    Ok(ProbeScore {
        policy: policy.name().to_string(),
        states: states.len(),
        parsed: parsed as f64 / k,
        well_formed: well as f64 / k,
        mean_reward: reward / k,
        samples,
    })
}
