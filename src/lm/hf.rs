//! Hugging Face model directories: `config.json` + `model.safetensors` in, and out.

use std::path::Path;

use burn::tensor::Device;

use super::config::Qwen2Config;
use super::model::Qwen2;
use super::{LmError, safetensors};
use crate::provenance::{Digest, atomic};

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Loads a HF Qwen2 directory (f32, bf16 or f16 weights; tied or untied head).
pub fn load(dir: &Path, device: &Device) -> Result<(Qwen2Config, Qwen2), LmError> {
    let cfg = Qwen2Config::load(&dir.join(CONFIG_FILE))?;
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| LmError::io(&path, e))?;
    let tensors = safetensors::parse(&bytes, &path.display().to_string())?;
    let model = Qwen2::from_tensors(&cfg, &tensors, device)
        .map_err(|e| LmError::Weights(format!("{}: {e}", path.display())))?;
    Ok((cfg, model))
}

/// The deterministic safetensors bytes of a model's weights (f32, sorted, no metadata).
pub fn weight_bytes(model: &Qwen2) -> Vec<u8> {
    safetensors::serialize(&model.to_tensors())
}

/// Writes a HF directory atomically, file by file; returns the weights' digest.
pub fn save(dir: &Path, cfg: &Qwen2Config, model: &Qwen2) -> Result<Digest, LmError> {
    let bytes = weight_bytes(model);
    atomic::write(&dir.join(WEIGHTS_FILE), &bytes)?;
    atomic::write(&dir.join(CONFIG_FILE), cfg.to_hf_json().as_bytes())?;
    Ok(Digest::of_bytes(&bytes))
}
