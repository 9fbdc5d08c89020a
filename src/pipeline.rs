//! Running a stage through the store: reuse a complete, verified run with the same inputs, or
//! (re)do it and record its manifest. Every stage of the pipeline goes through `run_stage`.

use std::path::PathBuf;

use crate::provenance::{Manifest, RunBuilder, RunKey, Store, StoreError};

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

/// Reuses the complete run for `key` or runs `body` in a fresh (or resumed) run folder.
pub fn run_stage<E: std::error::Error + 'static>(
    store: &Store,
    key: &RunKey,
    resumable: bool,
    body: impl FnOnce(&RunBuilder) -> Result<StageOutputs, E>,
) -> Result<StageRun, StageError<E>> {
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
    let outputs = body(&run).map_err(|source| StageError::Body {
        stage: key.stage.clone(),
        source,
    })?;
    let content: Vec<&str> = outputs.content.iter().map(String::as_str).collect();
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
    use crate::provenance::{CodeVersion, LockWait, digest_of};

    fn key() -> RunKey {
        RunKey {
            stage: "ideas".into(),
            config_digest: digest_of(&"c").unwrap(),
            parents: vec![],
            seed: 1,
            backend: "flex".into(),
            code: CodeVersion::NoRepository {
                crate_version: "t".into(),
            },
        }
    }

    #[test]
    fn second_call_reuses_and_failed_body_leaves_no_run() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path(), LockWait::Fail).unwrap();
        let failed = run_stage(&store, &key(), false, |_| {
            Err::<StageOutputs, _>(std::io::Error::other("boom"))
        });
        assert!(
            failed
                .unwrap_err()
                .to_string()
                .contains("stage ideas: boom")
        );
        assert!(store.find(&key()).unwrap().is_none());
        let mut calls = 0;
        for _ in 0..2 {
            let r = run_stage(&store, &key(), false, |run| {
                calls += 1;
                std::fs::write(run.dir().join("ideas.ron"), "()").map(|_| StageOutputs {
                    content: vec!["ideas.ron".into()],
                    auxiliary: vec![],
                })
            })
            .unwrap();
            assert!(r.path("ideas.ron").exists());
        }
        assert_eq!(calls, 1, "the second call reuses the complete run");
    }
}
