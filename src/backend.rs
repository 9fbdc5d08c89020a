//! Compute backends. Devices are always constructed explicitly: burn's `Device::default()`
//! would silently prefer any compiled GPU backend.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// A burn backend this binary may have been compiled with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend: the default, and the one whose results are bit-reproducible.
    #[default]
    Flex,
    /// wgpu (Vulkan/Metal/DX12/WebGPU; runs on a CPU through Mesa's lavapipe). Feature `wgpu`.
    Wgpu,
    /// CUDA. Feature `cuda`.
    Cuda,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("unknown backend {0:?}: expected one of flex, wgpu, cuda")]
    Unknown(String),
    #[error(
        "backend {0} is not compiled into this binary: rebuild with `--features {0}` (compiled: {1})"
    )]
    NotCompiled(BackendKind, String),
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [BackendKind::Flex, BackendKind::Wgpu, BackendKind::Cuda];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }

    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Flex => true,
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
    }

    pub fn compiled() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|b| b.is_compiled()).collect()
    }

    /// The inference device of this backend (no autodiff).
    pub fn device(self) -> Result<Device, BackendError> {
        match self {
            BackendKind::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::default())),
            #[cfg(feature = "cuda")]
            BackendKind::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            other => Err(BackendError::NotCompiled(
                other,
                Self::compiled()
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// The training device of this backend (autodiff enabled).
    pub(crate) fn train_device(self) -> Result<Device, BackendError> {
        Ok(self.device()?.autodiff())
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| BackendError::Unknown(s.to_string()))
    }
}
