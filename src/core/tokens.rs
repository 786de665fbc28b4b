//! The token store. Only a salted HMAC-SHA256 of a token id is ever stored or used as a cache
//! key, so neither the database nor a memory dump of the cache reveals a token.
//!
//! Layout, relative to the store's view (`sys/token/`):
//! - `salt`: the HMAC key;
//! - `id/<hmac(token)>`: the [`TokenEntry`];
//! - `accessor/<hmac(accessor)>`: the token's key, for the accessor endpoints;
//! - `parent/<parent key>/<child key>`: the children of a token, so revoking a parent revokes
//!   them all;
//! - `expire/<hour>/<key>`: the expiry index that the sweep of [`super::expiration`] walks,
//!   written in the same commit as the entry, so it survives a restart.
//!
//! Expiry is decided against the injected clock on every lookup, so an expired token is refused
//! at once even if it is cached, and TTLs keep counting across a restart. A token whose parent
//! (or any ancestor) has expired is refused too, before the sweep has revoked it.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::expiration;
use crate::clock::SharedClock;
use crate::logical::{Error, Storage, StorageOp};

const SALT_KEY: &str = "salt";
const ID_PREFIX: &str = "id/";
const ACCESSOR_PREFIX: &str = "accessor/";
const PARENT_PREFIX: &str = "parent/";
const ROLE_PREFIX: &str = "roles/";

/// How many ancestors a lookup checks. Chains are acyclic by construction (a parent exists
/// before its child); the bound only keeps a corrupt store from looping, and fails closed.
const MAX_ANCESTORS: usize = 1024;

/// A token role (`auth/token/roles/<name>`): what `auth/token/create/<name>` may hand out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRole {
    pub name: String,
    #[serde(default)]
    pub allowed_policies: Vec<String>,
    #[serde(default)]
    pub disallowed_policies: Vec<String>,
    #[serde(default)]
    pub orphan: bool,
    #[serde(default = "yes")]
    pub renewable: bool,
    #[serde(default)]
    pub path_suffix: String,
    #[serde(default)]
    pub token_period: u64,
    #[serde(default)]
    pub token_explicit_max_ttl: u64,
    #[serde(default)]
    pub token_no_default_policy: bool,
    #[serde(default)]
    pub token_num_uses: u64,
    #[serde(default)]
    pub token_bound_cidrs: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenEntry {
    pub accessor: String,
    /// The storage key of the parent token; `None` for an orphan.
    #[serde(default)]
    pub parent: Option<String>,
    pub policies: Vec<String>,
    /// The path that created the token, e.g. `auth/token/create`.
    pub path: String,
    pub display_name: String,
    /// Unix seconds.
    pub creation_time: u64,
    /// Seconds; 0 = no expiry (root).
    pub ttl: u64,
    #[serde(default)]
    pub meta: Option<BTreeMap<String, String>>,
    /// Uses left; 0 = unlimited.
    #[serde(default)]
    pub num_uses: u64,
    #[serde(default)]
    pub entity_id: String,
    /// RFC 3339 time of issue.
    #[serde(default)]
    pub issue_time: String,
    /// Unix seconds at which the token stops working; `None` = never.
    #[serde(default)]
    pub expire_time: Option<u64>,
    /// Unix seconds that no renewal may pass; `None` = no cap.
    #[serde(default)]
    pub max_expire_time: Option<u64>,
    #[serde(default)]
    pub explicit_max_ttl: u64,
    #[serde(default)]
    pub period: u64,
    #[serde(default)]
    pub renewable: bool,
    /// CIDRs the token may be used from; empty = anywhere.
    #[serde(default)]
    pub bound_cidrs: Vec<String>,
}

impl TokenEntry {
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_time.is_some_and(|t| t <= now)
    }

    /// Seconds left, as `lookup` reports `ttl`.
    pub fn remaining(&self, now: u64) -> u64 {
        self.expire_time.map(|t| t.saturating_sub(now)).unwrap_or(0)
    }
}

/// A new random token id in OpenBao's shape: `s.` and 24 alphanumerics.
pub fn generate_token_id() -> Zeroizing<String> {
    Zeroizing::new(format!("s.{}", random_alphanumeric(24)))
}

/// A new accessor: 24 alphanumerics, as OpenBao's.
pub fn generate_accessor() -> String {
    random_alphanumeric(24)
}

fn random_alphanumeric(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// What a token id names, as the authorization pipeline tells its denials apart.
pub enum Found {
    Live(Arc<TokenEntry>),
    /// Stored, but it or an ancestor has passed its expiry (the sweep has not revoked it yet).
    Expired,
    /// Never issued, revoked, or used up.
    Unknown,
}

/// Looks tokens up by HMAC, with a cache of entries that writes, revocations and the seal
/// invalidate synchronously.
///
/// A lookup that misses reads storage and then fills the cache; a revoke may finish between
/// the two. So a reader notes the write generation before it reads, and inserts what it read
/// only if the generation is unchanged, checking and inserting under the generation's lock.
/// A writer commits, then advances the generation and invalidates its key under the same
/// lock. So either the reader's insert comes first and the writer's invalidation removes it,
/// or the reader sees the advance and inserts nothing: no revoked entry is ever cached, not
/// even for a moment. (The barrier's read cache uses the same order with its write epochs.)
pub struct TokenStore {
    storage: Arc<dyn Storage>,
    clock: SharedClock,
    salt: Zeroizing<Vec<u8>>,
    cache: moka::sync::Cache<String, Arc<TokenEntry>>,
    /// Completed writes; see the type's comment for the lock's part.
    generation: parking_lot::Mutex<u64>,
}

impl TokenStore {
    /// Loads the salt, creating it on first use.
    pub async fn open(storage: Arc<dyn Storage>, clock: SharedClock) -> Result<Self, Error> {
        let salt = match storage.get(SALT_KEY).await? {
            Some(salt) => Zeroizing::new(salt),
            None => {
                let mut salt = Zeroizing::new(vec![0u8; 32]);
                rand::thread_rng().fill(salt.as_mut_slice());
                storage.put(SALT_KEY, salt.to_vec()).await?;
                salt
            }
        };
        let store = TokenStore {
            storage,
            clock,
            salt,
            cache: moka::sync::Cache::new(10_000),
            generation: parking_lot::Mutex::new(0),
        };
        expiration::build_index_once(&store).await?;
        let count = store.all_keys().await?.len();
        crate::metrics::metrics()
            .tokens
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        Ok(store)
    }

    pub(super) fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// Called after every committed write of `key`: see the type's comment for the order.
    fn written(&self, key: &str) {
        let mut generation = self.generation.lock();
        *generation += 1;
        self.cache.invalidate(key);
    }

    pub fn now(&self) -> u64 {
        unix(self.clock.now())
    }

    fn hmac(&self, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.salt)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The store's key for a token id: its salted HMAC.
    pub fn key_of(&self, token: &str) -> String {
        self.hmac(token)
    }

    /// Stores `entry` under the given token id, with its accessor and parent links.
    pub async fn create(&self, token: &str, entry: TokenEntry) -> Result<String, Error> {
        let key = self.key_of(token);
        let mut ops = vec![
            StorageOp::Put(format!("{ID_PREFIX}{key}"), encode(&entry)?),
            StorageOp::Put(
                format!("{ACCESSOR_PREFIX}{}", self.hmac(&entry.accessor)),
                key.clone().into_bytes(),
            ),
        ];
        if let Some(parent) = &entry.parent {
            ops.push(StorageOp::Put(
                format!("{PARENT_PREFIX}{parent}/{key}"),
                Vec::new(),
            ));
        }
        if let Some(at) = entry.expire_time {
            ops.push(expiration::index_put(at, &key));
        }
        self.storage.commit(ops).await?;
        self.written(&key);
        crate::metrics::metrics().tokens.inc();
        Ok(key)
    }

    /// The live entry of a token, or `None` when it is unknown, revoked or expired.
    pub async fn lookup(&self, token: &str) -> Result<Option<(String, Arc<TokenEntry>)>, Error> {
        let key = self.key_of(token);
        Ok(self.lookup_key(&key).await?.map(|e| (key, e)))
    }

    /// The live entry stored under `key`: not expired, and neither is any ancestor.
    pub async fn lookup_key(&self, key: &str) -> Result<Option<Arc<TokenEntry>>, Error> {
        Ok(match self.find_key(key).await? {
            Found::Live(entry) => Some(entry),
            Found::Expired | Found::Unknown => None,
        })
    }

    /// What the store holds under `key`. A child of an expired parent is expired at once, as
    /// in Vault, whose expiration manager revokes the subtree at the parent's expiry; the
    /// sweep revokes it in storage later.
    pub async fn find_key(&self, key: &str) -> Result<Found, Error> {
        let now = self.now();
        let Some(entry) = self.entry(key).await? else {
            return Ok(Found::Unknown);
        };
        if entry.is_expired(now) {
            return Ok(Found::Expired);
        }
        let mut parent = entry.parent.clone();
        for _ in 0..MAX_ANCESTORS {
            let Some(p) = parent else {
                return Ok(Found::Live(entry));
            };
            // A parent that is gone was revoked, and its children with it (children are
            // revoked first, so this is only reached on a corrupt store): fail closed.
            match self.entry(&p).await? {
                Some(pe) if !pe.is_expired(now) => parent = pe.parent.clone(),
                Some(_) => return Ok(Found::Expired),
                None => return Ok(Found::Unknown),
            }
        }
        tracing::warn!("token chain deeper than {MAX_ANCESTORS}: refused");
        Ok(Found::Unknown)
    }

    /// The stored entry under `key`, expired or not, through the cache.
    async fn entry(&self, key: &str) -> Result<Option<Arc<TokenEntry>>, Error> {
        let hit = self.cache.get(key);
        crate::metrics::metrics().cache_lookup(crate::metrics::Cache::Token, hit.is_some());
        if let Some(hit) = hit {
            return Ok(Some(hit));
        }
        // Taken before the read; see the type's comment.
        let seen = *self.generation.lock();
        let Some(bytes) = self.storage.get(&format!("{ID_PREFIX}{key}")).await? else {
            return Ok(None);
        };
        let entry: Arc<TokenEntry> = Arc::new(
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("decoding token entry: {e}")))?,
        );
        let generation = self.generation.lock();
        // A write that finished while this read was in flight may be newer than what was
        // read, so it is not cached. This request still answers from it, as a request that
        // had started just before the write would.
        if *generation == seen {
            self.cache.insert(key.to_string(), entry.clone());
        }
        drop(generation);
        Ok(Some(entry))
    }

    /// The key of the token with this accessor.
    pub async fn key_for_accessor(&self, accessor: &str) -> Result<Option<String>, Error> {
        let Some(bytes) = self
            .storage
            .get(&format!("{ACCESSOR_PREFIX}{}", self.hmac(accessor)))
            .await?
        else {
            return Ok(None);
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::internal("corrupt accessor index"))
    }

    /// Replaces the entry stored under `key` (renewal, use counting), moving its place in the
    /// expiry index in the same commit.
    pub async fn update(&self, key: &str, entry: &TokenEntry) -> Result<(), Error> {
        let old = self.read_raw(key).await?;
        let mut ops = vec![StorageOp::Put(format!("{ID_PREFIX}{key}"), encode(entry)?)];
        let old_expiry = old.and_then(|o| o.expire_time);
        if old_expiry != entry.expire_time {
            if let Some(at) = old_expiry {
                ops.push(expiration::index_delete(at, key));
            }
            if let Some(at) = entry.expire_time {
                ops.push(expiration::index_put(at, key));
            }
        }
        self.storage.commit(ops).await?;
        self.written(key);
        Ok(())
    }

    /// Counts one use of a limited-use token; the last use revokes it (the request that uses it
    /// still proceeds, as in Vault).
    pub async fn record_use(&self, key: &str, entry: &TokenEntry) -> Result<(), Error> {
        match entry.num_uses {
            0 => Ok(()),
            1 => self.revoke_tree(key).await,
            n => {
                let mut next = entry.clone();
                next.num_uses = n - 1;
                self.update(key, &next).await
            }
        }
    }

    /// Revokes the token under `key` and, recursively, every token it created.
    pub async fn revoke_tree(&self, key: &str) -> Result<(), Error> {
        let mut pending = vec![key.to_string()];
        let mut order = Vec::new();
        while let Some(k) = pending.pop() {
            for child in self.storage.list(&format!("{PARENT_PREFIX}{k}/")).await? {
                pending.push(child.trim_end_matches('/').to_string());
            }
            order.push(k);
        }
        // Children first, so a crash half-way never leaves a child whose parent is gone but
        // which is still valid.
        for k in order.iter().rev() {
            self.revoke_one(k, false).await?;
        }
        Ok(())
    }

    /// Revokes only the token under `key`; its children become orphans.
    pub async fn revoke_orphan(&self, key: &str) -> Result<(), Error> {
        for child in self.storage.list(&format!("{PARENT_PREFIX}{key}/")).await? {
            let child = child.trim_end_matches('/');
            if let Some(mut entry) = self.read_raw(child).await? {
                entry.parent = None;
                self.update(child, &entry).await?;
            }
        }
        self.revoke_one(key, true).await
    }

    pub(super) async fn read_raw(&self, key: &str) -> Result<Option<TokenEntry>, Error> {
        let Some(bytes) = self.storage.get(&format!("{ID_PREFIX}{key}")).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::internal(format!("decoding token entry: {e}")))
    }

    async fn revoke_one(&self, key: &str, drop_child_links: bool) -> Result<(), Error> {
        let entry = self.read_raw(key).await?;
        let mut ops = vec![StorageOp::Delete(format!("{ID_PREFIX}{key}"))];
        if let Some(entry) = &entry {
            ops.push(StorageOp::Delete(format!(
                "{ACCESSOR_PREFIX}{}",
                self.hmac(&entry.accessor)
            )));
            if let Some(parent) = &entry.parent {
                ops.push(StorageOp::Delete(format!("{PARENT_PREFIX}{parent}/{key}")));
            }
            if let Some(at) = entry.expire_time {
                ops.push(expiration::index_delete(at, key));
            }
        }
        if drop_child_links || entry.is_some() {
            for child in self.storage.list(&format!("{PARENT_PREFIX}{key}/")).await? {
                ops.push(StorageOp::Delete(format!(
                    "{PARENT_PREFIX}{key}/{}",
                    child.trim_end_matches('/')
                )));
            }
        }
        self.storage.commit(ops).await?;
        self.written(key);
        if entry.is_some() {
            crate::metrics::metrics().tokens.dec();
        }
        Ok(())
    }

    /// The keys of every stored token, expired or not (for the index's first build).
    pub(super) async fn all_keys(&self) -> Result<Vec<String>, Error> {
        self.storage.list(ID_PREFIX).await
    }

    /// Every live accessor, for `auth/token/accessors`.
    pub async fn accessors(&self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for key in self.storage.list(ID_PREFIX).await? {
            // Live ones only: not expired, and no ancestor expired either.
            if let Some(entry) = self.lookup_key(&key).await? {
                out.push(entry.accessor.clone());
            }
        }
        out.sort();
        Ok(out)
    }

    pub async fn role(&self, name: &str) -> Result<Option<TokenRole>, Error> {
        match self.storage.get(&format!("{ROLE_PREFIX}{name}")).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::internal(format!("decoding token role: {e}"))),
            None => Ok(None),
        }
    }

    pub async fn put_role(&self, role: &TokenRole) -> Result<(), Error> {
        let bytes = serde_json::to_vec(role)
            .map_err(|e| Error::internal(format!("encoding token role: {e}")))?;
        self.storage
            .put(&format!("{ROLE_PREFIX}{}", role.name), bytes)
            .await
    }

    pub async fn delete_role(&self, name: &str) -> Result<(), Error> {
        self.storage.delete(&format!("{ROLE_PREFIX}{name}")).await
    }

    pub async fn roles(&self) -> Result<Vec<String>, Error> {
        self.storage.list(ROLE_PREFIX).await
    }

    /// Forgets every cached entry; called on seal.
    pub fn clear_cache(&self) {
        self.cache.invalidate_all();
    }

    #[cfg(test)]
    pub fn is_cached(&self, key: &str) -> bool {
        self.cache.contains_key(key)
    }

    #[cfg(test)]
    pub fn cached_entries(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

fn encode(entry: &TokenEntry) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(entry).map_err(|e| Error::internal(format!("encoding token entry: {e}")))
}

/// Unix seconds of a time.
pub fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::clock::ManualClock;
    use crate::logical::InmemStorage;

    fn entry(policies: &[&str], parent: Option<String>) -> TokenEntry {
        TokenEntry {
            accessor: generate_accessor(),
            parent,
            policies: policies.iter().map(|p| p.to_string()).collect(),
            path: "auth/token/create".into(),
            display_name: "token".into(),
            ..TokenEntry::default()
        }
    }

    async fn store() -> (TokenStore, Arc<InmemStorage>, Arc<ManualClock>) {
        let storage = Arc::new(InmemStorage::new());
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        ));
        (
            TokenStore::open(storage.clone(), clock.clone())
                .await
                .unwrap(),
            storage,
            clock,
        )
    }

    #[tokio::test]
    async fn tokens_are_stored_only_as_hmac() {
        let (store, storage, _) = store().await;
        let token = generate_token_id();
        assert!(token.starts_with("s.") && token.len() == 26);
        let e = entry(&["root"], None);
        let accessor = e.accessor.clone();
        store.create(&token, e).await.unwrap();
        let keys = storage.list(ID_PREFIX).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].len(), 64);
        assert!(!keys[0].contains(token.as_str()));
        for k in storage.list(ACCESSOR_PREFIX).await.unwrap() {
            assert!(!k.contains(&accessor));
        }
        assert!(store.lookup(&token).await.unwrap().unwrap().1.is_root());
        assert!(store.lookup("s.wrong").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn salt_survives_reopen() {
        let (store, storage, clock) = store().await;
        store.create("root", entry(&["root"], None)).await.unwrap();
        let reopened = TokenStore::open(storage, clock).await.unwrap();
        assert!(reopened.lookup("root").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn expired_tokens_are_refused_even_when_cached() {
        let (store, _, clock) = store().await;
        let mut e = entry(&["default"], None);
        e.expire_time = Some(store.now() + 60);
        store.create("t", e).await.unwrap();
        assert!(store.lookup("t").await.unwrap().is_some());
        clock.advance(Duration::from_secs(61));
        assert!(store.lookup("t").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn revoking_a_parent_revokes_its_children_at_once() {
        let (store, _, _) = store().await;
        let p = store
            .create("parent", entry(&["default"], None))
            .await
            .unwrap();
        let c = store
            .create("child", entry(&["default"], Some(p.clone())))
            .await
            .unwrap();
        store
            .create("grandchild", entry(&["default"], Some(c)))
            .await
            .unwrap();
        store
            .create("other", entry(&["default"], None))
            .await
            .unwrap();
        for t in ["parent", "child", "grandchild"] {
            assert!(store.lookup(t).await.unwrap().is_some(), "{t} cached");
        }
        store.revoke_tree(&p).await.unwrap();
        for t in ["parent", "child", "grandchild"] {
            assert!(store.lookup(t).await.unwrap().is_none(), "{t} revoked");
        }
        assert!(store.lookup("other").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn revoke_orphan_keeps_the_children() {
        let (store, _, _) = store().await;
        let p = store
            .create("parent", entry(&["default"], None))
            .await
            .unwrap();
        store
            .create("child", entry(&["default"], Some(p.clone())))
            .await
            .unwrap();
        store.revoke_orphan(&p).await.unwrap();
        assert!(store.lookup("parent").await.unwrap().is_none());
        let (_, child) = store.lookup("child").await.unwrap().unwrap();
        assert_eq!(child.parent, None);
    }

    #[tokio::test]
    async fn the_last_use_revokes_a_limited_token() {
        let (store, _, _) = store().await;
        let mut e = entry(&["default"], None);
        e.num_uses = 2;
        store.create("t", e).await.unwrap();
        let (k, e) = store.lookup("t").await.unwrap().unwrap();
        store.record_use(&k, &e).await.unwrap();
        let (k, e) = store.lookup("t").await.unwrap().unwrap();
        assert_eq!(e.num_uses, 1);
        store.record_use(&k, &e).await.unwrap();
        assert!(store.lookup("t").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn accessors_find_their_token() {
        let (store, _, _) = store().await;
        let e = entry(&["default"], None);
        let accessor = e.accessor.clone();
        let key = store.create("t", e).await.unwrap();
        assert_eq!(store.key_for_accessor(&accessor).await.unwrap(), Some(key));
        assert_eq!(store.accessors().await.unwrap(), vec![accessor]);
        assert_eq!(store.key_for_accessor("nope").await.unwrap(), None);
    }

    /// Holds the next read, after it has read, until the test releases it: a deterministic
    /// lookup that overlaps a revoke (as `barrier::tests::GatedReads`).
    struct GatedReads {
        inner: InmemStorage,
        armed: std::sync::atomic::AtomicBool,
        reached: tokio::sync::Notify,
        release: tokio::sync::Notify,
    }

    #[async_trait::async_trait]
    impl Storage for GatedReads {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            let value = self.inner.get(key).await;
            if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
                self.reached.notify_one();
                self.release.notified().await;
            }
            value
        }

        async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
            self.inner.list(prefix).await
        }

        async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), Error> {
            self.inner.commit(ops).await
        }
    }

    #[tokio::test]
    async fn a_lookup_that_raced_a_revoke_does_not_bring_the_token_back() {
        let gate = Arc::new(GatedReads {
            inner: InmemStorage::new(),
            armed: false.into(),
            reached: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
        });
        let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
        let store = Arc::new(TokenStore::open(gate.clone(), clock).await.unwrap());
        let key = store.create("t", entry(&["default"], None)).await.unwrap();
        assert!(!store.is_cached(&key));

        gate.armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let reader = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.lookup("t").await }
        });
        gate.reached.notified().await; // the lookup holds the entry, read before the revoke
        store.revoke_tree(&key).await.unwrap();
        gate.release.notify_one();

        // The overlapping lookup may answer with what it read, but must not cache it.
        assert!(reader.await.unwrap().unwrap().is_some());
        assert!(!store.is_cached(&key), "revoked entry cached");
        assert!(store.lookup("t").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_child_of_an_expired_parent_is_refused() {
        let (store, _, clock) = store().await;
        let mut p = entry(&["default"], None);
        p.expire_time = Some(store.now() + 60);
        let pk = store.create("parent", p).await.unwrap();
        let mut c = entry(&["default"], Some(pk));
        c.expire_time = Some(store.now() + 600);
        store.create("child", c).await.unwrap();
        assert!(store.lookup("child").await.unwrap().is_some());
        clock.advance(Duration::from_secs(61));
        assert!(store.lookup("child").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn clearing_the_cache_empties_it() {
        let (store, _, _) = store().await;
        store.create("root", entry(&["root"], None)).await.unwrap();
        store.lookup("root").await.unwrap();
        assert_eq!(store.cached_entries(), 1);
        store.clear_cache();
        assert_eq!(store.cached_entries(), 0);
    }
}
