use async_trait::async_trait;

use super::{Auth, Error, Renewal, Request, Storage};

/// A secrets engine or auth method mounted by the router. `req.path` is relative to the mount
/// (`data/foo` for `secret/data/foo`), and `storage` is the mount's own encrypted view.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn handle(&self, req: &Request, storage: &dyn Storage) -> Result<super::Response, Error>;

    /// Vault's existence check, which the core asks before the ACL decides a write
    /// (`Operation::Update`) of `path` (relative to the mount): `Some(true)` makes the write an
    /// update and `Some(false)` a create. `None`, the default, means the path has no existence
    /// check; the write then needs `update`, as Vault treats it.
    async fn exists(&self, _path: &str, _storage: &dyn Storage) -> Result<Option<bool>, Error> {
        Ok(None)
    }

    /// Paths (relative to the mount) reachable without a token, such as `login` or
    /// `login/*` (a trailing `*` matches any suffix). The core checks these before the ACL.
    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether a token this auth method issued may be renewed now, and on which terms (the
    /// role or user may have changed or gone since the login). `login` is the login as the
    /// token recorded it. `Ok(None)`: no opinion, the token's own terms apply.
    async fn renew(&self, _storage: &dyn Storage, _login: &Auth) -> Result<Option<Renewal>, Error> {
        Ok(None)
    }
}
