//! Token expiry: what Vault's expiration manager does for tokens. A lookup already refuses an
//! expired token and every descendant of one ([`TokenStore::lookup_key`]); this module also
//! revokes them in storage, so an expired parent's subtree is gone, not only hidden.
//!
//! The index lives in the token store's view, one empty key per expiring token:
//! `expire/<hour>/<expiry>.<token key>`, times in zero-padded Unix seconds so that the
//! storage's sorted listing is time order. It is written in the same commit as the entry it
//! indexes (create, renew, revoke), so it is exact after any crash and a restart resumes where
//! the last sweep stopped. A sweep lists only the buckets that are due, and stops at the first
//! entry that is not, so its cost follows the tokens that expire, not the tokens that exist.
//!
//! A background thread sweeps every [`SWEEP_INTERVAL`] while the core is unsealed. It runs on
//! a thread and a runtime of its own because the core is unsealed on whatever runtime the
//! caller had (the dev server unseals on a runtime it then drops); it holds only a weak
//! reference, so sealing ends it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::tokens::TokenStore;
use super::Unsealed;
use crate::logical::{Error, StorageOp};

const INDEX_PREFIX: &str = "expire/";

/// Written once the index covers every token, so tokens stored before the index existed are
/// indexed on the first unseal that has it.
const INDEX_BUILT: &str = "expire-index-built";

const BUCKET_SECS: u64 = 3600;

/// How often expired tokens are revoked in storage. Lookups refuse them at once regardless.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

fn bucket(at: u64) -> String {
    // Zero-padded so the storage's sorted listing is time order.
    format!("{:020}", at / BUCKET_SECS)
}

fn index_key(at: u64, key: &str) -> String {
    format!("{INDEX_PREFIX}{}/{at:020}.{key}", bucket(at))
}

/// The index entry of a token that expires at `at`.
pub fn index_put(at: u64, key: &str) -> StorageOp {
    StorageOp::Put(index_key(at, key), Vec::new())
}

/// Removes the index entry of a token that expired at `at`.
pub fn index_delete(at: u64, key: &str) -> StorageOp {
    StorageOp::Delete(index_key(at, key))
}

/// Indexes every stored token once, for stores written before the index existed.
pub async fn build_index_once(store: &TokenStore) -> Result<(), Error> {
    let storage = store.storage();
    if storage.get(INDEX_BUILT).await?.is_some() {
        return Ok(());
    }
    let mut ops = Vec::new();
    for key in store.all_keys().await? {
        if let Some(at) = store.read_raw(&key).await?.and_then(|e| e.expire_time) {
            ops.push(index_put(at, &key));
        }
        if ops.len() >= 256 {
            storage.commit(std::mem::take(&mut ops)).await?;
        }
    }
    ops.push(StorageOp::Put(INDEX_BUILT.into(), Vec::new()));
    storage.commit(ops).await
}

/// Revokes every token that has expired by the store's clock, with its subtree, and returns
/// how many expired tokens it found. Safe to run concurrently with requests and with itself:
/// revoking an already revoked token is a no-op.
pub async fn sweep(store: &TokenStore) -> Result<usize, Error> {
    let now = store.now();
    let storage = store.storage();
    let due = bucket(now);
    let mut revoked = 0;
    for b in storage.list(INDEX_PREFIX).await? {
        let b = b.trim_end_matches('/');
        // Sorted, so every later bucket is in the future too.
        if b > due.as_str() {
            break;
        }
        for name in storage.list(&format!("{INDEX_PREFIX}{b}/")).await? {
            let indexed = format!("{INDEX_PREFIX}{b}/{name}");
            let Some((at, key)) = name
                .split_once('.')
                .and_then(|(at, key)| at.parse::<u64>().ok().map(|at| (at, key)))
            else {
                // Not written by this module: drop it rather than trip on it forever.
                storage.delete(&indexed).await?;
                continue;
            };
            if at > now {
                // Sorted by time within the bucket: the rest is not due either.
                break;
            }
            match store.read_raw(key).await? {
                Some(entry) if entry.is_expired(now) => {
                    store.revoke_tree(key).await?;
                    revoked += 1;
                }
                // Still live under this very entry: nothing to do.
                Some(entry) if entry.expire_time == Some(at) => {}
                // The token is gone or now expires elsewhere (or never): a stale entry.
                _ => storage.delete(&indexed).await?,
            }
        }
    }
    Ok(revoked)
}

/// Starts the sweep for this unsealed core; it ends once the core is sealed or dropped.
pub fn start(unsealed: &Arc<Unsealed>) {
    let weak: Weak<Unsealed> = Arc::downgrade(unsealed);
    super::background::spawn(
        "mainkey-expiry",
        "token expiry sweep",
        move |runtime| loop {
            std::thread::sleep(SWEEP_INTERVAL);
            let Some(unsealed) = weak.upgrade() else {
                return;
            };
            match runtime.block_on(sweep(&unsealed.tokens)) {
                Ok(0) => {}
                Ok(n) => tracing::info!(revoked = n, "revoked expired tokens"),
                // Sealed meanwhile, or storage failing: the next round retries, and
                // lookups refuse expired tokens in the meantime.
                Err(e) => tracing::warn!("token expiry sweep: {e}"),
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::clock::ManualClock;
    use crate::core::tokens::{generate_accessor, TokenEntry};
    use crate::logical::{InmemStorage, Storage};

    #[tokio::test]
    async fn the_sweep_revokes_only_what_is_due_and_leaves_no_index_behind() {
        let storage = Arc::new(InmemStorage::new());
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let store = TokenStore::open(storage.clone(), clock.clone())
            .await
            .unwrap();
        let now = store.now();
        for (id, ttl) in [("a", 10), ("b", 20), ("c", 7200)] {
            let entry = TokenEntry {
                accessor: generate_accessor(),
                policies: vec!["default".into()],
                expire_time: Some(now + ttl),
                ..TokenEntry::default()
            };
            store.create(id, entry).await.unwrap();
        }
        assert_eq!(sweep(&store).await.unwrap(), 0);
        clock.advance(Duration::from_secs(15));
        assert_eq!(sweep(&store).await.unwrap(), 1);
        assert!(store.read_raw(&store.key_of("a")).await.unwrap().is_none());
        assert!(store.read_raw(&store.key_of("b")).await.unwrap().is_some());
        clock.advance(Duration::from_secs(10));
        assert_eq!(sweep(&store).await.unwrap(), 1);
        clock.advance(Duration::from_secs(7200));
        assert_eq!(sweep(&store).await.unwrap(), 1);
        assert!(store.all_keys().await.unwrap().is_empty());
        assert!(storage.list(INDEX_PREFIX).await.unwrap().is_empty());
    }
}
