//! Every task's starter runs and is recorded; for every task a better script exists.
//!
//! Recorded metrics are from this code on the flex backend, seed 0 (debug and release agree:
//! the model code has no fast-math). Tolerance 1e-6 relative: a change beyond that is a
//! behaviour change and must be re-recorded on purpose.

use mlagent::env::{Workbench, evaluate};
use mlagent::tasks::Registry;

/// (task, edits that make a better script).
const BETTER: [(&str, &str); 19] = [
    ("aerial-cactus", "optimizer=adam; epochs=10; learning_rate=0.01"),
    ("cifar-10", "optimizer=adam; epochs=5; learning_rate=0.001; model=mlp; hidden=128"),
    ("denoising", "patch=5; optimizer=adam; epochs=2; learning_rate=0.003"),
    ("detecting-insults", "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=11; lowercase=true; weighting=tfidf"),
    ("dogs-vs-cats", "optimizer=adam; epochs=5; learning_rate=0.001; model=mlp; hidden=64"),
    ("essay-scoring", "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf"),
    ("feedback", "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf"),
    ("house-price", "standardise=true; optimizer=adam; epochs=50; learning_rate=0.01; loss=mae"),
    ("jigsaw-toxic", "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf"),
    ("leaf", "optimizer=adam; epochs=20; learning_rate=0.01; model=mlp; hidden=64"),
    ("nomad2018", "model=mlp; one_hot=true; optimizer=adam; epochs=60; learning_rate=0.01; log_target=true"),
    ("ogbn-arxiv", "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf; hops=1"),
    ("plant-pathology", "optimizer=adam; epochs=10; learning_rate=0.01"),
    ("spaceship-titanic", "standardise=true; optimizer=adam; epochs=30; learning_rate=0.01"),
    ("spooky-author", "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=11; lowercase=true; weighting=tfidf"),
    ("statoil", "optimizer=adam; epochs=5; learning_rate=0.001; model=mlp; hidden=64"),
    ("tabular-dec-2021", "standardise=true; model=mlp; hidden=64; optimizer=adam; epochs=60; learning_rate=0.01"),
    ("us-patent", "optimizer=adam; epochs=10; learning_rate=0.01; hash_bits=10; lowercase=true; weighting=tfidf; pair_features=product"),
    ("whale", "optimizer=adam; epochs=20; learning_rate=0.003; standardise=true"),
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
        let s = evaluate(&bench, task, &starter, 0).unwrap_or_else(|e| panic!("{id}: starter fails: {e}"));
        assert!(s.valid_metric.is_finite() && s.test_metric.is_finite(), "{id}");
        let mut improved = starter.clone();
        improved.apply(&edits(better)).unwrap();
        let b = evaluate(&bench, task, &improved, 0).unwrap_or_else(|e| panic!("{id}: better script fails: {e}"));
        let dir = task.spec.metric.direction();
        assert!(dir.is_better(b.valid_metric, s.valid_metric), "{id}: validation {} is not better than the starter's {}", b.valid_metric, s.valid_metric);
        assert!(dir.is_better(b.test_metric, s.test_metric), "{id}: test {} is not better than the starter's {}", b.test_metric, s.test_metric);
        report.push_str(&format!(
            "{id:<18} starter valid {:>10.4} test {:>10.4} | better valid {:>10.4} test {:>10.4}\n",
            s.valid_metric, s.test_metric, b.valid_metric, b.test_metric
        ));
    }
    println!("{report}");
}
