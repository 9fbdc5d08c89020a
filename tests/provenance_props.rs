//! Property tests of canonical hashing and verification.

use std::collections::{BTreeMap, HashMap};
use std::fs;

use mlagent::provenance::canonical::to_canonical_bytes;
use mlagent::provenance::{CodeVersion, LockWait, RunKey, Store, digest_of};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cfg {
    name: String,
    lr: f64,
    steps: u32,
    tags: Vec<String>,
    table: BTreeMap<String, i64>,
    opt: Option<f32>,
}

fn cfg() -> impl Strategy<Value = Cfg> {
    (
        ".{0,12}",
        -1e6f64..1e6,
        any::<u32>(),
        prop::collection::vec("[a-z]{0,6}", 0..4),
        prop::collection::btree_map("[a-z]{1,5}", any::<i64>(), 0..6),
        prop::option::of(-1e3f32..1e3),
    )
        .prop_map(|(name, lr, steps, tags, table, opt)| Cfg {
            name,
            lr,
            steps,
            tags,
            table,
            opt,
        })
}

proptest! {
    #[test]
    fn digest_is_independent_of_map_insertion_order(
        entries in prop::collection::vec(("[a-z0-9]{1,8}", any::<i64>()), 0..20),
        seed in any::<u64>(),
    ) {
        let mut a = HashMap::new();
        for (k, v) in &entries { a.insert(k.clone(), *v); }
        // Same final map built in a shuffled order.
        let mut shuffled = entries.clone();
        let n = shuffled.len();
        if n > 1 {
            for i in 0..n { shuffled.swap(i, (seed as usize).wrapping_add(i * 7) % n); }
        }
        let mut b = HashMap::new();
        for (k, _) in &shuffled { b.insert(k.clone(), a[k]); }
        prop_assert_eq!(digest_of(&a).unwrap(), digest_of(&b).unwrap());
    }

    #[test]
    fn canonical_encoding_round_trips(c in cfg()) {
        let bytes = to_canonical_bytes(&c).unwrap();
        let back: Cfg = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(to_canonical_bytes(&back).unwrap(), bytes);
    }

    #[test]
    fn any_single_byte_change_is_reported_with_its_path(
        content in prop::collection::vec(any::<u8>(), 1..300),
        pos in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), LockWait::Fail).unwrap();
        let key = RunKey {
            stage: "s".into(),
            config_digest: digest_of(&1u8).unwrap(),
            parents: vec![],
            seed: 1,
            backend: "flex".into(),
            code: CodeVersion::NoRepository { crate_version: "t".into() },
        };
        let run = store.begin(&key, false).unwrap();
        fs::write(run.dir().join("out.bin"), &content).unwrap();
        run.finish(&["out.bin"], &[]).unwrap();
        let file = store.run_dir(&key).join("out.bin");
        let mut bytes = content.clone();
        let i = pos.index(bytes.len());
        bytes[i] ^= flip;
        fs::write(&file, &bytes).unwrap();
        let report = mlagent::provenance::verify::verify_store(dir.path()).unwrap();
        prop_assert_eq!(report.mismatches.len(), 1);
        prop_assert_eq!(&report.mismatches[0].path, &file);
    }
}
