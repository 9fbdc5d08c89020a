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
