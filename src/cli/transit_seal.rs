//! The `seal "transit"` key service: the root key is encrypted and decrypted by the transit
//! engine of another mainkey or Vault/OpenBao server, through its `/v1` API, with this CLI's
//! HTTP client. The core only sees [`AutoSeal`].
//!
//! As Vault's transit seal does, the environment (`VAULT_ADDR`, `VAULT_TOKEN`,
//! `VAULT_TRANSIT_SEAL_KEY_NAME`, `VAULT_TRANSIT_SEAL_MOUNT_PATH`,
//! `VAULT_TRANSIT_SEAL_DISABLE_RENEWAL`, `VAULT_CACERT`, `VAULT_SKIP_VERIFY`) overrides the
//! block, so the token can stay out of the config file.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value as Json};
use zeroize::Zeroizing;

use super::client::{Client, ClientError, ClientSettings};
use crate::config::TransitSealBlock;
use crate::core::{AutoSeal, SealUnavailable};

/// The transit seal, ready to wrap and unwrap.
pub struct TransitSeal {
    client: Arc<Client>,
    address: String,
    /// `<mount>/encrypt/<key>` and `<mount>/decrypt/<key>`, without the leading `/v1/`.
    encrypt_path: String,
    decrypt_path: String,
    renew_token: bool,
}

impl fmt::Debug for TransitSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitSeal")
            .field("address", &self.address)
            .field("encrypt_path", &self.encrypt_path)
            .finish_non_exhaustive()
    }
}

impl TransitSeal {
    /// The seal of a `seal "transit"` block, with the process environment over it.
    pub fn from_block(block: &TransitSealBlock) -> Result<Self, String> {
        Self::from_block_with(block, |name| std::env::var(name).ok())
    }

    /// As [`Self::from_block`], reading variables through `env` (tests pass a map).
    pub fn from_block_with(
        block: &TransitSealBlock,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let missing =
            |key: &str, var: &str| format!("seal \"transit\": {key} is required (or set {var})");

        let address = var("VAULT_ADDR")
            .or_else(|| block.address.clone())
            .ok_or_else(|| missing("address", "VAULT_ADDR"))?;
        let token = var("VAULT_TOKEN")
            .map(|t| SecretString::from(t.trim().to_string()))
            .or_else(|| block.token.clone())
            .filter(|t| !t.expose_secret().is_empty())
            .ok_or_else(|| missing("token", "VAULT_TOKEN"))?;
        let key_name = var("VAULT_TRANSIT_SEAL_KEY_NAME")
            .or_else(|| block.key_name.clone())
            .ok_or_else(|| missing("key_name", "VAULT_TRANSIT_SEAL_KEY_NAME"))?;
        let mount_path = var("VAULT_TRANSIT_SEAL_MOUNT_PATH")
            .or_else(|| block.mount_path.clone())
            .unwrap_or_else(|| "transit/".to_string());
        let disable_renewal = match var("VAULT_TRANSIT_SEAL_DISABLE_RENEWAL") {
            Some(v) => crate::logical::fields::parse_go_bool(&v).ok_or_else(|| {
                "seal \"transit\": could not parse VAULT_TRANSIT_SEAL_DISABLE_RENEWAL".to_string()
            })?,
            None => block.disable_renewal.unwrap_or(false),
        };
        let skip_verify = match var("VAULT_SKIP_VERIFY") {
            Some(v) => crate::logical::fields::parse_go_bool(&v)
                .ok_or_else(|| "seal \"transit\": could not parse VAULT_SKIP_VERIFY".to_string())?,
            None => block.tls_skip_verify.unwrap_or(false),
        };
        let ca_cert = var("VAULT_CACERT")
            .map(Into::into)
            .or_else(|| block.tls_ca_cert.clone());

        let address = address.trim().trim_end_matches('/').to_string();
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            return Err(format!(
                "seal \"transit\": address {address:?} must be http://host:port or https://host:port"
            ));
        }
        // Each becomes a URL path segment: only characters that need no escaping, and no
        // `.` or `..` that would climb out of the mount.
        let segment_ok = |s: &str| {
            s.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            })
        };
        let mount = mount_path.trim().trim_matches('/').to_string();
        if !segment_ok(&mount) {
            return Err(format!(
                "seal \"transit\": mount_path {mount_path:?} is not a mount path"
            ));
        }
        if !segment_ok(&key_name) || key_name.contains('/') {
            return Err(format!(
                "seal \"transit\": key_name {key_name:?} is not a key name"
            ));
        }
        let client = Client::new(ClientSettings {
            address: address.clone(),
            token: Some(token),
            ca_cert,
            skip_verify,
        })
        .map_err(|e| format!("seal \"transit\": {e}"))?;
        Ok(TransitSeal {
            client: Arc::new(client),
            encrypt_path: format!("{mount}/encrypt/{key_name}"),
            decrypt_path: format!("{mount}/decrypt/{key_name}"),
            address,
            renew_token: !disable_renewal,
        })
    }

    /// One call to the key service on tokio's blocking pool; the HTTP client blocks.
    async fn call(&self, path: &str, body: Json) -> Result<Json, SealUnavailable> {
        let client = self.client.clone();
        let owned_path = path.to_string();
        let answer = tokio::task::spawn_blocking(move || client.put(&owned_path, Some(&body)))
            .await
            .map_err(|e| self.unavailable(path, e.to_string()))?;
        match answer {
            Ok(Some(json)) => Ok(json),
            Ok(None) => Err(self.unavailable(path, "empty answer".into())),
            Err(e) => Err(self.unavailable(path, one_line(&e))),
        }
    }

    fn unavailable(&self, path: &str, problem: String) -> SealUnavailable {
        SealUnavailable(format!(
            "transit seal at {}/v1/{path}: {problem}",
            self.address
        ))
    }

    /// Keeps the token alive while the server runs, unless `disable_renewal`: renews it at
    /// half its remaining lifetime, as Vault's transit seal does. A token without a TTL or
    /// that is not renewable is left as it is.
    pub fn start_token_renewal(&self) {
        if !self.renew_token {
            return;
        }
        let client = self.client.clone();
        let address = self.address.clone();
        let spawned = std::thread::Builder::new()
            .name("mainkey-seal-renew".into())
            .spawn(move || renew_forever(&client, &address));
        if let Err(e) = spawned {
            tracing::error!("transit seal: token renewal cannot start: {e}");
        }
    }
}

#[async_trait::async_trait]
impl AutoSeal for TransitSeal {
    fn kind(&self) -> &'static str {
        "transit"
    }

    async fn wrap(&self, root_key: &[u8]) -> Result<String, SealUnavailable> {
        let plaintext = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(root_key));
        let answer = self
            .call(
                &self.encrypt_path,
                json!({ "plaintext": plaintext.as_str() }),
            )
            .await?;
        answer
            .pointer("/data/ciphertext")
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                self.unavailable(&self.encrypt_path, "no ciphertext in the answer".into())
            })
    }

    async fn unwrap(&self, wrapped: &str) -> Result<Zeroizing<Vec<u8>>, SealUnavailable> {
        let answer = self
            .call(&self.decrypt_path, json!({ "ciphertext": wrapped }))
            .await?;
        let plaintext = answer
            .pointer("/data/plaintext")
            .and_then(Json::as_str)
            .ok_or_else(|| {
                self.unavailable(&self.decrypt_path, "no plaintext in the answer".into())
            })?;
        base64::engine::general_purpose::STANDARD
            .decode(plaintext)
            .map(Zeroizing::new)
            .map_err(|_| self.unavailable(&self.decrypt_path, "the plaintext is not base64".into()))
    }
}

/// A client error on one line, for the server log: the CLI's layout spans several.
fn one_line(e: &ClientError) -> String {
    match e {
        ClientError::Api { status, errors, .. } => match errors.as_deref() {
            Some(list) if !list.is_empty() => format!("{status}: {}", list.join("; ")),
            _ => format!("status {status}"),
        },
        other => other.to_string(),
    }
}

/// How long to wait before trying a failed renewal again.
const RENEW_RETRY: Duration = Duration::from_secs(30);

fn renew_forever(client: &Client, address: &str) {
    let mut next = match client.get("auth/token/lookup-self") {
        Ok(Some(answer)) => {
            let renewable = answer
                .pointer("/data/renewable")
                .and_then(Json::as_bool)
                .unwrap_or(false);
            let ttl = answer
                .pointer("/data/ttl")
                .and_then(Json::as_u64)
                .unwrap_or(0);
            if !renewable || ttl == 0 {
                tracing::info!(
                    "transit seal: the token for {address} has no TTL or is not renewable; not renewing it"
                );
                return;
            }
            Duration::from_secs(ttl / 2)
        }
        Ok(None) => RENEW_RETRY,
        Err(e) => {
            // lookup-self and renew-self come with the `default` policy.
            tracing::warn!(
                "transit seal: looking up the token at {address} (it needs the default policy \
                 to renew itself): {}",
                one_line(&e)
            );
            RENEW_RETRY
        }
    };
    loop {
        std::thread::sleep(next.max(Duration::from_secs(1)));
        next = match client.put("auth/token/renew-self", Some(&json!({}))) {
            Ok(Some(answer)) => {
                let ttl = answer
                    .pointer("/auth/lease_duration")
                    .and_then(Json::as_u64)
                    .unwrap_or(0);
                tracing::debug!(ttl, "transit seal: token renewed");
                if ttl == 0 {
                    return;
                }
                Duration::from_secs(ttl / 2)
            }
            Ok(None) => RENEW_RETRY,
            Err(e) => {
                tracing::warn!(
                    "transit seal: renewing the token at {address}: {}",
                    one_line(&e)
                );
                RENEW_RETRY
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn block() -> TransitSealBlock {
        TransitSealBlock {
            address: Some("http://kms:8200/".into()),
            token: Some(SecretString::from("s.fromfile".to_string())),
            key_name: Some("autounseal".into()),
            ..TransitSealBlock::default()
        }
    }

    fn with_env(block: &TransitSealBlock, vars: &[(&str, &str)]) -> Result<TransitSeal, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TransitSeal::from_block_with(block, |name| map.get(name).cloned())
    }

    #[test]
    fn the_block_gives_the_paths_and_the_environment_overrides_it() {
        let seal = with_env(&block(), &[]).unwrap();
        assert_eq!(seal.address, "http://kms:8200");
        assert_eq!(seal.encrypt_path, "transit/encrypt/autounseal");
        assert_eq!(seal.decrypt_path, "transit/decrypt/autounseal");
        assert!(seal.renew_token);

        let seal = with_env(
            &block(),
            &[
                ("VAULT_ADDR", "https://other:8200"),
                ("VAULT_TRANSIT_SEAL_KEY_NAME", "k2"),
                ("VAULT_TRANSIT_SEAL_MOUNT_PATH", "/kms/transit/"),
                ("VAULT_TRANSIT_SEAL_DISABLE_RENEWAL", "true"),
            ],
        )
        .unwrap();
        assert_eq!(seal.address, "https://other:8200");
        assert_eq!(seal.encrypt_path, "kms/transit/encrypt/k2");
        assert!(!seal.renew_token);
    }

    #[test]
    fn missing_and_hostile_values_are_refused_and_the_token_never_shows() {
        let no_token = TransitSealBlock {
            token: None,
            ..block()
        };
        let e = with_env(&no_token, &[]).unwrap_err();
        assert!(e.contains("token is required (or set VAULT_TOKEN)"), "{e}");
        assert!(with_env(&no_token, &[("VAULT_TOKEN", "s.env")]).is_ok());

        let no_key = TransitSealBlock {
            key_name: None,
            ..block()
        };
        assert!(with_env(&no_key, &[])
            .unwrap_err()
            .contains("key_name is required"));

        for (key, value) in [
            ("VAULT_TRANSIT_SEAL_KEY_NAME", "../sys/seal"),
            ("VAULT_TRANSIT_SEAL_KEY_NAME", "a/b"),
            ("VAULT_TRANSIT_SEAL_KEY_NAME", "k?x=1"),
            ("VAULT_TRANSIT_SEAL_MOUNT_PATH", "transit/../sys"),
            ("VAULT_ADDR", "kms:8200"),
            ("VAULT_TRANSIT_SEAL_DISABLE_RENEWAL", "perhaps"),
        ] {
            assert!(
                with_env(&block(), &[(key, value)]).is_err(),
                "{key}={value}"
            );
        }
        let seal = with_env(&block(), &[]).unwrap();
        assert!(!format!("{seal:?}").contains("fromfile"));
    }
}
