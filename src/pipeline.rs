//! Running a stage through the store: reuse a complete, verified run with the same inputs, or
//! (re)do it and record its manifest. Every stage of the pipeline goes through `run_stage`,
//! which owns the stage contract: the run key holds the digest of the stage's canonical config,
//! and that config is the run's first content output, `config.json`, written before the body
//! runs.

use std::path::PathBuf;

use serde::Serialize;

use crate::provenance::canonical::{CanonicalError, to_canonical_bytes};
use crate::provenance::manifest::RUN_CONFIG_FILE;
use crate::provenance::{
    CodeVersion, Digest, Manifest, Parent, RunBuilder, RunKey, Store, StoreError,
};

/// What identifies a stage run: its key, and the canonical config whose digest the key holds.
#[derive(Clone, Debug)]
pub struct StageInput {
    pub key: RunKey,
    config: Vec<u8>,
}

impl StageInput {
    /// The input of `stage` with `config` (everything the run's result depends on besides its
    /// parents, the seed, the backend and the code).
    pub fn new<C: Serialize>(
        stage: &str,
        config: &C,
        parents: Vec<Parent>,
        seed: u64,
        backend: &str,
        code: CodeVersion,
    ) -> Result<Self, CanonicalError> {
        let config = to_canonical_bytes(config)?;
        Ok(StageInput {
            key: RunKey {
                stage: stage.to_string(),
                config_digest: Digest::of_bytes(&config),
                parents,
                seed,
                backend: backend.to_string(),
                code,
            },
            config,
        })
    }
}

/// The files a stage body produced, relative to its run folder.
#[derive(Clone, Debug, Default)]
pub struct StageOutputs {
    /// Deterministic outputs that define the run's identity.
    pub content: Vec<String>,
    /// Resume state: integrity-checked, not part of the identity.
    pub auxiliary: Vec<String>,
}

/// A finished (or reused) stage run.
#[derive(Clone, Debug)]
pub struct StageRun {
    pub manifest: Manifest,
    pub dir: PathBuf,
    /// Whether the run was found complete in the store rather than computed now.
    pub reused: bool,
}

impl StageRun {
    pub fn path(&self, output: &str) -> PathBuf {
        self.dir.join(output)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StageError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stage {stage}: {source}")]
    Body {
        stage: String,
        #[source]
        source: E,
    },
    /// A stop was requested (`crate::interrupt`) before the stage started.
    #[error("{0}")]
    Interrupted(String),
}

/// Reuses the complete run for `input` or runs `body` in a fresh (or resumed) run folder, after
/// writing its `config.json`; the body lists only its own outputs.
pub fn run_stage<E: std::error::Error + 'static>(
    store: &Store,
    input: &StageInput,
    resumable: bool,
    body: impl FnOnce(&RunBuilder) -> Result<StageOutputs, E>,
) -> Result<StageRun, StageError<E>> {
    let key = &input.key;
    let dir = store.run_dir(key);
    if let Some(manifest) = store.find(key)? {
        tracing::info!(stage = %key.stage, run = %dir.display(), "reusing a verified run");
        return Ok(StageRun {
            manifest,
            dir,
            reused: true,
        });
    }
    if crate::interrupt::requested() {
        return Err(StageError::Interrupted(crate::interrupt::before_stage(
            &key.stage,
        )));
    }
    tracing::info!(stage = %key.stage, run = %dir.display(), "running");
    let run = store.begin(key, resumable)?;
    crate::provenance::atomic::write(&run.dir().join(RUN_CONFIG_FILE), &input.config)
        .map_err(StoreError::from)?;
    let outputs = body(&run).map_err(|source| StageError::Body {
        stage: key.stage.clone(),
        source,
    })?;
    let content: Vec<&str> = std::iter::once(RUN_CONFIG_FILE)
        .chain(outputs.content.iter().map(String::as_str))
        .collect();
    let auxiliary: Vec<&str> = outputs.auxiliary.iter().map(String::as_str).collect();
    let manifest = run.finish(&content, &auxiliary)?;
    Ok(StageRun {
        manifest,
        dir,
        reused: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::LockWait;

    fn input() -> StageInput {
        let code = CodeVersion::NoRepository {
            crate_version: "t".into(),
        };
        StageInput::new("ideas", &"c", vec![], 1, "flex", code).unwrap()
    }

    #[test]
    fn second_call_reuses_and_failed_body_leaves_no_run() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path(), LockWait::Fail).unwrap();
        let failed = run_stage(&store, &input(), false, |_| {
            Err::<StageOutputs, _>(std::io::Error::other("boom"))
        });
        assert!(
            failed
                .unwrap_err()
                .to_string()
                .contains("stage ideas: boom")
        );
        assert!(store.find(&input().key).unwrap().is_none());
        let mut calls = 0;
        for _ in 0..2 {
            let r = run_stage(&store, &input(), false, |run| {
                calls += 1;
                std::fs::write(run.dir().join("ideas.ron"), "()").map(|_| StageOutputs {
                    content: vec!["ideas.ron".into()],
                    auxiliary: vec![],
                })
            })
            .unwrap();
            assert!(r.path("ideas.ron").exists());
            // The contract: config.json is written by the pipeline, listed first, and its
            // digest is the key's config digest.
            let config = std::fs::read(r.path(RUN_CONFIG_FILE)).unwrap();
            assert_eq!(Digest::of_bytes(&config), input().key.config_digest);
            assert_eq!(r.manifest.outputs[0].path, RUN_CONFIG_FILE);
        }
        assert_eq!(calls, 1, "the second call reuses the complete run");
    }
}
