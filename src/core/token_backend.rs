//! `auth/token/*`: creating, looking up, renewing and revoking tokens. An ordinary backend,
//! mounted at `auth/token/` from the auth table and reached through the router like any other.
//! It lives in the core because it serves the core's token store, and because every endpoint
//! needs the caller's own token entry, which it finds in the [`Caller`] the core puts on the
//! request.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use serde_json::json;

use super::tokens::{generate_accessor, generate_token_id, TokenEntry, TokenRole, TokenStore};
use super::{Caller, Core};
use crate::clock::{rfc3339, SharedClock};
use crate::logical::duration::format_secs;
use crate::logical::{fields, Error, Map, Operation, Renewal, Request, Response, Storage};

/// The one thing the token store's backend asks of the rest of the core: the terms on which
/// the auth method that issued a token would renew it now. Only the core can answer, since
/// that means routing the token's login path to the method's backend and storage.
#[async_trait::async_trait]
pub(super) trait Issuers: Send + Sync {
    async fn renewal_terms(&self, entry: &TokenEntry) -> Result<Option<Renewal>, Error>;
}

#[async_trait::async_trait]
impl Issuers for Core {
    async fn renewal_terms(&self, entry: &TokenEntry) -> Result<Option<Renewal>, Error> {
        Core::renewal_terms(self, entry).await
    }
}

/// The backend of the `auth/token/` mount. It keeps the token store's own storage view
/// (`sys/token/`), not the mount's, because authentication reads the store on every request.
pub struct TokenBackend {
    store: Arc<TokenStore>,
    clock: SharedClock,
    /// The server's max lease TTL: no renewal goes past it, whatever the mount's tune.
    system_max_ttl: u64,
    /// Weak: the core owns the router that owns this backend.
    issuers: Weak<dyn Issuers>,
}

impl TokenBackend {
    pub(super) fn new(
        store: Arc<TokenStore>,
        clock: SharedClock,
        system_max_ttl: u64,
        issuers: Weak<dyn Issuers>,
    ) -> Self {
        TokenBackend {
            store,
            clock,
            system_max_ttl,
            issuers,
        }
    }
}

#[async_trait::async_trait]
impl crate::logical::Backend for TokenBackend {
    async fn handle(&self, req: &Request, _mount_storage: &dyn Storage) -> Result<Response, Error> {
        // The core sets the caller on every request it lets through to a backend that needs a
        // token; without one, or with one that is not the core's, nothing is served.
        let caller = req
            .caller
            .as_deref()
            .and_then(|c| c.as_any().downcast_ref::<Caller>())
            .ok_or(Error::PermissionDenied)?;
        serve(self, caller, req).await
    }

    /// The token store's existence checks, as OpenBao's: only `roles/<name>` has one.
    async fn exists(
        &self,
        path: &str,
        _mount_storage: &dyn Storage,
    ) -> Result<Option<bool>, Error> {
        match path.strip_prefix("roles/") {
            Some(name) if !name.is_empty() && !name.contains('/') => {
                Ok(Some(self.store.role(name).await?.is_some()))
            }
            _ => Ok(None),
        }
    }
}

/// One request, its path relative to the mount.
async fn serve(backend: &TokenBackend, caller: &Caller, req: &Request) -> Result<Response, Error> {
    let store = backend.store.as_ref();
    let rel = req.path.as_str();
    match (req.operation, rel) {
        (Operation::Update, "create") => create(backend, caller, req, false, None).await,
        (Operation::Update, "create-orphan") => create(backend, caller, req, true, None).await,
        (Operation::List, "roles" | "roles/") => Response::list(store.roles().await?),
        (op, r) if r.starts_with("roles/") => {
            roles(store, op, &r["roles/".len()..], &req.data).await
        }
        (Operation::Update, r) if r.starts_with("create/") => {
            let name = &r["create/".len()..];
            let role = store
                .role(name)
                .await?
                .ok_or_else(|| Error::bad_request(format!("unknown role {name}")))?;
            create(backend, caller, req, role.orphan, Some(role)).await
        }
        (Operation::Read | Operation::Update, "lookup-self") => {
            let entry = store
                .lookup_key(&caller.key)
                .await?
                .unwrap_or_else(|| used_up(&caller.token));
            Ok(Response::data(lookup_data(
                store,
                &entry,
                req.client_token.as_deref().unwrap_or(""),
            )))
        }
        (Operation::Read | Operation::Update, "lookup") => {
            let token = required(&req.data, "token")?;
            let (_, entry) = store.lookup(&token).await?.ok_or_else(bad_token)?;
            Ok(Response::data(lookup_data(store, &entry, &token)))
        }
        (Operation::Update, "lookup-accessor") => {
            let key = accessor_key(store, &req.data).await?;
            let entry = store.lookup_key(&key).await?.ok_or_else(bad_token)?;
            Ok(Response::data(lookup_data(store, &entry, "")))
        }
        (Operation::Update, "renew-self") => {
            let token = req.client_token.as_deref().unwrap_or("");
            renew(backend, &caller.key, token, &req.data).await
        }
        (Operation::Update, "renew") => {
            let token = required(&req.data, "token")?;
            renew(backend, &store.key_of(&token), &token, &req.data).await
        }
        (Operation::Update, "renew-accessor") => {
            let key = accessor_key(store, &req.data).await?;
            renew(backend, &key, "", &req.data).await
        }
        (Operation::Update, "revoke-self") => revoked(store.revoke_tree(&caller.key).await),
        (Operation::Update, "revoke") => {
            let key = store.key_of(&required(&req.data, "token")?);
            revoked(store.revoke_tree(&key).await)
        }
        (Operation::Update, "revoke-accessor") => {
            let key = accessor_key(store, &req.data).await?;
            revoked(store.revoke_tree(&key).await)
        }
        (Operation::Update, "revoke-orphan") => {
            require_sudo(caller, req)?;
            let key = store.key_of(&required(&req.data, "token")?);
            revoked(store.revoke_orphan(&key).await)
        }
        (Operation::List, "accessors/" | "accessors") => {
            require_sudo(caller, req)?;
            Response::list(store.accessors().await?)
        }
        _ => Err(Error::NoHandler(format!(
            "no handler for route \"{}{rel}\". route entry not found.",
            req.mount_point
        ))),
    }
}

fn revoked(result: Result<(), Error>) -> Result<Response, Error> {
    result.map(|()| Response::empty())
}

fn bad_token() -> Error {
    Error::bad_request("bad token")
}

fn required(data: &Map, key: &'static str) -> Result<String, Error> {
    fields::string(data, key)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::bad_request(format!("missing {key}")))
}

/// Sudo-protected endpoints. The core checks `sudo` for Vault's root-protected paths before
/// routing; this also covers the spellings of a path that list does not name.
fn require_sudo(caller: &Caller, req: &Request) -> Result<(), Error> {
    if caller.has_sudo(&absolute_path(req)) {
        Ok(())
    } else {
        Err(Error::PermissionDenied)
    }
}

/// The request's path as the ACL saw it (`auth/token/create`), for the sudo checks: the
/// router hands the backend the path relative to the mount.
fn absolute_path(req: &Request) -> String {
    format!("{}{}", req.mount_point, req.path)
}

async fn accessor_key(store: &TokenStore, data: &Map) -> Result<String, Error> {
    let accessor = required(data, "accessor")?;
    store
        .key_for_accessor(&accessor)
        .await?
        .ok_or_else(|| Error::bad_request("invalid accessor"))
}

/// The entry of a token whose last use was the current request: it is already revoked.
fn used_up(entry: &Arc<TokenEntry>) -> Arc<TokenEntry> {
    let mut e = (**entry).clone();
    e.num_uses = 0;
    Arc::new(e)
}

/// Lowercases, trims, sorts and dedupes policy names, as Vault stores them.
pub fn normalize_policies(policies: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = policies
        .into_iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

async fn create(
    backend: &TokenBackend,
    caller: &Caller,
    req: &Request,
    orphan_endpoint: bool,
    role: Option<TokenRole>,
) -> Result<Response, Error> {
    let store = backend.store.as_ref();
    let data = &req.data;
    let parent = &caller.token;
    // A limited-use token could escape its count through children, as Vault says.
    if parent.num_uses > 0 {
        return Err(Error::bad_request(
            "restricted use token cannot generate child tokens",
        ));
    }
    let parent_is_root = parent.is_root();
    // Vault lets root or a caller with `sudo` on the create path choose the id, make an
    // orphan, and go beyond its own policies (but never to `root`).
    let is_sudo = caller.has_sudo(&absolute_path(req));

    let requested = fields::string_list(data, "policies")?
        .map(normalize_policies)
        .filter(|p| !p.is_empty());
    let no_default = fields::boolean(data, "no_default_policy")?.unwrap_or(false)
        || role.as_ref().is_some_and(|r| r.token_no_default_policy);
    let policies = match role
        .as_ref()
        .filter(|r| !r.allowed_policies.is_empty() || !r.disallowed_policies.is_empty())
    {
        // A role with allow or deny lists replaces the parent-subset rule with its own, as
        // in Vault; a role without them leaves that rule in place.
        Some(r) => role_policies(r, requested, &parent.policies, no_default)?,
        None => {
            let mut policies = requested.unwrap_or_else(|| parent.policies.clone());
            // A child never gets more than its parent: `root` included, whatever its spelling.
            let allowed = |p: &String| p == "default" || parent.policies.contains(p);
            if !is_sudo && !policies.iter().all(allowed) {
                return Err(Error::bad_request(
                    "child policies must be subset of parent",
                ));
            }
            if !no_default && !policies.iter().any(|p| p == "root" || p == "default") {
                policies.push("default".into());
            }
            normalize_policies(policies)
        }
    };
    if !parent_is_root && policies.iter().any(|p| p == "root") {
        return Err(Error::bad_request(
            "root tokens may not be created without parent token being root",
        ));
    }
    let is_root_token = policies.iter().any(|p| p == "root");

    let custom_id = fields::string(data, "id")?.filter(|s| !s.is_empty());
    if custom_id.is_some() && !is_sudo {
        return Err(Error::bad_request(
            "root or sudo privileges required to specify token id",
        ));
    }
    let orphan = orphan_endpoint || fields::boolean(data, "no_parent")?.unwrap_or(false);
    if orphan && !orphan_endpoint && !is_sudo {
        return Err(Error::bad_request(
            "root or sudo privileges required to create orphan token",
        ));
    }

    let now = store.now();
    // The token store's own mount may be tuned; the router gives its effective TTLs (the
    // system's where it is not).
    let (mount_default, mount_max) = (req.default_lease_ttl, req.max_lease_ttl);
    let lifetime = Lifetime::parse(data, role.as_ref(), is_sudo)?;
    let mut warnings = lifetime.warnings.clone();
    let explicit_max = lifetime.explicit_max_ttl;
    let (period, ttl, max_expire_time) =
        lifetime.resolve(now, mount_default, mount_max, is_root_token, &mut warnings)?;
    // Vault refuses this where the TTL comes out as zero: a root token that never expires
    // may come only from one that never expires either.
    if ttl == 0 && parent.expire_time.is_some() {
        return Err(Error::bad_request(
            "expiring root tokens cannot create non-expiring root tokens",
        ));
    }
    let expire_time = match ttl {
        0 => None,
        t => Some(checked_at(now, t)?),
    };

    let display_name = match fields::string(data, "display_name")?.filter(|s| !s.is_empty()) {
        Some(name) => token_display_name(&name),
        None => "token".to_string(),
    };
    let meta = match fields::object(data, "meta")? {
        Some(m) => Some(
            m.iter()
                .map(|(k, v)| {
                    fields::weak_string(v)
                        .map(|s| (k.clone(), s))
                        .map_err(Error::bad_request)
                })
                .collect::<Result<BTreeMap<_, _>, _>>()?,
        ),
        None => None,
    };
    let entry = TokenEntry {
        accessor: generate_accessor(),
        parent: (!orphan).then(|| caller.key.clone()),
        policies: policies.clone(),
        path: match &role {
            Some(r) if r.path_suffix.is_empty() => format!("auth/token/create/{}", r.name),
            Some(r) => format!("auth/token/create/{}/{}", r.name, r.path_suffix),
            None => req_path(orphan_endpoint),
        },
        display_name,
        creation_time: now,
        ttl,
        meta,
        num_uses: match &role {
            Some(r) if r.token_num_uses > 0 => r.token_num_uses,
            _ => fields::unsigned(data, "num_uses")?.unwrap_or(0),
        },
        // A child acts for its parent's entity, as in Vault: the entity's policies and
        // templates apply to it, and disabling or deleting the entity stops it too.
        entity_id: if orphan {
            String::new()
        } else {
            parent.entity_id.clone()
        },
        issue_time: rfc3339(backend.clock.now()),
        expire_time,
        max_expire_time,
        explicit_max_ttl: explicit_max,
        period,
        renewable: fields::boolean(data, "renewable")?.unwrap_or(true)
            && role.as_ref().is_none_or(|r| r.renewable)
            && ttl > 0,
        bound_cidrs: match &role {
            Some(r) => r.token_bound_cidrs.clone(),
            // As Vault: a child made without a role keeps its parent's binding, so binding a
            // token cannot be escaped by minting a child. A never-expiring (root) token is
            // never bound, as in Vault.
            None if !orphan => parent.bound_cidrs.clone(),
            None => Vec::new(),
        }
        .into_iter()
        .filter(|_| ttl > 0)
        .collect(),
    };
    let token = match custom_id {
        Some(id) => {
            check_custom_id(&id)?;
            zeroize::Zeroizing::new(id)
        }
        None => generate_token_id(),
    };
    if store.lookup(&token).await?.is_some() {
        return Err(Error::bad_request(
            "cannot create a token with a duplicate ID",
        ));
    }
    store.create(&token, entry.clone()).await?;
    Ok(Response {
        auth: Some(auth_object(&token, &entry, ttl)),
        warnings,
        ..Response::default()
    })
}

/// `now + secs` as a stored time. Request durations are bounded by the parser, so this only
/// fails on a corrupt entry; it is checked anyway so no input can wrap a time.
fn checked_at(now: u64, secs: u64) -> Result<u64, Error> {
    now.checked_add(secs)
        .ok_or_else(|| Error::bad_request("duration out of range"))
}

/// A create request's `period`, `explicit_max_ttl` and `ttl`, merged with its role's.
struct Lifetime {
    period: u64,
    explicit_max_ttl: u64,
    ttl: u64,
    warnings: Vec<String>,
}

impl Lifetime {
    /// Vault's `parseAndMergeTTLPeriod`: a period needs root or sudo on the create path; a
    /// role's period and explicit max TTL apply, the lesser one winning when both are given.
    fn parse(data: &Map, role: Option<&TokenRole>, is_sudo: bool) -> Result<Lifetime, Error> {
        let mut warnings = Vec::new();
        let mut explicit_max_ttl = create_duration(data, "explicit_max_ttl")?.unwrap_or(0);
        let mut period = create_duration(data, "period")?.unwrap_or(0);
        if period > 0 && !is_sudo {
            return Err(Error::bad_request(
                "root or sudo privileges required to create periodic token",
            ));
        }
        let ttl = match create_duration(data, "ttl")? {
            Some(t) => t,
            None => create_duration(data, "lease")?.unwrap_or(0),
        };
        if let Some(role) = role {
            if role.token_explicit_max_ttl > 0 {
                if explicit_max_ttl == 0 {
                    explicit_max_ttl = role.token_explicit_max_ttl;
                } else {
                    explicit_max_ttl = explicit_max_ttl.min(role.token_explicit_max_ttl);
                    warnings.push(format!("Explicit max TTL specified both during creation call and in role; using the lesser value of {explicit_max_ttl} seconds"));
                }
            }
            if role.token_period > 0 {
                if period == 0 {
                    period = role.token_period;
                } else {
                    period = period.min(role.token_period);
                    warnings.push(format!("Period specified both during creation call and in role; using the lesser value of {period} seconds"));
                }
            }
        }
        Ok(Lifetime {
            period,
            explicit_max_ttl,
            ttl,
            warnings,
        })
    }

    /// Vault's `CalculateTTL` at creation: the period, or the TTL (the mount's default when
    /// none), each capped by the mount's max TTL and the explicit max, with Vault's warnings.
    /// Returns the period, the TTL (0 = never expires) and the time no renewal may pass.
    fn resolve(
        &self,
        now: u64,
        mount_default: u64,
        mount_max: u64,
        is_root_token: bool,
        warnings: &mut Vec<String>,
    ) -> Result<(u64, u64, Option<u64>), Error> {
        let explicit = self.explicit_max_ttl;
        // A root token asked for without a TTL or period never expires (but for an explicit
        // max), as in Vault.
        if self.period == 0 && self.ttl == 0 && is_root_token {
            let max = match explicit {
                0 => None,
                e => Some(checked_at(now, e)?),
            };
            return Ok((0, explicit, max));
        }
        let mut max_ttl = mount_max;
        if explicit > 0 && explicit < max_ttl {
            max_ttl = explicit;
        }
        let mut period = self.period;
        let mut ttl = self.ttl;
        let max_valid = if period > 0 {
            if period > max_ttl {
                warnings.push(format!(
                    "period of \"{}\" exceeded the effective max_ttl of \"{}\"; period value is capped accordingly",
                    human(period),
                    human(max_ttl)
                ));
                period = max_ttl;
            }
            ttl = period;
            match explicit {
                0 => None,
                e => Some(checked_at(now, e)?),
            }
        } else {
            if ttl == 0 {
                ttl = mount_default;
            }
            Some(checked_at(now, max_ttl)?)
        };
        if let Some(limit) = max_valid {
            let left = limit.saturating_sub(now);
            if ttl > left {
                warnings.push(format!(
                    "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped accordingly",
                    human(ttl),
                    human(left)
                ));
                ttl = left;
            }
        }
        Ok((period, ttl, max_valid))
    }
}

/// Go's `humanDuration` of the SDK's TTL warnings: `time.Duration.String` without zero
/// minutes and seconds (`768h`, `1h30m`, `2562047h47m16s`).
fn human(secs: u64) -> String {
    let mut s = format_secs(i64::try_from(secs).unwrap_or(i64::MAX));
    if let Some(trimmed) = s.strip_suffix("m0s") {
        s = format!("{trimmed}m");
    }
    if let Some(idx) = s.find("h0m").filter(|i| *i > 0) {
        s = format!("{}{}", &s[..=idx], &s[idx + 3..]);
    }
    s
}

/// A duration of the create request, with the token store's own messages (it parses these
/// itself in Vault, so the errors are not the framework's field errors).
fn create_duration(data: &Map, key: &'static str) -> Result<Option<u64>, Error> {
    let Some(v) = data.get(key).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let secs = crate::logical::duration::parse_duration_secs(v).map_err(Error::bad_request)?;
    u64::try_from(secs)
        .map(Some)
        .map_err(|_| Error::bad_request(format!("{key} must be positive")))
}

/// Vault's display name of a created token: `token-` and the name, every character but ASCII
/// letters, digits and `-` made a `-`, and one trailing `-` dropped.
fn token_display_name(name: &str) -> String {
    let full: String = format!("token-{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    match full.strip_suffix('-') {
        Some(trimmed) => trimmed.to_string(),
        None => full,
    }
}

/// OpenBao 2.x keeps the generated tokens' shapes (`s.`, `hvs.`, and any `.`) out of
/// custom ids, so a chosen id can never pass for, or collide with, a generated one.
fn check_custom_id(id: &str) -> Result<(), Error> {
    for prefix in ["s.", "hvs."] {
        if id.starts_with(prefix) {
            return Err(Error::bad_request(format!(
                "custom token ID cannot have the '{prefix}' prefix"
            )));
        }
    }
    if id.contains('.') {
        return Err(Error::bad_request(
            "custom token ID cannot have a '.' in the value",
        ));
    }
    Ok(())
}

/// Vault's `policyutil.SanitizePolicies`: normalized, `default` added when asked, and `root`
/// alone when it is there.
fn sanitize_policies(policies: &[String], add_default: bool) -> Vec<String> {
    let mut out = normalize_policies(policies.iter().cloned());
    if out.iter().any(|p| p == "root") {
        return vec!["root".to_string()];
    }
    if add_default && !out.iter().any(|p| p == "default") {
        out.push("default".into());
        out.sort();
    }
    out
}

/// The policies of a token made through a role that has `allowed_policies` or
/// `disallowed_policies`, worded as OpenBao 2.x words its refusals: those asked for (or else
/// the role's allowed ones, or else the parent's) must all be allowed and none disallowed.
fn role_policies(
    role: &TokenRole,
    requested: Option<Vec<String>>,
    parent: &[String],
    no_default: bool,
) -> Result<Vec<String>, Error> {
    let disallowed = normalize_policies(role.disallowed_policies.iter().cloned());
    let add_default = !no_default && !disallowed.iter().any(|p| p == "default");
    let mut chosen = requested
        .map(|p| sanitize_policies(&p, add_default))
        .unwrap_or_default();
    if !role.allowed_policies.is_empty() {
        let allowed = sanitize_policies(&role.allowed_policies, add_default);
        if chosen.is_empty() {
            chosen = allowed;
        } else if !chosen.iter().all(|p| allowed.contains(p)) {
            return Err(Error::bad_request(format!(
                "token policies ({}) must be subset of the role's allowed policies ({}) or glob policies ([])",
                go_quoted_list(&chosen),
                go_quoted_list(&allowed)
            )));
        }
    } else if chosen.is_empty() {
        chosen = sanitize_policies(parent, add_default);
    }
    if let Some(p) = chosen.iter().find(|p| disallowed.contains(p)) {
        return Err(Error::bad_request(format!(
            "token policy {} is disallowed by this role",
            fields::go_quote(p)
        )));
    }
    Ok(chosen)
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| fields::go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

fn req_path(orphan: bool) -> String {
    if orphan {
        "auth/token/create-orphan"
    } else {
        "auth/token/create"
    }
    .to_string()
}

/// The envelope's `auth` object for a token, as Vault returns it on create, login and renew.
pub fn auth_object(token: &str, entry: &TokenEntry, lease_duration: u64) -> Map {
    fields::into_map(json!({
        "client_token": token,
        "accessor": entry.accessor,
        "policies": entry.policies,
        "token_policies": entry.policies,
        "metadata": entry.meta,
        "lease_duration": lease_duration,
        "renewable": entry.renewable,
        "entity_id": entry.entity_id,
        "token_type": "service",
        "orphan": entry.parent.is_none(),
        "mfa_requirement": null,
        "num_uses": entry.num_uses,
    }))
}

/// `lookup*` data. `id` is the token itself where the caller gave it, empty for accessors.
fn lookup_data(store: &TokenStore, entry: &TokenEntry, id: &str) -> Map {
    let now = store.now();
    let mut map = fields::into_map(json!({
        "accessor": entry.accessor,
        "creation_time": entry.creation_time,
        "creation_ttl": entry.expire_time.map(|_| entry.ttl).unwrap_or(0),
        "display_name": entry.display_name,
        "entity_id": entry.entity_id,
        // `checked_add`: an entry stored before durations were bounded may hold any time.
        "expire_time": entry.expire_time.and_then(|t| std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(t))).map(rfc3339),
        "explicit_max_ttl": entry.explicit_max_ttl,
        "id": id,
        "issue_time": entry.issue_time,
        "meta": entry.meta,
        "num_uses": entry.num_uses,
        "orphan": entry.parent.is_none(),
        "path": entry.path,
        "policies": entry.policies,
        "renewable": entry.renewable,
        "ttl": entry.remaining(now),
        "type": "service",
    }));
    if entry.period > 0 {
        map.insert("period".into(), entry.period.into());
    }
    // A token made through a role carries the role's name in its path.
    if let Some(role) = entry
        .path
        .strip_prefix("auth/token/create/")
        .and_then(|rest| rest.split('/').next())
        .filter(|r| !r.is_empty())
    {
        map.insert("role".into(), role.into());
    }
    map
}

/// Extends a token's TTL by `increment` (default: its original TTL), never past its max.
async fn renew(
    backend: &TokenBackend,
    key: &str,
    token: &str,
    data: &Map,
) -> Result<Response, Error> {
    let store = backend.store.as_ref();
    let entry = store.lookup_key(key).await?.ok_or_else(bad_token)?;
    if !entry.renewable || entry.expire_time.is_none() {
        return Err(Error::bad_request("lease is not renewable"));
    }
    let now = store.now();
    // A token from an auth method renews on the method's current terms, and not at all once
    // its role or user is gone or changed.
    let issuers = backend
        .issuers
        .upgrade()
        .ok_or_else(|| Error::internal("the core is gone"))?;
    let terms = issuers.renewal_terms(&entry).await?.unwrap_or_default();
    let period = if terms.period > 0 {
        terms.period
    } else {
        entry.period
    };
    let increment = fields::duration_secs(data, "increment")?.filter(|i| *i > 0);
    let wanted = if period > 0 {
        period
    } else {
        increment.unwrap_or(if terms.ttl > 0 { terms.ttl } else { entry.ttl })
    };
    let system_max_expire = now.saturating_add(backend.system_max_ttl);
    let mut cap = entry
        .max_expire_time
        .unwrap_or(system_max_expire)
        .min(if period > 0 {
            u64::MAX
        } else {
            system_max_expire
        });
    if terms.max_ttl > 0 && period == 0 {
        cap = cap.min(entry.creation_time.saturating_add(terms.max_ttl));
    }
    let ttl = wanted.min(cap.saturating_sub(now));
    let mut resp = Response::default();
    if ttl < wanted {
        resp.warnings.push(format!(
            "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped accordingly",
            human(wanted),
            human(ttl),
        ));
    }
    let mut next = (*entry).clone();
    next.ttl = ttl;
    next.expire_time = Some(now.saturating_add(ttl));
    store.update(key, &next).await?;
    resp.auth = Some(auth_object(token, &next, ttl));
    Ok(resp)
}

/// `auth/token/roles/<name>`: read, write (fields merge into an existing role) and delete.
async fn roles(
    store: &TokenStore,
    op: Operation,
    name: &str,
    data: &Map,
) -> Result<Response, Error> {
    if name.is_empty() || name.contains('/') {
        return Err(Error::bad_request("invalid role name"));
    }
    match op {
        Operation::Read => {
            let role = store.role(name).await?.ok_or(Error::NotFound)?;
            Ok(Response::data(fields::into_map(json!({
                "name": role.name,
                "allowed_policies": role.allowed_policies,
                "disallowed_policies": role.disallowed_policies,
                "orphan": role.orphan,
                "renewable": role.renewable,
                "path_suffix": role.path_suffix,
                "token_period": role.token_period,
                "token_explicit_max_ttl": role.token_explicit_max_ttl,
                "token_no_default_policy": role.token_no_default_policy,
                "token_num_uses": role.token_num_uses,
                "token_bound_cidrs": role.token_bound_cidrs,
                "token_type": "default-service",
            }))))
        }
        Operation::Update => {
            let mut role = store.role(name).await?.unwrap_or(TokenRole {
                name: name.to_string(),
                renewable: true,
                ..TokenRole::default()
            });
            if let Some(p) = fields::string_list(data, "allowed_policies")? {
                role.allowed_policies = normalize_policies(p);
            }
            if let Some(p) = fields::string_list(data, "disallowed_policies")? {
                role.disallowed_policies = normalize_policies(p);
            }
            if role.allowed_policies.iter().any(|p| p == "root") {
                return Err(Error::bad_request(
                    "a token role cannot allow the root policy",
                ));
            }
            if let Some(v) = fields::boolean(data, "orphan")? {
                role.orphan = v;
            }
            if let Some(v) = fields::boolean(data, "renewable")? {
                role.renewable = v;
            }
            if let Some(v) = fields::string(data, "path_suffix")? {
                role.path_suffix = v;
            }
            if let Some(v) = fields::duration_secs(data, "token_period")?
                .or(fields::duration_secs(data, "period")?)
            {
                role.token_period = v;
            }
            if let Some(v) = fields::duration_secs(data, "token_explicit_max_ttl")?
                .or(fields::duration_secs(data, "explicit_max_ttl")?)
            {
                role.token_explicit_max_ttl = v;
            }
            if let Some(v) = fields::boolean(data, "token_no_default_policy")? {
                role.token_no_default_policy = v;
            }
            if let Some(v) = fields::unsigned(data, "token_num_uses")? {
                role.token_num_uses = v;
            }
            if let Some(v) = fields::string_list(data, "token_bound_cidrs")? {
                if v.iter().any(|c| crate::logical::IpNet::parse(c).is_none()) {
                    return Err(Error::bad_request("invalid token_bound_cidrs"));
                }
                role.token_bound_cidrs = v;
            }
            store.put_role(&role).await?;
            Ok(Response::empty())
        }
        Operation::Delete => {
            store.delete_role(name).await?;
            Ok(Response::empty())
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{unsealed_core, ROOT};
    use super::super::{Mounted, Table};
    use super::*;
    use crate::logical::CallerInfo;

    /// The mount that the router gives `path`, with the path relative to it.
    fn routed(f: &super::super::test_support::TestCore, path: &str) -> (Mounted, String) {
        let unsealed = f.core.unsealed().unwrap();
        let router = unsealed.router.read();
        let (mounted, rel) = router.route(path).expect("routed");
        (mounted.clone(), rel)
    }

    /// A request as the core hands it to the mount's backend, with `caller` set.
    fn at_mount(
        mounted: &Mounted,
        op: Operation,
        rel: &str,
        caller: Option<Arc<dyn CallerInfo>>,
    ) -> Request {
        let mut req = Request::new(op, rel);
        req.mount_point = mounted.entry.router_path();
        req.caller = caller;
        req
    }

    #[tokio::test]
    async fn auth_token_is_a_mount_whose_own_backend_serves_it() {
        let f = unsealed_core().await;
        // The mount table names it as before: `token/` in the auth table, with its accessor,
        // and `sys/auth` shows that accessor.
        let token_mounts: Vec<_> = f
            .core
            .mounts(Table::Auth)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "token")
            .collect();
        assert_eq!(token_mounts.len(), 1);
        let accessor = token_mounts[0].accessor.clone();
        assert_eq!(token_mounts[0].path, "token/");
        assert!(accessor.starts_with("auth_token_"), "{accessor}");
        let listed = f.root(Operation::Read, "sys/auth", json!({})).await;
        assert_eq!(
            listed.data.unwrap()["token/"]["accessor"],
            accessor.as_str()
        );

        let (mounted, rel) = routed(&f, "auth/token/lookup-self");
        assert_eq!(mounted.entry.router_path(), "auth/token/");
        assert_eq!(mounted.entry.accessor, accessor);
        assert_eq!(rel, "lookup-self");

        // The router's backend answers by itself, given the caller the core decided on.
        let child = f.token(ROOT, json!({"display_name": "mounted"})).await;
        let caller = f
            .core
            .authorize_request(
                Some(&child),
                None,
                Operation::Read,
                "auth/token/lookup-self",
                &Map::new(),
            )
            .await
            .unwrap();
        let child_accessor = caller.accessor().to_string();
        let view = crate::logical::InmemStorage::new();
        let req = at_mount(
            &mounted,
            Operation::Read,
            &rel,
            Some(Arc::new(caller) as Arc<dyn CallerInfo>),
        );
        let data = mounted
            .backend
            .handle(&req, &view)
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(data["display_name"], "token-mounted");
        assert_eq!(data["accessor"], child_accessor.as_str());
        assert_eq!(data["policies"], json!(["root"]));

        // Without the core's caller it serves nothing.
        let bare = at_mount(&mounted, Operation::Read, &rel, None);
        assert!(matches!(
            mounted.backend.handle(&bare, &view).await,
            Err(Error::PermissionDenied)
        ));

        // Its existence check is the roles' one, and only theirs.
        assert_eq!(
            mounted.backend.exists("roles/ci", &view).await.unwrap(),
            Some(false)
        );
        f.root(Operation::Update, "auth/token/roles/ci", json!({}))
            .await;
        assert_eq!(
            mounted.backend.exists("roles/ci", &view).await.unwrap(),
            Some(true)
        );
        assert_eq!(mounted.backend.exists("create", &view).await.unwrap(), None);

        // And the accessor stays what the table on disk says across a seal.
        f.core.seal().await.unwrap();
        f.core.unseal(&f.keys[0]).await.unwrap();
        let (again, _) = routed(&f, "auth/token/create");
        assert_eq!(again.entry.accessor, accessor);
    }

    #[tokio::test]
    async fn a_caller_on_an_incoming_request_is_replaced_by_the_cores_own() {
        let f = unsealed_core().await;
        f.root(
            Operation::Update,
            "sys/policy/creator",
            json!({"policy": r#"path "auth/token/create" { capabilities = ["update"] }"#}),
        )
        .await;
        let plain = f.token(ROOT, json!({"policies": ["creator"]})).await;
        let root = f
            .core
            .authorize_request(
                Some(ROOT),
                None,
                Operation::Read,
                "auth/token/lookup-self",
                &Map::new(),
            )
            .await
            .unwrap();
        let mut req = Request::new(Operation::Read, "auth/token/lookup-self").with_token(&plain);
        req.caller = Some(Arc::new(root));
        let data = f.core.handle_request(req).await.unwrap().data.unwrap();
        assert_eq!(data["policies"], json!(["creator", "default"]));
        assert_eq!(data["id"], plain.as_str());
        // And a child it makes is the plain token's, not root's.
        let mut req = Request::new(Operation::Update, "auth/token/create")
            .with_token(&plain)
            .with_data(fields::into_map(json!({"policies": ["root"]})));
        let root = f
            .core
            .authorize_request(
                Some(ROOT),
                None,
                Operation::Update,
                "auth/token/create",
                &Map::new(),
            )
            .await
            .unwrap();
        req.caller = Some(Arc::new(root));
        assert!(matches!(
            f.core.handle_request(req).await,
            Err(Error::BadRequest(m)) if m == "child policies must be subset of parent"
        ));
    }

    /// Answers whether the core gave it a caller, on a login path and on any other.
    struct CallerProbe;

    #[async_trait::async_trait]
    impl crate::logical::Backend for CallerProbe {
        async fn handle(&self, req: &Request, _: &dyn Storage) -> Result<Response, Error> {
            Ok(Response::data(fields::into_map(json!({
                "caller": req.caller.as_ref().map(|c| c.display_name().to_string()),
            }))))
        }

        fn unauthenticated_paths(&self) -> &'static [&'static str] {
            &["login"]
        }
    }

    #[tokio::test]
    async fn a_login_sees_no_caller_even_when_the_request_came_with_one() {
        let mut config = super::super::CoreConfig::default();
        config
            .catalog
            .register(Table::Auth, "probe", |_, _| Ok(Arc::new(CallerProbe)));
        let clock = Arc::new(crate::clock::ManualClock::new(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
        ));
        let core = Core::new(
            Arc::new(crate::physical::InmemBackend::new()),
            clock,
            config,
        )
        .await
        .unwrap();
        let init = core.initialize(1, 1, Some(ROOT)).await.unwrap();
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD.encode(&init.keys[0]);
        core.unseal(&key).await.unwrap();
        let call = |op, path: &str, caller: Option<Caller>| {
            let mut req = Request::new(op, path).with_token(ROOT);
            req.caller = caller.map(|c| Arc::new(c) as Arc<dyn CallerInfo>);
            core.handle_request(req)
        };
        core.handle_request(
            Request::new(Operation::Update, "sys/auth/probe")
                .with_token(ROOT)
                .with_data(fields::into_map(json!({"type": "probe"}))),
        )
        .await
        .unwrap();
        let root = core
            .authorize_request(Some(ROOT), None, Operation::Read, "sys/auth", &Map::new())
            .await
            .unwrap();
        let login = call(Operation::Update, "auth/probe/login", Some(root.clone()))
            .await
            .unwrap();
        assert_eq!(login.data.unwrap()["caller"], json!(null));
        let other = call(Operation::Read, "auth/probe/other", None)
            .await
            .unwrap();
        assert_eq!(other.data.unwrap()["caller"], "root");
    }

    #[tokio::test]
    async fn a_request_shows_its_caller_by_display_name_only() {
        let f = unsealed_core().await;
        let child = f.token(ROOT, json!({"display_name": "logged"})).await;
        let caller = f
            .core
            .authorize_request(
                Some(&child),
                None,
                Operation::Read,
                "auth/token/lookup-self",
                &Map::new(),
            )
            .await
            .unwrap();
        let accessor = caller.accessor().to_string();
        let mut req = Request::new(Operation::Read, "lookup-self").with_token(&child);
        req.caller = Some(Arc::new(caller));
        let debug = format!("{req:?}");
        assert!(debug.contains("token-logged"), "{debug}");
        assert!(!debug.contains(&accessor), "no accessor: {debug}");
        assert!(!debug.contains(&child), "no token: {debug}");
    }

    /// The router has no prefix special case left for the token store: it is found by the
    /// mount table like every other mount.
    #[test]
    fn the_core_routes_auth_token_without_a_special_case() {
        let source = include_str!("mod.rs");
        assert!(!source.contains("TOKEN_MOUNT"));
        assert!(!source.contains("token_backend::handle"));
        for line in source.lines() {
            let special = line.contains("\"auth/token")
                && (line.contains("strip_prefix") || line.contains("starts_with"));
            assert!(!special, "prefix special case: {line}");
        }
    }
}
