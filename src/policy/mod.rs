//! ACL policies: parsing (HCL, JSON, legacy), identity templating, and the matcher that decides
//! a request with Vault's priority matching.
//!
//! The flow per request: the core looks up the token's policy names, fetches each [`Policy`]
//! (parsed once, when written), and builds an [`Acl`] with the caller's
//! [`TemplateContext`]. The ACL answers `sys/capabilities` ([`Acl::capabilities`]) and
//! decides requests ([`Acl::allow`]).
//!
//! Behaviour follows OpenBao's (checked against a real server; see `tests_differential`),
//! except where DESIGN.md asks for more: template values that would widen a path drop the rule,
//! and [`lint`] warns about patterns Vault takes literally.

mod acl;
mod capability;
mod hcl1;
mod lint;
mod parse;
mod template;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_differential;
/// Shared with the other parsers' property tests (config, gateway).
#[cfg(test)]
pub(crate) mod tests_fuzz;
#[cfg(test)]
mod tests_hcl1;

pub use acl::{AccessRequest, Acl};
pub use capability::Capabilities;
pub use lint::{lint, warnings};
pub use parse::{parse_rules, ParameterValues, PathRule, Permissions, Policy};
pub use template::{render as render_template, TemplateAlias, TemplateContext, TemplateGroup};

use crate::logical::Error;

pub const ROOT_POLICY_NAME: &str = "root";
pub const DEFAULT_POLICY_NAME: &str = "default";

/// The policy name as stored and compared: trimmed and lowercased, so `Root`, ` root` and
/// `root ` all name the built-in `root`.
pub fn normalize_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The normalized name for a write to `sys/policy/<name>`; `root` cannot be written.
pub fn writable_name(name: &str) -> Result<String, Error> {
    let name = normalize_name(name);
    if name == ROOT_POLICY_NAME {
        return Err(Error::bad_request("cannot update \"root\" policy"));
    }
    Ok(name)
}

/// The normalized name for a delete; neither built-in can be deleted.
pub fn deletable_name(name: &str) -> Result<String, Error> {
    let name = normalize_name(name);
    match name.as_str() {
        ROOT_POLICY_NAME => Err(Error::bad_request("cannot delete \"root\" policy")),
        DEFAULT_POLICY_NAME => Err(Error::bad_request("cannot delete default policy")),
        _ => Ok(name),
    }
}

/// The initial text of the `default` policy: what every token may do with itself. The same
/// grants as Vault's and OpenBao's `default`, in mainkey's words.
pub const DEFAULT_POLICY_TEXT: &str = r#"# The default policy: what any token may do about itself. Operators may
# edit it; it cannot be deleted.

# Read its own properties, renew itself and revoke itself.
path "auth/token/lookup-self" {
    capabilities = ["read"]
}
path "auth/token/renew-self" {
    capabilities = ["update"]
}
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Ask what it may do on given paths.
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Read its own entity, by id or by name.
path "identity/entity/id/{{identity.entity.id}}" {
    capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
    capabilities = ["read"]
}

# Read the ACL that results from all its policies (used by UIs; the format of
# this internal path may change).
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Renew and look up leases whose id it knows (the id travels in the body).
path "sys/leases/renew" {
    capabilities = ["update"]
}
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Its own cubbyhole.
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Response wrapping: wrap values, look up and unwrap wrapping tokens.
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Hashing tools.
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# The authorization endpoint of OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
"#;
