use std::collections::BTreeMap;

use async_trait::async_trait;
use parking_lot::RwLock;

use super::Error;

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

/// Lists the immediate children of `prefix` among sorted `keys`. Shared by every storage that
/// keeps its keys in one ordered map.
pub fn immediate_children<'a>(prefix: &str, keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in keys {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        let child = match rest.find('/') {
            Some(i) => &rest[..=i],
            None => rest,
        };
        if child.is_empty() {
            continue;
        }
        if out.last().map(String::as_str) != Some(child) {
            out.push(child.to_string());
        }
    }
    out
}

/// A plaintext in-memory storage for unit tests of backends.
#[derive(Default)]
pub struct InmemStorage {
    entries: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl InmemStorage {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Storage for InmemStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.entries.read().get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let entries = self.entries.read();
        let keys = entries.range(prefix.to_string()..).map(|(k, _)| k.as_str());
        Ok(immediate_children(
            prefix,
            keys.take_while(|k| k.starts_with(prefix)),
        ))
    }

    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), Error> {
        let mut entries = self.entries.write();
        for op in ops {
            match op {
                StorageOp::Put(k, v) => {
                    entries.insert(k, v);
                }
                StorageOp::Delete(k) => {
                    entries.remove(&k);
                }
            }
        }
        Ok(())
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
