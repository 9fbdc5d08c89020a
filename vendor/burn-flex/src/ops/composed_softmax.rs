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
use core::mem::MaybeUninit;

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
    #[cfg(feature = "simd")]
    return crate::simd::kernels::max_f32(row);
    #[cfg(not(feature = "simd"))]
    {
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
}

/// `sum_dim` over a row of one element (what `SumDim`'s backward does to its `[.., 1]` gradient).
fn sum_of_one(x: f32) -> f32 {
    let mut out = [0.0f32];
    crate::ops::reduce::row_sums_f32(&[x], &mut out, 1);
    out[0]
}

/// Runs `f` over chunks of `rows` rows, in parallel where rayon is on; each row is computed
/// alone, so the split changes nothing.
fn for_row_chunks<F>(rows: usize, f: F)
where
    F: Fn(core::ops::Range<usize>) + Sync + Send,
{
    let chunks = rows.div_ceil(ROWS_PER_TASK);
    let range = |c: usize| c * ROWS_PER_TASK..((c + 1) * ROWS_PER_TASK).min(rows);
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..chunks).into_par_iter().for_each(|c| f(range(c)));
    }
    #[cfg(not(feature = "rayon"))]
    for c in 0..chunks {
        f(range(c));
    }
}

/// An f32 buffer whose every element the kernel writes before anything reads it (no zeroing
/// pass over tensors of a vocabulary's or an attention map's size).
struct Fresh {
    buf: Vec<MaybeUninit<f32>>,
}

impl Fresh {
    fn new(len: usize) -> Self {
        let mut buf = Vec::with_capacity(len);
        // SAFETY: `MaybeUninit` needs no initialisation, and the capacity is `len`.
        unsafe { buf.set_len(len) };
        Self { buf }
    }

    fn ptr(&mut self) -> SyncPtr {
        SyncPtr(self.buf.as_mut_ptr().cast())
    }

    /// # Safety
    /// Every element has been written.
    unsafe fn into_vec(self) -> Vec<f32> {
        let mut buf = core::mem::ManuallyDrop::new(self.buf);
        let (ptr, len, cap) = (buf.as_mut_ptr().cast::<f32>(), buf.len(), buf.capacity());
        // SAFETY: same allocation, layout and length; the caller guarantees initialisation.
        unsafe { Vec::from_raw_parts(ptr, len, cap) }
    }
}

/// The forward of softmax (`log == false`) or log-softmax over the last axis: `(output, saved)`,
/// or `None` where only the composed ops apply.
fn forward(x: &FlexTensor, log: bool) -> Option<(FlexTensor, Saved)> {
    let last = rows_of(x)?;
    let shape = x.layout().shape().clone();
    let input: &[f32] = x.storage();
    let n = input.len();
    let rows = n / last;
    let mut e = Fresh::new(n);
    let mut out = Fresh::new(n);
    let mut sums = vec![0.0f32; rows];
    let (e_ptr, out_ptr, sums_ptr) = (e.ptr(), out.ptr(), SyncPtr(sums.as_mut_ptr()));
    for_row_chunks(rows, |r| {
        let (start, len) = (r.start * last, r.len() * last);
        // SAFETY: chunks cover disjoint row ranges of `e`, `out` and `sums`, each sized for
        // every row; a slice over `e` or `out` is formed only after all its elements are written.
        unsafe {
            let ep = e_ptr.get().add(start);
            for (i, row) in input[start..start + len].chunks(last).enumerate() {
                let m = row_max(row);
                let dst = ep.add(i * last);
                for (j, &v) in row.iter().enumerate() {
                    dst.add(j).write(v - m);
                }
            }
            let er = core::slice::from_raw_parts_mut(ep, len);
            let sr = core::slice::from_raw_parts_mut(sums_ptr.get().add(r.start), r.len());
            let op = out_ptr.get().add(start);
            if log {
                core::ptr::copy_nonoverlapping(ep, op, len);
            }
            crate::ops::exp_f32::exp_in_place_serial(er);
            crate::ops::reduce::row_sums_f32(er, sr, last);
            if log {
                let or = core::slice::from_raw_parts_mut(op, len);
                for (yr, &s) in or.chunks_mut(last).zip(sr.iter()) {
                    let l = s.ln();
                    for y in yr.iter_mut() {
                        *y -= l;
                    }
                }
            } else {
                for (i, (row, &s)) in er.chunks(last).zip(sr.iter()).enumerate() {
                    let dst = op.add(i * last);
                    for (j, &v) in row.iter().enumerate() {
                        dst.add(j).write(v / s);
                    }
                }
            }
        }
    });
    // SAFETY: the chunks cover every row, and each wrote all of its elements of `e` and `out`.
    let (e, out) = unsafe { (e.into_vec(), out.into_vec()) };
    let saved = Saved {
        exp: tensor(e, shape.clone()),
        sums: tensor(sums, sums_shape(&shape)),
    };
    Some((tensor(out, shape), saved))
}

/// Softmax over the last axis: `(output, saved)`, or `None` where only the composed ops apply.
pub fn softmax_forward(x: &FlexTensor) -> Option<(FlexTensor, Saved)> {
    forward(x, false)
}

/// Log-softmax over the last axis: `(output, saved)`, or `None` where only the composed ops
/// apply.
pub fn log_softmax_forward(x: &FlexTensor) -> Option<(FlexTensor, Saved)> {
    forward(x, true)
}

/// The gradient's data, contiguous, written over in place where the buffer is not shared.
fn grad_buffer(grad: FlexTensor) -> FlexTensor {
    if grad.is_unique() && grad.is_contiguous() && grad.layout().start_offset() == 0 {
        grad
    } else {
        grad.to_contiguous()
    }
}

/// The softmax's (`log == false`) or log-softmax's input gradient from the output gradient
/// `grad` (see the module docs).
fn backward(grad: FlexTensor, saved: &Saved, log: bool) -> FlexTensor {
    let last = *saved
        .exp
        .layout()
        .shape()
        .last()
        .expect("saved exp has rows");
    let mut g = grad_buffer(grad);
    let e: &[f32] = saved.exp.storage();
    let sums: &[f32] = saved.sums.storage();
    let rows = sums.len();
    let gs: &mut [f32] = g.storage_mut();
    assert_eq!(gs.len(), e.len(), "the gradient has the output's shape");
    let g_ptr = SyncPtr(gs.as_mut_ptr());
    for_row_chunks(rows, |r| {
        let (start, len) = (r.start * last, r.len() * last);
        // SAFETY: chunks cover disjoint row ranges of the (initialised) gradient buffer.
        let gr = unsafe { core::slice::from_raw_parts_mut(g_ptr.get().add(start), len) };
        let er = &e[start..start + len];
        let mut t = vec![0.0f32; last];
        let mut acc = [0.0f32];
        for ((gr, er), &s) in gr.chunks_mut(last).zip(er.chunks(last)).zip(&sums[r]) {
            if log {
                for (t, &gv) in t.iter_mut().zip(gr.iter()) {
                    *t = -gv;
                }
                crate::ops::reduce::row_sums_f32(&t, &mut acc, last);
                let back = 1.0 * sum_of_one(acc[0] * (1.0 / s));
                for (gv, &ev) in gr.iter_mut().zip(er) {
                    *gv += back * ev;
                }
            } else {
                let recip = 1.0 / s;
                let s2 = s * s;
                for ((t, &gv), &ev) in t.iter_mut().zip(gr.iter()).zip(er) {
                    *t = gv * (-ev / s2);
                }
                crate::ops::reduce::row_sums_f32(&t, &mut acc, last);
                let back = 1.0 * sum_of_one(acc[0]);
                for (gv, &ev) in gr.iter_mut().zip(er) {
                    *gv = (*gv * recip + back) * ev;
                }
            }
        }
    });
    g
}

/// The softmax's input gradient from the output gradient `grad`.
pub fn softmax_backward(grad: FlexTensor, saved: &Saved) -> FlexTensor {
    backward(grad, saved, false)
}

/// The log-softmax's input gradient from the output gradient `grad`.
pub fn log_softmax_backward(grad: FlexTensor, saved: &Saved) -> FlexTensor {
    backward(grad, saved, true)
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
