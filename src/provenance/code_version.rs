//! Which code produced a result: git commit, dirty flag and a digest of the uncommitted diff.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Hasher;

/// The version of the source tree, read with git2 at run time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CodeVersion {
    /// A git checkout. `diff` is the sha256 of the patch of every uncommitted change, untracked
    /// files included (absent when the tree is clean).
    Git {
        commit: String,
        dirty: bool,
        diff: Option<String>,
    },
    /// Not a git checkout (a source tarball, say): a valid state, identified by the crate version.
    NoRepository { crate_version: String },
}

impl CodeVersion {
    /// The version of the tree this crate was built from.
    pub fn of_this_build() -> Self {
        Self::of_tree(Path::new(env!("CARGO_MANIFEST_DIR")))
    }

    /// The version of the git tree containing `dir`, or `NoRepository`.
    pub(crate) fn of_tree(dir: &Path) -> Self {
        match read_git(dir) {
            Some(v) => v,
            None => CodeVersion::NoRepository {
                crate_version: env!("CARGO_PKG_VERSION").to_string(),
            },
        }
    }

    /// The full commit of a clean checkout; `None` for a dirty tree or no repository (what a
    /// golden may be blessed from: it must name exactly the code that made it).
    pub fn exact_commit(&self) -> Option<&str> {
        match self {
            CodeVersion::Git {
                commit,
                dirty: false,
                ..
            } => Some(commit),
            _ => None,
        }
    }

    /// A one-line description for logs and reports.
    pub fn describe(&self) -> String {
        match self {
            CodeVersion::Git {
                commit,
                dirty: false,
                ..
            } => commit.chars().take(12).collect(),
            CodeVersion::Git {
                commit,
                dirty: true,
                diff,
            } => format!(
                "{}+dirty({})",
                commit.chars().take(12).collect::<String>(),
                diff.as_deref()
                    .unwrap_or("?")
                    .chars()
                    .take(12)
                    .collect::<String>()
            ),
            CodeVersion::NoRepository { crate_version } => {
                format!("no repository (mlagent {crate_version})")
            }
        }
    }
}

fn read_git(dir: &Path) -> Option<CodeVersion> {
    let repo = git2::Repository::discover(dir).ok()?;
    let head = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let commit = head
        .as_ref()
        .map(|c| c.id().to_string())
        .unwrap_or_else(|| "0".repeat(40));
    let tree = head.as_ref().and_then(|c| c.tree().ok());
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(tree.as_ref(), Some(&mut opts))
        .ok()?;
    let mut hasher = Hasher::new();
    let mut any = false;
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        any = true;
        hasher.update(&[line.origin() as u8]);
        hasher.update(line.content());
        true
    })
    .ok()?;
    Some(CodeVersion::Git {
        commit,
        dirty: any,
        diff: any.then(|| hasher.finish().to_hex()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_repository_is_a_valid_state() {
        let d = tempfile::tempdir().unwrap();
        let v = CodeVersion::of_tree(d.path());
        // A temp dir is normally outside any checkout.
        if let CodeVersion::NoRepository { crate_version } = &v {
            assert_eq!(crate_version, env!("CARGO_PKG_VERSION"));
        }
        assert!(!v.describe().is_empty());
    }
}
