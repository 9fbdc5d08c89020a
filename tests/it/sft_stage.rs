//! The `sft` stage on the smoke profile: two fresh stores give identical trajectories and
//! checkpoints, and a run killed (SIGKILL) after its first epoch checkpoint, run again, ends
//! with the same weights as an uninterrupted run.

use crate::support::stage as stage_support;
use stage_support::Fixture;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mlagent::config::Experiment;
use mlagent::provenance::Digest;
use mlagent::stages::{expert, ideas, sft};
use mlagent::train::sft::read_progress;

const SMOKE: &str = "experiments/smoke.ron";

/// What two runs must agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    trajectories: Digest,
    sft_manifest: Digest,
    weights: Digest,
    probe: String,
}

fn file_digest(p: &Path) -> Digest {
    Digest::of_bytes(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

fn outcome(expert_dir: &Path, sft_manifest: Digest, sft_dir: &Path) -> Outcome {
    Outcome {
        trajectories: file_digest(&expert_dir.join(expert::TRAJECTORIES_FILE)),
        sft_manifest,
        weights: file_digest(
            &sft_dir
                .join(mlagent::stages::POLICY_DIR)
                .join("model.safetensors"),
        ),
        probe: std::fs::read_to_string(sft_dir.join(sft::PROBE_FILE)).unwrap(),
    }
}

/// ideas → expert → sft in-process, in a fresh store.
fn run_in_process() -> Outcome {
    let root = tempfile::tempdir().unwrap();
    let fx = Fixture::smoke(root.path());
    let ctx = fx.ctx();
    let i = ideas::run(&ctx).unwrap();
    let e = expert::run(&ctx, &i).unwrap();
    let s = sft::run(&ctx, &e).unwrap();
    assert!(!s.reused);
    for f in [
        sft::METRICS_FILE,
        sft::LOSS_PLOT_FILE,
        "policy/tokenizer.json",
    ] {
        assert!(s.path(f).is_file(), "{f} written");
    }
    // Smoke trains on the prompt in its first epoch only: that epoch targets every token of
    // the same examples, the later ones the assistant turns (equal totals).
    let mut per_epoch = [0u64; 3];
    for line in std::fs::read_to_string(s.path(sft::METRICS_FILE))
        .unwrap()
        .lines()
    {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        per_epoch[row["epoch"].as_u64().unwrap() as usize] += row["tokens"].as_u64().unwrap();
    }
    assert_eq!(ctx.experiment.sft.train_on_prompt_epochs, 1);
    assert!(per_epoch[0] > 2 * per_epoch[1], "{per_epoch:?}");
    assert_eq!(per_epoch[1], per_epoch[2]);
    // The probe pairs the two policies state by state: its gain is the difference of their
    // means and its sign test counts every state once.
    let probe: sft::Probe =
        serde_json::from_str(&std::fs::read_to_string(s.path(sft::PROBE_FILE)).unwrap()).unwrap();
    let n = ctx.experiment.sft.probe_states;
    assert_eq!(
        (probe.sft.states, probe.random.states, probe.expert.states),
        (n, n, n)
    );
    // The expert's replayed actions are its own rollouts' actions: all valid.
    assert_eq!((probe.expert.parsed, probe.expert.well_formed), (1.0, 1.0));
    let gain = probe.reward_gain.expect("a non-empty probe has a gain");
    let diff = probe.sft.mean_reward - probe.random.mean_reward;
    assert!((gain.estimate - diff).abs() < 1e-12, "{gain:?} vs {diff}");
    assert!(
        gain.lo <= gain.estimate && gain.estimate <= gain.hi,
        "{gain:?}"
    );
    let t = probe.reward_sign_test;
    assert_eq!((t.wins + t.losses + t.ties) as usize, n);
    outcome(&e.dir, s.manifest.digest, &s.dir)
}

/// The uninterrupted reference, computed once for both tests.
fn reference() -> &'static Outcome {
    static R: OnceLock<Outcome> = OnceLock::new();
    R.get_or_init(run_in_process)
}

#[test]
fn same_config_twice_gives_identical_trajectories_and_checkpoints() {
    let a = reference();
    let b = run_in_process();
    assert_eq!(a, &b);
}

fn cli(store: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mlagent"));
    c.args(["--store"])
        .arg(store)
        .args(["run", "--experiment", SMOKE, "--until", "sft"])
        .env_remove("RUST_LOG");
    c
}

/// The sft run folder's resume folder, once the stage has started.
fn resume_dir(store: &Path) -> Option<PathBuf> {
    let runs = store.join("runs").join("sft");
    let run = std::fs::read_dir(runs).ok()?.next()?.ok()?.path();
    Some(run.join("resume"))
}

/// The run folder a `run` command printed for `stage`.
fn printed_dir(stdout: &str, stage: &str) -> (Digest, PathBuf) {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(stage))
        .unwrap_or_else(|| panic!("no {stage} line in {stdout}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[1].parse().unwrap(), PathBuf::from(f[2]))
}

#[test]
fn a_run_killed_during_sft_resumes_to_the_same_checkpoint() {
    let exp = Experiment::load(Path::new(SMOKE)).unwrap();
    assert!(
        exp.sft.epochs >= 2,
        "the smoke SFT must have an epoch after the first"
    );
    let store = tempfile::tempdir().unwrap();
    let mut child = cli(store.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let killed_at = loop {
        if let Some(p) = resume_dir(store.path()).and_then(|d| read_progress(&d).ok().flatten()) {
            child.kill().unwrap();
            break p;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before its first epoch checkpoint was seen");
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no epoch checkpoint after 300 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    assert!(
        killed_at.epoch >= 1 && killed_at.epoch < exp.sft.epochs,
        "killed after epoch {} of {}: not during training",
        killed_at.epoch,
        exp.sft.epochs
    );
    let out = cli(store.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "rerun failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, expert_dir) = printed_dir(&stdout, "expert");
    let (sft_digest, sft_dir) = printed_dir(&stdout, "sft");
    assert!(
        stdout.contains("(ran)"),
        "the sft stage ran again: {stdout}"
    );
    let resumed = outcome(&expert_dir, sft_digest, &sft_dir);
    assert_eq!(reference(), &resumed);
}

#[cfg(unix)]
#[test]
fn sigint_during_sft_checkpoints_stops_with_a_resume_hint_and_resumes_exactly() {
    let store = tempfile::tempdir().unwrap();
    let child = cli(store.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while resume_dir(store.path())
        .and_then(|d| read_progress(&d).ok().flatten())
        .is_none()
    {
        assert!(start.elapsed() < Duration::from_secs(300), "no checkpoint");
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a live child's pid and a valid signal number has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "stopped with an error");
    assert!(
        stderr.contains("interrupted") && stderr.contains("resume by running again"),
        "{stderr}"
    );
    let out = cli(store.path()).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (_, expert_dir) = printed_dir(&stdout, "expert");
    let (sft_digest, sft_dir) = printed_dir(&stdout, "sft");
    assert_eq!(reference(), &outcome(&expert_dir, sft_digest, &sft_dir));
}
