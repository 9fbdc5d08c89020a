//! ROC AUC (aerial-cactus, detecting-insults) and its column-wise means (plant-pathology,
//! jigsaw-toxic).
//!
//! The area is computed in the Mann–Whitney form with ties counting ½, in exact integer
//! arithmetic: 2U = Σ over score groups of (2·p·negatives_below + p·q) for a group of p
//! positives and q negatives, and AUC = 2U / (2·n₁·n₀), one rounding. This equals sklearn's
//! trapezoidal area over distinct thresholds. O(n log n) for the sort.

use super::MetricError;
use super::sum::{
    all_binary, all_finite, all_probabilities, finite_row, in_column, rectangular,
    same_len_nonempty, sum,
};

/// Binary ROC AUC as MLE-bench grades it (`prepare_for_auroc_metric` + `roc_auc_score`):
/// `y_true` in {0, 1} with both classes present, `y_score` probabilities in [0, 1].
pub fn roc_auc(y_true: &[f64], y_score: &[f64]) -> Result<f64, MetricError> {
    same_len_nonempty("y_true", y_true, "y_score", y_score)?;
    all_probabilities("y_score", y_score)?;
    auc(y_true, y_score, "y_true", None)
}

/// Mean over columns of the binary ROC AUC (plant-pathology: `np.mean` of per-column
/// `roc_auc_score`). `y_true` and `y_score` are rows × columns. Any column with one class makes
/// the mean undefined. Scores may be any finite numbers: this grader does not range-check them.
pub fn mean_columnwise_roc_auc(
    y_true: &[Vec<f64>],
    y_score: &[Vec<f64>],
) -> Result<f64, MetricError> {
    same_len_nonempty("y_true", y_true, "y_score", y_score)?;
    let cols = rectangular("y_true", y_true)?;
    let score_cols = rectangular("y_score", y_score)?;
    if cols != score_cols {
        return Err(MetricError::LengthMismatch {
            left: "y_true columns",
            left_len: cols,
            right: "y_score columns",
            right_len: score_cols,
        });
    }
    let mut aucs = Vec::with_capacity(cols);
    let mut t = vec![0.0; y_true.len()];
    let mut s = vec![0.0; y_true.len()];
    for c in 0..cols {
        for (i, (tr, sr)) in y_true.iter().zip(y_score).enumerate() {
            t[i] = tr[c];
            s[i] = sr[c];
        }
        aucs.push(auc(&t, &s, "y_true", None).map_err(in_column(c))?);
    }
    Ok(sum(aucs.iter().copied()) / cols as f64)
}

/// The jigsaw-toxic grader: drop rows whose labels sum below 0 (Kaggle's "-1 = not scored"
/// rows), then the macro mean of per-column AUCs over what is left.
pub fn mean_columnwise_roc_auc_jigsaw(
    y_true: &[Vec<f64>],
    y_score: &[Vec<f64>],
) -> Result<f64, MetricError> {
    same_len_nonempty("y_true", y_true, "y_score", y_score)?;
    rectangular("y_true", y_true)?;
    for (i, row) in y_true.iter().enumerate() {
        finite_row("y_true", i, row)?;
    }
    let (kept_true, kept_score): (Vec<Vec<f64>>, Vec<Vec<f64>>) = y_true
        .iter()
        .zip(y_score)
        .filter(|(t, _)| sum(t.iter().copied()) >= 0.0)
        .map(|(t, s)| (t.clone(), s.clone()))
        .unzip();
    if kept_true.is_empty() {
        return Err(MetricError::Empty {
            what: "y_true rows not labelled -1",
        });
    }
    mean_columnwise_roc_auc(&kept_true, &kept_score)
}

/// The AUC of finite scores against 0/1 labels; `column` only labels the error.
fn auc(
    y_true: &[f64],
    y_score: &[f64],
    what: &'static str,
    column: Option<usize>,
) -> Result<f64, MetricError> {
    all_binary(what, y_true)?;
    all_finite("y_score", y_score)?;
    // `+ 0.0` turns -0.0 into +0.0 so that total_cmp treats them as the tie they are.
    let mut pairs: Vec<(f64, bool)> = y_score
        .iter()
        .zip(y_true)
        .map(|(&s, &t)| (s + 0.0, t == 1.0))
        .collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let n_pos = pairs.iter().filter(|p| p.1).count() as u128;
    let n_neg = pairs.len() as u128 - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(MetricError::OneClass { what, column });
    }
    let mut twice_u: u128 = 0;
    let mut neg_below: u128 = 0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        let (mut p, mut q) = (0u128, 0u128);
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            if pairs[j].1 {
                p += 1;
            } else {
                q += 1;
            }
            j += 1;
        }
        twice_u += 2 * p * neg_below + p * q;
        neg_below += q;
        i = j;
    }
    Ok(twice_u as f64 / (2 * n_pos * n_neg) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_count_half() {
        assert_eq!(roc_auc(&[0.0, 1.0, 0.0, 1.0], &[0.5; 4]), Ok(0.5));
        assert_eq!(
            roc_auc(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.2, 0.8, 0.9]),
            Ok(1.0)
        );
        // one positive at 0.5 among negatives {0.1, 0.3, 0.35, 0.6, 0.2}: beats 4 of 5
        let t = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let s = [0.1, 0.3, 0.35, 0.6, 0.5, 0.2];
        assert_eq!(roc_auc(&t, &s), Ok(0.8));
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        let t = [0.0, 1.0];
        assert_eq!(auc(&t, &[0.0, -0.0], "y_true", None), Ok(0.5));
    }

    #[test]
    fn rejections() {
        assert!(matches!(
            roc_auc(&[1.0, 1.0], &[0.2, 0.3]),
            Err(MetricError::OneClass { .. })
        ));
        assert!(matches!(
            roc_auc(&[0.0, 1.0], &[0.2, 1.3]),
            Err(MetricError::ProbabilityOutOfRange { .. })
        ));
        assert!(matches!(
            roc_auc(&[0.0, 2.0], &[0.2, 0.3]),
            Err(MetricError::NonBinaryLabel { .. })
        ));
        let t = vec![vec![1.0, 0.0], vec![0.0, 0.0]];
        let s = vec![vec![0.9, 0.1], vec![0.2, 0.3]];
        let err = mean_columnwise_roc_auc(&t, &s).unwrap_err();
        assert_eq!(
            err,
            MetricError::InColumn {
                column: 1,
                error: Box::new(MetricError::OneClass {
                    what: "y_true",
                    column: None
                })
            }
        );
    }

    #[test]
    fn jigsaw_drops_unscored_rows() {
        let t = vec![vec![1.0, 0.0], vec![-1.0, -1.0], vec![0.0, 1.0]];
        let s = vec![vec![0.8, 0.2], vec![0.0, 0.99], vec![0.3, 0.6]];
        assert_eq!(mean_columnwise_roc_auc_jigsaw(&t, &s), Ok(1.0));
        let all_dropped = vec![vec![-1.0, -1.0]];
        assert!(mean_columnwise_roc_auc_jigsaw(&all_dropped, &[vec![0.1, 0.2]]).is_err());
    }
}
