//! The SFT stage's probe (`probe.json`): the fine-tuned policy and the random baseline on
//! states of held-out tasks, one sampled action per state, beside the expert's own actions.

use rand::seq::SliceRandom as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::agent::conversation::Turn;
use crate::agent::episode::run_episodes;
use crate::agent::knobs::knobs_of;
use crate::agent::lm_policy::LmPolicy;
use crate::agent::policy::{Policy, PolicyError, PolicyInput, PolicyOutput};
use crate::env::Feedback;
use crate::stages::expert::{seat_jobs, seats_for};
use crate::stages::{Context, StageBodyError, StageEnvironment};
use crate::stats::{Interval, SignTest, bootstrap_mean_ci};

use super::{POLICY_DIR, STAGE};

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
pub(crate) const PROBE_RESAMPLES: u32 = 10_000;

/// A state to act on: the task, the conversation so far (ends with a human turn) and the
/// script it refers to.
struct State<'a, T, S> {
    task: &'a T,
    history: Vec<Turn>,
    /// What the environment acts on.
    state: S,
    /// What the expert did at this state in its rollout.
    expert_action: String,
}

/// The done-when measurement: states from the expert's rollouts on held-out tasks (every
/// prefix of every episode; a seeded sample of `probe_states` of them). The rollouts number
/// `probe_states` in all, spread evenly over the tasks, so the sample holds about one state
/// per episode: one episode's context weighs on few states. One action per state from the
/// fine-tuned policy in `run_dir/policy` and one from the random policy, with the same seed
/// names; each executed once in the workbench.
pub(super) fn measure<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    run_dir: &std::path::Path,
    task_ids: &[String],
) -> Result<Probe, StageBodyError> {
    let exp = ctx.experiment;
    let n = exp.sft.probe_states;
    let tasks = ctx.tasks(task_ids)?;
    let mut ecfg = exp.expert.clone();
    ecfg.episodes_per_task = n.div_ceil(tasks.len()).max(1);
    let stream = format!("{STAGE}-probe");
    let seats = seats_for(ctx, &ecfg, &tasks, None, &stream);
    let seed = ctx.seed().child(&stream);
    let jobs = seat_jobs(ctx, &ecfg, &tasks, &seats, &seed.child("decisions"));
    let mut team = ctx
        .env
        .experts("expert", &ecfg, &tasks, &seats, ctx.run_seed())?;
    let episodes = run_episodes(ctx.env, &jobs, team.as_mut())?;
    let mut states = Vec::new();
    for (ep, job) in episodes.iter().zip(&jobs) {
        let turns = ep.conversation(ctx.env, job.task)?.conversations;
        let recorded: Vec<_> = ep.steps.iter().map(|s| s.recorded()).collect();
        let env_states = ctx.env.states_of(job.task, &recorded, ctx.run_seed())?;
        for (i, state) in env_states.into_iter().take(ep.steps.len()).enumerate() {
            // Task turn, then (action, feedback) of the steps before i; the conversation lacks
            // only the last step's feedback, which no state needs.
            states.push(State {
                task: job.task,
                history: turns[..1 + 2 * i].to_vec(),
                state,
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
    )?
    .with_system(ctx.env.system_prompt());
    let sft = score(ctx, &states, &mut lm, &seed)?;
    let state_tasks: Vec<&E::Task> = states.iter().map(|s| s.task).collect();
    let random = score(
        ctx,
        &states,
        ctx.env.random_agent(&state_tasks).as_mut(),
        &seed,
    )?;
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

fn score<E: StageEnvironment>(
    ctx: &Context<'_, E>,
    states: &[State<'_, E::Task, E::State>],
    policy: &mut dyn Policy,
    seed: &crate::seed::SeedPath,
) -> Result<ProbeScore, StageBodyError> {
    let knobs: Vec<_> = states
        .iter()
        .map(|s| {
            ctx.env
                .typed_script(&s.state)
                .map(knobs_of)
                .unwrap_or_default()
        })
        .collect();
    let inputs: Vec<PolicyInput<'_>> = states
        .iter()
        .zip(&knobs)
        .enumerate()
        .map(|(i, (s, k))| PolicyInput {
            task_id: ctx.env.task_id(s.task),
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
        .map(|(s, o)| ctx.env.step(s.task, &s.state, &o.text, ctx.run_seed()))
        .collect::<Vec<_>>();
    let (mut parsed, mut well, mut reward) = (0usize, 0usize, 0.0f64);
    let mut samples = Vec::new();
    for ((o, r), s) in outs.iter().zip(results).zip(states) {
        let r = r?;
        samples.push(ProbeSample {
            task: ctx.env.task_id(s.task).to_string(),
            step: s.history.len() / 2,
            action: o.text.clone(),
            feedback: format!("{}: {}", r.feedback.kind(), r.feedback.message()),
            reward: r.reward,
        });
        let ok = ctx.env.parses(&o.text);
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
