use async_trait::async_trait;

use super::Error;
use crate::physical::{Backend as _, InmemBackend, PhysicalError};

/// One change inside an atomic [`Storage::commit`].
#[derive(Clone, PartialEq, Eq)]
pub enum StorageOp {
    Put(String, Vec<u8>),
    Delete(String),
}

impl std::fmt::Debug for StorageOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageOp::Put(k, v) => write!(f, "Put({k:?}, <{} bytes>)", v.len()),
            StorageOp::Delete(k) => write!(f, "Delete({k:?})"),
        }
    }
}

/// The storage a backend sees: plaintext values under keys relative to the backend's own
/// prefix. The core hands each mount a view of the encrypted barrier; unit tests use
/// [`InmemStorage`].
#[async_trait]
pub trait Storage: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;

    /// The immediate children of `prefix`, sorted: `a` for a key `prefix/a`, and `b/` once
    /// for any keys below `prefix/b/`, as Vault's `List`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, Error>;

    /// Applies every op atomically and durably: when this returns `Ok`, all of them survive a
    /// crash; on `Err`, none of them happened.
    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), Error>;

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), Error> {
        self.commit(vec![StorageOp::Put(key.to_string(), value)])
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.commit(vec![StorageOp::Delete(key.to_string())]).await
    }
}

/// A plaintext in-memory storage for unit tests of backends: the physical in-memory backend,
/// seen without a barrier, so both share one map, one listing and one commit.
#[derive(Default)]
pub struct InmemStorage {
    entries: InmemBackend,
}

impl InmemStorage {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The in-memory backend never fails; this only keeps the signatures honest.
fn inmem_error(e: PhysicalError) -> Error {
    Error::internal(format!("in-memory storage: {e}"))
}

#[async_trait]
impl Storage for InmemStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.entries.get(key).await.map_err(inmem_error)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        self.entries.list(prefix).await.map_err(inmem_error)
    }

    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), Error> {
        self.entries.commit(ops).await.map_err(inmem_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn list_returns_immediate_children_once() {
        let s = InmemStorage::new();
        for k in ["a/b", "a/c/d", "a/c/e", "a/d", "b"] {
            s.put(k, vec![1]).await.unwrap();
        }
        assert_eq!(s.list("a/").await.unwrap(), vec!["b", "c/", "d"]);
        assert_eq!(s.list("").await.unwrap(), vec!["a/", "b"]);
        assert!(s.list("zz/").await.unwrap().is_empty());
    }
}
