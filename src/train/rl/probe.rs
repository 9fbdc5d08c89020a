//! The RL probe: a fixed set of states RL never trains on, acted on at every curve point (the
//! SFT start included) with fixed seeds and `samples_per_state` samples each, so a point's
//! figures differ from the start's only through the policy. Two splits:
//!
//! - `held-in-states`: states of held-in tasks from expert episodes held back from the state
//!   pool (split by episode; a state that also occurs in a training episode, such as a task's
//!   first state, is left out);
//! - `held-out-tasks`: states of expert rollouts on the evaluation tasks RL never trains on.
//!
//! Besides the mean reward, each point counts what the actions did (`env::StepClass`): reward
//! v1 pays 0.5 for a safe non-edit, so a rising reward alone could mean the policy learnt to
//! avoid edits; the action mix and pass@k (a state counts when one of its k samples improves the
//! validation metric) show whether it learnt to improve scripts.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::RlError;
use super::state_pool::State;
use crate::agent::environment::Environment;
use crate::agent::knobs::knobs_of;
use crate::agent::lm_policy::LmPolicy;
use crate::agent::policy::{Policy, PolicyInput};
use crate::env::{ActionMix, Script, StepClass};
use crate::seed::SeedPath;
use crate::stats::bootstrap_mean_ci;
use crate::tasks::Task;

/// Bootstrap resamples of each point's gain interval.
pub(crate) const RESAMPLES: u32 = 10_000;

/// The probe's size (`rl.probe`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// States per split (fewer when the split has fewer distinct states).
    pub states: usize,
    /// Samples per state (the k of pass@k).
    pub samples_per_state: usize,
    /// Expert episodes of each held-in task kept out of the state pool for the probe.
    pub held_in_episodes_per_task: usize,
}

/// The two splits, in `probe.json`'s spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeSplit {
    HeldInStates,
    HeldOutTasks,
}

impl ProbeSplit {
    pub const ALL: [ProbeSplit; 2] = [ProbeSplit::HeldInStates, ProbeSplit::HeldOutTasks];

    pub fn name(self) -> &'static str {
        match self {
            ProbeSplit::HeldInStates => "held-in-states",
            ProbeSplit::HeldOutTasks => "held-out-tasks",
        }
    }
}

/// The probe's states and the seed of its samples (`T`, `S`: the environment's task and state).
pub struct ProbeSet<'a, T = Task, S = Script> {
    pub held_in: Vec<State<S>>,
    pub held_out: Vec<State<S>>,
    /// Every task a probe state belongs to.
    pub tasks: Vec<&'a T>,
    pub samples_per_state: usize,
    pub seed: SeedPath,
}

impl<T, S> ProbeSet<'_, T, S> {
    fn states(&self, split: ProbeSplit) -> &[State<S>] {
        match split {
            ProbeSplit::HeldInStates => &self.held_in,
            ProbeSplit::HeldOutTasks => &self.held_out,
        }
    }
}

/// What the samples of one state earned and did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateOutcome {
    pub rewards: Vec<f64>,
    pub mix: ActionMix,
}

impl StateOutcome {
    fn mean_reward(&self) -> f64 {
        self.rewards.iter().sum::<f64>() / self.rewards.len().max(1) as f64
    }
}

/// One curve point's probe, state by state (kept in the resume checkpoint, so the gain over the
/// start can be paired after a resume).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub rl_step: usize,
    pub held_in: Vec<StateOutcome>,
    pub held_out: Vec<StateOutcome>,
}

impl Measure {
    fn split(&self, split: ProbeSplit) -> &[StateOutcome] {
        match split {
            ProbeSplit::HeldInStates => &self.held_in,
            ProbeSplit::HeldOutTasks => &self.held_out,
        }
    }
}

/// Acts on every probe state with `policy` and executes each sample once.
pub fn measure<E: Environment>(
    env: &E,
    set: &ProbeSet<'_, E::Task, E::State>,
    policy: &mut LmPolicy,
    rl_step: usize,
    run_seed: u64,
) -> Result<Measure, RlError> {
    let k = set.samples_per_state;
    let mut drafts = Vec::new();
    for split in ProbeSplit::ALL {
        for (i, state) in set.states(split).iter().enumerate() {
            let task = *set
                .tasks
                .iter()
                .find(|t| env.task_id(t) == state.task_id)
                .ok_or_else(|| {
                    RlError::Input(format!("probe state of unknown task {}", state.task_id))
                })?;
            let knobs = env
                .typed_script(&state.env_state)
                .map(knobs_of)
                .unwrap_or_default();
            for j in 0..k {
                let seed = set.seed.child(split.name()).child(i).child(j);
                drafts.push((split, i, task, state, knobs.clone(), seed));
            }
        }
    }
    let inputs: Vec<PolicyInput<'_>> = drafts
        .iter()
        .enumerate()
        .map(|(n, (_, _, task, state, knobs, _))| PolicyInput {
            task_id: env.task_id(task),
            episode: n,
            history: &state.history,
            knobs,
        })
        .collect();
    let seeds: Vec<SeedPath> = drafts.iter().map(|d| d.5.clone()).collect();
    let outs = policy
        .act_batch(&inputs, &seeds)
        .map_err(crate::agent::episode::EpisodeError::from)?;
    let results: Vec<Result<_, RlError>> = drafts
        .par_iter()
        .zip(outs.par_iter())
        .map(|((_, _, task, state, _, _), o)| {
            Ok(env.step(task, &state.env_state, &o.text, run_seed)?)
        })
        .collect();
    let mut m = Measure {
        rl_step,
        held_in: vec![empty(); set.held_in.len()],
        held_out: vec![empty(); set.held_out.len()],
    };
    for ((split, i, task, ..), r) in drafts.iter().zip(results) {
        let r = r?;
        let slot = match split {
            ProbeSplit::HeldInStates => &mut m.held_in[*i],
            ProbeSplit::HeldOutTasks => &mut m.held_out[*i],
        };
        slot.rewards.push(r.reward);
        slot.mix.add(StepClass::of(
            &r.feedback,
            r.previous_metric,
            env.direction(task),
        ));
    }
    Ok(m)
}

fn empty() -> StateOutcome {
    StateOutcome {
        rewards: Vec::new(),
        mix: ActionMix::default(),
    }
}

/// A mean with its 95 % interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gain {
    pub mean: f64,
    pub ci95: [f64; 2],
}

/// One split at one curve point: a row of `probe.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbePoint {
    pub rl_step: usize,
    pub split: String,
    pub states: usize,
    /// Mean step reward over every sample.
    pub mean_reward: f64,
    /// Share of samples that improve the validation metric (an unbiased pass@1).
    pub pass_at_1: f64,
    /// Share of states where at least one of the k samples improves it.
    pub pass_at_k: f64,
    /// Per-state mean reward at this point less at the start (the first point), paired over
    /// states, with a bootstrap 95 % interval over states.
    pub gain_vs_start: Gain,
    /// Counts of samples by what they did.
    pub action_mix: ActionMix,
}

/// `probe.json` (a contract: checks outside the tests read it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeFile {
    /// The experiment's root seed (the probe's samples and bootstrap derive from it by name).
    pub seed: u64,
    pub samples_per_state: usize,
    pub points: Vec<ProbePoint>,
}

/// Summarises the measures of a run (the first is the start) into `probe.json`'s rows.
pub(crate) fn summarise(
    root_seed: u64,
    samples_per_state: usize,
    measures: &[Measure],
    seed: &SeedPath,
) -> Result<ProbeFile, RlError> {
    let mut points = Vec::new();
    let Some(start) = measures.first() else {
        return Ok(ProbeFile {
            seed: root_seed,
            samples_per_state,
            points,
        });
    };
    for m in measures {
        for split in ProbeSplit::ALL {
            let now = m.split(split);
            let base = start.split(split);
            if now.len() != base.len() {
                return Err(RlError::Input(format!(
                    "probe point at step {}: {} {} states, the start had {}",
                    m.rl_step,
                    now.len(),
                    split.name(),
                    base.len()
                )));
            }
            let samples: usize = now.iter().map(|s| s.rewards.len()).sum();
            let n = samples.max(1) as f64;
            let mut mix = ActionMix::default();
            for s in now {
                mix.merge(&s.mix);
            }
            let diffs: Vec<f64> = now
                .iter()
                .zip(base)
                .map(|(a, b)| a.mean_reward() - b.mean_reward())
                .collect();
            let gain = bootstrap_mean_ci(
                &diffs,
                RESAMPLES,
                0.95,
                &mut seed.child(m.rl_step).child(split.name()).rng(),
            )
            .map_or(
                Gain {
                    mean: 0.0,
                    ci95: [0.0, 0.0],
                },
                |i| Gain {
                    mean: i.estimate,
                    ci95: [i.lo, i.hi],
                },
            );
            points.push(ProbePoint {
                rl_step: m.rl_step,
                split: split.name().to_string(),
                states: now.len(),
                mean_reward: now.iter().flat_map(|s| &s.rewards).sum::<f64>() / n,
                pass_at_1: mix.improving_edit as f64 / n,
                pass_at_k: now.iter().filter(|s| s.mix.improving_edit > 0).count() as f64
                    / now.len().max(1) as f64,
                gain_vs_start: gain,
                action_mix: mix,
            });
        }
    }
    Ok(ProbeFile {
        seed: root_seed,
        samples_per_state,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(rewards: &[f64], improving: usize) -> StateOutcome {
        let mut mix = ActionMix::default();
        for i in 0..rewards.len() {
            mix.add(if i < improving {
                StepClass::ImprovingEdit
            } else {
                StepClass::NonEdit
            });
        }
        StateOutcome {
            rewards: rewards.to_vec(),
            mix,
        }
    }

    /// pass@1 counts samples, pass@k states; the start's gain is exactly 0 and a later point's
    /// is the paired mean difference.
    #[test]
    fn summary_counts_samples_and_states_and_pairs_the_gain() {
        let start = Measure {
            rl_step: 0,
            held_in: vec![outcome(&[0.5, 0.5], 0), outcome(&[1.0, 0.0], 1)],
            held_out: vec![outcome(&[0.5, 0.5], 0)],
        };
        let later = Measure {
            rl_step: 4,
            held_in: vec![outcome(&[1.0, 0.5], 1), outcome(&[1.0, 1.0], 2)],
            held_out: vec![outcome(&[0.5, 0.5], 0)],
        };
        let f = summarise(7, 2, &[start, later], &SeedPath::root(1)).unwrap();
        assert_eq!(f.points.len(), 4);
        let p0 = &f.points[0];
        assert_eq!(
            (p0.split.as_str(), p0.pass_at_1, p0.pass_at_k),
            ("held-in-states", 0.25, 0.5)
        );
        assert_eq!(p0.gain_vs_start.mean, 0.0);
        assert_eq!(p0.gain_vs_start.ci95, [0.0, 0.0]);
        let p2 = &f.points[2];
        assert_eq!((p2.rl_step, p2.pass_at_1, p2.pass_at_k), (4, 0.75, 1.0));
        assert!((p2.gain_vs_start.mean - 0.375).abs() < 1e-12);
        assert!(p2.gain_vs_start.ci95[0] >= 0.25 - 1e-12 && p2.gain_vs_start.ci95[1] <= 0.5);
        assert_eq!(p2.action_mix.improving_edit, 3);
        let bad = Measure {
            rl_step: 8,
            held_in: vec![],
            held_out: vec![],
        };
        let start = f.points.len();
        assert!(start > 0);
        assert!(
            summarise(
                7,
                2,
                &[
                    Measure {
                        rl_step: 0,
                        held_in: vec![outcome(&[0.5], 0)],
                        held_out: vec![],
                    },
                    bad
                ],
                &SeedPath::root(1)
            )
            .is_err()
        );
    }
}
