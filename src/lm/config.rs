//! Qwen2 model dimensions, read from and written to Hugging Face `config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::LmError;

/// The dimensions of a Qwen2 decoder. Field names follow Hugging Face's `Qwen2Config`, so a
/// `config.json` deserialises directly (through [`Qwen2Config::from_hf_json`], which also
/// accepts `rope_theta` nested under `rope_parameters` as transformers >= 5 writes it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Qwen2Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub tie_word_embeddings: bool,
    /// q/k/v projections carry biases: Qwen2 (true) or Llama (false), which is Qwen2 without
    /// attention biases (`model_type: "llama"`).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub attention_bias: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// The raw JSON shape: every field optional where HF allows two spellings.
#[derive(Deserialize)]
struct RawConfig {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    max_position_embeddings: usize,
    rms_norm_eps: f64,
    rope_theta: Option<f64>,
    rope_parameters: Option<RopeParameters>,
    #[serde(default)]
    tie_word_embeddings: bool,
    hidden_act: Option<String>,
    #[serde(default)]
    use_sliding_window: bool,
    model_type: Option<String>,
    /// Only `null`/absent is supported (YaRN etc. would change the RoPE angles).
    rope_scaling: Option<serde_json::Value>,
    /// Llama's switches (absent in Qwen2 configs).
    attention_bias: Option<bool>,
    #[serde(default)]
    mlp_bias: bool,
}

#[derive(Deserialize)]
struct RopeParameters {
    rope_theta: f64,
    rope_type: Option<String>,
}

impl Qwen2Config {
    /// Smoke-test policy: runs the whole pipeline in seconds on a CPU (~0.1 M params + embedding).
    pub fn tiny(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            hidden_size: 64,
            intermediate_size: 160,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            max_position_embeddings: 2048,
            rms_norm_eps: 1e-6,
            rope_theta: 1e6,
            tie_word_embeddings: true,
            attention_bias: true,
        }
    }

    /// The mini profile's policy: ≈1.0 M parameters with a 2048-token vocabulary (hidden 128,
    /// 4 layers, 4 query heads of dim 32 sharing 2 KV heads like Qwen2.5's grouping, SwiGLU
    /// 352 ≈ 2.75 × hidden). Sized for the 2-core CPU budget; a hidden-192 variant trained
    /// slower and, with the same SFT settings, wrote fewer well-formed actions. docs/lm.md.
    pub fn mini(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            hidden_size: 128,
            intermediate_size: 352,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            max_position_embeddings: 4096,
            rms_norm_eps: 1e-6,
            rope_theta: 1e6,
            tie_word_embeddings: true,
            attention_bias: true,
        }
    }

    /// Qwen2.5-0.5B(-Instruct) as published in its `config.json`.
    pub(crate) fn qwen2_5_0_5b() -> Self {
        Self {
            vocab_size: 151_936,
            hidden_size: 896,
            intermediate_size: 4864,
            num_hidden_layers: 24,
            num_attention_heads: 14,
            num_key_value_heads: 2,
            max_position_embeddings: 32_768,
            rms_norm_eps: 1e-6,
            rope_theta: 1e6,
            tie_word_embeddings: true,
            attention_bias: true,
        }
    }

    /// Qwen2.5-7B-Instruct as published in its `config.json` (the paper's base policy).
    pub(crate) fn qwen2_5_7b() -> Self {
        Self {
            vocab_size: 152_064,
            hidden_size: 3584,
            intermediate_size: 18_944,
            num_hidden_layers: 28,
            num_attention_heads: 28,
            num_key_value_heads: 4,
            max_position_embeddings: 32_768,
            rms_norm_eps: 1e-6,
            rope_theta: 1e6,
            tie_word_embeddings: false,
            attention_bias: true,
        }
    }

    /// A named config: `tiny`, `mini` (with the given vocabulary), `qwen2.5-0.5b`, `qwen2.5-7b`.
    pub fn named(name: &str, vocab_size: usize) -> Result<Self, LmError> {
        match name {
            "tiny" => Ok(Self::tiny(vocab_size)),
            "mini" => Ok(Self::mini(vocab_size)),
            "qwen2.5-0.5b" => Ok(Self::qwen2_5_0_5b()),
            "qwen2.5-7b" => Ok(Self::qwen2_5_7b()),
            other => Err(LmError::Config(format!(
                "unknown model config {other:?}: expected tiny, mini, qwen2.5-0.5b or qwen2.5-7b"
            ))),
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks the divisibility constraints the attention relies on.
    pub fn validate(&self) -> Result<(), LmError> {
        let bad = |what: String| Err(LmError::Config(what));
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return bad(format!(
                "hidden_size {} must be a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.num_key_value_heads == 0
            || !self
                .num_attention_heads
                .is_multiple_of(self.num_key_value_heads)
        {
            return bad(format!(
                "num_attention_heads {} must be a multiple of num_key_value_heads {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!(
                "head dim {} must be even for RoPE",
                self.head_dim()
            ));
        }
        if self.vocab_size == 0 || self.num_hidden_layers == 0 || self.intermediate_size == 0 {
            return bad("vocab_size, num_hidden_layers and intermediate_size must be > 0".into());
        }
        if self.max_position_embeddings == 0 {
            return bad("max_position_embeddings must be > 0".into());
        }
        // A zero or negative epsilon divides by zero on an all-zero row; a non-positive theta
        // makes every RoPE frequency infinite or NaN: either way every logit is NaN.
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return bad(format!(
                "rms_norm_eps is {}, expected a finite number > 0",
                self.rms_norm_eps
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return bad(format!(
                "rope_theta is {}, expected a finite number > 0",
                self.rope_theta
            ));
        }
        Ok(())
    }

    /// Checks that the f32 weights of this config fit in the machine's memory, before any of
    /// them is allocated (a `num_hidden_layers` of 10^9 would otherwise abort the process).
    pub fn check_fits_in_memory(&self) -> Result<(), LmError> {
        crate::limits::fits_in_memory(
            &format!(
                "a model of {} parameters (vocab_size {}, hidden_size {}, intermediate_size {}, \
                 num_hidden_layers {}) at 4 bytes each",
                self.param_count(),
                self.vocab_size,
                self.hidden_size,
                self.intermediate_size,
                self.num_hidden_layers
            ),
            self.param_count() as f64 * 4.0,
        )
        .map_err(LmError::Config)
    }

    /// [`Self::num_params`] without overflow: saturates instead, for bounds checks on configs
    /// that were never meant to be built.
    pub(crate) fn param_count(&self) -> u128 {
        let [d, f, l, v] = [
            self.hidden_size,
            self.intermediate_size,
            self.num_hidden_layers,
            self.vocab_size,
        ]
        .map(|x| x as u128);
        let kv = (self.num_key_value_heads as u128)
            .saturating_mul(d / (self.num_attention_heads.max(1) as u128));
        let biases = if self.attention_bias { 1 } else { 0 };
        let attn = (2 * d)
            .saturating_mul(d)
            .saturating_add(d * biases)
            .saturating_add(2u128.saturating_mul(d.saturating_mul(kv).saturating_add(kv * biases)));
        let mlp = (3 * d).saturating_mul(f);
        let layer = attn.saturating_add(mlp).saturating_add(2 * d);
        let head = if self.tie_word_embeddings { 0 } else { 1 };
        v.saturating_mul(d)
            .saturating_mul(1 + head)
            .saturating_add(l.saturating_mul(layer))
            .saturating_add(d)
    }

    /// Parses a Hugging Face `config.json`; `origin` names the file in errors.
    pub fn from_hf_json(text: &str, origin: &str) -> Result<Self, LmError> {
        let raw: RawConfig =
            serde_json::from_str(text).map_err(|e| LmError::Config(format!("{origin}: {e}")))?;
        let err = |m: String| LmError::Config(format!("{origin}: {m}"));
        let llama = raw.model_type.as_deref() == Some("llama");
        if let Some(t) = &raw.model_type
            && t != "qwen2"
            && t != "llama"
        {
            return Err(err(format!(
                "model_type is {t:?}, expected \"qwen2\" or \"llama\""
            )));
        }
        if raw.mlp_bias {
            return Err(err(
                "mlp_bias is true; only bias-free MLPs are supported".into()
            ));
        }
        if let Some(act) = &raw.hidden_act
            && act != "silu"
        {
            return Err(err(format!("hidden_act is {act:?}, expected \"silu\"")));
        }
        if let Some(scaling) = &raw.rope_scaling
            && !scaling.is_null()
        {
            let kind = scaling
                .get("rope_type")
                .or_else(|| scaling.get("type"))
                .and_then(|t| t.as_str())
                .unwrap_or("unnamed");
            return Err(err(format!(
                "rope_scaling of type {kind:?} is not implemented (the RoPE angles would \
                 differ); only unscaled RoPE (rope_scaling null) is supported"
            )));
        }
        if raw.use_sliding_window {
            return Err(err(
                "use_sliding_window is true; only full attention is supported".into(),
            ));
        }
        let rope_theta = match (raw.rope_theta, raw.rope_parameters) {
            (Some(t), _) => t,
            (None, Some(p)) => {
                if let Some(kind) = &p.rope_type
                    && kind != "default"
                {
                    return Err(err(format!(
                        "rope_parameters.rope_type {kind:?} is not implemented (the RoPE \
                         angles would differ); expected \"default\""
                    )));
                }
                p.rope_theta
            }
            (None, None) => {
                return Err(err(
                    "missing rope_theta (top level or under rope_parameters)".into(),
                ));
            }
        };
        let cfg = Self {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            num_key_value_heads: raw.num_key_value_heads.unwrap_or(raw.num_attention_heads),
            max_position_embeddings: raw.max_position_embeddings,
            rms_norm_eps: raw.rms_norm_eps,
            rope_theta,
            tie_word_embeddings: raw.tie_word_embeddings,
            // Qwen2 configs never say; Llama's default is bias-free.
            attention_bias: raw.attention_bias.unwrap_or(!llama),
        };
        cfg.validate().map_err(|e| err(e.to_string()))?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Self, LmError> {
        let text = std::fs::read_to_string(path).map_err(|e| LmError::io(path, e))?;
        Self::from_hf_json(&text, &path.display().to_string())
    }

    /// The `config.json` this project writes: the published Qwen2.5 layout (top-level
    /// `rope_theta`), or transformers' Llama layout for a bias-free model; keys sorted so the
    /// bytes are deterministic.
    pub fn to_hf_json(&self) -> String {
        let mut v = serde_json::json!({
            "hidden_act": "silu",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "tie_word_embeddings": self.tie_word_embeddings,
            "torch_dtype": "float32",
        });
        let arch = if self.attention_bias {
            serde_json::json!({
                "architectures": ["Qwen2ForCausalLM"],
                "model_type": "qwen2",
                "use_sliding_window": false,
            })
        } else {
            serde_json::json!({
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "attention_bias": false,
                "mlp_bias": false,
                "rope_scaling": null,
            })
        };
        let map = v.as_object_mut().expect("a JSON object literal");
        map.extend(arch.as_object().expect("a JSON object literal").clone());
        // serde_json's map is a BTreeMap here (no preserve_order feature): sorted keys.
        let mut s = serde_json::to_string_pretty(&v).expect("a JSON value always serialises");
        s.push('\n');
        s
    }

    /// Number of parameters (a tied head counts once).
    pub fn num_params(&self) -> usize {
        let d = self.hidden_size;
        let kv = self.num_key_value_heads * self.head_dim();
        let b = usize::from(self.attention_bias);
        let attn = d * d + d * b + 2 * (d * kv + kv * b) + d * d;
        let mlp = 3 * d * self.intermediate_size;
        let layer = attn + mlp + 2 * d;
        let head = if self.tie_word_embeddings {
            0
        } else {
            d * self.vocab_size
        };
        self.vocab_size * d + self.num_hidden_layers * layer + d + head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_rope_theta_spellings_parse() {
        let base = r#""vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,
            "num_attention_heads":2,"num_key_value_heads":1,"max_position_embeddings":32,
            "rms_norm_eps":1e-6"#;
        let top = format!("{{{base},\"rope_theta\":10000.0}}");
        let nested = format!(
            "{{{base},\"rope_parameters\":{{\"rope_theta\":5e5,\"rope_type\":\"default\"}}}}"
        );
        assert_eq!(
            Qwen2Config::from_hf_json(&top, "t").unwrap().rope_theta,
            1e4
        );
        assert_eq!(
            Qwen2Config::from_hf_json(&nested, "n").unwrap().rope_theta,
            5e5
        );
        let scaled =
            format!("{{{base},\"rope_theta\":1e4,\"rope_scaling\":{{\"type\":\"yarn\"}}}}");
        let e = Qwen2Config::from_hf_json(&scaled, "s.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rope_scaling"), "{e}");
        let null = format!("{{{base},\"rope_theta\":1e4,\"rope_scaling\":null}}");
        assert!(Qwen2Config::from_hf_json(&null, "n").is_ok());
        let missing = format!("{{{base}}}");
        let e = Qwen2Config::from_hf_json(&missing, "m.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.json") && e.contains("rope_theta"), "{e}");
    }

    #[test]
    fn round_trips_through_hf_json() {
        for c in [Qwen2Config::tiny(100), Qwen2Config::qwen2_5_7b()] {
            let back = Qwen2Config::from_hf_json(&c.to_hf_json(), "x").unwrap();
            assert_eq!(back, c);
        }
    }

    #[test]
    fn published_sizes() {
        // Qwen2.5-0.5B has 494 M parameters, Qwen2.5-7B 7.62 B (their model cards).
        let p = Qwen2Config::qwen2_5_0_5b().num_params() as f64 / 1e6;
        assert!((p - 494.0).abs() < 1.0, "{p}");
        let p = Qwen2Config::qwen2_5_7b().num_params() as f64 / 1e9;
        assert!((p - 7.62).abs() < 0.01, "{p}");
        let p = Qwen2Config::mini(2048).num_params() as f64 / 1e6;
        assert!((1.0..10.0).contains(&p), "{p}");
        assert_eq!(Qwen2Config::mini(2048).num_params(), 1_001_600);
    }
}
