//! Every task's starter runs and is recorded; for every task a better script exists.
//!
//! Recorded metrics: this code on the flex backend, seed 0, via `mlagent env evaluate --task ID`.
//! Tolerance 1e-9 relative (summation order inside metrics may move the last bits); a larger
//! change is a behaviour change and must be re-recorded on purpose.

use mlagent::env::{Workbench, evaluate};
use mlagent::tasks::Registry;

/// Starter (validation, test) metrics, seed 0, recorded from this code (flex backend).
const RECORDED: [(&str, f64, f64); 19] = [
    ("aerial-cactus", 0.2870422011526306, 0.43990263555480946),
    ("cifar-10", 56.85714285714286, 58.357142857142854),
    ("denoising", 0.26249889743936916, 0.24245304275875038),
    ("detecting-insults", 54.1958041958042, 45.45454545454545),
    ("dogs-vs-cats", 0.6223087479893019, 0.6338061771098555),
    ("essay-scoring", -0.06117034163474287, -0.09304480138435037),
    ("feedback", 1.1914703515326015, 1.1998303180449517),
    ("house-price", 415.8426599782123, 479.49373188711144),
    ("jigsaw-toxic", 0.5371775188545119, 0.5005289041175986),
    ("leaf", 2.2684426458634555, 2.2732930128466164),
    ("nomad2018", 0.18257576451797625, 0.18305789299192168),
    ("ogbn-arxiv", 40.102171136653894, 41.123882503192846),
    ("plant-pathology", 0.635308617769051, 0.591462566990014),
    ("spaceship-titanic", 64.91228070175438, 58.77192982456141),
    ("spooky-author", 1.0944719653438717, 1.1048982605230597),
    ("statoil", 0.6675113272251442, 0.6701084681993196),
    ("tabular-dec-2021", 33.75, 32.8125),
    ("us-patent", -0.06663458323583984, -0.005845695927935438),
    ("whale", 0.33574074074074073, 0.34407407407407403),
];

/// (task, edits that make a better script).
const BETTER: [(&str, &str); 19] = [
    (
        "aerial-cactus",
        "optimizer=adam; epochs=10; learning_rate=0.01",
    ),
    (
        "cifar-10",
        "optimizer=adam; epochs=5; learning_rate=0.001; model=mlp; hidden=128",
    ),
    (
        "denoising",
        "patch=5; optimizer=adam; epochs=2; learning_rate=0.003",
    ),
    (
        "detecting-insults",
        "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=11; lowercase=true; weighting=tfidf",
    ),
    (
        "dogs-vs-cats",
        "optimizer=adam; epochs=5; learning_rate=0.001; model=mlp; hidden=64",
    ),
    (
        "essay-scoring",
        "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf",
    ),
    (
        "feedback",
        "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf",
    ),
    (
        "house-price",
        "standardise=true; optimizer=adam; epochs=50; learning_rate=0.01; loss=mae",
    ),
    (
        "jigsaw-toxic",
        "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf",
    ),
    (
        "leaf",
        "optimizer=adam; epochs=20; learning_rate=0.01; model=mlp; hidden=64",
    ),
    (
        "nomad2018",
        "model=mlp; one_hot=true; optimizer=adam; epochs=60; learning_rate=0.01; log_target=true",
    ),
    (
        "ogbn-arxiv",
        "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf; hops=1",
    ),
    (
        "plant-pathology",
        "optimizer=adam; epochs=10; learning_rate=0.01",
    ),
    (
        "spaceship-titanic",
        "standardise=true; optimizer=adam; epochs=30; learning_rate=0.01",
    ),
    (
        "spooky-author",
        "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=11; lowercase=true; weighting=tfidf",
    ),
    (
        "statoil",
        "optimizer=adam; epochs=5; learning_rate=0.001; model=mlp; hidden=64",
    ),
    (
        "tabular-dec-2021",
        "standardise=true; model=mlp; hidden=64; optimizer=adam; epochs=60; learning_rate=0.01",
    ),
    (
        "us-patent",
        "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf; pair_features=product",
    ),
    (
        "whale",
        "optimizer=adam; epochs=20; learning_rate=0.003; standardise=true",
    ),
];

fn edits(s: &str) -> Vec<(String, String)> {
    s.split(';')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

#[test]
fn every_starter_runs_and_a_better_script_exists() {
    let bench = Workbench::new(Registry::load_default().unwrap());
    let mut report = String::new();
    for (id, better) in BETTER {
        let task = bench.task(id).unwrap();
        let starter = bench.starter(task).unwrap();
        let s = evaluate(&bench, task, &starter, 0)
            .unwrap_or_else(|e| panic!("{id}: starter fails: {e}"));
        assert!(
            s.valid_metric.is_finite() && s.test_metric.is_finite(),
            "{id}"
        );
        let (_, rv, rt) = RECORDED
            .iter()
            .find(|r| r.0 == id)
            .expect("every task is recorded");
        for (what, got, want) in [
            ("validation", s.valid_metric, *rv),
            ("test", s.test_metric, *rt),
        ] {
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{id}: starter {what} metric {got} differs from the recorded {want}"
            );
        }
        let mut improved = starter.clone();
        improved.apply(&edits(better)).unwrap();
        let b = evaluate(&bench, task, &improved, 0)
            .unwrap_or_else(|e| panic!("{id}: better script fails: {e}"));
        let dir = task.spec.metric.direction();
        assert!(
            dir.is_better(b.valid_metric, s.valid_metric),
            "{id}: validation {} is not better than the starter's {}",
            b.valid_metric,
            s.valid_metric
        );
        assert!(
            dir.is_better(b.test_metric, s.test_metric),
            "{id}: test {} is not better than the starter's {}",
            b.test_metric,
            s.test_metric
        );
        report.push_str(&format!(
            "{id:<18} starter valid {:>10.4} test {:>10.4} | better valid {:>10.4} test {:>10.4}\n",
            s.valid_metric, s.test_metric, b.valid_metric, b.test_metric
        ));
    }
    println!("{report}");
}
