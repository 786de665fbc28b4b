use std::sync::Arc;

use super::{CallerInfo, Map};

/// The logical operation of a request. HTTP PUT and POST both map to `Update`, as in Vault
/// (Vault's `create` capability is decided by the ACL from whether the entry exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Read,
    Update,
    Patch,
    Delete,
    List,
}

impl Operation {
    /// Vault's name of the operation, as audit lines and metric labels give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
        }
    }
}

/// A request after decoding and path checks. `path` is relative to the mount once routed
/// (the router rewrites it), and absolute (`secret/data/foo`) before.
#[derive(Clone)]
pub struct Request {
    /// The request id, made where the request was decoded and echoed as the envelope's
    /// `request_id`, so audit lines and metrics name the same request. Empty for a request
    /// made inside the process; the core then makes one.
    pub id: String,
    pub operation: Operation,
    pub path: String,
    /// The mount this request was routed to, e.g. `secret/`; empty before routing.
    pub mount_point: String,
    /// The JSON body for writes, or the query parameters for reads and lists.
    pub data: Map,
    /// The caller's token, from `X-Vault-Token` or `Authorization: Bearer`. Never from the query.
    pub client_token: Option<String>,
    /// The caller's address, for CIDR bindings and audit.
    pub remote_addr: Option<std::net::IpAddr>,
    /// The mount's effective default lease TTL in seconds, filled in by the router (KV v1
    /// reports it as `lease_duration`).
    pub default_lease_ttl: u64,
    /// The mount's effective max lease TTL in seconds, filled in by the router (the token
    /// store caps the tokens it creates by it).
    pub max_lease_ttl: u64,
    /// The mount's effective user lockout settings, filled in by the router (userpass and
    /// AppRole logins read them).
    pub user_lockout: super::LockoutConfig,
    /// Who is calling, set by the core once the ACL allowed the request; `None` for a request
    /// answered without a token (a login). Whatever a request arrives with is dropped.
    pub caller: Option<Arc<dyn CallerInfo>>,
    /// The body as it came, for the few writes whose body is not JSON (a snapshot to
    /// restore); `data` is empty then.
    pub raw_body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Request {
            id: String::new(),
            operation,
            path: path.into(),
            mount_point: String::new(),
            data: Map::new(),
            client_token: None,
            remote_addr: None,
            default_lease_ttl: 0,
            max_lease_ttl: 0,
            user_lockout: super::LockoutConfig::default(),
            caller: None,
            raw_body: None,
        }
    }

    pub fn with_data(mut self, data: Map) -> Self {
        self.data = data;
        self
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.client_token = Some(token.into());
        self
    }
}

// Hand-written so a token or body never reaches a log line through `{:?}`.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("mount_point", &self.mount_point)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field(
                "client_token",
                &self.client_token.as_ref().map(|_| "<redacted>"),
            )
            // The display name only: the accessor is for audit, which HMACs it.
            .field("caller", &self.caller.as_ref().map(|c| c.display_name()))
            .field("raw_body_len", &self.raw_body.as_ref().map(Vec::len))
            .finish()
    }
}
