//! `data/`, `subkeys/`, `delete/`, `undelete/` and `destroy/`.

use serde_json::Value;

use crate::logical::{Error, Map, Request, Response, Storage, StorageOp};

use super::store::{
    effective_delete_after, effective_max_versions, encode, load_config, load_meta, load_version,
    put_meta, version_key, KeyMeta, Timestamp, VersionMeta, VersionRecord,
};
use super::KvV2;
use crate::logical::fields::{sorted, warn_unknown, weak_int, weak_int_list, weak_map, FieldError};

const DATA_FIELDS: &[&str] = &["path", "version", "options", "data"];
const SUBKEYS_FIELDS: &[&str] = &["path", "version", "depth"];

const CAS_REQUIRED: &str = "check-and-set parameter required for this call";
const CAS_MISMATCH: &str = "check-and-set parameter did not match the current version";

/// Vault validates read parameters and PATCH bodies before the handler runs, and says so.
pub(super) fn validation_failed(e: FieldError) -> Error {
    Error::bad_request(format!("Field validation failed: {e}"))
}

fn plain(e: FieldError) -> Error {
    Error::bad_request(e.to_string())
}

/// A `version` parameter; zero, negative or absent mean the latest.
fn requested_version(req: &Request) -> Result<Option<u64>, Error> {
    match req.data.get("version") {
        None => Ok(None),
        Some(v) => {
            let n = weak_int("version", v).map_err(validation_failed)?;
            Ok(u64::try_from(n).ok().filter(|n| *n > 0))
        }
    }
}

/// The parsed body of a data write or patch.
struct WriteBody {
    data: Value,
    cas: Option<i64>,
}

/// Decodes `data` and `options.cas` in Vault's order: conversion errors first, then a missing
/// `data`, then a malformed `cas`.
fn parse_write_body(
    req: &Request,
    on_field_error: fn(FieldError) -> Error,
) -> Result<WriteBody, Error> {
    let data = match req.data.get("data") {
        Some(v) => Some(weak_map("data", v).map_err(on_field_error)?),
        None => None,
    };
    let options = match req.data.get("options") {
        Some(v) => weak_map("options", v).map_err(on_field_error)?,
        None => None,
    };
    let Some(data) = data else {
        return Err(Error::bad_request("no data provided"));
    };
    let cas = match options.as_ref().and_then(|o| o.get("cas")) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            weak_int("cas", v)
                .map_err(|_| Error::bad_request("error parsing check-and-set parameter"))?,
        ),
    };
    let data = data.map_or(Value::Null, |m| sorted(Value::Object(m)));
    Ok(WriteBody { data, cas })
}

fn check_cas(cas_required: bool, cas: Option<i64>, current: u64) -> Result<(), Error> {
    match cas {
        None if cas_required => Err(Error::bad_request(CAS_REQUIRED)),
        Some(c) if u64::try_from(c).ok() != Some(current) => Err(Error::bad_request(CAS_MISMATCH)),
        _ => Ok(()),
    }
}

/// How `delete/`, `undelete/` and `destroy/` change the versions they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VersionChange {
    Delete,
    Undelete,
    Destroy,
}

impl KvV2 {
    pub(super) async fn read_data(
        &self,
        req: &Request,
        storage: &dyn Storage,
        key: &str,
    ) -> Result<Response, Error> {
        let wanted = requested_version(req)?;
        let (metadata, record) = self.read_version(storage, key, wanted).await?;
        let mut body = Map::new();
        let Some(record) = record else {
            // A deleted or destroyed version is a 404 that still says which version it is.
            body.insert("data".into(), Value::Null);
            body.insert("metadata".into(), metadata);
            return Ok(Response::data(body).with_status(404));
        };
        body.insert("data".into(), record.data);
        body.insert("metadata".into(), metadata);
        let mut resp = Response::data(body);
        warn_unknown(&mut resp, &req.data, DATA_FIELDS);
        Ok(resp)
    }

    pub(super) async fn write_data(
        &self,
        req: &Request,
        storage: &dyn Storage,
        key: &str,
    ) -> Result<Response, Error> {
        let body = parse_write_body(req, plain)?;
        let _guard = self.lock_key(key).await;
        let config = load_config(storage).await?;
        let meta = load_meta(storage, key).await?;
        let cas_required = config.cas_required || meta.as_ref().is_some_and(|m| m.cas_required);
        let current = meta.as_ref().map_or(0, |m| m.current_version);
        check_cas(cas_required, body.cas, current)?;
        // A new key's metadata is created at the same instant as its first version.
        let now = self.now();
        let meta = meta.unwrap_or_else(|| KeyMeta::new(now));
        let mut resp = self
            .commit_version(storage, key, &config, meta, body.data, now)
            .await?;
        warn_unknown(&mut resp, &req.data, DATA_FIELDS);
        Ok(resp)
    }

    pub(super) async fn patch_data(
        &self,
        req: &Request,
        storage: &dyn Storage,
        key: &str,
    ) -> Result<Response, Error> {
        let body = parse_write_body(req, validation_failed)?;
        let _guard = self.lock_key(key).await;
        let config = load_config(storage).await?;
        // Vault answers a PATCH of a missing secret with an empty 404.
        let Some(meta) = load_meta(storage, key).await? else {
            return Ok(Response::empty_not_found());
        };
        let current = meta.current_version;
        let Some(vm) = meta.versions.get(&current) else {
            return Ok(Response::empty_not_found());
        };
        check_cas(config.cas_required || meta.cas_required, body.cas, current)?;
        let now = self.now();
        if !vm.is_live(now) {
            // Unlike a read, Vault puts the version's metadata directly in `data` here.
            return Ok(Response::data(meta.version_data(current, vm)).with_status(404));
        }
        let Some(record) = load_version(storage, key, current).await? else {
            return Err(Error::NotFound);
        };
        if record.data.is_null() {
            // Vault cannot patch a version written as `{"data": null}`; it fails this way.
            return Err(Error::internal(
                "1 error occurred:\n\t* resource does not exist\n\n",
            ));
        }
        let mut merged = record.data;
        json_patch::merge(&mut merged, &body.data);
        let mut resp = self
            .commit_version(storage, key, &config, meta, sorted(merged), now)
            .await?;
        warn_unknown(&mut resp, &req.data, DATA_FIELDS);
        Ok(resp)
    }

    /// Adds `data` as the next version of `key`, prunes beyond `max_versions`, and commits the
    /// version, the metadata and the pruning at once. The caller holds the key's lock.
    async fn commit_version(
        &self,
        storage: &dyn Storage,
        key: &str,
        config: &super::store::Config,
        mut meta: KeyMeta,
        data: Value,
        now: Timestamp,
    ) -> Result<Response, Error> {
        let version = meta.current_version + 1;
        let vm = VersionMeta {
            created: now,
            deletion: effective_delete_after(config, &meta).map(|secs| now.plus_secs(secs)),
            destroyed: false,
        };
        meta.versions.insert(version, vm.clone());
        meta.current_version = version;
        meta.updated = now;
        let pruned = meta.prune(effective_max_versions(config, &meta));

        let record = VersionRecord { data };
        let mut ops = vec![
            StorageOp::Put(version_key(key, version), encode(&record, "version")?),
            put_meta(key, &meta)?,
        ];
        ops.extend(
            pruned
                .into_iter()
                .map(|n| StorageOp::Delete(version_key(key, n))),
        );
        storage.commit(ops).await?;
        Ok(Response::data(meta.version_data(version, &vm)))
    }

    /// `DELETE data/<path>`: soft-deletes the latest version.
    pub(super) async fn delete_latest(
        &self,
        storage: &dyn Storage,
        key: &str,
    ) -> Result<Response, Error> {
        let _guard = self.lock_key(key).await;
        let Some(mut meta) = load_meta(storage, key).await? else {
            return Ok(Response::empty());
        };
        let now = self.now();
        let current = meta.current_version;
        let Some(vm) = meta.versions.get_mut(&current) else {
            return Ok(Response::empty());
        };
        if !vm.is_live(now) {
            return Ok(Response::empty());
        }
        vm.deletion = Some(now);
        storage.commit(vec![put_meta(key, &meta)?]).await?;
        Ok(Response::empty())
    }

    pub(super) async fn change_versions(
        &self,
        req: &Request,
        storage: &dyn Storage,
        key: &str,
        change: VersionChange,
    ) -> Result<Response, Error> {
        let versions = match req.data.get("versions") {
            Some(v) => weak_int_list("versions", v).map_err(validation_failed)?,
            None => Vec::new(),
        };
        if versions.is_empty() {
            // Vault's destroy endpoint spells it in lower case.
            let msg = match change {
                VersionChange::Destroy => "no version number provided",
                VersionChange::Delete | VersionChange::Undelete => "No version number provided",
            };
            return Err(Error::bad_request(msg));
        }
        let _guard = self.lock_key(key).await;
        let Some(mut meta) = load_meta(storage, key).await? else {
            return Ok(Response::empty());
        };
        let config = load_config(storage).await?;
        let now = self.now();
        let undelete_deadline = effective_delete_after(&config, &meta).map(|s| now.plus_secs(s));
        let mut ops = Vec::new();
        let mut changed = false;
        for n in versions.into_iter().filter_map(|n| u64::try_from(n).ok()) {
            let Some(vm) = meta.versions.get_mut(&n) else {
                continue;
            };
            if vm.destroyed {
                continue;
            }
            match change {
                VersionChange::Delete => {
                    if !vm.is_deleted(now) {
                        vm.deletion = Some(now);
                        changed = true;
                    }
                }
                // Undelete restarts the expiry clock, even for a version that was not deleted.
                VersionChange::Undelete => {
                    vm.deletion = undelete_deadline;
                    changed = true;
                }
                VersionChange::Destroy => {
                    vm.destroyed = true;
                    ops.push(StorageOp::Delete(version_key(key, n)));
                    changed = true;
                }
            }
        }
        if changed {
            ops.push(put_meta(key, &meta)?);
            storage.commit(ops).await?;
        }
        Ok(Response::empty())
    }

    /// The version a read asks for (`wanted`, else the current one): its metadata as a read
    /// shows it, and its record, or `None` when it is deleted or destroyed. A key or version
    /// that never existed is a 404.
    async fn read_version(
        &self,
        storage: &dyn Storage,
        key: &str,
        wanted: Option<u64>,
    ) -> Result<(Value, Option<VersionRecord>), Error> {
        let Some(meta) = load_meta(storage, key).await? else {
            return Err(Error::NotFound);
        };
        let version = wanted.unwrap_or(meta.current_version);
        let Some(vm) = meta.versions.get(&version) else {
            return Err(Error::NotFound);
        };
        let metadata = Value::Object(meta.version_data(version, vm));
        if !vm.is_live(self.now()) {
            return Ok((metadata, None));
        }
        let Some(record) = load_version(storage, key, version).await? else {
            return Err(Error::NotFound);
        };
        Ok((metadata, Some(record)))
    }

    pub(super) async fn read_subkeys(
        &self,
        req: &Request,
        storage: &dyn Storage,
        key: &str,
    ) -> Result<Response, Error> {
        let wanted = requested_version(req)?;
        let depth = match req.data.get("depth") {
            Some(v) => weak_int("depth", v).map_err(validation_failed)?,
            None => 0,
        };
        let (metadata, record) = self.read_version(storage, key, wanted).await?;
        let mut body = Map::new();
        body.insert("metadata".into(), metadata);
        let Some(record) = record else {
            body.insert("subkeys".into(), Value::Null);
            return Ok(Response::data(body).with_status(404));
        };
        let subkeys = match record.data {
            Value::Object(m) => Value::Object(subkeys(&m, depth, 1)),
            _ => Value::Null,
        };
        body.insert("subkeys".into(), subkeys);
        let mut resp = Response::data(body);
        warn_unknown(&mut resp, &req.data, SUBKEYS_FIELDS);
        Ok(resp)
    }
}

/// The keys of `data` with every leaf replaced by `null`. `depth` 0 is unlimited; any other
/// value stops at that level, and a negative one behaves as 1, as in Vault.
fn subkeys(data: &Map, depth: i64, level: i64) -> Map {
    data.iter()
        .map(|(k, v)| {
            let below = match v {
                Value::Object(inner) if !inner.is_empty() && (depth == 0 || level < depth) => {
                    Value::Object(subkeys(inner, depth, level + 1))
                }
                _ => Value::Null,
            };
            (k.clone(), below)
        })
        .collect()
}
