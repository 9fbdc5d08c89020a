//! The eval stage with a language-model agent plugged in by policy directory, as the SFT and RL
//! stages will: an untrained tiny policy in a stand-in run folder is evaluated beside the
//! built-in agents, deterministically, and its checkpoint appears in the report's lineage.

use crate::support::stage as stage_support;
use stage_support::Fixture;
use std::path::Path;

use mlagent::agent::conversation::read_jsonl;
use mlagent::lm::tokenizer::ChatTokenizer;
use mlagent::lm::{Qwen2, Qwen2Config, hf};
use mlagent::paper::{Agent, Level};
use mlagent::pipeline::{StageOutputs, run_stage};
use mlagent::stages::report::{self, PaperSources, Target};
use mlagent::stages::{StageBodyError, eval, expert, ideas};

/// Runs ideas → expert → an untrained "sft" policy → eval → report; returns (eval digest,
/// results, lineage text).
fn run_once(root: &Path) -> (String, mlagent::results::ResultsTable, String) {
    let fx = Fixture::smoke(root);
    let exp = &fx.exp;
    let ctx = fx.ctx();
    let i = ideas::run(&ctx).unwrap();
    let e = expert::run(&ctx, &i).unwrap();
    let input = ctx.input("untrained-policy", &exp.policy, &[], &[&e]);
    let policy = run_stage(ctx.store, &input, false, |run| {
        let convs = read_jsonl(&e.path(expert::TRAJECTORIES_FILE)).unwrap();
        let corpus: Vec<String> = convs
            .iter()
            .flat_map(|c| c.conversations.iter().map(|t| t.value.clone()))
            .collect();
        let tok = ChatTokenizer::train_bpe(&corpus, exp.policy.vocab_size)?;
        let dir = run.dir().join(mlagent::stages::POLICY_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        tok.save(&dir.join("tokenizer.json"))?;
        let cfg = Qwen2Config::named(&exp.policy.model, tok.vocab_size())?;
        let device = exp.backend.device().unwrap();
        let model = Qwen2::init(&cfg, &ctx.seed().child("untrained-policy"), &device)?;
        hf::save(&dir, &cfg, &model)?;
        Ok::<_, StageBodyError>(StageOutputs {
            content: vec![
                "policy/tokenizer.json".into(),
                "policy/config.json".into(),
                "policy/model.safetensors".into(),
            ],
            auxiliary: vec![],
        })
    })
    .unwrap();
    let ev = eval::run(&ctx, &i, &[(Agent::Sft, &policy)]).unwrap();
    let results = eval::read_results(&ev.path(eval::RESULTS_FILE)).unwrap();
    let sources = PaperSources::load(Path::new(".")).unwrap();
    let rep = report::run(&ctx, Target::Table1, &sources, Some(&ev), &[]).unwrap();
    let lineage = std::fs::read_to_string(rep.path(report::LINEAGE_FILE)).unwrap();
    (ev.manifest.digest.to_hex(), results, lineage)
}

#[test]
fn an_lm_agent_plugs_in_by_policy_directory_deterministically() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (da, results, lineage) = run_once(a.path());
    let (db, _, _) = run_once(b.path());
    assert_eq!(da, db, "eval digests of two fresh stores");
    assert_eq!(
        results.agents(),
        vec![
            Agent::Random,
            Agent::NonEnrichedExpert,
            Agent::Expert,
            Agent::Sft
        ]
    );
    for t in &results.tasks {
        assert!(t.cell(Agent::Sft, Level::Best).is_some());
    }
    assert!(
        lineage.contains("untrained-policy/policy/model.safetensors"),
        "the checkpoint is in the lineage: {lineage}"
    );
}
