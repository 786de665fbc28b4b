//! `config`: where the verification keys come from, the issuer tokens must name, the default
//! role and the accepted algorithms. A write replaces the whole config, as Vault's does.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::super::input;
use super::super::{encode_record, load_record};
use super::keys::{self, Remote};
use super::{bad, Jwt, METHOD};
use crate::logical::fields::sorted_data;
use crate::logical::{Error, Map, Request, Response, Storage};

pub(super) const CONFIG_KEY: &str = "config";

/// The asymmetric algorithms a token may be signed with. HS* and `none` are never accepted.
pub(super) const SUPPORTED_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct ConfigEntry {
    pub jwks_url: String,
    pub jwks_ca_pem: String,
    pub jwt_validation_pubkeys: Vec<String>,
    pub oidc_discovery_url: String,
    pub oidc_discovery_ca_pem: String,
    pub bound_issuer: String,
    pub default_role: String,
    pub jwt_supported_algs: Vec<String>,
}

const CONFIG_FIELDS: &[&str] = &[
    "jwks_url",
    "jwks_ca_pem",
    "jwt_validation_pubkeys",
    "oidc_discovery_url",
    "oidc_discovery_ca_pem",
    "bound_issuer",
    "default_role",
    "jwt_supported_algs",
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_response_mode",
    "oidc_response_types",
    "namespace_in_state",
    "provider_config",
];

pub(super) async fn load_config(storage: &dyn Storage) -> Result<Option<ConfigEntry>, Error> {
    load_record(storage, CONFIG_KEY, METHOD, "config").await
}

impl Jwt {
    pub(super) async fn read_config(
        &self,
        req: &Request,
        storage: &dyn Storage,
    ) -> Result<Response, Error> {
        let Some(c) = load_config(storage).await? else {
            return Err(Error::NotFound);
        };
        let data = json!({
            "bound_issuer": c.bound_issuer,
            "default_role": c.default_role,
            "jwks_ca_pem": c.jwks_ca_pem,
            "jwks_url": c.jwks_url,
            "jwt_supported_algs": c.jwt_supported_algs,
            "jwt_validation_pubkeys": c.jwt_validation_pubkeys,
            "namespace_in_state": true,
            "oidc_client_id": "",
            "oidc_discovery_ca_pem": c.oidc_discovery_ca_pem,
            "oidc_discovery_url": c.oidc_discovery_url,
            "oidc_response_mode": "",
            "oidc_response_types": [],
            "override_allowed_server_names": [],
            "provider_config": {},
            "status": "valid",
        });
        let mut resp = Response::data(sorted_data(data));
        input::warn_unknown(&mut resp, &req.data, CONFIG_FIELDS);
        Ok(resp)
    }

    pub(super) async fn write_config(
        &self,
        req: &Request,
        storage: &dyn Storage,
    ) -> Result<Response, Error> {
        let data = &req.data;
        let str_field = |k: &'static str| -> Result<String, Error> {
            Ok(input::string(data, k)?
                .unwrap_or_default()
                .trim()
                .to_string())
        };
        let list_field = |k: &'static str| -> Result<Vec<String>, Error> {
            Ok(input::comma_strings(data, k)?
                .unwrap_or_default()
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect())
        };
        if input::has(data, "oidc_client_id") && !str_field("oidc_client_id")?.is_empty() {
            return Err(bad(
                "the OIDC browser flow is not supported by this server; configure jwks_url, jwt_validation_pubkeys or oidc_discovery_url for role_type=jwt",
            ));
        }
        let cfg = ConfigEntry {
            jwks_url: str_field("jwks_url")?,
            jwks_ca_pem: str_field("jwks_ca_pem")?,
            jwt_validation_pubkeys: pem_list(data)?,
            oidc_discovery_url: str_field("oidc_discovery_url")?,
            oidc_discovery_ca_pem: str_field("oidc_discovery_ca_pem")?,
            bound_issuer: str_field("bound_issuer")?,
            default_role: str_field("default_role")?,
            jwt_supported_algs: list_field("jwt_supported_algs")?,
        };

        let sources = [
            !cfg.jwks_url.is_empty(),
            !cfg.jwt_validation_pubkeys.is_empty(),
            !cfg.oidc_discovery_url.is_empty(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            return Err(bad(
                "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set",
            ));
        }
        if !cfg.jwks_ca_pem.is_empty() && cfg.jwks_url.is_empty() {
            return Err(bad("'jwks_ca_pem' may only be set with 'jwks_url'"));
        }
        if !cfg.oidc_discovery_ca_pem.is_empty() && cfg.oidc_discovery_url.is_empty() {
            return Err(bad(
                "'oidc_discovery_ca_pem' may only be set with 'oidc_discovery_url'",
            ));
        }
        for alg in &cfg.jwt_supported_algs {
            if !SUPPORTED_ALGS.contains(&alg.as_str()) {
                return Err(bad(format!(
                    "invalid jwt_supported_algs: {alg} (only asymmetric algorithms are accepted: {})",
                    SUPPORTED_ALGS.join(", ")
                )));
            }
        }
        for pem in &cfg.jwt_validation_pubkeys {
            keys::parse_pem_key(pem).map_err(bad)?;
        }
        for ca in [&cfg.jwks_ca_pem, &cfg.oidc_discovery_ca_pem] {
            if !ca.is_empty() {
                keys::check_ca_pem(ca).map_err(bad)?;
            }
        }

        let _guard = self.write_lock.lock().await;
        // Like Vault, a remote key source must answer before it is accepted.
        if let Some(remote) = Remote::of(&cfg) {
            let what = if remote.discovery {
                "error checking oidc discovery URL"
            } else {
                "error checking jwks URL"
            };
            let fetched = keys::fetch(remote.clone())
                .await
                .map_err(|e| bad(format!("{what}: {e}")))?;
            storage
                .put(CONFIG_KEY, encode_record(METHOD, &cfg, "config")?)
                .await?;
            self.keys.prime(remote, fetched, self.now());
        } else {
            storage
                .put(CONFIG_KEY, encode_record(METHOD, &cfg, "config")?)
                .await?;
            self.keys.reset();
        }
        let mut resp = Response::empty();
        input::warn_unknown(&mut resp, data, CONFIG_FIELDS);
        Ok(resp)
    }
}

/// `jwt_validation_pubkeys`: a list of PEM blocks (a single string is one block; PEM contains
/// no commas, but splitting is not needed).
fn pem_list(data: &Map) -> Result<Vec<String>, Error> {
    let items = match data.get("jwt_validation_pubkeys") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("jwt_validation_pubkeys: expected a list of PEM strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(bad(
                "jwt_validation_pubkeys: expected a list of PEM strings",
            ))
        }
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}
