//! The Kubernetes auth method: a pod logs in with its service-account JWT, which mainkey
//! hands to the configured API server's TokenReview endpoint.
//!
//! Before the review the JWT itself is read ([`claims`]): its signature is verified when the
//! config has `pem_keys`, its issuer when `issuer` is set and `disable_iss_validation` is
//! off, its audience and time claims, and the account it names against the role's bounds.
//! After the review, the account the API server vouched for must be that one.
//!
//! Storage (the mount's own view):
//! - `config`: a [`config::ConfigEntry`] (the reviewer JWT included; storage is sealed);
//! - `role/<lowercased name>`: a [`role::RoleEntry`].
//!
//! The TokenReview call is blocking HTTP (`ureq`) and runs on tokio's blocking pool. When the
//! config carries `kubernetes_ca_cert`, that CA is the only one trusted for an `https` host;
//! otherwise the Mozilla roots are.

mod claims;
mod config;
mod login;
mod role;

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::{unsupported_path, valid_name};
use crate::logical::{Backend, Error, Operation, Request, Response, Storage};

/// The Kubernetes auth method.
pub struct Kubernetes {
    /// Serializes changes of the config and of roles.
    lock: Mutex<()>,
    /// The core's clock, for the service-account JWT's time claims.
    clock: crate::clock::SharedClock,
}

impl Kubernetes {
    pub fn new(clock: crate::clock::SharedClock) -> Self {
        Kubernetes {
            lock: Mutex::new(()),
            clock,
        }
    }
}

/// The method's name in the errors about its stored records.
const METHOD: &str = "kubernetes";

enum Route<'a> {
    Config,
    Login,
    ListRoles,
    Role(&'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    match path {
        "config" => Some(Route::Config),
        "login" => Some(Route::Login),
        "role" | "role/" => Some(Route::ListRoles),
        _ => {
            let name = path.strip_prefix("role/")?;
            valid_name(name).then_some(Route::Role(name))
        }
    }
}

#[async_trait]
impl Backend for Kubernetes {
    async fn renew(
        &self,
        storage: &dyn Storage,
        login: &crate::logical::Auth,
    ) -> Result<Option<crate::logical::Renewal>, Error> {
        Kubernetes::renew(self, storage, login).await.map(Some)
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
            (Route::Config, Read) => self.read_config(req, storage).await,
            (Route::Config, Update) => self.write_config(req, storage).await,
            (Route::Login, Update) => self.login(req, storage).await,
            (Route::ListRoles, List) => {
                super::input::list_keys(req, storage, super::ROLE_PREFIX).await
            }
            (Route::Role(name), Read) => self.read_role(req, storage, name).await,
            (Route::Role(name), Update) => self.write_role(req, storage, name).await,
            (Route::Role(name), Delete) => super::delete_role(&self.lock, storage, name).await,
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
