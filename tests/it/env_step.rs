//! `mlagent env step`: one JSON object per step, every feedback kind, exit 0 on invalid actions.

use std::process::Command;

fn step(task: &str, action: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("action.txt");
    std::fs::write(&f, action).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["env", "step", "--task", task, "--action-file"])
        .arg(&f)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        text.trim().lines().count(),
        1,
        "exactly one JSON object: {text}"
    );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn invalid_actions_are_feedback_not_process_errors() {
    for a in [
        "Thought: x\nAction: Dance\n",
        "no thought here",
        "Thought: x\nAction: Edit Script\nAction Input: colour = red\n",
        "Thought: x\nAction: Edit Script\nAction Input: epochs = many\n",
    ] {
        let v = step("house-price", a, &[]);
        assert_eq!(v["feedback"]["kind"], "invalid_action", "{a}: {v}");
        assert!(!v["feedback"]["message"].as_str().unwrap().is_empty());
        assert_eq!(v["reward"], 0.0);
    }
}

#[test]
fn success_carries_the_validation_metric_and_a_v1_reward() {
    let v = step(
        "spaceship-titanic",
        "Thought: scale features\nAction: Edit Script\nAction Input: standardise = true; optimizer = adam; epochs = 30; learning_rate = 0.01\n",
        &[],
    );
    assert_eq!(v["feedback"]["kind"], "success", "{v}");
    let m = v["feedback"]["metric"].as_f64().unwrap();
    let prev = v["previous_metric"].as_f64().unwrap();
    assert!(m > prev, "{v}");
    let r = v["reward"].as_f64().unwrap();
    assert!(r > 0.5 && r <= 1.0, "improvement → σ(α·Δ) > 0.5: {v}");
    assert!(
        v["next_script"]
            .as_str()
            .unwrap()
            .contains("standardise = true")
    );
}

#[test]
fn execution_errors_budget_and_non_edits() {
    let v = step(
        "house-price",
        "Thought: faster\nAction: Edit Script\nAction Input: learning_rate = 5.0; epochs = 5\n",
        &[],
    );
    assert_eq!(v["feedback"]["kind"], "execution_error", "{v}");
    assert!(
        v["feedback"]["message"]
            .as_str()
            .unwrap()
            .contains("FloatingPointError"),
        "{v}"
    );
    assert_eq!(v["reward"], 0.0);

    let v = step(
        "denoising",
        "Thought: x\nAction: Edit Script\nAction Input: patch = 4\n",
        &[],
    );
    assert_eq!(v["feedback"]["kind"], "execution_error", "{v}");
    assert!(
        v["feedback"]["message"]
            .as_str()
            .unwrap()
            .contains("patch must be odd")
    );

    let v = step(
        "cifar-10",
        "Thought: x\nAction: Edit Script\nAction Input: model = mlp; hidden = 512; layers = 3; epochs = 100\n",
        &[],
    );
    assert_eq!(v["feedback"]["kind"], "budget_exceeded", "{v}");
    assert_eq!(v["reward"], 0.5);

    let v = step("leaf", "Thought: look\nAction: Inspect Script\n", &[]);
    assert_eq!(v["feedback"]["kind"], "non_edit");
    assert!(
        v["feedback"]["message"]
            .as_str()
            .unwrap()
            .contains("learning_rate = ")
    );
    assert_eq!(v["reward"], 0.5);

    let v = step("leaf", "Thought: data?\nAction: Understand Data\n", &[]);
    assert!(
        v["feedback"]["message"]
            .as_str()
            .unwrap()
            .contains("classes (train counts)")
    );

    let v = step("leaf", "Thought: done\nAction: Final Answer\n", &[]);
    assert_eq!(v["done"], true);
}

#[test]
fn the_disk_cache_answers_the_second_identical_step() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    let a = "Thought: x\nAction: Edit Script\nAction Input: epochs = 2\n";
    let first = step("leaf", a, &["--cache-dir", dir]);
    let second = step("leaf", a, &["--cache-dir", dir]);
    assert_eq!(first["cached"], false);
    assert_eq!(second["cached"], true);
    assert_eq!(first["feedback"], second["feedback"]);
    assert_eq!(first["reward"], second["reward"]);
}

#[test]
fn play_reads_actions_until_final_answer() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["env", "play", "--task", "leaf"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Thought: more epochs\nAction: Edit Script\nAction Input: epochs = 2\n\nThought: done\nAction: Final Answer\n\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("feedback: success"), "{text}");
    assert!(text.contains("epochs = 2"), "{text}");
    assert!(text.contains("episode ended"), "{text}");
}

#[test]
fn the_wall_clock_guard_stops_the_step_with_an_error_and_records_nothing() {
    use mlagent::env::{Workbench, WorkbenchError};
    let mut bench = Workbench::new(mlagent::tasks::Registry::load_default().unwrap());
    let task = bench.task("leaf").unwrap().clone();
    let starter = bench.starter(&task).unwrap();
    // Warm the baseline with a normal guard, then make the guard impossible to meet.
    bench.run(&task, &starter, 0).unwrap();
    bench.guard_s = 0.0;
    let a = "Thought: x\nAction: Edit Script\nAction Input: epochs = 3\n";
    // Whether a guard trips depends on the machine's speed: never feedback, always an error.
    let e = bench.step(&task, &starter, a, 0).unwrap_err();
    assert!(matches!(e, WorkbenchError::WallClock { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("`leaf`") && msg.contains("epochs = 3") && msg.contains("wall-clock guard"),
        "{msg}"
    );
    bench.guard_s = 120.0;
    let r = bench.step(&task, &starter, a, 0).unwrap();
    assert_eq!(r.feedback.kind(), "success");
    assert!(!r.cached, "a guard-stopped run must not be cached");
}

/// `env step --cache-dir`: a record edited on disk (a forged MAE of −1e308) is an error naming
/// the file, never a success; the untouched record is reused.
#[test]
fn an_edited_cache_record_is_an_error_naming_the_file() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    let action = "Thought: x\nAction: Edit Script\nAction Input: epochs = 5\n";
    let first = step("house-price", action, &["--cache-dir", dir]);
    assert_eq!(first["feedback"]["kind"], "success", "{first}");
    let again = step("house-price", action, &["--cache-dir", dir]);
    assert_eq!(again["cached"], true, "{again}");
    assert_eq!(again["feedback"], first["feedback"]);
    let metric = first["feedback"]["metric"].as_f64().unwrap();
    let mut forged = None;
    for e in std::fs::read_dir(cache.path()).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let needle = format!(
            "\"valid_metric\": {}",
            serde_json::to_string(&metric).unwrap()
        );
        if text.contains(&needle) {
            std::fs::write(&p, text.replace(&needle, "\"valid_metric\": -1e308")).unwrap();
            forged = Some(p);
        }
    }
    let forged = forged.expect("the edited script's record is in the cache");
    let f = cache.path().join("action.txt");
    std::fs::write(&f, action).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["env", "step", "--task", "house-price", "--action-file"])
        .arg(&f)
        .args(["--cache-dir", dir])
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let name = forged.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name) && err.contains("edited"), "{err}");
}
