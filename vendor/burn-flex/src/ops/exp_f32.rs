//! mlagent patch: `exp` over f32 slices, eight lanes at a time, with the bits of glibc's `expf`.
//!
//! Training spent a tenth of its time in libm's scalar `expf`, one call per element (softmax,
//! its backward, SiLU's sigmoid, the loss's log-softmax). This is the same algorithm as glibc
//! 2.28+'s `__expf_fma` (sysdeps/ieee754/flt-32/e_expf.c: x·32/ln2 = k + r, 2^(k/32) from a
//! 32-entry table, a cubic in r, all in f64, the products fused as its FMA build fuses them) on
//! AVX2 + FMA lanes. It was compared with glibc's `expf` on every one of the 2^32 inputs with
//! |x| < 88 (mlagent's `tests/it/exp_bits.rs`; the other inputs go to libm here): equal bits, so
//! no result of the project changed. Where AVX2 and FMA are missing it calls libm, as before.
//! Every element is computed on its own, so splitting a slice over threads changes nothing.

#[cfg(feature = "rayon")]
use rayon::prelude::*;

/// glibc's `__exp2f_data.tab`: `asuint64(2^(i/32)) - (i << 47)`.
#[cfg(target_arch = "x86_64")]
static TABLE: [u64; 32] = [
    0x3ff0000000000000,
    0x3fefd9b0d3158574,
    0x3fefb5586cf9890f,
    0x3fef9301d0125b51,
    0x3fef72b83c7d517b,
    0x3fef54873168b9aa,
    0x3fef387a6e756238,
    0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715,
    0x3feef1a7373aa9cb,
    0x3feedea64c123422,
    0x3feece086061892d,
    0x3feebfdad5362a27,
    0x3feeb42b569d4f82,
    0x3feeab07dd485429,
    0x3feea47eb03a5585,
    0x3feea09e667f3bcd,
    0x3fee9f75e8ec5f74,
    0x3feea11473eb0187,
    0x3feea589994cce13,
    0x3feeace5422aa0db,
    0x3feeb737b0cdc5e5,
    0x3feec49182a3f090,
    0x3feed503b23e255d,
    0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47,
    0x3fef199bdd85529c,
    0x3fef3720dcef9069,
    0x3fef5818dcfba487,
    0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da,
    0x3fefd0765b6e4540,
];

/// Slices at least this long are split over rayon's threads in blocks of `BLOCK`.
#[cfg(feature = "rayon")]
const PARALLEL_MIN: usize = 1 << 16;
#[cfg(feature = "rayon")]
const BLOCK: usize = 1 << 14;

/// Whether the eight-lane kernel can run (checked once; `std` caches the answer).
#[inline]
fn simd() -> bool {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    {
        false
    }
}

/// `exp(x)` with the bits every slice function here gives.
#[inline]
pub fn exp(x: f32) -> f32 {
    let mut lanes = [x; 8];
    if simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 and FMA were detected; eight lanes are in bounds.
        unsafe {
            x86::exp8(lanes.as_ptr(), lanes.as_mut_ptr());
        }
        lanes[0]
    } else {
        x.exp()
    }
}

/// `xs[i] = exp(xs[i])`.
pub fn exp_in_place(xs: &mut [f32]) {
    for_blocks(xs, exp_in_place_serial);
}

/// Runs `f` over `xs` in blocks of `BLOCK`, on rayon's threads when `xs` is long: for element-wise
/// kernels, whose results do not depend on how the slice is cut.
pub fn for_blocks<F: Fn(&mut [f32]) + Sync + Send>(xs: &mut [f32], f: F) {
    #[cfg(feature = "rayon")]
    if xs.len() >= PARALLEL_MIN {
        xs.par_chunks_mut(BLOCK).for_each(f);
        return;
    }
    f(xs);
}

/// `exp_in_place` on the calling thread only (for callers already running in parallel).
pub fn exp_in_place_serial(xs: &mut [f32]) {
    if !simd() {
        for x in xs.iter_mut() {
            *x = x.exp();
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut chunks = xs.chunks_exact_mut(8);
        for c in &mut chunks {
            // SAFETY: AVX2 and FMA were detected; the chunk holds eight lanes, loaded before
            // they are stored.
            unsafe { x86::exp8(c.as_ptr(), c.as_mut_ptr()) };
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let mut lanes = [0.0f32; 8];
            lanes[..tail.len()].copy_from_slice(tail);
            // SAFETY: as above, on a full local array.
            unsafe { x86::exp8(lanes.as_ptr(), lanes.as_mut_ptr()) };
            tail.copy_from_slice(&lanes[..tail.len()]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// Four lanes of e_expf.c's main path (|x| < 88), in f64.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp4(xd: __m256d) -> __m128 {
        const N: f64 = 32.0;
        // InvLn2N = 0x1.71547652b82fep+0 * N; SHIFT = 0x1.8p+52; poly_scaled.
        let inv = _mm256_set1_pd(f64::from_bits(0x40471547652b82fe));
        let shift = _mm256_set1_pd(f64::from_bits(0x4338000000000000));
        let c0 = _mm256_set1_pd(f64::from_bits(0x3fac6af84b912394) / (N * N * N));
        let c1 = _mm256_set1_pd(f64::from_bits(0x3fcebfce50fac4f3) / (N * N));
        let c2 = _mm256_set1_pd(f64::from_bits(0x3fe62e42ff0c52d6) / N);
        // kd = round(z) by the shift trick; r = z - kd with z = InvLn2N·x fused into both.
        let kd = _mm256_fmadd_pd(inv, xd, shift);
        let ki = _mm256_castpd_si256(kd);
        let kd = _mm256_sub_pd(kd, shift);
        let r = _mm256_fmsub_pd(inv, xd, kd);
        let idx = _mm256_and_si256(ki, _mm256_set1_epi64x(31));
        // SAFETY: every index is masked to 0..32, the table's length.
        let t = unsafe { _mm256_i64gather_epi64::<8>(super::TABLE.as_ptr() as *const i64, idx) };
        let s = _mm256_castsi256_pd(_mm256_add_epi64(t, _mm256_slli_epi64::<47>(ki)));
        let z = _mm256_fmadd_pd(c0, r, c1);
        let r2 = _mm256_mul_pd(r, r);
        let y = _mm256_fmadd_pd(c2, r, _mm256_set1_pd(1.0));
        let y = _mm256_fmadd_pd(z, r2, y);
        _mm256_cvtpd_ps(_mm256_mul_pd(y, s))
    }

    /// Eight lanes from `src` to `dst` (which may be equal).
    ///
    /// # Safety
    /// AVX2 and FMA are available; both pointers are valid for eight f32.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn exp8(src: *const f32, dst: *mut f32) {
        let x = unsafe { _mm256_loadu_ps(src) };
        let lo = unsafe { exp4(_mm256_cvtps_pd(_mm256_castps256_ps128(x))) };
        let hi = unsafe { exp4(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x))) };
        // Below log(2^-150) (−∞ included, as in masked attention scores) libm returns +0.
        let zero = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(f32::from_bits(0xc2cff1b4)));
        let y = _mm256_andnot_ps(zero, _mm256_set_m128(hi, lo));
        // |x| ≥ 88 or NaN, not already zero: libm's special cases, lane by lane.
        let abs = _mm256_and_si256(_mm256_castps_si256(x), _mm256_set1_epi32(0x7fff_ffff));
        let special = _mm256_andnot_si256(
            _mm256_castps_si256(zero),
            _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x42af_ffff)),
        );
        let mut out = [0.0f32; 8];
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), y) };
        let mask = _mm256_movemask_ps(_mm256_castsi256_ps(special));
        if mask != 0 {
            let mut input = [0.0f32; 8];
            unsafe { _mm256_storeu_ps(input.as_mut_ptr(), x) };
            for j in 0..8 {
                if mask & (1 << j) != 0 {
                    out[j] = input[j].exp();
                }
            }
        }
        unsafe { _mm256_storeu_ps(dst, _mm256_loadu_ps(out.as_ptr())) };
    }
}
