//! The whole pipeline on the smoke profile: two fresh stores give the same report digest, the
//! second call in a store reuses every run, `mlagent verify` passes on the store and names the
//! file after any byte of it is flipped, and `reproduce --check` fails on a perturbed golden.

use crate::support::stage as stage_support;
use stage_support::Fixture;
use std::path::{Path, PathBuf};
use std::process::Command;

use mlagent::config::Experiment;
use mlagent::paper::{Agent, EvalTask, Level};
use mlagent::provenance::files::list_files;
use mlagent::provenance::verify::verify_store;
use mlagent::stages::report::{self, PaperSources, Target};
use mlagent::stages::{eval, reproduce};

/// Runs the table1 pipeline in `root`; returns (report digest, all runs reused, eval results dir).
fn run_once(root: &Path) -> (String, bool, PathBuf) {
    let fx = Fixture::smoke(root);
    let ctx = fx.ctx();
    let sources = PaperSources::load(Path::new(".")).unwrap();
    let r = reproduce::run_all(&ctx, Target::Table1, &sources).unwrap();
    let reused = r.ideas.reused && r.expert.reused && r.report.reused;
    let eval = r.eval.expect("table1 evaluates");
    (
        r.report.manifest.digest.to_hex(),
        reused && eval.reused,
        eval.dir,
    )
}

#[test]
fn fresh_stores_agree_reruns_reuse_and_any_flipped_byte_is_named() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (da, reused, eval_dir) = run_once(a.path());
    assert!(!reused);
    let (db, _, _) = run_once(b.path());
    assert_eq!(da, db, "report digests of two fresh stores");
    let (da2, reused2, _) = run_once(a.path());
    assert_eq!(da, da2);
    assert!(reused2, "a second call in the same store reuses every run");

    // The table holds the built-in agents on every smoke evaluation task, with Avg/Best.
    let exp = Experiment::load(Path::new("experiments/smoke.ron")).unwrap();
    let results = eval::read_results(&eval_dir.join(eval::RESULTS_FILE)).unwrap();
    assert_eq!(results.trajectories, exp.eval.trajectories);
    assert_eq!(results.tasks.len(), exp.eval_tasks.len());
    for t in &results.tasks {
        for agent in [Agent::Random, Agent::NonEnrichedExpert, Agent::Expert] {
            assert!(t.cell(agent, Level::Avg).is_some(), "{} {agent}", t.task);
        }
    }
    // The teacher beats the starter somewhere (scores are real test metrics, not the starter's).
    let hp = results.task(EvalTask::HousePrice).unwrap();
    assert!(hp.best(Agent::Expert).unwrap() < hp.starter, "{hp:?}");

    // verify: clean store passes; a flipped byte in any recorded file is named.
    let root = a.path();
    assert!(verify_store(root).unwrap().ok());
    let files: Vec<String> = list_files(&root.join("runs"))
        .unwrap()
        .into_iter()
        .filter(|f| !f.ends_with(".lock"))
        .collect();
    assert!(files.len() >= 15, "{files:?}");
    for f in &files {
        let p = root.join("runs").join(f);
        let orig = std::fs::read(&p).unwrap();
        let mut bad = orig.clone();
        let i = bad.len() / 2;
        bad[i] ^= 0x01;
        std::fs::write(&p, &bad).unwrap();
        let report = verify_store(root);
        let named = match &report {
            Ok(r) => {
                !r.ok()
                    && r.mismatches
                        .iter()
                        .any(|m| m.path.to_string_lossy().ends_with(f.as_str()))
            }
            // A corrupted manifest may not even parse: the error names it.
            Err(e) => e.to_string().contains(f.as_str()),
        };
        assert!(named, "flipping a byte of {f} was not named: {report:?}");
        std::fs::write(&p, &orig).unwrap();
    }
    assert!(verify_store(root).unwrap().ok());

    // The CLI too: exit status and the file's name.
    let report_md = files
        .iter()
        .find(|f| f.ends_with(report::MARKDOWN_FILE))
        .unwrap();
    let p = root.join("runs").join(report_md);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&p, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .arg("verify")
        .arg(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("MISMATCH") && stdout.contains(report::MARKDOWN_FILE),
        "{stdout}"
    );
}

fn mlagent(store: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .arg("--store")
        .arg(store)
        .args(["reproduce", "table1", "--profile", "smoke"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_passes_on_its_blessing_and_fails_naming_a_perturbed_cell() {
    let store = tempfile::tempdir().unwrap();
    let g = tempfile::tempdir().unwrap();
    let golden = g.path().join("table1.ron");
    let gs = golden.to_str().unwrap();
    let (ok, out) = mlagent(store.path(), &["--bless", gs, "--allow-dirty"]);
    assert!(ok, "{out}");
    let last = out.lines().last().unwrap();
    let hex = last.strip_prefix("report digest: ").expect(last);
    assert_eq!(hex.len(), 64);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));

    let (ok, out) = mlagent(store.path(), &["--check", gs]);
    assert!(ok, "{out}");
    assert!(out.contains(", 0 regressions"), "{out}");
    assert_eq!(out.lines().last().unwrap(), last);

    // Move one golden cell far outside its tolerance: the check fails naming that cell.
    let text = std::fs::read_to_string(&golden).unwrap();
    let g0: mlagent::report::regression::ReproductionGolden =
        mlagent::config::parse_ron(&text, &golden).unwrap();
    let mut g1 = g0.clone();
    g1.cells[1].value += 1.0 + g1.cells[1].value.abs();
    std::fs::write(&golden, g1.to_ron()).unwrap();
    let (ok, out) = mlagent(store.path(), &["--check", gs]);
    assert!(!ok, "{out}");
    let cell = &g0.cells[1];
    let name = format!(
        "REGRESSION cell {} / {} / {}",
        cell.task,
        cell.agent,
        cell.level.label()
    );
    assert!(out.contains(&name), "{out}");
    assert!(out.lines().last().unwrap().starts_with("report digest: "));

    // Blessed on another CPU class: bits are not compared; the cells are judged by a spread
    // over seeds (here made from the golden's own values, ±1 %).
    use mlagent::report::regression::{Spread, SpreadCell};
    let mut other = g0.clone();
    other.blessed.platform = Some("another-class[none]".into());
    let spread_of = |shift: f64| Spread {
        seeds: vec![1, 2, 3],
        max_outside: Spread::MAX_OUTSIDE,
        cells: g0
            .cells
            .iter()
            .map(|c| SpreadCell {
                task: c.task,
                agent: c.agent,
                level: c.level,
                values: [0.99, 1.0, 1.01]
                    .iter()
                    .map(|f| c.value * f + shift)
                    .collect(),
            })
            .collect(),
        verdicts: Vec::new(),
    };
    other.spread = Some(spread_of(0.0));
    std::fs::write(&golden, other.to_ron()).unwrap();
    let (ok, out) = mlagent(store.path(), &["--check", gs]);
    assert!(ok, "{out}");
    assert!(out.contains("by distribution over 3 seeds"), "{out}");
    assert!(out.contains(": passed"), "{out}");
    // Every cell far from its spread: the check fails naming them.
    other.spread = Some(spread_of(1e3));
    std::fs::write(&golden, other.to_ron()).unwrap();
    let (ok, out) = mlagent(store.path(), &["--check", gs]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("OUTSIDE cell ") && out.contains(": FAILED"),
        "{out}"
    );
}
