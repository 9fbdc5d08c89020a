//! The task registry: every `tasks/*.ron`, parsed, checked and digested like a config.

use std::path::{Path, PathBuf};

use super::spec::TaskSpec;
use super::{DataDir, Dataset, TaskError};
use crate::provenance::{Digest, digest_of};

/// A task file with its digest (the canonical hash of its typed content).
#[derive(Clone, Debug)]
pub struct Task {
    pub spec: TaskSpec,
    pub digest: Digest,
    pub path: PathBuf,
}

/// All tasks, sorted by id, with the data folder they read.
#[derive(Clone, Debug)]
pub struct Registry {
    pub tasks: Vec<Task>,
    pub data: DataDir,
}

/// The `*.ron` files directly in `root`, sorted.
pub(crate) fn task_files(root: &Path) -> Result<Vec<PathBuf>, TaskError> {
    let entries = std::fs::read_dir(root).map_err(|source| TaskError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// A task file's name without `.ron`, which must be its id.
pub(crate) fn file_stem(path: &Path) -> &str {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
}

/// The `tasks/` folder of this source tree (task files are part of the code, like configs).
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks")
}

impl Registry {
    /// Loads the tasks of this source tree.
    pub fn load_default() -> Result<Self, TaskError> {
        Self::load(&default_root())
    }

    /// Loads every `*.ron` in `root`; data is read from `root/data`.
    pub fn load(root: &Path) -> Result<Self, TaskError> {
        let mut tasks = Vec::new();
        for path in task_files(root)? {
            let spec: TaskSpec = crate::config_file::load_ron(&path)?;
            let stem = file_stem(&path);
            if stem != spec.id {
                return Err(TaskError::Spec {
                    task: spec.id.clone(),
                    field: "id".into(),
                    message: format!("must equal the file name `{stem}`"),
                });
            }
            for (i, f) in spec.files.iter().enumerate() {
                super::data::check_relative(&f.path).map_err(|message| TaskError::Spec {
                    task: spec.id.clone(),
                    field: format!("files[{i}].path"),
                    message,
                })?;
            }
            let digest = digest_of(&spec).map_err(|e| TaskError::Spec {
                task: spec.id.clone(),
                field: "(whole file)".into(),
                message: e.to_string(),
            })?;
            tasks.push(Task { spec, digest, path });
        }
        tasks.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        Ok(Self {
            tasks,
            data: DataDir::new(root.join("data")),
        })
    }

    pub fn get(&self, id: &str) -> Result<&Task, TaskError> {
        self.tasks
            .iter()
            .find(|t| t.spec.id == id)
            .ok_or_else(|| TaskError::Unknown(id.to_string()))
    }

    /// Loads a task's data (checksums verified) and splits it.
    pub fn dataset(&self, task: &Task) -> Result<Dataset, TaskError> {
        let (inputs, targets) = super::sources::build(&task.spec, &self.data)?;
        Dataset::split(&task.spec, inputs, targets)
    }
}
