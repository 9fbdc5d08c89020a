//! Same (task, script, seed) → the same metric bit for bit: across workbenches, and across
//! thread counts (RAYON_NUM_THREADS 1 vs 2, in subprocesses of the real binary).

use std::process::Command;

use mlagent::env::{Workbench, evaluate};
use mlagent::tasks::Registry;

#[test]
fn two_runs_give_identical_bits_and_the_seed_matters() {
    for (id, set) in [
        ("cifar-10", "model=cnn; channels=4; hidden=16; epochs=1"),
        (
            "spooky-author",
            "model=mlp; dropout=0.3; optimizer=adam; epochs=3",
        ),
        ("nomad2018", "model=mlp; optimizer=momentum; epochs=5"),
    ] {
        let run = |seed| {
            let bench = Workbench::new(Registry::load_default().unwrap());
            let task = bench.task(id).unwrap();
            let mut s = bench.starter(task).unwrap();
            let edits: Vec<(String, String)> = set
                .split(';')
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.trim().into(), v.trim().into())
                })
                .collect();
            s.apply(&edits).unwrap();
            evaluate(&bench, task, &s, seed).unwrap()
        };
        let (a, b, c) = (run(3), run(3), run(4));
        assert_eq!(a.valid_metric.to_bits(), b.valid_metric.to_bits(), "{id}");
        assert_eq!(a.test_metric.to_bits(), b.test_metric.to_bits(), "{id}");
        assert_ne!(
            a.valid_metric.to_bits(),
            c.valid_metric.to_bits(),
            "{id}: the seed must change the run"
        );
    }
}

#[test]
fn thread_count_does_not_change_the_metric() {
    let out = |threads: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_mlagent"))
            .args([
                "env",
                "evaluate",
                "--task",
                "leaf",
                "--seed",
                "5",
                "--set",
                "model=mlp; hidden=32; epochs=3; optimizer=adam",
            ])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (
            v["valid_metric"].as_f64().unwrap().to_bits(),
            v["test_metric"].as_f64().unwrap().to_bits(),
        )
    };
    assert_eq!(out("1"), out("2"));
}
