//! Training checkpoints: a HF directory whose weights are the *content* (deterministic bytes,
//! digest = identity) plus the optimiser state as an *auxiliary* file (burn's record format,
//! not byte-reproducible: it is a HashMap dump) that is hashed for integrity only.
//!
//! Exact resume works from the safetensors weights alone plus the optimiser file because every
//! parameter's burn `ParamId` is derived from its HF name (see `model::param_id`): AdamW's
//! moments, keyed by ParamId, find their parameters again in a freshly loaded model.

use std::path::Path;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::Qwen2Config;
use super::train::{OptimConfig, Trainer};
use super::{LmError, hf};
use crate::provenance::manifest::{OutputFile, OutputRole};
use crate::provenance::{Digest, atomic};

pub const MANIFEST_FILE: &str = "checkpoint.json";
pub(crate) const OPTIMIZER_FILE: &str = "optimizer.bpk";

/// `checkpoint.json`: what a checkpoint holds and the digest of each file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointManifest {
    pub format: String,
    pub step: u64,
    pub optim: OptimConfig,
    /// Content: sha256 of `model.safetensors` (same weights → same digest).
    pub weights: Digest,
    /// Content: sha256 of `config.json`.
    pub config: Digest,
    /// Auxiliary: sha256 of `optimizer.bpk` (integrity only; never part of an identity).
    pub optimizer: Digest,
}

const FORMAT: &str = "mlagent-lm-checkpoint-v1";

impl CheckpointManifest {
    /// The checkpoint's identity: covers config and weights, not the optimiser bytes.
    pub fn content_digest(&self) -> Digest {
        let mut h = crate::provenance::Hasher::new();
        h.update(b"mlagent-lm-content-v1\0");
        h.update(self.config.as_bytes());
        h.update(self.weights.as_bytes());
        h.finish()
    }
}

/// The checkpoint's files as stage-manifest outputs, paths prefixed by `prefix` (the
/// checkpoint folder relative to the run folder, `/`-separated, may be empty): weights and
/// config are *content*; the optimiser state and `checkpoint.json` (which records the
/// optimiser's digest) are *auxiliary*.
pub fn output_files(dir: &Path, prefix: &str) -> Result<Vec<OutputFile>, LmError> {
    let files = [
        (hf::CONFIG_FILE, OutputRole::Content),
        (hf::WEIGHTS_FILE, OutputRole::Content),
        (OPTIMIZER_FILE, OutputRole::Auxiliary),
        (MANIFEST_FILE, OutputRole::Auxiliary),
    ];
    files
        .into_iter()
        .map(|(name, role)| {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| LmError::io(&path, e))?;
            let rel = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            Ok(OutputFile {
                path: rel,
                digest: Digest::of_bytes(&bytes),
                bytes: bytes.len() as u64,
                role,
            })
        })
        .collect()
}

/// Saves a trainer into `dir` (each file atomically; the manifest last, so a directory with a
/// manifest is complete).
pub fn save(
    dir: &Path,
    cfg: &Qwen2Config,
    trainer: &Trainer,
) -> Result<CheckpointManifest, LmError> {
    let weights = hf::save(dir, cfg, &trainer.model)?;
    let config = Digest::of_bytes(cfg.to_hf_json().as_bytes());
    let opt = trainer
        .optim
        .into_bytes()
        .map_err(|e| LmError::Weights(format!("serialising the optimiser state: {e:?}")))?;
    let opt_path = dir.join(OPTIMIZER_FILE);
    atomic::write(&opt_path, &opt)?;
    let manifest = CheckpointManifest {
        format: FORMAT.into(),
        step: trainer.step,
        optim: trainer.optim_config.clone(),
        weights,
        config,
        optimizer: Digest::of_bytes(&opt),
    };
    let mut text = serde_json::to_string_pretty(&manifest).expect("a manifest serialises");
    text.push('\n');
    atomic::write(&dir.join(MANIFEST_FILE), text.as_bytes())?;
    Ok(manifest)
}

fn read_verified(dir: &Path, name: &str, want: &Digest) -> Result<Vec<u8>, LmError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| LmError::io(&path, e))?;
    let got = Digest::of_bytes(&bytes);
    if &got != want {
        return Err(LmError::Weights(format!(
            "{}: digest {got} does not match {want} recorded in {MANIFEST_FILE}",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Reads and checks `checkpoint.json` only.
pub fn read_manifest(dir: &Path) -> Result<CheckpointManifest, LmError> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| LmError::io(&path, e))?;
    let m: CheckpointManifest = serde_json::from_str(&text)
        .map_err(|e| LmError::Weights(format!("{}: {e}", path.display())))?;
    if m.format != FORMAT {
        return Err(LmError::Weights(format!(
            "{}: format {:?}, expected {FORMAT:?}",
            path.display(),
            m.format
        )));
    }
    Ok(m)
}

/// Loads a checkpoint onto `device` (an autodiff device to continue training), verifying every
/// file against the manifest's digests first.
pub fn load(
    dir: &Path,
    device: &Device,
) -> Result<(Qwen2Config, Trainer, CheckpointManifest), LmError> {
    let m = read_manifest(dir)?;
    let cfg_bytes = read_verified(dir, hf::CONFIG_FILE, &m.config)?;
    let w_bytes = read_verified(dir, hf::WEIGHTS_FILE, &m.weights)?;
    let opt = read_verified(dir, OPTIMIZER_FILE, &m.optimizer)?;
    let cfg = Qwen2Config::from_hf_json(
        std::str::from_utf8(&cfg_bytes).map_err(|e| LmError::Config(e.to_string()))?,
        &dir.join(hf::CONFIG_FILE).display().to_string(),
    )?;
    let w_path = dir.join(hf::WEIGHTS_FILE).display().to_string();
    let tensors = super::safetensors::parse(&w_bytes, &w_path)?;
    let model = super::Qwen2::from_tensors(&cfg, &tensors, device)?;
    let optim = m
        .optim
        .build()
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(opt))
        .map_err(|e| LmError::Weights(format!("{}: {e:?}", dir.join(OPTIMIZER_FILE).display())))?;
    let trainer = Trainer {
        model,
        optim,
        optim_config: m.optim.clone(),
        step: m.step,
    };
    Ok((cfg, trainer, m))
}
