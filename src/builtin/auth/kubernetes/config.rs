//! `config`: where the API server is and how mainkey talks to it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::input;
use super::super::{encode_record, load_record};
use super::{Kubernetes, METHOD};
use crate::logical::fields::sorted_data;
use crate::logical::{Error, Request, Response, Storage};

pub(super) const CONFIG_KEY: &str = "config";

/// The mount's config as stored. `token_reviewer_jwt` is never shown again.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct ConfigEntry {
    /// `http(s)://host[:port]`, without a trailing `/`.
    pub kubernetes_host: String,
    /// PEM; when set, the only CA trusted for the API server.
    pub kubernetes_ca_cert: String,
    pub token_reviewer_jwt: String,
    pub pem_keys: Vec<String>,
    pub issuer: String,
    pub disable_iss_validation: bool,
    pub disable_local_ca_jwt: bool,
}

impl std::fmt::Debug for ConfigEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigEntry")
            .field("kubernetes_host", &self.kubernetes_host)
            .field(
                "token_reviewer_jwt_set",
                &!self.token_reviewer_jwt.is_empty(),
            )
            .finish_non_exhaustive()
    }
}

pub(super) async fn load_config(storage: &dyn Storage) -> Result<Option<ConfigEntry>, Error> {
    load_record(storage, CONFIG_KEY, METHOD, "config").await
}

/// The DER certificates of a PEM bundle; an error when it holds none or is malformed.
pub(super) fn parse_ca_pem(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut reader = pem.as_bytes();
    let certs: Vec<Vec<u8>> = rustls_pemfile::certs(&mut reader)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("kubernetes_ca_cert is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("kubernetes_ca_cert holds no PEM certificate".into());
    }
    Ok(certs)
}

/// Checks `kubernetes_host`: an `http` or `https` URL with a host. Returns it without a
/// trailing `/`.
fn parse_host(raw: &str) -> Result<String, Error> {
    let host = raw.trim().trim_end_matches('/');
    if host.is_empty() {
        return Err(Error::bad_request("no host provided"));
    }
    let rest = host
        .strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
        .ok_or_else(|| Error::bad_request("kubernetes_host must be an http:// or https:// URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || rest.contains(['?', '#']) || authority.contains('@') {
        return Err(Error::bad_request(
            "kubernetes_host must be an http:// or https:// URL with a host",
        ));
    }
    Ok(host.to_string())
}

impl Kubernetes {
    pub(super) async fn read_config(
        &self,
        req: &Request,
        storage: &dyn Storage,
    ) -> Result<Response, Error> {
        let Some(c) = load_config(storage).await? else {
            return Err(Error::NotFound);
        };
        let mut resp = Response::data(sorted_data(json!({
            "kubernetes_host": c.kubernetes_host,
            "kubernetes_ca_cert": c.kubernetes_ca_cert,
            "pem_keys": c.pem_keys,
            "issuer": c.issuer,
            "disable_iss_validation": c.disable_iss_validation,
            "disable_local_ca_jwt": c.disable_local_ca_jwt,
            "token_reviewer_jwt_set": !c.token_reviewer_jwt.is_empty(),
        })));
        input::warn_unknown(&mut resp, &req.data, &[]);
        Ok(resp)
    }

    /// Replaces the config as a whole, as Vault does: fields not given take their defaults.
    pub(super) async fn write_config(
        &self,
        req: &Request,
        storage: &dyn Storage,
    ) -> Result<Response, Error> {
        let data = &req.data;
        let host = parse_host(&input::string(data, "kubernetes_host")?.unwrap_or_default())?;
        let ca = input::string(data, "kubernetes_ca_cert")?.unwrap_or_default();
        if !ca.trim().is_empty() {
            parse_ca_pem(&ca).map_err(Error::bad_request)?;
        }
        let pem_keys: Vec<String> = input::comma_strings(data, "pem_keys")?
            .unwrap_or_default()
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect();
        // Each key verifies logins' signatures; one that cannot is refused now, as OpenBao
        // refuses it, rather than silently never matching.
        for pem in &pem_keys {
            super::claims::parse_pem_key(pem).map_err(Error::bad_request)?;
        }
        let entry = ConfigEntry {
            kubernetes_host: host,
            kubernetes_ca_cert: if ca.trim().is_empty() {
                String::new()
            } else {
                ca
            },
            token_reviewer_jwt: input::string(data, "token_reviewer_jwt")?.unwrap_or_default(),
            pem_keys,
            issuer: input::string(data, "issuer")?.unwrap_or_default(),
            // Vault deprecated issuer validation; its default is now off.
            disable_iss_validation: input::boolean(data, "disable_iss_validation")?.unwrap_or(true),
            // There is no local service-account mount to read a CA or JWT from; the flag is
            // kept for clients that send it.
            disable_local_ca_jwt: input::boolean(data, "disable_local_ca_jwt")?.unwrap_or(false),
        };
        let _guard = self.lock.lock().await;
        storage
            .put(CONFIG_KEY, encode_record(METHOD, &entry, "config")?)
            .await?;
        Ok(Response::empty())
    }
}
