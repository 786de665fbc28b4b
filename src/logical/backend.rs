use async_trait::async_trait;

use super::{Error, Request, Storage};

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
}
