//! `metadata/` and `config`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::logical::{Error, Map, Request, Response, Storage, StorageOp};

use super::data::validation_failed;
use super::store::{
    encode, load_config, load_meta, meta_key, put_meta, version_key, Config, KeyMeta, CONFIG_KEY,
    META_PREFIX,
};
use super::KvV2;
use crate::logical::duration::parse_duration_secs;
use crate::logical::fields::{
    go_quote, is_printable, multierror, warn_unknown, weak_bool, weak_int, weak_map, weak_string,
    FieldError,
};

const METADATA_FIELDS: &[&str] = &[
    "path",
    "cas_required",
    "max_versions",
    "delete_version_after",
    "custom_metadata",
    "metadata_cas_required",
    "metadata_cas",
    "after",
    "limit",
];
const CONFIG_FIELDS: &[&str] = &[
    "max_versions",
    "cas_required",
    "delete_version_after",
    "metadata_cas_required",
];

const MAX_CUSTOM_KEYS: usize = 64;
const MAX_CUSTOM_KEY_LEN: usize = 128;
const MAX_CUSTOM_VALUE_LEN: usize = 512;

fn plain(e: FieldError) -> Error {
    Error::bad_request(e.to_string())
}

/// The fields of a metadata write or patch. As in Vault, an explicit `null` counts as given
/// (its zero value) for every field but `delete_version_after`, which ignores it.
#[derive(Default)]
struct MetaFields {
    max_versions: Option<i64>,
    cas_required: Option<bool>,
    delete_version_after: Option<u64>,
    /// `Some(None)` is an explicit `null`.
    custom_metadata: Option<Option<Map>>,
    metadata_cas_required: Option<bool>,
    metadata_cas: Option<i64>,
}

impl MetaFields {
    fn parse(data: &Map, wrap: fn(FieldError) -> Error) -> Result<Self, Error> {
        let mut f = MetaFields::default();
        if let Some(v) = data.get("max_versions") {
            f.max_versions = Some(weak_int("max_versions", v).map_err(wrap)?);
        }
        if let Some(v) = data.get("cas_required") {
            f.cas_required = Some(weak_bool("cas_required", v).map_err(wrap)?);
        }
        match data.get("delete_version_after") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let secs = parse_duration_secs(v).map_err(|reason| {
                    wrap(FieldError {
                        field: "delete_version_after",
                        reason,
                    })
                })?;
                let secs = u64::try_from(secs).map_err(|_| {
                    wrap(FieldError {
                        field: "delete_version_after",
                        reason: format!("cannot provide negative value '{secs}'"),
                    })
                })?;
                f.delete_version_after = Some(secs);
            }
        }
        if let Some(v) = data.get("custom_metadata") {
            f.custom_metadata = Some(weak_map("custom_metadata", v).map_err(wrap)?);
        }
        if let Some(v) = data.get("metadata_cas_required") {
            f.metadata_cas_required = Some(weak_bool("metadata_cas_required", v).map_err(wrap)?);
        }
        if let Some(v) = data.get("metadata_cas") {
            f.metadata_cas = Some(weak_int("metadata_cas", v).map_err(wrap)?);
        }
        Ok(f)
    }

    /// Whether the request changes anything; Vault ignores a write that only has `metadata_cas`
    /// or unknown fields, and creates nothing for it.
    fn changes_something(&self) -> bool {
        self.max_versions.is_some()
            || self.cas_required.is_some()
            || self.delete_version_after.is_some()
            || self.custom_metadata.is_some()
            || self.metadata_cas_required.is_some()
    }
}

fn custom_value(v: &Value) -> Result<String, Error> {
    weak_string(v)
        .map_err(|e| Error::bad_request(format!("custom_metadata validation failed: {e}")))
}

/// Vault's limits on custom_metadata, all reported at once.
fn validate_custom_metadata(m: &BTreeMap<String, String>) -> Result<(), Error> {
    let mut errors = Vec::new();
    if m.len() > MAX_CUSTOM_KEYS {
        errors.push(format!(
            "payload must contain at most {MAX_CUSTOM_KEYS} keys, provided {}",
            m.len()
        ));
    }
    for (k, v) in m {
        if k.is_empty() || k.len() > MAX_CUSTOM_KEY_LEN {
            errors.push(format!(
                "length of key {} is {} but must be 0 < len(key) <= {MAX_CUSTOM_KEY_LEN}",
                go_quote(k),
                k.len()
            ));
        }
        if !k.chars().all(is_printable) {
            errors.push(format!(
                "key {} ({k}) contains unprintable characters",
                go_quote(k)
            ));
        }
        if v.is_empty() || v.len() > MAX_CUSTOM_VALUE_LEN {
            errors.push(format!(
                "length of value for key {} is {} but must be 0 < len(value) <= {MAX_CUSTOM_VALUE_LEN}",
                go_quote(k),
                v.len()
            ));
        }
        if !v.chars().all(is_printable) {
            errors.push(format!(
                "value for key {} contains unprintable characters",
                go_quote(k)
            ));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let errors: Vec<String> = errors
        .into_iter()
        .map(|e| format!("custom_metadata validation failed: {e}"))
        .collect();
    Err(Error::bad_request(multierror(&errors)))
}

fn non_empty(m: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

/// Metadata check-and-set, which OpenBao adds to Vault's API.
fn check_metadata_cas(
    config: &Config,
    meta: Option<&KeyMeta>,
    cas: Option<i64>,
) -> Result<(), Error> {
    let required = config.metadata_cas_required || meta.is_some_and(|m| m.metadata_cas_required);
    match (cas, meta) {
        (None, _) if required => Err(Error::bad_request(
            "metadata check-and-set parameter required for this call",
        )),
        (Some(c), None) if c != 0 => Err(Error::bad_request(
            "metadata_cas must be 0 when creating new metadata",
        )),
        (Some(c), Some(m)) if u64::try_from(c).ok() != Some(m.current_metadata_version) => {
            Err(Error::bad_request(
                "metadata check-and-set parameter does not match the current version",
            ))
        }
        _ => Ok(()),
    }
}

impl KvV2 {
    pub(super) async fn read_metadata(
        &self,
        req: &Request,
        storage: &dyn Storage,
        key: &str,
    ) -> Result<Response, Error> {
        let Some(meta) = load_meta(storage, key).await? else {
            return Err(Error::NotFound);
        };
        let mut resp = Response::data(meta.to_data());
        warn_unknown(&mut resp, &req.data, METADATA_FIELDS);
        Ok(resp)
    }

    pub(super) async fn write_metadata(
        &self,
        req: &Request,
        storage: &dyn Storage,
        key: &str,
    ) -> Result<Response, Error> {
        let fields = MetaFields::parse(&req.data, plain)?;
        if !fields.changes_something() {
            return Ok(Response::empty());
        }
        // Given as a whole on a write: `null` values become "" and fail validation, as in Vault.
        let custom = match &fields.custom_metadata {
            Some(Some(m)) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    out.insert(k.clone(), custom_value(v)?);
                }
                validate_custom_metadata(&out)?;
                Some(non_empty(out))
            }
            Some(None) => Some(None),
            None => None,
        };
        let _guard = self.lock_key(key).await;
        let config = load_config(storage).await?;
        let meta = load_meta(storage, key).await?;
        check_metadata_cas(&config, meta.as_ref(), fields.metadata_cas)?;
        let now = self.now();
        let mut meta = meta.unwrap_or_else(|| KeyMeta::new(now));
        if let Some(n) = fields.max_versions {
            // Vault stores the int in a uint32 without a range check: -1 becomes 4294967295.
            meta.max_versions = n as u32;
        }
        if let Some(b) = fields.cas_required {
            meta.cas_required = b;
        }
        if let Some(secs) = fields.delete_version_after {
            meta.delete_version_after = secs;
        }
        if let Some(c) = custom {
            meta.custom_metadata = c;
        }
        if let Some(b) = fields.metadata_cas_required {
            meta.metadata_cas_required = b;
        }
        meta.current_metadata_version += 1;
        meta.updated = now;
        storage.commit(vec![put_meta(key, &meta)?]).await?;
        Ok(Response::empty())
    }

    pub(super) async fn patch_metadata(
        &self,
        req: &Request,
        storage: &dyn Storage,
        key: &str,
    ) -> Result<Response, Error> {
        let fields = MetaFields::parse(&req.data, validation_failed)?;
        if let Some(n) = fields.max_versions {
            // Vault fails these with a 500 from its JSON decoder; a client error is a 400 here.
            if u32::try_from(n).is_err() {
                return Err(Error::bad_request(format!(
                    "max_versions must be between 0 and {}, got {n}",
                    u32::MAX
                )));
            }
        }
        if !fields.changes_something() {
            return Ok(Response::empty());
        }
        // A patch's `null` values remove keys; the rest must convert to strings.
        let custom_patch: Option<Option<BTreeMap<String, Option<String>>>> =
            match &fields.custom_metadata {
                Some(Some(m)) => {
                    let mut out = BTreeMap::new();
                    for (k, v) in m {
                        let v = if v.is_null() {
                            None
                        } else {
                            Some(custom_value(v)?)
                        };
                        out.insert(k.clone(), v);
                    }
                    Some(Some(out))
                }
                Some(None) => Some(None),
                None => None,
            };
        let _guard = self.lock_key(key).await;
        let config = load_config(storage).await?;
        // Vault answers a PATCH of missing metadata with an empty 404.
        let Some(mut meta) = load_meta(storage, key).await? else {
            return Ok(Response::empty_not_found());
        };
        check_metadata_cas(&config, Some(&meta), fields.metadata_cas)?;
        if let Some(n) = fields.max_versions {
            meta.max_versions = u32::try_from(n).unwrap_or_default();
        }
        if let Some(b) = fields.cas_required {
            meta.cas_required = b;
        }
        if let Some(secs) = fields.delete_version_after {
            meta.delete_version_after = secs;
        }
        match custom_patch {
            Some(Some(patch)) => {
                let mut merged = meta.custom_metadata.take().unwrap_or_default();
                for (k, v) in patch {
                    match v {
                        Some(v) => {
                            merged.insert(k, v);
                        }
                        None => {
                            merged.remove(&k);
                        }
                    }
                }
                validate_custom_metadata(&merged)?;
                meta.custom_metadata = non_empty(merged);
            }
            Some(None) => meta.custom_metadata = None,
            None => {}
        }
        if let Some(b) = fields.metadata_cas_required {
            meta.metadata_cas_required = b;
        }
        meta.current_metadata_version += 1;
        meta.updated = self.now();
        storage.commit(vec![put_meta(key, &meta)?]).await?;
        Ok(Response::empty())
    }

    /// `DELETE metadata/<path>`: the key and every version, in one commit.
    pub(super) async fn delete_metadata(
        &self,
        storage: &dyn Storage,
        key: &str,
    ) -> Result<Response, Error> {
        let _guard = self.lock_key(key).await;
        let Some(meta) = load_meta(storage, key).await? else {
            return Ok(Response::empty());
        };
        let mut ops: Vec<StorageOp> = meta
            .versions
            .iter()
            .filter(|(_, vm)| !vm.destroyed)
            .map(|(n, _)| StorageOp::Delete(version_key(key, *n)))
            .collect();
        ops.push(StorageOp::Delete(meta_key(key)));
        storage.commit(ops).await?;
        Ok(Response::empty())
    }

    /// `LIST metadata/<prefix>/`, with OpenBao's `after` and `limit` paging.
    pub(super) async fn list_metadata(
        &self,
        req: &Request,
        storage: &dyn Storage,
        prefix: &str,
    ) -> Result<Response, Error> {
        let after = match req.data.get("after") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let limit = match req.data.get("limit") {
            Some(v) => weak_int("limit", v).map_err(validation_failed)?,
            None => 0,
        };
        let mut keys = storage.list(&format!("{META_PREFIX}{prefix}")).await?;
        if !after.is_empty() {
            keys.retain(|k| k.as_str() > after.as_str());
        }
        if let Ok(limit) = usize::try_from(limit) {
            if limit > 0 {
                keys.truncate(limit);
            }
        }
        let mut resp = Response::list(keys)?;
        warn_unknown(&mut resp, &req.data, METADATA_FIELDS);
        Ok(resp)
    }

    pub(super) async fn read_config(
        &self,
        req: &Request,
        storage: &dyn Storage,
    ) -> Result<Response, Error> {
        let config = load_config(storage).await?;
        let mut resp = Response::data(config.to_data());
        warn_unknown(&mut resp, &req.data, CONFIG_FIELDS);
        Ok(resp)
    }

    pub(super) async fn write_config(
        &self,
        req: &Request,
        storage: &dyn Storage,
    ) -> Result<Response, Error> {
        let data = &req.data;
        let max_versions = match data.get("max_versions") {
            Some(v) => Some(weak_int("max_versions", v).map_err(validation_failed)?),
            None => None,
        };
        let cas_required = match data.get("cas_required") {
            Some(v) => Some(weak_bool("cas_required", v).map_err(validation_failed)?),
            None => None,
        };
        let delete_version_after = match data.get("delete_version_after") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_duration_secs(v).map_err(|reason| {
                validation_failed(FieldError {
                    field: "delete_version_after",
                    reason,
                })
            })?),
        };
        let metadata_cas_required = match data.get("metadata_cas_required") {
            Some(v) => Some(weak_bool("metadata_cas_required", v).map_err(validation_failed)?),
            None => None,
        };
        let _guard = self.config_lock.lock().await;
        let mut config = load_config(storage).await?;
        if let Some(n) = max_versions {
            // Same unchecked uint32 conversion as Vault.
            config.max_versions = n as u32;
        }
        if let Some(b) = cas_required {
            config.cas_required = b;
        }
        if let Some(secs) = delete_version_after {
            // The mount accepts a negative value, meaning "never expire" for every key.
            config.delete_version_after = if secs < 0 { -1 } else { secs };
        }
        if let Some(b) = metadata_cas_required {
            config.metadata_cas_required = b;
        }
        storage
            .commit(vec![StorageOp::Put(
                CONFIG_KEY.to_string(),
                encode(&config, "config")?,
            )])
            .await?;
        Ok(Response::empty())
    }
}
