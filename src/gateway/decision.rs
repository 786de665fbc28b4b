//! The one route evaluation that the forward-auth endpoint and proxy mode share: a forwarded
//! request (method, host, checked path, token) becomes an [`Outcome`].
//!
//! The phases, in order, each a small method with its default stated:
//! 1. `route`: the route named by `route=NAME`, else the longest matching prefix; none is 403.
//! 2. `request_tenant`: a tenant the request itself names (path segment, host label),
//!    checked; a bad value is 403. Routes whose tenant comes from the caller skip this.
//! 3. the token: none is 401, before anything else is looked at.
//! 4. `limit_early`: the rate limit, when its key and quota are known from the request alone,
//!    so a flood costs no storage access at all.
//! 5. the decision cache, then on a miss `decide`: the core's pipeline turns the token into a
//!    `Caller` or a `Denial` (401 or 403), the tenant is read from the caller where the route
//!    says so, the route's `require` is asked of `Core::authorize_request`, and every injected
//!    value is read *as the caller* through `Core::handle_request` (so the ACL and audit see
//!    it). Nothing here reads storage or the barrier any other way.
//! 6. `limit_late`: the rate limit whose key or quota needed the decision (a tenant from the
//!    caller's entity, or `rpm_from`).
//!
//! Caching. A decision is stored with the core's state generation noted *before* it was made
//! and is reused only while that generation is current and the token has not expired, so a
//! revoke, a policy, entity or secret write, or a seal changes the answer of the very next
//! request, and a decision made while such a write was in flight is never served after it.
//! Tokens the core does not know are remembered (bounded) the same way, so junk tokens cost
//! one lookup each and cannot fill memory.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use moka::sync::Cache;
use parking_lot::RwLock;
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::rate_limit::{Quota, RateLimiter, RetryAfter};
use super::routes::{self, Route, RouteTable};
use crate::config::gateway::{
    GatewayConfig, JwtAuth, RateKey, RateLimit, RouteConfig, Rpm, TenantSource,
};
use crate::core::{Caller, Core, Denial, Refused};
use crate::logical::{Error, IpNet, Map, Operation, Request};

/// Most cached decisions (one per token, route and request-named tenant).
const DECISION_CAPACITY: u64 = 100_000;
/// Most remembered unknown tokens.
const UNKNOWN_TOKEN_CAPACITY: u64 = 10_000;
/// Most rate-limit keys kept.
const RATE_KEY_CAPACITY: u64 = 100_000;
/// Most bearer JWTs remembered with the Vault token their login gave.
const JWT_SESSION_CAPACITY: u64 = 10_000;

/// The headers every allowed answer carries, empty where there is nothing to say, so a proxy
/// that copies them never keeps a value the client forged.
pub const TENANT_HEADER: &str = "x-mainkey-tenant";
pub const ENTITY_HEADER: &str = "x-mainkey-entity";
pub const POLICIES_HEADER: &str = "x-mainkey-policies";
pub const ROUTE_HEADER: &str = "x-mainkey-route";

/// A request as the proxy described it.
pub struct Forwarded<'a> {
    pub method: &'a str,
    /// `X-Forwarded-Host` (or `Host`), port included or not.
    pub host: &'a str,
    /// The checked, decoded path (`path_check::check_forwarded`).
    pub path: &'a str,
    /// `route=NAME`: pick this route instead of matching.
    pub route: Option<&'a str>,
    pub token: Option<&'a str>,
    /// The original client's address, for the token's CIDR binding.
    pub client: Option<IpAddr>,
    pub request_id: &'a str,
}

/// What the gateway answers.
#[derive(Debug, Clone)]
pub enum Outcome {
    Allow(Arc<Allowed>),
    /// 401: no token, or one the core does not know or that expired.
    Unauthenticated,
    /// 403, with a short reason for logs and metrics (never sent to the client).
    Forbidden(&'static str),
    /// 429.
    RateLimited(RetryAfter),
    /// 503.
    Sealed,
    /// 500: the core failed (storage); the reason is logged, not sent.
    Failed,
}

impl Outcome {
    /// The status the gateway answers with (nginx's `auth_request` mode then maps what
    /// nginx cannot pass on).
    pub fn status(&self) -> u16 {
        match self {
            Outcome::Allow(_) => 200,
            Outcome::Unauthenticated => 401,
            Outcome::Forbidden(_) => 403,
            Outcome::RateLimited(_) => 429,
            Outcome::Sealed => 503,
            Outcome::Failed => 500,
        }
    }

    /// A short name of the decision, for logs and audit: a refusal names its reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Outcome::Allow(_) => "allow",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Forbidden(reason) => reason,
            Outcome::RateLimited(_) => "rate_limited",
            Outcome::Sealed => "sealed",
            Outcome::Failed => "failed",
        }
    }

    /// The metric's `outcome` label: a fixed set, whatever the reason.
    pub fn metric(&self) -> crate::metrics::GatewayOutcome {
        use crate::metrics::GatewayOutcome;
        match self {
            Outcome::Allow(_) => GatewayOutcome::Allow,
            Outcome::Unauthenticated => GatewayOutcome::Unauthenticated,
            Outcome::Forbidden(_) => GatewayOutcome::Forbidden,
            Outcome::RateLimited(_) => GatewayOutcome::RateLimited,
            Outcome::Sealed | Outcome::Failed => GatewayOutcome::Error,
        }
    }
}

/// An allowed request: the headers to hand to the upstream.
pub struct Allowed {
    pub route: String,
    pub tenant: String,
    pub entity_id: String,
    /// The token's and the identity's policies, comma-separated.
    pub policies: String,
    /// The `inject_header`s, in file order. Values are marked sensitive.
    pub injected: Vec<(HeaderName, HeaderValue)>,
    /// The rate limit's key and quota, where the route has one.
    limit: Option<(String, Quota)>,
}

/// Names what was decided without any injected value.
impl fmt::Debug for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allowed")
            .field("route", &self.route)
            .field("tenant", &self.tenant)
            .field("entity_id", &self.entity_id)
            .field("policies", &self.policies)
            .field(
                "injected",
                &self.injected.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Allowed {
    /// Every header of an allowed answer: the identity headers, then the injected ones.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        let identity = [
            (TENANT_HEADER, &self.tenant),
            (ENTITY_HEADER, &self.entity_id),
            (POLICIES_HEADER, &self.policies),
            (ROUTE_HEADER, &self.route),
        ]
        .into_iter()
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_bytes(value.as_bytes()).unwrap_or(HeaderValue::from_static("")),
            )
        });
        identity.chain(self.injected.iter().cloned())
    }
}

/// The gateway's reloadable settings: the routes and the trusted proxies.
pub struct Settings {
    pub routes: RouteTable,
    pub forward_auth_path: String,
    pub trusted_proxies: Vec<IpNet>,
    /// Bumped by every reload; part of every decision's key.
    pub generation: u64,
    /// Header names a client may not send to an upstream: the identity headers and every
    /// name any route injects.
    pub protected: Vec<HeaderName>,
}

impl Settings {
    pub fn is_trusted(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.trusted_proxies.iter().any(|n| n.contains(ip)))
    }
}

/// See [`Settings::protected`].
fn protected_names(routes: &RouteTable) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = [TENANT_HEADER, ENTITY_HEADER, POLICIES_HEADER, ROUTE_HEADER]
        .into_iter()
        .map(HeaderName::from_static)
        .collect();
    for route in routes.routes() {
        for inject in &route.config.inject_headers {
            if let Ok(name) = HeaderName::from_bytes(inject.name.as_bytes()) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct DecisionKey {
    token: [u8; 32],
    settings: u64,
    route: usize,
    tenant: Option<String>,
}

#[derive(Clone)]
struct Cached {
    /// The core's state generation noted before the decision was made.
    state: u64,
    /// Unix seconds after which the decision is not reused (the token's expiry).
    until: u64,
    outcome: Outcome,
}

/// One evaluation, once its route and credential are known.
struct Check<'c> {
    route: &'c Route,
    /// The tenant the request names, where the route reads it from the request.
    request_tenant: Option<String>,
    /// The Vault token the core is asked about: as sent, or from a bearer JWT's login.
    token: &'c str,
    /// SHA-256 of the credential as sent: it keys the caches and a per-token limit.
    credential: [u8; 32],
    /// A bearer JWT's claims, verified by its login.
    claims: Option<&'c Map>,
    fwd: &'c Forwarded<'c>,
}

/// The gateway: settings, decision cache and rate limiter, over the core.
pub struct Gateway {
    core: Arc<Core>,
    settings: RwLock<Arc<Settings>>,
    decisions: Cache<DecisionKey, Cached>,
    unknown_tokens: Cache<[u8; 32], u64>,
    jwt_sessions: Cache<[u8; 32], Arc<JwtSession>>,
    limiter: RateLimiter,
}

/// A bearer JWT that a route's JWT auth role accepted, and the Vault token its login gave.
/// Reused until the earlier of the token's and the JWT's expiry; the token's own checks
/// (revocation, entity, policies) still run through the core on every decision.
struct JwtSession {
    token: Zeroizing<String>,
    until: u64,
    /// The JWT's claims, for `tenant = "jwt.claim.<name>"`. The login verified them.
    claims: Map,
}

impl Gateway {
    pub fn new(core: Arc<Core>, gateway: &GatewayConfig, routes: Vec<RouteConfig>) -> Gateway {
        let limiter = RateLimiter::new(RATE_KEY_CAPACITY, core.clock().clone());
        let settings = Arc::new(settings_of(gateway, routes, 0));
        Gateway {
            core,
            settings: RwLock::new(settings),
            decisions: Cache::new(DECISION_CAPACITY),
            unknown_tokens: Cache::new(UNKNOWN_TOKEN_CAPACITY),
            jwt_sessions: Cache::new(JWT_SESSION_CAPACITY),
            limiter,
        }
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// Swaps in a reloaded config's routes and trusted proxies. Decisions made for the old
    /// routes are never reused: their key holds the old generation.
    pub fn reload(&self, gateway: &GatewayConfig, routes: Vec<RouteConfig>) {
        let mut current = self.settings.write();
        let next = settings_of(gateway, routes, current.generation + 1);
        *current = Arc::new(next);
        self.decisions.invalidate_all();
        self.jwt_sessions.invalidate_all();
    }

    /// Evaluates a forwarded request: see the module's phases. Every evaluation is counted,
    /// logged at info (route, tenant, decision, status, latency) and audited; the audit is
    /// fail-closed, so a decision no device could record becomes a 500.
    pub async fn evaluate(&self, fwd: &Forwarded<'_>) -> (Outcome, Option<String>) {
        let started = std::time::Instant::now();
        let (outcome, route, tenant) = self.phases(fwd).await;
        let outcome = self.record(fwd, outcome, route.as_deref(), tenant.as_deref(), started);
        (outcome, route)
    }

    /// The phases; also returns the tenant the request named, for the record of a refusal.
    async fn phases(&self, fwd: &Forwarded<'_>) -> (Outcome, Option<String>, Option<String>) {
        let settings = self.settings();
        let Some(route) = route(&settings.routes, fwd) else {
            return (Outcome::Forbidden("no_route"), None, None);
        };
        let name = Some(route.config.name.clone());
        let tenant = match routes::request_tenant(route.config.tenant.as_ref(), fwd.host, fwd.path)
        {
            Some(Ok(t)) => Some(t),
            Some(Err(_)) => return (Outcome::Forbidden("bad_tenant"), name, None),
            None => None,
        };
        let Some(token) = fwd.token.filter(|t| !t.is_empty()) else {
            return (Outcome::Unauthenticated, name, tenant);
        };
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(retry) = self.limit_early(route, tenant.as_deref(), &token_hash) {
            return (Outcome::RateLimited(retry), name, tenant);
        }
        let now = self.now();
        let jwt_auth = route
            .config
            .jwt_auth
            .as_ref()
            .filter(|_| looks_like_jwt(token));
        let outcome = match jwt_auth {
            None => {
                let check = Check {
                    route,
                    request_tenant: tenant.clone(),
                    token,
                    credential: token_hash,
                    claims: None,
                    fwd,
                };
                self.decide_cached(&settings, &check, now).await
            }
            Some(jwt_auth) => {
                // A remembered login whose token was revoked gets one fresh login.
                let mut fresh = false;
                loop {
                    let session = match self
                        .jwt_session(jwt_auth, token, &token_hash, fwd, now)
                        .await
                    {
                        Ok((session, new)) => {
                            fresh = fresh || new;
                            session
                        }
                        Err(outcome) => break outcome,
                    };
                    let check = Check {
                        route,
                        request_tenant: tenant.clone(),
                        token: &session.token,
                        credential: token_hash,
                        claims: Some(&session.claims),
                        fwd,
                    };
                    let outcome = self.decide_cached(&settings, &check, now).await;
                    if matches!(outcome, Outcome::Unauthenticated) && !fresh {
                        self.jwt_sessions.invalidate(&token_hash);
                        fresh = true;
                        continue;
                    }
                    break outcome;
                }
            }
        };
        let outcome = match outcome {
            Outcome::Allow(allowed) => match self.limit_late(route, &allowed) {
                Some(retry) => Outcome::RateLimited(retry),
                None => Outcome::Allow(allowed),
            },
            other => other,
        };
        (outcome, name, tenant)
    }

    /// Counts, logs and audits one evaluation (see [`Gateway::evaluate`]).
    fn record(
        &self,
        fwd: &Forwarded<'_>,
        outcome: Outcome,
        route: Option<&str>,
        request_tenant: Option<&str>,
        started: std::time::Instant,
    ) -> Outcome {
        let route = route.unwrap_or("");
        let allowed = match &outcome {
            Outcome::Allow(a) => Some(a),
            _ => None,
        };
        let tenant = allowed
            .map(|a| a.tenant.as_str())
            .or(request_tenant)
            .unwrap_or("");
        let audited = self.core.audit_gateway(&crate::audit::GatewayFacts {
            id: fwd.request_id,
            method: fwd.method,
            host: fwd.host,
            path: fwd.path,
            remote_address: fwd.client,
            client_token: fwd.token,
            route,
            tenant,
            decision: outcome.reason(),
            status: outcome.status(),
            entity_id: allowed.map_or("", |a| a.entity_id.as_str()),
            policies: allowed.map_or("", |a| a.policies.as_str()),
            injected_headers: allowed
                .map(|a| a.injected.iter().map(|(n, _)| n.as_str()).collect())
                .unwrap_or_default(),
        });
        // A decision no device could record is refused (fail-closed), and counted and
        // logged as what the client gets.
        let told = if audited.is_ok() {
            &outcome
        } else {
            &Outcome::Failed
        };
        let seconds = started.elapsed().as_secs_f64();
        crate::metrics::metrics().gateway_decision(route, tenant, told.metric(), seconds);
        tracing::info!(
            request_id = fwd.request_id,
            route,
            tenant,
            decision = told.reason(),
            status = told.status(),
            latency_us = (seconds * 1e6) as u64,
            "gateway decision"
        );
        if audited.is_ok() {
            outcome
        } else {
            Outcome::Failed
        }
    }

    /// Phase 5: the cached decision for (credential, route, request-named tenant) while the
    /// core's state is unchanged and the token unexpired, else a fresh one.
    async fn decide_cached(&self, settings: &Settings, check: &Check<'_>, now: u64) -> Outcome {
        // Noted before anything is read; see the module's comment.
        let state = self.core.state_generation();
        if check.claims.is_none() && self.unknown_tokens.get(&check.credential) == Some(state) {
            return Outcome::Unauthenticated;
        }
        let key = DecisionKey {
            token: check.credential,
            settings: settings.generation,
            route: check.route.index,
            tenant: check.request_tenant.clone(),
        };
        let hit = self
            .decisions
            .get(&key)
            .filter(|hit| hit.state == state && now < hit.until);
        crate::metrics::metrics().cache_lookup(crate::metrics::Cache::Decision, hit.is_some());
        if let Some(hit) = hit {
            return hit.outcome;
        }
        let (outcome, until) = self.decide(check, state).await;
        if let Some(until) = until {
            self.decisions.insert(
                key,
                Cached {
                    state,
                    until,
                    outcome: outcome.clone(),
                },
            );
        }
        outcome
    }

    /// The Vault token for a bearer JWT: a remembered login, or a login now at the route's
    /// JWT auth role through the core (which checks the signature, `exp`, `aud`, bound
    /// claims). `true` when the login is new. A refused login is 401.
    async fn jwt_session(
        &self,
        jwt_auth: &JwtAuth,
        jwt: &str,
        jwt_hash: &[u8; 32],
        fwd: &Forwarded<'_>,
        now: u64,
    ) -> Result<(Arc<JwtSession>, bool), Outcome> {
        if let Some(session) = self.jwt_sessions.get(jwt_hash) {
            if now < session.until {
                return Ok((session, false));
            }
        }
        let mut data = Map::new();
        data.insert("role".into(), Value::String(jwt_auth.role.clone()));
        data.insert("jwt".into(), Value::String(jwt.to_string()));
        let mut req = Request::new(Operation::Update, format!("auth/{}/login", jwt_auth.mount))
            .with_data(data);
        req.remote_addr = fwd.client;
        req.id = fwd.request_id.to_string();
        let resp = self.core.handle_request(req).await.map_err(|e| match e {
            Error::Sealed => Outcome::Sealed,
            Error::Internal(reason) => {
                tracing::error!(%reason, "gateway: a JWT login failed");
                Outcome::Failed
            }
            // A JWT the role does not accept is a credential the gateway does not know.
            _ => Outcome::Unauthenticated,
        })?;
        let auth = resp.auth.as_ref().ok_or(Outcome::Failed)?;
        let token = auth
            .get("client_token")
            .and_then(Value::as_str)
            .ok_or(Outcome::Failed)?;
        let lease = auth
            .get("lease_duration")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let claims = jwt_claims(jwt).unwrap_or_default();
        let expiry = claims
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        let session = Arc::new(JwtSession {
            token: Zeroizing::new(token.to_string()),
            until: now.saturating_add(lease).min(expiry),
            claims,
        });
        self.jwt_sessions.insert(*jwt_hash, session.clone());
        Ok((session, true))
    }

    fn now(&self) -> u64 {
        self.core
            .clock()
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// Phase 4: a rate limit whose key and quota the request alone gives (a token key, or a
    /// tenant the request names, with a fixed `rpm`). `None` allows, or defers to phase 6.
    fn limit_early(
        &self,
        route: &Route,
        tenant: Option<&str>,
        token: &[u8; 32],
    ) -> Option<RetryAfter> {
        let limit = route.config.rate_limit.as_ref()?;
        let Rpm::Fixed(rpm) = limit.rpm else {
            return None;
        };
        let key = rate_key(route, limit, tenant, token)?;
        self.limiter.check(&key, quota(rpm, limit)).err()
    }

    /// Phase 6: the rate limit that needed the decision.
    fn limit_late(&self, route: &Route, allowed: &Allowed) -> Option<RetryAfter> {
        let limit = route.config.rate_limit.as_ref()?;
        let early = matches!(limit.rpm, Rpm::Fixed(_))
            && (limit.per == RateKey::Token
                || !matches!(
                    route.config.tenant,
                    Some(TenantSource::EntityMetadata(_) | TenantSource::JwtClaim(_))
                ));
        if early {
            return None;
        }
        let (key, quota) = allowed.limit.as_ref()?;
        self.limiter.check(key, *quota).err()
    }

    /// Phase 5 on a cache miss. Returns the outcome and, where it may be reused, until when.
    async fn decide(&self, check: &Check<'_>, state: u64) -> (Outcome, Option<u64>) {
        let caller = match self
            .core
            .identify(Some(check.token), check.fwd.client)
            .await
        {
            Ok(caller) => caller,
            Err(refused) => {
                if matches!(refused, Refused::Denied(Denial::UnknownToken)) {
                    self.unknown_tokens.insert(check.credential, state);
                }
                return (refused_outcome(refused), None);
            }
        };
        let until = caller.reusable_until();
        if caller.is_limited_use() {
            // Each check would spend uses (the requirement, then every injected read), so a
            // limited-use token gets a clear refusal rather than a count nobody can predict.
            return (Outcome::Forbidden("limited_use_token"), None);
        }
        let outcome = match self.allow(check, &caller).await {
            Ok(allowed) => Outcome::Allow(Arc::new(allowed)),
            Err(outcome) => outcome,
        };
        let reusable = matches!(outcome, Outcome::Allow(_) | Outcome::Forbidden(_));
        (outcome, until.filter(|_| reusable))
    }

    /// The caller's tenant, the route's requirement, the injected values and the quota.
    async fn allow(&self, check: &Check<'_>, caller: &Caller) -> Result<Allowed, Outcome> {
        let (route, token, fwd) = (check.route, check.token, check.fwd);
        let config = &route.config;
        let from_caller = match (&config.tenant, &check.request_tenant) {
            (_, Some(t)) => Some(t.clone()),
            (Some(TenantSource::EntityMetadata(key)), None) => {
                caller.entity_metadata().and_then(|m| m.get(key)).cloned()
            }
            // Only a bearer JWT has claims; a Vault token at such a route has no tenant.
            (Some(TenantSource::JwtClaim(name)), None) => check
                .claims
                .and_then(|c| c.get(name))
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }),
            _ => None,
        };
        let tenant = match (&config.tenant, from_caller) {
            (None, _) => String::new(),
            (Some(_), Some(value)) => {
                routes::checked_tenant(&value).map_err(|_| Outcome::Forbidden("bad_tenant"))?
            }
            (Some(_), None) => return Err(Outcome::Forbidden("bad_tenant")),
        };
        if let Some(require) = &config.require {
            let path = require.path.render(&tenant);
            self.core
                .authorize_request(
                    Some(token),
                    fwd.client,
                    require.operation,
                    &path,
                    &Map::new(),
                )
                .await
                .map_err(refused_outcome)?;
        }
        let mut injected = Vec::with_capacity(config.inject_headers.len());
        for inject in &config.inject_headers {
            let value = self
                .read_field(token, fwd, &inject.path.render(&tenant), &inject.field)
                .await?;
            let name =
                HeaderName::from_bytes(inject.name.as_bytes()).map_err(|_| Outcome::Failed)?;
            let mut value = HeaderValue::from_bytes(value.as_bytes())
                .map_err(|_| Outcome::Forbidden("credential_not_a_header_value"))?;
            value.set_sensitive(true);
            injected.push((name, value));
        }
        let limit = match &config.rate_limit {
            None => None,
            Some(limit) => {
                let rpm = match &limit.rpm {
                    Rpm::Fixed(rpm) => *rpm,
                    Rpm::From { path, field } => {
                        let text = self
                            .read_field(token, fwd, &path.render(&tenant), field)
                            .await?;
                        text.trim()
                            .parse::<u32>()
                            .ok()
                            .filter(|r| *r >= 1)
                            .ok_or(Outcome::Forbidden("bad_rpm_value"))?
                    }
                };
                rate_key(route, limit, Some(&tenant), &check.credential)
                    .map(|key| (key, quota(rpm, limit)))
            }
        };
        Ok(Allowed {
            route: config.name.clone(),
            tenant,
            entity_id: caller.entity_id().to_string(),
            policies: policies_of(caller),
            injected,
            limit,
        })
    }

    /// Reads one field of a secret as the caller, through the core's whole pipeline (ACL,
    /// audit). A KV v2 read's fields are those of its `data`.
    async fn read_field(
        &self,
        token: &str,
        fwd: &Forwarded<'_>,
        path: &str,
        field: &str,
    ) -> Result<String, Outcome> {
        let mut req = Request::new(Operation::Read, path).with_token(token);
        req.remote_addr = fwd.client;
        req.id = fwd.request_id.to_string();
        let resp = self.core.handle_request(req).await.map_err(|e| match e {
            Error::PermissionDenied => Outcome::Forbidden("acl"),
            Error::Sealed => Outcome::Sealed,
            Error::NotFound | Error::NoHandler(_) => Outcome::Forbidden("credential_missing"),
            Error::Internal(reason) => {
                tracing::error!(%reason, "gateway: reading an injected value failed");
                Outcome::Failed
            }
            _ => Outcome::Forbidden("credential_unreadable"),
        })?;
        if resp.status.is_some_and(|s| s >= 400) {
            return Err(Outcome::Forbidden("credential_missing"));
        }
        let data = resp
            .data
            .as_ref()
            .ok_or(Outcome::Forbidden("credential_missing"))?;
        let fields = match (data.get("data"), data.get("metadata")) {
            (Some(Value::Object(inner)), Some(_)) => inner,
            _ => data,
        };
        match fields.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
            _ => Err(Outcome::Forbidden("credential_missing")),
        }
    }
}

fn settings_of(gateway: &GatewayConfig, routes: Vec<RouteConfig>, generation: u64) -> Settings {
    let routes = RouteTable::new(routes);
    Settings {
        protected: protected_names(&routes),
        routes,
        forward_auth_path: gateway.forward_auth_path.clone(),
        trusted_proxies: gateway.trusted_proxies.clone(),
        generation,
    }
}

/// Three base64url parts, the first a JSON object: a compact JWS, not a Vault token.
fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    head.starts_with("eyJ")
}

/// The payload of a JWT whose signature the login already verified.
fn jwt_claims(jwt: &str) -> Option<Map> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Phase 1.
fn route<'t>(table: &'t RouteTable, fwd: &Forwarded<'_>) -> Option<&'t Route> {
    match fwd.route {
        Some(name) => table.by_name(name),
        None => table.select(fwd.method, fwd.host, fwd.path),
    }
}

/// The limiter's key: per route, then per tenant or per token.
fn rate_key(
    route: &Route,
    limit: &RateLimit,
    tenant: Option<&str>,
    token: &[u8; 32],
) -> Option<String> {
    match limit.per {
        RateKey::Token => Some(format!("{}\0t\0{}", route.config.name, hex::encode(token))),
        RateKey::Tenant => tenant.map(|t| format!("{}\0n\0{t}", route.config.name)),
    }
}

fn quota(rpm: u32, limit: &RateLimit) -> Quota {
    Quota {
        per_minute: rpm,
        burst: limit.burst.unwrap_or(rpm),
    }
}

fn refused_outcome(refused: Refused) -> Outcome {
    match refused {
        Refused::Denied(d) if d.is_unauthenticated() => Outcome::Unauthenticated,
        Refused::Denied(d) => Outcome::Forbidden(d.reason()),
        Refused::Failed(Error::Sealed) => Outcome::Sealed,
        Refused::Failed(e) => {
            tracing::error!(reason = %e, "gateway: the core could not decide");
            Outcome::Failed
        }
    }
}

/// The token's policies, then the identity's, without repeats.
fn policies_of(caller: &Caller) -> String {
    let mut all: Vec<&str> = Vec::new();
    for p in caller.policies().iter().chain(caller.identity_policies()) {
        if !all.contains(&p.as_str()) {
            all.push(p);
        }
    }
    all.join(",")
}
