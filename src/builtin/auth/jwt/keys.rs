//! The verification keys of a mount: PEM public keys from the config, or a JWKS fetched over
//! HTTP(S) (directly from `jwks_url`, or from the `jwks_uri` of an OIDC discovery document)
//! and cached in memory.

use std::time::{Duration, SystemTime};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::DecodingKey;
use serde_json::Value;

use super::config::ConfigEntry;

/// A token with an unknown `kid` refetches the JWKS at most this often.
pub const REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Fetched keys are used for at most this long before they are fetched again.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// The largest JWKS or discovery document accepted.
const MAX_BODY: u64 = 1 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Key {
    pub kid: Option<String>,
    /// The `alg` a JWK is restricted to, if it names one.
    pub alg: Option<String>,
    pub key: DecodingKey,
}

/// Parses one PEM public key (RSA, EC or Ed25519).
pub fn parse_pem_key(pem: &str) -> Result<DecodingKey, String> {
    let b = pem.trim().as_bytes();
    DecodingKey::from_rsa_pem(b)
        .or_else(|_| DecodingKey::from_ec_pem(b))
        .or_else(|_| DecodingKey::from_ed_pem(b))
        .map_err(|_| "error parsing public key".to_string())
}

/// The keys of a JWKS document; keys that cannot be used for signatures are skipped.
pub fn parse_jwks(doc: &Value) -> Result<Vec<Key>, String> {
    let Some(items) = doc.get("keys").and_then(Value::as_array) else {
        return Err("JWKS document has no \"keys\" array".into());
    };
    let mut keys = Vec::new();
    for item in items {
        if item.get("use").and_then(Value::as_str) == Some("enc") {
            continue;
        }
        let Ok(jwk) = serde_json::from_value::<Jwk>(item.clone()) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg: jwk.common.key_algorithm.map(|a| format!("{a:?}")),
            key,
        });
    }
    Ok(keys)
}

/// Where a mount's remote keys come from.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    pub url: String,
    pub ca_pem: String,
    /// `url` is an OIDC issuer whose discovery document names the JWKS.
    pub discovery: bool,
}

impl Remote {
    pub fn of(cfg: &ConfigEntry) -> Option<Remote> {
        if !cfg.jwks_url.is_empty() {
            Some(Remote {
                url: cfg.jwks_url.clone(),
                ca_pem: cfg.jwks_ca_pem.clone(),
                discovery: false,
            })
        } else if !cfg.oidc_discovery_url.is_empty() {
            Some(Remote {
                url: cfg.oidc_discovery_url.clone(),
                ca_pem: cfg.oidc_discovery_ca_pem.clone(),
                discovery: true,
            })
        } else {
            None
        }
    }
}

/// What one fetch produced.
#[derive(Clone)]
pub struct Fetched {
    pub keys: Vec<Key>,
    /// The discovery document's `issuer`, which tokens must carry.
    pub issuer: Option<String>,
}

struct State {
    source: Remote,
    fetched: Fetched,
    fetched_at: SystemTime,
    last_attempt: SystemTime,
}

/// The cached JWKS of a mount.
#[derive(Default)]
pub struct KeyCache {
    state: parking_lot::Mutex<Option<State>>,
    /// The last failed first fetch of a source, so a source that is down is not asked again
    /// on every login.
    failed: parking_lot::Mutex<Option<(Remote, SystemTime)>>,
}

fn elapsed(now: SystemTime, since: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or(Duration::ZERO)
}

fn matching(keys: &[Key], kid: Option<&str>) -> Vec<Key> {
    match kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .cloned()
            .collect(),
        None => keys.to_vec(),
    }
}

impl KeyCache {
    pub fn reset(&self) {
        *self.state.lock() = None;
        *self.failed.lock() = None;
    }

    /// Stores what a fetch (for instance the one that validated a config write) returned.
    pub fn prime(&self, source: Remote, fetched: Fetched, now: SystemTime) {
        *self.state.lock() = Some(State {
            source,
            fetched,
            fetched_at: now,
            last_attempt: now,
        });
    }

    /// The keys a token with `kid` may be signed with, and the issuer tokens must name (for
    /// discovery). An unknown `kid` refetches once, rate-limited.
    pub async fn candidates(
        &self,
        source: &Remote,
        kid: Option<&str>,
        now: SystemTime,
    ) -> Result<(Vec<Key>, Option<String>), String> {
        {
            let mut guard = self.state.lock();
            if let Some(st) = guard.as_mut().filter(|s| s.source == *source) {
                let fresh = elapsed(now, st.fetched_at) < MAX_AGE;
                let found = matching(&st.fetched.keys, kid);
                if fresh && !found.is_empty() {
                    return Ok((found, st.fetched.issuer.clone()));
                }
                if elapsed(now, st.last_attempt) < REFRESH_MIN_INTERVAL {
                    // Too soon to ask again: answer from what we have (maybe nothing).
                    return Ok((found, st.fetched.issuer.clone()));
                }
                st.last_attempt = now;
            } else if let Some((failed, at)) = self.failed.lock().as_ref() {
                if failed == source && elapsed(now, *at) < REFRESH_MIN_INTERVAL {
                    return Err("the key set could not be fetched; retrying shortly".into());
                }
            }
        }
        let fetched = match fetch(source.clone()).await {
            Ok(f) => f,
            Err(e) => {
                *self.failed.lock() = Some((source.clone(), now));
                return Err(e);
            }
        };
        *self.failed.lock() = None;
        let found = matching(&fetched.keys, kid);
        let issuer = fetched.issuer.clone();
        self.prime(source.clone(), fetched, now);
        Ok((found, issuer))
    }
}

/// Fetches the keys of `source` on a blocking thread.
pub async fn fetch(source: Remote) -> Result<Fetched, String> {
    tokio::task::spawn_blocking(move || fetch_blocking(&source))
        .await
        .map_err(|_| "key fetch task failed".to_string())?
}

fn fetch_blocking(source: &Remote) -> Result<Fetched, String> {
    let agent = agent(&source.ca_pem)?;
    if !source.discovery {
        let doc = get_json(&agent, &source.url)?;
        return Ok(Fetched {
            keys: parse_jwks(&doc)?,
            issuer: None,
        });
    }
    let base = source.url.trim_end_matches('/');
    let doc = get_json(&agent, &format!("{base}/.well-known/openid-configuration"))?;
    let issuer = doc
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if issuer.trim_end_matches('/') != base {
        return Err(format!(
            "issuer did not match the issuer returned by provider, expected {base:?} got {issuer:?}"
        ));
    }
    let Some(jwks_uri) = doc.get("jwks_uri").and_then(Value::as_str) else {
        return Err("discovery document has no jwks_uri".into());
    };
    let jwks = get_json(&agent, jwks_uri)?;
    Ok(Fetched {
        keys: parse_jwks(&jwks)?,
        issuer: Some(issuer),
    })
}

/// Checks that `pem` holds at least one certificate.
pub fn check_ca_pem(pem: &str) -> Result<(), String> {
    agent(pem).map(|_| ())
}

fn agent(ca_pem: &str) -> Result<ureq::Agent, String> {
    use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if !ca_pem.trim().is_empty() {
        let certs: Vec<_> = parse_pem(ca_pem.as_bytes())
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err("could not find any valid certificates in the CA PEM".into());
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    let config = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(FETCH_TIMEOUT))
        .http_status_as_error(true)
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

fn get_json(agent: &ureq::Agent, url: &str) -> Result<Value, String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("unsupported URL scheme in {url:?}"));
    }
    let mut resp = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| format!("fetching {url:?}: {e}"))?;
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| format!("reading {url:?}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("parsing {url:?}: {e}"))
}
