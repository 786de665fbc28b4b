use async_trait::async_trait;

use super::{Auth, Error, Renewal, Request, Storage};

/// A secrets engine or auth method mounted by the router. `req.path` is relative to the mount
/// (`data/foo` for `secret/data/foo`), and `storage` is the mount's own encrypted view.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn handle(&self, req: &Request, storage: &dyn Storage) -> Result<super::Response, Error>;

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
