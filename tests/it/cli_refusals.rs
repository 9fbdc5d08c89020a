//! Bad input to the CLI is refused before any work starts, naming the flag or the field: a
//! `--backend` a command cannot honour, a tolerance `--bless` could not write, a config whose
//! sizes do not fit the machine.

use std::path::Path;
use std::process::{Command, Output};

fn mlagent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(args)
        .output()
        .unwrap()
}

fn failure(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No stage ran in the store.
fn no_runs(store: &Path) {
    assert!(!store.join("runs").join("ideas").exists(), "a stage ran");
}

#[test]
fn a_backend_other_than_the_experiments_is_refused_by_run_and_reproduce() {
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    for backend in ["cuda", "wgpu"] {
        let e = failure(&mlagent(&[
            "--store",
            s,
            "--backend",
            backend,
            "run",
            "--experiment",
            "experiments/smoke.ron",
            "--until",
            "ideas",
        ]));
        assert!(
            e.contains(&format!("--backend {backend}")) && e.contains("smoke.ron"),
            "{e}"
        );
        let e = failure(&mlagent(&[
            "--store",
            s,
            "--backend",
            backend,
            "reproduce",
            "table1",
            "--profile",
            "smoke",
        ]));
        assert!(e.contains(&format!("--backend {backend}")), "{e}");
    }
    no_runs(store.path());
}

/// A config whose backend is not compiled in runs the stages that need no device (ideas and
/// expert train their scripts on the CPU) and stops at the first that does (sft), naming it.
#[test]
fn a_config_whose_backend_is_not_compiled_in_stops_at_the_first_stage_that_needs_it() {
    if mlagent::backend::BackendKind::Cuda.is_compiled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("experiments/smoke.ron")
        .unwrap()
        .replace("backend: Flex", "backend: Cuda");
    let cfg = dir.path().join("cuda.ron");
    std::fs::write(&cfg, text).unwrap();
    let store = dir.path().join("store");
    let e = failure(&mlagent(&[
        "--store",
        store.to_str().unwrap(),
        "run",
        "--experiment",
        cfg.to_str().unwrap(),
        "--until",
        "sft",
    ]));
    assert!(
        e.contains("stage sft") && e.contains("`backend`") && e.contains("not compiled"),
        "{e}"
    );
    // Each cause is printed once.
    assert_eq!(e.matches("not compiled").count(), 1, "{e}");
    assert!(
        store.join("runs").join("expert").exists(),
        "the expert stage ran"
    );
    // A resumable stage keeps the folder it began (its config), never a manifest, on failure.
    let sft = store.join("runs").join("sft");
    let finished = std::fs::read_dir(&sft)
        .map(|d| d.flatten().any(|r| r.path().join("manifest.json").exists()))
        .unwrap_or(false);
    assert!(!finished, "an sft run was recorded");
}

#[test]
fn cpu_only_commands_refuse_a_gpu_backend() {
    let dir = tempfile::tempdir().unwrap();
    let action = dir.path().join("a.txt");
    std::fs::write(&action, "Thought: x\nAction: Final Answer\n").unwrap();
    let e = failure(&mlagent(&[
        "--backend",
        "cuda",
        "env",
        "step",
        "--task",
        "house-price",
        "--action-file",
        action.to_str().unwrap(),
    ]));
    assert!(e.contains("--backend cuda") && e.contains("env"), "{e}");
    let e = failure(&mlagent(&["--backend", "wgpu", "tasks", "list"]));
    assert!(e.contains("--backend wgpu"), "{e}");
    // flex, said out loud, is what they run on.
    let o = mlagent(&["--backend", "flex", "tasks", "list"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bless_refuses_a_nan_or_negative_tolerance_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let golden = dir.path().join("g.ron");
    for flag in ["--bless-absolute=NaN", "--bless-relative=-1"] {
        let e = failure(&mlagent(&[
            "--store",
            store.to_str().unwrap(),
            "reproduce",
            "table1",
            "--profile",
            "smoke",
            "--allow-dirty",
            "--bless",
            golden.to_str().unwrap(),
            flag,
        ]));
        assert!(
            e.contains("--bless-absolute / --bless-relative") && e.contains("finite"),
            "{flag}: {e}"
        );
        assert!(!golden.exists());
    }
    no_runs(&store);
}

#[test]
fn config_check_refuses_sizes_and_fields_it_used_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("experiments/smoke.ron").unwrap();
    for (from, to, field) in [
        (
            "vocab_size: 384",
            "vocab_size: 1000000000000",
            "policy.vocab_size",
        ),
        (
            "trajectories: 4",
            "trajectories: 1000000000",
            "eval.trajectories",
        ),
        (
            "pool_size: 100",
            "pool_size: 1000000000000",
            "ideas.pool_size",
        ),
        ("beta_1: 0.9", "beta_1: 2.0", "rl.optim.beta_1"),
        (
            "inspect_probability: 0.2",
            "inspect_probability: 5.0",
            "inspect_probability",
        ),
    ] {
        let cfg = dir.path().join("x.ron");
        std::fs::write(&cfg, text.replace(from, to)).unwrap();
        let e = failure(&mlagent(&["config", "check", cfg.to_str().unwrap()]));
        assert!(e.contains("x.ron") && e.contains(field), "{to}: {e}");
    }
}
