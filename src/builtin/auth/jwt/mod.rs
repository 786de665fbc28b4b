//! The JWT auth method (`auth/jwt`), as OpenBao's `jwt` plugin behaves for `role_type=jwt`.
//! The OIDC browser flow (`role_type=oidc`, `oidc/auth_url`, `oidc/callback`) is not offered.
//!
//! Storage (the mount's own view):
//! - `config`: a [`config::ConfigEntry`];
//! - `role/<lowercased name>`: a [`role::RoleEntry`].
//!
//! Signatures are checked by `jsonwebtoken` against the configured keys: PEM public keys,
//! a JWKS fetched from `jwks_url`, or the `jwks_uri` of an OIDC discovery document. Only
//! asymmetric algorithms are accepted, so `alg: none` and HS* tokens (for instance one HMAC'd
//! with the RSA public key as the secret) never verify. Fetched keys are cached; a token whose
//! `kid` is unknown triggers one refetch, at most once per [`keys::REFRESH_MIN_INTERVAL`].

mod config;
mod keys;
mod login;
mod role;

use async_trait::async_trait;

use super::{unsupported_path, valid_name};
use crate::clock::SharedClock;
use crate::logical::{Backend, Error, Operation, Request, Response, Storage};

/// The JWT auth method.
pub struct Jwt {
    clock: SharedClock,
    keys: keys::KeyCache,
    /// Serializes config and role changes.
    write_lock: tokio::sync::Mutex<()>,
}

impl Jwt {
    pub fn new(clock: SharedClock) -> Self {
        Jwt {
            clock,
            keys: keys::KeyCache::default(),
            write_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn now(&self) -> std::time::SystemTime {
        self.clock.now()
    }
}

/// The method's name in the errors about its stored records.
const METHOD: &str = "jwt";

/// Short for `Error::bad_request`: nearly every refusal of this method is a 400.
fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg)
}

enum Route<'a> {
    Login,
    Config,
    ListRoles,
    Role(&'a str),
    Oidc,
}

fn route(path: &str) -> Option<Route<'_>> {
    match path {
        "login" => return Some(Route::Login),
        "config" => return Some(Route::Config),
        "role" | "role/" => return Some(Route::ListRoles),
        "oidc/auth_url" | "oidc/callback" | "oidc/poll" => return Some(Route::Oidc),
        _ => {}
    }
    let name = path.strip_prefix("role/")?;
    valid_name(name).then_some(Route::Role(name))
}

#[async_trait]
impl Backend for Jwt {
    /// As OpenBao's plugin: the role the login recorded must still exist, and its current
    /// TTLs apply. The JWT itself is not checked again (the server never keeps it).
    async fn renew(
        &self,
        storage: &dyn Storage,
        login: &crate::logical::Auth,
    ) -> Result<Option<crate::logical::Renewal>, Error> {
        let load = |name: String| async move { role::load_role(storage, &name).await };
        let (_, role) = super::renewal_role(login, load).await?;
        Ok(Some(role.token.renewal()))
    }

    /// Only `role/<name>` has one, as in OpenBao's plugin.
    async fn exists(&self, path: &str, storage: &dyn Storage) -> Result<Option<bool>, Error> {
        match route(path) {
            Some(Route::Role(name)) => super::role_exists(storage, name).await.map(Some),
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
            (Route::Config, Read) => self.read_config(req, storage).await,
            (Route::Config, Update) => self.write_config(req, storage).await,
            (Route::ListRoles, List) => {
                super::input::list_keys(req, storage, super::ROLE_PREFIX).await
            }
            (Route::Role(name), Read) => self.read_role(req, storage, name).await,
            (Route::Role(name), Update) => self.write_role(req, storage, name).await,
            (Route::Role(name), Delete) => {
                super::delete_role(&self.write_lock, storage, name).await
            }
            (Route::Oidc, _) => Err(Error::bad_request(
                "the OIDC browser flow is not supported by this server; use role_type=jwt",
            )),
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
