//! The PPO value head: a linear map from the final hidden state of a sequence's last real
//! token to a scalar.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use super::LmError;
use super::model::{Positions, Qwen2, normal_vec, param_id, token_tensor};
use crate::seed::SeedPath;

#[derive(Module, Debug)]
pub struct ValueHead {
    pub linear: Linear,
}

impl ValueHead {
    /// Weight ~ N(0, 1/d) from `seed`, bias 0 (a small initial value of order 1).
    pub fn init(hidden_size: usize, seed: &SeedPath, device: &Device) -> Self {
        let w = normal_vec(
            &mut seed.child("value_head.weight").rng(),
            hidden_size,
            1.0 / (hidden_size as f64).sqrt(),
        );
        let mut weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(w, [hidden_size, 1]),
            device,
        ));
        weight.id = param_id("value_head.weight");
        let mut bias =
            Param::from_tensor(Tensor::from_data(TensorData::new(vec![0f32], [1]), device));
        bias.id = param_id("value_head.bias");
        Self {
            linear: Linear {
                weight,
                bias: Some(bias),
            },
        }
    }

    /// Values `[B]` of right-padded sequences: row `b`'s value reads its hidden state at
    /// position `lengths[b] - 1`.
    pub fn values(
        &self,
        model: &Qwen2,
        tokens: &[Vec<u32>],
        lengths: &[usize],
        device: &Device,
    ) -> Result<Tensor<1>, LmError> {
        let t = token_tensor(tokens, device)?;
        let [b, tl] = t.dims();
        if lengths.len() != b || lengths.iter().any(|&l| l == 0 || l > tl) {
            return Err(LmError::Input(format!(
                "lengths {lengths:?} must give each of {b} rows a length in 1..={tl}"
            )));
        }
        let pos = Positions::causal(b, tl, model.head_dim(), model.rope_theta, device);
        let hidden = model.hidden(t, &pos, None);
        let last: Vec<Tensor<3>> = lengths
            .iter()
            .enumerate()
            .map(|(r, &l)| hidden.clone().narrow(0, r, 1).narrow(1, l - 1, 1))
            .collect();
        let d = hidden.dims()[2];
        let h = Tensor::cat(last, 0).reshape([b, d]);
        Ok(self.linear.forward(h).reshape([b]))
    }
}
