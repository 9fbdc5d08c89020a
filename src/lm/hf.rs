//! Hugging Face model directories: `config.json` + `model.safetensors` in, and out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::tensor::Device;

use super::config::Qwen2Config;
use super::model::Qwen2;
use super::safetensors::HostTensor;
use super::{LmError, safetensors};
use crate::provenance::{Digest, atomic};

pub const CONFIG_FILE: &str = "config.json";
pub(crate) const WEIGHTS_FILE: &str = "model.safetensors";
/// The index of a sharded checkpoint (the published Qwen2.5-7B ships 4 shards).
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// Loads a HF Qwen2 directory (f32, bf16 or f16 weights; tied or untied head; one
/// `model.safetensors` or shards listed in `model.safetensors.index.json`).
pub fn load(dir: &Path, device: &Device) -> Result<(Qwen2Config, Qwen2), LmError> {
    let cfg = Qwen2Config::load(&dir.join(CONFIG_FILE))?;
    let tensors = read_tensors(dir)?;
    super::finite::check_weights(&tensors, &dir.display().to_string())?;
    let model = Qwen2::from_tensors(&cfg, &tensors, device)
        .map_err(|e| LmError::Weights(format!("{}: {e}", dir.display())))?;
    Ok((cfg, model))
}

fn read_file(path: &Path) -> Result<BTreeMap<String, HostTensor>, LmError> {
    let bytes = std::fs::read(path).map_err(|e| LmError::io(path, e))?;
    safetensors::parse(&bytes, &path.display().to_string())
}

/// All tensors of a directory, from the single file or from every shard of the index.
pub(crate) fn read_tensors(dir: &Path) -> Result<BTreeMap<String, HostTensor>, LmError> {
    let single = dir.join(WEIGHTS_FILE);
    let index = dir.join(INDEX_FILE);
    if single.exists() || !index.exists() {
        return read_file(&single);
    }
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let text = std::fs::read_to_string(&index).map_err(|e| LmError::io(&index, e))?;
    let idx: Index = serde_json::from_str(&text)
        .map_err(|e| LmError::Weights(format!("{}: {e}", index.display())))?;
    let shards: BTreeSet<&String> = idx.weight_map.values().collect();
    let mut all = BTreeMap::new();
    for shard in shards {
        if shard.contains('/') || shard.contains("..") {
            return Err(LmError::Weights(format!(
                "{}: shard name {shard:?} must be a file name in the directory",
                index.display()
            )));
        }
        let part = read_file(&dir.join(shard))?;
        for (name, t) in part {
            if idx.weight_map.get(&name) != Some(shard) {
                return Err(LmError::Weights(format!(
                    "{}: tensor {name} is in {shard} but the index says {:?}",
                    index.display(),
                    idx.weight_map.get(&name)
                )));
            }
            all.insert(name, t);
        }
    }
    if let Some(missing) = idx.weight_map.keys().find(|k| !all.contains_key(*k)) {
        return Err(LmError::Weights(format!(
            "{}: tensor {missing} listed in the index is in no shard",
            index.display()
        )));
    }
    Ok(all)
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
