//! Durable storage of opaque bytes under string keys. The redb backend is the only place in
//! the crate that imports `redb`.

use async_trait::async_trait;

pub use crate::logical::StorageOp;

/// Errors of the physical layer. Messages name the operation, never a value.
#[derive(Debug, thiserror::Error)]
pub enum PhysicalError {
    #[error("storage i/o error: {0}")]
    Io(String),
    #[error("storage is closed")]
    Closed,
}

/// A physical backend. Values are already encrypted by the barrier, except the few plaintext
/// records the seal needs before unseal (`core/seal-config`).
#[async_trait]
pub trait Backend: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PhysicalError>;

    /// The immediate children of `prefix`, as [`crate::logical::Storage::list`].
    async fn list(&self, prefix: &str) -> Result<Vec<String>, PhysicalError>;

    /// Applies every op in one transaction. `Ok` means fsync'd: the ops survive a crash.
    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), PhysicalError>;
}
