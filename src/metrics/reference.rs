//! Checking metric implementations against reference cases in the schema of
//! `tests/data/metrics/reference_vectors.json`: a JSON list of
//! `{"metric", "case", "inputs", "expected": number|null, "higher_is_better"?, ...}`.
//! `expected: null` means the metric must return an error. Used by `mlagent metric check` and
//! the reference-vector test.

use serde_json::Value;

use super::{Direction, Metric};

/// Relative tolerance: |got − expected| ≤ 1e-9 · max(1, |expected|).
pub const TOLERANCE: f64 = 1e-9;

/// Whether `got` matches `expected` within [`TOLERANCE`].
pub(crate) fn within_tolerance(got: f64, expected: f64) -> bool {
    (got - expected).abs() <= TOLERANCE * expected.abs().max(1.0)
}

/// The verdict on one case.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseCheck {
    /// Position in the file's list.
    pub index: usize,
    pub metric: String,
    pub case: String,
    /// `None` when the case expects an error (`null`) or has no usable `expected`.
    pub expected: Option<f64>,
    /// The value, or the error message; `None` when the case could not be evaluated at all.
    pub got: Option<Result<f64, String>>,
    /// Why it failed; `None` when it passed.
    pub failure: Option<String>,
}

impl CaseCheck {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

impl std::fmt::Display for CaseCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let expected = match self.expected {
            Some(e) => format!("{e:?}"),
            None => "an error (null)".to_string(),
        };
        let got = match &self.got {
            Some(Ok(v)) => format!("{v:?}"),
            Some(Err(e)) => format!("error: {e}"),
            None => "nothing".to_string(),
        };
        write!(
            f,
            "FAIL {}/{} (#{}): expected {expected}, got {got}",
            self.metric, self.case, self.index
        )?;
        if let Some(why) = &self.failure {
            write!(f, " [{why}]")?;
        }
        Ok(())
    }
}

/// Check every case of a reference file's text. Errors only when the text is not a JSON list;
/// a malformed case is a failing [`CaseCheck`].
pub fn check_text(text: &str) -> Result<Vec<CaseCheck>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let cases = value
        .as_array()
        .ok_or_else(|| "expected a JSON list of cases at the top level".to_string())?;
    Ok(cases
        .iter()
        .enumerate()
        .map(|(i, c)| check_case(i, c))
        .collect())
}

/// Evaluate one case and compare.
pub(crate) fn check_case(index: usize, case: &Value) -> CaseCheck {
    let text = |key: &str| case.get(key).and_then(Value::as_str).map(str::to_string);
    let mut check = CaseCheck {
        index,
        metric: text("metric").unwrap_or_else(|| "<no metric>".into()),
        case: text("case").unwrap_or_else(|| "<no case>".into()),
        expected: None,
        got: None,
        failure: None,
    };
    let expected = match case.get("expected") {
        Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(e) => Some(e),
            None => {
                check.failure = Some("`expected` must be a number or null".into());
                return check;
            }
        },
        None => {
            check.failure = Some("the case has no `expected` field".into());
            return check;
        }
    };
    check.expected = expected;
    let Some(metric) = Metric::from_name(&check.metric) else {
        check.failure = Some(format!(
            "unknown metric name `{}` (known: {})",
            check.metric,
            Metric::ALL.map(Metric::name).join(", ")
        ));
        return check;
    };
    let Some(inputs) = case.get("inputs") else {
        check.failure = Some("the case has no `inputs` field".into());
        return check;
    };
    let got = metric.evaluate_json(inputs).map_err(|e| e.to_string());
    check.failure = match (&got, expected) {
        (Ok(v), Some(e)) if within_tolerance(*v, e) => None,
        (Ok(v), Some(e)) => Some(format!(
            "off by {:e}, tolerance {:e}",
            (v - e).abs(),
            TOLERANCE * e.abs().max(1.0)
        )),
        (Ok(_), None) => Some("expected an error".into()),
        (Err(_), None) => None,
        (Err(_), Some(_)) => Some("expected a value".into()),
    };
    check.got = Some(got);
    if check.failure.is_none()
        && let Some(hib) = case.get("higher_is_better").and_then(Value::as_bool)
    {
        let declared = if hib {
            Direction::HigherIsBetter
        } else {
            Direction::LowerIsBetter
        };
        if declared != metric.direction() {
            check.failure = Some(format!(
                "the case says {declared}, but {} is {}",
                metric.name(),
                metric.direction()
            ));
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_is_relative_above_one() {
        assert!(within_tolerance(1.0 + 0.9e-9, 1.0));
        assert!(!within_tolerance(1.0 + 1.1e-9, 1.0));
        assert!(within_tolerance(1000.0 + 0.9e-6, 1000.0));
        assert!(!within_tolerance(1e-10 + 2e-9, 1e-10));
    }

    #[test]
    fn verdicts() {
        let cases = r#"[
          {"metric": "mae", "case": "ok", "inputs": {"y_true": [1], "y_pred": [2]}, "expected": 1.0},
          {"metric": "mae", "case": "wrong", "inputs": {"y_true": [1], "y_pred": [2]}, "expected": 2.0},
          {"metric": "mae", "case": "err", "inputs": {"y_true": [], "y_pred": []}, "expected": null},
          {"metric": "nope", "case": "unknown", "inputs": {}, "expected": 1.0},
          {"metric": "mae", "case": "dir", "inputs": {"y_true": [1], "y_pred": [2]}, "expected": 1.0,
           "higher_is_better": true}
        ]"#;
        let checks = check_text(cases).unwrap();
        let passed: Vec<bool> = checks.iter().map(CaseCheck::passed).collect();
        assert_eq!(passed, [true, false, true, false, false]);
        assert!(checks[3].to_string().contains("unknown metric name `nope`"));
        assert!(check_text("{}").is_err());
    }
}
