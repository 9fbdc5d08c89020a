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

/// One way of damaging a store.
#[derive(Clone, Copy, Debug)]
enum Mutation {
    Flip,
    Truncate,
    Delete,
    Add,
    DeleteManifest,
    SwapFolders,
    Symlink,
    Fifo,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Flip),
        Just(Mutation::Truncate),
        Just(Mutation::Delete),
        Just(Mutation::Add),
        Just(Mutation::DeleteManifest),
        Just(Mutation::SwapFolders),
        Just(Mutation::Symlink),
        Just(Mutation::Fifo),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every single mutation of a store (flip, truncate, delete, add, swap two run folders,
    /// replace a file with a link or a FIFO, delete a manifest) makes `verify` fail, naming a
    /// path inside the damaged run.
    #[test]
    fn verify_fails_for_every_single_mutation(
        contents in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 2..5),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        m in mutation(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), LockWait::Fail).unwrap();
        let key = |seed: u64| RunKey {
            stage: "s".into(),
            config_digest: digest_of(&1u8).unwrap(),
            parents: vec![],
            seed,
            backend: "flex".into(),
            code: CodeVersion::NoRepository { crate_version: "t".into() },
        };
        let names: Vec<String> = (0..contents.len())
            .map(|i| if i % 2 == 0 { format!("out{i}.bin") } else { format!("sub/out{i}.bin") })
            .collect();
        for seed in [1, 2] {
            let run = store.begin(&key(seed), false).unwrap();
            fs::create_dir_all(run.dir().join("sub")).unwrap();
            for (name, bytes) in names.iter().zip(&contents) {
                let mut b = bytes.clone();
                b.push(seed as u8);
                fs::write(run.dir().join(name), b).unwrap();
            }
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            run.finish(&refs, &[]).unwrap();
        }
        let clean = mlagent::provenance::verify::verify_store(dir.path()).unwrap();
        prop_assert!(clean.ok(), "{:?}", clean.mismatches);
        let (a, b) = (store.run_dir(&key(1)), store.run_dir(&key(2)));
        let file = a.join(&names[which.index(names.len())]);
        match m {
            Mutation::Flip => {
                let mut bytes = fs::read(&file).unwrap();
                let i = at.index(bytes.len());
                bytes[i] ^= 0x5a;
                fs::write(&file, bytes).unwrap();
            }
            Mutation::Truncate => {
                let bytes = fs::read(&file).unwrap();
                fs::write(&file, &bytes[..at.index(bytes.len())]).unwrap();
            }
            Mutation::Delete => fs::remove_file(&file).unwrap(),
            Mutation::Add => fs::write(a.join("sub/extra.bin"), b"x").unwrap(),
            Mutation::DeleteManifest => fs::remove_file(a.join("manifest.json")).unwrap(),
            Mutation::SwapFolders => {
                let tmp = dir.path().join("swap");
                fs::rename(&a, &tmp).unwrap();
                fs::rename(&b, &a).unwrap();
                fs::rename(&tmp, &b).unwrap();
            }
            Mutation::Symlink => {
                let copy = dir.path().join("outside.bin");
                fs::copy(&file, &copy).unwrap();
                fs::remove_file(&file).unwrap();
                std::os::unix::fs::symlink(&copy, &file).unwrap();
            }
            Mutation::Fifo => {
                fs::remove_file(&file).unwrap();
                let made = std::process::Command::new("mkfifo").arg(&file).status().unwrap();
                prop_assert!(made.success());
            }
        }
        let report = mlagent::provenance::verify::verify_store(dir.path()).unwrap();
        prop_assert!(!report.ok(), "{m:?} went unnoticed");
        prop_assert!(
            report.mismatches.iter().any(|x| x.path.starts_with(&a)),
            "{m:?}: {:?}", report.mismatches
        );
    }
}
