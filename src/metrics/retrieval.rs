//! MAP@k (whale-categorization, k = 5), transcribed from MLE-bench's `mlebench/metrics.py`
//! (originally benhamner/Metrics).

use std::collections::HashSet;

use super::MetricError;
use super::sum::{same_len_nonempty, sum};

/// Mean over rows of AP@k(actual, predicted). `actual[i]` is a set (duplicates collapse);
/// `predicted[i]` is a ranked list truncated to k. A repeated prediction occupies its position
/// but scores once; a row with no actual labels scores 0. Errors: no rows (the mean of nothing),
/// length mismatch, k = 0 (AP divides by min(|actual|, k)).
pub fn map_at_k(
    actual: &[Vec<String>],
    predicted: &[Vec<String>],
    k: usize,
) -> Result<f64, MetricError> {
    let n = same_len_nonempty("actual", actual, "predicted", predicted)?;
    if k == 0 {
        return Err(MetricError::TooSmall {
            what: "k",
            min: 1,
            got: 0,
        });
    }
    let aps = actual.iter().zip(predicted).map(|(a, p)| {
        let truth: HashSet<&str> = a.iter().map(String::as_str).collect();
        if truth.is_empty() {
            return 0.0;
        }
        let mut seen: HashSet<&str> = HashSet::new();
        let mut hits = 0.0;
        let mut score = 0.0;
        for (i, label) in p.iter().take(k).enumerate() {
            let first = seen.insert(label.as_str());
            if first && truth.contains(label.as_str()) {
                hits += 1.0;
                score += hits / (i as f64 + 1.0);
            }
        }
        score / truth.len().min(k) as f64
    });
    Ok(sum(aps) / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn duplicates_occupy_positions() {
        let a = vec![v(&["w_1"])];
        assert_eq!(map_at_k(&a, &[v(&["a", "a", "w_1"])], 5), Ok(1.0 / 3.0));
        assert_eq!(map_at_k(&a, &[v(&["w_1", "w_1"])], 5), Ok(1.0));
        assert_eq!(
            map_at_k(&a, &[v(&["a", "b", "c", "d", "e", "w_1"])], 5),
            Ok(0.0)
        );
    }

    #[test]
    fn actual_is_a_set() {
        let a = vec![v(&["a", "a"])];
        assert_eq!(map_at_k(&a, &[v(&["a"])], 5), Ok(1.0));
        assert_eq!(map_at_k(&[v(&[])], &[v(&["a"])], 5), Ok(0.0));
        assert!(map_at_k(&[], &[], 5).is_err());
        assert!(map_at_k(&a, &[v(&["a"])], 0).is_err());
    }
}
