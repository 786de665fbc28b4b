//! The AppRole auth method, as OpenBao's `approle` behaves on the wire.
//!
//! Storage (the mount's own view; `H(d, x)` is hex HMAC-SHA256 under the mount's salt of the
//! domain `d`, a NUL byte and `x`):
//! - `salt`: the per-mount HMAC key, 32 random bytes, made on first use;
//! - `role/<lowercased name>`: a [`role::RoleEntry`];
//! - `role_id/<H("role_id", role_id)>`: `{"name": ..}`, the index a login resolves;
//! - `secret_id/<H("role", role.hmac_key)>/<H("secret_id", secret_id)>`: a
//!   [`secret_id::SecretIdEntry`]; neither the secret-id nor its plain hash is stored;
//! - `accessor/<H("accessor", accessor)>`: `{"secret_id_hmac"}`.
//!
//! Expired secret-ids are refused (and removed) at login and hidden from lookups and lists;
//! `tidy/secret-id` removes the rest of them.
//!
//! A secret-id's entry sits below its role's random `hmac_key`, so every path that names a role
//! only ever finds that role's secret-ids: destroying or looking up a secret-id (or accessor)
//! through another role's path finds nothing. A role that is deleted and created again gets
//! a new key, so nothing of the old one comes back.
//!
//! Every change is one atomic `commit`; secret-id changes are serialized per secret-id by a
//! sharded lock, so a `num_uses` count is consumed exactly once per login.

mod login;
mod role;
mod secret_id;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{Mutex, MutexGuard};

use super::{unsupported_path, valid_name};
use crate::clock::SharedClock;
use crate::logical::{Backend, Error, Operation, Request, Response, Storage};

const SALT_KEY: &str = "salt";
const LOCK_SHARDS: usize = 64;
/// Vault's limit on anything it HMACs (`maxHmacInputLength`).
const MAX_HMAC_INPUT: usize = 4096;

/// The AppRole auth method.
pub struct AppRole {
    clock: SharedClock,
    /// Serializes role changes (and secret-id creation, so a role deletion cannot race it).
    role_lock: Mutex<()>,
    /// Serializes changes of one secret-id (login, destroy), chosen by its HMAC.
    secret_locks: Vec<Mutex<()>>,
    /// Serializes the creation of the mount's salt.
    salt_lock: Mutex<()>,
    /// Failed logins per role-id; five lock it for 15 minutes (see `login`).
    lockout: super::userpass::lockout::Lockout,
}

impl AppRole {
    pub fn new(clock: SharedClock) -> Self {
        AppRole {
            lockout: super::userpass::lockout::Lockout::new(clock.clone()),
            clock,
            role_lock: Mutex::new(()),
            secret_locks: (0..LOCK_SHARDS).map(|_| Mutex::new(())).collect(),
            salt_lock: Mutex::new(()),
        }
    }

    async fn lock_secret(&self, secret_hmac: &str) -> MutexGuard<'_, ()> {
        let shard = secret_hmac
            .get(..2)
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .unwrap_or(0)
            % LOCK_SHARDS;
        self.secret_locks[shard].lock().await
    }

    fn now(&self) -> std::time::SystemTime {
        self.clock.now()
    }
}

#[derive(Serialize, Deserialize)]
struct SaltEntry {
    key: String,
}

/// The mount's HMAC key.
#[derive(Clone)]
struct Salt(Vec<u8>);

impl Salt {
    fn hmac(&self, domain: &str, value: &str) -> String {
        #[allow(clippy::expect_used)]
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC-SHA256 takes keys of any length");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl AppRole {
    /// The salt if it exists; `None` means no role was ever written on this mount.
    async fn salt(&self, storage: &dyn Storage) -> Result<Option<Salt>, Error> {
        let Some(bytes) = storage.get(SALT_KEY).await? else {
            return Ok(None);
        };
        let entry: SaltEntry = decode(&bytes, "salt")?;
        let key = hex::decode(entry.key)
            .map_err(|_| Error::internal("approle: stored salt is corrupt"))?;
        Ok(Some(Salt(key)))
    }

    async fn salt_or_create(&self, storage: &dyn Storage) -> Result<Salt, Error> {
        if let Some(s) = self.salt(storage).await? {
            return Ok(s);
        }
        let _guard = self.salt_lock.lock().await;
        if let Some(s) = self.salt(storage).await? {
            return Ok(s);
        }
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        let entry = SaltEntry {
            key: hex::encode(key),
        };
        storage.put(SALT_KEY, encode(&entry, "salt")?).await?;
        Ok(Salt(key.to_vec()))
    }
}

const METHOD: &str = "approle";

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    super::decode_record(METHOD, bytes, what)
}

fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, Error> {
    super::encode_record(METHOD, value, what)
}

/// The paths below `role/<name>/`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RolePath {
    Role,
    RoleId,
    SecretId,
    CustomSecretId,
    SecretIdLookup,
    SecretIdDestroy,
    AccessorLookup,
    AccessorDestroy,
    LocalSecretIds,
    /// One role field on its own, as Vault's `role/<name>/<field>` endpoints.
    Field(&'static str),
}

/// The per-field role endpoints and the role field each one reads and writes.
const FIELD_PATHS: &[(&str, &str)] = &[
    ("policies", "token_policies"),
    ("bind-secret-id", "bind_secret_id"),
    ("secret-id-bound-cidrs", "secret_id_bound_cidrs"),
    ("secret-id-num-uses", "secret_id_num_uses"),
    ("secret-id-ttl", "secret_id_ttl"),
    ("token-num-uses", "token_num_uses"),
    ("token-ttl", "token_ttl"),
    ("token-max-ttl", "token_max_ttl"),
    ("token-bound-cidrs", "token_bound_cidrs"),
    ("period", "token_period"),
];

enum Route<'a> {
    Login,
    Tidy,
    ListRoles,
    Role(&'a str, RolePath),
}

fn route(path: &str) -> Option<Route<'_>> {
    match path {
        "login" => return Some(Route::Login),
        "tidy/secret-id" => return Some(Route::Tidy),
        "role" | "role/" => return Some(Route::ListRoles),
        _ => {}
    }
    let rest = path.strip_prefix("role/")?;
    let (name, tail) = match rest.split_once('/') {
        Some((n, t)) => (n, t),
        None => (rest, ""),
    };
    if !valid_name(name) {
        return None;
    }
    let which = match tail {
        "" => RolePath::Role,
        "role-id" => RolePath::RoleId,
        "secret-id" | "secret-id/" => RolePath::SecretId,
        "custom-secret-id" => RolePath::CustomSecretId,
        "secret-id/lookup" | "secret-id/lookup/" => RolePath::SecretIdLookup,
        "secret-id/destroy" | "secret-id/destroy/" => RolePath::SecretIdDestroy,
        "secret-id-accessor/lookup" | "secret-id-accessor/lookup/" => RolePath::AccessorLookup,
        "secret-id-accessor/destroy" | "secret-id-accessor/destroy/" => RolePath::AccessorDestroy,
        "local-secret-ids" => RolePath::LocalSecretIds,
        other => RolePath::Field(FIELD_PATHS.iter().find(|(p, _)| *p == other)?.1),
    };
    Some(Route::Role(name, which))
}

#[async_trait]
impl Backend for AppRole {
    async fn locked_users(
        &self,
        storage: &dyn Storage,
        config: &crate::logical::LockoutConfig,
    ) -> Result<Vec<String>, Error> {
        self.lockout.locked(storage, config).await
    }

    async fn unlock_user(
        &self,
        storage: &dyn Storage,
        config: &crate::logical::LockoutConfig,
        alias: &str,
    ) -> Result<(), Error> {
        self.lockout
            .unlock(storage, config, alias)
            .await
            .map(|_| ())
    }

    async fn renew(
        &self,
        storage: &dyn Storage,
        login: &crate::logical::Auth,
    ) -> Result<Option<crate::logical::Renewal>, Error> {
        AppRole::renew(self, storage, login).await.map(Some)
    }

    /// Only `role/<name>` itself has one; its sub-paths and everything else write as updates.
    async fn exists(&self, path: &str, storage: &dyn Storage) -> Result<Option<bool>, Error> {
        match route(path) {
            Some(Route::Role(name, RolePath::Role)) => {
                super::role_exists(storage, name).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn handle(&self, req: &Request, storage: &dyn Storage) -> Result<Response, Error> {
        let Some(route) = route(&req.path) else {
            return Err(unsupported_path());
        };
        use Operation::{Delete, List, Read, Update};
        match (route, req.operation) {
            (Route::Login, Update) => self.login(req, storage).await,
            (Route::Tidy, Update) => self.tidy(storage).await,
            (Route::ListRoles, List) => {
                super::input::list_keys(req, storage, super::ROLE_PREFIX).await
            }
            (Route::Role(name, which), op) => {
                if name.len() > MAX_HMAC_INPUT {
                    return Err(Error::bad_request(format!(
                        "role_name is longer than maximum of {MAX_HMAC_INPUT} bytes"
                    )));
                }
                match (which, op) {
                    (RolePath::Role, Read) => self.read_role(req, storage, name).await,
                    (RolePath::Role, Update) => self.write_role(req, storage, name).await,
                    (RolePath::Role, Delete) => self.delete_role(storage, name).await,
                    (RolePath::RoleId, Read) => self.read_role_id(req, storage, name).await,
                    (RolePath::RoleId, Update) => self.write_role_id(req, storage, name).await,
                    (RolePath::LocalSecretIds, Read) => {
                        self.read_local_secret_ids(storage, name).await
                    }
                    (RolePath::SecretId, Update) => {
                        self.generate_secret_id(req, storage, name, None).await
                    }
                    (RolePath::SecretId, List) => self.list_accessors(storage, name).await,
                    (RolePath::CustomSecretId, Update) => {
                        let custom =
                            super::input::string(&req.data, "secret_id")?.unwrap_or_default();
                        self.generate_secret_id(req, storage, name, Some(custom))
                            .await
                    }
                    (RolePath::SecretIdLookup, Update) => {
                        self.lookup_secret_id(req, storage, name).await
                    }
                    (RolePath::SecretIdDestroy, Update | Delete) => {
                        self.destroy_secret_id(req, storage, name).await
                    }
                    (RolePath::AccessorLookup, Update) => {
                        self.lookup_accessor(req, storage, name).await
                    }
                    (RolePath::AccessorDestroy, Update | Delete) => {
                        self.destroy_accessor(req, storage, name).await
                    }
                    (RolePath::Field(field), Read | Update | Delete) => {
                        self.role_field(req, storage, name, field, op).await
                    }
                    // Vault routes a LIST as the path plus `/`, which only list paths match.
                    (_, List) => Err(unsupported_path()),
                    _ => Err(Error::UnsupportedOperation),
                }
            }
            (_, List) => Err(unsupported_path()),
            _ => Err(Error::UnsupportedOperation),
        }
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login"]
    }
}

#[cfg(test)]
mod tests;
