//! Finiteness of the model's numbers. Loaded weights must be finite (a NaN weight makes every
//! logit NaN, which JSON then prints as `null`), and a forward pass whose output is not finite
//! is traced to the first layer that produced a non-finite value, so the error says where the
//! numbers went wrong instead of printing them.

use std::collections::BTreeMap;

use burn::tensor::{Int, Tensor};

use super::LmError;
use super::model::{Positions, Qwen2};
use super::safetensors::HostTensor;

/// The first tensor (in name order) holding a non-finite value, as an error naming `origin`,
/// the tensor, the index and the value.
pub(crate) fn check_weights(
    tensors: &BTreeMap<String, HostTensor>,
    origin: &str,
) -> Result<(), LmError> {
    for (name, t) in tensors {
        if let Some((i, x)) = t.data.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(LmError::Weights(format!(
                "{origin}: tensor {name} holds {x} at index {i}; expected finite values"
            )));
        }
    }
    Ok(())
}

/// Whether every value of `t` is finite.
fn all_finite<const D: usize>(t: &Tensor<D>) -> bool {
    t.clone()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("float activations convert to f32")
        .iter()
        .all(|x| x.is_finite())
}

/// Checks that `logits` are finite; if not, re-runs `tokens` through `model` one layer at a
/// time and names the first place (embedding, layer `l`'s attention or MLP, final norm, head)
/// whose output holds a non-finite value.
pub fn check_logits(model: &Qwen2, tokens: Tensor<2, Int>, logits: &[f32]) -> Result<(), LmError> {
    if logits.iter().all(|x| x.is_finite()) {
        return Ok(());
    }
    let [b, t] = tokens.dims();
    let pos = Positions::causal(b, t, model.head_dim(), model.rope_theta, &tokens.device());
    let fail = |place: String| {
        Err(LmError::Input(format!(
            "the logits are not finite: non-finite values first appear in the output of \
             {place}"
        )))
    };
    let mut x = burn::tensor::module::embedding(model.embed_tokens.val(), tokens);
    if !all_finite(&x) {
        return fail("the embedding (model.embed_tokens)".into());
    }
    for (l, layer) in model.layers.iter().enumerate() {
        let h = layer
            .self_attn
            .forward(layer.input_layernorm.forward(x.clone()), &pos, None);
        x = x + h;
        if !all_finite(&x) {
            return fail(format!(
                "layer {l}'s attention (model.layers.{l}.input_layernorm / self_attn)"
            ));
        }
        let h = layer
            .mlp
            .forward(layer.post_attention_layernorm.forward(x.clone()));
        x = x + h;
        if !all_finite(&x) {
            return fail(format!(
                "layer {l}'s MLP (model.layers.{l}.post_attention_layernorm / mlp)"
            ));
        }
    }
    let x = model.norm.forward(x);
    if !all_finite(&x) {
        return fail("the final norm (model.norm)".into());
    }
    fail("the LM head".into())
}
