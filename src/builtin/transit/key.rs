//! A named transit key: its versions, its policy (which versions may encrypt and decrypt),
//! and Vault's ciphertext format, `vault:v<version>:<base64(nonce || ciphertext || tag)>`,
//! so a ciphertext made here has the shape that Vault's clients and tools expect.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::logical::{Error, Map};

/// The one key type served: Vault's default, AES-256-GCM with a 96-bit random nonce.
pub const AES256_GCM96: &str = "aes256-gcm96";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const PREFIX: &str = "vault:v";

/// One version's key material, wiped from memory when dropped. Stored base64 inside the
/// key's JSON, which the barrier encrypts.
#[derive(Serialize, Deserialize)]
pub struct Version {
    #[serde(with = "secret_b64")]
    key: Zeroizing<Vec<u8>>,
    /// Unix seconds, as Vault reports a version's creation in `keys`.
    created: i64,
}

/// A key as stored at `policy/<name>` in the mount.
#[derive(Serialize, Deserialize)]
pub struct Key {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    versions: BTreeMap<u32, Version>,
    pub latest_version: u32,
    pub min_decryption_version: u32,
    /// 0: the latest version encrypts.
    pub min_encryption_version: u32,
    pub deletion_allowed: bool,
    pub exportable: bool,
    pub allow_plaintext_backup: bool,
}

// Hand-written so that key material never reaches a log line through `{:?}`.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("type", &self.kind)
            .field("latest_version", &self.latest_version)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A new key at version 1.
    pub fn generate(name: &str, now: i64) -> Key {
        let mut key = Key {
            name: name.to_string(),
            kind: AES256_GCM96.to_string(),
            versions: BTreeMap::new(),
            latest_version: 0,
            min_decryption_version: 1,
            min_encryption_version: 0,
            deletion_allowed: false,
            exportable: false,
            allow_plaintext_backup: false,
        };
        key.rotate(now);
        key
    }

    /// Adds a version and makes it the latest. Older versions still decrypt, down to
    /// `min_decryption_version`.
    pub fn rotate(&mut self, now: i64) {
        let mut material = Zeroizing::new(vec![0u8; KEY_LEN]);
        OsRng.fill_bytes(&mut material);
        self.latest_version += 1;
        self.versions.insert(
            self.latest_version,
            Version {
                key: material,
                created: now,
            },
        );
    }

    pub fn decode(bytes: &[u8]) -> Result<Key, Error> {
        // Never echo the stored bytes: they hold the key material.
        serde_json::from_slice(bytes).map_err(|_| Error::internal("transit: stored key is corrupt"))
    }

    /// The stored form, wiped from memory once the caller is done with it.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|_| Error::internal("transit: cannot encode key"))
    }

    /// `GET keys/<name>`, with Vault's field names; never the key material.
    pub fn describe(&self) -> Map {
        let keys: Map = self
            .versions
            .iter()
            .map(|(v, version)| (v.to_string(), json!(version.created)))
            .collect();
        let value = json!({
            "allow_plaintext_backup": self.allow_plaintext_backup,
            "auto_rotate_period": 0,
            "deletion_allowed": self.deletion_allowed,
            "derived": false,
            "exportable": self.exportable,
            "imported_key": false,
            "keys": keys,
            "latest_version": self.latest_version,
            "min_available_version": 0,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "name": self.name,
            "soft_deleted": false,
            "supports_decryption": true,
            "supports_derivation": true,
            "supports_encryption": true,
            "supports_signing": false,
            "type": self.kind,
        });
        match value {
            serde_json::Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// The version that encrypts when the request asks for `requested` (0: the latest).
    fn encryption_version(&self, requested: u32) -> Result<u32, Error> {
        let version = if requested == 0 {
            self.latest_version
        } else {
            requested
        };
        if version > self.latest_version {
            return Err(Error::bad_request("invalid key version"));
        }
        if version < self.min_encryption_version.max(self.min_decryption_version) {
            return Err(Error::bad_request(
                "cannot encrypt with a key version below the minimum encryption version",
            ));
        }
        Ok(version)
    }

    fn cipher(&self, version: u32) -> Result<Aes256Gcm, Error> {
        let material = self
            .versions
            .get(&version)
            .ok_or_else(|| Error::bad_request("invalid key version"))?;
        Aes256Gcm::new_from_slice(&material.key)
            .map_err(|_| Error::internal("transit: stored key has the wrong length"))
    }

    /// Encrypts `plaintext` with `requested` (0: the latest version); the ciphertext and the
    /// version used.
    pub fn encrypt(&self, plaintext: &[u8], requested: u32) -> Result<(String, u32), Error> {
        let version = self.encryption_version(requested)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher(version)?
            .encrypt(&nonce, plaintext)
            .map_err(|_| Error::internal("transit: encryption failed"))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok((
            format!("{PREFIX}{version}:{}", STANDARD.encode(blob)),
            version,
        ))
    }

    /// Decrypts a `vault:v<N>:...` ciphertext; the plaintext and its version. Every failure is
    /// a 400 with Vault's wording, and none echoes the ciphertext.
    pub fn decrypt(&self, ciphertext: &str) -> Result<(Zeroizing<Vec<u8>>, u32), Error> {
        let rest = ciphertext
            .strip_prefix(PREFIX)
            .ok_or_else(|| Error::bad_request("invalid ciphertext: no prefix"))?;
        let (version, body) = rest
            .split_once(':')
            .ok_or_else(|| Error::bad_request("invalid ciphertext: wrong number of fields"))?;
        let version: u32 = version.parse().map_err(|_| {
            Error::bad_request("invalid ciphertext: version number could not be decoded")
        })?;
        if version == 0 || version > self.latest_version {
            return Err(Error::bad_request("invalid key version"));
        }
        if version < self.min_decryption_version {
            return Err(Error::bad_request(
                "ciphertext or signature version is disallowed by policy (too old)",
            ));
        }
        let blob = STANDARD
            .decode(body)
            .map_err(|_| Error::bad_request("invalid ciphertext: could not decode base64"))?;
        if blob.len() < NONCE_LEN {
            return Err(Error::bad_request("invalid ciphertext: nonce length"));
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let plaintext = self
            .cipher(version)?
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| Error::bad_request("cipher: message authentication failed"))?;
        Ok((Zeroizing::new(plaintext), version))
    }

    /// `keys/<name>/config`: the version bounds and flags, checked as Vault checks them.
    pub fn configure(&mut self, data: &Map) -> Result<(), Error> {
        use crate::builtin::auth::input;
        let version = |field: &'static str| -> Result<Option<u32>, Error> {
            match input::int(data, field)? {
                None => Ok(None),
                Some(v) => u32::try_from(v)
                    .map(Some)
                    .map_err(|_| Error::bad_request(format!("{field} cannot be negative"))),
            }
        };
        let mut min_decryption = self.min_decryption_version;
        if let Some(v) = version("min_decryption_version")? {
            // Vault treats 0 as "no change" here: version 1 is the lowest there is.
            if v > 0 {
                if v > self.latest_version {
                    return Err(Error::bad_request(format!(
                        "cannot set min decryption version of {v}, latest key version is {}",
                        self.latest_version
                    )));
                }
                min_decryption = v;
            }
        }
        let mut min_encryption = self.min_encryption_version;
        if let Some(v) = version("min_encryption_version")? {
            if v > self.latest_version {
                return Err(Error::bad_request(format!(
                    "cannot set min encryption version of {v}, latest key version is {}",
                    self.latest_version
                )));
            }
            min_encryption = v;
        }
        if min_encryption > 0 && min_encryption < min_decryption {
            return Err(Error::bad_request(
                "min encryption version should not be less than min decryption version",
            ));
        }
        let exportable = input::boolean(data, "exportable")?;
        if exportable == Some(false) && self.exportable {
            return Err(Error::bad_request(
                "export key cannot be disabled once enabled",
            ));
        }
        let backup = input::boolean(data, "allow_plaintext_backup")?;
        if backup == Some(false) && self.allow_plaintext_backup {
            return Err(Error::bad_request(
                "allow_plaintext_backup cannot be disabled once enabled",
            ));
        }
        if input::duration(data, "auto_rotate_period")?.is_some_and(|p| p > 0) {
            return Err(Error::bad_request(
                "auto_rotate_period is not supported by mainkey's transit engine: rotate with keys/<name>/rotate",
            ));
        }
        self.min_decryption_version = min_decryption;
        self.min_encryption_version = min_encryption;
        if let Some(allowed) = input::boolean(data, "deletion_allowed")? {
            self.deletion_allowed = allowed;
        }
        self.exportable |= exportable.unwrap_or(false);
        self.allow_plaintext_backup |= backup.unwrap_or(false);
        Ok(())
    }
}

/// `Zeroizing<Vec<u8>>` as a base64 string, with the intermediate strings wiped too.
mod secret_b64 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Zeroizing<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(STANDARD.encode(bytes.as_slice()));
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        STANDARD
            .decode(text.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| serde::de::Error::custom("key material is not base64"))
    }
}
