//! The upstream registry and `mlagent tasks prepare`, through the binary as a user runs them:
//! `tasks upstream` lists where each of the paper's tasks comes from; `tasks prepare` checks a
//! user's copy (a missing or changed file is an error naming it) and writes a Python task whose
//! starter runs in the sandbox with the answers out of the workspace's reach.
//!
//! The real copies are the user's to download, so the end-to-end test builds a small copy in
//! MLAgentBench's `house-price` layout (the registry has no upstream MD5s for MLAgentBench, so
//! any copy of the right shape passes the check).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn mlagent(args: &[&str], prepared: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(args)
        .arg("--prepared")
        .arg(prepared)
        .output()
        .expect("run mlagent")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_upstream_registry_lists_the_papers_tasks_and_what_can_be_prepared() {
    let out = tempfile::tempdir().expect("a temp dir");
    let o = mlagent(&["tasks", "upstream", "--json"], out.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).expect("a JSON array");
    assert_eq!(rows.len(), 19);
    let preparable: Vec<&str> = rows
        .iter()
        .filter(|r| r["preparable"] == true)
        .map(|r| r["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(
        preparable,
        [
            "detecting-insults",
            "essay-scoring",
            "house-price",
            "spaceship-titanic",
            "tabular-dec-2021",
            "us-patent"
        ]
    );
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).expect("listed");
    assert_eq!(row("spaceship-titanic")["benchmark"], "mle-bench");
    assert_eq!(row("spaceship-titanic")["checksummed_files"], 4);
    assert_eq!(row("house-price")["benchmark"], "mlagentbench");
    assert_eq!(row("house-price")["checksummed_files"], 0);
    assert!(
        row("aerial-cactus")["not_yet"]
            .as_str()
            .is_some_and(|w| w.contains("zip"))
    );
}

#[test]
fn prepare_names_a_missing_or_changed_file_and_refuses_what_it_cannot_prepare_yet() {
    let out = tempfile::tempdir().expect("a temp dir");
    let copy = tempfile::tempdir().expect("a temp dir");
    let from = copy.path().to_str().expect("a UTF-8 path");
    let prepare = |task: &str| {
        mlagent(
            &["tasks", "prepare", "--from", from, "--task", task],
            out.path(),
        )
    };

    let o = prepare("spaceship-titanic");
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("public/train.csv") && e.contains("mlebench prepare -c spaceship-titanic"),
        "{e}"
    );

    // Every file present, none of upstream's bytes: the first is named with both MD5s.
    for rel in [
        "public/train.csv",
        "public/test.csv",
        "public/sample_submission.csv",
        "private/test.csv",
    ] {
        let p = copy.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("folder");
        std::fs::write(&p, "PassengerId,Transported\n1,True\n").expect("written");
    }
    let e = stderr(&prepare("spaceship-titanic"));
    assert!(
        e.contains("public/train.csv") && e.contains("564a1614ecef9d9611cec4efdce4c412"),
        "{e}"
    );

    let e = stderr(&prepare("aerial-cactus"));
    assert!(
        e.contains("cannot prepare it yet") && e.contains("zip"),
        "{e}"
    );
    let e = stderr(&prepare("no-such-task"));
    assert!(e.contains("not in the upstream registry"), "{e}");
    assert!(
        std::fs::read_dir(out.path())
            .expect("readable")
            .next()
            .is_none(),
        "nothing is written when preparation fails"
    );
}

/// A copy in MLAgentBench's `house-price` layout: `env/train.csv`, `env/test.csv` (no
/// `SalePrice`) and `scripts/answer.csv`, with a price that the features explain.
fn house_price_copy(dir: &Path) {
    let price = |i: usize| 50_000 + 120 * (i * 37 % 1000) + 9_000 * (i % 7);
    let row = |i: usize| {
        format!(
            "{i},{},{},{}",
            i * 37 % 1000,
            i % 7,
            ["North", "South", "Edge"][i % 3]
        )
    };
    let mut train = String::from("Id,LotArea,OverallQual,Neighborhood,SalePrice\n");
    for i in 1..=200 {
        train += &format!("{},{}\n", row(i), price(i));
    }
    let mut test = String::from("Id,LotArea,OverallQual,Neighborhood\n");
    let mut answers = String::from("Id,SalePrice\n");
    for i in 201..=250 {
        test += &format!("{}\n", row(i));
        answers += &format!("{i},{}\n", price(i));
    }
    for (rel, text) in [
        ("env/train.csv", train),
        ("env/test.csv", test),
        ("scripts/answer.csv", answers),
    ] {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("folder");
        std::fs::write(p, text).expect("written");
    }
}

fn prepared_bytes(root: &Path) -> Vec<(String, Vec<u8>)> {
    [
        "house-price.ron",
        "house-price/train.py",
        "house-price/data/train.csv",
        "house-price/data/valid.csv",
        "house-price/data/test.csv",
        "house-price/answers/valid.csv",
        "house-price/answers/test.csv",
    ]
    .iter()
    .map(|rel| {
        (
            rel.to_string(),
            std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}")),
        )
    })
    .collect()
}

#[test]
fn a_prepared_copy_is_seeded_keeps_its_answers_apart_and_its_starter_runs() {
    let copy = tempfile::tempdir().expect("a temp dir");
    house_price_copy(copy.path());
    let from = copy.path().to_str().expect("a UTF-8 path");
    let prep = |out: &Path, seed: &str| {
        let o = mlagent(
            &[
                "tasks",
                "prepare",
                "--from",
                from,
                "--task",
                "house-price",
                "--seed",
                seed,
            ],
            out,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).expect("UTF-8")
    };
    let a = tempfile::tempdir().expect("a temp dir");
    let said = prep(a.path(), "7");
    assert!(
        said.contains("180 training, 20 validation, 50 test rows")
            && said.contains("0 matched upstream's MD5, 3 recorded by sha256 only"),
        "{said}"
    );

    // The same seed gives the same bytes; another seed another validation split.
    let b = tempfile::tempdir().expect("a temp dir");
    prep(b.path(), "7");
    assert_eq!(prepared_bytes(a.path()), prepared_bytes(b.path()));
    let c = tempfile::tempdir().expect("a temp dir");
    prep(c.path(), "8");
    let valid = |root: &Path| std::fs::read(root.join("house-price/data/valid.csv")).expect("read");
    assert_ne!(valid(a.path()), valid(c.path()));

    // The workspace's validation and test files hold no price; the answers do.
    let text =
        |rel: &str| std::fs::read_to_string(a.path().join("house-price").join(rel)).expect("read");
    assert!(text("data/train.csv").starts_with("id,LotArea,OverallQual,Neighborhood,SalePrice\n"));
    for rel in ["data/valid.csv", "data/test.csv"] {
        assert!(!text(rel).contains("SalePrice"), "{rel}");
    }
    assert_eq!(text("answers/valid.csv").lines().count(), 21);
    assert!(text("answers/test.csv").starts_with("id,answer\n201,"));

    // Listed beside the workbench stand-in of the same id; `env step` asks which is meant.
    let o = mlagent(&["tasks", "list", "--json"], a.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).expect("a JSON array");
    let envs: Vec<&Value> = rows
        .iter()
        .filter(|r| r["id"] == "house-price")
        .map(|r| &r["environment"])
        .collect();
    assert_eq!(envs, ["workbench", "python"]);
    let action = a.path().join("action.txt");
    std::fs::write(&action, "Action: List Files\nAction Input: {}\n").expect("written");
    let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["env", "step", "--task", "house-price", "--action-file"])
        .arg(&action)
        .arg("--prepared")
        .arg(a.path())
        .output()
        .expect("run mlagent");
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("--environment"), "{e}");

    // The starter runs in the sandbox and is graded on the validation answers.
    if let Some(python) = super::env_python::python() {
        let script = a.path().join("house-price/train.py");
        let execute = || {
            Command::new(env!("CARGO_BIN_EXE_mlagent"))
                .args(["env", "execute", "--task", "house-price", "--script"])
                .arg(&script)
                .args(["--python", &python, "--prepared"])
                .arg(a.path())
                .output()
                .expect("run mlagent")
        };
        let o = execute();
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
        assert_eq!(v["kind"], "success", "{v}");
        assert!(
            v["metric"]
                .as_f64()
                .is_some_and(|m| m.is_finite() && m > 0.0),
            "{v}"
        );
        assert_eq!(v["reward"], 0.5, "the starter against itself: σ(0)");

        // A changed answer file is refused, naming it, before anything runs.
        std::fs::write(a.path().join("house-price/answers/test.csv"), "id,answer\n").expect("w");
        let o = execute();
        let e = stderr(&o);
        assert!(!o.status.success() && e.contains("answers/test.csv"), "{e}");
    }
}

/// Each kind of starter runs on a table of its kind and writes one prediction per row, of the
/// form its metric grades.
#[test]
fn every_kind_of_starter_runs_and_predicts_each_row() {
    use mlagent::tasks::upstream::Prediction;
    let Some(python) = super::env_python::python() else {
        return;
    };
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks/upstream/starter.py"),
    )
    .expect("the starter template");
    for (kind, labels) in [
        (Prediction::Label, ["True", "False"]),
        (Prediction::Probability, ["1", "0"]),
        (Prediction::Number, ["3.5", "-1.25"]),
        (Prediction::Rating, ["4", "2"]),
    ] {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(dir.path().join("data")).expect("folder");
        let mut train = String::from("id,size,word,y\n");
        for i in 0..40 {
            train += &format!("{i},{},{},{}\n", i % 9, "ab".repeat(i % 4), labels[i % 2]);
        }
        let features = "id,size,word\n100,3,ab\n101,NA,\n102,7,abab\n";
        std::fs::write(dir.path().join("data/train.csv"), train).expect("written");
        std::fs::write(dir.path().join("data/valid.csv"), features).expect("written");
        std::fs::write(dir.path().join("data/test.csv"), features).expect("written");
        std::fs::write(dir.path().join("train.py"), kind.starter(&template, "y")).expect("w");
        let o = Command::new(&python)
            .arg("train.py")
            .current_dir(dir.path())
            .output()
            .expect("run python");
        assert!(o.status.success(), "{kind:?}: {}", stderr(&o));
        let out = std::fs::read_to_string(dir.path().join("valid_predictions.csv"))
            .expect("predictions written");
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows[0], "id,prediction", "{kind:?}");
        assert_eq!(rows.len(), 4, "{kind:?}: {out}");
        for r in &rows[1..] {
            let p = r.split(',').nth(1).expect("two fields");
            let ok = match kind {
                Prediction::Label => labels.contains(&p),
                Prediction::Probability => p.parse::<f64>().is_ok_and(|v| (0.0..=1.0).contains(&v)),
                Prediction::Number => p.parse::<f64>().is_ok_and(f64::is_finite),
                Prediction::Rating => p.parse::<i64>().is_ok(),
            };
            assert!(ok, "{kind:?}: `{p}` in {out}");
        }
    }
}
