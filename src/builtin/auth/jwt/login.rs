//! `login`: a role and a signed JWT. The signature is checked first (asymmetric algorithms
//! only), then the time claims with the role's leeways, the issuer, the audience, the
//! subject and the bound claims. Every refusal is a 400.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::super::{glob_match, input};
use super::config::{load_config, SUPPORTED_ALGS};
use super::keys::{self, Remote};
use super::role::{
    leeway, load_role, BoundClaimsType, RoleEntry, DEFAULT_CLOCK_SKEW, DEFAULT_EXP_LEEWAY,
    DEFAULT_NBF_LEEWAY,
};
use super::{bad, Jwt};
use crate::logical::{Alias, Error, Map, Request, Response, Storage};

fn alg_name(alg: Algorithm) -> String {
    format!("{alg:?}")
}

/// A claim by name, or by JSON pointer when it starts with `/`.
fn claim<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') {
        claims.pointer(name)
    } else {
        claims.get(name)
    }
}

/// A scalar claim as text (strings, numbers and booleans), as Vault renders metadata.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The error OpenBao gives for every token whose signature it will not accept, a `crit`
/// header it does not understand included (go-jose fails those as a bad signature).
const NO_KEY_VALIDATED: &str = "error validating token: error verifying token signature: no known key successfully validated the token signature";

/// RFC 7515 §4.1.11: a recipient that does not understand every extension a `crit` header
/// lists must refuse the JWS. jsonwebtoken ignores `crit`, so it is read here from the raw
/// header. Only `b64` with its default meaning (`true`: the payload is base64url, as
/// jsonwebtoken already assumes) is understood; an empty or malformed `crit`, which the RFC
/// forbids producers to send, is refused too.
fn check_crit(token: &str) -> Result<(), Error> {
    use base64::Engine;
    let head = token.split('.').next().unwrap_or_default();
    let header: Map = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(|| bad(NO_KEY_VALIDATED))?;
    let Some(crit) = header.get("crit") else {
        return Ok(());
    };
    let understood = match crit {
        Value::Array(names) => {
            !names.is_empty()
                && names.iter().all(|n| n.as_str() == Some("b64"))
                && header.get("b64") == Some(&Value::Bool(true))
        }
        _ => false,
    };
    if understood {
        Ok(())
    } else {
        Err(bad(NO_KEY_VALIDATED))
    }
}

/// A NumericDate claim in whole seconds, read as go-jose does: a fraction is truncated, a
/// value beyond `i64` saturates (and so fails the time checks), and 0 or null means absent.
fn numeric_date(claims: &Value, name: &str) -> Result<i64, Error> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => Ok(n
            .as_i64()
            // `as` truncates toward zero and saturates, as wanted.
            .unwrap_or_else(|| n.as_f64().map_or(i64::MAX, |f| f as i64))),
        Some(_) => Err(bad(
            "error validating token: go-jose/go-jose/jwt: expected number value to unmarshal NumericDate",
        )),
    }
}

/// `aud` must be a string or an array of strings (RFC 7519 §4.1.3); anything else is refused
/// before any claim is trusted, as go-jose refuses to decode it.
fn audiences(claims: &Value) -> Result<Vec<&str>, Error> {
    let refused = || {
        bad("error validating token: go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience")
    };
    match claims.get("aud") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(refused))
            .collect(),
        Some(_) => Err(refused()),
    }
}

const NANOS: i128 = 1_000_000_000;

impl Jwt {
    pub(super) async fn login(
        &self,
        req: &Request,
        storage: &dyn Storage,
    ) -> Result<Response, Error> {
        let Some(cfg) = load_config(storage).await? else {
            return Err(bad("could not load configuration"));
        };
        let mut role_name = input::string(&req.data, "role")?.unwrap_or_default();
        if role_name.is_empty() {
            role_name = cfg.default_role.clone();
        }
        if role_name.is_empty() {
            return Err(bad("missing role"));
        }
        let Some(role) = load_role(storage, &role_name).await? else {
            return Err(bad(format!("role {role_name:?} could not be found")));
        };
        let token = input::string(&req.data, "jwt")?.unwrap_or_default();
        if token.is_empty() {
            return Err(bad("missing token"));
        }

        // The signature. `decode_header` already refuses `alg: none` (not an algorithm
        // jsonwebtoken knows); HS* is refused here, before any key is tried.
        let header = jsonwebtoken::decode_header(&token)
            .map_err(|e| bad(format!("error validating token: {e}")))?;
        check_crit(&token)?;
        let alg = alg_name(header.alg);
        if !SUPPORTED_ALGS.contains(&alg.as_str())
            || (!cfg.jwt_supported_algs.is_empty() && !cfg.jwt_supported_algs.contains(&alg))
        {
            return Err(bad(format!(
                "error validating token: unsupported signing algorithm {alg:?}"
            )));
        }
        let (candidates, discovered_issuer) = match Remote::of(&cfg) {
            Some(remote) => self
                .keys
                .candidates(&remote, header.kid.as_deref(), self.now())
                .await
                .map_err(|e| bad(format!("error validating token: {e}")))?,
            None => (
                cfg.jwt_validation_pubkeys
                    .iter()
                    .filter_map(|pem| keys::parse_pem_key(pem).ok())
                    .map(|key| keys::Key {
                        kid: None,
                        alg: None,
                        key,
                    })
                    .collect(),
                None,
            ),
        };
        let validation = super::super::signature_only(header.alg);
        let claims = candidates
            .iter()
            // A JWK that names its algorithm verifies only that one.
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg))
            .find_map(|k| {
                jsonwebtoken::decode::<Map>(&token, &k.key, &validation)
                    .ok()
                    .map(|d| Value::Object(d.claims))
            })
            .ok_or_else(|| bad(NO_KEY_VALIDATED))?;

        // The claims' types first, as go-jose decodes them before any check.
        let auds = audiences(&claims)?;
        self.check_times(&role, &claims)?;
        let expected_issuer = if cfg.bound_issuer.is_empty() {
            discovered_issuer.unwrap_or_default()
        } else {
            cfg.bound_issuer.clone()
        };
        if !expected_issuer.is_empty()
            && claims.get("iss").and_then(Value::as_str) != Some(expected_issuer.as_str())
        {
            return Err(bad("error validating token: invalid issuer (iss) claim"));
        }
        check_audience(&role, &auds)?;
        if !role.bound_subject.is_empty()
            && claims.get("sub").and_then(Value::as_str) != Some(role.bound_subject.as_str())
        {
            return Err(bad("sub claim does not match bound subject"));
        }
        check_bound_claims(&role, &claims)?;

        let user = claim(&claims, &role.user_claim)
            .and_then(scalar)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| bad(format!("claim {:?} not found in token", role.user_claim)))?;

        let mut groups = Vec::new();
        if !role.groups_claim.is_empty() {
            match claim(&claims, &role.groups_claim) {
                Some(Value::Array(items)) => {
                    for item in items {
                        match scalar(item) {
                            Some(g) => groups.push(g),
                            None => {
                                return Err(bad(format!(
                                    "unable to parse groups claim {:?}",
                                    role.groups_claim
                                )))
                            }
                        }
                    }
                }
                Some(v) => match scalar(v) {
                    Some(g) => groups.push(g),
                    None => {
                        return Err(bad(format!(
                            "unable to parse groups claim {:?}",
                            role.groups_claim
                        )))
                    }
                },
                None => {
                    return Err(bad(format!(
                        "failed to fetch groups: {:?} claim not found in token",
                        role.groups_claim
                    )))
                }
            }
        }

        let mut alias_meta = BTreeMap::new();
        for (claim_name, key) in role.claim_mappings.iter().flatten() {
            if let Some(v) = claim(&claims, claim_name).and_then(scalar) {
                alias_meta.insert(key.clone(), v);
            }
        }
        let alias = Alias {
            name: user.clone(),
            metadata: alias_meta,
        };
        super::super::role_login(req, &role.name, &role.token, user, alias, groups)
    }

    /// The time claims, as hashicorp/cap validates them for OpenBao: at least one of `exp`,
    /// `iat` and `nbf` is required. A missing `exp` is the later of `iat` and `nbf` plus the
    /// expiration leeway; a missing `nbf` is `iat`, or else `exp` minus the not-before leeway.
    /// Those two leeways only fill in missing claims; the clock-skew leeway widens every
    /// check. Arithmetic is in `i128` nanoseconds, so no claim or leeway can overflow it.
    fn check_times(&self, role: &RoleEntry, claims: &Value) -> Result<(), Error> {
        let now = self
            .now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
            .unwrap_or(0);
        let exp = numeric_date(claims, "exp")?;
        let iat = numeric_date(claims, "iat")?;
        let nbf = numeric_date(claims, "nbf")?;
        if exp == 0 && iat == 0 && nbf == 0 {
            return Err(bad(
                "error validating token: no issued at (iat), not before (nbf), or expiration time (exp) claims in token",
            ));
        }
        let secs = |s: u64| i128::from(s) * NANOS;
        let exp = if exp == 0 {
            i128::from(iat.max(nbf)) * NANOS
                + secs(leeway(role.expiration_leeway, DEFAULT_EXP_LEEWAY))
        } else {
            i128::from(exp) * NANOS
        };
        let nbf = match (nbf, iat) {
            (0, 0) => exp - secs(leeway(role.not_before_leeway, DEFAULT_NBF_LEEWAY)),
            (0, iat) => i128::from(iat) * NANOS,
            (nbf, _) => i128::from(nbf) * NANOS,
        };
        let iat = i128::from(iat) * NANOS;
        let skew = secs(leeway(role.clock_skew_leeway, DEFAULT_CLOCK_SKEW));
        if now + skew < nbf {
            return Err(bad(
                "error validating token: invalid not before (nbf) claim: token not yet valid",
            ));
        }
        if now - skew > exp {
            return Err(bad(
                "error validating token: invalid expiration time (exp) claim: token is expired",
            ));
        }
        if now + skew < iat {
            return Err(bad(
                "error validating token: invalid issued at (iat) claim: token issued in the future",
            ));
        }
        Ok(())
    }
}

fn check_audience(role: &RoleEntry, auds: &[&str]) -> Result<(), Error> {
    if role.bound_audiences.is_empty() {
        if !auds.is_empty() {
            return Err(bad(
                "audience claim found in JWT but no audiences bound to the role",
            ));
        }
        return Ok(());
    }
    if !auds
        .iter()
        .any(|a| role.bound_audiences.iter().any(|b| b == a))
    {
        return Err(bad(
            "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience",
        ));
    }
    Ok(())
}

/// One value a bound claim may take, or one value of a claim, compared by JSON type (so
/// `true` is not `"true"` and `1000` is not `"1000"`).
#[derive(PartialEq)]
enum Scalar<'a> {
    Str(&'a str),
    Bool(bool),
    /// An integral number. OpenBao matches numbers only by integral value (`1.0` is `1`;
    /// `1.5` matches nothing), and a number inside a claim's list never matches.
    Int(i64),
    /// A number or nested value that can match nothing.
    Unmatchable,
}

fn integral(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        let f = n.as_f64()?;
        // Beyond 2^53 a double is no longer exact, so it is not trusted as an integer.
        (f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0).then_some(f as i64)
    })
}

/// A claim, or a bound claim, as its list of scalars (a single value is a list of one), or
/// `None` when it is neither a scalar nor a list. `claim_side` is whether `v` comes from the
/// token (whose listed numbers never match) rather than from the role.
fn scalars(v: &Value, claim_side: bool) -> Option<Vec<Scalar<'_>>> {
    fn one(v: &Value, claim_side: bool, listed: bool) -> Scalar<'_> {
        match v {
            Value::String(s) => Scalar::Str(s),
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) if !(claim_side && listed) => {
                integral(n).map_or(Scalar::Unmatchable, Scalar::Int)
            }
            _ => Scalar::Unmatchable,
        }
    }
    match v {
        Value::Array(items) => Some(items.iter().map(|i| one(i, claim_side, true)).collect()),
        Value::String(_) | Value::Bool(_) | Value::Number(_) => {
            Some(vec![one(v, claim_side, false)])
        }
        Value::Null | Value::Object(_) => None,
    }
}

/// As OpenBao's `validateBoundClaims`: every bound claim must be present, and one of its
/// values must equal (or, with `glob`, match) one of the claim's values.
fn check_bound_claims(role: &RoleEntry, claims: &Value) -> Result<(), Error> {
    for (name, expected) in role.bound_claims.iter().flatten() {
        let actual = match claim(claims, name) {
            None | Some(Value::Null) => {
                return Err(bad(format!(
                    "error validating claims: claim {name:?} is missing"
                )))
            }
            Some(v) => v,
        };
        let actual = scalars(actual, true).ok_or_else(|| {
            bad("error validating claims: received claim is not a string, bool, int or list")
        })?;
        let expected = scalars(expected, false).ok_or_else(|| {
            bad("error validating claims: bound claim is not a string, bool, int or list")
        })?;
        let hit = expected.iter().any(|e| {
            actual.iter().any(|a| match (role.bound_claims_type, e, a) {
                (_, Scalar::Unmatchable, _) | (_, _, Scalar::Unmatchable) => false,
                (BoundClaimsType::Glob, Scalar::Str(e), Scalar::Str(a)) => glob_match(e, a),
                // Role writes refuse non-string globs; a non-string claim never matches one.
                (BoundClaimsType::Glob, _, _) => false,
                (BoundClaimsType::String, e, a) => e == a,
            })
        });
        if !hit {
            return Err(bad(format!(
                "error validating claims: claim {name:?} does not match any associated bound claim values"
            )));
        }
    }
    Ok(())
}
