//! Ctrl-C in every stage of a smoke reproduction: the process exits non-zero within seconds,
//! saying where it stopped, and running again ends with the uninterrupted report digest (the
//! smoke golden's on the golden's CPU class; elsewhere, that of an uninterrupted run).
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STAGES: [&str; 7] = [
    "ideas",
    "expert",
    "sft",
    "rl",
    "rl-episode",
    "eval",
    "report",
];

fn reproduce(store: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mlagent"));
    c.arg("--store")
        .arg(store)
        .args(["reproduce", "table1", "--profile", "smoke"])
        .env("RUST_LOG", "mlagent::pipeline=info")
        .env("NO_COLOR", "1");
    c
}

/// The digest an uninterrupted smoke reproduction reaches on this machine: the golden's when
/// this machine is of the golden's CPU class (bits cannot match across classes), else a fresh
/// run's.
fn uninterrupted_digest() -> String {
    use mlagent::report::regression::{ReproductionGolden, platform};
    let golden = ReproductionGolden::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/smoke/table1.ron"),
    )
    .expect("the smoke golden loads");
    if golden.blessed.platform.as_deref() == Some(platform().as_str()) {
        return golden.blessed.report_digest;
    }
    let store = tempfile::tempdir().unwrap();
    let out = reproduce(store.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_digest(&String::from_utf8_lossy(&out.stdout))
}

fn last_digest(stdout: &str) -> String {
    let last = stdout.lines().last().unwrap_or_default();
    last.strip_prefix("report digest: ")
        .unwrap_or_else(|| panic!("no report digest in {stdout}"))
        .to_string()
}

#[test]
fn ctrl_c_in_each_stage_of_smoke_stops_within_seconds_and_a_rerun_reaches_the_same_digest() {
    let store = tempfile::tempdir().unwrap();
    let mut stopped_in = Vec::new();
    for stage in STAGES {
        let mut child = reproduce(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(l);
                }
            })
        };
        let started = format!("stage={stage} ");
        let start = Instant::now();
        let mut finished = None;
        while !lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("running") && l.contains(&started))
        {
            if let Some(s) = child.try_wait().unwrap() {
                finished = Some(s);
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(600),
                "stage {stage} never started"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        if let Some(status) = finished {
            // Only the last stage can end the whole reproduction before the signal.
            assert!(status.success() && stage == "report", "{stage}: {status}");
            continue;
        }
        let pid = i32::try_from(child.id()).unwrap();
        // SAFETY: kill(2) with a live child's pid and a valid signal number has no memory effects.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        let signalled = Instant::now();
        let status = child.wait().unwrap();
        let took = signalled.elapsed();
        reader.join().unwrap();
        let log = lines.lock().unwrap().join("\n");
        if status.success() {
            // The signal came after the last stage's last safe point.
            assert_eq!(stage, "report", "{stage} ran to the end: {log}");
            continue;
        }
        assert!(log.contains("interrupted"), "{stage}: {log}");
        assert!(
            took < Duration::from_secs(30),
            "{stage}: took {took:?} to stop"
        );
        stopped_in.push((stage, took));
    }
    eprintln!("stopped: {stopped_in:?}");
    assert!(stopped_in.len() >= 6, "{stopped_in:?}");
    let out = reproduce(store.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(last_digest(&stdout), uninterrupted_digest(), "{stdout}");
}
