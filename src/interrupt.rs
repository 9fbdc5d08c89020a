//! Stopping on request. SIGINT and SIGTERM set one process-wide flag that every stage polls at
//! its safe points (SFT between optimiser steps, RL between iterations, each after writing its
//! checkpoint; every stage before it starts); a second signal exits at once with status 130.
//! The commands that run stages call [`install`]; a library caller that never does sees no
//! request, so tests and embedders keep their own signal handling.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
static INSTALLED: OnceLock<()> = OnceLock::new();

/// The process-wide stop flag (set by the handlers [`install`] registers).
pub fn flag() -> Arc<AtomicBool> {
    Arc::clone(FLAG.get_or_init(|| Arc::new(AtomicBool::new(false))))
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    flag().load(Ordering::SeqCst)
}

/// Registers the handlers, once per process (later calls do nothing). They stay for the
/// process's life: a handler unregistered halfway would leave the signal ignored.
pub fn install() -> std::io::Result<()> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let flag = flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the shutdown hook sees the flag before this signal sets it, so only
        // a second signal exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&flag))?;
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    let _ = INSTALLED.set(());
    Ok(())
}

/// The message of a stage that stops before it starts.
pub(crate) fn before_stage(stage: &str) -> String {
    format!("interrupted before stage {stage} started; run again to go on from here")
}
