//! Compensated summation and the input checks the metric functions share.

use super::MetricError;

/// Neumaier-compensated sum: accurate to about one rounding whatever the order of magnitude
/// of the terms, so results match the reference implementations (pairwise sums) well inside the
/// 1e-9 tolerance.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sum {
    sum: f64,
    comp: f64,
}

impl Sum {
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    pub(crate) fn value(self) -> f64 {
        self.sum + self.comp
    }
}

impl FromIterator<f64> for Sum {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut s = Sum::default();
        for x in iter {
            s.add(x);
        }
        s
    }
}

/// Compensated sum of an iterator.
pub(crate) fn sum(iter: impl IntoIterator<Item = f64>) -> f64 {
    iter.into_iter().collect::<Sum>().value()
}

/// Both slices non-empty and of equal length.
pub(crate) fn same_len_nonempty<A, B>(
    left: &'static str,
    a: &[A],
    right: &'static str,
    b: &[B],
) -> Result<usize, MetricError> {
    if a.len() != b.len() {
        return Err(MetricError::LengthMismatch {
            left,
            left_len: a.len(),
            right,
            right_len: b.len(),
        });
    }
    if a.is_empty() {
        return Err(MetricError::Empty { what: left });
    }
    Ok(a.len())
}

/// Every value finite.
pub(crate) fn all_finite(what: &'static str, xs: &[f64]) -> Result<(), MetricError> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(MetricError::NonFinite {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// Every value a probability: finite and in [0, 1].
pub(crate) fn all_probabilities(what: &'static str, xs: &[f64]) -> Result<(), MetricError> {
    all_finite(what, xs)?;
    match xs.iter().position(|x| !(0.0..=1.0).contains(x)) {
        Some(index) => Err(MetricError::ProbabilityOutOfRange {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// Every value exactly 0 or 1.
pub(crate) fn all_binary(what: &'static str, xs: &[f64]) -> Result<(), MetricError> {
    all_finite(what, xs)?;
    match xs.iter().position(|&x| x != 0.0 && x != 1.0) {
        Some(index) => Err(MetricError::NonBinaryLabel {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// A rows × columns matrix: non-empty, every row as long as row 0, at least one column.
/// Returns the number of columns.
pub(crate) fn rectangular(what: &'static str, rows: &[Vec<f64>]) -> Result<usize, MetricError> {
    let Some(first) = rows.first() else {
        return Err(MetricError::Empty { what });
    };
    let cols = first.len();
    if cols == 0 {
        return Err(MetricError::Empty { what });
    }
    for (row, r) in rows.iter().enumerate() {
        if r.len() != cols {
            return Err(MetricError::Ragged {
                what,
                row,
                got: r.len(),
                expected: cols,
            });
        }
    }
    Ok(cols)
}

/// Every cell of row `row` finite.
pub(crate) fn finite_row(what: &'static str, row: usize, xs: &[f64]) -> Result<(), MetricError> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(column) => Err(MetricError::NonFiniteCell {
            what,
            row,
            column,
            value: xs[column],
        }),
        None => Ok(()),
    }
}

/// Every cell of row `row` a probability: finite and in [0, 1].
pub(crate) fn probability_row(
    what: &'static str,
    row: usize,
    xs: &[f64],
) -> Result<(), MetricError> {
    finite_row(what, row, xs)?;
    match xs.iter().position(|x| !(0.0..=1.0).contains(x)) {
        Some(column) => Err(MetricError::ProbabilityCellOutOfRange {
            what,
            row,
            column,
            value: xs[column],
        }),
        None => Ok(()),
    }
}

/// Labels an error from a per-column computation with its column.
pub(crate) fn in_column(column: usize) -> impl Fn(MetricError) -> MetricError {
    move |e| MetricError::InColumn {
        column,
        error: Box::new(e),
    }
}

/// A finite result, or [`MetricError::Overflow`].
pub(crate) fn finite_result(x: f64) -> Result<f64, MetricError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(MetricError::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_recovers_small_terms() {
        let xs = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(sum(xs), 2.0);
        assert_eq!(xs.iter().sum::<f64>(), 1.0, "the naive sum loses a term");
    }
}
