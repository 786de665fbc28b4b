//! `login`: a role and a signed JWT. The signature is checked first (asymmetric algorithms
//! only), then the time claims with the role's leeways, the issuer, the audience, the
//! subject and the bound claims. Every refusal is a 400.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use jsonwebtoken::{Algorithm, Validation};
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

fn numeric(claims: &Value, name: &str) -> Result<Option<f64>, Error> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(format!("error validating claims: invalid {name:?} claim"))),
        Some(_) => Err(bad(format!(
            "error validating claims: {name:?} claim is not a number"
        ))),
    }
}

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
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        let claims = candidates
            .iter()
            // A JWK that names its algorithm verifies only that one.
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg))
            .find_map(|k| {
                jsonwebtoken::decode::<Map>(&token, &k.key, &validation)
                    .ok()
                    .map(|d| Value::Object(d.claims))
            })
            .ok_or_else(|| {
                bad("error validating token: error verifying token signature: no known key successfully validated the token signature")
            })?;

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
        check_audience(&role, &claims)?;
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

    fn check_times(&self, role: &RoleEntry, claims: &Value) -> Result<(), Error> {
        let now = self
            .now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let skew = leeway(role.clock_skew_leeway, DEFAULT_CLOCK_SKEW) as f64;
        let exp_leeway = leeway(role.expiration_leeway, DEFAULT_EXP_LEEWAY) as f64;
        let nbf_leeway = leeway(role.not_before_leeway, DEFAULT_NBF_LEEWAY) as f64;
        if let Some(exp) = numeric(claims, "exp")? {
            if now > exp + exp_leeway + skew {
                return Err(bad(
                    "error validating token: invalid expiration time (exp) claim: token is expired",
                ));
            }
        }
        if let Some(nbf) = numeric(claims, "nbf")? {
            if now + nbf_leeway + skew < nbf {
                return Err(bad(
                    "error validating token: invalid not before (nbf) claim: token not yet valid",
                ));
            }
        }
        if let Some(iat) = numeric(claims, "iat")? {
            if iat > now + skew {
                return Err(bad(
                    "error validating token: invalid issued at (iat) claim: token issued in the future",
                ));
            }
        }
        Ok(())
    }
}

fn check_audience(role: &RoleEntry, claims: &Value) -> Result<(), Error> {
    let auds: Vec<&str> = match claims.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(bad("error validating claims: invalid aud claim")),
    };
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

fn check_bound_claims(role: &RoleEntry, claims: &Value) -> Result<(), Error> {
    for (name, expected) in role.bound_claims.iter().flatten() {
        let expected: Vec<String> = match expected {
            Value::Array(items) => items.iter().filter_map(scalar).collect(),
            v => scalar(v).into_iter().collect(),
        };
        let Some(actual) = claim(claims, name) else {
            return Err(bad(format!("claim {name:?} is missing")));
        };
        let actual: Vec<String> = match actual {
            Value::Array(items) => items.iter().filter_map(scalar).collect(),
            v => scalar(v).into_iter().collect(),
        };
        let hit = actual.iter().any(|a| {
            expected.iter().any(|e| match role.bound_claims_type {
                BoundClaimsType::String => e == a,
                BoundClaimsType::Glob => glob_match(e, a),
            })
        });
        if !hit {
            return Err(bad(format!(
                "claim {name:?} does not match any associated bound claim values"
            )));
        }
    }
    Ok(())
}
