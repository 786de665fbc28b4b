//! The encryption barrier: everything the core stores passes through here and reaches the
//! physical backend only as AES-256-GCM ciphertext bound to its storage path, stored under a
//! key whose every segment is encrypted too.
//!
//! Hidden names: storage keys name tenants, secret paths, role-ids and users, so they are not
//! stored in plaintext. Each segment is encrypted deterministically with AES-256-SIV under a
//! name key of its own in the keyring (`names.rs` gives the format and what still shows). A
//! key maps to exactly one stored key, so a read is still one lookup, and LIST lists the
//! stored children of the encoded prefix and decrypts their names. The value's associated
//! data stays the plaintext path. Only the records the seal needs before unseal live outside
//! the barrier, with plaintext keys under `core/` (the keyring and the seal configuration).
//!
//! The name key survives `sys/rotate` unchanged: names must stay findable, and a new name key
//! would orphan every stored key. It is dropped (and wiped) on seal with the other keys.
//!
//! A database from before hidden names (format-1 keyring, plaintext keys) is migrated on its
//! first unseal rather than refused, because refusing would strand every existing
//! installation. The migration is one transaction, so a crash leaves the old format whole and
//! the next unseal starts over; it is refused, changing nothing, only when an entry does not
//! decrypt (`migrate.rs`).
//!
//! The barrier is either sealed (no keys in memory, every read and write answers
//! [`logical::Error::Sealed`]) or unsealed, holding the keyring and the read cache together in
//! one value, so sealing drops, and thereby zeroizes, both at once.
//!
//! The read cache keeps decrypted entries (and known-absent paths) so hot reads neither touch
//! disk nor decrypt; it is keyed by the plaintext path, so a hit does no name crypto either.
//! A miss or a write encodes its key: one AES-SIV segment when the directory's stored form is
//! cached (`Unsealed::dirs`), one per segment otherwise. It must never serve a value older than the last acknowledged write; see
//! [`WriteEpochs`] for how a reader that raced a writer is kept from re-inserting what it read.

mod keyring;
mod migrate;
mod names;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use moka::sync::Cache;

use crate::metrics::Cache as CacheMetric;
use parking_lot::{Mutex, RwLock};
use zeroize::{Zeroize, Zeroizing};

use crate::logical::{self, StorageOp};
use crate::physical::{self, PhysicalError};
use keyring::{CryptoError, Keyring, Opened, KEY_LEN};
use names::ParentTag;

/// Where the keyring lives, sealed with the root key. Reserved: the barrier's own storage API
/// refuses it, so no caller can overwrite or read the keyring as an ordinary entry.
pub const KEYRING_PATH: &str = "core/keyring";

/// The physical directory of the records kept outside the barrier, under plaintext keys: the
/// keyring and whatever else the seal must read before unseal. No encoded segment can be
/// `core`, so it never mixes with the barrier's own entries, and LIST of the root skips it.
pub const RAW_DIR: &str = "core/";

/// A decrypted entry, or `None` for a path known to be absent. Shared with `Arc` so a hit costs
/// no copy inside the cache; wiped when the last reference goes.
type CachedEntry = Option<Arc<Zeroizing<Vec<u8>>>>;

/// The state of the active term, as `sys/key-status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStatus {
    pub term: u32,
    pub install_time: SystemTime,
    /// Encryptions with the active term since this unseal (or the last rotation).
    pub encryptions: u64,
}

/// A directory's stored form and the header of its children's names.
struct EncodedDir {
    stored: String,
    parent: Option<ParentTag>,
}

/// What exists only while unsealed. Dropping it zeroizes every key and every cached value.
struct Unsealed {
    keyring: Keyring,
    cache: Cache<String, CachedEntry>,
    /// Stored forms of directories, so encoding a key costs one segment's AES-SIV instead of
    /// one per segment. Never stale: an encoding depends only on the name key, which does not
    /// change while unsealed (rotation keeps it), and sealing drops this with the keyring.
    dirs: Cache<String, Arc<EncodedDir>>,
    encryptions: AtomicU64,
}

impl Unsealed {
    fn new(keyring: Keyring, cache_capacity: u64) -> Self {
        Self {
            keyring,
            cache: Cache::builder().max_capacity(cache_capacity).build(),
            dirs: Cache::builder().max_capacity(cache_capacity).build(),
            encryptions: AtomicU64::new(0),
        }
    }

    /// The stored form of `dir`, a key prefix that is empty or ends in `/`.
    fn encode_dir(&self, dir: &str) -> Result<Arc<EncodedDir>, logical::Error> {
        if let Some(hit) = self.dirs.get(dir) {
            return Ok(hit);
        }
        let (stored, parent) = self
            .keyring
            .names()
            .encode_dir(dir)
            .map_err(|e| crypto_error("encode name", &e))?;
        let encoded = Arc::new(EncodedDir { stored, parent });
        self.dirs.insert(dir.to_string(), Arc::clone(&encoded));
        Ok(encoded)
    }

    /// The physical key of `path`.
    fn encode_path(&self, path: &str) -> Result<String, logical::Error> {
        let (dir, leaf) = split_dir(path);
        let dir = self.encode_dir(dir)?;
        self.keyring
            .names()
            .encode_child(&dir.stored, dir.parent.as_ref(), leaf)
            .map_err(|e| crypto_error("encode name", &e))
    }

    fn key_status(&self) -> KeyStatus {
        KeyStatus {
            term: self.keyring.active_term(),
            install_time: self.keyring.active_install_time(),
            encryptions: self.encryptions.load(Ordering::Relaxed),
        }
    }
}

const EPOCH_SLOTS: usize = 64;

/// Write epochs, striped by a hash of the path, that keep the read cache from going stale.
///
/// A reader that misses the cache notes its path's epoch *before* it reads storage, and
/// inserts what it read only if the epoch is still the same. A writer, once its commit has
/// returned, bumps the epoch of every path it touched and invalidates those entries, under the
/// same mutex. So a read that overlapped a write either inserted before the writer's
/// invalidation (and is removed by it) or sees a changed epoch and inserts nothing. Sealing
/// bumps every slot, so no read from before a seal reaches a later unseal's cache.
///
/// Striping only makes unrelated writes less likely to cost a reader its insert; correctness
/// does not depend on it.
struct WriteEpochs([u64; EPOCH_SLOTS]);

impl WriteEpochs {
    fn slot(path: &str) -> usize {
        let mut hasher = DefaultHasher::new();
        path.hash(&mut hasher);
        (hasher.finish() % EPOCH_SLOTS as u64) as usize
    }

    fn get(&self, path: &str) -> u64 {
        self.0[Self::slot(path)]
    }

    fn bump(&mut self, path: &str) {
        let slot = &mut self.0[Self::slot(path)];
        *slot = slot.wrapping_add(1);
    }

    fn bump_all(&mut self) {
        for slot in &mut self.0 {
            *slot = slot.wrapping_add(1);
        }
    }
}

/// AES-256-GCM over a physical backend, with a term-based keyring and a read cache.
///
/// Lock order: `epochs` before `state` before the name key's own mutex (taken only inside
/// `NameKey`'s methods). None is ever held across an `.await`.
pub struct Barrier {
    backend: Arc<dyn physical::Backend>,
    cache_capacity: u64,
    state: RwLock<Option<Unsealed>>,
    epochs: Mutex<WriteEpochs>,
    /// Counts finished commits, seals and unseals: whatever was derived from the barrier's
    /// contents before a bump may be stale after it. Advanced under `epochs`, after the commit
    /// returned (see [`Barrier::write_generation`]).
    writes: AtomicU64,
    /// Serialises initialize, unseal and rotate, which read and write the keyring.
    admin: tokio::sync::Mutex<()>,
}

impl Barrier {
    /// A sealed barrier over `backend`. `cache_capacity` is the most entries the read cache
    /// holds; 0 disables it.
    pub fn new(backend: Arc<dyn physical::Backend>, cache_capacity: u64) -> Self {
        Self {
            backend,
            cache_capacity,
            state: RwLock::new(None),
            epochs: Mutex::new(WriteEpochs([0; EPOCH_SLOTS])),
            writes: AtomicU64::new(0),
            admin: tokio::sync::Mutex::new(()),
        }
    }

    /// The raw backend, for the few plaintext records the seal needs before unseal.
    pub fn backend(&self) -> &Arc<dyn physical::Backend> {
        &self.backend
    }

    /// Whether a keyring has been stored.
    pub async fn is_initialized(&self) -> Result<bool, logical::Error> {
        let keyring = self
            .backend
            .get(KEYRING_PATH)
            .await
            .map_err(|e| storage_error("read keyring", &e))?;
        Ok(keyring.is_some())
    }

    /// Creates the keyring (term 1), seals it with `root_key` and stores it. The barrier stays
    /// sealed: the caller unseals it with the same root key.
    pub async fn initialize(&self, root_key: &[u8; KEY_LEN]) -> Result<(), logical::Error> {
        let _admin = self.admin.lock().await;
        if self.is_initialized().await? {
            return Err(logical::Error::bad_request(
                "barrier is already initialized",
            ));
        }
        let blob = {
            let keyring =
                Keyring::generate(root_key).map_err(|e| crypto_error("initialize", &e))?;
            keyring
                .to_sealed_blob(KEYRING_PATH)
                .map_err(|e| crypto_error("initialize", &e))?
        };
        self.backend
            .commit(vec![StorageOp::Put(KEYRING_PATH.to_string(), blob)])
            .await
            .map_err(|e| storage_error("store keyring", &e))
    }

    /// Opens the stored keyring with `root_key`. A wrong or malformed key is an error and the
    /// barrier stays sealed. When already unsealed, the key is still checked.
    pub async fn unseal(&self, root_key: &[u8]) -> Result<(), logical::Error> {
        let root_key: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(
            root_key
                .try_into()
                .map_err(|_| unseal_failed("root key must be 32 bytes"))?,
        );
        let _admin = self.admin.lock().await;
        let blob = self
            .backend
            .get(KEYRING_PATH)
            .await
            .map_err(|e| storage_error("read keyring", &e))?
            .ok_or_else(|| unseal_failed("barrier is not initialized"))?;
        let keyring = match Keyring::from_sealed_blob(&root_key, KEYRING_PATH, &blob)
            .map_err(|e| unseal_failed(&e.to_string()))?
        {
            Opened::Current(keyring) => keyring,
            Opened::Legacy(keyring) => {
                // Still sealed, and `admin` keeps rotate and other unseals out, so nothing
                // writes through the barrier while the plan is made and committed.
                let ops = migrate::plan(self.backend.as_ref(), &keyring).await?;
                let moved = ops.len().saturating_sub(1) / 2;
                self.backend
                    .commit(ops)
                    .await
                    .map_err(|e| storage_error("commit migration", &e))?;
                tracing::info!(entries = moved, "barrier: storage names are now hidden");
                keyring
            }
        };
        let mut state = self.state.write();
        if state.is_none() {
            *state = Some(Unsealed::new(keyring, self.cache_capacity));
            self.writes.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Drops the keyring and the read cache, zeroizing every key and cached value, before it
    /// returns. Idempotent.
    pub fn seal(&self) {
        let unsealed = {
            let mut epochs = self.epochs.lock();
            epochs.bump_all();
            self.writes.fetch_add(1, Ordering::AcqRel);
            self.state.write().take()
        };
        drop(unsealed);
    }

    /// A tag for anything derived from the barrier's contents (the gateway's decisions):
    /// note it *before* reading, and reuse the derived value only while the tag is still
    /// current. It advances after every commit (even a failed one), every seal and every
    /// unseal, so a value derived before any of those is never reused after it.
    pub fn write_generation(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    pub fn is_sealed(&self) -> bool {
        self.state.read().is_none()
    }

    /// Adds a new key term and makes it active, once the new keyring is durably stored.
    /// Entries written under older terms stay readable.
    pub async fn rotate(&self) -> Result<KeyStatus, logical::Error> {
        let _admin = self.admin.lock().await;
        let (next, blob) = {
            let state = self.state.read();
            let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
            let next = unsealed
                .keyring
                .rotated()
                .map_err(|e| crypto_error("rotate", &e))?;
            let blob = next
                .to_sealed_blob(KEYRING_PATH)
                .map_err(|e| crypto_error("rotate", &e))?;
            (next, blob)
        };
        self.backend
            .commit(vec![StorageOp::Put(KEYRING_PATH.to_string(), blob)])
            .await
            .map_err(|e| storage_error("store keyring", &e))?;
        // Unseal cannot have run meanwhile (it takes `admin`), so if the barrier is still
        // unsealed it holds the keyring `next` was derived from. If it was sealed, the new
        // keyring is stored and the next unseal picks it up.
        let mut state = self.state.write();
        let unsealed = state.as_mut().ok_or(logical::Error::Sealed)?;
        unsealed.keyring = next;
        unsealed.encryptions.store(0, Ordering::Relaxed);
        Ok(unsealed.key_status())
    }

    /// Whether `candidate` is the root key of the unsealed keyring: how a quorum of unseal
    /// keys given for `sys/rekey` or `sys/generate-root` is authenticated.
    pub fn verify_root_key(&self, candidate: &[u8]) -> Result<bool, logical::Error> {
        let state = self.state.read();
        let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
        Ok(unsealed.keyring.root_key_is(candidate))
    }

    /// Whether the unsealed root key opens `blob`, another keyring as it is stored (a
    /// snapshot's).
    pub fn opens_keyring(&self, blob: &[u8]) -> Result<bool, logical::Error> {
        let state = self.state.read();
        let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
        Ok(unsealed.keyring.opens(KEYRING_PATH, blob))
    }

    /// Seals the keyring with a new root key and stores it in one commit together with
    /// `also` (the new seal configuration), so a crash leaves either the old root key and
    /// configuration or the new ones, never a mix. The keys of the terms stay as they are:
    /// no entry is rewritten.
    pub async fn rekey(
        &self,
        root_key: &[u8; KEY_LEN],
        also: Vec<StorageOp>,
    ) -> Result<(), logical::Error> {
        let _admin = self.admin.lock().await;
        let (next, blob) = {
            let state = self.state.read();
            let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
            let next = unsealed.keyring.with_root_key(root_key);
            let blob = next
                .to_sealed_blob(KEYRING_PATH)
                .map_err(|e| crypto_error("rekey", &e))?;
            (next, blob)
        };
        let mut ops = vec![StorageOp::Put(KEYRING_PATH.to_string(), blob)];
        ops.extend(also);
        self.backend
            .commit(ops)
            .await
            .map_err(|e| storage_error("store keyring", &e))?;
        // As in `rotate`: `admin` kept unseal out, so a still unsealed barrier holds the
        // keyring `next` was copied from.
        let mut state = self.state.write();
        let unsealed = state.as_mut().ok_or(logical::Error::Sealed)?;
        unsealed.keyring = next;
        Ok(())
    }

    pub fn key_status(&self) -> Result<KeyStatus, logical::Error> {
        let state = self.state.read();
        let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
        Ok(unsealed.key_status())
    }

    /// A storage rooted at `prefix`: keys passed to it are relative to the prefix.
    pub fn view(self: &Arc<Self>, prefix: &str) -> BarrierView {
        BarrierView {
            barrier: Arc::clone(self),
            prefix: prefix.to_string(),
        }
    }

    /// Entries in the read cache (0 while sealed), after moka's pending housekeeping.
    pub fn cache_len(&self) -> u64 {
        let state = self.state.read();
        state.as_ref().map_or(0, |unsealed| {
            unsealed.cache.run_pending_tasks();
            unsealed.cache.entry_count()
        })
    }

    /// Inserts what a reader read, unless a write to the path (or a seal) happened since the
    /// reader noted `seen`.
    fn fill_cache(&self, path: &str, seen: u64, entry: CachedEntry) {
        let epochs = self.epochs.lock();
        if epochs.get(path) != seen {
            return;
        }
        if let Some(unsealed) = self.state.read().as_ref() {
            unsealed.cache.insert(path.to_string(), entry);
        }
    }

    fn invalidate(&self, paths: &[String]) {
        let mut epochs = self.epochs.lock();
        for path in paths {
            epochs.bump(path);
        }
        self.writes.fetch_add(1, Ordering::AcqRel);
        if let Some(unsealed) = self.state.read().as_ref() {
            for path in paths {
                unsealed.cache.invalidate(path.as_str());
            }
        }
    }

    #[cfg(test)]
    fn cached(&self, path: &str) -> Option<CachedEntry> {
        self.state.read().as_ref()?.cache.get(path)
    }

    #[cfg(test)]
    fn name_key(&self) -> Option<[u8; names::NAME_KEY_LEN]> {
        Some(*self.state.read().as_ref()?.keyring.names().bytes())
    }

    #[cfg(test)]
    fn term_keys(&self) -> Vec<[u8; KEY_LEN]> {
        self.state
            .read()
            .as_ref()
            .map_or_else(Vec::new, |unsealed| unsealed.keyring.term_keys())
    }
}

#[async_trait]
impl logical::Storage for Barrier {
    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, logical::Error> {
        refuse_reserved(path)?;
        let stored = {
            let state = self.state.read();
            let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
            // A hit is served by the plaintext path: no name or value crypto at all.
            let hit = unsealed.cache.get(path);
            crate::metrics::metrics().cache_lookup(CacheMetric::Barrier, hit.is_some());
            if let Some(hit) = hit {
                return Ok(hit.map(|value| value.to_vec()));
            }
            unsealed.encode_path(path)?
        };
        let seen = self.epochs.lock().get(path);
        let blob = self
            .backend
            .get(&stored)
            .await
            .map_err(|e| storage_error("read", &e))?;
        let entry: CachedEntry = match blob {
            None => None,
            Some(blob) => {
                let state = self.state.read();
                let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
                let plaintext = unsealed
                    .keyring
                    .decrypt(path, &blob)
                    .map_err(|e| crypto_error("decrypt", &e))?;
                Some(Arc::new(plaintext))
            }
        };
        let value = entry.as_ref().map(|value| value.to_vec());
        self.fill_cache(path, seen, entry);
        Ok(value)
    }

    /// Lists the stored children of the prefix's directory and decrypts their names. A prefix
    /// that ends inside a segment (`a/b` rather than `a/`) cannot be matched on encrypted
    /// names, so the directory (`a/`) is listed and its names filtered by the partial segment
    /// (`b`) in plaintext: the answer is the same as over plaintext keys.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, logical::Error> {
        let (dir, partial) = split_dir(prefix);
        let encoded = {
            let state = self.state.read();
            let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
            unsealed.encode_dir(dir)?
        };
        let mut children = self
            .backend
            .list(&encoded.stored)
            .await
            .map_err(|e| storage_error("list", &e))?;
        if dir.is_empty() {
            children.retain(|child| child != RAW_DIR);
        }
        let names = {
            let state = self.state.read();
            let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
            unsealed
                .keyring
                .names()
                .decode_children(
                    encoded.parent.as_ref(),
                    children
                        .iter()
                        .map(|child| child.strip_suffix('/').unwrap_or(child)),
                )
                .map_err(|e| crypto_error("decode names", &e))?
        };
        let mut out: Vec<String> = names
            .into_iter()
            .zip(&children)
            .filter_map(|(name, child)| {
                let rest = name.strip_prefix(partial)?;
                if child.ends_with('/') {
                    Some(format!("{rest}/"))
                } else if rest.is_empty() {
                    None // the prefix itself, as over plaintext keys
                } else {
                    Some(rest.to_string())
                }
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), logical::Error> {
        for op in &ops {
            refuse_reserved(op_path(op))?;
        }
        let paths: Vec<String> = ops.iter().map(|op| op_path(op).to_string()).collect();
        let encrypted = {
            let state = self.state.read();
            let unsealed = state.as_ref().ok_or(logical::Error::Sealed)?;
            let mut encrypted = Vec::with_capacity(ops.len());
            for op in ops {
                encrypted.push(match op {
                    StorageOp::Put(path, mut plaintext) => {
                        let blob = unsealed.keyring.encrypt(&path, &plaintext);
                        // We own the caller's plaintext now; do not leave it on the heap.
                        plaintext.zeroize();
                        let blob = blob.map_err(|e| crypto_error("encrypt", &e))?;
                        unsealed.encryptions.fetch_add(1, Ordering::Relaxed);
                        StorageOp::Put(unsealed.encode_path(&path)?, blob)
                    }
                    StorageOp::Delete(path) => StorageOp::Delete(unsealed.encode_path(&path)?),
                });
            }
            encrypted
        };
        let result = self.backend.commit(encrypted).await;
        // Invalidate even on failure: an fsync error leaves it unknown whether the write
        // reached the disk, and a spurious miss is harmless.
        self.invalidate(&paths);
        result.map_err(|e| storage_error("commit", &e))
    }
}

/// A [`logical::Storage`] that prefixes every key with a fixed path, as a mount's view of the
/// barrier.
#[derive(Clone)]
pub struct BarrierView {
    barrier: Arc<Barrier>,
    prefix: String,
}

impl BarrierView {
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A view nested inside this one.
    pub fn sub_view(&self, prefix: &str) -> BarrierView {
        BarrierView {
            barrier: Arc::clone(&self.barrier),
            prefix: format!("{}{prefix}", self.prefix),
        }
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl logical::Storage for BarrierView {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, logical::Error> {
        self.barrier.get(&self.full(key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, logical::Error> {
        self.barrier.list(&self.full(prefix)).await
    }

    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), logical::Error> {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                StorageOp::Put(key, value) => StorageOp::Put(self.full(&key), value),
                StorageOp::Delete(key) => StorageOp::Delete(self.full(&key)),
            })
            .collect();
        self.barrier.commit(ops).await
    }
}

/// `a/b/c` -> (`a/b/`, `c`); `c` -> (``, `c`); `a/` -> (`a/`, ``).
fn split_dir(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(slash) => path.split_at(slash + 1),
        None => ("", path),
    }
}

fn op_path(op: &StorageOp) -> &str {
    match op {
        StorageOp::Put(path, _) | StorageOp::Delete(path) => path,
    }
}

fn refuse_reserved(path: &str) -> Result<(), logical::Error> {
    if path == KEYRING_PATH {
        return Err(logical::Error::internal(format!(
            "barrier: {KEYRING_PATH} is reserved"
        )));
    }
    Ok(())
}

fn storage_error(op: &str, e: &PhysicalError) -> logical::Error {
    logical::Error::internal(format!("barrier: {op} failed: {e}"))
}

fn crypto_error(op: &str, e: &CryptoError) -> logical::Error {
    logical::Error::internal(format!("barrier: {op} failed: {e}"))
}

fn unseal_failed(reason: &str) -> logical::Error {
    logical::Error::bad_request(format!("unseal failed: {reason}"))
}

#[cfg(test)]
mod tests;
