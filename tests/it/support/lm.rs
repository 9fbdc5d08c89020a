//! Helpers shared by the lm integration tests.

/// Runs the ignored helper test `name` of the current test binary in a child process with `MLAGENT_LM_CHILD=1` and
/// `RAYON_NUM_THREADS=threads`, and returns the `DIGEST=...` line the child prints. Thread-count
/// and per-process-randomness checks compare these lines across children.
pub fn child_digest_line(name: &str, threads: &str) -> String {
    let exe = std::env::current_exe().expect("a test knows its own executable");
    let out = std::process::Command::new(&exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("MLAGENT_LM_CHILD", "1")
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .expect("the test binary can be re-run as a child");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at = text
        .find("DIGEST=")
        .unwrap_or_else(|| panic!("no digest in {text}"));
    text[at..]
        .lines()
        .next()
        .expect("the digest line")
        .to_string()
}
