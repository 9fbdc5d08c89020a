//! Results do not depend on the machine (ARCHITECTURE.md, invariant 12): the same binary, run in a private mount
//! namespace whose `/sys/devices/system/cpu/cpu*/cache` describes other caches, and with other
//! thread counts, writes the same bytes as a plain run. burn's CPU matrix kernels used to size
//! their blocking from those files (vendor/README.md), which moved every trained number.
//!
//! Needs root and `unshare` (util-linux); elsewhere each test says why it skipped and passes.
//! CI runs as root.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A cache hierarchy as Linux describes it: (size in KiB, ways) per level.
struct Geometry {
    name: &'static str,
    l1d: (u64, u64),
    l2: (u64, u64),
    l3: (u64, u64),
}

/// Two common server geometries unlike each other and unlike the machine that blessed the
/// goldens (L1d 48K 12-way, L2 2M 16-way).
const GEOMETRIES: [Geometry; 2] = [
    Geometry {
        name: "32K/8, 1M/16, 33M/11",
        l1d: (32, 8),
        l2: (1024, 16),
        l3: (33792, 11),
    },
    Geometry {
        name: "64K/4, 512K/8, 16M/16",
        l1d: (64, 4),
        l2: (512, 8),
        l3: (16384, 16),
    },
];

/// Why these tests cannot move the machine here, or `None` when they can.
fn cannot_fake_caches() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("not Linux".into());
    }
    if !Path::new("/sys/devices/system/cpu/cpu0/cache/index0").is_dir() {
        return Some("this machine's sysfs lists no CPU caches".into());
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root (mount namespaces need CAP_SYS_ADMIN)".into());
    }
    match Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status()
    {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("`unshare --mount` failed ({s})")),
        Err(e) => Some(format!("`unshare` cannot run: {e}")),
    }
}

macro_rules! skip_unless_caches_can_be_faked {
    () => {
        if let Some(why) = cannot_fake_caches() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// Writes a sysfs-like `cache` folder describing `g` for a machine of two CPUs.
fn fake_cache_dir(root: &Path, g: &Geometry) -> PathBuf {
    let dir = root.join("cache");
    let levels = [
        (1, "Data", g.l1d, "0"),
        (1, "Instruction", (32, 8), "0"),
        (2, "Unified", g.l2, "0"),
        (3, "Unified", g.l3, "0-1"),
    ];
    for (i, (level, kind, (kib, ways), shared)) in levels.into_iter().enumerate() {
        let d = dir.join(format!("index{i}"));
        std::fs::create_dir_all(&d).unwrap();
        for (file, value) in [
            ("level", level.to_string()),
            ("type", kind.to_string()),
            ("size", format!("{kib}K")),
            ("ways_of_associativity", ways.to_string()),
            ("coherency_line_size", "64".to_string()),
            ("number_of_sets", (kib * 1024 / 64 / ways).to_string()),
            ("shared_cpu_list", shared.to_string()),
        ] {
            std::fs::write(d.join(file), format!("{value}\n")).unwrap();
        }
    }
    dir
}

/// Runs `mlagent args…` with `threads` rayon threads, in a namespace whose CPU caches are `g`
/// (or the machine's own); returns stdout. Asserts the namespace really shows `g`.
fn mlagent(g: Option<&Geometry>, threads: usize, args: &[&str]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let fake = g.map(|g| fake_cache_dir(scratch.path(), g));
    let script = r#"set -eu
fake="$1"; shift
if [ -n "$fake" ]; then
  for c in /sys/devices/system/cpu/cpu[0-9]*; do
    if [ -d "$c/cache" ]; then mount --bind "$fake" "$c/cache"; fi
  done
fi
echo "L1d seen: $(cat /sys/devices/system/cpu/cpu0/cache/index0/size)" >&2
exec "$@""#;
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(fake.as_deref().unwrap_or(Path::new("")))
        .arg(env!("CARGO_BIN_EXE_mlagent"))
        .args(args)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mlagent {args:?} failed:\n{stderr}");
    if let Some(g) = g {
        let seen = format!("L1d seen: {}K", g.l1d.0);
        assert!(
            stderr.contains(&seen),
            "the fake caches were not seen:\n{stderr}"
        );
    }
    String::from_utf8(out.stdout).unwrap()
}

/// The machine's own caches with 2 threads, the first fake geometry with 1 thread, the second
/// with 3, and the machine's own caches with 1 thread (the smoke test takes the first three).
fn configurations() -> Vec<(Option<&'static Geometry>, usize)> {
    vec![
        (None, 2),
        (Some(&GEOMETRIES[0]), 1),
        (Some(&GEOMETRIES[1]), 3),
        (None, 1),
    ]
}

fn describe(c: &(Option<&Geometry>, usize)) -> String {
    format!(
        "caches {}, {} thread(s)",
        c.0.map_or("of this machine", |g| g.name),
        c.1
    )
}

/// A chaotic script (a learning rate near divergence): a last-bit difference anywhere in
/// training moves its metrics visibly (62.64 vs 57.64 with the unpatched crate, vendor/README.md).
#[test]
fn a_chaotic_training_run_gives_the_same_metrics_under_any_caches_and_threads() {
    skip_unless_caches_can_be_faked!();
    let args = [
        "env",
        "evaluate",
        "--task",
        "cifar-10",
        "--set",
        "learning_rate = 2.43",
    ];
    let runs: Vec<(String, serde_json::Value)> = configurations()
        .iter()
        .map(|c| {
            let mut v: serde_json::Value =
                serde_json::from_str(mlagent(c.0, c.1, &args).trim()).unwrap();
            // The only field that may differ: how long it took.
            v.as_object_mut().unwrap().remove("wall_s");
            (describe(c), v)
        })
        .collect();
    for (name, v) in &runs[1..] {
        assert_eq!(v, &runs[0].1, "{name} vs {}", runs[0].0);
    }
}

/// sha256 of the SFT policy's weights in a store (one SFT run).
fn sft_weights_digest(store: &Path) -> String {
    let runs: Vec<PathBuf> = std::fs::read_dir(store.join("runs/sft"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let bytes = std::fs::read(runs[0].join("policy/model.safetensors")).unwrap();
    mlagent::provenance::Digest::of_bytes(&bytes).to_hex()
}

/// The whole smoke pipeline (SFT, both RL methods, evaluation, report) in a fresh store per
/// configuration: the same SFT weights and the same report digest.
#[test]
fn the_smoke_reproduction_is_the_same_bytes_under_any_caches_and_threads() {
    skip_unless_caches_can_be_faked!();
    let configs = &configurations()[..3];
    let runs: Vec<(String, String, String)> = configs
        .iter()
        .map(|c| {
            let store = tempfile::tempdir().unwrap();
            let s = store.path().to_str().unwrap();
            let out = mlagent(
                c.0,
                c.1,
                &["--store", s, "reproduce", "table1", "--profile", "smoke"],
            );
            let digest = out
                .lines()
                .last()
                .and_then(|l| l.strip_prefix("report digest: "))
                .unwrap_or_else(|| panic!("no digest line:\n{out}"))
                .to_string();
            (describe(c), sft_weights_digest(store.path()), digest)
        })
        .collect();
    for (name, sft, report) in &runs[1..] {
        assert_eq!(sft, &runs[0].1, "SFT weights: {name} vs {}", runs[0].0);
        assert_eq!(report, &runs[0].2, "report digest: {name} vs {}", runs[0].0);
    }
}
