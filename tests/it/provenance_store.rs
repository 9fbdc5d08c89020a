//! Integration tests of the artifact store: interrupted writers and runs, tampering, locking,
//! and the `mlagent verify` command.
//!
//! Tests that need a process to die re-run this test binary as a child with
//! `MLAGENT_CHILD=<role>`; the child does its part and the parent kills it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlagent::provenance::{
    CodeVersion, Digest, LockWait, Parent, RunKey, Store, StoreError, atomic, digest_of,
};

fn key(stage: &str, parents: Vec<Parent>) -> RunKey {
    RunKey {
        stage: stage.into(),
        config_digest: digest_of(&("config", stage)).unwrap(),
        parents,
        seed: 7,
        backend: "flex".into(),
        code: CodeVersion::NoRepository {
            crate_version: "test".into(),
        },
    }
}

/// Runs `role` in a child copy of this test binary.
fn spawn_child(test_name: &str, role: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            crate::support::test_name(module_path!(), test_name).as_str(),
            "--exact",
            "--nocapture",
        ])
        .env("MLAGENT_CHILD", role)
        .env("MLAGENT_CHILD_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn child_role() -> Option<(String, PathBuf)> {
    let role = std::env::var("MLAGENT_CHILD").ok()?;
    let dir = PathBuf::from(std::env::var("MLAGENT_CHILD_DIR").ok()?);
    Some((role, dir))
}

fn wait_for(cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "child never got there"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killed_writer_leaves_previous_file_intact() {
    if let Some((role, dir)) = child_role() {
        assert_eq!(role, "writer");
        // Write half a file, then hang until killed.
        let _ = atomic::write_with(&dir.join("data.bin"), |w| {
            w.write_all(&[b'N'; 1 << 16])?;
            w.flush()?;
            fs::write(dir.join("started"), "")?;
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        return;
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("data.bin");
    atomic::write(&target, b"previous contents").unwrap();
    let before = mlagent::provenance::files::folder_digest(dir.path()).unwrap();
    let mut child = spawn_child(
        "killed_writer_leaves_previous_file_intact",
        "writer",
        dir.path(),
    );
    wait_for(|| dir.path().join("started").exists());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"previous contents");
    fs::remove_file(dir.path().join("started")).unwrap();
    // The orphaned temporary file does not count as content.
    assert_eq!(
        mlagent::provenance::files::folder_digest(dir.path()).unwrap(),
        before
    );
}

#[test]
fn killed_stage_run_is_redone_not_reused() {
    if let Some((role, dir)) = child_role() {
        assert_eq!(role, "stage");
        let store = Store::open(&dir, LockWait::Fail).unwrap();
        let run = store.begin(&key("sft", vec![]), true).unwrap();
        fs::write(run.dir().join("weights.safetensors"), b"half").unwrap();
        fs::create_dir_all(run.resume_dir()).unwrap();
        fs::write(run.resume_dir().join("step-3.ckpt"), b"resume state").unwrap();
        fs::write(dir.join("started"), "").unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("killed_stage_run_is_redone_not_reused", "stage", dir.path());
    wait_for(|| dir.path().join("started").exists());
    child.kill().unwrap();
    child.wait().unwrap();

    // The lock died with the process.
    let store = Store::open(dir.path(), LockWait::Fail).unwrap();
    let k = key("sft", vec![]);
    assert!(
        store.find(&k).unwrap().is_none(),
        "an incomplete run is never reused"
    );
    let run = store.begin(&k, true).unwrap();
    assert!(
        !run.dir().join("weights.safetensors").exists(),
        "partial output cleared"
    );
    assert_eq!(
        fs::read(run.resume_dir().join("step-3.ckpt")).unwrap(),
        b"resume state",
        "a resumable stage keeps its resume state"
    );
    fs::write(run.dir().join("weights.safetensors"), b"full").unwrap();
    let m = run
        .finish(&["weights.safetensors"], &["resume/step-3.ckpt"])
        .unwrap();
    assert_eq!(store.find(&k).unwrap().unwrap(), m);

    // A non-resumable restart clears resume state too.
    let run = store.begin(&key("other", vec![]), false).unwrap();
    assert!(!run.resume_dir().exists());
}

#[test]
fn second_process_on_a_store_fails_with_a_clear_message() {
    if let Some((role, dir)) = child_role() {
        assert_eq!(role, "holder");
        let _store = Store::open(&dir, LockWait::Fail).unwrap();
        fs::write(dir.join("started"), "").unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child(
        "second_process_on_a_store_fails_with_a_clear_message",
        "holder",
        dir.path(),
    );
    wait_for(|| dir.path().join("started").exists());
    let err = Store::open(dir.path(), LockWait::Fail).unwrap_err();
    child.kill().unwrap();
    child.wait().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Locked { .. }), "{msg}");
    assert!(msg.contains("locked by another mlagent process"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
}

/// Builds a two-run lineage (a child of a parent) and returns (store dir, parent dir, child dir).
fn lineage(root: &Path) -> (PathBuf, PathBuf) {
    let store = Store::open(root, LockWait::Fail).unwrap();
    let run = store.begin(&key("ideas", vec![]), false).unwrap();
    fs::write(run.dir().join("ideas.ron"), "(ideas: [])").unwrap();
    let parent = run.finish(&["ideas.ron"], &[]).unwrap();
    let pdir = store.run_dir(&key("ideas", vec![]));
    let ck = key(
        "expert",
        vec![Parent {
            stage: "ideas".into(),
            digest: parent.digest,
        }],
    );
    let run = store.begin(&ck, false).unwrap();
    fs::write(run.dir().join("trajectories.jsonl"), "{}\n").unwrap();
    fs::create_dir_all(run.dir().join("resume")).unwrap();
    fs::write(run.dir().join("resume/optim.bin"), [1u8, 2, 3]).unwrap();
    run.finish(&["trajectories.jsonl"], &["resume/optim.bin"])
        .unwrap();
    (pdir, store.run_dir(&ck))
}

fn mlagent(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn verify_command_passes_then_names_a_flipped_file() {
    let dir = tempfile::tempdir().unwrap();
    let (pdir, cdir) = lineage(dir.path());
    let root = dir.path().to_str().unwrap();
    let (code, out) = mlagent(&["verify", root]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified 2 runs"), "{out}");

    // Lineage verification from the child's manifest reaches the parent.
    let cm = cdir.join("manifest.json");
    let (code, out) = mlagent(&["verify", cm.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified 2 runs"), "{out}");

    // Flip one byte of the parent's output: both forms of verify name it.
    let victim = pdir.join("ideas.ron");
    let mut bytes = fs::read(&victim).unwrap();
    bytes[3] ^= 0x01;
    fs::write(&victim, bytes).unwrap();
    for target in [root, cm.to_str().unwrap()] {
        let (code, out) = mlagent(&["verify", target]);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains(&victim.display().to_string()), "{out}");
    }
}

#[test]
fn tampered_run_is_an_error_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cdir) = lineage(dir.path());
    // Auxiliary outputs are integrity-checked too.
    fs::write(cdir.join("resume/optim.bin"), [9u8]).unwrap();
    let store = Store::open(dir.path(), LockWait::Fail).unwrap();
    let parent = store.manifests().unwrap()[1].1.clone();
    assert_eq!(parent.stage, "ideas");
    let ck = key(
        "expert",
        vec![Parent {
            stage: "ideas".into(),
            digest: parent.digest,
        }],
    );
    let err = store.find(&ck).unwrap_err();
    assert!(err.to_string().contains("resume/optim.bin"), "{err}");
}

#[test]
fn edited_manifest_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (pdir, _) = lineage(dir.path());
    let mp = pdir.join("manifest.json");
    let text = fs::read_to_string(&mp).unwrap();
    fs::write(&mp, text.replace("\"seed\": 7", "\"seed\": 8")).unwrap();
    let (code, out) = mlagent(&["verify", dir.path().to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&mp.display().to_string()), "{out}");
    // Garbage in a manifest is an error naming it, not a panic.
    fs::write(&mp, "{not json").unwrap();
    let (code, out) = mlagent(&["verify", dir.path().to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(out.contains("manifest.json"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn identity_ignores_who_computed_and_auxiliary_outputs() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (_, ca) = lineage(a.path());
    let (_, cb) = lineage(b.path());
    fs::write(cb.join("resume/optim.bin"), [4u8, 5]).unwrap();
    let ma = mlagent::provenance::store::read_manifest(&ca.join("manifest.json")).unwrap();
    let mb = mlagent::provenance::store::read_manifest(&cb.join("manifest.json")).unwrap();
    assert_eq!(ma.digest, mb.digest);
    let zero = Digest::from_raw([0; 32]);
    assert_ne!(ma.digest, zero);
}

/// Runs `f` on another thread and fails the test if it has not returned within `secs`: a check
/// that hangs on a FIFO or an endless file is a failure, not a stuck test run.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("the check returned within its bound")
}

#[cfg(unix)]
#[test]
fn a_linked_run_folder_is_never_cleared_or_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    fs::write(user.path().join("thesis.tex"), "years of work").unwrap();
    let store = Store::open(dir.path(), LockWait::Fail).unwrap();
    let k = key("sft", vec![]);
    let run_dir = store.run_dir(&k);
    fs::create_dir_all(run_dir.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(user.path(), &run_dir).unwrap();
    for resumable in [false, true] {
        let err = store.begin(&k, resumable).unwrap_err();
        assert!(matches!(err, StoreError::NotAFolder { .. }), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
    assert!(
        store.find(&k).is_err(),
        "a linked run folder is never reused"
    );
    assert_eq!(
        fs::read_to_string(user.path().join("thesis.tex")).unwrap(),
        "years of work"
    );
    assert_eq!(fs::read_dir(user.path()).unwrap().count(), 1);
    // A link inside an interrupted run is removed, its target left alone.
    fs::remove_file(&run_dir).unwrap();
    fs::create_dir_all(&run_dir).unwrap();
    std::os::unix::fs::symlink(user.path(), run_dir.join("resume")).unwrap();
    std::os::unix::fs::symlink(user.path(), run_dir.join("half.bin")).unwrap();
    let run = store.begin(&k, true).unwrap();
    assert!(fs::symlink_metadata(run.dir().join("resume")).is_err());
    assert!(fs::symlink_metadata(run.dir().join("half.bin")).is_err());
    assert_eq!(fs::read_dir(user.path()).unwrap().count(), 1);
}

#[test]
fn a_run_copied_into_another_runs_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), LockWait::Fail).unwrap();
    let made = key("rl", vec![]);
    let mut other = key("rl", vec![]);
    other.config_digest = digest_of(&("config", "rl", "beta_1: 2.0")).unwrap();
    let run = store.begin(&other, false).unwrap();
    fs::write(run.dir().join("curve.json"), "[]").unwrap();
    run.finish(&["curve.json"], &[]).unwrap();
    let target = store.run_dir(&made);
    fs::create_dir_all(&target).unwrap();
    for name in ["curve.json", "manifest.json"] {
        fs::copy(store.run_dir(&other).join(name), target.join(name)).unwrap();
    }
    let err = store.find(&made).unwrap_err().to_string();
    assert!(err.contains("the manifest of another run"), "{err}");
    drop(store);
    let (code, out) = mlagent(&["verify", dir.path().to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&target.display().to_string()), "{out}");
}

#[cfg(unix)]
#[test]
fn outputs_swapped_for_fifos_or_endless_links_fail_fast() {
    for swap in ["fifo", "dev-zero"] {
        let dir = tempfile::tempdir().unwrap();
        let (pdir, _) = lineage(dir.path());
        let victim = pdir.join("ideas.ron");
        fs::remove_file(&victim).unwrap();
        if swap == "fifo" {
            let made = Command::new("mkfifo").arg(&victim).status().unwrap();
            assert!(made.success());
        } else {
            std::os::unix::fs::symlink("/dev/zero", &victim).unwrap();
        }
        let root = dir.path().to_path_buf();
        let report = within(20, move || {
            mlagent::provenance::verify::verify_store(&root).unwrap()
        });
        assert!(!report.ok());
        assert!(
            report.mismatches.iter().any(|m| m.path == victim),
            "{swap}: {:?}",
            report.mismatches
        );
        let root = dir.path().to_path_buf();
        let found = within(20, move || {
            let store = Store::open(&root, LockWait::Fail).unwrap();
            store.find(&key("ideas", vec![])).map(|_| ())
        });
        assert!(found.is_err(), "{swap}");
    }
}

#[test]
fn verify_refuses_what_is_not_a_store_and_flags_missing_or_extra_files() {
    let dir = tempfile::tempdir().unwrap();
    let (pdir, cdir) = lineage(dir.path());
    for not_a_store in [
        PathBuf::from("/etc"),
        dir.path().join("runs"),
        dir.path().join("nowhere"),
    ] {
        let (code, out) = mlagent(&["verify", not_a_store.to_str().unwrap()]);
        assert_ne!(code, 0, "{}: {out}", not_a_store.display());
        assert!(out.contains("expected a store folder"), "{out}");
    }
    // From inside a pristine run folder, `verify manifest.json` verifies its lineage.
    let out = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["verify", "manifest.json"])
        .current_dir(&cdir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("verified 2 runs"), "{text}");
    // An unlisted file fails, naming it.
    let extra = pdir.join("notes.txt");
    fs::write(&extra, "hello").unwrap();
    let (code, out) = mlagent(&["verify", dir.path().to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&extra.display().to_string()), "{out}");
    fs::remove_file(&extra).unwrap();
    // A deleted manifest fails, both for the store and for the run folder.
    fs::remove_file(pdir.join("manifest.json")).unwrap();
    for target in [dir.path(), pdir.as_path()] {
        let (code, out) = mlagent(&["verify", target.to_str().unwrap()]);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("manifest"), "{out}");
    }
}
