//! mlagent patch (vendor/README.md): softmax and log-softmax over the last axis of an f32
//! tensor, forward and backward, each in one sweep over the rows, with the bits of burn's
//! composed definitions (`ActivationOps::softmax` / `log_softmax` in burn-backend: detached
//! `max_dim`, `sub`, `exp`, `sum_dim`, then `div` or `log` and `sub`) and of the gradients
//! burn-autodiff computes through those five nodes.
//!
//! Every element-wise step is the same IEEE operation on the same operands as in the composed
//! graph; the row sums go through the kernel `sum_dim` uses (`reduce::row_sums_f32`), so they add
//! in the same order. burn-autodiff's `softmax`/`log_softmax` call these when the backend is
//! `Flex`; `tests/it/softmax_bits.rs` in mlagent compares both paths bit for bit.
//!
//! The composed backward, per row, with `g` the gradient of the output, `e = exp(x - max)` and
//! `s = sum(e)` (the forward keeps `e` and `s`):
//! - softmax (`div(e, s)`): `Div` gives `e` the gradient `g * recip(s)` and `s` the row sum of
//!   `g * (-e / (s * s))`; `SumDim` hands that back to every `e` as `ones * sum_dim(it)`; `Exp`
//!   multiplies by `e`; `Sub` passes it to `x` (the max is detached).
//! - log-softmax (`sub(y, log(s))`, `y = x - max`): `Sub` gives `y` the gradient `g` and `log(s)`
//!   the row sum of `-g`; `Log` multiplies by `recip(s)`; `SumDim` and `Exp` as above; `y` adds
//!   its two gradients.

use alloc::vec;
use alloc::vec::Vec;

use burn_backend::DType;
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

/// Rows per parallel task: each task's rows stay in cache between the sweeps.
const ROWS_PER_TASK: usize = 32;

/// What the forward keeps for the backward: `exp(x - max)` (the input's shape) and its row sums
/// (the input's shape with a last axis of 1).
pub struct Saved {
    pub exp: FlexTensor,
    pub sums: FlexTensor,
}

/// Row length and contiguous f32 data of `t`, or `None` where the fused path does not apply
/// (another dtype, a non-contiguous or offset layout, an empty tensor).
fn rows_of(t: &FlexTensor) -> Option<usize> {
    if t.dtype() != DType::F32
        || !t.is_contiguous()
        || t.layout().start_offset() != 0
        || t.layout().num_elements() == 0
    {
        return None;
    }
    let last = *t.layout().shape().last()?;
    (last > 0).then_some(last)
}

fn tensor(data: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(shape),
        DType::F32,
    )
}

fn sums_shape(shape: &Shape) -> Shape {
    let mut dims = shape.to_vec();
    *dims.last_mut().expect("a tensor with rows has a last axis") = 1;
    Shape::from(dims)
}

/// The row maximum as `max_dim` gives it (NaN if the row holds one); only its value matters,
/// since `x - max` is the same for a max of +0 or -0.
fn row_max(row: &[f32]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for &x in row {
        if x.is_nan() {
            return f32::NAN;
        }
        if x > m {
            m = x;
        }
    }
    m
}

/// `sum_dim` over a row of one element (what `SumDim`'s backward does to its `[.., 1]` gradient).
fn sum_of_one(x: f32) -> f32 {
    let mut out = [0.0f32];
    crate::ops::reduce::row_sums_f32(&[x], &mut out, 1);
    out[0]
}

/// Runs `f(input rows, output rows, first row)` over chunks of rows, in parallel where rayon is
/// on; each row is computed alone, so the split changes nothing.
fn for_row_chunks<F>(input_len: usize, last: usize, out: &mut [f32], f: F)
where
    F: Fn(core::ops::Range<usize>, &mut [f32]) + Sync + Send,
{
    let chunk = ROWS_PER_TASK * last;
    debug_assert_eq!(out.len(), input_len);
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, o)| f(i * chunk..i * chunk + o.len(), o));
    }
    #[cfg(not(feature = "rayon"))]
    for (i, o) in out.chunks_mut(chunk).enumerate() {
        f(i * chunk..i * chunk + o.len(), o);
    }
}

/// `exp(x - max)` into `e` and the row sums into `sums`, for the rows of `x`.
fn exp_shifted(
    x: &[f32],
    e: &mut [f32],
    sums: &mut [f32],
    last: usize,
    shifted: Option<&mut [f32]>,
) {
    for (xr, er) in x.chunks(last).zip(e.chunks_mut(last)) {
        let m = row_max(xr);
        for (o, &v) in er.iter_mut().zip(xr) {
            *o = v - m;
        }
    }
    if let Some(y) = shifted {
        y.copy_from_slice(e);
    }
    crate::ops::exp_f32::exp_in_place_serial(e);
    crate::ops::reduce::row_sums_f32(e, sums, last);
}

/// Softmax over the last axis: `(output, saved)`, or `None` where only the composed ops apply.
pub fn softmax_forward(x: &FlexTensor) -> Option<(FlexTensor, Saved)> {
    let last = rows_of(x)?;
    let shape = x.layout().shape().clone();
    let input: &[f32] = x.storage();
    let n = input.len();
    let rows = n / last;
    let mut e = vec![0.0f32; n];
    let mut sums = vec![0.0f32; rows];
    let mut p = vec![0.0f32; n];
    {
        let sums_ptr = SyncPtr(sums.as_mut_ptr());
        let e_ptr = SyncPtr(e.as_mut_ptr());
        for_row_chunks(n, last, &mut p, |range, pr| {
            let (r0, nr) = (range.start / last, pr.len() / last);
            // SAFETY: chunks cover disjoint row ranges of `e` and `sums`, both sized for all rows.
            let (er, sr) = unsafe {
                (
                    core::slice::from_raw_parts_mut(e_ptr.get().add(range.start), pr.len()),
                    core::slice::from_raw_parts_mut(sums_ptr.get().add(r0), nr),
                )
            };
            exp_shifted(&input[range], er, sr, last, None);
            for ((pr, er), &s) in pr.chunks_mut(last).zip(er.chunks(last)).zip(sr.iter()) {
                for (o, &v) in pr.iter_mut().zip(er) {
                    *o = v / s;
                }
            }
        });
    }
    let saved = Saved {
        exp: tensor(e, shape.clone()),
        sums: tensor(sums, sums_shape(&shape)),
    };
    Some((tensor(p, shape), saved))
}

/// Log-softmax over the last axis: `(output, saved)`, or `None` where only the composed ops
/// apply.
pub fn log_softmax_forward(x: &FlexTensor) -> Option<(FlexTensor, Saved)> {
    let last = rows_of(x)?;
    let shape = x.layout().shape().clone();
    let input: &[f32] = x.storage();
    let n = input.len();
    let rows = n / last;
    let mut e = vec![0.0f32; n];
    let mut sums = vec![0.0f32; rows];
    let mut out = vec![0.0f32; n];
    {
        let sums_ptr = SyncPtr(sums.as_mut_ptr());
        let e_ptr = SyncPtr(e.as_mut_ptr());
        for_row_chunks(n, last, &mut out, |range, yr| {
            let (r0, nr) = (range.start / last, yr.len() / last);
            // SAFETY: as in `softmax_forward`.
            let (er, sr) = unsafe {
                (
                    core::slice::from_raw_parts_mut(e_ptr.get().add(range.start), yr.len()),
                    core::slice::from_raw_parts_mut(sums_ptr.get().add(r0), nr),
                )
            };
            exp_shifted(&input[range], er, sr, last, Some(yr));
            for (yr, &s) in yr.chunks_mut(last).zip(sr.iter()) {
                let l = s.ln();
                for y in yr.iter_mut() {
                    *y -= l;
                }
            }
        });
    }
    let saved = Saved {
        exp: tensor(e, shape.clone()),
        sums: tensor(sums, sums_shape(&shape)),
    };
    Some((tensor(out, shape), saved))
}

/// The gradient's data, contiguous, written over in place where the buffer is not shared.
fn grad_buffer(grad: FlexTensor) -> FlexTensor {
    if grad.is_unique() && grad.is_contiguous() && grad.layout().start_offset() == 0 {
        grad
    } else {
        grad.to_contiguous()
    }
}

/// The softmax's input gradient from the output gradient `grad` (see the module docs).
pub fn softmax_backward(grad: FlexTensor, saved: &Saved) -> FlexTensor {
    let last = *saved
        .exp
        .layout()
        .shape()
        .last()
        .expect("saved exp has rows");
    let mut g = grad_buffer(grad);
    let e: &[f32] = saved.exp.storage();
    let sums: &[f32] = saved.sums.storage();
    let n = e.len();
    let gs: &mut [f32] = g.storage_mut();
    for_row_chunks(n, last, gs, |range, gr| {
        let r0 = range.start / last;
        let mut t = vec![0.0f32; last];
        let mut acc = [0.0f32];
        for (i, (gr, er)) in gr.chunks_mut(last).zip(e[range].chunks(last)).enumerate() {
            let s = sums[r0 + i];
            let r = 1.0 / s;
            let s2 = s * s;
            for ((t, &gv), &ev) in t.iter_mut().zip(gr.iter()).zip(er) {
                *t = gv * (-ev / s2);
            }
            crate::ops::reduce::row_sums_f32(&t, &mut acc, last);
            let back = 1.0 * sum_of_one(acc[0]);
            for (gv, &ev) in gr.iter_mut().zip(er) {
                *gv = (*gv * r + back) * ev;
            }
        }
    });
    g
}

/// The log-softmax's input gradient from the output gradient `grad` (see the module docs).
pub fn log_softmax_backward(grad: FlexTensor, saved: &Saved) -> FlexTensor {
    let last = *saved
        .exp
        .layout()
        .shape()
        .last()
        .expect("saved exp has rows");
    let mut g = grad_buffer(grad);
    let e: &[f32] = saved.exp.storage();
    let sums: &[f32] = saved.sums.storage();
    let n = e.len();
    let gs: &mut [f32] = g.storage_mut();
    for_row_chunks(n, last, gs, |range, gr| {
        let r0 = range.start / last;
        let mut t = vec![0.0f32; last];
        let mut acc = [0.0f32];
        for (i, (gr, er)) in gr.chunks_mut(last).zip(e[range].chunks(last)).enumerate() {
            let s = sums[r0 + i];
            for (t, &gv) in t.iter_mut().zip(gr.iter()) {
                *t = -gv;
            }
            crate::ops::reduce::row_sums_f32(&t, &mut acc, last);
            let grad_sum = acc[0] * (1.0 / s);
            let back = 1.0 * sum_of_one(grad_sum);
            for (gv, &ev) in gr.iter_mut().zip(er) {
                *gv += back * ev;
            }
        }
    });
    g
}

/// A raw pointer that parallel row chunks write through at disjoint offsets.
#[derive(Clone, Copy)]
struct SyncPtr(*mut f32);
// SAFETY: only used to hand disjoint row ranges to rayon tasks (see the call sites).
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}
impl SyncPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}
