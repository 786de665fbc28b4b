//! The `seal` block. `seal "shamir"` (or none) keeps Shamir unseal keys; `seal "transit"`
//! names another mainkey's or Vault's transit engine that wraps the root key, as Vault's
//! transit seal does. Vault's other seal types need cloud services mainkey does not talk to,
//! and are refused rather than ignored: ignoring one would silently seal with Shamir instead.

use std::path::PathBuf;

use secrecy::SecretString;

use super::extract::At;
use super::tree::{Body, Item};
use super::types::TransitSealBlock;
use super::{values, ConfigError};

/// `transit` keys that would need what mainkey's client does not have; refused with the reason.
const UNSUPPORTED_TRANSIT_KEYS: &[(&str, &str)] = &[
    (
        "namespace",
        "mainkey's transit seal does not send a namespace",
    ),
    (
        "tls_client_cert",
        "client certificates are not supported by the transit seal",
    ),
    (
        "tls_client_key",
        "client certificates are not supported by the transit seal",
    ),
    (
        "tls_server_name",
        "not supported: the server name is the address's host",
    ),
    ("disabled", "seal migration is not supported by mainkey"),
];

/// One `seal "<type>"` block: `None` for Shamir, the transit settings otherwise.
pub(super) fn seal_block(
    at: &At<'_>,
    kind: &str,
    body: &Body,
) -> Result<Option<TransitSealBlock>, ConfigError> {
    match kind {
        "shamir" => {
            if let Some(item) = body.items.first() {
                return Err(at.error(Some(&item.key), "unknown key"));
            }
            Ok(None)
        }
        "transit" => transit(at, body).map(Some),
        other => Err(at.error(
            None,
            format!(
                "seal type {other:?} is not supported; mainkey seals with Shamir keys or \
                 \"transit\" (another mainkey's or Vault's transit engine)"
            ),
        )),
    }
}

fn transit(at: &At<'_>, body: &Body) -> Result<TransitSealBlock, ConfigError> {
    let mut block = TransitSealBlock::default();
    for item in &body.items {
        let text = |item: &Item| at.convert(item, values::string);
        match item.key.as_str() {
            "address" => block.address = Some(text(item)?),
            "token" => block.token = Some(SecretString::from(text(item)?)),
            "key_name" => block.key_name = Some(text(item)?),
            "mount_path" => block.mount_path = Some(text(item)?),
            "tls_ca_cert" => block.tls_ca_cert = Some(PathBuf::from(text(item)?)),
            "disable_renewal" => block.disable_renewal = Some(at.convert(item, values::boolean)?),
            "tls_skip_verify" => block.tls_skip_verify = Some(at.convert(item, values::boolean)?),
            key => {
                let problem = UNSUPPORTED_TRANSIT_KEYS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or("unknown key", |(_, why)| why);
                return Err(at.error(Some(key), problem));
            }
        }
    }
    Ok(block)
}
