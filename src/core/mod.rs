//! The core: seal state, mount table and router, token store, and the one entry point that
//! both `/v1` and the gateway call.

mod acl_cache;
mod audit_devices;
mod authorization;
mod auto_seal;
mod background;
mod catalog;
mod context;
mod expiration;
mod generation;
mod identity;
mod mounts;
mod policies;
mod rekey;
mod seal;
mod snapshot;
mod token_backend;
mod tokens;

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::RwLock;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::barrier::Barrier;
use crate::builtin;
use crate::clock::SharedClock;
use crate::logical::{Backend, Error, Operation, Request, Response, Storage};
use crate::physical;
use crate::policy::Acl;

use authorization::Grant;

pub use authorization::{Caller, Denial, Refused};
pub use auto_seal::{start_unseal_loop, AutoSeal, SealUnavailable};
pub use catalog::{Catalog, Factory};
pub use context::{Observers, RequestContext, RequestObserver};
pub use mounts::{
    normalize_mount_path, MountConfig, MountEntry, MountTune, Table, UserLockoutTune,
};
pub use policies::{PolicyStore, StoredPolicy};
pub use rekey::{
    decode_token, encode_token, RekeyStatus, RekeyUpdate, RootStatus, RootUpdate, OTP_LEN,
};
pub use seal::{SealConfig, SEAL_CONFIG_PATH};
pub use snapshot::{decode as decode_snapshot, SnapshotInfo};
pub use tokens::{generate_accessor, generate_token_id, unix, TokenEntry, TokenStore};

use mounts::{Mounted, Router};
use seal::Progress;

/// Settings the core takes from the server configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub default_lease_ttl: Duration,
    pub max_lease_ttl: Duration,
    /// Reported by `sys/seal-status` as `storage_type`.
    pub storage_type: String,
    /// How many decrypted entries the barrier's read cache holds.
    pub cache_capacity: u64,
    /// The secrets engines and auth methods that mounts may name.
    pub catalog: Catalog,
    /// Audit devices and metrics: each sees every request before its backend runs and after.
    pub observers: Observers,
    /// The server's `user_lockout` blocks, keyed `all`, `userpass` or `approle`.
    pub user_lockout: BTreeMap<String, UserLockoutTune>,
    /// The server's storage, config and TLS files, which no audit file may be.
    pub own_files: crate::audit::OwnFiles,
    /// The `seal "transit"` block's key service; `None` seals with Shamir unseal keys.
    pub auto_seal: Option<Arc<dyn AutoSeal>>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        let ttl = Duration::from_secs(768 * 3600);
        CoreConfig {
            default_lease_ttl: ttl,
            max_lease_ttl: ttl,
            storage_type: "inmem".into(),
            cache_capacity: 100_000,
            catalog: builtin::catalog(),
            observers: Observers::default(),
            user_lockout: BTreeMap::new(),
            own_files: crate::audit::OwnFiles::from(Vec::new()),
            auto_seal: None,
        }
    }
}

/// The seal state. Sealed code holds no keys: the keyring lives in the barrier, which zeroizes
/// it on seal, and everything derived from it lives in `Unsealed`, which is dropped.
enum SealState {
    Sealed(Progress),
    Unsealed(Arc<Unsealed>),
}

/// Everything that exists only while unsealed.
pub struct Unsealed {
    router: RwLock<Router>,
    /// Shared with the `auth/token/` mount's backend, which serves it.
    tokens: Arc<TokenStore>,
    policies: PolicyStore,
    identity: identity::IdentityStore,
    acls: acl_cache::AclCache,
}

impl Unsealed {
    /// What a token grants: its own policies plus its entity's and groups', as they are now,
    /// with the entity's values for policy templates. Built once per policy set and entity,
    /// and built again after any policy or identity write.
    async fn grant_of(&self, entry: &TokenEntry) -> Result<Arc<Grant>, Refused> {
        // Taken before reading the stores; see `generation`.
        let stamp = (self.policies.generation(), self.identity.generation());
        let now = std::time::SystemTime::now();
        let cached = self.acls.get(&entry.policies, &entry.entity_id, stamp, now);
        crate::metrics::metrics().cache_lookup(crate::metrics::Cache::Acl, cached.is_some());
        let decision = match cached {
            Some(hit) => hit,
            None => {
                let built = self.build_grant(entry).await?;
                self.acls
                    .insert(&entry.policies, &entry.entity_id, stamp, built.clone());
                built
            }
        };
        decision.ok_or(Refused::Denied(Denial::EntityDisabled))
    }

    /// The ACL of a token, for the handlers that answer what a token could do.
    async fn acl_of(&self, entry: &TokenEntry) -> Result<Arc<Acl>, Error> {
        Ok(self.grant_of(entry).await?.acl.clone())
    }

    /// Reads the stores and builds the grant; `None` when the caller's entity is disabled or
    /// gone.
    async fn build_grant(&self, entry: &TokenEntry) -> Result<acl_cache::Decision, Error> {
        let mut names = entry.policies.clone();
        let mut template = None;
        let mut identity_policies = Vec::new();
        if !entry.entity_id.is_empty() {
            // As Vault: a token whose entity is disabled or deleted may do nothing.
            let Some(identity) = self.identity.resolve(&entry.entity_id).await? else {
                return Ok(None);
            };
            if identity.disabled {
                return Ok(None);
            }
            names.extend(identity.policies.iter().cloned());
            identity_policies = identity.policies;
            template = Some(identity.template);
        }
        let policies = self.policies.resolve(&names).await?;
        let acl = Arc::new(Acl::new(&policies, template.as_ref())?);
        let entity = template.map(|t| authorization::EntityFacts {
            name: t.entity_name,
            metadata: t.entity_metadata,
        });
        Ok(Some(Arc::new(Grant {
            acl,
            identity_policies,
            entity,
        })))
    }
}

/// The policy store of the unsealed core; holding it keeps nothing alive past a seal but
/// this one request's view.
pub struct PolicyStoreRef(Arc<Unsealed>);

impl std::ops::Deref for PolicyStoreRef {
    type Target = PolicyStore;

    fn deref(&self) -> &PolicyStore {
        &self.0.policies
    }
}

/// What `sys/init` hands back once: the unseal keys and the root token.
pub struct InitResult {
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    /// The keys are recovery keys: an auto seal holds the root key, and the core is
    /// already unsealed.
    pub recovery: bool,
    pub root_token: Zeroizing<String>,
}

/// The secrets core. Shared by every listener as `Arc<Core>`.
pub struct Core {
    this: Weak<Core>,
    barrier: Arc<Barrier>,
    clock: SharedClock,
    config: CoreConfig,
    seal_config: RwLock<Option<SealConfig>>,
    state: RwLock<SealState>,
    /// Serializes init, unseal, seal and mount-table changes. Requests never take it.
    transition: tokio::sync::Mutex<()>,
    /// A rekey and a root generation in progress, with the unseal keys given for them.
    /// Emptied on seal.
    operations: parking_lot::Mutex<rekey::Operations>,
    /// The enabled audit devices.
    audit: Arc<crate::audit::Broker>,
    /// Audit first, then the configured observers: each sees every request at both stages.
    observers: Observers,
    /// Set by the first unseal; see [`Core::was_unsealed`].
    unsealed_once: std::sync::atomic::AtomicBool,
}

impl Core {
    /// Opens the core over a physical backend; it starts sealed.
    pub async fn new(
        backend: Arc<dyn physical::Backend>,
        clock: SharedClock,
        config: CoreConfig,
    ) -> Result<Arc<Core>, Error> {
        let seal_config = match backend.get(SEAL_CONFIG_PATH).await.map_err(storage_error)? {
            Some(bytes) => Some(
                serde_json::from_slice::<SealConfig>(&bytes)
                    .map_err(|e| Error::internal(format!("corrupt seal configuration: {e}")))?,
            ),
            None => None,
        };
        if let Some(stored) = &seal_config {
            check_seal_kind(stored, config.auto_seal.as_deref()).map_err(Error::Internal)?;
        }
        let barrier = Arc::new(Barrier::new(backend, config.cache_capacity));
        let audit = Arc::new(crate::audit::Broker::default());
        let observers = Observers::new(
            std::iter::once(Arc::new(audit_devices::AuditObserver {
                broker: audit.clone(),
                clock: clock.clone(),
            }) as Arc<dyn RequestObserver>)
            .chain(config.observers.iter().cloned())
            .collect(),
        );
        Ok(Arc::new_cyclic(|this| Core {
            this: this.clone(),
            barrier,
            clock,
            config,
            seal_config: RwLock::new(seal_config),
            state: RwLock::new(SealState::Sealed(Progress::default())),
            transition: tokio::sync::Mutex::new(()),
            operations: parking_lot::Mutex::new(rekey::Operations::default()),
            audit,
            observers,
            unsealed_once: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Only the core reads and writes through the barrier: every other room goes through
    /// `handle_request`, so nothing reaches storage around the ACL. The core's own tests
    /// look at it directly.
    #[cfg(test)]
    fn barrier(&self) -> &Arc<Barrier> {
        &self.barrier
    }

    /// `sys/rotate`: a new term key for new writes; older terms still decrypt.
    pub async fn rotate_keyring(&self) -> Result<crate::barrier::KeyStatus, Error> {
        self.barrier.rotate().await
    }

    /// `sys/key-status`: the current term and when it was installed.
    pub fn key_status(&self) -> Result<crate::barrier::KeyStatus, Error> {
        self.barrier.key_status()
    }

    pub fn seal_config(&self) -> Option<SealConfig> {
        self.seal_config.read().clone()
    }

    pub fn is_initialized(&self) -> bool {
        self.seal_config.read().is_some()
    }

    pub fn is_sealed(&self) -> bool {
        matches!(*self.state.read(), SealState::Sealed(_))
    }

    /// Unseal progress and its nonce, while sealed.
    pub fn unseal_progress(&self) -> (usize, String) {
        match &*self.state.read() {
            SealState::Sealed(p) => (p.count(), p.nonce().to_string()),
            SealState::Unsealed(_) => (0, String::new()),
        }
    }

    /// The policy store, while unsealed.
    pub fn policy_store(&self) -> Result<PolicyStoreRef, Error> {
        Ok(PolicyStoreRef(self.unsealed()?))
    }

    /// What `token` may do on each path, as `sys/capabilities` answers: `root` for a root
    /// token, `deny` when nothing matches. Looking does not count as a use of the token.
    ///
    /// `remote` is where the token is used from: `Some` for `sys/capabilities-self`, whose
    /// token is the caller's own and so CIDR-checked; `None` for `sys/capabilities`, which
    /// asks about another token without using it (as Vault, no address check there).
    pub async fn capabilities(
        &self,
        token: &str,
        remote: Option<Option<std::net::IpAddr>>,
        paths: &[String],
    ) -> Result<Vec<Vec<&'static str>>, Error> {
        let unsealed = self.unsealed()?;
        let (_, entry) = unsealed
            .tokens
            .lookup(token)
            .await?
            .ok_or_else(|| Error::bad_request("invalid token"))?;
        if let Some(remote) = remote {
            check_bound_cidrs(&entry, remote)?;
        }
        let acl = unsealed.acl_of(&entry).await?;
        Ok(paths.iter().map(|p| acl.capabilities(p).names()).collect())
    }

    /// The ACL of a live token as it is now, for handlers that answer without the core's
    /// authorization; `None` for an unknown, revoked or expired token. Not a use of it.
    /// Used from `remote`, so a CIDR-bound token used from elsewhere is refused (403), as on
    /// every other use.
    pub async fn token_acl(
        &self,
        token: &str,
        remote: Option<std::net::IpAddr>,
    ) -> Result<Option<Arc<Acl>>, Error> {
        let unsealed = self.unsealed()?;
        // The pipeline's first stage, so the token is checked as on every other use.
        match self.authenticate(&unsealed, Some(token), remote).await {
            Ok((_, entry)) => unsealed.acl_of(&entry).await.map(Some),
            Err(Refused::Denied(Denial::NoToken | Denial::UnknownToken | Denial::Expired)) => {
                Ok(None)
            }
            Err(refused) => Err(refused.into()),
        }
    }

    /// The token id behind an accessor is never known, so capabilities by accessor go through
    /// the token store's key.
    pub async fn capabilities_by_accessor(
        &self,
        accessor: &str,
        paths: &[String],
    ) -> Result<Vec<Vec<&'static str>>, Error> {
        let unsealed = self.unsealed()?;
        let key = unsealed
            .tokens
            .key_for_accessor(accessor)
            .await?
            .ok_or_else(|| Error::bad_request("invalid accessor"))?;
        let entry = unsealed
            .tokens
            .lookup_key(&key)
            .await?
            .ok_or_else(|| Error::bad_request("invalid accessor"))?;
        let acl = unsealed.acl_of(&entry).await?;
        Ok(paths.iter().map(|p| acl.capabilities(p).names()).collect())
    }

    /// The issuing auth method's current terms for renewing `entry`, or `None` for tokens
    /// that did not come from a login (or whose method has been disabled since). A token the
    /// token store made routes to the token store's backend, which has no opinion.
    async fn renewal_terms(
        &self,
        entry: &TokenEntry,
    ) -> Result<Option<crate::logical::Renewal>, Error> {
        if !entry.path.starts_with(Table::Auth.prefix()) {
            return Ok(None);
        }
        let routed = {
            let unsealed = self.unsealed()?;
            let router = unsealed.router.read();
            router.route(&entry.path).map(|(m, _)| m.clone())
        };
        let Some(mounted) = routed else {
            return Ok(None);
        };
        let login = crate::logical::Auth {
            policies: entry.policies.clone(),
            metadata: entry.meta.clone().unwrap_or_default(),
            display_name: entry.display_name.clone(),
            ..crate::logical::Auth::default()
        };
        let view = self.barrier.view(&mounted.entry.storage_prefix());
        mounted.backend.renew(&view, &login).await
    }

    fn unsealed(&self) -> Result<Arc<Unsealed>, Error> {
        match &*self.state.read() {
            SealState::Unsealed(u) => Ok(u.clone()),
            SealState::Sealed(_) => Err(Error::Sealed),
        }
    }

    /// Handles one logical request: token lookup, ACL, routing, backend, barrier. The
    /// observers see it once decided and once answered (see `context`); the seal and health
    /// endpoints, which need no token, are not observed, as Vault does not audit them.
    pub async fn handle_request(&self, req: Request) -> Result<Response, Error> {
        if let Some(resp) = builtin::system::unauthenticated(self, &req).await {
            return resp;
        }
        if builtin::system::QUORUM_PATHS.contains(&req.path.as_str()) {
            return Box::pin(self.handle_quorum(req)).await;
        }
        let mut ctx = RequestContext::new(&req);
        let outcome = self.route_request(&mut ctx, req).await;
        let outcome = self.observers.after(&ctx, outcome);
        count_request(&ctx, &outcome);
        outcome
    }

    /// `sys/rekey/*` and `sys/generate-root/*`: no token, as in Vault (the unseal keys
    /// authorize them), but observed like every other request, so audit records who tried
    /// (with every string in the body hashed) and fails them closed.
    async fn handle_quorum(&self, req: Request) -> Result<Response, Error> {
        let mut ctx = RequestContext::new(&req);
        ctx.mount = Some("sys/".into());
        let outcome = match self.observers.before(&ctx, &req) {
            Ok(()) => match builtin::system::quorum(self, &req).await {
                Some(outcome) => outcome,
                None => Err(Error::UnsupportedOperation),
            },
            Err(e) => Err(e),
        };
        let outcome = self.observers.after(&ctx, outcome);
        count_request(&ctx, &outcome);
        outcome
    }

    async fn route_request(
        &self,
        ctx: &mut RequestContext,
        mut req: Request,
    ) -> Result<Response, Error> {
        let observers = &self.observers;
        let unsealed = self.unsealed()?;
        // Only the core's own decision below names the caller, never the request's maker.
        req.caller = None;
        // A backend sees `""` for both `secret` and `secret/`, so the core refuses writes to
        // folder paths, as Vault's router does.
        if matches!(req.operation, Operation::Update | Operation::Patch) && req.path.ends_with('/')
        {
            return Err(Error::bad_request("cannot write to a path ending in '/'"));
        }
        let routed = {
            let router = unsealed.router.read();
            router.route(&req.path).map(|(m, rel)| (m.clone(), rel))
        };
        ctx.mount = routed.as_ref().map(|(m, _)| m.entry.router_path());
        // Login paths answer without a token, before the ACL, as Vault's unauthenticated paths.
        if let Some((mounted, rel)) = &routed {
            if is_unauthenticated(mounted.backend.unauthenticated_paths(), rel) {
                observers.before(ctx, &req)?;
                let (mounted, rel) = (mounted.clone(), rel.clone());
                let resp = self.call_backend(&mounted, rel, req).await?;
                // Boxed: minting a token is a large future that every other request's
                // future would otherwise carry.
                return Box::pin(self.finish_login(&unsealed, &mounted.entry, resp)).await;
            }
        }
        let decision = self
            .decide(
                &unsealed,
                routed.as_ref(),
                req.client_token.as_deref(),
                req.remote_addr,
                req.operation,
                &req.path,
                &req.data,
            )
            .await;
        let caller = match decision {
            Ok(caller) => Arc::new(caller),
            Err(Refused::Denied(denial)) => {
                ctx.denial = Some(denial);
                observers.before(ctx, &req)?;
                return Err(Error::PermissionDenied);
            }
            Err(Refused::Failed(e)) => return Err(e),
        };
        ctx.caller = Some(caller.clone());
        observers.before(ctx, &req)?;
        req.caller = Some(caller);
        let Some((mounted, rel)) = routed else {
            return Err(Error::NoHandler(format!(
                "no handler for route \"{}\". route entry not found.",
                req.path
            )));
        };
        self.call_backend(&mounted, rel, req).await
    }

    async fn call_backend(
        &self,
        mounted: &Mounted,
        rel: String,
        mut req: Request,
    ) -> Result<Response, Error> {
        req.path = rel;
        req.mount_point = mounted.entry.router_path();
        (req.default_lease_ttl, req.max_lease_ttl) = self.effective_ttls(&mounted.entry);
        req.user_lockout = self.effective_lockout(&mounted.entry);
        let view = self.barrier.view(&mounted.entry.storage_prefix());
        mounted.backend.handle(&req, &view).await
    }

    /// Turns a successful login into a token: the method's policies plus `default`, its TTLs
    /// bounded by the mount's, and never `root`, whatever a role was configured with.
    async fn finish_login(
        &self,
        unsealed: &Unsealed,
        mount: &MountEntry,
        mut resp: Response,
    ) -> Result<Response, Error> {
        let Some(login) = resp.login.take() else {
            return Ok(resp);
        };
        let mut policies = token_backend::normalize_policies(login.policies);
        if policies.iter().any(|p| p == "root") {
            return Err(Error::PermissionDenied);
        }
        if !login.no_default_policy {
            policies.push("default".into());
            policies = token_backend::normalize_policies(policies);
        }
        let now = unix(self.clock.now());
        let (mount_default, mount_max) = self.effective_ttls(mount);
        let max = match login.max_ttl {
            0 => mount_max,
            m => m.min(mount_max),
        };
        let max = match login.explicit_max_ttl {
            0 => max,
            e => e.min(max),
        };
        let ttl = match (login.period, login.ttl) {
            (p, _) if p > 0 => p,
            (_, 0) => mount_default,
            (_, t) => t,
        };
        let ttl = if login.period > 0 { ttl } else { ttl.min(max) };
        // Vault's display name: the mount path with `/` as `-`, then the method's name.
        let name = mount.path.trim_end_matches('/').replace('/', "-");
        let entry = TokenEntry {
            accessor: generate_accessor(),
            parent: None,
            policies,
            path: format!("{}login", mount.router_path()),
            display_name: if login.display_name.is_empty() {
                name.to_string()
            } else {
                format!("{name}-{}", login.display_name)
            },
            creation_time: now,
            ttl,
            meta: (!login.metadata.is_empty()).then_some(login.metadata),
            num_uses: login.num_uses,
            entity_id: String::new(),
            issue_time: crate::clock::rfc3339(self.clock.now()),
            expire_time: Some(now + ttl),
            max_expire_time: (login.period == 0).then_some(now + max),
            explicit_max_ttl: login.explicit_max_ttl,
            period: login.period,
            renewable: true,
            bound_cidrs: login
                .bound_cidrs
                .iter()
                .map(|n| format!("{}/{}", n.addr, n.prefix))
                .collect(),
        };
        let mut entry = entry;
        if let Some(alias) = &login.alias {
            let entity = unsealed
                .identity
                .entity_for_login(&mount.accessor, &alias.name, &alias.metadata)
                .await?;
            if entity.disabled {
                return Err(Error::PermissionDenied);
            }
            entry.entity_id = entity.id;
        }
        let token = generate_token_id();
        unsealed.tokens.create(&token, entry.clone()).await?;
        resp.auth = Some(token_backend::auth_object(&token, &entry, ttl));
        Ok(resp)
    }

    /// Whether a request for `path` from `remote` may have its body read: paths answered
    /// without a token always may; every other path needs a live token (with its CIDR
    /// binding kept), checked by the same first stage as [`Core::authorize_request`]. The
    /// rest of the decision waits for the body. A sealed core admits everything, so that
    /// every request gets `handle_request`'s answer.
    pub async fn admits(
        &self,
        token: Option<&str>,
        remote: Option<std::net::IpAddr>,
        path: &str,
    ) -> Result<(), Refused> {
        if builtin::system::UNAUTHENTICATED_PATHS.contains(&path)
            || builtin::system::QUORUM_PATHS.contains(&path)
        {
            return Ok(());
        }
        let Ok(unsealed) = self.unsealed() else {
            return Ok(());
        };
        let login = {
            let router = unsealed.router.read();
            router
                .route(path)
                .is_some_and(|(m, rel)| is_unauthenticated(m.backend.unauthenticated_paths(), &rel))
        };
        if login {
            return Ok(());
        }
        self.authenticate(&unsealed, token, remote)
            .await
            .map(|_| ())
    }

    /// The one way from a token to a decision, for `/v1`, the gateway and audit alike: turns
    /// (token, remote address, operation, path, data) into the [`Caller`] or a [`Denial`].
    /// An allowed request counts as a use of a limited-use token.
    pub async fn authorize_request(
        &self,
        token: Option<&str>,
        remote: Option<std::net::IpAddr>,
        op: Operation,
        path: &str,
        data: &crate::logical::Map,
    ) -> Result<Caller, Refused> {
        let unsealed = self.unsealed()?;
        let routed = {
            let router = unsealed.router.read();
            router.route(path).map(|(m, rel)| (m.clone(), rel))
        };
        self.decide(&unsealed, routed.as_ref(), token, remote, op, path, data)
            .await
    }

    /// The caller of `token`, used from `remote`, without asking the ACL about any path: the
    /// first stages of [`Core::authorize_request`] (lookup, CIDR binding, entity). It is not a
    /// use of a limited-use token. The gateway asks it to learn a caller's tenant before it
    /// asks `authorize_request` about the route's requirement for that tenant.
    pub async fn identify(
        &self,
        token: Option<&str>,
        remote: Option<std::net::IpAddr>,
    ) -> Result<Caller, Refused> {
        let unsealed = self.unsealed()?;
        let (key, entry) = self.authenticate(&unsealed, token, remote).await?;
        let grant = if entry.is_root() {
            None
        } else {
            Some(unsealed.grant_of(&entry).await?)
        };
        Ok(Caller::new(key, entry, grant))
    }

    /// A tag for decisions derived from the core's state (tokens, policies, identity,
    /// secrets, the seal): note it before deciding, and reuse a decision only while the tag is
    /// unchanged. It advances after every durable write, seal and unseal, so a revoked token,
    /// a changed policy, entity or secret, or a seal is seen by the very next request.
    pub fn state_generation(&self) -> u64 {
        self.barrier.write_generation()
    }

    /// [`Core::authorize_request`] for a request already routed to `routed`.
    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        unsealed: &Unsealed,
        routed: Option<&(Mounted, String)>,
        token: Option<&str>,
        remote: Option<std::net::IpAddr>,
        op: Operation,
        path: &str,
        data: &crate::logical::Map,
    ) -> Result<Caller, Refused> {
        let (key, entry) = self.authenticate(unsealed, token, remote).await?;
        let grant = if entry.is_root() {
            None
        } else {
            let grant = unsealed.grant_of(&entry).await?;
            let entry_exists = match op {
                Operation::Update => self.exists(routed).await?,
                _ => None,
            };
            grant
                .acl
                .allow(op, path, data, entry_exists, is_root_protected(path))?;
            Some(grant)
        };
        unsealed.tokens.record_use(&key, &entry).await?;
        Ok(Caller::new(key, entry, grant))
    }

    /// Turns `token`, used from `remote`, into its live entry. The entry is looked up on
    /// every call (through the token store's cache, which revocation invalidates) so a revoked
    /// or expired token stops working at once, and its CIDR binding is checked on every use.
    async fn authenticate(
        &self,
        unsealed: &Unsealed,
        token: Option<&str>,
        remote: Option<std::net::IpAddr>,
    ) -> Result<(String, Arc<TokenEntry>), Refused> {
        let token = token.filter(|t| !t.is_empty()).ok_or(Denial::NoToken)?;
        let key = unsealed.tokens.key_of(token);
        let entry = match unsealed.tokens.find_key(&key).await? {
            tokens::Found::Live(entry) => entry,
            tokens::Found::Expired => return Err(Denial::Expired.into()),
            tokens::Found::Unknown => return Err(Denial::UnknownToken.into()),
        };
        check_bound_cidrs(&entry, remote)?;
        Ok((key, entry))
    }

    /// Vault's existence check for a write, asked of the backend it is routed to (see
    /// [`Backend::exists`]); `None` where the path has none.
    async fn exists(&self, routed: Option<&(Mounted, String)>) -> Result<Option<bool>, Error> {
        match routed {
            Some((mounted, rel)) => {
                let view = self.barrier.view(&mounted.entry.storage_prefix());
                mounted.backend.exists(rel, &view).await
            }
            None => Ok(None),
        }
    }

    /// The mount's user lockout settings: its tune over the server's block for its type over
    /// the `all` block over Vault's defaults. Computed per request (a few map lookups) so a
    /// tune or a new mount needs nothing kept in sync with its backend.
    pub fn effective_lockout(&self, entry: &MountEntry) -> crate::logical::LockoutConfig {
        let blocks = &self.config.user_lockout;
        let mut config = crate::logical::LockoutConfig::default();
        for layer in [blocks.get("all"), blocks.get(entry.kind.as_str())]
            .into_iter()
            .flatten()
        {
            config = layer.over(config);
        }
        match &entry.config.user_lockout_config {
            Some(tune) => tune.over(config),
            None => config,
        }
    }

    fn effective_default_ttl(&self, entry: &MountEntry) -> u64 {
        match entry.config.default_lease_ttl {
            0 => self.config.default_lease_ttl.as_secs(),
            ttl => ttl,
        }
    }

    /// `sys/init`: creates the keyring, the mount table and the root token, then leaves the
    /// core sealed, as Vault does.
    pub async fn initialize(
        &self,
        shares: u64,
        threshold: u64,
        root_token_id: Option<&str>,
    ) -> Result<InitResult, Error> {
        let _guard = self.transition.lock().await;
        if self.is_initialized() {
            return Err(Error::bad_request("Vault is already initialized"));
        }
        let (shares, threshold) = SealConfig::validate(shares, threshold)?;
        let mut root_key = Zeroizing::new([0u8; seal::ROOT_KEY_LEN]);
        rand::Rng::fill(&mut rand::thread_rng(), root_key.as_mut_slice());
        // An auto seal wraps the root key before anything is written, so a key service that
        // is down or refuses leaves the core uninitialized. The shares handed out are then of
        // a separate recovery key.
        let (auto, shared_key) = match &self.config.auto_seal {
            Some(auto_seal) => {
                let failed =
                    |e: SealUnavailable| Error::internal(format!("initialization failed: {e}"));
                let wrapped_root_key = auto_seal.wrap(root_key.as_slice()).await.map_err(failed)?;
                // Every later start depends on decrypting it: a token that may encrypt but
                // not decrypt would make a server that never unseals again.
                let unwrapped = auto_seal.unwrap(&wrapped_root_key).await.map_err(failed)?;
                if !bool::from(unwrapped.as_slice().ct_eq(root_key.as_slice())) {
                    return Err(Error::internal(
                        "initialization failed: the seal did not give the root key back",
                    ));
                }
                let mut recovery_key = Zeroizing::new([0u8; seal::ROOT_KEY_LEN]);
                rand::Rng::fill(&mut rand::thread_rng(), recovery_key.as_mut_slice());
                let auto = auto_seal::AutoSealed {
                    kind: auto_seal.kind().to_string(),
                    wrapped_root_key,
                    recovery_key_digest: auto_seal::recovery_key_digest(recovery_key.as_slice()),
                };
                (Some(auto), recovery_key)
            }
            None => (None, root_key.clone()),
        };

        // A keyring without a seal config is left by a crash during an earlier init. Nothing
        // was ever handed out for it, so it protects nothing and is replaced.
        if self.barrier.is_initialized().await? {
            tracing::warn!("discarding the keyring of an interrupted initialization");
            self.barrier
                .backend()
                .commit(vec![physical::StorageOp::Delete(
                    crate::barrier::KEYRING_PATH.into(),
                )])
                .await
                .map_err(storage_error)?;
        }
        self.barrier.initialize(&root_key).await?;
        self.barrier.unseal(root_key.as_slice()).await?;
        let result = self.bootstrap(root_token_id).await;
        self.barrier.seal();
        let root_token = result?;

        let uuid = uuid::Uuid::new_v4().to_string();
        let config = SealConfig {
            secret_shares: shares,
            secret_threshold: threshold,
            cluster_name: format!("vault-cluster-{}", &uuid[..8]),
            cluster_id: uuid,
            auto,
        };
        let bytes = serde_json::to_vec(&config)
            .map_err(|e| Error::internal(format!("encoding seal configuration: {e}")))?;
        // Written last: a crash before this point leaves the core uninitialized.
        self.barrier
            .backend()
            .commit(vec![physical::StorageOp::Put(
                SEAL_CONFIG_PATH.into(),
                bytes,
            )])
            .await
            .map_err(storage_error)?;
        *self.seal_config.write() = Some(config);
        let recovery = self.config.auto_seal.is_some();
        if recovery {
            // As Vault does after an auto-sealed init: unseal with the key in hand. The keys
            // must reach the caller whatever happens, and the auto-unseal loop tries again.
            if let Err(e) = self.open(root_key.as_slice()).await {
                tracing::error!("unsealing after initialization failed: {e}");
            }
        }
        Ok(InitResult {
            keys: seal::split(&shared_key, shares, threshold),
            recovery,
            root_token,
        })
    }

    /// Writes the initial mount table and the root token into a freshly unsealed barrier.
    async fn bootstrap(&self, root_token_id: Option<&str>) -> Result<Zeroizing<String>, Error> {
        let secrets = vec![
            MountEntry::new(
                Table::Secrets,
                "sys/",
                "system",
                "system endpoints used for control, policy and debugging",
                None,
            ),
            identity_mount(),
        ];
        self.persist_mount_table(Table::Secrets, &secrets).await?;
        let auth = vec![MountEntry::new(
            Table::Auth,
            "token/",
            "token",
            "token based credentials",
            None,
        )];
        self.persist_mount_table(Table::Auth, &auth).await?;
        let tokens = TokenStore::open(
            Arc::new(self.barrier.view(TOKEN_STORE_PREFIX)),
            self.clock.clone(),
        )
        .await?;
        let root_token = match root_token_id {
            Some(id) if !id.is_empty() => Zeroizing::new(id.to_string()),
            _ => generate_token_id(),
        };
        tokens.create(&root_token, self.root_token_entry()).await?;
        Ok(root_token)
    }

    /// A new root token's entry, as `sys/init` and `sys/generate-root` make it: the root
    /// policy, no TTL, a fresh accessor.
    fn root_token_entry(&self) -> TokenEntry {
        let now = self.clock.now();
        TokenEntry {
            accessor: generate_accessor(),
            policies: vec!["root".into()],
            path: "auth/token/root".into(),
            display_name: "root".into(),
            creation_time: unix(now),
            issue_time: crate::clock::rfc3339(now),
            ..TokenEntry::default()
        }
    }

    /// `sys/unseal` with a key: adds it to the progress, and unseals once the threshold is met.
    /// A malformed key is a 400 and leaves progress unchanged; a well-formed wrong share
    /// counts, and reaching the threshold with it fails and resets progress, as in Vault.
    /// Under an auto seal the keys are recovery keys: once they check out, the key service
    /// unwraps the root key.
    pub async fn unseal(&self, key: &str) -> Result<(), Error> {
        let _guard = self.transition.lock().await;
        let config = self
            .seal_config()
            .ok_or_else(|| Error::bad_request("Vault is not initialized"))?;
        let parts = {
            let mut state = self.state.write();
            let SealState::Sealed(progress) = &mut *state else {
                return Ok(());
            };
            let key = seal::decode_key(&config, key)?;
            progress.add(key);
            if progress.count() < usize::from(config.secret_threshold) {
                return Ok(());
            }
            progress.take()
        };
        let combined = seal::combine(&config, &parts)?;
        let root_key = match &config.auto {
            None => combined,
            Some(auto) => {
                if !auto.is_recovery_key(&combined) {
                    return Err(Error::bad_request("unseal failed: invalid recovery key"));
                }
                self.unwrap_root_key(auto).await?
            }
        };
        self.open(&root_key).await
    }

    /// Unseals through the auto seal's key service, without keys: what a server with a
    /// `seal "transit"` block does at start. `Ok(false)` when there is nothing to do
    /// (no auto seal, not initialized, or already unsealed).
    pub async fn auto_unseal(&self) -> Result<bool, Error> {
        let _guard = self.transition.lock().await;
        let Some(auto) = self.seal_config().and_then(|c| c.auto) else {
            return Ok(false);
        };
        if !self.is_sealed() {
            return Ok(false);
        }
        let root_key = self.unwrap_root_key(&auto).await?;
        self.open(&root_key).await.map(|()| true)
    }

    /// Whether the core was unsealed since the process started; the auto-unseal loop stops
    /// then, so that a later `sys/seal` holds until someone unseals with recovery keys.
    pub fn was_unsealed(&self) -> bool {
        self.unsealed_once
            .load(std::sync::atomic::Ordering::Acquire)
    }

    async fn unwrap_root_key(
        &self,
        auto: &auto_seal::AutoSealed,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let auto_seal =
            self.config.auto_seal.as_ref().ok_or_else(|| {
                Error::internal(format!("the {} seal is not configured", auto.kind))
            })?;
        auto_seal
            .unwrap(&auto.wrapped_root_key)
            .await
            .map_err(|e| Error::internal(format!("unseal failed: {e}")))
    }

    /// Opens the barrier with the root key and loads everything that exists only while
    /// unsealed. The caller holds `transition`.
    async fn open(&self, root_key: &[u8]) -> Result<(), Error> {
        self.barrier
            .unseal(root_key)
            .await
            .map_err(|_| Error::bad_request("unseal failed: invalid key"))?;
        let loaded = match self.load_unsealed().await {
            Ok(unsealed) => self.start_audit().await.map(|()| unsealed),
            Err(e) => Err(e),
        };
        match loaded {
            Ok(unsealed) => {
                let unsealed = Arc::new(unsealed);
                expiration::start(&unsealed);
                *self.state.write() = SealState::Unsealed(unsealed);
                self.unsealed_once
                    .store(true, std::sync::atomic::Ordering::Release);
                crate::metrics::metrics().sealed.set(0);
                tracing::info!("core unsealed");
                Ok(())
            }
            Err(e) => {
                self.barrier.seal();
                Err(e)
            }
        }
    }

    /// `sys/unseal` with `reset`: forgets the keys given so far.
    pub fn reset_unseal(&self) {
        if let SealState::Sealed(progress) = &mut *self.state.write() {
            progress.reset();
        }
    }

    /// `sys/seal`: drops everything derived from the keys, zeroizes the keyring and clears
    /// every cache.
    pub async fn seal(&self) -> Result<(), Error> {
        let _guard = self.transition.lock().await;
        let previous = std::mem::replace(
            &mut *self.state.write(),
            SealState::Sealed(Progress::default()),
        );
        self.operations.lock().clear();
        self.barrier.seal();
        self.stop_audit();
        crate::metrics::metrics().sealed.set(1);
        if let SealState::Unsealed(unsealed) = previous {
            unsealed.tokens.clear_cache();
            unsealed.policies.clear_cache();
            unsealed.acls.clear();
            *unsealed.router.write() = Router::default();
            tracing::info!("core sealed");
        }
        Ok(())
    }

    async fn load_unsealed(&self) -> Result<Unsealed, Error> {
        // First: the token store's mount serves it.
        let tokens = Arc::new(
            TokenStore::open(
                Arc::new(self.barrier.view(TOKEN_STORE_PREFIX)),
                self.clock.clone(),
            )
            .await?,
        );
        let mut router = Router::default();
        for table in [Table::Secrets, Table::Auth] {
            let mut entries = self.load_mount_table(table).await?;
            // Tables written before the identity store was a mount get it now, once, so its
            // accessor stays the same from then on.
            if table == Table::Secrets && !entries.iter().any(|e| e.kind == "identity") {
                entries.push(identity_mount());
                self.persist_mount_table(table, &entries).await?;
            }
            for entry in entries {
                let backend = self.backend_for(&entry, &tokens)?;
                router.insert(Mounted { entry, backend });
            }
        }
        Ok(Unsealed {
            router: RwLock::new(router),
            tokens,
            policies: PolicyStore::new(Arc::new(self.barrier.view(POLICY_STORE_PREFIX))),
            identity: identity::IdentityStore::new(
                Arc::new(self.barrier.view(IDENTITY_STORE_PREFIX)),
                self.clock.clone(),
            ),
            acls: acl_cache::AclCache::new(ACL_CACHE_CAPACITY),
        })
    }

    async fn load_mount_table(&self, table: Table) -> Result<Vec<MountEntry>, Error> {
        match self.barrier.get(table.storage_path()).await? {
            Some(bytes) => serde_json::from_slice::<Vec<MountEntry>>(&bytes)
                .map(|entries| {
                    entries
                        .into_iter()
                        .map(|e| MountEntry { table, ..e })
                        .collect()
                })
                .map_err(|e| Error::internal(format!("corrupt mount table: {e}"))),
            None => Err(Error::internal("mount table missing")),
        }
    }

    async fn persist_mount_table(&self, table: Table, entries: &[MountEntry]) -> Result<(), Error> {
        let bytes = serde_json::to_vec(entries)
            .map_err(|e| Error::internal(format!("encoding mount table: {e}")))?;
        self.barrier.put(table.storage_path(), bytes).await
    }

    /// The backend behind a mount entry: the core's own system backend, identity store and
    /// token store (`tokens`), or what the catalog builds for the type.
    fn backend_for(
        &self,
        entry: &MountEntry,
        tokens: &Arc<TokenStore>,
    ) -> Result<Arc<dyn Backend>, Error> {
        match (entry.table, entry.kind.as_str()) {
            (Table::Secrets, "system") => Ok(Arc::new(builtin::system::SystemBackend::new(
                self.this.clone(),
            ))),
            (Table::Secrets, "identity") => {
                Ok(Arc::new(identity::IdentityBackend::new(self.this.clone())))
            }
            (Table::Auth, "token") => Ok(Arc::new(token_backend::TokenBackend::new(
                tokens.clone(),
                self.clock.clone(),
                self.config.max_lease_ttl.as_secs(),
                self.this.clone(),
            ))),
            _ => self.config.catalog.build(entry, &self.clock),
        }
    }

    /// The mounts of one table, sorted by path.
    pub fn mounts(&self, table: Table) -> Result<Vec<MountEntry>, Error> {
        let unsealed = self.unsealed()?;
        let router = unsealed.router.read();
        Ok(router.entries(table).cloned().collect())
    }

    /// The mount that owns `path` (a request path), if any.
    pub fn mount_for(&self, path: &str) -> Result<Option<MountEntry>, Error> {
        let unsealed = self.unsealed()?;
        let router = unsealed.router.read();
        Ok(router.route(path).map(|(m, _)| m.entry.clone()))
    }

    /// `sys/mounts/<path>` or `sys/auth/<path>` POST: enables a secrets engine or an auth
    /// method. For secrets, `kind` may be `kv`, `kv-v1`, `kv-v2` or `generic`, as Vault
    /// accepts.
    pub async fn mount(
        &self,
        table: Table,
        path: &str,
        kind: &str,
        description: &str,
        mut options: Option<BTreeMap<String, String>>,
        config: MountConfig,
    ) -> Result<(), Error> {
        let path = normalize_mount_path(path)?;
        let kind = match (table, kind) {
            (_, "") => {
                return Err(Error::bad_request(
                    "backend type must be specified as a string",
                ))
            }
            (Table::Secrets, "kv-v1" | "kv-v2") => {
                options
                    .get_or_insert_with(BTreeMap::new)
                    .insert("version".into(), kind[4..].into());
                "kv"
            }
            (Table::Secrets, "generic" | "kv") => "kv",
            // The core's own mounts exist once, where the core put them.
            (Table::Secrets, "system" | "identity") => {
                return Err(Error::bad_request(format!(
                    "mount type of \"{kind}\" is not mountable"
                )))
            }
            (Table::Auth, "token") => {
                return Err(Error::bad_request(
                    "token credential backend cannot be instantiated",
                ))
            }
            (_, other) => other,
        };
        if let Some(v) = options.as_ref().and_then(|o| o.get("version")) {
            if kind == "kv" && v != "1" && v != "2" {
                return Err(Error::bad_request(format!("invalid kv version: {v}")));
            }
        }
        let _guard = self.transition.lock().await;
        let unsealed = self.unsealed()?;
        let mut entry = MountEntry::new(table, &path, kind, description, options);
        entry.config = config;
        unsealed
            .router
            .read()
            .check_free(table, &entry.router_path())?;
        let backend = self.backend_for(&entry, &unsealed.tokens)?;
        let mut entries: Vec<MountEntry> = unsealed.router.read().entries(table).cloned().collect();
        entries.push(entry.clone());
        self.persist_mount_table(table, &entries).await?;
        unsealed.router.write().insert(Mounted { entry, backend });
        Ok(())
    }

    /// `sys/mounts/<path>` or `sys/auth/<path>` DELETE: disables a mount and deletes its data.
    /// Unknown paths are a no-op, as in Vault.
    pub async fn unmount(&self, table: Table, path: &str) -> Result<(), Error> {
        let path = normalize_mount_path(path)?;
        let router_path = format!("{}{path}", table.prefix());
        let _guard = self.transition.lock().await;
        let unsealed = self.unsealed()?;
        let Some(mounted) = unsealed.router.read().get(&router_path).cloned() else {
            return Ok(());
        };
        if matches!(mounted.entry.kind.as_str(), "system" | "identity" | "token") {
            return Err(Error::bad_request(format!("cannot unmount \"{path}\"")));
        }
        let entries: Vec<MountEntry> = unsealed
            .router
            .read()
            .entries(table)
            .filter(|e| e.path != path)
            .cloned()
            .collect();
        // The table goes first: once it no longer names the mount, its data is unreachable,
        // so a crash during the data clean-up below leaks nothing.
        self.persist_mount_table(table, &entries).await?;
        unsealed.router.write().remove(&router_path);
        delete_tree(&self.barrier.view(&mounted.entry.storage_prefix()), "").await
    }

    /// `sys/mounts/<path>/tune` POST; each field of `tune` left `None` is kept.
    pub async fn tune(&self, table: Table, path: &str, tune: MountTune) -> Result<(), Error> {
        let MountTune {
            description,
            default_lease_ttl,
            max_lease_ttl,
            options,
            user_lockout,
        } = tune;
        let path = normalize_mount_path(path)?;
        let _guard = self.transition.lock().await;
        let unsealed = self.unsealed()?;
        let router_path = format!("{}{path}", table.prefix());
        let Some(mut entry) = unsealed
            .router
            .read()
            .get(&router_path)
            .map(|m| m.entry.clone())
        else {
            return Err(Error::bad_request(format!("no mount at {path}")));
        };
        if let Some(d) = description {
            entry.description = d;
        }
        if let Some(ttl) = default_lease_ttl {
            entry.config.default_lease_ttl = ttl;
        }
        if let Some(ttl) = max_lease_ttl {
            entry.config.max_lease_ttl = ttl;
        }
        let max = match entry.config.max_lease_ttl {
            0 => self.config.max_lease_ttl.as_secs(),
            m => m,
        };
        if entry.config.default_lease_ttl > max {
            return Err(Error::bad_request(
                "tuning of default lease TTL exceeds max lease TTL",
            ));
        }
        if let Some(tune) = user_lockout {
            // Vault tunes lockout only where logins lock names out.
            if table != Table::Auth || !matches!(entry.kind.as_str(), "userpass" | "approle") {
                return Err(Error::bad_request(format!(
                    "tuning of user lockout configuration for auth type \"{}\" not allowed",
                    entry.kind
                )));
            }
            // Each field given replaces the stored one; the others are kept, as in Vault.
            let stored = entry
                .config
                .user_lockout_config
                .get_or_insert_with(Default::default);
            stored.threshold = tune.threshold.or(stored.threshold);
            stored.duration = tune.duration.or(stored.duration);
            stored.counter_reset = tune.counter_reset.or(stored.counter_reset);
            stored.disable = tune.disable.or(stored.disable);
        }
        if let Some(new_options) = options {
            let current = entry.options.clone().unwrap_or_default();
            for (k, v) in new_options {
                if k == "version" && current.get("version").map(String::as_str).unwrap_or("1") != v
                {
                    return Err(Error::bad_request(
                        "changing the kv version of a mount is not supported",
                    ));
                }
                entry.options.get_or_insert_with(BTreeMap::new).insert(k, v);
            }
        }
        let entries: Vec<MountEntry> = unsealed
            .router
            .read()
            .entries(table)
            .map(|e| {
                if e.path == path {
                    entry.clone()
                } else {
                    e.clone()
                }
            })
            .collect();
        self.persist_mount_table(table, &entries).await?;
        unsealed.router.write().update_entry(entry);
        Ok(())
    }

    /// Vault's `sys/locked-users`: the names each auth mount keeps locked, by mount accessor
    /// (only the mount `accessor` when given). Each backend holds its own lockout state
    /// ([`crate::logical::Backend::locked_users`]); the core only walks the auth table.
    pub async fn locked_users(
        &self,
        accessor: Option<&str>,
    ) -> Result<Vec<(String, Vec<String>)>, Error> {
        let mut out = Vec::new();
        for mounted in self.auth_mounts(accessor)? {
            let view = self.barrier.view(&mounted.entry.storage_prefix());
            let config = self.effective_lockout(&mounted.entry);
            let names = mounted.backend.locked_users(&view, &config).await?;
            if !names.is_empty() {
                out.push((mounted.entry.accessor.clone(), names));
            }
        }
        Ok(out)
    }

    /// `sys/locked-users/<accessor>/unlock/<alias>`. As in Vault, an unknown accessor or a
    /// name that is not locked is no error.
    pub async fn unlock_user(&self, accessor: &str, alias: &str) -> Result<(), Error> {
        for mounted in self.auth_mounts(Some(accessor))? {
            let view = self.barrier.view(&mounted.entry.storage_prefix());
            let config = self.effective_lockout(&mounted.entry);
            mounted.backend.unlock_user(&view, &config, alias).await?;
        }
        Ok(())
    }

    /// The auth mounts (one, when `accessor` is given), cloned so no lock is held across the
    /// backends' awaits.
    fn auth_mounts(&self, accessor: Option<&str>) -> Result<Vec<Mounted>, Error> {
        let unsealed = self.unsealed()?;
        let router = unsealed.router.read();
        Ok(router
            .entries(Table::Auth)
            .filter(|e| accessor.is_none_or(|a| e.accessor == a))
            .filter_map(|e| router.get(&e.router_path()).cloned())
            .collect())
    }

    /// The mount's effective TTLs as `sys/mounts/<path>/tune` GET reports them.
    pub fn effective_ttls(&self, entry: &MountEntry) -> (u64, u64) {
        let max = match entry.config.max_lease_ttl {
            0 => self.config.max_lease_ttl.as_secs(),
            m => m,
        };
        (self.effective_default_ttl(entry), max)
    }

    /// `sys/seal-status` as Vault and OpenBao report it.
    pub fn seal_status(&self) -> Value {
        let config = self.seal_config();
        let (progress, nonce) = self.unseal_progress();
        let sealed = self.is_sealed();
        let auto_seal = self.config.auto_seal.as_ref();
        let mut status = json!({
            "type": auto_seal.map_or("shamir", |s| s.kind()),
            "initialized": config.is_some(),
            "sealed": sealed,
            "t": config.as_ref().map(|c| c.secret_threshold).unwrap_or(0),
            "n": config.as_ref().map(|c| c.secret_shares).unwrap_or(0),
            "progress": progress,
            "nonce": nonce,
            "version": env!("CARGO_PKG_VERSION"),
            "commit_date": env!("MAINKEY_COMMIT_DATE"),
            "migration": false,
            // Before init too: the bao CLI reads it to choose between unseal and recovery
            // shares.
            "recovery_seal": auto_seal.is_some(),
            "storage_type": self.config.storage_type,
        });
        if let (Some(_), Value::Object(m)) = (auto_seal, &mut status) {
            m.insert("recovery_seal_type".into(), "shamir".into());
        }
        if let (Some(c), false, Value::Object(m)) = (&config, sealed, &mut status) {
            m.insert("cluster_name".into(), c.cluster_name.clone().into());
            m.insert("cluster_id".into(), c.cluster_id.clone().into());
        }
        status
    }

    /// Zeroizes keys on process shutdown; acknowledged writes are already durable.
    pub fn shutdown(&self) {
        *self.state.write() = SealState::Sealed(Progress::default());
        self.operations.lock().clear();
        self.barrier.seal();
        self.stop_audit();
        crate::metrics::metrics().sealed.set(1);
        self.barrier.backend().close();
    }
}

/// Counts one request in `mainkey_core_requests_total` and its latency, with the status the
/// client will see.
fn count_request(ctx: &RequestContext, outcome: &Result<Response, Error>) {
    let code = match outcome {
        Ok(resp) => resp.status_code(),
        Err(e) => e.status(),
    };
    let mount = ctx.mount.as_deref().unwrap_or("");
    let operation = ctx.operation.as_str();
    let m = crate::metrics::metrics();
    m.requests
        .with_label_values(&[mount, operation, status_label(code)])
        .inc();
    m.request_duration
        .with_label_values(&[mount, operation])
        .observe(ctx.started.elapsed().as_secs_f64());
}

/// The `code` label without an allocation for the statuses mainkey answers with.
fn status_label(code: u16) -> &'static str {
    match code {
        200 => "200",
        202 => "202",
        204 => "204",
        400 => "400",
        403 => "403",
        404 => "404",
        405 => "405",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// A token with `bound_cidrs` may be used only from an address inside one of them; with no
/// known address it may not be used at all (fail closed).
fn check_bound_cidrs(entry: &TokenEntry, remote: Option<std::net::IpAddr>) -> Result<(), Denial> {
    if entry.bound_cidrs.is_empty() {
        return Ok(());
    }
    let allowed = remote.is_some_and(|ip| {
        entry
            .bound_cidrs
            .iter()
            .filter_map(|c| crate::logical::IpNet::parse(c))
            .any(|net| net.contains(ip))
    });
    if allowed {
        Ok(())
    } else {
        Err(Denial::Cidr)
    }
}

/// A core whose stored seal configuration and configured seal disagree cannot open: the
/// root key is wrapped by one and looked for in the other. mainkey does not migrate seals.
fn check_seal_kind(stored: &SealConfig, configured: Option<&dyn AutoSeal>) -> Result<(), String> {
    match (&stored.auto, configured) {
        (None, None) => Ok(()),
        (Some(auto), Some(seal)) if auto.kind == seal.kind() => Ok(()),
        (Some(auto), None) => Err(format!(
            "the storage is sealed by the {kind} seal, but the config has no seal \"{kind}\" \
             block: add it (mainkey does not migrate seals)",
            kind = auto.kind
        )),
        (None, Some(seal)) => Err(format!(
            "the storage is sealed with Shamir unseal keys, but the config has a seal \"{}\" \
             block: remove it (mainkey does not migrate seals)",
            seal.kind()
        )),
        (Some(auto), Some(seal)) => Err(format!(
            "the storage is sealed by the {} seal, but the config has a seal \"{}\" block \
             (mainkey does not migrate seals)",
            auto.kind,
            seal.kind()
        )),
    }
}

/// Paths that need `sudo` on top of the operation's capability, as Vault's root-protected
/// paths.
fn is_root_protected(path: &str) -> bool {
    const EXACT: &[&str] = &[
        "sys/rotate",
        "sys/seal",
        "sys/audit",
        "sys/step-down",
        "auth/token/revoke-orphan",
        "auth/token/accessors/",
        // The whole store out, or replaced: Vault's snapshot endpoints need sudo too.
        "sys/storage/raft/snapshot",
        "sys/storage/raft/snapshot-force",
    ];
    const PREFIXES: &[&str] = &[
        "sys/auth/",
        "sys/audit/",
        "sys/raw/",
        "sys/revoke-force/",
        "sys/revoke-prefix/",
    ];
    EXACT.contains(&path) || PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Whether `rel` matches one of a backend's unauthenticated path patterns (`login`,
/// `login/*`).
fn is_unauthenticated(patterns: &[&str], rel: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => rel.starts_with(prefix),
        None => rel == *p,
    })
}

/// The identity store's storage prefix inside the barrier.
const IDENTITY_STORE_PREFIX: &str = "sys/identity/";

/// The identity store's mount, as Vault's: `identity/`, which cannot be unmounted.
fn identity_mount() -> MountEntry {
    MountEntry::new(
        Table::Secrets,
        "identity/",
        "identity",
        "identity store",
        None,
    )
}

/// The policy store's storage prefix inside the barrier.
const POLICY_STORE_PREFIX: &str = "sys/policy/";

/// The token store's storage prefix inside the barrier.
const TOKEN_STORE_PREFIX: &str = "sys/token/";

fn storage_error(e: physical::PhysicalError) -> Error {
    Error::internal(e.to_string())
}

/// Deletes every key below `prefix` of `storage`, in bounded batches.
async fn delete_tree(storage: &dyn Storage, prefix: &str) -> Result<(), Error> {
    let mut pending = vec![prefix.to_string()];
    let mut batch = Vec::new();
    while let Some(dir) = pending.pop() {
        for child in storage.list(&dir).await? {
            let full = format!("{dir}{child}");
            if child.ends_with('/') {
                pending.push(full);
            } else {
                batch.push(crate::logical::StorageOp::Delete(full));
                if batch.len() >= 256 {
                    storage.commit(std::mem::take(&mut batch)).await?;
                }
            }
        }
    }
    if !batch.is_empty() {
        storage.commit(batch).await?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auto_seal;
#[cfg(test)]
mod tests_existence;
#[cfg(test)]
mod tests_lockout;
#[cfg(test)]
mod tests_observers;
#[cfg(test)]
mod tests_pipeline;
#[cfg(test)]
mod tests_rekey;
#[cfg(test)]
mod tests_tokens;

/// Built ACLs kept: one per distinct (token policies, entity) pair, so about one per tenant
/// or service identity. A miss only costs a rebuild.
const ACL_CACHE_CAPACITY: u64 = 10_000;
