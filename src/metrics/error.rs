//! Why a metric is undefined, or why a grader would reject the input.

/// A metric that cannot be computed. `what` names the argument (e.g. `"y_pred"`).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum MetricError {
    #[error("length mismatch: {left} has {left_len} values but {right} has {right_len}")]
    LengthMismatch {
        left: &'static str,
        left_len: usize,
        right: &'static str,
        right_len: usize,
    },
    #[error("empty input: {what} has no values")]
    Empty { what: &'static str },
    #[error("ragged matrix: row {row} of {what} has {got} columns, expected {expected} (as row 0)")]
    Ragged {
        what: &'static str,
        row: usize,
        got: usize,
        expected: usize,
    },
    #[error("only one class in {what}{}: the metric is undefined", column.map(|c| format!(" (column {c})")).unwrap_or_default())]
    OneClass {
        what: &'static str,
        column: Option<usize>,
    },
    #[error("constant input: every value of {what} is equal, so the metric is undefined")]
    ConstantInput { what: &'static str },
    #[error("only one distinct rating in y_true and y_pred together: kappa is 0/0, undefined")]
    NoRatingSpread,
    #[error("{what}[{index}] = {value} is not an integer label/rating (round predictions first)")]
    NonIntegerRating {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error("{what}[{index}] = {value} is outside the rating range [{min}, {max}]")]
    RatingOutOfRange {
        what: &'static str,
        index: usize,
        value: f64,
        min: i64,
        max: i64,
    },
    #[error("invalid rating range: min_rating {min} must be below max_rating {max}")]
    InvalidRatingRange { min: i64, max: i64 },
    #[error("{what}[{index}] = {value} is not a probability in [0, 1]")]
    ProbabilityOutOfRange {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error(
        "row {row} of {what} sums to {sum}, not 1 (|sum − 1| must be ≤ 1e-6 + 1e-5, numpy isclose)"
    )]
    RowSumNotOne {
        what: &'static str,
        row: usize,
        sum: f64,
    },
    #[error("{what}[{index}] = {value} is not a finite number")]
    NonFinite {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error("{what}[{row}][{column}] = {value} is not a finite number")]
    NonFiniteCell {
        what: &'static str,
        row: usize,
        column: usize,
        value: f64,
    },
    #[error("{what}[{row}][{column}] = {value} is not a probability in [0, 1]")]
    ProbabilityCellOutOfRange {
        what: &'static str,
        row: usize,
        column: usize,
        value: f64,
    },
    #[error("column {column}: {error}")]
    InColumn {
        column: usize,
        error: Box<MetricError>,
    },
    #[error("{what}[{index}] = {value} is not a binary label (expected 0 or 1)")]
    NonBinaryLabel {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error("{what}[{index}] = {value} is not a class index below {n_classes}")]
    ClassOutOfRange {
        what: &'static str,
        index: usize,
        value: usize,
        n_classes: usize,
    },
    #[error("{what}[{index}] = {value} must be greater than -1 (log(1 + x) is undefined)")]
    LogDomain {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error("{what} must be at least {min}, got {got}")]
    TooSmall {
        what: &'static str,
        min: usize,
        got: usize,
    },
    #[error("mixed label types: {0}")]
    MixedLabelTypes(String),
    #[error("the result overflows f64 (inputs of magnitude near f64::MAX)")]
    Overflow,
    #[error("bad inputs: field `{field}`: {expected}")]
    BadInput { field: String, expected: String },
}
