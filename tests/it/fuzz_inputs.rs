//! Generated hostile inputs at scale: action texts (and the scripts they edit) and store
//! manifests. Every input either parses or is rejected with a message that says what was
//! expected; none panics, aborts or takes more than its bound. Configs and task files have their
//! own generated cases in tests/fuzz_configs.rs.

use std::fs;
use std::time::{Duration, Instant};

use mlagent::env::script::Script;
use mlagent::env::{Action, ActionKind};
use mlagent::provenance::{CodeVersion, LockWait, RunKey, Store, digest_of};
use mlagent::tasks::spec::DataType;
use proptest::prelude::*;

/// Per-case bound: parsing and checking one input is microseconds to milliseconds.
const BOUND: Duration = Duration::from_secs(2);

const FAMILIES: [DataType; 6] = DataType::ALL;

/// Pieces an LLM (or an adversary) might emit: real keys and action names, numbers at the
/// edges of every type, separators, control characters and non-ASCII text.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Thought:".to_string()),
        Just("Action:".to_string()),
        Just("Action Input:".to_string()),
        Just("Edit Script".to_string()),
        Just("Inspect Script".to_string()),
        Just("Understand Data".to_string()),
        Just("Final Answer".to_string()),
        Just("\n".to_string()),
        Just(" = ".to_string()),
        Just("; ".to_string()),
        Just("=".to_string()),
        prop::sample::select(vec![
            "learning_rate",
            "lr",
            "epochs",
            "batch_size",
            "hidden_size",
            "depth",
            "dropout",
            "optimizer",
            "weight_decay",
            "model",
            "seed",
            "max_depth",
            "n_estimators",
        ])
        .prop_map(str::to_string),
        prop::sample::select(vec![
            "0",
            "-1",
            "1e12",
            "1e308",
            "-1e308",
            "1e999",
            "NaN",
            "inf",
            "-inf",
            "0.0",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775809",
            "true",
            "false",
            "adam",
            "sgd",
            "",
            "0x10",
            "1_000",
            "١٢",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,12}",
        "\\PC{0,6}",
        "[\\x00-\\x1f]{0,3}",
    ]
}

fn action_text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Well-formed shape, hostile parts.
        (
            prop::collection::vec(token(), 0..4),
            prop::collection::vec(token(), 1..3),
            prop::collection::vec(token(), 0..12),
        )
            .prop_map(|(t, a, i)| format!(
                "Thought: {}\nAction: {}\nAction Input: {}",
                t.concat(),
                a.concat(),
                i.concat()
            )),
        // Anything built from the pieces.
        prop::collection::vec(token(), 0..24).prop_map(|v| v.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// Action text never panics the parser; a parsed edit either applies to every family's
    /// script or is refused naming the key; a rejection says what was expected.
    #[test]
    fn hostile_action_text_is_parsed_or_rejected_naming_what_was_expected(text in action_text()) {
        let t = Instant::now();
        match Action::parse(&text) {
            Ok(a) => {
                prop_assert_eq!(Action::parse(&a.render()), Ok(a.clone()));
                if a.kind == ActionKind::EditScript {
                    for family in FAMILIES {
                        let mut s = Script::defaults(family);
                        let before = s.clone();
                        if let Err(e) = s.apply(&a.edits) {
                            let msg = e.to_string();
                            prop_assert!(
                                a.edits.iter().any(|(k, _)| msg.contains(&format!("`{k}`"))),
                                "{msg}"
                            );
                            prop_assert_eq!(&s, &before, "edits apply all or nothing");
                        }
                    }
                }
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(
                    ["expected", "missing", "unknown", "unexpected", "needs"]
                        .iter()
                        .any(|w| msg.contains(w)),
                    "{msg}"
                );
            }
        }
        // The same text as a whole script.
        for family in FAMILIES {
            if let Err(e) = Script::parse(family, &text) {
                let msg = e.to_string();
                prop_assert!(msg.contains("expected") || msg.contains("key"), "{msg}");
            }
        }
        prop_assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
    }
}

/// A real manifest, as text, in a one-run store; returns the store and the manifest's path.
fn one_run_store() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), LockWait::Fail).unwrap();
    let key = RunKey {
        stage: "sft".into(),
        config_digest: digest_of(&"c").unwrap(),
        parents: vec![],
        seed: 3,
        backend: "flex".into(),
        code: CodeVersion::NoRepository {
            crate_version: "t".into(),
        },
    };
    let run = store.begin(&key, false).unwrap();
    fs::write(run.dir().join("out.bin"), b"weights").unwrap();
    run.finish(&["out.bin"], &[]).unwrap();
    let mp = store.run_dir(&key).join("manifest.json");
    let text = fs::read_to_string(&mp).unwrap();
    (dir, mp, text)
}

/// One edit of a manifest's JSON: a field set to a hostile value, or raw bytes changed.
#[derive(Clone, Debug)]
enum Edit {
    Field(usize, serde_json::Value),
    Bytes(usize, Vec<u8>, usize),
}

fn hostile_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(null)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!(u64::MAX)),
        Just(json!("../../../etc/passwd")),
        Just(json!("/dev/zero")),
        Just(json!([{"path": "../x", "digest": "00", "bytes": 1, "role": "content"}])),
        Just(
            json!([{"path": "out.bin", "digest": "0".repeat(64), "bytes": u64::MAX, "role": "content"}])
        ),
        Just(json!({"nested": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]})),
        "\\PC{0,20}".prop_map(serde_json::Value::String),
        any::<i64>().prop_map(|v| json!(v)),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0usize..20, hostile_value()).prop_map(|(i, v)| Edit::Field(i, v)),
        (
            any::<usize>(),
            prop::collection::vec(any::<u8>(), 0..8),
            0usize..8
        )
            .prop_map(|(at, ins, del)| Edit::Bytes(at, ins, del)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// A manifest edited anywhere (hostile field values, inserted or deleted bytes) is read
    /// and verified without a panic or a hang; any change fails verification.
    #[test]
    fn hostile_manifests_fail_verification_without_panic(e in edit()) {
        let (dir, mp, text) = one_run_store();
        let bytes = match &e {
            Edit::Field(i, v) => {
                let mut m: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&text).unwrap();
                let key = m.keys().nth(i % m.len()).unwrap().clone();
                m.insert(key, v.clone());
                serde_json::to_vec_pretty(&m).unwrap()
            }
            Edit::Bytes(at, ins, del) => {
                let mut b = text.clone().into_bytes();
                let at = at % (b.len() + 1);
                let end = (at + del).min(b.len());
                b.splice(at..end, ins.iter().copied());
                b
            }
        };
        let changed = bytes != text.as_bytes();
        fs::write(&mp, &bytes).unwrap();
        let t = Instant::now();
        let report = mlagent::provenance::verify::verify_store(dir.path()).unwrap();
        prop_assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
        if changed {
            // Whitespace-only edits of the JSON leave every field as it was.
            let same = serde_json::from_slice::<serde_json::Value>(&bytes).ok()
                == serde_json::from_str::<serde_json::Value>(&text).ok();
            prop_assert!(same || !report.ok(), "{e:?} went unnoticed");
        }
        for m in &report.mismatches {
            prop_assert!(m.path.starts_with(dir.path()), "{m}");
        }
    }
}
