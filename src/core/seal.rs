//! Shamir sealing: the seal configuration, splitting the root key into unseal keys, and
//! collecting unseal keys until the threshold is reached.
//!
//! With one share the unseal key is the root key itself, as in Vault; otherwise each share is
//! the `blahaj` encoding (x coordinate first, then one byte per key byte), 33 bytes for a 32-byte
//! root key.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::logical::Error;

/// Where the plaintext seal configuration lives in the physical backend. It must be readable
/// while sealed, and holds no secret.
pub const SEAL_CONFIG_PATH: &str = "core/seal-config";

/// The length of the root key, which encrypts the barrier's keyring.
pub const ROOT_KEY_LEN: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealConfig {
    pub secret_shares: u8,
    pub secret_threshold: u8,
    pub cluster_name: String,
    pub cluster_id: String,
    /// Set when an auto seal wraps the root key; the shares and threshold above are then the
    /// recovery keys'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<super::auto_seal::AutoSealed>,
}

impl SealConfig {
    /// Validates shares and threshold with Vault's rules and messages.
    pub fn validate(shares: u64, threshold: u64) -> Result<(u8, u8), Error> {
        if shares < 1 {
            return Err(Error::bad_request("shares must be at least one"));
        }
        if threshold < 1 {
            return Err(Error::bad_request("threshold must be at least one"));
        }
        if shares > 1 && threshold == 1 {
            return Err(Error::bad_request(
                "threshold must be greater than one for multiple shares",
            ));
        }
        if shares > 255 {
            return Err(Error::bad_request("shares must be less than 256"));
        }
        if threshold > shares {
            return Err(Error::bad_request("threshold cannot be larger than shares"));
        }
        // Both fit in a u8 after the checks above.
        Ok((shares as u8, threshold as u8))
    }

    /// The length every well-formed unseal key of this configuration has.
    pub fn unseal_key_len(&self) -> usize {
        if self.secret_shares == 1 {
            ROOT_KEY_LEN
        } else {
            ROOT_KEY_LEN + 1
        }
    }
}

/// Splits the root key into `shares` unseal keys, any `threshold` of which recover it.
pub fn split(root_key: &[u8; ROOT_KEY_LEN], shares: u8, threshold: u8) -> Vec<Zeroizing<Vec<u8>>> {
    if shares == 1 {
        return vec![Zeroizing::new(root_key.to_vec())];
    }
    blahaj::Sharks(threshold)
        .dealer(root_key)
        .take(shares as usize)
        .map(|share| Zeroizing::new(Vec::from(&share)))
        .collect()
}

/// Recovers the root key candidate from the collected unseal keys. A wrong share gives a wrong
/// key here; the barrier finds that out when the keyring fails to decrypt.
pub fn combine(
    config: &SealConfig,
    parts: &[Zeroizing<Vec<u8>>],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if config.secret_shares == 1 {
        return parts
            .first()
            .map(|k| Zeroizing::new(k.to_vec()))
            .ok_or_else(|| Error::internal("no unseal key collected"));
    }
    let shares = parts
        .iter()
        .map(|p| blahaj::Share::try_from(p.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::bad_request(format!("unseal failed: {e}")))?;
    blahaj::Sharks(config.secret_threshold)
        .recover(&shares)
        .map(Zeroizing::new)
        .map_err(|e| Error::bad_request(format!("unseal failed: {e}")))
}

/// Decodes an unseal key given as hex or base64, as Vault accepts both, and checks its length.
pub fn decode_key(config: &SealConfig, key: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let key = key.trim();
    let bytes = hex::decode(key)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(key))
        .map(Zeroizing::new)
        .map_err(|_| Error::bad_request("'key' must be a valid hex or base64 string"))?;
    let want = config.unseal_key_len();
    if bytes.len() != want {
        return Err(Error::bad_request(format!(
            "invalid key length: expected {want} bytes, got {}",
            bytes.len()
        )));
    }
    // x = 0 would be the secret itself; no dealer hands out such a share.
    if config.secret_shares > 1 && bytes[0] == 0 {
        return Err(Error::bad_request("invalid key: share index 0"));
    }
    Ok(bytes)
}

/// Unseal keys collected so far. Dropping it zeroizes them.
#[derive(Default)]
pub struct Progress {
    parts: Vec<Zeroizing<Vec<u8>>>,
    nonce: String,
}

impl Progress {
    pub fn count(&self) -> usize {
        self.parts.len()
    }

    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    pub fn reset(&mut self) {
        self.parts.clear();
        self.nonce.clear();
    }

    /// Adds a key unless the same key was already given, which Vault ignores silently.
    pub fn add(&mut self, key: Zeroizing<Vec<u8>>) {
        if self
            .parts
            .iter()
            .any(|p| bool::from(p.as_slice().ct_eq(key.as_slice())))
        {
            return;
        }
        if self.parts.is_empty() {
            self.nonce = uuid::Uuid::new_v4().to_string();
        }
        self.parts.push(key);
    }

    /// Takes the collected keys, leaving progress at zero.
    pub fn take(&mut self) -> Vec<Zeroizing<Vec<u8>>> {
        self.nonce.clear();
        std::mem::take(&mut self.parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(shares: u8, threshold: u8) -> SealConfig {
        SealConfig {
            secret_shares: shares,
            secret_threshold: threshold,
            cluster_name: "c".into(),
            cluster_id: "id".into(),
            auto: None,
        }
    }

    #[test]
    fn any_threshold_of_shares_recovers_the_key() {
        let root = [7u8; 32];
        let shares = split(&root, 5, 3);
        assert_eq!(shares.len(), 5);
        for s in &shares {
            assert_eq!(s.len(), 33);
        }
        let cfg = config(5, 3);
        let got = combine(
            &cfg,
            &[shares[4].clone(), shares[0].clone(), shares[2].clone()],
        )
        .unwrap();
        assert_eq!(got.as_slice(), &root);
        assert!(
            combine(&cfg, &shares[..2]).is_err(),
            "two shares are not enough"
        );
    }

    #[test]
    fn a_single_share_is_the_root_key() {
        let root = [9u8; 32];
        let shares = split(&root, 1, 1);
        assert_eq!(shares[0].as_slice(), &root);
        assert_eq!(combine(&config(1, 1), &shares).unwrap().as_slice(), &root);
    }

    #[test]
    fn keys_decode_from_hex_and_base64_with_length_checked() {
        let cfg = config(5, 3);
        let share = split(&[1u8; 32], 5, 3).remove(0);
        let hex_key = hex::encode(share.as_slice());
        let b64_key = base64::engine::general_purpose::STANDARD.encode(share.as_slice());
        assert_eq!(
            decode_key(&cfg, &hex_key).unwrap().as_slice(),
            share.as_slice()
        );
        assert_eq!(
            decode_key(&cfg, &b64_key).unwrap().as_slice(),
            share.as_slice()
        );
        assert!(matches!(decode_key(&cfg, "zz"), Err(Error::BadRequest(_))));
        assert!(matches!(
            decode_key(&cfg, &hex::encode([1u8; 32])),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            decode_key(&cfg, &hex::encode([0u8; 33])),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn progress_ignores_repeats() {
        let mut p = Progress::default();
        p.add(Zeroizing::new(vec![1, 2]));
        p.add(Zeroizing::new(vec![1, 2]));
        assert_eq!(p.count(), 1);
        assert!(!p.nonce().is_empty());
        p.add(Zeroizing::new(vec![3, 4]));
        assert_eq!(p.take().len(), 2);
        assert_eq!(p.count(), 0);
    }

    #[test]
    fn validation_follows_vault() {
        assert!(SealConfig::validate(5, 3).is_ok());
        assert!(SealConfig::validate(1, 1).is_ok());
        assert!(SealConfig::validate(0, 0).is_err());
        assert!(SealConfig::validate(3, 1).is_err());
        assert!(SealConfig::validate(3, 4).is_err());
        assert!(SealConfig::validate(256, 3).is_err());
    }
}
