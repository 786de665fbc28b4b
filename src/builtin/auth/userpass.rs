//! The userpass auth method: named users with argon2id-hashed passwords, as OpenBao's
//! `userpass` behaves on the wire.
//!
//! Storage (the mount's own view):
//! - `user/<lowercased name>`: a [`UserEntry`] as JSON, with the password only as an argon2id
//!   PHC string.
//!
//! Usernames are case-insensitive: every path lowercases the name before it touches storage,
//! and the lowercased name is what the token metadata and the identity alias carry.
//!
//! Login costs one argon2 verification whether or not the user exists: an unknown user is
//! verified against a fixed dummy hash with the same parameters, so the answer's timing does
//! not tell which usernames exist.
//!
//! Hashing parameters: argon2id, version 0x13, m = 19 MiB (19456 KiB), t = 2, p = 1, a 16-byte
//! random salt and a 32-byte output: OWASP's recommended argon2id setting, costing about as
//! much time per login as Vault's bcrypt (cost 10) does. Every hash and verification runs on
//! the small fixed [`pool::HashPool`] (half the cores, a short queue), so concurrent logins
//! take a fixed amount of memory; past the queue a login is answered 429 at once, whether the
//! user exists or not.

use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use lockout::Lockout;
use pool::HashPool;

use super::token_fields::{with_token_keys, Legacy, LegacyFields, ParseOptions, TokenFields};
use super::{cidr, input, internal, unsupported_path, valid_name};
use crate::clock::SharedClock;
use crate::logical::fields::sorted_data;
use crate::logical::{Alias, Auth, Backend, Error, Map, Operation, Request, Response, Storage};

const USER_PREFIX: &str = "user/";
const LEGACY: &[Legacy] = &[
    Legacy::Policies,
    Legacy::Ttl,
    Legacy::MaxTtl,
    Legacy::BoundCidrs,
];
const INVALID_CREDENTIALS: &str = "invalid username or password";

/// One user as stored.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct UserEntry {
    token: TokenFields,
    legacy: LegacyFields,
    /// argon2id PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`).
    password_hash: String,
}

// Shows no hash.
impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// The userpass auth method.
pub struct Userpass {
    params: Params,
    /// The hash unknown users are verified against; made on first use with `params`.
    dummy_hash: OnceCell<String>,
    /// Number of argon2 verifications run, so tests can see that an unknown user costs one.
    verifications: AtomicU64,
    /// Failed logins per username; five lock the name for 15 minutes.
    lockout: Lockout,
}

impl Default for Userpass {
    fn default() -> Self {
        Self::new()
    }
}

impl Userpass {
    /// argon2id with the crate's default cost (OWASP's m=19 MiB, t=2, p=1).
    pub fn new() -> Self {
        Self::with_params(Params::default())
    }

    /// A given argon2id cost; tests use a cheap one. Hashes keep their own parameters, so a
    /// cost change only affects passwords set afterwards.
    pub fn with_params(params: Params) -> Self {
        Userpass {
            params,
            dummy_hash: OnceCell::new(),
            verifications: AtomicU64::new(0),
            lockout: Lockout::new(std::sync::Arc::new(crate::clock::SystemClock)),
        }
    }

    /// The clock the lockout reads (the core's injected one).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.lockout = Lockout::new(clock);
        self
    }

    /// The lockout state of this mount, for `sys/locked-users` and the mount's tuning.
    pub fn lockout(&self) -> &Lockout {
        &self.lockout
    }

    /// How many password verifications this backend has run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Hashes off the async threads: one argon2 run takes tens of milliseconds.
    async fn hash(&self, password: Zeroizing<String>) -> Result<String, Error> {
        let params = self.params.clone();
        HashPool::global()?
            .run(move || hash_phc(&password, params))
            .await?
    }

    async fn dummy_hash(&self) -> Result<String, Error> {
        self.dummy_hash
            .get_or_try_init(|| {
                let mut random = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut random);
                self.hash(Zeroizing::new(hex::encode(random)))
            })
            .await
            .cloned()
    }

    /// Verifies `password` against a PHC string. An unparsable hash verifies nothing but still
    /// costs a verification against the dummy hash.
    async fn verify(&self, password: Zeroizing<String>, phc: String) -> Result<bool, Error> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let dummy = self.dummy_hash().await?;
        HashPool::global()?
            .run(move || {
                let (phc, genuine) = match PasswordHash::new(&phc) {
                    Ok(h) if affordable(&h) => (phc, true),
                    _ => (dummy, false),
                };
                let Ok(parsed) = PasswordHash::new(&phc) else {
                    return false;
                };
                verify_phc(password.as_bytes(), &parsed) && genuine
            })
            .await
    }
}

async fn load_user(storage: &dyn Storage, name: &str) -> Result<Option<UserEntry>, Error> {
    super::load_record(storage, &format!("{USER_PREFIX}{name}"), "userpass", "user").await
}

/// A user that a sub-path (`password`, `policies`) changes: it must exist.
async fn existing_user(storage: &dyn Storage, name: &str) -> Result<UserEntry, Error> {
    load_user(storage, name)
        .await?
        .ok_or_else(|| internal("username does not exist"))
}

async fn save_user(storage: &dyn Storage, name: &str, user: &UserEntry) -> Result<(), Error> {
    let bytes = super::encode_record("userpass", user, "user")?;
    storage.put(&format!("{USER_PREFIX}{name}"), bytes).await
}

/// Accepts a pre-hashed password: an argon2id PHC string. (OpenBao takes bcrypt here.)
fn check_password_hash(phc: &str) -> Result<(), Error> {
    match PasswordHash::new(phc) {
        Ok(h) if h.algorithm == Algorithm::Argon2id.ident() && h.hash.is_some() => {
            if affordable(&h) {
                Ok(())
            } else {
                Err(Error::bad_request(format!(
                    "password_hash costs more than m={MAX_M_COST_KIB}, t={MAX_T_COST}, p={MAX_P_COST}"
                )))
            }
        }
        _ => Err(Error::bad_request(
            "password_hash is not a valid argon2id hash",
        )),
    }
}

/// The most a stored hash may cost to verify: each verification runs on one of the few
/// hashing threads, and a hash set with `m` of gigabytes would make every login to that user
/// allocate them.
const MAX_M_COST_KIB: u32 = 64 * 1024;
const MAX_T_COST: u32 = 10;
const MAX_P_COST: u32 = 4;

thread_local! {
    /// The argon2 memory of this hashing thread, reused by every hash it runs: the pool's
    /// threads never allocate per hash, so memory stays at threads x `m` however many logins
    /// come (a fresh 19 MiB allocation per hash left the allocator holding tens of MB).
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with `count` blocks of this thread's argon2 memory. The buffer grows to the
/// largest cost seen, which [`affordable`] bounds.
fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < count {
            blocks.resize(count, argon2::Block::default());
        }
        f(&mut blocks[..count])
    })
}

/// A new argon2id PHC string for `password`, with a random 16-byte salt.
fn hash_phc(password: &str, params: Params) -> Result<String, Error> {
    let fail = || Error::internal("userpass: cannot hash password");
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| fail())?;
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt
        .as_salt()
        .decode_b64(&mut raw_salt)
        .map_err(|_| fail())?;
    let mut out = Zeroizing::new(vec![
        0u8;
        params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN)
    ]);
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_blocks(params.block_count(), |blocks| {
        hasher.hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, blocks)
    })
    .map_err(|_| fail())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(&params).map_err(|_| fail())?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).map_err(|_| fail())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches `hash`, computed in this thread's reused memory; the outputs
/// are compared in constant time (`Output`'s equality).
fn verify_phc(password: &[u8], hash: &PasswordHash<'_>) -> bool {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let mut raw_salt = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut raw_salt) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let hasher = Argon2::new(algorithm, version, params.clone());
    let computed = with_blocks(params.block_count(), |blocks| {
        hasher.hash_password_into_with_memory(password, raw_salt, &mut out, blocks)
    });
    computed.is_ok() && argon2::password_hash::Output::new(&out).is_ok_and(|out| out == *expected)
}

fn affordable(hash: &PasswordHash<'_>) -> bool {
    Params::try_from(hash).is_ok_and(|p| {
        p.m_cost() <= MAX_M_COST_KIB && p.t_cost() <= MAX_T_COST && p.p_cost() <= MAX_P_COST
    })
}

/// The path's parts: `users/<name>[/password|/policies]` or `login/<name>`.
enum Route<'a> {
    List,
    User(&'a str),
    Password(&'a str),
    Policies(&'a str),
    Login(&'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    if path == "users" || path == "users/" {
        return Some(Route::List);
    }
    if let Some(rest) = path.strip_prefix("users/") {
        let (name, tail) = match rest.split_once('/') {
            Some((n, t)) => (n, Some(t)),
            None => (rest, None),
        };
        if !valid_name(name) {
            return None;
        }
        return match tail {
            None => Some(Route::User(name)),
            Some("password") => Some(Route::Password(name)),
            Some("policies") => Some(Route::Policies(name)),
            Some(_) => None,
        };
    }
    if let Some(name) = path.strip_prefix("login/") {
        return valid_name(name).then_some(Route::Login(name));
    }
    None
}

#[async_trait]
impl Backend for Userpass {
    async fn locked_users(
        &self,
        storage: &dyn Storage,
        config: &crate::logical::LockoutConfig,
    ) -> Result<Vec<String>, Error> {
        self.lockout.locked(storage, config).await
    }

    async fn unlock_user(
        &self,
        storage: &dyn Storage,
        config: &crate::logical::LockoutConfig,
        alias: &str,
    ) -> Result<(), Error> {
        // Logins fold the name to lower case, so the lock is held under that.
        self.lockout
            .unlock(storage, config, &alias.to_lowercase())
            .await
            .map(|_| ())
    }

    async fn renew(
        &self,
        storage: &dyn Storage,
        login: &crate::logical::Auth,
    ) -> Result<Option<crate::logical::Renewal>, Error> {
        Userpass::renew(self, storage, login).await.map(Some)
    }

    /// Only `users/<name>` has one; `password` and `policies` change an existing user.
    async fn exists(&self, path: &str, storage: &dyn Storage) -> Result<Option<bool>, Error> {
        match route(path) {
            Some(Route::User(name)) => Ok(Some(
                load_user(storage, &name.to_lowercase()).await?.is_some(),
            )),
            _ => Ok(None),
        }
    }

    async fn handle(&self, req: &Request, storage: &dyn Storage) -> Result<Response, Error> {
        let Some(route) = route(&req.path) else {
            if req.path.starts_with("login") {
                // Vault words the unauthenticated 404 without the multierror wrapping.
                return Err(Error::NoHandler("unsupported path".into()));
            }
            return Err(unsupported_path());
        };
        match (route, req.operation) {
            (Route::List, Operation::List) => input::list_keys(req, storage, USER_PREFIX).await,
            (Route::User(name), Operation::Read) => self.read_user(req, storage, name).await,
            (Route::User(name), Operation::Update) => self.write_user(req, storage, name).await,
            (Route::User(name), Operation::Delete) => {
                storage
                    .delete(&format!("{USER_PREFIX}{}", name.to_lowercase()))
                    .await?;
                Ok(Response::empty())
            }
            (Route::Password(name), Operation::Update) => {
                self.write_password(req, storage, name).await
            }
            (Route::Policies(name), Operation::Update) => write_policies(req, storage, name).await,
            (Route::Login(name), Operation::Update) => self.login(req, storage, name).await,
            // Vault routes a LIST as the path plus `/`, which only the list path matches.
            (_, Operation::List) => Err(unsupported_path()),
            _ => Err(Error::UnsupportedOperation),
        }
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login/*"]
    }
}

impl Userpass {
    async fn read_user(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let Some(user) = load_user(storage, &name.to_lowercase()).await? else {
            return Err(Error::NotFound);
        };
        let mut data = Map::new();
        user.token.render(&mut data);
        let legacy = &user.legacy;
        if legacy.ttl > 0 {
            data.insert("ttl".into(), legacy.ttl.into());
        }
        if legacy.max_ttl > 0 {
            data.insert("max_ttl".into(), legacy.max_ttl.into());
        }
        if !legacy.policies.is_empty() {
            data.insert("policies".into(), user.token.token_policies.clone().into());
        }
        if !legacy.bound_cidrs.is_empty() {
            data.insert("bound_cidrs".into(), legacy.bound_cidrs.clone().into());
        }
        let mut resp = Response::data(sorted_data(Value::Object(data)));
        input::warn_unknown(&mut resp, &req.data, &with_token_keys(USER_FIELDS));
        Ok(resp)
    }

    async fn write_user(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let name = name.to_lowercase();
        let existing = load_user(storage, &name).await?;
        let creating = existing.is_none();
        let mut user = existing.unwrap_or_default();
        let password = if creating {
            Some(required_password(&req.data)?)
        } else {
            password_input(&req.data)?
        };
        let mut warnings = user.token.parse(&req.data, ParseOptions::default())?;
        user.token.upgrade(&mut user.legacy, &req.data, LEGACY)?;
        if let Some(p) = password {
            user.password_hash = self.password_to_hash(p).await?;
        }
        save_user(storage, &name, &user).await?;
        let mut resp = Response::empty();
        resp.warnings.append(&mut warnings);
        Ok(resp)
    }

    async fn password_to_hash(&self, p: PasswordInput) -> Result<String, Error> {
        match p {
            PasswordInput::Plain(pw) => self.hash(pw).await,
            PasswordInput::Hash(phc) => Ok(phc),
        }
    }

    async fn write_password(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let name = name.to_lowercase();
        let password = required_password(&req.data)?;
        let mut user = existing_user(storage, &name).await?;
        user.password_hash = self.password_to_hash(password).await?;
        save_user(storage, &name, &user).await?;
        Ok(Response::empty())
    }

    async fn login(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let name = name.to_lowercase();
        let password = Zeroizing::new(input::string(&req.data, "password")?.unwrap_or_default());
        if password.is_empty() {
            // Vault answers this with a 500; it says nothing about the user.
            return Err(Error::Internal("missing password".into()));
        }
        // Make the dummy hash before looking the user up, so the first login costs the same
        // for a known and an unknown name.
        self.dummy_hash().await?;
        let locked = self
            .lockout
            .is_locked(storage, &req.user_lockout, &name)
            .await?;
        let user = load_user(storage, &name).await;
        let phc = match &user {
            Ok(Some(u)) => u.password_hash.clone(),
            _ => String::new(),
        };
        // Always exactly one verification, locked or not; an empty hash verifies against the
        // dummy. A login turned away by the hashing queue (429) is not a failure.
        let matched = self.verify(password, phc).await?;
        if locked {
            // The answer, and the cost, of a wrong password.
            return Err(Error::bad_request(INVALID_CREDENTIALS));
        }
        let user = match user? {
            Some(u) if matched => u,
            _ => {
                self.lockout
                    .record_failure(storage, &req.user_lockout, &name)
                    .await?;
                return Err(Error::bad_request(INVALID_CREDENTIALS));
            }
        };
        self.lockout.record_success(&name);
        if !user.token.token_bound_cidrs.is_empty() {
            let nets = cidr::parse_stored(&user.token.token_bound_cidrs)?;
            match req.remote_addr {
                Some(ip) if cidr::any_contains(&nets, ip) => {}
                _ => return Err(Error::PermissionDenied),
            }
        }
        let mut auth = Auth {
            display_name: name.clone(),
            alias: Some(Alias {
                name: name.clone(),
                metadata: Default::default(),
            }),
            ..Default::default()
        };
        auth.metadata.insert("username".into(), name);
        user.token.fill_auth(&mut auth, req.remote_addr)?;
        Ok(super::login_response(
            auth,
            &req.data,
            &["username", "password"],
        ))
    }
}

impl Userpass {
    /// Whether a token this method issued may be renewed, and on which terms: the user must
    /// still exist and still grant the same policies (`default` aside, in any order).
    /// `auth` is the token's login as the core kept it.
    pub async fn renew(&self, storage: &dyn Storage, auth: &Auth) -> Result<super::Renewal, Error> {
        let name = auth.metadata.get("username").cloned().unwrap_or_default();
        let Some(user) = load_user(storage, &name).await? else {
            return Err(Error::bad_request("user no longer exists, not renewing"));
        };
        let set = |p: &[String]| -> std::collections::BTreeSet<String> {
            super::token_fields::normalize_policies(p)
                .into_iter()
                .filter(|x| x != "default")
                .collect()
        };
        if set(&user.token.token_policies) != set(&auth.policies) {
            return Err(Error::bad_request("policies have changed, not renewing"));
        }
        Ok(super::Renewal {
            ttl: user.token.token_ttl,
            max_ttl: user.token.token_max_ttl,
            period: user.token.token_period,
        })
    }
}

async fn write_policies(
    req: &Request,
    storage: &dyn Storage,
    name: &str,
) -> Result<Response, Error> {
    let name = name.to_lowercase();
    let mut user = existing_user(storage, &name).await?;
    // This endpoint parses both names like the legacy field: normalized and sorted.
    let parse = |key: &'static str| -> Result<Option<Vec<String>>, Error> {
        let Some(items) = input::comma_strings(&req.data, key)? else {
            return Ok(None);
        };
        let mut p = super::token_fields::normalize_policies(&items);
        p.sort();
        if p.iter().any(|x| x == "root") {
            return Err(Error::bad_request(
                "the \"root\" policy cannot be granted by an auth method",
            ));
        }
        Ok(Some(p))
    };
    let new = parse("token_policies")?;
    let old = parse("policies")?;
    match (new, old) {
        (Some(p), old) => {
            user.legacy.policies = if old.is_some() { p.clone() } else { Vec::new() };
            user.token.token_policies = p;
        }
        (None, Some(p)) => {
            user.legacy.policies = p.clone();
            user.token.token_policies = p;
        }
        (None, None) => return Ok(Response::empty()),
    }
    save_user(storage, &name, &user).await?;
    Ok(Response::empty())
}

enum PasswordInput {
    Plain(Zeroizing<String>),
    Hash(String),
}

/// `password` or `password_hash`, exactly one of them non-empty (or neither: `None`).
fn password_input(data: &Map) -> Result<Option<PasswordInput>, Error> {
    let password = Zeroizing::new(input::string(data, "password")?.unwrap_or_default());
    let hash = input::string(data, "password_hash")?.unwrap_or_default();
    match (password.is_empty(), hash.is_empty()) {
        (false, false) => Err(Error::bad_request(
            "only one of password or password_hash may be provided",
        )),
        (false, true) => Ok(Some(PasswordInput::Plain(password))),
        (true, false) => {
            check_password_hash(&hash)?;
            Ok(Some(PasswordInput::Hash(hash)))
        }
        (true, true) => Ok(None),
    }
}

/// `password` or `password_hash`, where one of them must be given.
fn required_password(data: &Map) -> Result<PasswordInput, Error> {
    password_input(data)?
        .ok_or_else(|| Error::bad_request("must provide either password or password_hash"))
}

const USER_FIELDS: &[&str] = &[
    "username",
    "password",
    "password_hash",
    "policies",
    "ttl",
    "max_ttl",
    "bound_cidrs",
];

pub mod lockout;
pub mod pool;
#[cfg(test)]
mod tests;
