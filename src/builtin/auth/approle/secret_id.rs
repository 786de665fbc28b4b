//! Secret-ids: `role/<name>/secret-id` (generate, LIST accessors), `custom-secret-id`,
//! `secret-id/lookup`, `secret-id/destroy`, `secret-id-accessor/lookup` and
//! `secret-id-accessor/destroy`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::cidr;
use super::super::input;
use super::super::internal;
use super::super::token_fields::SYSTEM_MAX_LEASE_TTL;
use super::role::load_role;
use super::{decode, encode, AppRole, Salt, MAX_HMAC_INPUT};
use crate::logical::fields::{go_quote, sorted_data};
use crate::logical::{Error, IpNet, Map, Request, Response, Storage, StorageOp};

const ACCESSOR_PREFIX: &str = "accessor/";

/// One secret-id as stored: everything about it except the secret-id itself.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct SecretIdEntry {
    pub accessor: String,
    /// Logins left; 0 = unlimited.
    pub num_uses: u64,
    /// As requested (before the cap at the mount's maximum), in seconds.
    pub ttl: u64,
    /// Unix nanoseconds.
    pub creation_time: u64,
    /// Unix nanoseconds; 0 = never.
    pub expiration_time: u64,
    pub last_updated_time: u64,
    pub metadata: BTreeMap<String, String>,
    pub cidr_list: Vec<String>,
    pub token_bound_cidrs: Vec<String>,
}

impl SecretIdEntry {
    pub fn expired(&self, now: u64) -> bool {
        self.expiration_time != 0 && now >= self.expiration_time
    }

    fn render(&self) -> Map {
        let mut data = Map::new();
        data.insert("cidr_list".into(), self.cidr_list.clone().into());
        data.insert(
            "creation_time".into(),
            time_string(self.creation_time).into(),
        );
        data.insert(
            "expiration_time".into(),
            time_string(self.expiration_time).into(),
        );
        data.insert(
            "last_updated_time".into(),
            time_string(self.last_updated_time).into(),
        );
        let metadata: Map = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        data.insert("metadata".into(), Value::Object(metadata));
        data.insert("secret_id_accessor".into(), self.accessor.clone().into());
        data.insert("secret_id_num_uses".into(), self.num_uses.into());
        data.insert("secret_id_ttl".into(), self.ttl.into());
        data.insert(
            "token_bound_cidrs".into(),
            self.token_bound_cidrs.clone().into(),
        );
        sorted_data(Value::Object(data))
    }
}

/// A stored secret-id found through its role, held under its lock.
struct LockedSecretId<'a> {
    salt: Salt,
    /// Where the entry is stored.
    key: String,
    entry: SecretIdEntry,
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

/// Where an accessor's index points: its secret-id's HMAC and storage key below a role.
struct IndexedSecretId {
    salt: Salt,
    secret_id_hmac: String,
    key: String,
    /// Whether the index names the role asked about as the owner.
    owned: bool,
}

impl IndexedSecretId {
    /// The secret-id this accessor names below the role asked about, if that role owns it:
    /// the index must name the role, and the stored secret-id must carry this very accessor.
    async fn owned_entry(
        &self,
        storage: &dyn Storage,
        accessor: &str,
    ) -> Result<Option<SecretIdEntry>, Error> {
        if !self.owned {
            return Ok(None);
        }
        let Some(bytes) = storage.get(&self.key).await? else {
            return Ok(None);
        };
        let entry: SecretIdEntry = decode(&bytes, "secret-id")?;
        Ok((entry.accessor == accessor).then_some(entry))
    }
}

/// The index from an accessor to its secret-id.
///
/// Two roles may hold the same (custom) secret-id, and so the same HMAC: the index must also
/// say whose it is, or one role's accessor paths would find the other's secret-id. OpenBao gets
/// this from a per-role HMAC key; here the owner is recorded and checked.
#[derive(Serialize, Deserialize)]
pub(super) struct AccessorEntry {
    pub secret_id_hmac: String,
    /// The owning role's secret-id directory ([`super::role::RoleEntry::secret_id_dir`]),
    /// which names the role by its own HMAC key, so a role deleted and made again under the
    /// same name owns nothing of the old one's. Empty in entries written before it was kept.
    #[serde(default)]
    pub role_dir: String,
}

pub(super) fn accessor_key(salt: &Salt, accessor: &str) -> String {
    format!("{ACCESSOR_PREFIX}{}", salt.hmac("accessor", accessor))
}

pub(super) fn secret_id_hmac(salt: &Salt, secret_id: &str) -> String {
    salt.hmac("secret_id", secret_id)
}

pub(super) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Go's RFC3339Nano of a time; the zero time (`0001-01-01T00:00:00Z`) for 0, as Vault shows
/// a secret-id that never expires.
fn time_string(nanos: u64) -> String {
    if nanos == 0 {
        return "0001-01-01T00:00:00Z".to_string();
    }
    crate::clock::rfc3339(UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Vault's `ParseArbitraryKeyValues(.., ",")`: a JSON object of strings, or `k=v,k2=v2`.
fn parse_metadata(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if raw.trim().is_empty() {
        return Ok(out);
    }
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(raw) {
        if m.values().all(|v| v.is_string() || v.is_null()) {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                match m.get(k).and_then(Value::as_str) {
                    Some(v) if !v.is_empty() => {
                        out.insert(k.clone(), v.to_string());
                    }
                    _ => return Err(format!("invalid value for key {}", go_quote(k))),
                }
            }
            return Ok(out);
        }
    }
    let mut items: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    items.sort_unstable();
    items.dedup();
    for item in items {
        let parts: Vec<&str> = item.split('=').collect();
        let [k, v] = parts.as_slice() else {
            return Err("failed to parse the input: invalid <key,value> format".into());
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(format!(
                "failed to parse the input: invalid <key,value> pair: key: {} value: {}",
                go_quote(k),
                go_quote(v)
            ));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Vault's message when a secret-id's CIDRs are not inside the role's.
fn subset_error(role: &[String], secret: &[String]) -> Error {
    internal(format!(
        "failed to verify subset relationship between CIDR blocks on the role {} and CIDR blocks on the secret ID {}: %!w(<nil>)",
        cidr::go_quote_list(role),
        cidr::go_quote_list(secret)
    ))
}

/// Parses a secret-id's CIDR list strictly and checks it against the role's blocks.
fn check_subset(
    requested: &[String],
    role_blocks: &[String],
    what: &str,
) -> Result<Vec<IpNet>, Error> {
    let nets = requested
        .iter()
        .map(|c| {
            cidr::parse_cidr(c).map_err(|e| internal(format!("failed to validate {what}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if nets.is_empty() || role_blocks.is_empty() {
        return Ok(nets);
    }
    let role_nets = cidr::parse_stored(role_blocks)?;
    if !cidr::is_subset(&role_nets, &nets) {
        // Vault shows the role's single hosts with an explicit prefix here.
        let shown: Vec<String> = role_nets
            .iter()
            .map(|n| format!("{}/{}", n.addr, n.prefix))
            .collect();
        return Err(subset_error(&shown, requested));
    }
    Ok(nets)
}

/// A secret-id's own `num_uses` or `ttl`: the role's `cap` when not given. A given value may
/// not lift a role's cap, and 0 (unlimited) would, so both are refused with `too_high`.
fn within_role_cap(given: Option<u64>, cap: u64, too_high: &str) -> Result<u64, Error> {
    match given {
        Some(n) if cap > 0 && (n == 0 || n > cap) => Err(Error::bad_request(too_high)),
        Some(n) => Ok(n),
        None => Ok(cap),
    }
}

/// The secret-id fields, checked before anything else as Vault's field validation does.
struct SecretIdInput {
    metadata: String,
    cidr_list: Vec<String>,
    token_bound_cidrs: Vec<String>,
    num_uses: Option<i64>,
    ttl: Option<u64>,
}

fn secret_id_input(data: &Map) -> Result<SecretIdInput, Error> {
    let validation = |e: Error| Error::bad_request(format!("Field validation failed: {e}"));
    let metadata = input::string(data, "metadata").map_err(validation)?;
    Ok(SecretIdInput {
        metadata: metadata.unwrap_or_default(),
        cidr_list: input::comma_strings(data, "cidr_list")
            .map_err(validation)?
            .unwrap_or_default(),
        token_bound_cidrs: input::comma_strings(data, "token_bound_cidrs")
            .map_err(validation)?
            .unwrap_or_default(),
        num_uses: input::int(data, "num_uses").map_err(validation)?,
        ttl: input::duration(data, "ttl").map_err(validation)?,
    })
}

fn accessor_missing(accessor: &str) -> String {
    format!(
        "failed to find accessor entry for secret_id_accessor: {}",
        go_quote(accessor)
    )
}

fn role_missing(name: &str) -> String {
    format!("role {} does not exist", go_quote(name))
}

impl AppRole {
    /// Creates a secret-id for a role: a random one, or `custom`.
    pub(super) async fn generate_secret_id(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
        custom: Option<String>,
    ) -> Result<Response, Error> {
        let fields = secret_id_input(&req.data)?;
        if custom.as_deref() == Some("") {
            return Err(Error::bad_request("missing secret_id"));
        }
        if custom.as_ref().is_some_and(|s| s.len() > MAX_HMAC_INPUT) {
            return Err(Error::bad_request(format!(
                "secret_id is longer than maximum of {MAX_HMAC_INPUT} bytes"
            )));
        }
        // Held so that a concurrent deletion of the role cannot leave this secret-id behind.
        let _role_guard = self.role_lock.lock().await;
        let Some(role) = load_role(storage, name).await? else {
            return Err(Error::NoHandler(role_missing(name)));
        };
        if !role.bind_secret_id {
            return Err(Error::bad_request("bind_secret_id is not set on the role"));
        }
        check_subset(
            &fields.cidr_list,
            role.secret_id_bound_cidrs.as_deref().unwrap_or(&[]),
            "CIDR blocks",
        )?;
        check_subset(
            &fields.token_bound_cidrs,
            &role.token.token_bound_cidrs,
            "token CIDR blocks",
        )?;
        let num_uses = fields
            .num_uses
            .map(|n| {
                u64::try_from(n).map_err(|_| Error::bad_request("num_uses cannot be negative"))
            })
            .transpose()?;
        let num_uses = within_role_cap(
            num_uses,
            role.secret_id_num_uses,
            "num_uses cannot be higher than the role's secret_id_num_uses",
        )?;
        let ttl = within_role_cap(
            fields.ttl,
            role.secret_id_ttl,
            "ttl cannot be longer than the role's secret_id_ttl",
        )?;
        let metadata = parse_metadata(&fields.metadata)
            .map_err(|e| Error::bad_request(format!("failed to parse metadata: {e}")))?;

        let secret_id = custom.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let accessor = uuid::Uuid::new_v4().to_string();
        let salt = self.salt_or_create(storage).await?;
        let sid_hmac = secret_id_hmac(&salt, &secret_id);
        let key = format!("{}{sid_hmac}", role.secret_id_dir(&salt));

        let _secret_guard = self.lock_secret(&sid_hmac).await;
        let now = unix_nanos(self.now());
        let mut ops = Vec::new();
        if let Some(bytes) = storage.get(&key).await? {
            let old: SecretIdEntry = decode(&bytes, "secret-id")?;
            if !old.expired(now) {
                return Err(internal(
                    "failed to store secret_id: SecretID is already registered",
                ));
            }
            ops.push(StorageOp::Delete(accessor_key(&salt, &old.accessor)));
        }
        // Vault caps a secret-id's life at the mount's maximum lease TTL.
        let effective_ttl = ttl.min(SYSTEM_MAX_LEASE_TTL);
        let entry = SecretIdEntry {
            accessor: accessor.clone(),
            num_uses,
            ttl,
            creation_time: now,
            expiration_time: if effective_ttl > 0 {
                now.saturating_add(effective_ttl.saturating_mul(1_000_000_000))
            } else {
                0
            },
            last_updated_time: now,
            metadata,
            cidr_list: fields.cidr_list,
            token_bound_cidrs: fields.token_bound_cidrs,
        };
        ops.push(StorageOp::Put(
            accessor_key(&salt, &accessor),
            encode(
                &AccessorEntry {
                    secret_id_hmac: sid_hmac,
                    role_dir: role.secret_id_dir(&salt),
                },
                "accessor",
            )?,
        ));
        ops.push(StorageOp::Put(key, encode(&entry, "secret-id")?));
        storage.commit(ops).await?;

        let mut data = Map::new();
        data.insert("secret_id".into(), secret_id.into());
        data.insert("secret_id_accessor".into(), accessor.into());
        data.insert("secret_id_num_uses".into(), num_uses.into());
        data.insert("secret_id_ttl".into(), effective_ttl.into());
        let mut resp = Response::data(data);
        let mut known = vec![
            "role_name",
            "metadata",
            "cidr_list",
            "token_bound_cidrs",
            "num_uses",
            "ttl",
        ];
        if req.path.ends_with("custom-secret-id") {
            known.push("secret_id");
        }
        input::warn_unknown(&mut resp, &req.data, &known);
        Ok(resp)
    }

    /// LIST `role/<name>/secret-id`: the accessors of the role's live secret-ids.
    pub(super) async fn list_accessors(
        &self,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let Some(role) = load_role(storage, name).await? else {
            return Err(Error::bad_request(role_missing(name)));
        };
        let Some(salt) = self.salt(storage).await? else {
            return Err(Error::NotFound);
        };
        let now = unix_nanos(self.now());
        let dir = role.secret_id_dir(&salt);
        let mut accessors = Vec::new();
        for child in storage.list(&dir).await? {
            if let Some(bytes) = storage.get(&format!("{dir}{child}")).await? {
                let entry: SecretIdEntry = decode(&bytes, "secret-id")?;
                if !entry.expired(now) {
                    accessors.push(entry.accessor);
                }
            }
        }
        Response::list(accessors)
    }

    /// The secret-id that `req`'s `secret_id` names below role `name`, for the lookup and
    /// destroy paths, read under its lock (held as long as the answer lives). `Ok(None)` when
    /// nothing is stored under it.
    async fn locked_secret_id(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Option<LockedSecretId<'_>>, Error> {
        let secret_id = input::required_string(&req.data, "secret_id")?;
        let Some(role) = load_role(storage, name).await? else {
            return Err(internal(role_missing(name)));
        };
        let Some(salt) = self.salt(storage).await? else {
            return Ok(None);
        };
        let sid_hmac = secret_id_hmac(&salt, &secret_id);
        let key = format!("{}{sid_hmac}", role.secret_id_dir(&salt));
        let guard = self.lock_secret(&sid_hmac).await;
        let Some(bytes) = storage.get(&key).await? else {
            return Ok(None);
        };
        Ok(Some(LockedSecretId {
            salt,
            entry: decode(&bytes, "secret-id")?,
            key,
            _guard: guard,
        }))
    }

    pub(super) async fn lookup_secret_id(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let Some(found) = self.locked_secret_id(req, storage, name).await? else {
            return Ok(Response::empty());
        };
        if found.entry.expired(unix_nanos(self.now())) {
            return Ok(Response::empty());
        }
        if storage
            .get(&accessor_key(&found.salt, &found.entry.accessor))
            .await?
            .is_none()
        {
            // A secret-id without its accessor cannot be managed; Vault revokes it.
            storage.delete(&found.key).await?;
            return Err(Error::bad_request("invalid secret id"));
        }
        let mut resp = Response::data(found.entry.render());
        input::warn_unknown(&mut resp, &req.data, &["role_name", "secret_id"]);
        Ok(resp)
    }

    pub(super) async fn destroy_secret_id(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let Some(found) = self.locked_secret_id(req, storage, name).await? else {
            return Ok(Response::empty());
        };
        storage
            .commit(vec![
                StorageOp::Delete(accessor_key(&found.salt, &found.entry.accessor)),
                StorageOp::Delete(found.key),
            ])
            .await?;
        Ok(Response::empty())
    }

    /// The accessor that `req`'s `secret_id_accessor` names, for the accessor paths, and
    /// where its index points below role `name` (`None` when there is no such index entry).
    /// Only this role's secret-ids are looked at: another role's accessor finds nothing
    /// (`found.owned` is false), even when this role holds a secret-id of the same value.
    async fn locate_accessor(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<(String, Option<IndexedSecretId>), Error> {
        let accessor = input::required_string(&req.data, "secret_id_accessor")?;
        let Some(role) = load_role(storage, name).await? else {
            return Err(internal(role_missing(name)));
        };
        let Some(salt) = self.salt(storage).await? else {
            return Ok((accessor, None));
        };
        let Some(bytes) = storage.get(&accessor_key(&salt, &accessor)).await? else {
            return Ok((accessor, None));
        };
        let index: AccessorEntry = decode(&bytes, "accessor")?;
        let dir = role.secret_id_dir(&salt);
        // An entry from before the owner was kept is checked through the secret-id's own
        // record of its accessor, below.
        let owned = index.role_dir.is_empty() || index.role_dir == dir;
        let key = format!("{dir}{}", index.secret_id_hmac);
        let found = IndexedSecretId {
            salt,
            secret_id_hmac: index.secret_id_hmac,
            key,
            owned,
        };
        Ok((accessor, Some(found)))
    }

    pub(super) async fn lookup_accessor(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let (accessor, found) = self.locate_accessor(req, storage, name).await?;
        let Some(found) = found else {
            // Vault answers this one with a 404 that still carries a body.
            let mut data = Map::new();
            data.insert("error".into(), accessor_missing(&accessor).into());
            return Ok(Response::data(data).with_status(404));
        };
        // Another role's accessor: an empty answer (204), as OpenBao gives.
        let Some(entry) = found.owned_entry(storage, &accessor).await? else {
            return Ok(Response::empty());
        };
        if entry.expired(unix_nanos(self.now())) {
            return Ok(Response::empty());
        }
        let mut resp = Response::data(entry.render());
        input::warn_unknown(&mut resp, &req.data, &["role_name", "secret_id_accessor"]);
        Ok(resp)
    }

    pub(super) async fn destroy_accessor(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let (accessor, found) = self.locate_accessor(req, storage, name).await?;
        let Some(found) = found else {
            return Err(internal(accessor_missing(&accessor)));
        };
        let _guard = self.lock_secret(&found.secret_id_hmac).await;
        if found.owned_entry(storage, &accessor).await?.is_none() {
            // Another role's accessor: refused (403, as OpenBao), and both that role's
            // secret-id and this role's one of the same value stay usable.
            return Err(Error::Forbidden("invalid secret id accessor".into()));
        }
        storage
            .commit(vec![
                StorageOp::Delete(accessor_key(&found.salt, &accessor)),
                StorageOp::Delete(found.key),
            ])
            .await?;
        Ok(Response::empty())
    }
}

impl AppRole {
    /// `tidy/secret-id`: removes expired secret-ids, the secret-ids of roles that no longer
    /// exist, and accessors whose secret-id is gone. Vault runs this in the background and
    /// answers 202 at once; here it is done before answering, in one commit.
    pub(super) async fn tidy(&self, storage: &dyn Storage) -> Result<Response, Error> {
        let answer = Response::empty()
            .with_warning(
                "Tidy operation successfully started. Any information from the operation will be printed to the server logs.",
            )
            .with_status(202);
        let Some(salt) = self.salt(storage).await? else {
            return Ok(answer);
        };
        // No secret-id can be created and no role can change while this runs.
        let _role_guard = self.role_lock.lock().await;
        let now = unix_nanos(self.now());
        let mut live_dirs = std::collections::BTreeSet::new();
        for name in storage.list(super::super::ROLE_PREFIX).await? {
            if let Some(role) = load_role(storage, &name).await? {
                live_dirs.insert(role.secret_id_dir(&salt));
            }
        }
        let mut doomed = std::collections::BTreeSet::new();
        let mut kept_accessors = std::collections::BTreeSet::new();
        let (mut expired, mut orphaned) = (0u64, 0u64);
        for dir in storage.list("secret_id/").await? {
            let dir = format!("secret_id/{dir}");
            let live = live_dirs.contains(&dir);
            for child in storage.list(&dir).await? {
                let key = format!("{dir}{child}");
                let Some(bytes) = storage.get(&key).await? else {
                    continue;
                };
                let entry: SecretIdEntry = decode(&bytes, "secret-id")?;
                let accessor = accessor_key(&salt, &entry.accessor);
                if live && !entry.expired(now) {
                    kept_accessors.insert(accessor);
                    continue;
                }
                if live {
                    expired += 1;
                } else {
                    orphaned += 1;
                }
                doomed.insert(key);
                doomed.insert(accessor);
            }
        }
        let mut dangling = 0u64;
        for child in storage.list(ACCESSOR_PREFIX).await? {
            let key = format!("{ACCESSOR_PREFIX}{child}");
            if !kept_accessors.contains(&key) && doomed.insert(key) {
                dangling += 1;
            }
        }
        if !doomed.is_empty() {
            storage
                .commit(doomed.into_iter().map(StorageOp::Delete).collect())
                .await?;
        }
        tracing::info!(
            expired,
            orphaned,
            dangling_accessors = dangling,
            "approle: tidied secret-ids"
        );
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_parses_like_vault() {
        let ok = |s: &str| parse_metadata(s).unwrap().into_iter().collect::<Vec<_>>();
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(ok(r#"{"tenant_id":"t1"}"#), vec![kv("tenant_id", "t1")]);
        assert_eq!(ok(r#" {"a":"b"}"#), vec![kv("a", "b")]);
        assert_eq!(ok("a=b,c=d"), vec![kv("a", "b"), kv("c", "d")]);
        assert_eq!(ok(" a = b "), vec![kv("a", "b")]);
        assert_eq!(ok("a=b,"), vec![kv("a", "b")]);
        assert_eq!(ok("a=b,a=c"), vec![kv("a", "c")]);
        assert_eq!(ok(""), vec![]);
        assert_eq!(ok("{}"), vec![]);
        assert_eq!(ok(r#"{"":"x"}"#), vec![kv("", "x")]);
        let format = "failed to parse the input: invalid <key,value> format";
        for bad in [
            "notjson",
            "a=b=c",
            r#"{"a":1}"#,
            "[]",
            "null",
            r#"{"a":"b"}x"#,
        ] {
            assert_eq!(parse_metadata(bad).unwrap_err(), format, "{bad}");
        }
        assert_eq!(
            parse_metadata("a=").unwrap_err(),
            "failed to parse the input: invalid <key,value> pair: key: \"a\" value: \"\""
        );
        assert_eq!(
            parse_metadata(r#"{"a":"b,c","d":""}"#).unwrap_err(),
            "invalid value for key \"d\""
        );
        assert_eq!(
            parse_metadata(r#"{"a":null}"#).unwrap_err(),
            "invalid value for key \"a\""
        );
    }

    #[test]
    fn times_render_like_go() {
        assert_eq!(time_string(0), "0001-01-01T00:00:00Z");
        assert_eq!(
            time_string(1_795_613_361_410_178_030),
            "2026-11-25T13:29:21.41017803Z"
        );
    }
}
