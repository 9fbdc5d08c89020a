//! The Qwen2 decoder: embedding → N × [RMSNorm → GQA attention (q/k/v biases, rotate-half
//! RoPE) → residual → RMSNorm → SwiGLU → residual] → RMSNorm → LM head (tied or not).
//!
//! Parameters are built from host tensors named as in Hugging Face (`model.layers.0.self_attn.
//! q_proj.weight`, ...), both for a fresh init and for a loaded checkpoint, and each parameter's
//! burn `ParamId` is derived from that name. ParamIds key AdamW's state, so deterministic ids
//! let an optimiser state saved beside a safetensors file be resumed onto the reloaded model.

use std::collections::BTreeMap;

use burn::module::{Module, Param, ParamId};
use burn::nn::{Linear, RmsNorm};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use rand::Rng as _;

use super::LmError;
use super::config::Qwen2Config;
use super::safetensors::HostTensor;
use crate::seed::SeedPath;

/// A deterministic ParamId for a parameter name (first 8 bytes of its sha256).
pub fn param_id(name: &str) -> ParamId {
    let d = crate::provenance::Digest::of_bytes(name.as_bytes());
    ParamId::from(u64::from_le_bytes(
        d.as_bytes()[..8].try_into().expect("32-byte digest"),
    ))
}

#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

#[derive(Module, Debug)]
pub struct Layer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

/// The decoder. `lm_head` is `None` when tied to the embedding (the head then multiplies by the
/// embedding matrix itself, so both share one parameter and one gradient, as in PyTorch).
#[derive(Module, Debug)]
pub struct Qwen2 {
    pub embed_tokens: Param<Tensor<2>>,
    pub layers: Vec<Layer>,
    pub norm: RmsNorm,
    pub lm_head: Option<Param<Tensor<2>>>,
    pub vocab_size: usize,
    pub rope_theta: f64,
    /// The config's `max_position_embeddings`: the longest sequence the model may be fed.
    pub max_positions: usize,
}

/// Per-layer keys and values of the positions seen so far, shape `[B, n_kv_heads, T, head_dim]`.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    pub layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
}

/// Everything attention needs about positions: RoPE angles per (row, position) and which
/// (query, key) pairs are masked.
pub struct Positions {
    pub cos: Tensor<4>,
    pub sin: Tensor<4>,
    /// `[B, 1, Tq, Tk]`, true = masked.
    pub mask: Tensor<4, Bool>,
}

impl Positions {
    /// `pos[b][i]`: position id of query `i` in row `b`; `key_pad[b][j]`: key `j` (over the whole
    /// cached + new sequence) is padding; queries are the last `Tq` keys. Causal + padding mask,
    /// except that a padding query sees its own key: then no row is entirely masked, and masked
    /// scores can be −∞ (see `Attention::forward`). What a padding query computes is never read:
    /// every real query masks padding keys.
    pub fn new(
        pos: &[Vec<usize>],
        key_pad: &[Vec<bool>],
        head_dim: usize,
        theta: f64,
        device: &Device,
    ) -> Self {
        let b = pos.len();
        let tq = pos[0].len();
        let tk = key_pad[0].len();
        let half = head_dim / 2;
        // HF: inv_freq = 1 / theta^(2i/d); emb = cat(freqs, freqs). Each position's half-row is
        // computed once (a training batch repeats positions 0..T in every row).
        let inv: Vec<f64> = (0..half)
            .map(|i| 1.0 / theta.powf((2 * i) as f64 / head_dim as f64))
            .collect();
        let mut table: BTreeMap<usize, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
        let mut cos = Vec::with_capacity(b * tq * head_dim);
        let mut sin = Vec::with_capacity(b * tq * head_dim);
        for row in pos {
            for &p in row {
                let (c, s) = table.entry(p).or_insert_with(|| {
                    inv.iter()
                        .map(|inv| {
                            let a = p as f64 * inv;
                            (a.cos() as f32, a.sin() as f32)
                        })
                        .unzip()
                });
                for _copy in 0..2 {
                    cos.extend_from_slice(c);
                    sin.extend_from_slice(s);
                }
            }
        }
        let mut mask = Vec::with_capacity(b * tq * tk);
        for pads in key_pad {
            for i in 0..tq {
                let qi = tk - tq + i;
                let pad_query = pads[qi];
                for (j, &pad) in pads.iter().enumerate() {
                    mask.push((pad || j > qi) && !(pad_query && j == qi));
                }
            }
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [b, 1, tq, head_dim]), device),
            sin: Tensor::from_data(TensorData::new(sin, [b, 1, tq, head_dim]), device),
            mask: Tensor::from_data(TensorData::new(mask, [b, 1, tq, tk]), device),
        }
    }

    /// Positions 0..T for every row, no padding.
    pub fn causal(b: usize, t: usize, head_dim: usize, theta: f64, device: &Device) -> Self {
        let pos = vec![(0..t).collect::<Vec<_>>(); b];
        let pad = vec![vec![false; t]; b];
        Self::new(&pos, &pad, head_dim, theta, device)
    }
}

fn rotate_half_rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let d = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, d / 2);
    let x2 = x.clone().narrow(3, d / 2, d / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * cos.clone() + rotated * sin.clone()
}

impl Attention {
    pub(super) fn forward(
        &self,
        x: Tensor<3>,
        pos: &Positions,
        cache: Option<&mut Option<(Tensor<4>, Tensor<4>)>>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (nh, nkv, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let q = self
            .q_proj
            .forward(x.clone())
            .reshape([b, t, nh, hd])
            .swap_dims(1, 2);
        let k = self
            .k_proj
            .forward(x.clone())
            .reshape([b, t, nkv, hd])
            .swap_dims(1, 2);
        let v = self
            .v_proj
            .forward(x)
            .reshape([b, t, nkv, hd])
            .swap_dims(1, 2);
        let q = rotate_half_rope(q, &pos.cos, &pos.sin);
        let mut k = rotate_half_rope(k, &pos.cos, &pos.sin);
        let mut v = v;
        if let Some(slot) = cache {
            if let Some((ck, cv)) = slot.take() {
                k = Tensor::cat(vec![ck, k], 2);
                v = Tensor::cat(vec![cv, v], 2);
            }
            *slot = Some((k.clone(), v.clone()));
        }
        let tk = k.dims()[2];
        let rep = nh / nkv;
        // Query head h reads KV head h / rep, as HF's repeat_kv.
        let k = k
            .unsqueeze_dim::<5>(2)
            .expand([b, nkv, rep, tk, hd])
            .reshape([b, nh, tk, hd]);
        let v = v
            .unsqueeze_dim::<5>(2)
            .expand([b, nkv, rep, tk, hd])
            .reshape([b, nh, tk, hd]);
        let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (hd as f64).sqrt());
        let mask = pos.mask.clone().expand([b, nh, t, tk]);
        // −∞, not `f32::MIN`: both are exactly 0 after the softmax, but `expf(f32::MIN − max)`
        // takes libm's underflow path, a twentieth of a training step (docs/benchmarks.md). No
        // row is entirely masked (`Positions::new`), so none becomes NaN.
        let probs = softmax(scores.mask_fill(mask, f32::NEG_INFINITY), 3);
        let out = probs.matmul(v).swap_dims(1, 2).reshape([b, t, nh * hd]);
        self.o_proj.forward(out)
    }
}

impl Mlp {
    pub(super) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let g = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(g * self.up_proj.forward(x))
    }
}

/// Names of every tensor of a config, in HF naming, with PyTorch shapes.
pub fn tensor_shapes(cfg: &Qwen2Config) -> BTreeMap<String, Vec<usize>> {
    let d = cfg.hidden_size;
    let kv = cfg.num_key_value_heads * cfg.head_dim();
    let f = cfg.intermediate_size;
    let mut m = BTreeMap::new();
    m.insert("model.embed_tokens.weight".into(), vec![cfg.vocab_size, d]);
    m.insert("model.norm.weight".into(), vec![d]);
    if !cfg.tie_word_embeddings {
        m.insert("lm_head.weight".into(), vec![cfg.vocab_size, d]);
    }
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        for (n, s) in [
            ("input_layernorm.weight", vec![d]),
            ("post_attention_layernorm.weight", vec![d]),
            ("self_attn.q_proj.weight", vec![d, d]),
            ("self_attn.q_proj.bias", vec![d]),
            ("self_attn.k_proj.weight", vec![kv, d]),
            ("self_attn.k_proj.bias", vec![kv]),
            ("self_attn.v_proj.weight", vec![kv, d]),
            ("self_attn.v_proj.bias", vec![kv]),
            ("self_attn.o_proj.weight", vec![d, d]),
            ("mlp.gate_proj.weight", vec![f, d]),
            ("mlp.up_proj.weight", vec![f, d]),
            ("mlp.down_proj.weight", vec![d, f]),
        ] {
            if n.ends_with(".bias") && !cfg.attention_bias {
                continue;
            }
            m.insert(format!("{p}.{n}"), s);
        }
    }
    m
}

/// A fresh init, HF's Qwen2 scheme: linear and embedding weights ~ N(0, 0.02), biases 0, norm
/// weights 1. Each tensor draws from its own stream `seed/<name>`, so the init does not depend
/// on the order tensors are visited.
pub fn init_tensors(cfg: &Qwen2Config, seed: &SeedPath) -> BTreeMap<String, HostTensor> {
    tensor_shapes(cfg)
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let data = if name.ends_with("norm.weight") {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                normal_vec(&mut seed.child(&name).rng(), n, 0.02)
            };
            (name, HostTensor { shape, data })
        })
        .collect()
}

/// `n` draws of N(0, std) by Box–Muller in f64 (portable: no platform libm differences matter
/// beyond f64 `ln`/`cos`, which are correctly rounded enough to be stable on one platform).
pub fn normal_vec(rng: &mut crate::seed::Rng, n: usize, std: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        if out.len() < n {
            out.push((r * a.sin()) as f32);
        }
    }
    out
}

fn take(
    map: &BTreeMap<String, HostTensor>,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>, LmError> {
    let t = map
        .get(name)
        .ok_or_else(|| LmError::Weights(format!("missing tensor {name}")))?;
    if t.shape != shape {
        return Err(LmError::Weights(format!(
            "tensor {name} has shape {:?}, expected {shape:?}",
            t.shape
        )));
    }
    Ok(t.data.clone())
}

fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// A trainable parameter (gradients on when `device` is an autodiff device) with the
/// name-derived id.
fn param<const D: usize>(
    name: &str,
    data: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Param<Tensor<D>> {
    let mut p = Param::from_tensor(Tensor::from_data(TensorData::new(data, shape), device));
    p.id = param_id(name);
    p
}

fn param1(name: &str, data: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let n = data.len();
    param(name, data, [n], device)
}

fn param2(name: &str, data: Vec<f32>, shape: [usize; 2], device: &Device) -> Param<Tensor<2>> {
    param(name, data, shape, device)
}

impl Qwen2 {
    /// A freshly initialised model (see [`init_tensors`]).
    pub fn init(cfg: &Qwen2Config, seed: &SeedPath, device: &Device) -> Result<Self, LmError> {
        cfg.validate()?;
        cfg.check_fits_in_memory()?;
        Self::from_tensors(cfg, &init_tensors(cfg, seed), device)
    }

    /// Builds the model from HF-named tensors in PyTorch layout. Every expected tensor must be
    /// present with its shape; unexpected tensors are an error (they would be silently dropped).
    pub fn from_tensors(
        cfg: &Qwen2Config,
        map: &BTreeMap<String, HostTensor>,
        device: &Device,
    ) -> Result<Self, LmError> {
        cfg.validate()?;
        // Every layer has tensors of its own: more layers than tensors means missing weights,
        // found here before the per-layer tables of a huge `num_hidden_layers` are allocated.
        if cfg.num_hidden_layers > map.len() {
            return Err(LmError::Weights(format!(
                "num_hidden_layers is {} but the weights hold only {} tensors; expected the \
                 tensors of every layer",
                cfg.num_hidden_layers,
                map.len()
            )));
        }
        let shapes = tensor_shapes(cfg);
        if let Some(extra) = map.keys().find(|k| !shapes.contains_key(*k)) {
            return Err(LmError::Weights(format!(
                "unexpected tensor {extra} for this config (tie_word_embeddings = {})",
                cfg.tie_word_embeddings
            )));
        }
        let linear = |name: &str, bias: bool| -> Result<Linear, LmError> {
            let s = &shapes[&format!("{name}.weight")];
            let (out_f, in_f) = (s[0], s[1]);
            let w = take(map, &format!("{name}.weight"), s)?;
            let weight = param2(
                &format!("{name}.weight"),
                transpose(&w, out_f, in_f),
                [in_f, out_f],
                device,
            );
            let bias = if bias {
                let b = take(map, &format!("{name}.bias"), &[out_f])?;
                Some(param1(&format!("{name}.bias"), b, device))
            } else {
                None
            };
            Ok(Linear { weight, bias })
        };
        let norm = |name: &str| -> Result<RmsNorm, LmError> {
            let g = take(map, name, &[cfg.hidden_size])?;
            Ok(RmsNorm {
                gamma: param1(name, g, device),
                epsilon: cfg.rms_norm_eps,
            })
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{l}");
            layers.push(Layer {
                input_layernorm: norm(&format!("{p}.input_layernorm.weight"))?,
                self_attn: Attention {
                    q_proj: linear(&format!("{p}.self_attn.q_proj"), cfg.attention_bias)?,
                    k_proj: linear(&format!("{p}.self_attn.k_proj"), cfg.attention_bias)?,
                    v_proj: linear(&format!("{p}.self_attn.v_proj"), cfg.attention_bias)?,
                    o_proj: linear(&format!("{p}.self_attn.o_proj"), false)?,
                    n_heads: cfg.num_attention_heads,
                    n_kv_heads: cfg.num_key_value_heads,
                    head_dim: cfg.head_dim(),
                },
                post_attention_layernorm: norm(&format!("{p}.post_attention_layernorm.weight"))?,
                mlp: Mlp {
                    gate_proj: linear(&format!("{p}.mlp.gate_proj"), false)?,
                    up_proj: linear(&format!("{p}.mlp.up_proj"), false)?,
                    down_proj: linear(&format!("{p}.mlp.down_proj"), false)?,
                },
            });
        }
        let vd = [cfg.vocab_size, cfg.hidden_size];
        let embed = take(map, "model.embed_tokens.weight", &vd)?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            // Stored [d, vocab] so the head is a plain matmul.
            let w = take(map, "lm_head.weight", &vd)?;
            Some(param2(
                "lm_head.weight",
                transpose(&w, vd[0], vd[1]),
                [vd[1], vd[0]],
                device,
            ))
        };
        Ok(Self {
            embed_tokens: param2("model.embed_tokens.weight", embed, vd, device),
            layers,
            norm: norm("model.norm.weight")?,
            lm_head,
            vocab_size: cfg.vocab_size,
            rope_theta: cfg.rope_theta,
            max_positions: cfg.max_position_embeddings,
        })
    }

    /// The parameters as HF-named host tensors in PyTorch layout (inverse of `from_tensors`).
    pub fn to_tensors(&self) -> BTreeMap<String, HostTensor> {
        fn host<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
            let shape = t.dims().to_vec();
            let data = t
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("float parameters convert to f32");
            (shape, data)
        }
        let mut m = BTreeMap::new();
        let put_linear = |m: &mut BTreeMap<String, HostTensor>, name: String, l: &Linear| {
            let (s, w) = host(l.weight.val());
            m.insert(
                format!("{name}.weight"),
                HostTensor {
                    shape: vec![s[1], s[0]],
                    data: transpose(&w, s[0], s[1]),
                },
            );
            if let Some(b) = &l.bias {
                let (shape, data) = host(b.val());
                m.insert(format!("{name}.bias"), HostTensor { shape, data });
            }
        };
        let put_norm = |m: &mut BTreeMap<String, HostTensor>, name: String, n: &RmsNorm| {
            let (shape, data) = host(n.gamma.val());
            m.insert(name, HostTensor { shape, data });
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{l}");
            put_norm(
                &mut m,
                format!("{p}.input_layernorm.weight"),
                &layer.input_layernorm,
            );
            put_norm(
                &mut m,
                format!("{p}.post_attention_layernorm.weight"),
                &layer.post_attention_layernorm,
            );
            let a = &layer.self_attn;
            put_linear(&mut m, format!("{p}.self_attn.q_proj"), &a.q_proj);
            put_linear(&mut m, format!("{p}.self_attn.k_proj"), &a.k_proj);
            put_linear(&mut m, format!("{p}.self_attn.v_proj"), &a.v_proj);
            put_linear(&mut m, format!("{p}.self_attn.o_proj"), &a.o_proj);
            put_linear(&mut m, format!("{p}.mlp.gate_proj"), &layer.mlp.gate_proj);
            put_linear(&mut m, format!("{p}.mlp.up_proj"), &layer.mlp.up_proj);
            put_linear(&mut m, format!("{p}.mlp.down_proj"), &layer.mlp.down_proj);
        }
        put_norm(&mut m, "model.norm.weight".into(), &self.norm);
        let (shape, data) = host(self.embed_tokens.val());
        m.insert(
            "model.embed_tokens.weight".into(),
            HostTensor { shape, data },
        );
        if let Some(h) = &self.lm_head {
            let (s, w) = host(h.val());
            m.insert(
                "lm_head.weight".into(),
                HostTensor {
                    shape: vec![s[1], s[0]],
                    data: transpose(&w, s[0], s[1]),
                },
            );
        }
        m
    }

    pub fn head_dim(&self) -> usize {
        self.layers[0].self_attn.head_dim
    }

    /// Final hidden states `[B, T, D]` (after the last RMSNorm).
    pub fn hidden(
        &self,
        tokens: Tensor<2, Int>,
        pos: &Positions,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let mut x = burn::tensor::module::embedding(self.embed_tokens.val(), tokens);
        if let Some(c) = cache.as_deref_mut()
            && c.layers.len() != self.layers.len()
        {
            c.layers = vec![None; self.layers.len()];
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[l]);
            let h = layer
                .self_attn
                .forward(layer.input_layernorm.forward(x.clone()), pos, slot);
            x = x + h;
            let h = layer
                .mlp
                .forward(layer.post_attention_layernorm.forward(x.clone()));
            x = x + h;
        }
        self.norm.forward(x)
    }

    /// LM head on hidden states: `[B, T, D]` → `[B, T, V]`.
    pub fn head(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = hidden.dims();
        let w = match &self.lm_head {
            Some(h) => h.val(),
            None => self.embed_tokens.val().transpose(),
        };
        hidden
            .reshape([b * t, d])
            .matmul(w)
            .reshape([b, t, self.vocab_size])
    }

    /// Logits `[B, T, V]` for token ids `[B, T]`. `padding` (`[B, T]`, true = pad) masks those
    /// keys; positions count from 0 at each row's first real token (left padding supported).
    pub fn forward(&self, tokens: Tensor<2, Int>, padding: Option<Tensor<2, Bool>>) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let device = tokens.device();
        let pos = match padding {
            None => Positions::causal(b, t, self.head_dim(), self.rope_theta, &device),
            Some(p) => {
                let flags = p
                    .into_data()
                    .try_to_vec::<bool>()
                    .expect("a bool tensor converts to Vec<bool>");
                let pads: Vec<Vec<bool>> = flags.chunks(t).map(|c| c.to_vec()).collect();
                let pos: Vec<Vec<usize>> = pads.iter().map(|r| positions_after_pads(r)).collect();
                Positions::new(&pos, &pads, self.head_dim(), self.rope_theta, &device)
            }
        };
        self.head(self.hidden(tokens, &pos, None))
    }
}

/// Position ids for a row with padding: each real token's index among the real tokens (pads
/// get 0; their outputs are never used).
pub(crate) fn positions_after_pads(pads: &[bool]) -> Vec<usize> {
    let mut n = 0;
    pads.iter()
        .map(|&p| {
            if p {
                0
            } else {
                n += 1;
                n - 1
            }
        })
        .collect()
}

/// Token ids as an `[B, T]` Int tensor.
pub fn token_tensor(rows: &[Vec<u32>], device: &Device) -> Result<Tensor<2, Int>, LmError> {
    let t = rows.first().map_or(0, Vec::len);
    if rows.is_empty() || t == 0 || rows.iter().any(|r| r.len() != t) {
        return Err(LmError::Input(
            "token rows must be non-empty and of equal length".into(),
        ));
    }
    let flat: Vec<i64> = rows.iter().flatten().map(|&x| x as i64).collect();
    Ok(Tensor::from_data(
        TensorData::new(flat, [rows.len(), t]),
        device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attention mask: a real query sees exactly the real keys up to itself; a padding
    /// query sees its own key, so no row is entirely masked and −∞ can fill masked scores.
    #[test]
    fn no_row_is_entirely_masked_and_real_queries_see_only_real_past_keys() {
        let device = Device::default();
        let key_pad = vec![vec![true, true, false, false, false], vec![false; 5]];
        let pos = vec![vec![0, 0, 0, 1, 2], vec![0, 1, 2, 3, 4]];
        let p = Positions::new(&pos, &key_pad, 4, 10_000.0, &device);
        let mask: Vec<bool> = p.mask.into_data().try_to_vec().expect("a bool tensor");
        for (b, pads) in key_pad.iter().enumerate() {
            for q in 0..5 {
                let row = &mask[(b * 5 + q) * 5..(b * 5 + q + 1) * 5];
                assert!(row.iter().any(|m| !m), "row {b}/{q} entirely masked");
                for (k, &masked) in row.iter().enumerate() {
                    let want = if pads[q] { k != q } else { pads[k] || k > q };
                    assert_eq!(masked, want, "row {b}, query {q}, key {k}");
                }
            }
        }
    }
}
