//! The episode-wise baseline: each iteration the current policy plays whole episodes from the
//! held-in tasks' starters (round-robin over tasks), and every step becomes a PPO sample whose
//! value target is its Monte-Carlo discounted return `G_t = r_t + γ G_{t+1}` (no bootstrapping,
//! no GAE: an episode always ends, by Final Answer or its step limit). Work is charged exactly
//! as step-wise RL charges it, step by step.

use std::collections::BTreeMap;

use super::driver::Collected;
use super::learner::{Learner, tokens_of};
use super::ppo::discounted_returns;
use super::{Algorithm, RlError, Sample};
use crate::agent::environment::Environment;
use crate::agent::episode::{EpisodeJob, run_episodes};
use crate::agent::lm_policy::LmPolicy;
use crate::agent::policy::{ActionTokens, Policy, PolicyError, PolicyInput, PolicyOutput};
use crate::env::StepClass;
use crate::seed::SeedPath;

/// The acting policy, keeping each decision's token ids, keyed by (episode, step).
struct Recording {
    policy: LmPolicy,
    taken: BTreeMap<(usize, usize), PolicyOutput>,
}

impl Policy for Recording {
    fn name(&self) -> &str {
        self.policy.name()
    }

    fn act(
        &mut self,
        input: &PolicyInput<'_>,
        seed: &SeedPath,
    ) -> Result<PolicyOutput, PolicyError> {
        let mut out = self.act_batch(std::slice::from_ref(input), std::slice::from_ref(seed))?;
        Ok(out.remove(0))
    }

    fn act_batch(
        &mut self,
        inputs: &[PolicyInput<'_>],
        seeds: &[SeedPath],
    ) -> Result<Vec<PolicyOutput>, PolicyError> {
        let outs = self.policy.act_batch(inputs, seeds)?;
        for (input, o) in inputs.iter().zip(&outs) {
            let step = input.history.len().saturating_sub(1) / 2;
            self.taken.insert((input.episode, step), o.clone());
        }
        Ok(outs)
    }
}

/// Collects iteration `iteration`'s samples; `seed` is the stage's stream.
pub fn collect<E: Environment>(
    env: &E,
    tasks: &[&E::Task],
    learner: &Learner,
    iteration: usize,
    seed: &SeedPath,
    run_seed: u64,
) -> Result<Collected, RlError> {
    let cfg = &learner.rl.episode;
    let group = group_size(learner);
    let jobs: Vec<EpisodeJob<'_, E::Task>> = (0..cfg.episodes_per_iteration)
        .map(|j| {
            let task = tasks[episode_slot(j, group, tasks.len()).0];
            EpisodeJob {
                task,
                seed: seed.child("rollout").child(iteration).child(j),
                run_seed,
                max_steps: cfg.max_steps.min(env.max_steps(task)),
            }
        })
        .collect();
    let mut policy = Recording {
        policy: learner.rollout_policy("rl-episode")?,
        taken: BTreeMap::new(),
    };
    let episodes = run_episodes(env, &jobs, &mut policy)?;
    let mut out = Collected::default();
    for (j, (ep, job)) in episodes.iter().zip(&jobs).enumerate() {
        let recorded: Vec<_> = ep.steps.iter().map(|s| s.recorded()).collect();
        let states = env.states_of(job.task, &recorded, run_seed)?;
        let rewards: Vec<f64> = ep.steps.iter().map(|s| s.reward).collect();
        let g = discounted_returns(&rewards, cfg.gamma);
        let episode_return = g.first().copied().unwrap_or(0.0);
        for (t, st) in ep.steps.iter().enumerate() {
            let o = policy.taken.remove(&(j, t)).ok_or_else(|| {
                RlError::Input(format!("episode {j} step {t}: no recorded decision"))
            })?;
            let ActionTokens { prompt, action } = tokens_of(o)?;
            out.generated_tokens += (prompt.len() + action.len()) as f64;
            out.work_units += env.work(job.task, &st.feedback, &states[t + 1], run_seed)?;
            out.mix.add(StepClass::of(
                &st.feedback,
                st.previous_metric,
                env.direction(job.task),
            ));
            out.samples.push(Sample {
                prompt,
                action,
                reward: st.reward,
                target: g[t],
                outcome: episode_return,
                group: episode_slot(j, group, tasks.len()).1,
            });
        }
    }
    Ok(out)
}

/// Episode `j`'s (task index, comparison group) for groups of `group` episodes over `tasks`.
fn episode_slot(j: usize, group: usize, tasks: usize) -> (usize, usize) {
    ((j / group) % tasks, j / group)
}

/// Episodes per comparison group. GRPO compares like with like: `rl.samples_per_state`
/// consecutive episodes start from the same task, and each step's advantage is its episode's
/// return less the mean return of the group's episodes (trajectory-level credit, as GRPO gives
/// a whole completion one advantage). PPO needs no groups: one episode per task in turn.
fn group_size(learner: &Learner) -> usize {
    match learner.rl.algorithm {
        Algorithm::Grpo => learner.rl.samples_per_state.max(1),
        Algorithm::Ppo => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GRPO group is `group` episodes of one task (before the fix, `j % tasks` made every
    /// group of 4 episodes over 9 tasks a single episode compared with itself); PPO keeps one
    /// episode per task in turn.
    #[test]
    fn grpo_groups_hold_episodes_of_one_task() {
        let slots: Vec<(usize, usize)> = (0..6).map(|j| episode_slot(j, 2, 9)).collect();
        assert_eq!(slots, vec![(0, 0), (0, 0), (1, 1), (1, 1), (2, 2), (2, 2)]);
        let ppo: Vec<usize> = (0..11).map(|j| episode_slot(j, 1, 9).0).collect();
        assert_eq!(ppo, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1]);
    }
}
