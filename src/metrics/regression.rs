//! Regression errors: MAE (home-data), RMSE (denoising), RMSLE and its column-wise mean
//! (nomad2018), MCRMSE (feedback-prize).

use super::MetricError;
use super::sum::{all_finite, finite_result, rectangular, same_len_nonempty, sum};

/// Mean absolute error `Σ|ŷ − y| / n`.
pub fn mae(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    let d = differences(y_true, y_pred)?;
    let scale = max_abs(&d);
    if scale == 0.0 {
        return Ok(0.0);
    }
    let n = d.len() as f64;
    // Dividing by the largest |d| first keeps the sum finite for any finite differences.
    finite_result(sum(d.iter().map(|x| (x / scale).abs())) / n * scale)
}

/// Root mean squared error `sqrt(Σ(ŷ − y)² / n)`, one pooled mean over all values.
pub fn rmse(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    root_mean_square(&differences(y_true, y_pred)?)
}

/// Root mean squared log error `sqrt(Σ(ln(1 + ŷ) − ln(1 + y))² / n)`; every value must be
/// greater than −1 (sklearn ≥ 1.6's domain).
pub fn rmsle(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    same_len_nonempty("y_true", y_true, "y_pred", y_pred)?;
    log1p_domain("y_true", y_true)?;
    log1p_domain("y_pred", y_pred)?;
    let d: Vec<f64> = y_true
        .iter()
        .zip(y_pred)
        .map(|(a, p)| p.ln_1p() - a.ln_1p())
        .collect();
    root_mean_square(&d)
}

/// Mean over columns of the RMSLE (nomad2018: ½·(RMSLE(formation) + RMSLE(bandgap))).
/// `y_true` and `y_pred` are rows × columns.
pub fn mean_columnwise_rmsle(y_true: &[Vec<f64>], y_pred: &[Vec<f64>]) -> Result<f64, MetricError> {
    columnwise_mean(y_true, y_pred, rmsle)
}

/// Mean column-wise RMSE (feedback-prize: mean of the 6 per-dimension RMSEs).
pub fn mcrmse(y_true: &[Vec<f64>], y_pred: &[Vec<f64>]) -> Result<f64, MetricError> {
    columnwise_mean(y_true, y_pred, rmse)
}

fn differences(y_true: &[f64], y_pred: &[f64]) -> Result<Vec<f64>, MetricError> {
    same_len_nonempty("y_true", y_true, "y_pred", y_pred)?;
    all_finite("y_true", y_true)?;
    all_finite("y_pred", y_pred)?;
    let d: Vec<f64> = y_pred.iter().zip(y_true).map(|(p, a)| p - a).collect();
    if d.iter().any(|x| !x.is_finite()) {
        return Err(MetricError::Overflow);
    }
    Ok(d)
}

fn max_abs(xs: &[f64]) -> f64 {
    xs.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// sqrt(mean(d²)), scaled by the largest |d| so that squares neither overflow nor underflow.
fn root_mean_square(d: &[f64]) -> Result<f64, MetricError> {
    let scale = max_abs(d);
    if scale == 0.0 {
        return Ok(0.0);
    }
    let n = d.len() as f64;
    let mean_sq = sum(d.iter().map(|x| {
        let r = x / scale;
        r * r
    })) / n;
    finite_result(mean_sq.sqrt() * scale)
}

fn log1p_domain(what: &'static str, xs: &[f64]) -> Result<(), MetricError> {
    all_finite(what, xs)?;
    match xs.iter().position(|&x| x <= -1.0) {
        Some(index) => Err(MetricError::LogDomain {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

fn columnwise_mean(
    y_true: &[Vec<f64>],
    y_pred: &[Vec<f64>],
    per_column: fn(&[f64], &[f64]) -> Result<f64, MetricError>,
) -> Result<f64, MetricError> {
    same_len_nonempty("y_true", y_true, "y_pred", y_pred)?;
    let cols = rectangular("y_true", y_true)?;
    let pred_cols = rectangular("y_pred", y_pred)?;
    if cols != pred_cols {
        return Err(MetricError::LengthMismatch {
            left: "y_true columns",
            left_len: cols,
            right: "y_pred columns",
            right_len: pred_cols,
        });
    }
    let mut t = vec![0.0; y_true.len()];
    let mut p = vec![0.0; y_true.len()];
    let mut per = Vec::with_capacity(cols);
    for c in 0..cols {
        for (i, (tr, pr)) in y_true.iter().zip(y_pred).enumerate() {
            t[i] = tr[c];
            p[i] = pr[c];
        }
        per.push(per_column(&t, &p).map_err(super::sum::in_column(c))?);
    }
    finite_result(sum(per.iter().copied()) / cols as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_values() {
        assert_eq!(mae(&[1.0, 2.0, 3.0, 10.0], &[4.0; 4]), Ok(3.0));
        assert_eq!(rmse(&[1.0], &[0.0]), Ok(1.0));
        assert!((rmsle(&[2.0], &[1.0]).unwrap() - 1.5f64.ln()).abs() < 1e-15);
        let t = vec![vec![3.0, 3.0]; 3];
        let p = vec![vec![4.0, 3.0]; 3];
        assert_eq!(mcrmse(&t, &p), Ok(0.5));
    }

    #[test]
    fn extreme_magnitudes_do_not_overflow() {
        assert_eq!(rmse(&[0.0, 0.0], &[1e200, 1e200]), Ok(1e200));
        assert_eq!(rmse(&[0.0], &[1e-200]), Ok(1e-200));
        assert_eq!(mae(&[-1e308], &[1e308]), Err(MetricError::Overflow));
    }

    #[test]
    fn rmsle_domain_is_above_minus_one() {
        assert!(rmsle(&[-0.5], &[0.0]).is_ok());
        assert!(matches!(
            rmsle(&[-1.0], &[0.0]),
            Err(MetricError::LogDomain { .. })
        ));
    }
}
