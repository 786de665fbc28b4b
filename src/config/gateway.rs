//! The gateway's part of the server config: the `gateway` block and the `route "<name>"`
//! blocks, after validation. `gateway::routes` builds its route table from these; SIGHUP
//! re-reads the file and swaps the routes (the listeners stay as they were started).

use crate::logical::{IpNet, Operation};

use super::ListenerConfig;

/// The default `forward_auth_path`.
pub const DEFAULT_FORWARD_AUTH_PATH: &str = "/forward-auth";

/// The only placeholder a route's paths may hold.
pub const TENANT_PLACEHOLDER: &str = "{{tenant}}";

/// `gateway { ... }`. Present with its defaults when the file has no such block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Served on every API listener, for every method. Starts with `/`, is not under `/v1/`.
    pub forward_auth_path: String,
    /// Peers whose `X-Forwarded-*` headers are believed; any other peer of the forward-auth
    /// endpoint gets 403. Default `127.0.0.0/8` and `::1/128`.
    pub trusted_proxies: Vec<IpNet>,
    /// `listener "tcp"` blocks inside `gateway`: proxy mode. Same keys as the API listener.
    pub listeners: Vec<ListenerConfig>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            forward_auth_path: DEFAULT_FORWARD_AUTH_PATH.to_string(),
            trusted_proxies: default_trusted_proxies(),
            listeners: Vec::new(),
        }
    }
}

pub fn default_trusted_proxies() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|s| IpNet::parse(s))
        .collect()
}

/// One `route "<name>" { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// The block's label; unique in the file.
    pub name: String,
    /// Lowercased host names (no port); empty matches any host.
    pub hosts: Vec<String>,
    /// Required; starts with `/`.
    pub path_prefix: String,
    /// Uppercased methods; empty matches any method.
    pub methods: Vec<String>,
    /// Proxy mode's upstream; routes without one are served by forward-auth only.
    pub upstream: Option<Upstream>,
    /// Where the caller's tenant comes from; `None` for a route with no tenant (then no
    /// template in the route may name `{{tenant}}`).
    pub tenant: Option<TenantSource>,
    /// Also accept bearer JWTs that this JWT auth role accepts.
    pub jwt_auth: Option<JwtAuth>,
    /// The caller's ACL must grant this; `None` means any live token passes.
    pub require: Option<Requirement>,
    /// `inject_header "<name>" { path, field }` blocks, in file order.
    pub inject_headers: Vec<InjectHeader>,
    pub rate_limit: Option<RateLimit>,
}

/// `upstream = "http://host:port"` or `https://host[:port]`, with no path, query or userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// As written, for messages.
    pub url: String,
    pub tls: bool,
    /// A host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The port, defaulted from the scheme (80 or 443).
    pub port: u16,
}

/// `tenant = "..."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSource {
    /// `path.segment.<n>`: segments of the forwarded path count from 0, so in
    /// `/t/acme/orders` segment 1 is `acme`.
    PathSegment(usize),
    /// `host.label.<n>`: labels count from 0, so in `acme.shop.example.com` label 0 is `acme`.
    HostLabel(usize),
    /// `entity.metadata.<key>`: the caller's entity's metadata.
    EntityMetadata(String),
    /// `jwt.claim.<name>`: a claim of the bearer JWT (routes with `jwt_auth` only).
    JwtClaim(String),
}

/// `jwt_auth { mount = "jwt", role = "gateway" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuth {
    /// The JWT auth mount's path without `auth/` or slashes, e.g. `jwt`.
    pub mount: String,
    pub role: String,
}

/// `require { capability = "read", path = "secret/data/tenant/{{tenant}}/shopify" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// `read`, `list`, `create`, `update`, `delete` or `patch`, as the logical operation the
    /// ACL is asked about (`create` is `Operation::Update`, decided by the existence check).
    pub operation: Operation,
    /// As written in the file (for messages and the UI).
    pub capability: String,
    pub path: PathTemplate,
}

/// `inject_header "X-Shopify-Access-Token" { path = "...", field = "access_token" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectHeader {
    /// A valid HTTP header name, as written; not a hop-by-hop header, not `X-Mainkey-*`,
    /// `Authorization` or `X-Vault-Token`; unique within the route (case-insensitively).
    pub name: String,
    pub path: PathTemplate,
    pub field: String,
}

/// `rate_limit { per = "tenant", rpm = 120, burst = 120 }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub per: RateKey,
    pub rpm: Rpm,
    /// Defaults to the rpm (for `rpm_from`, to the rpm read).
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    Tenant,
    Token,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rpm {
    /// `rpm = 120`: at least 1.
    Fixed(u32),
    /// `rpm_from { path = "...", field = "..." }`: read as the caller, per tenant.
    From { path: PathTemplate, field: String },
}

/// A logical path (`secret/data/tenant/{{tenant}}/shopify`) whose only placeholder is
/// `{{tenant}}`. No leading `/`, no `v1/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate(String);

impl PathTemplate {
    /// Checks the template: no placeholder other than `{{tenant}}`, no stray braces.
    pub fn parse(text: &str) -> Result<PathTemplate, String> {
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open..];
            if !after.starts_with(TENANT_PLACEHOLDER) {
                let end = after.find("}}").map_or(after.len(), |e| e + 2);
                return Err(format!(
                    "unknown template {:?}: only {TENANT_PLACEHOLDER} is allowed",
                    &after[..end]
                ));
            }
            rest = &after[TENANT_PLACEHOLDER.len()..];
        }
        let stripped = text.replace(TENANT_PLACEHOLDER, "");
        if stripped.contains('{') || stripped.contains('}') {
            return Err(format!(
                "stray brace in {text:?}: only {TENANT_PLACEHOLDER} is allowed"
            ));
        }
        if text.is_empty() || text.starts_with('/') {
            return Err(format!(
                "path {text:?} must be a logical path such as secret/data/x, without a leading /"
            ));
        }
        Ok(PathTemplate(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn uses_tenant(&self) -> bool {
        self.0.contains(TENANT_PLACEHOLDER)
    }

    /// The path for `tenant`, which the caller has already checked holds no `/`, `*`, `+`,
    /// `..` or braces (see `gateway::routes`).
    pub fn render(&self, tenant: &str) -> String {
        self.0.replace(TENANT_PLACEHOLDER, tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_only_the_tenant_placeholder() {
        let t = PathTemplate::parse("secret/data/tenant/{{tenant}}/shopify").unwrap();
        assert!(t.uses_tenant());
        assert_eq!(t.render("acme"), "secret/data/tenant/acme/shopify");
        assert!(!PathTemplate::parse("secret/data/x").unwrap().uses_tenant());
        for bad in [
            "secret/{{identity.entity.id}}",
            "secret/{{ tenant }}",
            "secret/{tenant}",
            "secret/{{tenant}",
            "secret/}}",
            "/secret/x",
            "",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad}");
        }
        let err = PathTemplate::parse("secret/{{identity.entity.id}}/x").unwrap_err();
        assert!(err.contains("{{identity.entity.id}}"), "{err}");
    }
}
