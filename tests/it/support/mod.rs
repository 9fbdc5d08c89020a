//! Helpers shared by the integration tests.

pub mod lm;
pub mod report;
pub mod rl;
pub mod stage;

/// The name libtest knows a test by, for re-running it in a child process with `--exact`:
/// `module` is the caller's `module_path!()` (`it::<file>`), `test` the function's name.
pub fn test_name(module: &str, test: &str) -> String {
    let file = module
        .strip_prefix("it::")
        .expect("integration tests are modules of the `it` crate");
    format!("{file}::{test}")
}

/// Live (not zombie) processes of this test process's sandbox uids, after giving the dying a
/// moment to go (SIGKILLed processes linger until their new parent reaps them).
pub fn sandbox_processes() -> Vec<(u32, u32)> {
    let ours = mlagent::sandbox::uids_of_this_process();
    let scan = || {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
                continue;
            };
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.split_whitespace().next().map(str::to_string))
            };
            let zombie = field("State:").is_some_and(|s| s == "Z" || s == "X");
            let uid = field("Uid:").and_then(|v| v.parse::<u32>().ok());
            if let Some(uid) = uid.filter(|u| ours.contains(u) && !zombie) {
                found.push((pid, uid));
            }
        }
        found
    };
    for _ in 0..100 {
        if scan().is_empty() {
            return Vec::new();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    scan()
}
