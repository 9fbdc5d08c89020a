//! Exact resume: every evaluation point the learner (policy weights, value head, optimiser) is
//! written as a checkpoint of the run's `resume/` folder, and the pointer records the loop's
//! counters and the files' digests (`provenance::checkpoints`: a kill mid-save leaves the
//! previous checkpoint in force; an inconsistent one is discarded and RL restarts). All
//! sampling is named by iteration, so no RNG state is saved: a resumed run repeats the
//! interrupted run's remaining iterations bit for bit.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::actor::{ActorCritic, ValueWeights};
use super::learner::Learner;
use super::{IterationMetrics, RlError};
use crate::lm::hf;
use crate::provenance::checkpoints::{CheckpointError, Checkpoints};
use crate::provenance::{Digest, atomic};
use crate::results::CurvePoint;

pub(crate) const VALUE_FILE: &str = "value_head.json";
pub(crate) const OPTIMIZER_FILE: &str = "optimizer.bpk";

/// The loop's progress at a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// Iterations completed.
    pub iteration: usize,
    pub work_units: f64,
    /// Forward-equivalent policy tokens so far (`driver::update_tokens`).
    pub policy_tokens: f64,
    /// Wall seconds spent so far (over every process that worked on the run).
    pub wall_seconds: f64,
    /// Curve points so far, `wall_seconds` measured.
    pub points: Vec<CurvePoint>,
    pub metrics: Vec<IterationMetrics>,
    /// Measured wall seconds per completed iteration.
    pub iteration_seconds: Vec<f64>,
    /// The probe at every curve point so far, state by state.
    pub probes: Vec<super::probe::Measure>,
    /// The KL coefficient for the next update when `rl.kl_control` adapts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl_coef: Option<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    progress: Progress,
    weights: Digest,
    config: Digest,
    value: Digest,
    optimizer: Digest,
}

impl From<CheckpointError> for RlError {
    fn from(e: CheckpointError) -> Self {
        RlError::File {
            path: e.path.display().to_string(),
            message: e.message,
        }
    }
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> RlError {
    RlError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Writes a checkpoint of the learner and the loop's progress into `resume_dir`.
pub fn save(resume_dir: &Path, learner: &Learner, progress: &Progress) -> Result<(), RlError> {
    let label = format!("iteration-{:06}", progress.iteration);
    Checkpoints::new(resume_dir).save(&label, |dir| {
        let weights = hf::save(dir, &learner.cfg, &learner.ac.policy)?;
        let config = Digest::of_bytes(learner.cfg.to_hf_json().as_bytes());
        let value = serde_json::to_vec(&ValueWeights::of(&learner.ac.value))
            .expect("value weights serialise");
        atomic::write(&dir.join(VALUE_FILE), &value)?;
        let opt = learner
            .optim
            .into_bytes()
            .map_err(|e| file_err(&dir.join(OPTIMIZER_FILE), format!("{e:?}")))?;
        atomic::write(&dir.join(OPTIMIZER_FILE), &opt)?;
        Ok::<_, RlError>(StateFile {
            progress: progress.clone(),
            weights,
            config,
            value: Digest::of_bytes(&value),
            optimizer: Digest::of_bytes(&opt),
        })
    })
}

fn read_verified(dir: &Path, name: &str, want: &Digest) -> Result<Vec<u8>, RlError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| file_err(&path, e))?;
    let got = Digest::of_bytes(&bytes);
    if &got != want {
        return Err(file_err(
            &path,
            format!("digest {got} does not match {want} recorded by the resume pointer"),
        ));
    }
    Ok(bytes)
}

/// Restores `learner` from the checkpoint in `resume_dir`, if there is one; returns its
/// progress. A checkpoint whose files do not match the pointer's digests is discarded, naming
/// it, and RL starts from the SFT policy again.
pub fn load(resume_dir: &Path, learner: &mut Learner) -> Result<Option<Progress>, RlError> {
    let restored = Checkpoints::new(resume_dir).resume(|dir, state: StateFile| {
        let cfg_bytes = read_verified(dir, hf::CONFIG_FILE, &state.config)?;
        if cfg_bytes != learner.cfg.to_hf_json().as_bytes() {
            return Err(file_err(
                &dir.join(hf::CONFIG_FILE),
                "the checkpoint's model config differs from the SFT policy's",
            ));
        }
        let w = read_verified(dir, hf::WEIGHTS_FILE, &state.weights)?;
        let tensors =
            crate::lm::safetensors::parse(&w, &dir.join(hf::WEIGHTS_FILE).display().to_string())?;
        let policy = crate::lm::Qwen2::from_tensors(&learner.cfg, &tensors, &learner.train_device)?;
        let v = read_verified(dir, VALUE_FILE, &state.value)?;
        let value: ValueWeights =
            serde_json::from_slice(&v).map_err(|e| file_err(&dir.join(VALUE_FILE), e))?;
        let opt = read_verified(dir, OPTIMIZER_FILE, &state.optimizer)?;
        let optim = learner
            .rl
            .optim
            .build()
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(opt))
            .map_err(|e| file_err(&dir.join(OPTIMIZER_FILE), format!("{e:?}")))?;
        Ok::<_, RlError>((policy, value, optim, state.progress))
    })?;
    Ok(restored.map(|(policy, value, optim, progress)| {
        learner.ac = ActorCritic {
            policy,
            value: value.to_head(&learner.train_device),
        };
        learner.optim = optim;
        progress
    }))
}
