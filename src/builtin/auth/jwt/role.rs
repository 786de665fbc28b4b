//! `role/` and `role/<name>`. Only `role_type=jwt` is accepted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::input;
use super::super::token_fields::{
    with_token_keys, Legacy, LegacyFields, ParseOptions, TokenFields,
};
use super::{bad, Jwt, METHOD};
use crate::logical::duration::parse_duration_secs;
use crate::logical::fields::sorted_data;
use crate::logical::{Error, Map, Request, Response, Storage};

/// The leeways a stored 0 stands for (hashicorp/cap's defaults); a negative leeway means none.
/// The clock skew widens every time check. The expiration and not-before leeways only fill in
/// a missing `exp` (from `iat`/`nbf`) or `nbf` (from `exp`): measured against OpenBao 2.7, a
/// token with `exp` 300 s past is refused even with `expiration_leeway=300`, while one with
/// only an `iat` lives 150 + 60 s.
pub(super) const DEFAULT_CLOCK_SKEW: u64 = 60;
pub(super) const DEFAULT_EXP_LEEWAY: u64 = 150;
pub(super) const DEFAULT_NBF_LEEWAY: u64 = 150;

/// The largest leeway, in seconds, that Go's `time.Duration` (nanoseconds in an `int64`) holds.
/// OpenBao refuses a larger one when the role is written, so a huge leeway cannot switch
/// expiry off.
const MAX_LEEWAY_SECS: i64 = i64::MAX / 1_000_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum BoundClaimsType {
    #[default]
    String,
    Glob,
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct RoleEntry {
    pub name: String,
    pub token: TokenFields,
    pub legacy: LegacyFields,
    pub bound_audiences: Vec<String>,
    pub bound_subject: String,
    /// Claim (or JSON pointer) → accepted values (a string or a list of strings).
    pub bound_claims: Option<Map>,
    pub bound_claims_type: BoundClaimsType,
    /// Claim (or JSON pointer) → metadata key.
    pub claim_mappings: Option<BTreeMap<String, String>>,
    pub user_claim: String,
    pub groups_claim: String,
    pub clock_skew_leeway: i64,
    pub expiration_leeway: i64,
    pub not_before_leeway: i64,
}

/// A stored leeway in seconds, with 0 meaning `default` and a negative value none.
pub(super) fn leeway(stored: i64, default: u64) -> u64 {
    match stored {
        0 => default,
        n if n < 0 => 0,
        // Roles stored before the bound was enforced are held to it too.
        n => n.unsigned_abs().min(MAX_LEEWAY_SECS.unsigned_abs()),
    }
}

const ROLE_FIELDS: &[&str] = &[
    "name",
    "role_type",
    "bound_audiences",
    "bound_subject",
    "bound_claims",
    "bound_claims_type",
    "claim_mappings",
    "user_claim",
    "groups_claim",
    "clock_skew_leeway",
    "expiration_leeway",
    "not_before_leeway",
    "policies",
    "ttl",
    "max_ttl",
    "period",
    "bound_cidrs",
];

pub(super) async fn load_role(
    storage: &dyn Storage,
    name: &str,
) -> Result<Option<RoleEntry>, Error> {
    super::super::load_role(storage, METHOD, name).await
}

/// A leeway in seconds; negative values (no leeway) are allowed, up to Go's duration range.
fn signed_duration(data: &Map, key: &'static str) -> Result<Option<i64>, Error> {
    data.get(key)
        .map(|v| {
            let secs = parse_duration_secs(v).map_err(|reason| {
                bad(format!(
                    "error converting input for field {key:?}: {reason}"
                ))
            })?;
            if secs.checked_abs().is_none_or(|s| s > MAX_LEEWAY_SECS) {
                return Err(bad(format!(
                    "error converting input for field {key:?}: multiplication of durations resulted in overflow, one operand may be too large"
                )));
            }
            Ok(secs)
        })
        .transpose()
}

fn object_field(data: &Map, key: &'static str) -> Result<Option<Map>, Error> {
    match data.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Map::new())),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(Map::new())),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            _ => Err(bad(format!(
                "error converting input for field {key:?}: expected a map"
            ))),
        },
        Some(_) => Err(bad(format!(
            "error converting input for field {key:?}: expected a map"
        ))),
    }
}

impl Jwt {
    pub(super) async fn read_role(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let Some(role) = load_role(storage, name).await? else {
            return Err(Error::NotFound);
        };
        let mut d = Map::new();
        d.insert("role_type".into(), "jwt".into());
        d.insert(
            "bound_audiences".into(),
            role.bound_audiences.clone().into(),
        );
        d.insert("bound_subject".into(), role.bound_subject.clone().into());
        d.insert(
            "bound_claims".into(),
            role.bound_claims.clone().map_or(Value::Null, Value::Object),
        );
        d.insert(
            "bound_claims_type".into(),
            match role.bound_claims_type {
                BoundClaimsType::String => "string",
                BoundClaimsType::Glob => "glob",
            }
            .into(),
        );
        d.insert(
            "claim_mappings".into(),
            role.claim_mappings.as_ref().map_or(Value::Null, |m| {
                Value::Object(
                    m.iter()
                        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                        .collect(),
                )
            }),
        );
        d.insert("user_claim".into(), role.user_claim.clone().into());
        d.insert("user_claim_json_pointer".into(), false.into());
        d.insert("groups_claim".into(), role.groups_claim.clone().into());
        d.insert("clock_skew_leeway".into(), role.clock_skew_leeway.into());
        d.insert("expiration_leeway".into(), role.expiration_leeway.into());
        d.insert("not_before_leeway".into(), role.not_before_leeway.into());
        // The OIDC-only fields, as Vault shows them for a jwt role.
        d.insert("allowed_redirect_uris".into(), Value::Null);
        d.insert("callback_mode".into(), "client".into());
        d.insert("max_age".into(), 0.into());
        d.insert("oauth2_metadata".into(), Value::Null);
        d.insert("oidc_scopes".into(), Value::Null);
        d.insert("oidc_disable_confirmation".into(), false.into());
        d.insert("verbose_oidc_logging".into(), false.into());
        d.insert("token_policies_template_claims".into(), false.into());
        role.token.render(&mut d);
        role.legacy.render(&mut d);
        let mut resp = Response::data(sorted_data(Value::Object(d)));
        input::warn_unknown(&mut resp, &req.data, &with_token_keys(ROLE_FIELDS));
        Ok(resp)
    }

    pub(super) async fn write_role(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let data = &req.data;
        let _guard = self.write_lock.lock().await;
        let existing = load_role(storage, name).await?;
        let creating = existing.is_none();
        let mut role = existing.unwrap_or_else(|| RoleEntry {
            name: name.to_lowercase(),
            ..Default::default()
        });

        match input::string(data, "role_type")?.as_deref().map(str::trim) {
            None | Some("jwt") => {}
            Some("oidc") | Some("") => {
                return Err(bad(
                    "role_type \"oidc\" is not supported: this server does not offer the OIDC browser flow; set role_type=jwt",
                ))
            }
            Some(other) => return Err(bad(format!("invalid 'role_type': {other}"))),
        }
        if !input::has(data, "role_type") && creating {
            // Vault's default role_type is oidc; we only serve jwt, so say so.
            return Err(bad(
                "role_type must be \"jwt\": the OIDC browser flow (Vault's default role_type \"oidc\") is not supported",
            ));
        }

        let warnings = role.token.parse(data, ParseOptions::default())?;
        role.token.upgrade(
            &mut role.legacy,
            data,
            &[
                Legacy::Policies,
                Legacy::Ttl,
                Legacy::MaxTtl,
                Legacy::Period,
                Legacy::BoundCidrs,
            ],
        )?;
        if role.token.token_max_ttl > 0 && role.token.token_ttl > role.token.token_max_ttl {
            return Err(bad("ttl should not be greater than max ttl"));
        }

        if let Some(a) = input::comma_strings(data, "bound_audiences")? {
            role.bound_audiences = a.into_iter().filter(|s| !s.is_empty()).collect();
        }
        if let Some(s) = input::string(data, "bound_subject")? {
            role.bound_subject = s;
        }
        if let Some(t) = input::string(data, "bound_claims_type")? {
            role.bound_claims_type = match t.as_str() {
                "" | "string" => BoundClaimsType::String,
                "glob" => BoundClaimsType::Glob,
                other => return Err(bad(format!("invalid 'bound_claims_type': {other}"))),
            };
        }
        if let Some(claims) = object_field(data, "bound_claims")? {
            for (k, v) in &claims {
                let scalar =
                    |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
                let ok = match v {
                    Value::Array(items) => items.iter().all(scalar),
                    v => scalar(v),
                };
                if !ok {
                    return Err(bad(format!("bound claim is not a string or list: {k}")));
                }
            }
            role.bound_claims = (!claims.is_empty()).then_some(claims);
        }
        if role.bound_claims_type == BoundClaimsType::Glob {
            // As OpenBao: only strings can be globs.
            for v in role.bound_claims.iter().flat_map(|m| m.values()) {
                let values = match v {
                    Value::Array(items) => items.as_slice(),
                    v => std::slice::from_ref(v),
                };
                if let Some(bad_value) = values.iter().find(|v| !v.is_string()) {
                    return Err(bad(format!("claim is not a string: {bad_value}")));
                }
            }
        }
        if let Some(m) = object_field(data, "claim_mappings")? {
            let mut out = BTreeMap::new();
            let mut targets = std::collections::BTreeSet::new();
            for (k, v) in m {
                let Value::String(target) = v else {
                    return Err(bad(format!(
                        "error converting input for field \"claim_mappings\": value of {k:?} is not a string"
                    )));
                };
                if !targets.insert(target.clone()) {
                    return Err(bad(format!(
                        "multiple keys are mapped to metadata key {target:?}"
                    )));
                }
                if target == "role" {
                    return Err(bad(
                        "metadata key \"role\" is reserved and may not be a mapping destination",
                    ));
                }
                out.insert(k, target);
            }
            role.claim_mappings = (!out.is_empty()).then_some(out);
        }
        if let Some(u) = input::string(data, "user_claim")? {
            role.user_claim = u;
        }
        if role.user_claim.is_empty() {
            return Err(bad("a user claim must be defined on the role"));
        }
        if let Some(g) = input::string(data, "groups_claim")? {
            role.groups_claim = g;
        }
        for (key, slot) in [
            ("clock_skew_leeway", &mut role.clock_skew_leeway),
            ("expiration_leeway", &mut role.expiration_leeway),
            ("not_before_leeway", &mut role.not_before_leeway),
        ] {
            if let Some(v) = signed_duration(data, key)? {
                *slot = v;
            }
        }

        if role.bound_audiences.is_empty()
            && role.bound_subject.is_empty()
            && role.bound_claims.is_none()
            && role.token.token_bound_cidrs.is_empty()
        {
            return Err(bad(
                "must have at least one bound constraint when creating/updating a role",
            ));
        }

        super::super::save_role(storage, METHOD, &role.name, &role).await?;
        let mut resp = Response::empty();
        resp.warnings = warnings;
        input::warn_unknown(&mut resp, data, &with_token_keys(ROLE_FIELDS));
        Ok(resp)
    }
}
