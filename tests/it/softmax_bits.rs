//! On the autodiff device, `softmax` and `log_softmax` over the last axis are one node each
//! (vendor/burn-flex `ops/composed_softmax.rs`, vendor/README.md). They replaced burn's five-node
//! composition without moving any trained number, so their outputs and their input gradients
//! must have the composition's bits: here the composition is written out with the same tensor
//! ops (each its own autodiff node) and both are compared bit for bit.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use mlagent::seed::SeedPath;

fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("a float tensor on the flex backend holds f32")
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

/// Scores as attention and a language-model head see them: normal values at several scales,
/// some masked to -inf (never a whole row), some exact zeros of either sign.
fn inputs(seed: &str, rows: usize, cols: usize, scale: f32) -> Vec<f32> {
    let mut rng = SeedPath::root(11).child(seed).rng();
    let normal = mlagent::lm::model::normal_vec(&mut rng, rows * cols, 1.0);
    normal
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let (r, c) = (i / cols, i % cols);
            if c > 0 && (c + r) % 5 == 0 {
                f32::NEG_INFINITY
            } else if i % 37 == 3 {
                if i % 2 == 0 { 0.0 } else { -0.0 }
            } else {
                v * scale
            }
        })
        .collect()
}

/// burn-backend's default `softmax`, node by node.
fn composed_softmax(x: Tensor<3>) -> Tensor<3> {
    let max = x.clone().detach().max_dim(2);
    let e = (x - max).exp();
    let s = e.clone().sum_dim(2);
    e / s
}

/// burn-backend's default `log_softmax`, node by node.
fn composed_log_softmax(x: Tensor<3>) -> Tensor<3> {
    let max = x.clone().detach().max_dim(2);
    let shifted = x - max;
    let lse = shifted.clone().exp().sum_dim(2).log();
    shifted - lse
}

/// Output bits and input-gradient bits of `f` under an upstream gradient of random weights
/// (softmax, as attention's probabilities meet the value product) or of a gathered target per
/// row (log-softmax, as the loss uses it).
fn run(f: fn(Tensor<3>) -> Tensor<3>, xs: &[f32], shape: [usize; 3], log: bool) -> [Vec<u32>; 2] {
    let device = Device::flex().autodiff();
    let x = Tensor::<3>::from_data(TensorData::new(xs.to_vec(), shape), &device).require_grad();
    let out = f(x.clone());
    let loss = if log {
        let [b, t, v] = shape;
        let targets: Vec<i64> = (0..b * t).map(|i| ((i * 7919) % v) as i64).collect();
        let idx = Tensor::<3, Int>::from_data(TensorData::new(targets, [b, t, 1]), &device);
        out.clone().gather(2, idx).sum().neg() * (1.0 / (b * t) as f64)
    } else {
        let w = inputs(
            "upstream",
            shape.iter().product::<usize>() / shape[2],
            shape[2],
            1.0,
        )
        .into_iter()
        .map(|v| if v.is_finite() { v } else { 0.5 })
        .collect::<Vec<_>>();
        (out.clone() * Tensor::<3>::from_data(TensorData::new(w, shape), &device)).sum()
    };
    let grads = loss.backward();
    let g = x.grad(&grads).expect("x requires grad");
    [bits(out), bits(g)]
}

fn check(shape: [usize; 3], scale: f32) {
    let [b, t, v] = shape;
    let xs = inputs(&format!("{shape:?}-{scale}"), b * t, v, scale);
    for (name, fused, composed, log) in [
        (
            "softmax",
            (|x| softmax(x, 2)) as fn(Tensor<3>) -> Tensor<3>,
            composed_softmax as fn(Tensor<3>) -> Tensor<3>,
            false,
        ),
        (
            "log_softmax",
            |x| log_softmax(x, 2),
            composed_log_softmax,
            true,
        ),
    ] {
        let [out_f, grad_f] = run(fused, &xs, shape, log);
        let [out_c, grad_c] = run(composed, &xs, shape, log);
        let diff = |a: &[u32], c: &[u32]| a.iter().zip(c).filter(|(a, c)| a != c).count();
        assert_eq!(
            (diff(&out_f, &out_c), diff(&grad_f, &grad_c)),
            (0, 0),
            "{name} {shape:?} scale {scale}: (outputs, gradients) differing in bits"
        );
    }
}

#[test]
fn fused_softmax_and_log_softmax_have_the_composed_bits() {
    // Row lengths around the row-sum kernel's strides (8 lanes, 8 accumulators = 64), the
    // attention rows of mini (256) and a vocabulary (2048); row counts past one parallel task.
    for (shape, scale) in [
        ([1, 1, 1], 1.0),
        ([2, 3, 7], 3.0),
        ([3, 5, 8], 1.0),
        ([2, 40, 63], 8.0),
        ([2, 33, 64], 0.5),
        ([1, 70, 65], 30.0),
        ([4, 64, 256], 4.0),
        ([2, 48, 2048], 2.0),
    ] {
        check(shape, scale);
    }
}

/// A check that could fail: the composition computed another way (the row normalised by a
/// multiplied reciprocal, as flex's inference softmax does) differs in bits somewhere.
#[test]
fn a_reordered_softmax_is_told_apart() {
    let shape = [4, 64, 256];
    let xs = inputs("reordered", 4 * 64, 256, 4.0);
    let reciprocal = |x: Tensor<3>| {
        let max = x.clone().detach().max_dim(2);
        let e = (x - max).exp();
        let s = e.clone().sum_dim(2);
        e * s.recip()
    };
    let [out_f, _] = run(|x| softmax(x, 2), &xs, shape, false);
    let [out_r, _] = run(reciprocal, &xs, shape, false);
    assert_ne!(out_f, out_r);
}
