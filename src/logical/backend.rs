use async_trait::async_trait;

use super::{Auth, Error, LockoutConfig, Renewal, Request, Storage};

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

    /// Vault's user lockout, for `sys/locked-users`: the names (user names, role-ids) that
    /// `config` keeps locked now, sorted. The default, for backends that lock nobody out, is
    /// none.
    async fn locked_users(
        &self,
        _storage: &dyn Storage,
        _config: &LockoutConfig,
    ) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    /// Unlocks `alias` (and forgets its failures), durably. Unlocking a name that is not
    /// locked is no error, as in Vault.
    async fn unlock_user(
        &self,
        _storage: &dyn Storage,
        _config: &LockoutConfig,
        _alias: &str,
    ) -> Result<(), Error> {
        Ok(())
    }
}
