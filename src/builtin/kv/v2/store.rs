//! KV v2 records and where they live in the mount's storage.
//!
//! Layout (every key relative to the mount's storage view):
//!
//! - `config`: the engine's [`Config`].
//! - `meta/<key path>`: one [`KeyMeta`] per secret, holding the bookkeeping of every version.
//!   LIST reads these, so `meta/a` and `meta/a/b` list as `a` and `a/` under `meta/`.
//! - `versions/<hex sha256 of key path>/<n>`: the data of version `n` ([`VersionRecord`]).
//!
//! Version records are addressed by a hash of the key path, so no key path can reach another
//! key's versions: key `a` version 1 is `versions/H(a)/1`, and key `a/1` has its own
//! `meta/a/1` and `versions/H(a/1)/…`. The hash is fixed-length hex without `/`, so this holds
//! even for paths the core should never let through (NUL, empty segments).
//!
//! A write puts the version record and the updated metadata in one `commit`, together with
//! the deletion of pruned versions, so a crash leaves either the old or the new state.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clock::rfc3339;
use crate::logical::{Error, Map, Storage, StorageOp};

use crate::logical::duration::format_secs;

pub const CONFIG_KEY: &str = "config";
pub const META_PREFIX: &str = "meta/";
const VERSIONS_PREFIX: &str = "versions/";

/// Vault keeps 10 versions when neither the key nor the mount sets `max_versions`.
pub const DEFAULT_MAX_VERSIONS: u32 = 10;

pub fn meta_key(path: &str) -> String {
    format!("{META_PREFIX}{path}")
}

pub fn version_key(path: &str, version: u64) -> String {
    let digest = Sha256::digest(path.as_bytes());
    format!("{VERSIONS_PREFIX}{}/{version}", hex::encode(digest))
}

/// A point in time, as nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    pub fn from_system(t: SystemTime) -> Self {
        let nanos = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        Timestamp(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    pub fn plus_secs(self, secs: u64) -> Self {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1_000_000_000)))
    }

    pub fn rfc3339(self) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_nanos(self.0))
    }
}

/// The engine's `config` endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub max_versions: u32,
    pub cas_required: bool,
    /// Seconds; 0 is unset and a negative value (stored as -1) disables expiry for every key.
    pub delete_version_after: i64,
    pub metadata_cas_required: bool,
}

impl Config {
    pub fn to_data(&self) -> Map {
        let mut m = Map::new();
        m.insert("cas_required".into(), self.cas_required.into());
        m.insert(
            "delete_version_after".into(),
            format_secs(self.delete_version_after).into(),
        );
        m.insert("max_versions".into(), self.max_versions.into());
        m.insert(
            "metadata_cas_required".into(),
            self.metadata_cas_required.into(),
        );
        m
    }
}

/// The bookkeeping of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub created: Timestamp,
    /// When the version is (or will be) soft-deleted. A time in the future comes from
    /// `delete_version_after` and does not hide the version yet.
    pub deletion: Option<Timestamp>,
    pub destroyed: bool,
}

impl VersionMeta {
    pub fn is_deleted(&self, now: Timestamp) -> bool {
        self.deletion.is_some_and(|t| t <= now)
    }

    /// Neither soft-deleted nor destroyed: its data can be read.
    pub fn is_live(&self, now: Timestamp) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }
}

/// Everything about one secret except its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMeta {
    pub created: Timestamp,
    pub updated: Timestamp,
    pub current_version: u64,
    pub oldest_version: u64,
    pub max_versions: u32,
    pub cas_required: bool,
    /// Seconds, never negative for a key.
    pub delete_version_after: u64,
    pub custom_metadata: Option<BTreeMap<String, String>>,
    pub current_metadata_version: u64,
    pub metadata_cas_required: bool,
    pub versions: BTreeMap<u64, VersionMeta>,
}

impl KeyMeta {
    pub fn new(now: Timestamp) -> Self {
        KeyMeta {
            created: now,
            updated: now,
            current_version: 0,
            oldest_version: 0,
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: None,
            current_metadata_version: 0,
            metadata_cas_required: false,
            versions: BTreeMap::new(),
        }
    }

    fn custom_metadata_value(&self) -> Value {
        match &self.custom_metadata {
            Some(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect(),
            ),
            None => Value::Null,
        }
    }

    /// The `metadata` object of a data read or the body of a data write.
    pub fn version_data(&self, version: u64, vm: &VersionMeta) -> Map {
        let mut m = Map::new();
        m.insert("created_time".into(), vm.created.rfc3339().into());
        m.insert("custom_metadata".into(), self.custom_metadata_value());
        m.insert(
            "deletion_time".into(),
            vm.deletion
                .map(Timestamp::rfc3339)
                .unwrap_or_default()
                .into(),
        );
        m.insert("destroyed".into(), vm.destroyed.into());
        m.insert("version".into(), version.into());
        m
    }

    /// The body of `GET metadata/<path>`.
    pub fn to_data(&self) -> Map {
        let mut m = Map::new();
        m.insert("cas_required".into(), self.cas_required.into());
        m.insert("created_time".into(), self.created.rfc3339().into());
        m.insert(
            "current_metadata_version".into(),
            self.current_metadata_version.into(),
        );
        m.insert("current_version".into(), self.current_version.into());
        m.insert("custom_metadata".into(), self.custom_metadata_value());
        let dva = i64::try_from(self.delete_version_after).unwrap_or(i64::MAX);
        m.insert("delete_version_after".into(), format_secs(dva).into());
        m.insert("max_versions".into(), self.max_versions.into());
        m.insert(
            "metadata_cas_required".into(),
            self.metadata_cas_required.into(),
        );
        m.insert("oldest_version".into(), self.oldest_version.into());
        m.insert("updated_time".into(), self.updated.rfc3339().into());
        // Go prints map keys in string order ("10" before "2").
        let mut versions: Vec<(String, &VersionMeta)> = self
            .versions
            .iter()
            .map(|(n, vm)| (n.to_string(), vm))
            .collect();
        versions.sort_by(|a, b| a.0.cmp(&b.0));
        let mut vmap = Map::new();
        for (n, vm) in versions {
            let mut e = Map::new();
            e.insert("created_time".into(), vm.created.rfc3339().into());
            e.insert(
                "deletion_time".into(),
                vm.deletion
                    .map(Timestamp::rfc3339)
                    .unwrap_or_default()
                    .into(),
            );
            e.insert("destroyed".into(), vm.destroyed.into());
            vmap.insert(n, Value::Object(e));
        }
        m.insert("versions".into(), Value::Object(vmap));
        m
    }

    /// Drops the oldest versions beyond `max` and returns them, so their records are deleted
    /// in the same commit. Vault prunes only on data writes, not when `max_versions` shrinks.
    pub fn prune(&mut self, max: u32) -> Vec<u64> {
        let max = u64::from(max);
        if (self.versions.len() as u64) <= max {
            return Vec::new();
        }
        let last_to_delete = self.current_version.saturating_sub(max);
        let doomed: Vec<u64> = self
            .versions
            .range(..=last_to_delete)
            .map(|(n, _)| *n)
            .collect();
        for n in &doomed {
            self.versions.remove(n);
        }
        self.oldest_version = last_to_delete + 1;
        doomed
    }
}

/// The data of one version. `data` may be `null`: Vault accepts `{"data": null}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionRecord {
    pub data: Value,
}

/// The effective `delete_version_after` in seconds for a key, if its versions expire: the
/// smaller of the key's and the mount's when both are set; the mount's negative value turns
/// expiry off.
pub fn effective_delete_after(config: &Config, meta: &KeyMeta) -> Option<u64> {
    if config.delete_version_after < 0 {
        return None;
    }
    let mount = config.delete_version_after as u64;
    match (mount, meta.delete_version_after) {
        (0, 0) => None,
        (0, k) => Some(k),
        (c, 0) => Some(c),
        (c, k) => Some(c.min(k)),
    }
}

pub fn effective_max_versions(config: &Config, meta: &KeyMeta) -> u32 {
    if meta.max_versions > 0 {
        meta.max_versions
    } else if config.max_versions > 0 {
        config.max_versions
    } else {
        DEFAULT_MAX_VERSIONS
    }
}

// Decode failures never echo the stored bytes: version records hold secrets.
fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes)
        .map_err(|_| Error::internal(format!("kv: stored {what} record is corrupt")))
}

pub fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value)
        .map_err(|_| Error::internal(format!("kv: cannot encode {what} record")))
}

pub async fn load_config(storage: &dyn Storage) -> Result<Config, Error> {
    match storage.get(CONFIG_KEY).await? {
        Some(bytes) => decode(&bytes, "config"),
        None => Ok(Config::default()),
    }
}

pub async fn load_meta(storage: &dyn Storage, path: &str) -> Result<Option<KeyMeta>, Error> {
    match storage.get(&meta_key(path)).await? {
        Some(bytes) => decode(&bytes, "metadata").map(Some),
        None => Ok(None),
    }
}

pub async fn load_version(
    storage: &dyn Storage,
    path: &str,
    version: u64,
) -> Result<Option<VersionRecord>, Error> {
    match storage.get(&version_key(path, version)).await? {
        Some(bytes) => decode(&bytes, "version").map(Some),
        None => Ok(None),
    }
}

pub fn put_meta(path: &str, meta: &KeyMeta) -> Result<StorageOp, Error> {
    Ok(StorageOp::Put(meta_key(path), encode(meta, "metadata")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_of_different_paths_never_meet() {
        assert_ne!(version_key("a", 1), version_key("a/1", 1));
        assert_ne!(version_key("a", 11), version_key("a1", 1));
        let k = version_key("a/b", 7);
        assert!(k.starts_with(VERSIONS_PREFIX) && k.ends_with("/7"));
        assert_eq!(k.matches('/').count(), 2);
    }

    #[test]
    fn prune_keeps_the_newest_and_moves_oldest_version() {
        let now = Timestamp(0);
        let mut meta = KeyMeta::new(now);
        for n in 1..=4 {
            meta.versions.insert(
                n,
                VersionMeta {
                    created: now,
                    deletion: None,
                    destroyed: false,
                },
            );
            meta.current_version = n;
        }
        assert_eq!(meta.prune(2), vec![1, 2]);
        assert_eq!(meta.oldest_version, 3);
        assert_eq!(
            meta.versions.keys().copied().collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(meta.prune(2).is_empty());
        assert_eq!(meta.oldest_version, 3);
    }

    #[test]
    fn delete_after_takes_the_smaller_and_mount_can_disable() {
        let mut c = Config::default();
        let mut m = KeyMeta::new(Timestamp(0));
        assert_eq!(effective_delete_after(&c, &m), None);
        m.delete_version_after = 5;
        assert_eq!(effective_delete_after(&c, &m), Some(5));
        c.delete_version_after = 10;
        assert_eq!(effective_delete_after(&c, &m), Some(5));
        m.delete_version_after = 3600;
        assert_eq!(effective_delete_after(&c, &m), Some(10));
        c.delete_version_after = -1;
        assert_eq!(effective_delete_after(&c, &m), None);
    }
}
