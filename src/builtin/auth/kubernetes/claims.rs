//! The service-account JWT as mainkey reads it before the TokenReview, as OpenBao's plugin
//! does: the signature is checked against `pem_keys` when the config has any (without them the
//! token is only parsed, and the API server alone judges it); the issuer when `issuer` is set
//! and `disable_iss_validation` is off; the audience when the role names one; and `exp`,
//! `nbf` and `iat` when present (hashicorp/cap's rules, which OpenBao uses). The account's namespace, name and uid come from its claims;
//! after the review they must be the ones the API server vouched for.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::config::ConfigEntry;
use super::login::Reviewed;
use super::role::{bound_matches, RoleEntry};
use crate::logical::{Error, Map};

/// The algorithms OpenBao's plugin accepts (RFC 7518 §3, RSA PKCS#1 and ECDSA). jsonwebtoken
/// has no ES512, so such a token is refused here.
const ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// hashicorp/cap's defaults, which OpenBao's plugin leaves in place: the clock-skew leeway
/// (go-jose's default, one minute) widens every time check; the other one only fills in a
/// missing `exp` (or `nbf`).
const CLOCK_SKEW_SECS: i64 = 60;
const FILL_IN_LEEWAY_SECS: i64 = 150;

/// The service account a JWT names.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Account {
    pub namespace: String,
    pub name: String,
    /// Empty when the token carries none; such a token can never match a review.
    pub uid: String,
    /// The legacy secret-based token's `kubernetes.io/serviceaccount/secret.name`, or "".
    pub secret_name: String,
    /// The token's own `aud`, asked of the TokenReview when the role names no audience.
    pub audiences: Vec<String>,
}

/// A refusal with its reason, 403 as in OpenBao.
fn forbidden(msg: impl Into<String>) -> Error {
    Error::Forbidden(msg.into())
}

/// Parses a `pem_keys` entry: an RSA or EC public key. Used when the config is written, so a
/// key that can never verify is refused then rather than at every login.
pub(super) fn parse_pem_key(pem: &str) -> Result<DecodingKey, String> {
    let b = pem.trim().as_bytes();
    DecodingKey::from_rsa_pem(b)
        .or_else(|_| DecodingKey::from_ec_pem(b))
        .map_err(|_| "pem_keys: data does not contain any valid RSA or ECDSA public keys".into())
}

/// A string claim; absent or null is "". Another type is refused (OpenBao fails to decode
/// it into its service-account struct).
fn text(v: Option<&Value>) -> Result<String, Error> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(forbidden("could not parse service account claims")),
    }
}

/// A NumericDate claim in whole seconds; `None` when absent, null or 0 (go-jose's "unset").
fn numeric_date(claims: &Map, name: &str) -> Result<Option<i64>, Error> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            // A fraction is truncated and a huge value saturates, as go-jose reads them.
            let secs = n
                .as_i64()
                .unwrap_or_else(|| n.as_f64().map_or(i64::MAX, |f| f as i64));
            Ok((secs != 0).then_some(secs))
        }
        Some(_) => Err(forbidden(
            "go-jose/go-jose/jwt: expected number value to unmarshal NumericDate",
        )),
    }
}

/// `aud`: a string or an array of strings (RFC 7519 §4.1.3).
fn audiences(claims: &Map) -> Result<Vec<String>, Error> {
    let refused = || {
        forbidden("go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience")
    };
    match claims.get("aud") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(refused))
            .collect(),
        Some(_) => Err(refused()),
    }
}

/// The claims of `jwt`, its signature verified when the config has `pem_keys`. Every token
/// that cannot be parsed, or whose signature no key accepts, is a plain "permission denied",
/// as OpenBao answers.
fn decode(config: &ConfigEntry, jwt: &str) -> Result<Map, Error> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| Error::PermissionDenied)?;
    // jsonwebtoken ignores `crit`; no extension is understood here, so any is refused
    // (RFC 7515 §4.1.11), as go-jose refuses it when verifying.
    if header_has_crit(jwt) {
        return Err(Error::PermissionDenied);
    }
    if !ALGS.contains(&header.alg) {
        return Err(forbidden(
            "invalid algorithm (alg) header parameter: token signed with unexpected algorithm",
        ));
    }
    // The claims are checked below, with OpenBao's rules and texts.
    let mut validation = super::super::signature_only(header.alg);
    if config.pem_keys.is_empty() {
        // No keys: the token is parsed, not verified; the TokenReview vouches for it.
        validation.insecure_disable_signature_validation();
        return jsonwebtoken::decode::<Map>(jwt, &DecodingKey::from_secret(&[]), &validation)
            .map(|d| d.claims)
            .map_err(|_| Error::PermissionDenied);
    }
    config
        .pem_keys
        .iter()
        .filter_map(|pem| parse_pem_key(pem).ok())
        .find_map(|key| jsonwebtoken::decode::<Map>(jwt, &key, &validation).ok())
        .map(|d| d.claims)
        .ok_or(Error::PermissionDenied)
}

fn header_has_crit(jwt: &str) -> bool {
    use base64::Engine;
    let head = jwt.split('.').next().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|raw| serde_json::from_slice::<Map>(&raw).ok())
        .is_none_or(|h| h.contains_key("crit"))
}

/// The time claims, read before any claim is checked (their types first, as go-jose decodes
/// them).
struct Times {
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
}

impl Times {
    fn of(claims: &Map) -> Result<Times, Error> {
        Ok(Times {
            exp: numeric_date(claims, "exp")?,
            nbf: numeric_date(claims, "nbf")?,
            iat: numeric_date(claims, "iat")?,
        })
    }

    /// As hashicorp/cap's `ValidateAllowMissingIatNbfExp`: a token with none of the three is
    /// not time-checked (legacy secret-based tokens have none). Otherwise a missing `exp` is
    /// the later of `iat` and `nbf` plus 150 s, a missing `nbf` is `iat`, or else `exp` minus
    /// 150 s, and each check allows the clock skew. Saturating arithmetic: a claim near
    /// `i64::MAX` must not wrap around and pass.
    fn check(&self, now: SystemTime) -> Result<(), Error> {
        let (exp, nbf, iat) = match (self.exp, self.nbf, self.iat) {
            (None, None, None) => return Ok(()),
            (exp, nbf, iat) => (exp, nbf, iat),
        };
        let exp = exp.unwrap_or_else(|| {
            nbf.unwrap_or(0)
                .max(iat.unwrap_or(0))
                .saturating_add(FILL_IN_LEEWAY_SECS)
        });
        let nbf = nbf
            .or(iat)
            .unwrap_or(exp.saturating_sub(FILL_IN_LEEWAY_SECS));
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let ahead = now.saturating_add(CLOCK_SKEW_SECS);
        if ahead < nbf {
            return Err(forbidden(
                "invalid not before (nbf) claim: token not yet valid",
            ));
        }
        if now.saturating_sub(CLOCK_SKEW_SECS) > exp {
            return Err(forbidden(
                "invalid expiration time (exp) claim: token is expired",
            ));
        }
        if iat.is_some_and(|iat| ahead < iat) {
            return Err(forbidden(
                "invalid issued at (iat) claim: token issued in the future",
            ));
        }
        Ok(())
    }
}

/// The account the projected (`kubernetes.io: {namespace, serviceaccount: {name, uid}}`) or
/// the legacy (`kubernetes.io/serviceaccount/*`) claims name; the projected ones win.
fn account(claims: &Map, audiences: Vec<String>) -> Result<Account, Error> {
    let legacy = |key: &str| text(claims.get(&format!("kubernetes.io/serviceaccount/{key}")));
    let secret_name = legacy("secret.name")?;
    let (namespace, name, uid) = match claims.get("kubernetes.io") {
        None | Some(Value::Null) => (
            legacy("namespace")?,
            legacy("service-account.name")?,
            legacy("service-account.uid")?,
        ),
        Some(Value::Object(k8s)) => {
            let namespace = text(k8s.get("namespace"))?;
            match k8s.get("serviceaccount") {
                None | Some(Value::Null) => (
                    namespace,
                    legacy("service-account.name")?,
                    legacy("service-account.uid")?,
                ),
                Some(Value::Object(sa)) => (namespace, text(sa.get("name"))?, text(sa.get("uid"))?),
                Some(_) => return Err(forbidden("could not parse service account claims")),
            }
        }
        Some(_) => return Err(forbidden("could not parse service account claims")),
    };
    Ok(Account {
        namespace,
        name,
        uid,
        secret_name,
        audiences,
    })
}

/// Parses and validates `jwt` for `role`, before the TokenReview. Returns the account it
/// names, already checked against the role's bounds.
pub(super) fn validate(
    config: &ConfigEntry,
    role: &RoleEntry,
    jwt: &str,
    now: SystemTime,
) -> Result<Account, Error> {
    let claims = decode(config, jwt)?;
    // In hashicorp/cap's order: the registered claims' types, the issuer, the audience,
    // the times; then the service-account claims.
    let auds = audiences(&claims)?;
    let times = Times::of(&claims)?;
    for name in ["iss", "sub", "jti"] {
        if !matches!(
            claims.get(name),
            None | Some(Value::Null | Value::String(_))
        ) {
            return Err(forbidden(format!(
                "json: cannot unmarshal the {name} claim: expected a string"
            )));
        }
    }
    if !config.disable_iss_validation
        && !config.issuer.is_empty()
        && claims.get("iss").and_then(Value::as_str) != Some(config.issuer.as_str())
    {
        return Err(forbidden("invalid issuer (iss) claim"));
    }
    if !role.audience.is_empty() && !auds.contains(&role.audience) {
        return Err(forbidden(
            "invalid audience (aud) claim: audience claim does not match any expected audience",
        ));
    }
    times.check(now)?;
    let account = account(&claims, auds)?;
    if account.uid.is_empty() {
        // OpenBao fails such a token when it names the alias; no review could match it, so
        // the API server is not asked.
        return Err(forbidden("could not parse UID from claims"));
    }
    let names = &role.bound_service_account_names;
    let any_name = names.len() == 1 && names[0] == "*";
    if !any_name && !bound_matches(names, &account.name) {
        return Err(forbidden("service account name not authorized"));
    }
    let namespaces = &role.bound_service_account_namespaces;
    let any_namespace = namespaces.first().is_some_and(|n| n == "*");
    if !any_namespace && !bound_matches(namespaces, &account.namespace) {
        return Err(forbidden("namespace not authorized"));
    }
    Ok(account)
}

impl Account {
    /// After the review: the API server must vouch for the very account the token names.
    /// A token whose claims were edited (possible when no `pem_keys` verify it) names
    /// another account than the one the API server found, and is refused.
    pub(super) fn matches(&self, reviewed: &Reviewed) -> Result<(), Error> {
        if self.name != reviewed.name
            || self.uid != reviewed.uid
            || self.namespace != reviewed.namespace
        {
            return Err(Error::PermissionDenied);
        }
        Ok(())
    }
}
