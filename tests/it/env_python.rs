//! Python tasks through the binary, as a user runs them: `mlagent env execute --task ID
//! --script FILE` runs a real scikit-learn script in the sandbox and prints one JSON feedback
//! object; `mlagent tasks list --json` names each task's environment.
//!
//! Needs an interpreter with numpy and scikit-learn (`$MLAGENT_PYTHON`, which `.ci/run` points
//! at its venv; python/requirements-test.txt) and a machine that can isolate. Elsewhere these
//! tests say what is missing and pass, unless `MLAGENT_REQUIRE_SANDBOX` is set (CI).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The interpreter to use, or `None` (after saying why) where these tests cannot run.
fn python() -> Option<String> {
    let required = std::env::var("MLAGENT_REQUIRE_SANDBOX").is_ok();
    if let Err(why) = mlagent::sandbox::Sandbox::isolation_available() {
        assert!(!required, "MLAGENT_REQUIRE_SANDBOX is set but: {why}");
        eprintln!("skipped: the sandbox cannot isolate here: {why}");
        return None;
    }
    let python = std::env::var("MLAGENT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import numpy, sklearn"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !required,
            "MLAGENT_REQUIRE_SANDBOX is set but `{python}` lacks numpy or scikit-learn"
        );
        eprintln!("skipped: `{python}` lacks numpy or scikit-learn");
        return None;
    }
    Some(python)
}

fn execute(python: &str, task: &str, script: &str) -> Value {
    execute_with(python, task, script, &[])
}

fn execute_with(python: &str, task: &str, script: &str, extra: &[&str]) -> Value {
    env_command(python, "execute", task, "--script", script, extra)
}

/// `mlagent env SUB --task TASK FLAG <file holding text> --python PYTHON EXTRA…` as one JSON object.
fn env_command(
    python: &str,
    sub: &str,
    task: &str,
    flag: &str,
    text: &str,
    extra: &[&str],
) -> Value {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("input.txt");
    std::fs::write(&path, text).expect("write the input file");
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["env", sub, "--task", task, flag])
        .arg(&path)
        .args(["--python", python])
        .args(extra)
        .output()
        .expect("run mlagent");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

fn starter(task: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tasks/python")
        .join(task)
        .join("train.py");
    std::fs::read_to_string(p).expect("the starter")
}

#[test]
fn tasks_list_names_each_tasks_environment() {
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["tasks", "list", "--json"])
        .output()
        .expect("run mlagent");
    assert!(o.status.success());
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).expect("a JSON array");
    let env_of = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .map(|r| r["environment"].clone())
    };
    assert_eq!(env_of("cifar-10"), Some("workbench".into()));
    assert_eq!(env_of("penguins-species"), Some("python".into()));
    assert_eq!(env_of("wine-quality"), Some("python".into()));
    assert!(rows.iter().all(|r| r["environment"].is_string()));
}

#[test]
fn the_starter_runs_the_same_twice_and_a_better_script_earns_reward() {
    let Some(py) = python() else { return };
    let a = execute(&py, "penguins-species", &starter("penguins-species"));
    let b = execute(&py, "penguins-species", &starter("penguins-species"));
    assert_eq!(a["kind"], "success", "{a}");
    assert_eq!(a["metric"], b["metric"]);
    assert_eq!(a["metric"], a["previous_metric"]);
    assert_eq!(a["reward"], 0.5, "the starter against itself: σ(0)");
    let better = starter("penguins-species")
        .replace(
            "[\"bill_length_mm\", \"flipper_length_mm\"]",
            "[\"bill_length_mm\", \"bill_depth_mm\", \"flipper_length_mm\", \"body_mass_g\"]",
        )
        .replace("max_depth=1", "max_depth=4");
    let c = execute(&py, "penguins-species", &better);
    assert_eq!(c["kind"], "success", "{c}");
    assert!(c["metric"].as_f64() > a["metric"].as_f64(), "{c}");
    assert!(c["reward"].as_f64().is_some_and(|r| r > 0.5), "{c}");
    for k in ["kind", "message", "reward", "metric"] {
        assert!(c.get(k).is_some(), "field {k} missing: {c}");
    }
}

#[test]
fn a_crash_and_a_missing_prediction_file_are_execution_errors_with_the_reason() {
    let Some(py) = python() else { return };
    let crash = execute(
        &py,
        "wine-quality",
        "import numpy\nraise ValueError('bad idea')\n",
    );
    assert_eq!(crash["kind"], "execution_error", "{crash}");
    assert_eq!(crash["reward"], 0.0);
    assert!(
        crash["message"]
            .as_str()
            .unwrap()
            .contains("ValueError: bad idea"),
        "{crash}"
    );
    let silent = execute(&py, "wine-quality", "print('forgot to predict')\n");
    assert_eq!(silent["kind"], "execution_error", "{silent}");
    assert!(
        silent["message"]
            .as_str()
            .unwrap()
            .contains("valid_predictions.csv was not written"),
        "{silent}"
    );
    let partial = execute(
        &py,
        "wine-quality",
        "open('valid_predictions.csv','w').write('id,prediction\\n1,5\\n')\n",
    );
    assert!(
        partial["message"]
            .as_str()
            .unwrap()
            .contains("expected one per id"),
        "{partial}"
    );
}

#[test]
fn a_script_that_runs_too_long_is_a_corner_case_and_labels_stay_hidden() {
    let Some(py) = python() else { return };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks/data/penguins.csv");
    let peek = format!(
        "import os\ntry:\n    print(open({:?}).read()[:50])\nexcept OSError as e:\n    \
         print('hidden', e.errno)\nprint(sorted(os.listdir('data')))\n\
         print(open('data/valid.csv').readline().strip())\n",
        data.display().to_string()
    );
    let r = execute(&py, "penguins-species", &peek);
    let out = r["execution"]["stdout"].as_str().unwrap();
    assert!(out.contains("hidden 2"), "{out}");
    assert!(
        out.contains("['test.csv', 'train.csv', 'valid.csv']"),
        "{out}"
    );
    assert!(
        !out.lines().nth(2).unwrap_or_default().contains("species"),
        "{out}"
    );
    let slow = execute_with(
        &py,
        "penguins-species",
        "import time\ntime.sleep(3600)\n",
        &["--wall-seconds", "2"],
    );
    assert_eq!(slow["kind"], "budget_exceeded", "{slow}");
    assert_eq!(slow["reward"], 0.5, "the reward's corner case");
    assert!(
        slow["message"]
            .as_str()
            .unwrap()
            .contains("wall-clock limit of 2 s"),
        "{slow}"
    );
}

fn step(python: &str, task: &str, action: &str) -> Value {
    env_command(python, "step", task, "--action-file", action, &[])
}

#[test]
fn env_step_takes_mlagentbench_actions_on_a_python_task() {
    let Some(py) = python() else { return };
    let edit = "Thought: more columns\nAction: Edit Script\nAction Input: train.py\n\
                <<<<<<< SEARCH\nFEATURES = [\"alcohol\"]\n=======\n\
                FEATURES = [\"alcohol\", \"volatile acidity\", \"sulphates\"]\n>>>>>>> REPLACE\n";
    let r = step(&py, "wine-quality", edit);
    assert_eq!(r["feedback"]["kind"], "success", "{r}");
    assert!(
        r["feedback"]["metric"].as_f64() < r["previous_metric"].as_f64(),
        "{r}"
    );
    assert!(r["reward"].as_f64().is_some_and(|x| x > 0.5), "{r}");
    assert!(
        r["next_script"]
            .as_str()
            .unwrap()
            .contains("\"sulphates\"]")
    );
    let missing = edit.replace("FEATURES = [\"alcohol\"]\n=", "FEATURES = [\"pH\"]\n=");
    let r = step(&py, "wine-quality", &missing);
    assert_eq!(r["feedback"]["kind"], "invalid_action", "{r}");
    assert_eq!(r["reward"], 0.0);
    let r = step(
        &py,
        "wine-quality",
        "Thought: read it\nAction: Inspect Script Lines\nAction Input: train.py 1-3\n",
    );
    assert_eq!(r["feedback"]["kind"], "non_edit", "{r}");
    assert!(
        r["feedback"]["message"]
            .as_str()
            .unwrap()
            .starts_with("   1 \"\"\"Starter"),
        "{r}"
    );
    let r = step(
        &py,
        "wine-quality",
        "Thought: undo\nAction: Undo Edit Script\nAction Input: train.py\n",
    );
    assert_eq!(
        r["feedback"]["kind"], "invalid_action",
        "nothing to undo in one step: {r}"
    );
}
