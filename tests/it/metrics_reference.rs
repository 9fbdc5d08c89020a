//! Every case of tests/data/metrics/reference_vectors.json (scikit-learn 1.9.1 / scipy 1.17.1 /
//! MLE-bench transcriptions, see the README there): |got − expected| ≤ 1e-9·max(1, |expected|),
//! and `expected: null` must be an error.

use mlagent::metrics::{Direction, Metric};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/metrics/reference_vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("the reference vectors are checked in");
    serde_json::from_str(&text).expect("the reference vectors are a JSON list")
}

#[test]
fn all_186_reference_cases_pass() {
    let cases = cases();
    assert_eq!(cases.len(), 186, "the reference file has 186 cases");
    let mut failures = Vec::new();
    for c in &cases {
        let name = c["metric"].as_str().expect("every case names its metric");
        let label = format!("{name}/{}", c["case"].as_str().unwrap_or("?"));
        let metric = Metric::from_name(name).unwrap_or_else(|| panic!("unknown metric {name}"));
        let hib = c["higher_is_better"]
            .as_bool()
            .expect("every case has a direction");
        let want_dir = if hib {
            Direction::HigherIsBetter
        } else {
            Direction::LowerIsBetter
        };
        if metric.direction() != want_dir {
            failures.push(format!("{label}: direction {:?}", metric.direction()));
        }
        let got = metric.evaluate_json(&c["inputs"]);
        match (&c["expected"], got) {
            (Value::Null, Err(_)) => {}
            (Value::Null, Ok(v)) => failures.push(format!("{label}: expected an error, got {v:?}")),
            (e, Ok(v)) => {
                let e = e.as_f64().expect("expected is a number or null");
                assert!(!v.is_nan());
                if (v - e).abs() > 1e-9 * e.abs().max(1.0) {
                    failures.push(format!("{label}: expected {e:?}, got {v:?}"));
                }
            }
            (e, Err(err)) => failures.push(format!("{label}: expected {e}, got error {err}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_metric_has_reference_cases() {
    let cases = cases();
    for m in Metric::ALL {
        let n = cases.iter().filter(|c| c["metric"] == m.name()).count();
        assert!(n >= 8, "{} has only {n} reference cases", m.name());
    }
}

#[test]
fn floats_parse_exactly() {
    // float_roundtrip: the shortest representation parses to the same bits it was printed from.
    let v: Value = serde_json::from_str("[0.9999999999999998, 2.220446049250313e-16]").unwrap();
    assert_eq!(v[0].as_f64().unwrap(), 1.0 - f64::EPSILON);
    assert_eq!(v[1].as_f64().unwrap(), f64::EPSILON);
}
