//! The `sys/` backend. The seal endpoints answer without a token and while sealed; everything
//! else is a mount like any other, reached after authorization.

mod audit;
mod locked_users;
mod metrics;
mod mounts;
mod policy;
mod rekey;
mod seal;
mod snapshot;

use std::sync::{Arc, Weak};

use async_trait::async_trait;

use crate::core::{Core, Table};
use crate::logical::{Backend, Error, Operation, Request, Response, Storage};

pub use rekey::{quorum, QUORUM_PATHS};
pub use seal::{unauthenticated, UNAUTHENTICATED_PATHS};

/// The `sys/` mount. It holds a weak reference: the core owns the router that owns this.
pub struct SystemBackend {
    core: Weak<Core>,
}

impl SystemBackend {
    pub fn new(core: Weak<Core>) -> Self {
        SystemBackend { core }
    }

    fn core(&self) -> Result<Arc<Core>, Error> {
        self.core
            .upgrade()
            .ok_or_else(|| Error::internal("core is shutting down"))
    }
}

#[async_trait]
impl Backend for SystemBackend {
    /// The `bao kv` CLI asks which engine a path is on before it knows what the token may do;
    /// the handler checks the token itself.
    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["internal/ui/mounts", "internal/ui/mounts/*"]
    }

    async fn handle(&self, req: &Request, _storage: &dyn Storage) -> Result<Response, Error> {
        let mut resp = self.route(req).await?;
        // Vault copies the data of `sys/` answers (but not `sys/internal/`) to the top level.
        resp.data_at_top_level = !req.path.starts_with("internal/");
        Ok(resp)
    }
}

impl SystemBackend {
    async fn route(&self, req: &Request) -> Result<Response, Error> {
        let core = self.core()?;
        let path = req.path.as_str();
        match (req.operation, path) {
            (Operation::Update, "seal") => {
                core.seal().await?;
                Ok(Response::empty())
            }
            (Operation::Update, "rotate") => {
                core.rotate_keyring().await?;
                Ok(Response::empty())
            }
            (Operation::Read, "key-status") => seal::key_status(&core),
            (Operation::Read, "storage/raft/snapshot") => snapshot::save(&core).await,
            (Operation::Update, "storage/raft/snapshot") => {
                snapshot::restore(&core, req, false).await
            }
            (Operation::Update, "storage/raft/snapshot-force") => {
                snapshot::restore(&core, req, true).await
            }
            (_, "metrics") => metrics::handle(req),
            _ => {
                if let Some(rest) = path.strip_prefix("internal/ui/mounts") {
                    return mounts::ui_mounts(&core, req, rest.trim_start_matches('/')).await;
                }
                if let Some(rest) = segment_after(path, "audit-hash") {
                    return audit::hash(&core, req, rest);
                }
                if let Some(rest) = segment_after(path, "audit") {
                    return audit::handle(&core, req, rest).await;
                }
                if let Some(rest) = segment_after(path, "locked-users") {
                    return locked_users::handle(&core, req, rest).await;
                }
                if let Some(name) = segment_after(path, "policy") {
                    return policy::handle(&core, policy::Api::Legacy, req, name).await;
                }
                if let Some(name) = segment_after(path, "policies/acl") {
                    return policy::handle(&core, policy::Api::Acl, req, name).await;
                }
                let subject = match path {
                    "capabilities" => Some(policy::Subject::Token),
                    "capabilities-self" => Some(policy::Subject::Caller),
                    "capabilities-accessor" => Some(policy::Subject::Accessor),
                    _ => None,
                };
                if let Some(subject) = subject {
                    return policy::capabilities(&core, subject, req).await;
                }
                for (name, table) in [("mounts", Table::Secrets), ("auth", Table::Auth)] {
                    if let Some(rest) = path
                        .strip_prefix(name)
                        .filter(|r| r.is_empty() || r.starts_with('/'))
                    {
                        return mounts::handle(&core, table, req, rest.trim_start_matches('/'))
                            .await;
                    }
                }
                Err(Error::NoHandler(format!(
                    "no handler for route \"sys/{path}\". route entry not found."
                )))
            }
        }
    }
}

/// The rest of `path` after `prefix` and a `/` (or nothing), or `None` when `path` is
/// elsewhere: `segment_after("policy/x", "policy")` is `Some("x")`.
fn segment_after<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/').map(|r| r.trim_end_matches('/'))
    }
}
