//! The one way from a token to a decision. `/v1`, the gateway and audit all ask
//! [`Core::authorize_request`](super::Core::authorize_request), which turns (token, remote
//! address, operation, path, data) into a [`Caller`] or a typed [`Denial`].
//!
//! The steps, in order, as Vault's request handling: the token is looked up (a revoked or
//! expired one is unknown), its CIDR binding checked, its entity resolved (a disabled or
//! deleted entity may do nothing), the backend's existence check run for a write, and the
//! ACL asked. Only an allowed request counts as a use of a limited-use token.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::tokens::TokenEntry;
use crate::logical::Error;
use crate::policy::Acl;

/// Why the core refused a request before any backend ran. The `/v1` API answers every one
/// with Vault's 403 `permission denied`; the gateway answers the first three with 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No token was given.
    NoToken,
    /// The token is not one the store knows: never issued, revoked, or used up.
    UnknownToken,
    /// The token (or an ancestor) has passed its expiry.
    Expired,
    /// The token is bound to CIDRs and was used from outside them.
    Cidr,
    /// The token's entity is disabled or was deleted.
    EntityDisabled,
    /// The ACL does not grant the operation.
    Acl,
}

impl Denial {
    /// Whether the caller is not authenticated at all (401), as opposed to authenticated and
    /// refused (403).
    pub fn is_unauthenticated(self) -> bool {
        matches!(
            self,
            Denial::NoToken | Denial::UnknownToken | Denial::Expired
        )
    }

    /// A short name for audit and metrics labels.
    pub fn reason(self) -> &'static str {
        match self {
            Denial::NoToken => "no_token",
            Denial::UnknownToken => "unknown_token",
            Denial::Expired => "expired",
            Denial::Cidr => "cidr",
            Denial::EntityDisabled => "entity_disabled",
            Denial::Acl => "acl",
        }
    }
}

/// A request the core did not allow: a decision ([`Denial`]) or a failure to decide (sealed,
/// storage).
#[derive(Debug)]
pub enum Refused {
    Denied(Denial),
    Failed(Error),
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        match e {
            // The ACL and the parameter checks answer with the logical error.
            Error::PermissionDenied => Refused::Denied(Denial::Acl),
            other => Refused::Failed(other),
        }
    }
}

impl From<Denial> for Refused {
    fn from(d: Denial) -> Self {
        Refused::Denied(d)
    }
}

/// `/v1` answers every denial as Vault does: 403 `permission denied`.
impl From<Denial> for Error {
    fn from(_: Denial) -> Self {
        Error::PermissionDenied
    }
}

/// See `From<Denial>`.
impl From<Refused> for Error {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Denied(_) => Error::PermissionDenied,
            Refused::Failed(e) => e,
        }
    }
}

/// Who is calling, once the core has allowed the request: the token's entry and, for a
/// non-root token, the grant its policies and entity gave, both as the core already holds
/// them (nothing is copied per request). Holds no token id: only the accessor, which audit
/// HMACs, and the token store's key (an HMAC of the id).
#[derive(Clone)]
pub struct Caller {
    /// The token store's key of the token, for the token store's own endpoints.
    pub(super) key: String,
    pub(super) token: Arc<TokenEntry>,
    grant: Option<Arc<Grant>>,
}

/// Names the caller without its accessor or token key, so a `{:?}` in a log line gives
/// nothing that audit would HMAC.
impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("display_name", &self.display_name())
            .field("policies", &self.policies())
            .field("identity_policies", &self.identity_policies())
            .field("entity_id", &self.entity_id())
            .field("expire_time", &self.expire_time())
            .finish_non_exhaustive()
    }
}

impl Caller {
    pub(super) fn new(key: String, token: Arc<TokenEntry>, grant: Option<Arc<Grant>>) -> Caller {
        Caller { key, token, grant }
    }

    pub fn is_root(&self) -> bool {
        self.token.is_root()
    }

    pub fn accessor(&self) -> &str {
        &self.token.accessor
    }

    /// The token's own policies.
    pub fn policies(&self) -> &[String] {
        &self.token.policies
    }

    /// The policies the entity and its groups add.
    pub fn identity_policies(&self) -> &[String] {
        self.grant.as_ref().map_or(&[], |g| &g.identity_policies)
    }

    /// Empty for a token without an entity (root, or one made by `auth/token/create`).
    pub fn entity_id(&self) -> &str {
        &self.token.entity_id
    }

    pub fn entity_name(&self) -> &str {
        self.entity().map_or("", |e| &e.name)
    }

    /// The entity's metadata as the grant was built with it; `None` without an entity.
    pub fn entity_metadata(&self) -> Option<&BTreeMap<String, String>> {
        self.entity().map(|e| &e.metadata)
    }

    pub fn display_name(&self) -> &str {
        &self.token.display_name
    }

    /// Unix seconds; `None` for a token that never expires (root).
    pub fn expire_time(&self) -> Option<u64> {
        self.token.expire_time
    }

    /// A limited-use token (`num_uses`): each request spends a use.
    pub fn is_limited_use(&self) -> bool {
        self.token.num_uses > 0
    }

    /// Until when (unix seconds) a decision made for this caller stays right as long as the
    /// core's state does not change (see `Core::state_generation`): the token's expiry.
    /// `None` where every request must reach the core: a limited-use token (each use is
    /// counted), and a child token, whose ancestors' expiry the core checks at each lookup.
    pub fn reusable_until(&self) -> Option<u64> {
        if self.is_limited_use() || self.token.parent.is_some() {
            return None;
        }
        Some(self.token.expire_time.unwrap_or(u64::MAX))
    }

    fn entity(&self) -> Option<&EntityFacts> {
        self.grant.as_ref().and_then(|g| g.entity.as_ref())
    }

    /// Whether the caller holds `sudo` on `path` (absolute), by the same grant the ACL decided
    /// this request with: root always does. The token store's privileged options (a chosen
    /// id, an orphan, policies beyond the caller's) ask this, as Vault's sudo check.
    pub(super) fn has_sudo(&self, path: &str) -> bool {
        self.is_root()
            || self.grant.as_ref().is_some_and(|g| {
                g.acl
                    .capabilities(path)
                    .contains(crate::policy::Capabilities::SUDO)
            })
    }
}

/// What backends see of the caller. `Debug` stays the one above, without the accessor.
impl crate::logical::CallerInfo for Caller {
    fn accessor(&self) -> &str {
        Caller::accessor(self)
    }

    fn policies(&self) -> &[String] {
        Caller::policies(self)
    }

    fn identity_policies(&self) -> &[String] {
        Caller::identity_policies(self)
    }

    fn entity_id(&self) -> &str {
        Caller::entity_id(self)
    }

    fn display_name(&self) -> &str {
        Caller::display_name(self)
    }

    fn is_root(&self) -> bool {
        Caller::is_root(self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// What a token's policies and entity grant: the ACL, plus the identity facts a [`Caller`]
/// reports. Built once per (policies, entity) and cached (see `acl_cache`).
#[derive(Debug)]
pub struct Grant {
    pub acl: Arc<Acl>,
    pub identity_policies: Vec<String>,
    pub entity: Option<EntityFacts>,
}

/// The entity's name and metadata as they were when the grant was built.
#[derive(Debug, Clone)]
pub struct EntityFacts {
    pub name: String,
    pub metadata: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_unknown_or_expired_token_is_unauthenticated() {
        let all = [
            Denial::NoToken,
            Denial::UnknownToken,
            Denial::Expired,
            Denial::Cidr,
            Denial::EntityDisabled,
            Denial::Acl,
        ];
        let unauthenticated: Vec<_> = all.iter().filter(|d| d.is_unauthenticated()).collect();
        assert_eq!(
            unauthenticated,
            [&Denial::NoToken, &Denial::UnknownToken, &Denial::Expired]
        );
        let reasons: std::collections::BTreeSet<_> = all.iter().map(|d| d.reason()).collect();
        assert_eq!(reasons.len(), all.len(), "reasons are distinct labels");
    }

    #[test]
    fn v1_answers_every_denial_with_permission_denied() {
        for d in [Denial::NoToken, Denial::Cidr, Denial::Acl] {
            assert!(matches!(
                Error::from(Refused::from(d)),
                Error::PermissionDenied
            ));
        }
        assert!(matches!(
            Error::from(Refused::from(Error::Sealed)),
            Error::Sealed
        ));
    }
}
