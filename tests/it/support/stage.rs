//! Shared by the pipeline tests: the smoke experiment over a fresh store, and its stage context.

#![allow(dead_code)]

use std::path::Path;

use mlagent::config::Experiment;
use mlagent::env::Workbench;
use mlagent::provenance::{CodeVersion, LockWait, Store};
use mlagent::stages::Context;

pub const SMOKE: &str = "experiments/smoke.ron";

/// An experiment with its store and workbench; `ctx()` borrows them as a stage context.
pub struct Fixture {
    pub exp: Experiment,
    pub store: Store,
    pub wb: Workbench,
}

impl Fixture {
    /// The smoke experiment over the store at `root` (created if needed).
    pub fn smoke(root: &Path) -> Self {
        let exp = Experiment::load(Path::new(SMOKE)).expect("the smoke config loads");
        let store = Store::open(root, LockWait::Fail).expect("a fresh store opens");
        let wb = mlagent::stages::workbench(&exp).expect("the bundled tasks load");
        Self { exp, store, wb }
    }

    /// A context whose code version is fixed, so run keys do not depend on the checkout.
    pub fn ctx(&self) -> Context<'_> {
        Context {
            store: &self.store,
            env: &self.wb,
            experiment: &self.exp,
            code: CodeVersion::NoRepository {
                crate_version: "test".into(),
            },
            progress: false,
            offline: true,
        }
    }
}
