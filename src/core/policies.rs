//! The policy store: ACL policies by name, parsed once when written and cached until the next
//! write, so a changed policy applies to the very next request.
//!
//! Stored through the barrier under `sys/policy/<name>` as the policy's text. `root` is built
//! in and cannot be stored; `default` is built in until an operator writes their own.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::generation::Generation;
use crate::logical::{Error, Storage};
use crate::policy::{self, Policy, DEFAULT_POLICY_NAME, ROOT_POLICY_NAME};

/// A stored policy: its text as written, and when and how often it was written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredPolicy {
    pub text: String,
    pub version: u64,
    /// RFC 3339; empty for a built-in that was never written.
    pub modified: String,
}

pub struct PolicyStore {
    storage: Arc<dyn Storage>,
    /// Parsed policies, tagged with the generation they were read at.
    cache: moka::sync::Cache<String, (u64, Arc<Policy>)>,
    generation: Generation,
}

impl PolicyStore {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        PolicyStore {
            storage,
            cache: moka::sync::Cache::new(10_000),
            generation: Generation::default(),
        }
    }

    /// The policy called `name` (normalized), or `None` if there is none.
    pub async fn get(&self, name: &str) -> Result<Option<Arc<Policy>>, Error> {
        let name = policy::normalize_name(name);
        if name == ROOT_POLICY_NAME {
            return Ok(Some(Arc::new(Policy::root())));
        }
        let seen = self.generation.current();
        if let Some((built, hit)) = self.cache.get(&name) {
            if built == seen {
                return Ok(Some(hit));
            }
        }
        let parsed = match self.stored(&name).await? {
            Some(stored) => Policy::parse(&name, &stored.text)?,
            None if name == DEFAULT_POLICY_NAME => Policy::default_policy(),
            None => return Ok(None),
        };
        let parsed = Arc::new(parsed);
        self.cache.insert(name, (seen, parsed.clone()));
        Ok(Some(parsed))
    }

    /// The stored record of a policy; the built-in `default` reads as its initial text.
    pub async fn stored(&self, name: &str) -> Result<Option<StoredPolicy>, Error> {
        let name = policy::normalize_name(name);
        match self.storage.get(&name).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::internal(format!("corrupt policy record: {e}"))),
            None if name == DEFAULT_POLICY_NAME => Ok(Some(StoredPolicy {
                text: Policy::default_policy().raw().to_string(),
                ..StoredPolicy::default()
            })),
            None => Ok(None),
        }
    }

    /// Stores a policy; returns the lint warnings of its text.
    pub async fn put(&self, name: &str, text: &str, now: String) -> Result<Vec<String>, Error> {
        let name = policy::writable_name(name)?;
        if name.is_empty() {
            return Err(Error::bad_request("policy name cannot be empty"));
        }
        let parsed = Policy::parse(&name, text)?;
        let warnings = policy::warnings(parsed.paths());
        let version = match self.storage.get(&name).await? {
            Some(bytes) => serde_json::from_slice::<StoredPolicy>(&bytes)
                .map(|p| p.version)
                .unwrap_or(0),
            None => 0,
        };
        let record = StoredPolicy {
            text: text.to_string(),
            version: version + 1,
            modified: now,
        };
        let bytes = serde_json::to_vec(&record)
            .map_err(|e| Error::internal(format!("encoding policy: {e}")))?;
        let written = self.storage.put(&name, bytes).await;
        self.generation.advance();
        written?;
        Ok(warnings)
    }

    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let name = policy::deletable_name(name)?;
        let deleted = self.storage.delete(&name).await;
        self.generation.advance();
        deleted?;
        Ok(())
    }

    /// Every ACL policy name, `default` included, `root` not, sorted.
    pub async fn names(&self) -> Result<Vec<String>, Error> {
        let mut names = self.storage.list("").await?;
        names.retain(|n| !n.ends_with('/'));
        if !names.iter().any(|n| n == DEFAULT_POLICY_NAME) {
            names.push(DEFAULT_POLICY_NAME.to_string());
        }
        names.sort();
        Ok(names)
    }

    /// The policies behind a token's policy names; names with no policy are skipped, as in
    /// Vault (a token may name a policy that is written later).
    pub async fn resolve(&self, names: &[String]) -> Result<Vec<Arc<Policy>>, Error> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(p) = self.get(name).await? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Advances with every policy write; see [`Generation`].
    pub fn generation(&self) -> u64 {
        self.generation.current()
    }

    pub fn clear_cache(&self) {
        self.cache.invalidate_all();
    }
}
