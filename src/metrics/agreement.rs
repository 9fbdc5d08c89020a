//! Quadratic weighted kappa (learning-agency essay scoring).
//!
//! With O the confusion matrix over the rating categories, E = outer(row sums, column sums)/n
//! and W[i,j] = (i − j)², κ = 1 − ΣW·O / ΣW·E. Expanding the sums over samples (aₛ, bₛ the two
//! ratings' category positions) gives ΣW·O = Σ(aₛ − bₛ)² and n·ΣW·E = n(Σa² + Σb²) − 2ΣaΣb, so
//! κ = 2(nΣab − ΣaΣb) / (n(Σa² + Σb²) − 2ΣaΣb), computed here in exact integer arithmetic with
//! one final rounding, in O(n log n) (the sort that finds the categories) and O(n) memory, where
//! the matrix form needs O(categories²).

use super::MetricError;
use super::sum::{all_finite, same_len_nonempty};

/// Cohen's kappa with quadratic weights as `sklearn.metrics.cohen_kappa_score(weights=
/// "quadratic")` computes it: the categories are the sorted union of the values seen in both
/// vectors, and the weights use positions in that list, not the values. Ratings must be
/// integers (sklearn rejects a continuous target); 3.0 is fine, 3.5 is not. Symmetric.
pub fn qwk(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    same_len_nonempty("y_true", y_true, "y_pred", y_pred)?;
    integral("y_true", y_true)?;
    integral("y_pred", y_pred)?;
    let mut labels: Vec<f64> = y_true.iter().chain(y_pred).map(|x| x + 0.0).collect();
    labels.sort_unstable_by(f64::total_cmp);
    labels.dedup();
    let position = |x: f64| -> i128 {
        labels
            .binary_search_by(|l| l.total_cmp(&(x + 0.0)))
            .expect("every rating is in the union of ratings") as i128
    };
    let a: Vec<i128> = y_true.iter().map(|&x| position(x)).collect();
    let b: Vec<i128> = y_pred.iter().map(|&x| position(x)).collect();
    kappa(&a, &b)
}

/// The Kaggle "fixed rating range" QWK (ml_metrics `quadratic_weighted_kappa`): categories are
/// every integer in [min_rating, max_rating] and the weights use rating values, so a rating that
/// nobody gave still widens the distances around it.
pub fn qwk_fixed_range(
    y_true: &[f64],
    y_pred: &[f64],
    min_rating: i64,
    max_rating: i64,
) -> Result<f64, MetricError> {
    same_len_nonempty("y_true", y_true, "y_pred", y_pred)?;
    if min_rating >= max_rating {
        return Err(MetricError::InvalidRatingRange {
            min: min_rating,
            max: max_rating,
        });
    }
    let offsets = |what: &'static str, xs: &[f64]| -> Result<Vec<i128>, MetricError> {
        integral(what, xs)?;
        xs.iter()
            .enumerate()
            .map(|(index, &x)| {
                if x < min_rating as f64 || x > max_rating as f64 {
                    Err(MetricError::RatingOutOfRange {
                        what,
                        index,
                        value: x,
                        min: min_rating,
                        max: max_rating,
                    })
                } else {
                    Ok((x as i64) as i128 - min_rating as i128)
                }
            })
            .collect()
    };
    let a = offsets("y_true", y_true)?;
    let b = offsets("y_pred", y_pred)?;
    kappa(&a, &b)
}

fn integral(what: &'static str, xs: &[f64]) -> Result<(), MetricError> {
    all_finite(what, xs)?;
    match xs.iter().position(|x| x.fract() != 0.0) {
        Some(index) => Err(MetricError::NonIntegerRating {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// κ of two equal-length, non-empty category-position vectors.
fn kappa(a: &[i128], b: &[i128]) -> Result<f64, MetricError> {
    match kappa_exact(a, b) {
        Some((num, den)) => {
            if den == 0 {
                Err(MetricError::NoRatingSpread)
            } else {
                Ok(num as f64 / den as f64)
            }
        }
        None => kappa_float(a, b),
    }
}

/// (2(nΣab − ΣaΣb), n(Σa² + Σb²) − 2ΣaΣb) in i128; `None` if that overflows.
fn kappa_exact(a: &[i128], b: &[i128]) -> Option<(i128, i128)> {
    let n = a.len() as i128;
    let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0i128, 0i128, 0i128, 0i128, 0i128);
    for (&x, &y) in a.iter().zip(b) {
        sa = sa.checked_add(x)?;
        sb = sb.checked_add(y)?;
        saa = saa.checked_add(x.checked_mul(x)?)?;
        sbb = sbb.checked_add(y.checked_mul(y)?)?;
        sab = sab.checked_add(x.checked_mul(y)?)?;
    }
    let cross = sa.checked_mul(sb)?;
    let num = n.checked_mul(sab)?.checked_sub(cross)?.checked_mul(2)?;
    let den = n
        .checked_mul(saa.checked_add(sbb)?)?
        .checked_sub(cross.checked_mul(2)?)?;
    Some((num, den))
}

/// The same ratio in centred floating point, for inputs too large for i128.
fn kappa_float(a: &[i128], b: &[i128]) -> Result<f64, MetricError> {
    let n = a.len() as f64;
    let ma = a.iter().map(|&x| x as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&x| x as f64).sum::<f64>() / n;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    let den = va + vb + n * (ma - mb) * (ma - mb);
    if den == 0.0 || !den.is_finite() || !cov.is_finite() {
        return Err(MetricError::NoRatingSpread);
    }
    Ok((2.0 * cov / den).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_positions_not_values() {
        let t = [1.0, 2.0, 4.0, 4.0, 1.0];
        let p = [1.0, 4.0, 4.0, 2.0, 1.0];
        assert_eq!(qwk(&t, &p), Ok(0.75));
        let fixed = qwk_fixed_range(&t, &p, 1, 6).unwrap();
        assert!((fixed - 0.5652173913043477).abs() < 1e-15);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(qwk(&[3.0; 3], &[3.0; 3]), Err(MetricError::NoRatingSpread));
        assert_eq!(qwk(&[4.0], &[2.0]), Ok(0.0));
        assert_eq!(qwk(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Ok(-1.0));
        assert!(matches!(
            qwk(&[3.0, 2.0], &[3.5, 2.0]),
            Err(MetricError::NonIntegerRating { .. })
        ));
        assert!(matches!(
            qwk_fixed_range(&[1.0, 7.0], &[1.0, 2.0], 1, 6),
            Err(MetricError::RatingOutOfRange { .. })
        ));
    }

    #[test]
    fn float_fallback_agrees_with_exact() {
        let a = [0i128, 1, 2, 5, 3, 3];
        let b = [1i128, 1, 2, 4, 0, 3];
        let (num, den) = kappa_exact(&a, &b).unwrap();
        let exact = num as f64 / den as f64;
        assert!((kappa_float(&a, &b).unwrap() - exact).abs() < 1e-14);
    }
}
