//! Accuracy (spaceship-titanic, tabular-playground, ogbn-arxiv) and accuracy of the argmax of
//! class probabilities (MLAgentBench cifar-10).

use super::MetricError;
use super::sum::{finite_row, same_len_nonempty};

/// Fraction of positions where the labels are equal (`sklearn.metrics.accuracy_score`).
/// Errors: empty input, length mismatch.
pub fn accuracy<T: PartialEq>(y_true: &[T], y_pred: &[T]) -> Result<f64, MetricError> {
    let n = same_len_nonempty("y_true", y_true, "y_pred", y_pred)?;
    let correct = y_true.iter().zip(y_pred).filter(|(a, b)| a == b).count();
    Ok(correct as f64 / n as f64)
}

/// Accuracy of `argmax(probs[i])` against `y_true[i]`; a tie goes to the lowest class index
/// (numpy/pandas `argmax`). `probs` is rows × classes; scores need not be probabilities (the
/// cifar-10 grader takes the argmax of whatever the submission holds) but must be finite.
/// A true class index beyond the last column simply never matches.
pub fn accuracy_argmax(probs: &[Vec<f64>], y_true: &[usize]) -> Result<f64, MetricError> {
    same_len_nonempty("probs", probs, "y_true", y_true)?;
    super::sum::rectangular("probs", probs)?;
    let mut correct = 0usize;
    for (i, (row, &label)) in probs.iter().zip(y_true).enumerate() {
        finite_row("probs", i, row)?;
        let mut best = 0;
        for (j, &p) in row.iter().enumerate() {
            if p > row[best] {
                best = j;
            }
        }
        if best == label {
            correct += 1;
        }
    }
    Ok(correct as f64 / y_true.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_counts_matches() {
        assert_eq!(accuracy(&[1, 2, 3, 4], &[1, 2, 0, 0]), Ok(0.5));
        assert_eq!(
            accuracy::<u8>(&[], &[]),
            Err(MetricError::Empty { what: "y_true" })
        );
        assert!(matches!(
            accuracy(&[1], &[1, 2]),
            Err(MetricError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn argmax_ties_go_to_the_first_index() {
        let probs = vec![vec![0.5, 0.5], vec![0.3, 0.3], vec![0.1, 0.9]];
        assert_eq!(accuracy_argmax(&probs, &[0, 1, 1]), Ok(2.0 / 3.0));
        assert!(matches!(
            accuracy_argmax(&[vec![0.1, f64::NAN]], &[0]),
            Err(MetricError::NonFiniteCell {
                row: 0,
                column: 1,
                ..
            })
        ));
        assert!(matches!(
            accuracy_argmax(&[vec![0.1, 0.2], vec![0.3]], &[0, 0]),
            Err(MetricError::Ragged { .. })
        ));
    }
}
