//! The task registry: the 19 fixed ids, checksums, tampered data files, strict task files.

use std::path::Path;

use mlagent::tasks::{Registry, TaskError};

const HELD_IN: [&str; 9] = [
    "cifar-10",
    "aerial-cactus",
    "dogs-vs-cats",
    "plant-pathology",
    "house-price",
    "spaceship-titanic",
    "nomad2018",
    "feedback",
    "ogbn-arxiv",
];
const HELD_OUT: [&str; 10] = [
    "denoising",
    "leaf",
    "statoil",
    "whale",
    "essay-scoring",
    "detecting-insults",
    "spooky-author",
    "jigsaw-toxic",
    "us-patent",
    "tabular-dec-2021",
];

#[test]
fn the_nineteen_tasks_with_their_paper_ids_and_splits() {
    let reg = Registry::load_default().unwrap();
    assert_eq!(reg.tasks.len(), 19);
    for id in HELD_IN {
        assert_eq!(reg.get(id).unwrap().spec.split.name(), "held-in", "{id}");
    }
    for id in HELD_OUT {
        assert_eq!(reg.get(id).unwrap().spec.split.name(), "held-out", "{id}");
    }
    // paper ids as in ../shared/paper/table1.csv (copied here: the project never reads /work/shared).
    assert_eq!(
        reg.get("house-price").unwrap().spec.paper_task,
        "home-data-for-ml-course"
    );
    assert_eq!(
        reg.get("tabular-dec-2021").unwrap().spec.paper_task,
        "tabular-playground-series-dec-2021"
    );
    assert_eq!(
        reg.get("feedback").unwrap().spec.paper_task,
        "feedback-prize-english-language-learning"
    );
}

#[test]
fn bundled_data_matches_the_checksum_list_and_every_task_lists_the_same_sums() {
    let reg = Registry::load_default().unwrap();
    let checked = reg.data.verify_all().unwrap();
    assert_eq!(checked.len(), 13);
    for t in &reg.tasks {
        for f in &t.spec.files {
            assert_eq!(
                reg.data.listed_checksum(&f.path).unwrap().as_deref(),
                Some(f.sha256.as_str())
            );
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
            let mut perm = std::fs::metadata(to.join(e.file_name()))
                .unwrap()
                .permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(to.join(e.file_name()), perm).unwrap();
        }
    }
}

#[test]
fn a_tampered_data_file_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&mlagent::tasks::registry::default_root(), tmp.path());
    let victim = tmp.path().join("data/diabetes.csv");
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'1' { b'2' } else { b'1' };
    std::fs::write(&victim, bytes).unwrap();
    let reg = Registry::load(tmp.path()).unwrap();
    let err = reg.dataset(reg.get("house-price").unwrap()).unwrap_err();
    assert!(matches!(err, TaskError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("diabetes.csv"), "{err}");
    let err = reg.data.verify_all().unwrap_err();
    assert!(err.to_string().contains("diabetes.csv"), "{err}");
    // Untouched tasks still load.
    reg.dataset(reg.get("spaceship-titanic").unwrap()).unwrap();
}

#[test]
fn task_files_reject_unknown_fields_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = mlagent::tasks::registry::default_root();
    let text = std::fs::read_to_string(root.join("leaf.ron")).unwrap();
    let bad = text.replace("reward_scale:", "reward_scael:");
    std::fs::write(tmp.path().join("leaf.ron"), bad).unwrap();
    let err = Registry::load(tmp.path()).unwrap_err().to_string();
    assert!(
        err.contains("leaf.ron") && err.contains("reward_scael"),
        "{err}"
    );
}

#[test]
fn splits_are_disjoint_cover_the_data_and_are_fixed_by_seed() {
    let reg = Registry::load_default().unwrap();
    for id in ["house-price", "spooky-author", "whale", "us-patent"] {
        let t = reg.get(id).unwrap();
        let a = reg.dataset(t).unwrap();
        let b = reg.dataset(t).unwrap();
        assert_eq!(a.train, b.train);
        assert_eq!(a.valid, b.valid);
        let n = a.targets.len();
        assert_eq!(a.train.len() + a.valid.len() + a.test.len(), n, "{id}");
        let mut seen = vec![false; n];
        for &i in a.train.iter().chain(&a.valid) {
            assert!(!seen[i]);
            seen[i] = true;
        }
    }
}

#[test]
fn a_task_file_naming_a_path_out_of_the_data_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = mlagent::tasks::registry::default_root();
    let text = std::fs::read_to_string(root.join("house-price.ron")).unwrap();
    let bad = text.replace("path: \"diabetes.csv\"", "path: \"../../outside.csv\"");
    assert_ne!(bad, text);
    std::fs::write(tmp.path().join("house-price.ron"), bad).unwrap();
    let err = Registry::load(tmp.path()).unwrap_err().to_string();
    assert!(
        err.contains("files[0].path") && err.contains("outside.csv") && err.contains(".."),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn reads_are_confined_to_regular_files_inside_the_data_folder() {
    use mlagent::provenance::Digest;
    use mlagent::tasks::DataDir;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(tmp.path().join("outside.csv"), "a\n1\n").unwrap();
    let outside = Digest::of_bytes(b"a\n1\n").to_string();
    std::fs::write(data.join("inside.csv"), "a\n1\n").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside.csv"), data.join("link.csv")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", data.join("zero")).unwrap();
    std::fs::create_dir(data.join("folder")).unwrap();
    let dir = DataDir::new(&data);
    // The same bytes inside the folder are read.
    assert_eq!(
        dir.read_verified("inside.csv", &outside).unwrap(),
        b"a\n1\n"
    );
    for (rel, expect) in [
        ("../outside.csv", "without `..`"),
        ("/dev/zero", "without `..`"),
        ("link.csv", "outside the data folder"),
        ("zero", "outside the data folder"),
        ("folder", "not a regular file"),
    ] {
        let err = dir.read_verified(rel, &outside).unwrap_err().to_string();
        assert!(err.contains(expect), "{rel}: {err}");
    }
}
