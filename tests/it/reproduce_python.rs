//! The whole pipeline in the Python environment, as a user runs it: `mlagent reproduce table1
//! --profile python-smoke` twice from fresh stores gives the same report digest, and `mlagent
//! verify` passes on the store. The agents edit real scikit-learn scripts that run in the
//! sandbox (experiments/python-smoke.ron). Needs what tests/it/env_python.rs needs; `.ci/run`
//! provides it.

use std::path::Path;
use std::process::Command;

use crate::env_python::python;

/// `mlagent --store STORE reproduce table1 --profile python-smoke` as (stdout, report digest).
fn reproduce(python: &str, store: &Path) -> (String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .arg("--store")
        .arg(store)
        .args(["reproduce", "table1", "--profile", "python-smoke"])
        .env("MLAGENT_PYTHON", python)
        .output()
        .expect("run mlagent");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("report digest: "))
        .expect("the report digest line")
        .to_string();
    (out, digest)
}

#[test]
fn python_smoke_reproduces_with_one_digest_from_fresh_stores() {
    let Some(python) = python() else {
        return;
    };
    let a = tempfile::tempdir().expect("a store");
    let b = tempfile::tempdir().expect("a store");
    let (out, da) = reproduce(&python, a.path());
    // Table 1's rows are the paper's tasks the Python tasks stand for.
    assert!(
        out.contains("house-price") && out.contains("tabular-dec-2021"),
        "{out}"
    );
    let (_, db) = reproduce(&python, b.path());
    assert_eq!(da, db, "report digests of two fresh stores");

    // Every agent played: the expert's edits ran in the sandbox and beat the starter.
    let eval = std::fs::read_dir(a.path().join("runs/eval"))
        .expect("an eval run")
        .flatten()
        .next()
        .expect("one eval run")
        .path();
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(eval.join("results.json")).expect("results.json"))
            .expect("JSON");
    let agents: Vec<&str> = results["tasks"][0]["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["agent"].as_str().expect("an agent name"))
        .collect();
    for want in ["random", "expert", "sft", "ml-agent", "ml-agent-episode"] {
        assert!(agents.contains(&want), "{want} missing from {agents:?}");
    }

    let v = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .arg("verify")
        .arg(a.path())
        .output()
        .expect("run mlagent verify");
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );

    // The executions each stage used are kept under its manifest: verify names a changed one.
    let expert = std::fs::read_dir(a.path().join("runs/expert"))
        .expect("an expert run")
        .flatten()
        .next()
        .expect("one expert run")
        .path();
    let executions = expert.join("executions.jsonl");
    let text = std::fs::read_to_string(&executions).expect("the expert's executions");
    assert!(text.lines().count() > 2, "{text}");
    std::fs::write(&executions, text.replacen("success", "SUCCESS", 1)).expect("edit");
    let v = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .arg("verify")
        .arg(a.path())
        .output()
        .expect("run mlagent verify");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        !v.status.success() && said.contains("executions.jsonl"),
        "{said}"
    );
}
