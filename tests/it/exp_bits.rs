//! burn's CPU `exp` on f32 is vendor/burn-flex's eight-lane kernel (vendor/README.md). It must
//! give libm's bits for every input: it replaced libm's `expf` without moving any trained number
//! (the goldens), and an input it got wrong anywhere would move some number somewhere.

use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Tensor, TensorData};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_to_vec::<f32>()
        .expect("a float tensor on the flex backend holds f32")
}

fn same(want: f32, got: f32) -> bool {
    want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan())
}

/// All 2^32 inputs, 2^22 at a time (about half a minute on one core).
#[test]
fn tensor_exp_gives_libms_bits_for_every_f32() {
    let device = Device::flex();
    const CHUNK: u64 = 1 << 22;
    let mut mismatches = 0u64;
    let mut first = None;
    for start in (0..1u64 << 32).step_by(CHUNK as usize) {
        let xs: Vec<f32> = (start..start + CHUNK)
            .map(|b| f32::from_bits(b as u32))
            .collect();
        let t = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device);
        for (x, y) in xs.iter().zip(values(t.exp())) {
            let want = x.exp();
            if !same(want, y) {
                mismatches += 1;
                first.get_or_insert((*x, want, y));
            }
        }
    }
    assert_eq!(mismatches, 0, "first (x, libm, tensor): {first:?}");
}

/// A sweep over the ranges softmax and SiLU see, through the other layouts and ops that
/// exponentiate: a transposed (non-contiguous) tensor, sigmoid, and the fused softmax.
#[test]
fn other_paths_to_exp_give_libms_bits() {
    let device = Device::flex();
    let (rows, cols) = (96, 203);
    let xs: Vec<f32> = (0..rows * cols)
        .map(|i| {
            let u = (i as f32 * 0.618_034).fract() - 0.5;
            if i % 7 == 0 {
                f32::NEG_INFINITY
            } else {
                u * 60.0
            }
        })
        .collect();
    let t = Tensor::<2>::from_data(TensorData::new(xs.clone(), [rows, cols]), &device);

    let transposed = values(t.clone().transpose().exp().transpose());
    for (x, y) in xs.iter().zip(&transposed) {
        assert!(same(x.exp(), *y), "exp({x:e}) transposed: {y:e}");
    }

    for (x, y) in xs.iter().zip(values(sigmoid(t.clone()))) {
        // burn-flex's sigmoid before the patch, with libm's exp.
        let want = if *x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        };
        assert!(same(want, y), "sigmoid({x:e}) = {want:e}, got {y:e}");
    }

    let probs = values(softmax(t, 1));
    for (row, got) in xs.chunks(cols).zip(probs.chunks(cols)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = row.iter().map(|x| (x - max).exp()).collect();
        let sum = e.iter().fold(0.0f32, |s, e| s + e);
        let inv = 1.0 / sum;
        for (e, g) in e.iter().zip(got) {
            assert!(same(e * inv, *g), "softmax: {:e} vs {g:e}", e * inv);
        }
    }
}
