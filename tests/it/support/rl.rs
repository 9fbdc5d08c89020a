//! Shared by the RL tests: the pipeline ideas → expert → sft → rl (→ rl-episode) on a store.

#![allow(dead_code)]

use std::path::Path;

use mlagent::config::Experiment;
use mlagent::provenance::{CodeVersion, LockWait, Store};
use mlagent::stages::{Context, expert, ideas, rl, sft};

pub fn smoke() -> Experiment {
    Experiment::load(Path::new("experiments/smoke.ron")).expect("the smoke config loads")
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

/// ideas → expert → sft → rl (→ rl-episode) in the store at `root`.
pub fn pipeline(root: &Path, exp: &Experiment, until: Until) -> Digests {
    let store = Store::open(root, LockWait::Wait).unwrap();
    let wb = mlagent::stages::workbench(exp).unwrap();
    let ctx = Context {
        store: &store,
        env: &wb,
        experiment: exp,
        code: CodeVersion::NoRepository {
            crate_version: "test".into(),
        },
        progress: false,
        offline: true,
    };
    let i = ideas::run(&ctx).unwrap();
    let e = expert::run(&ctx, &i).unwrap();
    let s = sft::run(&ctx, &e).unwrap();
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
