//! Step-wise RL (paper §3.2): each iteration samples states from the expert state pool, lets
//! the current policy generate actions for each (`samples_per_state`), executes every action
//! once in the workbench (in parallel, cached, collected in order) and scores it with the
//! reward: E_{s ~ d_expert, a ~ π_θ(·|s)} [R(s, a)].

use rayon::prelude::*;

use super::RlError;
use super::Sample;
use super::actor::sample_action;
use super::driver::{Collected, step_work};
use super::learner::Learner;
use super::state_pool::StatePool;
use crate::env::{Feedback, Script, Workbench};
use crate::seed::SeedPath;
use crate::tasks::Task;

/// Collects iteration `iteration`'s samples; `seed` is the stage's stream.
pub fn collect(
    wb: &Workbench,
    pool: &StatePool,
    tasks: &[&Task],
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
    let model = learner.snapshot()?;
    let mut drafts = Vec::new();
    for (k, &si) in picks.iter().enumerate() {
        let state = &pool.states[si];
        let task = *tasks
            .iter()
            .find(|t| t.spec.id == state.task_id)
            .ok_or_else(|| RlError::Input(format!("state of unknown task {}", state.task_id)))?;
        for j in 0..rl.samples_per_state {
            let s = sample_action(
                &model,
                &learner.tok,
                &state.history,
                &learner.sampling,
                learner.context_tokens,
                &seed.child("actions").child(iteration).child(k).child(j),
                &learner.infer_device,
            )?;
            drafts.push((k, task, state, s));
        }
    }
    let results: Vec<Result<(f64, f64, Feedback), RlError>> = drafts
        .par_iter()
        .map(|(_, task, state, s)| {
            let script = Script::parse(task.spec.data_type, &state.script).map_err(|e| {
                RlError::Input(format!("task {}: pooled script: {e}", task.spec.id))
            })?;
            let r = wb.step(task, &script, &s.text, run_seed)?;
            let w = step_work(wb, task, &r.feedback, &r.next_script, run_seed)?;
            Ok((r.reward, w, r.feedback))
        })
        .collect();
    let mut out = Collected::default();
    for ((k, _, _, s), r) in drafts.into_iter().zip(results) {
        let (reward, work, feedback) = r?;
        out.work_units += work;
        match feedback {
            Feedback::Success { .. } => out.successes += 1,
            Feedback::InvalidAction { .. } => out.invalid += 1,
            _ => {}
        }
        out.samples.push(Sample {
            prompt: s.prompt,
            action: s.action,
            reward,
            target: reward,
            outcome: reward,
            group: k,
        });
    }
    Ok(out)
}
