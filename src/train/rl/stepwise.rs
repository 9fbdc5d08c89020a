//! Step-wise RL (paper §3.2): each iteration samples states from the expert state pool, lets
//! the current policy generate actions for each (`samples_per_state`), executes every action
//! once in the workbench (in parallel, cached, collected in order) and scores it with the
//! reward: E_{s ~ d_expert, a ~ π_θ(·|s)} [R(s, a)].

use rayon::prelude::*;

use super::RlError;
use super::Sample;
use super::driver::Collected;
use super::learner::{Learner, tokens_of};
use super::state_pool::StatePool;
use crate::agent::environment::Environment;
use crate::agent::knobs::knobs_of;
use crate::agent::policy::{Policy, PolicyInput};
use crate::env::StepClass;
use crate::seed::SeedPath;

/// Collects iteration `iteration`'s samples; `seed` is the stage's stream.
pub fn collect<E: Environment>(
    env: &E,
    pool: &StatePool<E::State>,
    tasks: &[&E::Task],
    learner: &Learner,
    iteration: usize,
    seed: &SeedPath,
    run_seed: u64,
) -> Result<Collected, RlError> {
    if pool.is_empty() {
        return Err(RlError::Input(
            "the expert state pool is empty: the expert stage produced no steps".into(),
        ));
    }
    let rl = &learner.rl;
    let picks = pool.sample(
        rl.states_per_iteration,
        &seed.child("states").child(iteration),
    );
    let mut drafts = Vec::new();
    for (k, &si) in picks.iter().enumerate() {
        let state = &pool.states[si];
        let task = *tasks
            .iter()
            .find(|t| env.task_id(t) == state.task_id)
            .ok_or_else(|| RlError::Input(format!("state of unknown task {}", state.task_id)))?;
        let knobs = env
            .typed_script(&state.env_state)
            .map(knobs_of)
            .unwrap_or_default();
        for j in 0..rl.samples_per_state {
            drafts.push((k, j, task, state, knobs.clone()));
        }
    }
    let inputs: Vec<PolicyInput<'_>> = drafts
        .iter()
        .enumerate()
        .map(|(i, (_, _, task, state, knobs))| PolicyInput {
            task_id: env.task_id(task),
            episode: i,
            history: &state.history,
            knobs,
        })
        .collect();
    let seeds: Vec<SeedPath> = drafts
        .iter()
        .map(|(k, j, ..)| seed.child("actions").child(iteration).child(*k).child(*j))
        .collect();
    let mut policy = learner.rollout_policy("rl")?;
    let outs = policy
        .act_batch(&inputs, &seeds)
        .map_err(crate::agent::episode::EpisodeError::from)?;
    let results: Vec<Result<_, RlError>> = drafts
        .par_iter()
        .zip(outs.par_iter())
        .map(|((_, _, task, state, _), out)| {
            let r = env.step(task, &state.env_state, &out.text, run_seed)?;
            let w = env.work(task, &r.feedback, &r.next, run_seed)?;
            Ok((r, w))
        })
        .collect();
    let mut out = Collected::default();
    for (((k, _, task, ..), o), r) in drafts.iter().zip(outs).zip(results) {
        let (r, work) = r?;
        out.work_units += work;
        out.mix.add(StepClass::of(
            &r.feedback,
            r.previous_metric,
            env.direction(task),
        ));
        let t = tokens_of(o)?;
        out.generated_tokens += (t.prompt.len() + t.action.len()) as f64;
        out.samples.push(Sample {
            prompt: t.prompt,
            action: t.action,
            reward: r.reward,
            target: r.reward,
            outcome: r.reward,
            group: *k,
        });
    }
    Ok(out)
}
