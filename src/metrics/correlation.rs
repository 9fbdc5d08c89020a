//! Pearson's correlation coefficient (us-patent phrase matching: `scipy.stats.pearsonr`).

use super::MetricError;
use super::sum::{all_finite, same_len_nonempty, sum};

/// r = Σ(x − x̄)(y − ȳ) / sqrt(Σ(x − x̄)² · Σ(y − ȳ)²), computed on centred data (so an offset
/// of 1e9 costs no precision) after scaling each vector by a power of two (exact) so that no
/// intermediate overflows. Errors: fewer than 2 points (scipy raises), a constant vector
/// (scipy returns NaN). The result is clamped to [−1, 1] like scipy's.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64, MetricError> {
    let n = same_len_nonempty("y_true", x, "y_pred", y)?;
    if n < 2 {
        return Err(MetricError::TooSmall {
            what: "number of points",
            min: 2,
            got: n,
        });
    }
    all_finite("y_true", x)?;
    all_finite("y_pred", y)?;
    if x.iter().all(|&v| v == x[0]) {
        return Err(MetricError::ConstantInput { what: "y_true" });
    }
    if y.iter().all(|&v| v == y[0]) {
        return Err(MetricError::ConstantInput { what: "y_pred" });
    }
    let xc = centred(x);
    let yc = centred(y);
    let sxy = sum(xc.iter().zip(&yc).map(|(a, b)| a * b));
    let sxx = sum(xc.iter().map(|a| a * a));
    let syy = sum(yc.iter().map(|b| b * b));
    if sxx == 0.0 || syy == 0.0 {
        // Unreachable for non-constant finite input after scaling (deviations are at least
        // one ulp of a value in [1, 2)); kept so that no input can yield NaN.
        return Err(MetricError::ConstantInput {
            what: if sxx == 0.0 { "y_true" } else { "y_pred" },
        });
    }
    let r = sxy / (sxx.sqrt() * syy.sqrt());
    Ok(r.clamp(-1.0, 1.0))
}

/// `xs` scaled by a power of two so that max |x| ∈ [1, 2), then centred on its mean.
fn centred(xs: &[f64]) -> Vec<f64> {
    let max = xs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let exponent = max.log2().floor() as i32;
    let scaled: Vec<f64> = xs.iter().map(|v| scale_pow2(*v, -exponent)).collect();
    let mean = sum(scaled.iter().copied()) / scaled.len() as f64;
    scaled.iter().map(|v| v - mean).collect()
}

/// v · 2^e, exact unless the result is subnormal; done in two steps so 2^e itself stays finite.
fn scale_pow2(v: f64, e: i32) -> f64 {
    let half = e / 2;
    v * 2f64.powi(half) * 2f64.powi(e - half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_offset_needs_centring() {
        let x = [1e9, 1e9 + 1.0, 1e9 + 2.0, 1e9 + 4.0];
        let y = [3.0, 1.0, 4.0, 1.5];
        let r = pearson(&x, &y).unwrap();
        assert!((r - -0.23035022137995861).abs() < 1e-12, "{r}");
    }

    #[test]
    fn extreme_scales_stay_finite() {
        let r = pearson(&[1e300, -1e300, 5e299], &[1e-300, -1e-300, 0.0]).unwrap();
        assert!(r.is_finite() && r > 0.9);
        let r = pearson(&[f64::MAX, -f64::MAX], &[1.0, 2.0]).unwrap();
        assert!((r + 1.0).abs() < 1e-15, "{r}");
    }

    #[test]
    fn undefined_cases() {
        assert!(matches!(
            pearson(&[0.5], &[0.5]),
            Err(MetricError::TooSmall { .. })
        ));
        assert!(matches!(
            pearson(&[0.0, 0.5, 1.0], &[0.5; 3]),
            Err(MetricError::ConstantInput { what: "y_pred" })
        ));
    }
}
