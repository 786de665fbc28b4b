//! A volatile backend for unit tests and dev mode: one ordered map behind a lock. Seen without
//! a barrier, it is also the backends' test storage, `logical::InmemStorage`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ops::Bound;

use async_trait::async_trait;
use parking_lot::RwLock;

use super::{scan_children, Backend, PhysicalError, StorageOp};

/// Keeps everything in memory; nothing survives the process. Commits are atomic because the
/// whole batch is applied under one write lock.
#[derive(Default)]
pub struct InmemBackend {
    entries: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl InmemBackend {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Backend for InmemBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PhysicalError> {
        Ok(self.entries.read().get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PhysicalError> {
        let entries = self.entries.read();
        let children = scan_children(prefix, |from| {
            Ok::<_, Infallible>(
                entries
                    .range::<str, _>((Bound::Included(from), Bound::Unbounded))
                    .map(|(k, _)| Ok(k.as_str())),
            )
        });
        match children {
            Ok(children) => Ok(children),
            Err(never) => match never {},
        }
    }

    async fn snapshot(&self) -> Result<Vec<(String, Vec<u8>)>, PhysicalError> {
        let entries = self.entries.read();
        Ok(entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn restore(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), PhysicalError> {
        *self.entries.write() = entries.into_iter().collect();
        Ok(())
    }

    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), PhysicalError> {
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
