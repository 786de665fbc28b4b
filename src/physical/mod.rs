//! Durable storage of opaque bytes under string keys. The redb backend is the only place in
//! the crate that imports `redb`.

use async_trait::async_trait;

pub use crate::logical::StorageOp;

mod inmem;
mod redb;

pub use self::inmem::InmemBackend;
pub use self::redb::{GroupCommitStats, RedbBackend};

/// Errors of the physical layer. Messages name the operation, never a value.
///
/// `Clone`, because one failed group commit answers every request of its batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PhysicalError {
    #[error("storage i/o error: {0}")]
    Io(String),
    /// The disk or the quota is full. Nothing of the failed commit was acknowledged.
    #[error("storage is full: {0}")]
    Full(String),
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

    /// Every entry, in key order, read in one transaction: a consistent copy however many
    /// writes run meanwhile. Both real backends have it; the default is for the test
    /// wrappers that only exercise reads and commits.
    async fn snapshot(&self) -> Result<Vec<(String, Vec<u8>)>, PhysicalError> {
        Err(PhysicalError::Io(
            "this storage cannot take snapshots".into(),
        ))
    }

    /// Replaces every entry by `entries`, in one durable transaction: on any error nothing of
    /// it is applied and the old entries stay.
    async fn restore(&self, _entries: Vec<(String, Vec<u8>)>) -> Result<(), PhysicalError> {
        Err(PhysicalError::Io(
            "this storage cannot restore snapshots".into(),
        ))
    }

    /// Finishes every commit already handed over, then releases the storage; later calls answer
    /// [`PhysicalError::Closed`]. May block for one fsync, so call it at shutdown, not on a hot
    /// async path. Idempotent.
    fn close(&self) {}
}

/// Lists the immediate children of `prefix` (as [`crate::logical::Storage::list`]) over a
/// sorted key space, skipping every subtree in one seek instead of walking its keys.
///
/// `seek(from)` yields the keys `>= from` in ascending byte order. The output is sorted,
/// because each child is a prefix of the first key that produced it.
pub(crate) fn scan_children<S, E, I>(
    prefix: &str,
    mut seek: impl FnMut(&str) -> Result<I, E>,
) -> Result<Vec<String>, E>
where
    S: AsRef<str>,
    I: Iterator<Item = Result<S, E>>,
{
    let mut out = Vec::new();
    let mut from = prefix.to_string();
    'seek: loop {
        for key in seek(&from)? {
            let key = key?;
            let Some(rest) = key.as_ref().strip_prefix(prefix) else {
                break 'seek;
            };
            match rest.find('/') {
                Some(slash) => {
                    out.push(rest[..=slash].to_string());
                    // Every key of this subtree starts with `prefix + name + '/'`, and '0' is
                    // the byte right after '/', so the next sibling is the first key at or
                    // after `prefix + name + '0'`.
                    from = format!("{prefix}{}0", &rest[..slash]);
                    continue 'seek;
                }
                None if rest.is_empty() => {}
                None => out.push(rest.to_string()),
            }
        }
        break;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
