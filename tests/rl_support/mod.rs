//! TEST FIXTURE: a stand-in `sft` stage so the RL stages can be tested before the real SFT
//! stage lands. It trains a BPE tokenizer on the expert trajectories, initialises the
//! experiment's policy architecture, and takes a few plain SFT steps on the assistant turns;
//! its run folder has the real stage's `policy/` layout. Not used outside tests.

#![allow(dead_code)]

use std::path::Path;

use burn::tensor::Device;
use mlagent::agent::conversation::{Role, read_jsonl};
use mlagent::agent::lm_policy::TOKENIZER_FILE;
use mlagent::agent::prompt;
use mlagent::config::Experiment;
use mlagent::env::Workbench;
use mlagent::lm::chat::{Message, Role as ChatRole, render};
use mlagent::lm::tokenizer::ChatTokenizer;
use mlagent::lm::train::{Batch, OptimConfig, Trainer};
use mlagent::lm::{Qwen2, Qwen2Config, hf};
use mlagent::pipeline::{StageOutputs, StageRun, run_stage};
use mlagent::provenance::{CodeVersion, LockWait, Store};
use mlagent::stages::{Context, StageBodyError, expert, ideas, rl};
use mlagent::tasks::Registry;

pub fn smoke() -> Experiment {
    Experiment::load(Path::new("experiments/smoke.ron")).expect("the smoke config loads")
}

/// The fixture `sft` stage: `steps` SFT steps of 2 conversations each at lr 3e-3.
pub fn fixture_sft(ctx: &Context<'_>, expert_run: &StageRun, steps: usize) -> StageRun {
    let exp = ctx.experiment;
    let tasks = ctx.tasks(&exp.train_tasks).unwrap();
    let cfg = ("fixture-sft", &exp.policy, steps);
    let key = ctx.key("sft", &cfg, &tasks, &[expert_run]);
    run_stage(
        ctx.store,
        &key,
        false,
        |run| -> Result<StageOutputs, StageBodyError> {
            let convs = read_jsonl(&expert_run.path(expert::TRAJECTORIES_FILE))?;
            let mut corpus = vec![prompt::SYSTEM.to_string()];
            for c in &convs {
                corpus.extend(c.conversations.iter().map(|t| t.value.clone()));
            }
            let tok = ChatTokenizer::train_bpe(&corpus, exp.policy.vocab_size)?;
            let mcfg = Qwen2Config::named(&exp.policy.model, tok.vocab_size())?;
            let device = Device::flex().autodiff();
            let model = Qwen2::init(&mcfg, &ctx.seed().child("sft-fixture"), &device)?;
            let mut trainer = Trainer::new(
                model,
                OptimConfig {
                    lr: 3e-3,
                    ..OptimConfig::default()
                },
            );
            let rows: Vec<(Vec<u32>, Vec<bool>)> = convs
                .iter()
                .map(|c| {
                    let mut msgs = vec![Message::new(ChatRole::System, prompt::SYSTEM)];
                    for t in &c.conversations {
                        let role = match t.from {
                            Role::Human => ChatRole::User,
                            Role::Gpt => ChatRole::Assistant,
                        };
                        msgs.push(Message::new(role, t.value.clone()));
                    }
                    let r = render(&tok, &msgs, false).unwrap();
                    let n = r.ids.len().min(exp.policy.context_tokens);
                    (r.ids[..n].to_vec(), r.assistant_mask[..n].to_vec())
                })
                .filter(|(_, m)| m[1..].iter().any(|&x| x))
                .collect();
            for s in 0..steps {
                let batch: Vec<_> = (0..2)
                    .map(|i| rows[(2 * s + i) % rows.len()].clone())
                    .collect();
                trainer.step(&Batch::pad(batch, tok.end_of_text)?, &device)?;
            }
            let pdir = run.dir().join("policy");
            std::fs::create_dir_all(&pdir).unwrap();
            tok.save(&pdir.join(TOKENIZER_FILE))?;
            hf::save(&pdir, &mcfg, &trainer.model)?;
            Ok(StageOutputs {
                content: vec![
                    "policy/tokenizer.json".into(),
                    "policy/config.json".into(),
                    "policy/model.safetensors".into(),
                ],
                auxiliary: vec![],
            })
        },
    )
    .unwrap()
}

/// The digests of one pipeline pass.
pub struct Digests {
    pub rl: Option<String>,
    pub rl_dir: Option<std::path::PathBuf>,
    pub episode: Option<String>,
    pub episode_dir: Option<std::path::PathBuf>,
}

/// Which RL stages to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Until {
    Sft,
    Rl,
    Both,
}

/// ideas → expert → fixture sft → rl (→ rl-episode) in the store at `root`.
pub fn pipeline(root: &Path, exp: &Experiment, sft_steps: usize, until: Until) -> Digests {
    let store = Store::open(root, LockWait::Wait).unwrap();
    let wb = Workbench::new(Registry::load_default().unwrap());
    let ctx = Context {
        store: &store,
        workbench: &wb,
        experiment: exp,
        code: CodeVersion::NoRepository {
            crate_version: "test".into(),
        },
        progress: false,
    };
    let i = ideas::run(&ctx).unwrap();
    let e = expert::run(&ctx, &i).unwrap();
    let s = fixture_sft(&ctx, &e, sft_steps);
    let mut d = Digests {
        rl: None,
        rl_dir: None,
        episode: None,
        episode_dir: None,
    };
    if until != Until::Sft {
        let r = rl::run(&ctx, &e, &s).unwrap();
        d.rl = Some(r.manifest.digest.to_string());
        d.rl_dir = Some(r.dir.clone());
    }
    if until == Until::Both {
        let r = rl::run_episode(&ctx, &e, &s).unwrap();
        d.episode = Some(r.manifest.digest.to_string());
        d.episode_dir = Some(r.dir.clone());
    }
    d
}
