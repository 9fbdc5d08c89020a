//! The models an experiment trains, with burn: linear, MLP and a small CNN, trained by
//! mini-batch gradient descent (SGD, momentum or Adam, written here over burn's autodiff so
//! that every number is reproducible). Weights are initialised from the run's `SeedPath`
//! stream, never from burn's global RNG; batch order and dropout masks come from named streams.

use burn::tensor::activation::{log_softmax, relu, sigmoid, softmax, tanh};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng as _;
use rand::seq::SliceRandom;

use super::features::{Matrix, Shape};
use super::script::Script;
use crate::seed::SeedPath;

/// What the network outputs and how it is trained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Head {
    /// `k` classes, softmax + cross-entropy.
    Softmax(usize),
    /// `k` independent 0/1 columns, sigmoid + binary cross-entropy.
    Sigmoid(usize),
    /// `k` real columns with the script's regression loss.
    Regression(usize),
}

impl Head {
    pub fn outputs(self) -> usize {
        match self {
            Head::Softmax(k) | Head::Sigmoid(k) | Head::Regression(k) => k,
        }
    }
}

/// A run's failure, phrased like the last line of a traceback.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("FloatingPointError: loss became {value} at epoch {epoch}")]
    Diverged { epoch: usize, value: f32 },
    #[error("ValueError: {0}")]
    Incompatible(String),
    #[error("TimeoutError: wall-clock guard of {0} s exceeded")]
    WallClock(f64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Arch {
    Linear,
    Mlp {
        hidden: usize,
        layers: usize,
    },
    Cnn {
        channels: usize,
        hidden: usize,
        shape: Shape,
    },
}

/// Spatial size after a 3x3, stride-2, padding-1 convolution.
fn half(n: usize) -> usize {
    (n - 1) / 2 + 1
}

fn arch(script: &Script, image: Option<Shape>) -> Result<Arch, TrainError> {
    let hidden = script.usize("hidden");
    Ok(match script.choice("model") {
        "linear" => Arch::Linear,
        "mlp" => Arch::Mlp {
            hidden,
            layers: script.usize("layers"),
        },
        "cnn" => {
            let shape = image
                .ok_or_else(|| TrainError::Incompatible("model = cnn needs image inputs".into()))?;
            if shape.height < 4 || shape.width < 4 {
                return Err(TrainError::Incompatible(format!(
                    "model = cnn needs images of at least 4x4, got {}x{}",
                    shape.height, shape.width
                )));
            }
            Arch::Cnn {
                channels: script.usize("channels"),
                hidden,
                shape,
            }
        }
        other => return Err(TrainError::Incompatible(format!("unknown model {other}"))),
    })
}

/// Parameter shapes `[fan_in, fan_out]` of each weight matrix (biases are `[1, fan_out]`).
fn layer_dims(a: Arch, d: usize, k: usize) -> Vec<(usize, usize)> {
    match a {
        Arch::Linear => vec![(d, k)],
        Arch::Mlp { hidden, layers } => {
            let mut v = vec![(d, hidden)];
            for _ in 1..layers {
                v.push((hidden, hidden));
            }
            v.push((hidden, k));
            v
        }
        Arch::Cnn {
            channels,
            hidden,
            shape,
        } => {
            let (h2, w2) = (half(half(shape.height)), half(half(shape.width)));
            vec![
                (9, channels),                // conv1: 1 -> c, stored [9, c]
                (9 * channels, 2 * channels), // conv2: c -> 2c, stored [9c, 2c]
                (2 * channels * h2 * w2, hidden),
                (hidden, k),
            ]
        }
    }
}

/// Planned multiply-adds of one forward pass of one example (the budget's work unit).
pub(crate) fn forward_macs(
    script: &Script,
    d: usize,
    k: usize,
    image: Option<Shape>,
) -> Result<f64, TrainError> {
    let a = arch(script, image)?;
    let dims = layer_dims(a, d, k);
    Ok(match a {
        Arch::Cnn { shape, .. } => {
            let (h1, w1) = (half(shape.height), half(shape.width));
            let (h2, w2) = (half(h1), half(w1));
            (dims[0].0 * dims[0].1 * h1 * w1 + dims[1].0 * dims[1].1 * h2 * w2) as f64
                + (dims[2].0 * dims[2].1 + dims[3].0 * dims[3].1) as f64
        }
        _ => dims.iter().map(|(i, o)| (i * o) as f64).sum(),
    })
}

/// A trained model: its architecture and weights (inner, non-autodiff tensors).
pub(crate) struct Model {
    arch: Arch,
    params: Vec<Tensor<2>>,
    head: Head,
    activation: Activation,
    target_shift: Vec<f32>,
    target_scale: Vec<f32>,
    log_target: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Activation {
    Relu,
    Tanh,
}

fn act(a: Activation, x: Tensor<2>) -> Tensor<2> {
    match a {
        Activation::Relu => relu(x),
        Activation::Tanh => tanh(x),
    }
}

fn tensor2(data: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

/// Forward pass. `drop` gives (rng, rate) to apply dropout to hidden units while training.
fn forward(
    arch: Arch,
    params: &[Tensor<2>],
    activation: Activation,
    x: Tensor<2>,
    mut drop: Option<(&mut crate::seed::Rng, f64)>,
    device: &Device,
) -> Tensor<2> {
    let mut dropout = |h: Tensor<2>| -> Tensor<2> {
        match drop.as_mut() {
            Some((rng, p)) if *p > 0.0 => {
                let [r, c] = h.dims();
                let keep = 1.0 - *p;
                let mask: Vec<f32> = (0..r * c)
                    .map(|_| {
                        if rng.random::<f64>() < keep {
                            (1.0 / keep) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                h * tensor2(mask, r, c, device)
            }
            _ => h,
        }
    };
    let lin = |x: Tensor<2>, i: usize| x.matmul(params[2 * i].clone()) + params[2 * i + 1].clone();
    match arch {
        Arch::Linear => lin(x, 0),
        Arch::Mlp { layers, .. } => {
            let mut h = x;
            for i in 0..layers {
                h = dropout(act(activation, lin(h, i)));
            }
            lin(h, layers)
        }
        Arch::Cnn {
            channels, shape, ..
        } => {
            let [b, _] = x.dims();
            let img: Tensor<4> = x.reshape([b, 1, shape.height, shape.width]);
            let opts = || ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
            // Weights are stored [in*9, out]; conv2d wants [out, in, 3, 3].
            let w1: Tensor<4> = params[0].clone().transpose().reshape([channels, 1, 3, 3]);
            let b1 = params[1].clone().reshape([channels]);
            let h1 = relu(conv2d(img, w1, Some(b1), opts()));
            let w2: Tensor<4> =
                params[2]
                    .clone()
                    .transpose()
                    .reshape([2 * channels, channels, 3, 3]);
            let b2 = params[3].clone().reshape([2 * channels]);
            let h2 = relu(conv2d(h1, w2, Some(b2), opts()));
            let [_, c, hh, ww] = h2.dims();
            let flat: Tensor<2> = h2.reshape([b, c * hh * ww]);
            let h3 = dropout(act(activation, lin(flat, 2)));
            lin(h3, 3)
        }
    }
}

fn loss(head: Head, kind: &str, z: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    match head {
        Head::Softmax(_) => (log_softmax(z, 1) * y).sum_dim(1).mean().neg(),
        Head::Sigmoid(_) => {
            // Stable BCE with logits: max(z, 0) - z*y + log(1 + exp(-|z|)).
            let soft = z.clone().abs().neg().exp().add_scalar(1.0).log();
            (relu(z.clone()) - z * y + soft).mean()
        }
        Head::Regression(_) => {
            let d = z - y;
            match kind {
                "mae" => d.abs().mean(),
                "huber" => {
                    // 0.5 m^2 + (|d| - m) with m = min(|d|, 1).
                    let a = d.abs();
                    let m = a.clone().clamp_max(1.0);
                    ((m.clone() * m.clone()).mul_scalar(0.5) + a - m).mean()
                }
                _ => (d.clone() * d).mean(),
            }
        }
    }
}

/// Everything a training run needs besides the features.
pub(crate) struct TrainInput<'a> {
    pub train: &'a Matrix,
    pub targets: &'a Matrix,
    pub head: Head,
    pub image: Option<Shape>,
    pub seed: SeedPath,
    pub guard_s: f64,
}

impl Model {
    /// Trains a model on `input` with the script's settings.
    pub fn train(script: &Script, input: TrainInput<'_>) -> Result<Self, TrainError> {
        let start = std::time::Instant::now();
        let device = Device::flex().autodiff();
        let (n, d) = (input.train.rows, input.train.cols);
        let k = input.head.outputs();
        let arch = arch(script, input.image)?;
        let activation = if script.choice("activation") == "tanh" {
            Activation::Tanh
        } else {
            Activation::Relu
        };
        if n == 0 {
            return Err(TrainError::Incompatible("empty training split".into()));
        }
        // Regression targets: optional log1p, then z-scored with training statistics.
        let log_target = script.has("log_target")
            && script.flag("log_target")
            && matches!(input.head, Head::Regression(_));
        let mut ty = input.targets.data.clone();
        let (mut shift, mut scale) = (vec![0.0f32; k], vec![1.0f32; k]);
        if let Head::Regression(_) = input.head {
            if log_target {
                if ty.iter().any(|v| *v <= -1.0) {
                    return Err(TrainError::Incompatible(
                        "log_target needs targets > -1".into(),
                    ));
                }
                ty.iter_mut().for_each(|v| *v = v.ln_1p());
            }
            for j in 0..k {
                let col: Vec<f64> = (0..n).map(|i| f64::from(ty[i * k + j])).collect();
                let m = col.iter().sum::<f64>() / n as f64;
                let s = (col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt();
                shift[j] = m as f32;
                scale[j] = if s > 1e-12 { s as f32 } else { 1.0 };
            }
            for i in 0..n {
                for j in 0..k {
                    ty[i * k + j] = (ty[i * k + j] - shift[j]) / scale[j];
                }
            }
        }
        // Initialisation: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) from the run's stream.
        let mut init = input.seed.child("init").rng();
        let mut params: Vec<Tensor<2>> = Vec::new();
        for (fan_in, fan_out) in layer_dims(arch, d, k) {
            let bound = 1.0 / (fan_in as f64).sqrt();
            let w: Vec<f32> = (0..fan_in * fan_out)
                .map(|_| init.random_range(-bound..bound) as f32)
                .collect();
            params.push(tensor2(w, fan_in, fan_out, &device).require_grad());
            params.push(tensor2(vec![0.0; fan_out], 1, fan_out, &device).require_grad());
        }
        let x_all = tensor2(input.train.data.clone(), n, d, &device.clone().inner());
        let y_all = tensor2(ty, n, k, &device.clone().inner());
        let lr = script.float("learning_rate");
        let wd = script.float("weight_decay");
        let opt = script.choice("optimizer").to_string();
        let batch = script.usize("batch_size").min(n);
        let epochs = script.usize("epochs");
        let rate = script.float("dropout");
        let loss_kind = if script.has("loss") {
            script.choice("loss").to_string()
        } else {
            "mse".into()
        };
        let mut m1: Vec<Option<Tensor<2>>> = vec![None; params.len()];
        let mut m2: Vec<Option<Tensor<2>>> = vec![None; params.len()];
        let mut step = 0i32;
        let mut drop_rng = input.seed.child("dropout").rng();
        for epoch in 0..epochs {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut input.seed.child("batches").child(epoch).rng());
            let mut epoch_loss = 0.0f32;
            for chunk in order.chunks(batch) {
                let idx = Tensor::<1, Int>::from_data(
                    TensorData::new(
                        chunk.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                        [chunk.len()],
                    ),
                    &device.clone().inner(),
                );
                let xb = x_all.clone().select(0, idx.clone()).autodiff();
                let yb = y_all.clone().select(0, idx).autodiff();
                let z = forward(
                    arch,
                    &params,
                    activation,
                    xb,
                    Some((&mut drop_rng, rate)),
                    &device,
                );
                let l = loss(input.head, &loss_kind, z, yb);
                let grads = l.backward();
                let lv: f32 = l.inner().into_scalar();
                if !lv.is_finite() {
                    return Err(TrainError::Diverged {
                        epoch: epoch + 1,
                        value: lv,
                    });
                }
                epoch_loss += lv;
                step += 1;
                for (i, p) in params.iter_mut().enumerate() {
                    let g = p
                        .grad(&grads)
                        .expect("every parameter takes part in the loss");
                    let w = p.clone().inner();
                    let new = match opt.as_str() {
                        "adam" => {
                            let (b1, b2) = (0.9f64, 0.999f64);
                            let a = m1[i].take().map_or(g.clone().mul_scalar(1.0 - b1), |m| {
                                m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1)
                            });
                            let v = m2[i]
                                .take()
                                .map_or((g.clone() * g.clone()).mul_scalar(1.0 - b2), |v| {
                                    v.mul_scalar(b2) + (g.clone() * g).mul_scalar(1.0 - b2)
                                });
                            let c1 = 1.0 - b1.powi(step);
                            let c2 = 1.0 - b2.powi(step);
                            let upd = a.clone().div_scalar(c1)
                                / v.clone().div_scalar(c2).sqrt().add_scalar(1e-8);
                            m1[i] = Some(a);
                            m2[i] = Some(v);
                            w.clone() - upd.mul_scalar(lr) - w.mul_scalar(lr * wd)
                        }
                        "momentum" => {
                            let g = g + w.clone().mul_scalar(wd);
                            let v = m1[i].take().map_or(g.clone(), |v| v.mul_scalar(0.9) + g);
                            m1[i] = Some(v.clone());
                            w - v.mul_scalar(lr)
                        }
                        _ => w.clone() - (g + w.mul_scalar(wd)).mul_scalar(lr),
                    };
                    *p = new.autodiff().require_grad();
                }
            }
            if !epoch_loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch: epoch + 1,
                    value: epoch_loss,
                });
            }
            if start.elapsed().as_secs_f64() > input.guard_s {
                return Err(TrainError::WallClock(input.guard_s));
            }
        }
        Ok(Self {
            arch,
            params: params.into_iter().map(|p| p.inner()).collect(),
            head: input.head,
            activation,
            target_shift: shift,
            target_scale: scale,
            log_target,
        })
    }

    /// Predictions for every row of `x`: probabilities (softmax / sigmoid heads) or values.
    pub(crate) fn predict(&self, x: &Matrix) -> Result<Vec<Vec<f64>>, TrainError> {
        let device = Device::flex();
        let k = self.head.outputs();
        let mut out = Vec::with_capacity(x.rows);
        for start in (0..x.rows).step_by(1024) {
            let end = (start + 1024).min(x.rows);
            let xb = tensor2(
                x.data[start * x.cols..end * x.cols].to_vec(),
                end - start,
                x.cols,
                &device,
            );
            let z = forward(self.arch, &self.params, self.activation, xb, None, &device);
            let p = match self.head {
                Head::Softmax(_) => softmax(z, 1),
                Head::Sigmoid(_) => sigmoid(z),
                Head::Regression(_) => z,
            };
            let v: Vec<f32> = p
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("predictions are f32");
            for row in v.chunks(k) {
                let mut r: Vec<f64> = row.iter().map(|v| f64::from(*v)).collect();
                if let Head::Regression(_) = self.head {
                    for (j, val) in r.iter_mut().enumerate() {
                        *val = *val * f64::from(self.target_scale[j])
                            + f64::from(self.target_shift[j]);
                        if self.log_target {
                            *val = val.exp_m1();
                        }
                    }
                }
                if r.iter().any(|v| !v.is_finite()) {
                    return Err(TrainError::Diverged {
                        epoch: 0,
                        value: f32::NAN,
                    });
                }
                out.push(r);
            }
        }
        Ok(out)
    }
}
