//! The `ideas` and `expert` stages on the smoke profile: deterministic across fresh stores,
//! reused when inputs are unchanged, and trajectories in the shape LLaMA-Factory reads.

use crate::support::stage as stage_support;
use stage_support::Fixture;
use std::path::Path;

use mlagent::agent::conversation::{Role, read_jsonl};
use mlagent::config::Experiment;
use mlagent::stages::{expert, ideas};

fn smoke() -> Experiment {
    Experiment::load(Path::new("experiments/smoke.ron")).expect("the smoke config loads")
}

/// Runs ideas → expert in a fresh store; returns (ideas digest, expert digest, expert dir).
fn run_once(root: &Path) -> (String, String, std::path::PathBuf, bool) {
    let fx = Fixture::smoke(root);
    let ctx = fx.ctx();
    let i = ideas::run(&ctx).unwrap();
    let e = expert::run(&ctx, &i).unwrap();
    (
        i.manifest.digest.to_string(),
        e.manifest.digest.to_string(),
        e.dir.clone(),
        e.reused,
    )
}

#[test]
fn expert_stage_is_deterministic_reused_and_sharegpt_shaped() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (ia, ea, dir, reused) = run_once(a.path());

    assert!(!reused);
    let (ib, eb, _, _) = run_once(b.path());
    assert_eq!(ia, ib, "ideas digests of two fresh stores");
    assert_eq!(ea, eb, "expert digests of two fresh stores");
    let (_, ea2, _, reused2) = run_once(a.path());
    assert_eq!(ea, ea2);
    assert!(
        reused2,
        "the second run in the same store reuses the expert run"
    );

    let exp = smoke();
    let convs = read_jsonl(&dir.join(expert::TRAJECTORIES_FILE)).unwrap();
    assert_eq!(
        convs.len(),
        exp.train_tasks.len() * exp.expert.episodes_per_task
    );
    for c in &convs {
        assert_eq!(c.conversations.first().unwrap().from, Role::Human);
        assert_eq!(c.conversations.last().unwrap().from, Role::Gpt);
    }
    let episodes = expert::read_episodes(&dir.join(expert::EPISODES_FILE)).unwrap();
    assert_eq!(episodes.len(), convs.len());
    // The expert improves on the starter on at least one episode of every task.
    for t in &exp.train_tasks {
        assert!(
            episodes
                .iter()
                .filter(|e| &e.task_id == t)
                .any(|e| e.best_metric != e.starter_metric),
            "no expert episode on {t} improved the starter"
        );
    }
}
