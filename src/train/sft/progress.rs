//! Where training stands, saved beside each checkpoint (`provenance::checkpoints`) so a
//! stopped run resumes exactly.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{MetricRow, SftError};
use crate::lm::train::Trainer;
use crate::lm::{Qwen2Config, checkpoint};
use crate::provenance::checkpoints::{CheckpointError, Checkpoints};

/// Where training stands: the state the resume pointer records beside its checkpoint
/// (`provenance::checkpoints`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// The epoch to continue in and the steps of it already taken.
    pub epoch: usize,
    pub step_in_epoch: usize,
    pub metrics: Vec<MetricRow>,
}

impl Progress {
    pub fn done(&self, epochs: usize) -> bool {
        self.epoch >= epochs
    }
}

impl From<CheckpointError> for SftError {
    fn from(e: CheckpointError) -> Self {
        SftError::File {
            path: e.path.display().to_string(),
            message: e.message,
        }
    }
}

/// The progress of the checkpoint in `resume_dir`, if any (without loading it).
pub fn read_progress(resume_dir: &Path) -> Result<Option<Progress>, SftError> {
    Ok(Checkpoints::new(resume_dir).latest_state()?)
}

/// Saves the trainer as the resume folder's new checkpoint (`provenance::checkpoints`: a fresh
/// folder, then the pointer, then older folders go).
pub(super) fn save_progress(
    resume_dir: &Path,
    model_cfg: &Qwen2Config,
    trainer: &Trainer,
    epoch: usize,
    step_in_epoch: usize,
    metrics: &[MetricRow],
) -> Result<(), SftError> {
    Checkpoints::new(resume_dir).save(&format!("step-{:08}", trainer.step), |dir| {
        checkpoint::save(dir, model_cfg, trainer)?;
        Ok::<_, SftError>(Progress {
            epoch,
            step_in_epoch,
            metrics: metrics.to_vec(),
        })
    })
}
