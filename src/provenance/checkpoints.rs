//! The one checkpoint discipline of every resumable stage: each checkpoint is written into a
//! fresh folder of the run's `resume/` folder, then `latest.json` is pointed at it atomically,
//! then older folders go. At every instant the pointer names a complete checkpoint, so a kill
//! (or a full disk) mid-save leaves the previous one usable. A resume state that does not hold
//! together (unreadable pointer, missing folder, a file whose digest differs) is discarded,
//! naming what and why, and the stage restarts from its start: every stage is a pure function
//! of its inputs, so a restart ends with the same outputs.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{atomic, files};

/// The pointer file in a resume folder.
pub(crate) const POINTER_FILE: &str = "latest.json";

/// Largest pointer file read (it holds the loop's progress records, a few MB at most).
const POINTER_LIMIT: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub(crate) struct CheckpointError {
    pub path: PathBuf,
    pub message: String,
}

impl From<atomic::WriteError> for CheckpointError {
    fn from(e: atomic::WriteError) -> Self {
        Self {
            path: PathBuf::new(),
            message: e.to_string(),
        }
    }
}

#[derive(Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Pointer<T> {
    /// Sequence number of the checkpoint, so a new folder never reuses the pointed one's name.
    sequence: u64,
    /// The checkpoint's folder, relative to the resume folder.
    checkpoint: String,
    /// What the stage needs besides the folder's files (its progress, the files' digests).
    state: T,
}

/// A resume folder.
#[derive(Clone, Debug)]
pub(crate) struct Checkpoints {
    dir: PathBuf,
}

fn err(path: &Path, message: impl std::fmt::Display) -> CheckpointError {
    CheckpointError {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl Checkpoints {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn pointer_path(&self) -> PathBuf {
        self.dir.join(POINTER_FILE)
    }

    fn read_pointer<T: DeserializeOwned>(&self) -> Result<Option<Pointer<T>>, CheckpointError> {
        let path = self.pointer_path();
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let bytes = files::read_bounded(&path, POINTER_LIMIT).map_err(|e| err(&path, e))?;
        let p: Pointer<T> = serde_json::from_slice(&bytes)
            .map_err(|e| err(&path, format!("expected a checkpoint pointer: {e}")))?;
        let folder = self.dir.join(&p.checkpoint);
        let plain = Path::new(&p.checkpoint)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        let real = std::fs::symlink_metadata(&folder).is_ok_and(|m| m.file_type().is_dir());
        if !plain || !real {
            return Err(err(
                &path,
                format!(
                    "names checkpoint {:?}, which is not a folder here",
                    p.checkpoint
                ),
            ));
        }
        Ok(Some(p))
    }

    /// The pointed checkpoint's state, without loading its files (for progress displays).
    pub(crate) fn latest_state<T: DeserializeOwned>(&self) -> Result<Option<T>, CheckpointError> {
        Ok(self.read_pointer::<T>()?.map(|p| p.state))
    }

    /// Writes a checkpoint labelled `label` (e.g. `step-00000120`): `fill` writes its files into
    /// a fresh folder and returns the state to record, then the pointer names the folder with
    /// that state, then every other entry of the resume folder is removed.
    pub fn save<T, E>(&self, label: &str, fill: impl FnOnce(&Path) -> Result<T, E>) -> Result<(), E>
    where
        T: Serialize + DeserializeOwned,
        E: From<CheckpointError>,
    {
        std::fs::create_dir_all(&self.dir).map_err(|e| err(&self.dir, e))?;
        let sequence = match self.read_pointer::<serde_json::Value>() {
            Ok(Some(p)) => p.sequence + 1,
            _ => 0,
        };
        let name = format!("{sequence:06}-{label}");
        let folder = self.dir.join(&name);
        if std::fs::symlink_metadata(&folder).is_ok() {
            remove_entry(&folder)?;
        }
        std::fs::create_dir(&folder).map_err(|e| err(&folder, e))?;
        let state = fill(&folder)?;
        let pointer = Pointer {
            sequence,
            checkpoint: name.clone(),
            state,
        };
        let mut text = serde_json::to_vec_pretty(&pointer).expect("a checkpoint state serialises");
        text.push(b'\n');
        atomic::write(&self.pointer_path(), &text).map_err(CheckpointError::from)?;
        for entry in std::fs::read_dir(&self.dir).map_err(|e| err(&self.dir, e))? {
            let entry = entry.map_err(|e| err(&self.dir, e))?;
            let n = entry.file_name();
            if n != POINTER_FILE && n.to_string_lossy() != name {
                remove_entry(&entry.path())?;
            }
        }
        Ok(())
    }

    /// The pointed checkpoint, restored by `load(folder, state)`. `None` when there is none, or
    /// when the resume state does not hold together or `load` refuses it: then the whole
    /// resume state is discarded, saying what and why, and the stage starts afresh.
    pub fn resume<T, R, E>(
        &self,
        load: impl FnOnce(&Path, T) -> Result<R, E>,
    ) -> Result<Option<R>, CheckpointError>
    where
        T: DeserializeOwned,
        E: std::fmt::Display,
    {
        let why = match self.read_pointer::<T>() {
            Ok(None) => return Ok(None),
            Ok(Some(p)) => match load(&self.dir.join(&p.checkpoint), p.state) {
                Ok(r) => return Ok(Some(r)),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        self.discard(&why)?;
        Ok(None)
    }

    /// Removes the whole resume state, naming it and the reason on stderr and in the log.
    pub(crate) fn discard(&self, why: &str) -> Result<(), CheckpointError> {
        tracing::warn!(resume = %self.dir.display(), %why, "discarding an inconsistent resume state");
        eprintln!(
            "discarding the resume state in {} ({why}); the stage restarts from its start",
            self.dir.display()
        );
        if std::fs::symlink_metadata(&self.dir).is_ok() {
            remove_entry(&self.dir)?;
        }
        Ok(())
    }

    /// Every file of the resume folder as a `/`-separated path relative to `run_dir` (the
    /// auxiliary outputs of the run's manifest).
    pub fn files(&self, run_dir: &Path) -> Result<Vec<String>, CheckpointError> {
        if std::fs::symlink_metadata(&self.dir).is_err() {
            return Ok(Vec::new());
        }
        let mut out: Vec<String> = files::list_files(&self.dir)
            .map_err(|e| err(&e.path, e.source))?
            .into_iter()
            .map(|rel| files::relative(run_dir, &self.dir.join(rel)))
            .collect();
        out.sort();
        Ok(out)
    }
}

/// Removes a file, link or folder without following links.
fn remove_entry(path: &Path) -> Result<(), CheckpointError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| err(path, e))?;
    if meta.file_type().is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
    .map_err(|e| err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(c: &Checkpoints, label: &str, state: u32, body: &[u8]) {
        c.save::<_, CheckpointError>(label, |dir| {
            std::fs::write(dir.join("w.bin"), body).map_err(|e| err(dir, e))?;
            Ok(state)
        })
        .unwrap();
    }

    fn load(c: &Checkpoints) -> Option<(u32, Vec<u8>)> {
        c.resume(|dir, state: u32| std::fs::read(dir.join("w.bin")).map(|b| (state, b)))
            .unwrap()
    }

    #[test]
    fn the_pointer_names_the_last_complete_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let c = Checkpoints::new(d.path().join("resume"));
        assert_eq!(load(&c), None);
        save(&c, "step-1", 1, b"one");
        save(&c, "step-2", 2, b"two");
        assert_eq!(load(&c), Some((2, b"two".to_vec())));
        // Only the pointer and the newest folder remain, and they are the run's files.
        let run = d.path();
        let files = c.files(run).unwrap();
        assert_eq!(
            files,
            vec!["resume/000001-step-2/w.bin", "resume/latest.json"]
        );
        // A save killed before its pointer leaves the previous checkpoint in force.
        let killed = c.save::<u32, CheckpointError>("step-3", |dir| {
            std::fs::write(dir.join("w.bin"), b"thr").unwrap();
            Err(err(dir, "killed"))
        });
        assert!(killed.is_err());
        assert_eq!(load(&c), Some((2, b"two".to_vec())));
        save(&c, "step-3", 3, b"three");
        assert_eq!(load(&c), Some((3, b"three".to_vec())));
    }

    #[test]
    fn an_inconsistent_state_is_discarded_and_named() {
        let d = tempfile::tempdir().unwrap();
        let c = Checkpoints::new(d.path().join("resume"));
        save(&c, "step-1", 1, b"one");
        std::fs::write(c.dir.join(POINTER_FILE), "{garbage").unwrap();
        assert_eq!(load(&c), None);
        assert!(!c.dir.exists(), "the whole resume state is gone");
        save(&c, "step-1", 1, b"one");
        let refused: Option<()> = c
            .resume(|_, _: u32| Err::<(), _>("digest differs"))
            .unwrap();
        assert_eq!(refused, None);
        assert!(!c.dir.exists());
    }
}
