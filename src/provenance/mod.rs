//! Reproducibility core: digests, canonical hashing, atomic writes, manifests and the store.

pub mod atomic;
pub mod bench;
pub mod canonical;
pub mod checkpoints;
mod code_version;
mod digest;
pub mod files;
pub mod manifest;
pub mod store;
pub mod verify;

pub use canonical::{CanonicalError, digest_of};
pub use code_version::CodeVersion;
pub use digest::{Digest, Hasher, ParseDigestError};
pub use manifest::{Manifest, Mismatch, OutputFile, OutputRole, Parent, RunKey};
pub use store::{LockWait, RunBuilder, Store, StoreError};
