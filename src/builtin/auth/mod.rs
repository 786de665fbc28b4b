//! Auth methods mounted under `auth/`: AppRole (services) and userpass (humans).
//!
//! A successful login returns `Response { login: Some(Auth), .. }`; the core mints the token,
//! prefixes `display_name` with the mount (Vault's `userpass-admin`), adds `default` unless
//! `no_default_policy`, and links `Auth.alias` to an identity entity. The methods themselves
//! never see a token.

pub mod approle;
mod cidr;
pub(crate) mod input;
pub mod jwt;
pub mod kubernetes;
pub mod token_fields;
pub mod userpass;

use crate::logical::{Alias, Auth, Error, Map, Request, Response, Storage};

pub use approle::AppRole;
pub use userpass::Userpass;

pub use crate::logical::Renewal;

/// Vault's `framework.GenericNameRegex`: `\w(([\w-.]+)?\w)?`, ASCII only. A name that does not
/// match makes the path unknown (404 `unsupported path`), not a bad request.
fn valid_name(name: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = name.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            word(first) && word(last) && b.iter().all(|&c| word(c) || c == b'-' || c == b'.')
        }
        _ => false,
    }
}

/// Decodes a JSON record that auth method `method` stored. A corrupt one is a 500 naming the
/// method and the record (`approle: stored role is corrupt`), never its content.
fn decode_record<T: serde::de::DeserializeOwned>(
    method: &str,
    bytes: &[u8],
    what: &str,
) -> Result<T, Error> {
    serde_json::from_slice(bytes)
        .map_err(|_| Error::internal(format!("{method}: stored {what} is corrupt")))
}

/// Encodes a record for auth method `method` to store, as [`decode_record`] reads it.
fn encode_record<T: serde::Serialize>(
    method: &str,
    value: &T,
    what: &str,
) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value)
        .map_err(|_| Error::internal(format!("{method}: cannot encode {what}")))
}

/// The JSON record at `key`, or `None` when nothing is stored there.
async fn load_record<T: serde::de::DeserializeOwned>(
    storage: &dyn Storage,
    key: &str,
    method: &str,
    what: &str,
) -> Result<Option<T>, Error> {
    match storage.get(key).await? {
        Some(bytes) => decode_record(method, &bytes, what).map(Some),
        None => Ok(None),
    }
}

/// Where AppRole, JWT and Kubernetes keep their roles: `role/<lowercased name>`. Vault
/// lowercases role names on every path, so `Dev` and `dev` are one role.
const ROLE_PREFIX: &str = "role/";

fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{}", name.to_lowercase())
}

/// Whether `value` matches `pattern`, where `*` matches any (possibly empty) run of
/// characters and nothing else is special: the globs of Kubernetes bound names and
/// namespaces and of JWT `bound_claims_type=glob`.
fn glob_match(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if value.len() < first.len() + last.len() || !value.starts_with(first) || !value.ends_with(last)
    {
        return false;
    }
    // Prefix and suffix matched at char boundaries, so this slice is valid.
    let mut rest = &value[first.len()..value.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Role `name` of auth method `method`, or `None` when there is no such role.
async fn load_role<T: serde::de::DeserializeOwned>(
    storage: &dyn Storage,
    method: &str,
    name: &str,
) -> Result<Option<T>, Error> {
    load_record(storage, &role_key(name), method, "role").await
}

/// A `jsonwebtoken` validation of the signature alone, for JWT and Kubernetes logins: they
/// check every claim themselves, with OpenBao's rules and texts.
fn signature_only(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    validation
}

/// Whether role `name` exists: the existence check of a method's `role/<name>` path, which
/// makes a write of a new role need `create` and of an existing one `update`, as in Vault.
async fn role_exists(storage: &dyn Storage, name: &str) -> Result<bool, Error> {
    Ok(storage.get(&role_key(name)).await?.is_some())
}

/// Stores `role` as role `name` of auth method `method`, as [`load_role`] reads it.
async fn save_role<T: serde::Serialize>(
    storage: &dyn Storage,
    method: &str,
    name: &str,
    role: &T,
) -> Result<(), Error> {
    storage
        .put(&role_key(name), encode_record(method, role, "role")?)
        .await
}

/// Deletes role `name` while holding `lock`, the lock that serializes the method's role
/// changes, so a delete cannot interleave with a write of the same role. Deleting a role
/// that does not exist succeeds, as in Vault.
async fn delete_role(
    lock: &tokio::sync::Mutex<()>,
    storage: &dyn Storage,
    name: &str,
) -> Result<Response, Error> {
    let _guard = lock.lock().await;
    storage.delete(&role_key(name)).await?;
    Ok(Response::empty())
}

/// Vault's 404 for a path no handler matches, as the framework words it for an authenticated
/// request.
fn unsupported_path() -> Error {
    Error::NoHandler(crate::logical::fields::multierror(&[
        "unsupported path".to_string()
    ]))
}

/// The role a token's login recorded in its `role` metadata, as `load` finds it, for a
/// renewal; with its name. Vault's JWT and Kubernetes methods refuse to renew a token whose
/// login named no role, or whose role has been deleted since.
async fn renewal_role<R, F, Fut>(login: &Auth, load: F) -> Result<(String, R), Error>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<R>, Error>>,
{
    let name = match login.metadata.get("role") {
        Some(name) if !name.is_empty() => name.clone(),
        _ => return Err(internal("failed to fetch role_name during renewal")),
    };
    match load(name.clone()).await? {
        Some(role) => Ok((name, role)),
        None => Err(internal(format!(
            "role {name} does not exist during renewal"
        ))),
    }
}

/// A login's answer: `auth` for the core to mint a token from, with Vault's warning for the
/// fields of `data` outside `known`, the ones the login endpoint declares.
fn login_response(auth: Auth, data: &Map, known: &[&str]) -> Response {
    let mut resp = Response {
        login: Some(auth),
        ..Default::default()
    };
    input::warn_unknown(&mut resp, data, known);
    resp
}

/// The login of a method where a JWT logs in to a role (JWT, Kubernetes). The token's
/// metadata is the alias's plus `role`, the role's name, which a renewal reads back
/// ([`renewal_role`]); its terms are the role's `token`. The endpoint takes `role` and `jwt`.
fn role_login(
    req: &Request,
    role: &str,
    token: &token_fields::TokenFields,
    display_name: String,
    alias: Alias,
    group_aliases: Vec<String>,
) -> Result<Response, Error> {
    let mut metadata = alias.metadata.clone();
    metadata.insert("role".into(), role.to_string());
    let mut auth = Auth {
        metadata,
        display_name,
        alias: Some(alias),
        group_aliases,
        ..Default::default()
    };
    token.fill_auth(&mut auth, req.remote_addr)?;
    Ok(login_response(auth, &req.data, &["role", "jwt"]))
}

/// A 500 as Vault renders a plugin's `error` return: one multierror line.
fn internal(msg: impl Into<String>) -> Error {
    Error::Internal(crate::logical::fields::multierror(&[msg.into()]))
}

/// A request with `body` as the router hands it to the method mounted at `mount`
/// (`auth/jwt/`), sent from `remote` so address checks have an address to judge.
#[cfg(test)]
fn test_request(
    mount: &str,
    op: crate::logical::Operation,
    path: &str,
    body: serde_json::Value,
    remote: Option<&str>,
) -> Request {
    let mut req = Request::new(op, path).with_data(crate::logical::fields::into_map(body));
    req.mount_point = mount.into();
    req.remote_addr = remote.map(|r| r.parse().expect("a test address"));
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_vaults_regex() {
        for ok in ["a", "admin", "a.b-c_d", "A1", "x_", "rut-76832940-3"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-ab", "ab-", "a@b", "a/b", ".a", "a b", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn globs() {
        for (p, v) in [
            ("*", "x"),
            ("*", ""),
            ("a*", "ab"),
            ("*b", "ab"),
            ("*c", "abc"),
            ("a*c", "abc"),
            ("a", "a"),
            ("a*b*c", "aXbYc"),
        ] {
            assert!(glob_match(p, v), "{p} {v}");
        }
        for (p, v) in [
            ("a", "b"),
            ("abc", "abd"),
            ("a*", "ba"),
            ("a*c", "ab"),
            ("ab*ba", "aba"),
            ("a*b*c", "acb"),
        ] {
            assert!(!glob_match(p, v), "{p} {v}");
        }
    }
}
