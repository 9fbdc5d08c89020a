//! `mlagent metric list | eval | check`, run as a binary.

use std::process::{Command, Output};

fn mlagent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(args)
        .output()
        .expect("the mlagent binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/metrics/reference_vectors.json"
);

#[test]
fn list_prints_every_metric_with_its_direction() {
    let o = mlagent(&["metric", "list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 18);
    assert!(out.lines().any(
        |l| l.split_whitespace().collect::<Vec<_>>() == ["log_loss_binary", "lower_is_better"]
    ));
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["qwk", "higher_is_better"])
    );
}

#[test]
fn check_passes_the_reference_file() {
    let o = mlagent(&["metric", "check", "--vectors", VECTORS]);
    assert_eq!(stdout(&o), "186 passed, 0 failed\n");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn check_reports_failing_and_unknown_cases() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"[
      {"metric": "rmse", "case": "right", "inputs": {"y_true": [1.0], "y_pred": [0.0]}, "expected": 1.0},
      {"metric": "rmse", "case": "wrong_value", "inputs": {"y_true": [1.0], "y_pred": [0.0]}, "expected": 1.5},
      {"metric": "pearson", "case": "should_error", "inputs": {"y_true": [1.0, 2.0], "y_pred": [1.0, 3.0]}, "expected": null},
      {"metric": "qwk", "case": "should_value", "inputs": {"y_true": [3], "y_pred": [3]}, "expected": 1.0},
      {"metric": "f1_score", "case": "unknown", "inputs": {}, "expected": 0.5}
    ]"#,
    )
    .unwrap();
    let o = mlagent(&["metric", "check", "--vectors", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(*lines.last().unwrap(), "1 passed, 4 failed");
    assert!(
        lines[0].contains("rmse/wrong_value")
            && lines[0].contains("1.5")
            && lines[0].contains("1.0")
    );
    assert!(lines[1].contains("pearson/should_error") && lines[1].contains("expected an error"));
    assert!(lines[2].contains("qwk/should_value") && lines[2].contains("error:"));
    assert!(lines[3].contains("unknown metric name `f1_score`"));
}

#[test]
fn eval_prints_the_value_or_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.json");
    std::fs::write(
        &ok,
        r#"{"y_true": [0, 0, 1, 1], "y_score": [0.1, 0.4, 0.35, 0.8]}"#,
    )
    .unwrap();
    let o = mlagent(&[
        "metric",
        "eval",
        "--name",
        "roc_auc",
        "--inputs",
        ok.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).trim(), "0.75");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"y_true": [1, 1], "y_score": [0.1, 0.4]}"#).unwrap();
    let o = mlagent(&[
        "metric",
        "eval",
        "--name",
        "roc_auc",
        "--inputs",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("only one class"));

    let o = mlagent(&[
        "metric",
        "eval",
        "--name",
        "auc",
        "--inputs",
        ok.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown metric name `auc`"));
}
