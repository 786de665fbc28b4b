//! The token store. Only a salted HMAC-SHA256 of a token id is ever stored or used as a cache
//! key, so neither the database nor a memory dump of the cache reveals a token.
//!
//! This issue needs the root token; the entry already carries what child tokens, TTLs and
//! accessors need, so the full `auth/token` backend plugs in here.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::logical::{Error, Storage};

/// Storage keys, relative to the token store's view (`sys/token/`).
const SALT_KEY: &str = "salt";
const ID_PREFIX: &str = "id/";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenEntry {
    /// HMAC of the accessor is not needed: an accessor is not a credential.
    pub accessor: String,
    pub policies: Vec<String>,
    /// The path that created the token, e.g. `auth/token/root`.
    pub path: String,
    pub display_name: String,
    /// Unix seconds.
    pub creation_time: u64,
    /// Seconds; 0 = no expiry (root).
    pub ttl: u64,
    #[serde(default)]
    pub meta: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub num_uses: u64,
    #[serde(default)]
    pub entity_id: String,
}

impl TokenEntry {
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }
}

/// A new random token id in OpenBao's shape: `s.` and 24 alphanumerics.
pub fn generate_token_id() -> Zeroizing<String> {
    let body: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    Zeroizing::new(format!("s.{body}"))
}

/// Looks tokens up by HMAC, with a cache of entries that the seal clears.
pub struct TokenStore {
    storage: Arc<dyn Storage>,
    salt: Zeroizing<Vec<u8>>,
    cache: moka::sync::Cache<String, Arc<TokenEntry>>,
}

impl TokenStore {
    /// Loads the salt, creating it on first use.
    pub async fn open(storage: Arc<dyn Storage>) -> Result<Self, Error> {
        let salt = match storage.get(SALT_KEY).await? {
            Some(salt) => Zeroizing::new(salt),
            None => {
                let mut salt = Zeroizing::new(vec![0u8; 32]);
                rand::thread_rng().fill(salt.as_mut_slice());
                storage.put(SALT_KEY, salt.to_vec()).await?;
                salt
            }
        };
        Ok(TokenStore {
            storage,
            salt,
            cache: moka::sync::Cache::new(10_000),
        })
    }

    /// The storage key of a token: `id/` + hex HMAC-SHA256(salt, token).
    fn key_of(&self, token: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.salt)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(token.as_bytes());
        format!("{ID_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Stores `entry` under the given token id.
    pub async fn create(&self, token: &str, entry: TokenEntry) -> Result<(), Error> {
        let key = self.key_of(token);
        let bytes = serde_json::to_vec(&entry)
            .map_err(|e| Error::internal(format!("encoding token entry: {e}")))?;
        self.storage.put(&key, bytes).await?;
        self.cache.invalidate(&key);
        Ok(())
    }

    /// The entry of a token, or `None` when it is unknown.
    pub async fn lookup(&self, token: &str) -> Result<Option<Arc<TokenEntry>>, Error> {
        let key = self.key_of(token);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(Some(hit));
        }
        let Some(bytes) = self.storage.get(&key).await? else {
            return Ok(None);
        };
        let entry: TokenEntry = serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("decoding token entry: {e}")))?;
        let entry = Arc::new(entry);
        self.cache.insert(key, entry.clone());
        Ok(Some(entry))
    }

    /// Forgets every cached entry; called on seal.
    pub fn clear_cache(&self) {
        self.cache.invalidate_all();
    }

    #[cfg(test)]
    pub fn cached_entries(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::InmemStorage;

    fn root_entry() -> TokenEntry {
        TokenEntry {
            accessor: "acc".into(),
            policies: vec!["root".into()],
            path: "auth/token/root".into(),
            display_name: "root".into(),
            creation_time: 0,
            ttl: 0,
            meta: None,
            num_uses: 0,
            entity_id: String::new(),
        }
    }

    #[tokio::test]
    async fn tokens_are_stored_only_as_hmac() {
        let storage = Arc::new(InmemStorage::new());
        let store = TokenStore::open(storage.clone()).await.unwrap();
        let token = generate_token_id();
        assert!(token.starts_with("s.") && token.len() == 26);
        store.create(&token, root_entry()).await.unwrap();
        let keys = storage.list(ID_PREFIX).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert!(!keys[0].contains(token.as_str()));
        assert_eq!(keys[0].len(), 64);
        assert!(store.lookup(&token).await.unwrap().unwrap().is_root());
        assert!(store.lookup("s.wrong").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn salt_survives_reopen() {
        let storage = Arc::new(InmemStorage::new());
        let store = TokenStore::open(storage.clone()).await.unwrap();
        store.create("root", root_entry()).await.unwrap();
        let reopened = TokenStore::open(storage).await.unwrap();
        assert!(reopened.lookup("root").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn clearing_the_cache_empties_it() {
        let store = TokenStore::open(Arc::new(InmemStorage::new()))
            .await
            .unwrap();
        store.create("root", root_entry()).await.unwrap();
        store.lookup("root").await.unwrap();
        assert_eq!(store.cached_entries(), 1);
        store.clear_cache();
        assert_eq!(store.cached_entries(), 0);
    }
}
