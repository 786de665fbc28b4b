//! `sys/rekey` and `sys/generate-root`: operations that a quorum of the current unseal keys
//! authorizes, while unsealed.
//!
//! - A rekey replaces the root key: the keyring is sealed again with a new random root key,
//!   split with the new shares and threshold, and stored in one commit with the new seal
//!   configuration. So after a restart the new shares unseal and the old ones do not.
//! - A root generation mints a new root token, handed back XORed with a one-time pad that
//!   only the caller who started the attempt has seen, as OpenBao does (`encoded_token`).
//!
//! Anyone may start or cancel either, as in Vault: neither completes without the quorum,
//! and a cancel or a seal drops the keys collected so far (they are zeroized on drop).
//! Nothing here prints a key, a share or the pad: there is no `Debug` on the state.

use base64::Engine as _;
use rand::distributions::Alphanumeric;
use rand::Rng as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::seal::{self, SealConfig, ROOT_KEY_LEN};
use super::{Core, SEAL_CONFIG_PATH};
use crate::logical::Error;
use crate::physical;

/// The length of the one-time pad: that of a generated token (`s.` and 24 characters), as
/// OpenBao's `otp_length`.
pub const OTP_LEN: usize = 26;

/// Unseal keys given towards one operation, each at most once. Dropping it zeroizes them.
#[derive(Default)]
pub(super) struct Quorum {
    parts: Vec<Zeroizing<Vec<u8>>>,
}

impl Quorum {
    pub(super) fn count(&self) -> usize {
        self.parts.len()
    }

    /// Adds a key; the same key twice is refused, with Vault's message.
    pub(super) fn add(&mut self, key: Zeroizing<Vec<u8>>) -> Result<usize, Error> {
        if self
            .parts
            .iter()
            .any(|p| bool::from(p.as_slice().ct_eq(key.as_slice())))
        {
            return Err(Error::bad_request(
                "given key has already been provided during this generation operation",
            ));
        }
        self.parts.push(key);
        Ok(self.parts.len())
    }

    fn take(&mut self) -> Vec<Zeroizing<Vec<u8>>> {
        std::mem::take(&mut self.parts)
    }
}

/// A rekey in progress: the new shares and threshold, and the old keys given so far.
pub(super) struct Rekey {
    nonce: String,
    shares: u8,
    threshold: u8,
    quorum: Quorum,
}

/// A root generation in progress. The pad is never shown again after the start.
pub(super) struct RootGeneration {
    nonce: String,
    otp: Zeroizing<String>,
    quorum: Quorum,
}

/// The quorum operations of a core; at most one of each kind at a time.
#[derive(Default)]
pub(super) struct Operations {
    pub(super) rekey: Option<Rekey>,
    root: Option<RootGeneration>,
}

impl Operations {
    /// Drops both operations and the keys they collected, on seal and on shutdown.
    pub(super) fn clear(&mut self) {
        self.rekey = None;
        self.root = None;
    }
}

/// What `sys/rekey/init` reports. Holds no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekeyStatus {
    pub started: bool,
    pub nonce: String,
    /// The new threshold and shares, once started (0 otherwise).
    pub t: u8,
    pub n: u8,
    pub progress: usize,
    /// The current threshold: how many old keys complete the rekey.
    pub required: u8,
}

/// The answer to one `sys/rekey/update`.
pub enum RekeyUpdate {
    /// More keys are needed.
    Progress(RekeyStatus),
    /// The rekey is done: the new unseal keys, shown this once.
    Done {
        nonce: String,
        keys: Vec<Zeroizing<Vec<u8>>>,
    },
}

/// What `sys/generate-root/attempt` reports. Holds no key, and the pad only in the answer
/// to the start.
pub struct RootStatus {
    pub started: bool,
    pub nonce: String,
    pub progress: usize,
    pub required: u8,
    /// The generated pad, in the answer to the start only.
    pub otp: Option<Zeroizing<String>>,
}

/// The answer to one `sys/generate-root/update`.
pub enum RootUpdate {
    Progress(RootStatus),
    /// The new root token, XORed with the pad and base64-encoded (no padding), as OpenBao's.
    Done {
        nonce: String,
        encoded_token: String,
        required: u8,
    },
}

/// The pad XOR the token, base64 without padding; both have [`OTP_LEN`] bytes.
pub fn encode_token(token: &str, otp: &str) -> Result<String, Error> {
    if token.len() != otp.len() {
        return Err(Error::internal("the token and the OTP differ in length"));
    }
    let xored: Zeroizing<Vec<u8>> =
        Zeroizing::new(token.bytes().zip(otp.bytes()).map(|(t, o)| t ^ o).collect());
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(xored.as_slice()))
}

/// The inverse of [`encode_token`], for `operator generate-root -decode`. Accepts padded
/// base64 too.
pub fn decode_token(encoded: &str, otp: &str) -> Result<Zeroizing<String>, String> {
    let trimmed = encoded.trim().trim_end_matches('=');
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .map_err(|e| format!("error decoding base64'd token: {e}"))?,
    );
    if bytes.len() != otp.len() {
        return Err("error xoring token: length of byte slices is not equivalent".into());
    }
    let plain: Zeroizing<Vec<u8>> =
        Zeroizing::new(bytes.iter().zip(otp.bytes()).map(|(b, o)| b ^ o).collect());
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| "the decoded token is not text: wrong OTP?".into())
}

/// Ends the operation that just completed, but not one started after a cancel meanwhile.
fn end_if_current<T>(slot: &mut Option<T>, current: impl Fn(&T) -> bool) {
    if slot.as_ref().is_some_and(current) {
        *slot = None;
    }
}

fn new_nonce() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Core {
    /// The seal configuration of an unsealed core: quorum operations exist only then.
    fn quorum_config(&self) -> Result<SealConfig, Error> {
        let config = self
            .seal_config()
            .ok_or_else(|| Error::bad_request("server is not yet initialized"))?;
        if self.is_sealed() {
            return Err(Error::Sealed);
        }
        Ok(config)
    }

    /// Whether the key recovered from a quorum is the one this seal hands out: the root key
    /// under Shamir, the recovery key under an auto seal.
    fn quorum_recovers(&self, config: &SealConfig, key: &[u8]) -> Result<bool, Error> {
        match &config.auto {
            None => self.barrier.verify_root_key(key),
            Some(auto) => Ok(auto.is_recovery_key(key)),
        }
    }

    fn rekey_status_of(rekey: Option<&Rekey>, config: &SealConfig) -> RekeyStatus {
        match rekey {
            Some(r) => RekeyStatus {
                started: true,
                nonce: r.nonce.clone(),
                t: r.threshold,
                n: r.shares,
                progress: r.quorum.count(),
                required: config.secret_threshold,
            },
            None => RekeyStatus {
                started: false,
                nonce: String::new(),
                t: 0,
                n: 0,
                progress: 0,
                required: config.secret_threshold,
            },
        }
    }

    /// `GET sys/rekey/init`.
    pub fn rekey_status(&self) -> Result<RekeyStatus, Error> {
        let config = self.quorum_config()?;
        let ops = self.operations.lock();
        Ok(Self::rekey_status_of(ops.rekey.as_ref(), &config))
    }

    /// `PUT sys/rekey/init`: starts a rekey to `shares` shares and `threshold`.
    pub fn rekey_init(&self, shares: u64, threshold: u64) -> Result<RekeyStatus, Error> {
        let config = self.quorum_config()?;
        if let Some(auto) = &config.auto {
            // Vault rekeys recovery keys at sys/rekey-recovery-key, which mainkey lacks.
            return Err(Error::bad_request(format!(
                "the {} seal holds the root key: there are no unseal keys to rekey, and \
                 rekeying recovery keys is not supported",
                auto.kind
            )));
        }
        let (shares, threshold) = SealConfig::validate(shares, threshold)
            .map_err(|e| Error::bad_request(format!("invalid rekey seal configuration: {}", e)))?;
        let mut ops = self.operations.lock();
        if ops.rekey.is_some() {
            return Err(Error::bad_request("rekey already in progress"));
        }
        let rekey = Rekey {
            nonce: new_nonce(),
            shares,
            threshold,
            quorum: Quorum::default(),
        };
        tracing::info!(nonce = %rekey.nonce, shares, threshold, "rekey initialized");
        ops.rekey = Some(rekey);
        Ok(Self::rekey_status_of(ops.rekey.as_ref(), &config))
    }

    /// `DELETE sys/rekey/init`: forgets the rekey and the keys given for it.
    pub fn rekey_cancel(&self) -> Result<(), Error> {
        self.quorum_config()?;
        self.operations.lock().rekey = None;
        Ok(())
    }

    /// `PUT sys/rekey/update`: one old unseal key. With the old threshold reached and the
    /// root key they give checked, a new root key is made, the keyring sealed with it and
    /// stored with the new configuration, and the new keys returned.
    pub async fn rekey_update(&self, key: &str, nonce: &str) -> Result<RekeyUpdate, Error> {
        // Serializes with seal and unseal: the keyring must not change under the commit.
        let _guard = self.transition.lock().await;
        let config = self.quorum_config()?;
        let (parts, shares, threshold, nonce) = {
            let mut ops = self.operations.lock();
            let rekey = ops
                .rekey
                .as_mut()
                .ok_or_else(|| Error::bad_request("no barrier rekey in progress"))?;
            if !bool::from(nonce.as_bytes().ct_eq(rekey.nonce.as_bytes())) {
                return Err(Error::bad_request(format!(
                    "incorrect nonce supplied; nonce for this rekey operation is {:?}",
                    rekey.nonce
                )));
            }
            let key = seal::decode_key(&config, key)?;
            let progress = rekey.quorum.add(key)?;
            if progress < usize::from(config.secret_threshold) {
                return Ok(RekeyUpdate::Progress(Self::rekey_status_of(
                    Some(rekey),
                    &config,
                )));
            }
            // The keys are used up whatever comes next, as in Vault.
            (
                rekey.quorum.take(),
                rekey.shares,
                rekey.threshold,
                rekey.nonce.clone(),
            )
        };
        let root_key = seal::combine(&config, &parts)?;
        drop(parts);
        if !self.quorum_recovers(&config, &root_key)? {
            return Err(Error::bad_request(
                "rekey failed: the unseal keys given do not recover the root key",
            ));
        }
        let mut new_root = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        rand::thread_rng().fill(new_root.as_mut_slice());
        let new_config = SealConfig {
            secret_shares: shares,
            secret_threshold: threshold,
            ..config
        };
        let bytes = serde_json::to_vec(&new_config)
            .map_err(|e| Error::internal(format!("encoding seal configuration: {e}")))?;
        self.barrier
            .rekey(
                &new_root,
                vec![physical::StorageOp::Put(SEAL_CONFIG_PATH.into(), bytes)],
            )
            .await?;
        *self.seal_config.write() = Some(new_config);
        {
            let mut ops = self.operations.lock();
            end_if_current(&mut ops.rekey, |r| r.nonce == nonce);
            // Keys given towards a root generation were shares of the old root key.
            if let Some(root) = ops.root.as_mut() {
                root.quorum = Quorum::default();
            }
        }
        tracing::info!(nonce = %nonce, shares, threshold, "rekey completed");
        Ok(RekeyUpdate::Done {
            nonce,
            keys: seal::split(&new_root, shares, threshold),
        })
    }

    fn root_status_of(root: Option<&RootGeneration>, config: &SealConfig) -> RootStatus {
        RootStatus {
            started: root.is_some(),
            nonce: root.map(|r| r.nonce.clone()).unwrap_or_default(),
            progress: root.map_or(0, |r| r.quorum.count()),
            required: config.secret_threshold,
            otp: None,
        }
    }

    /// `GET sys/generate-root/attempt`.
    pub fn generate_root_status(&self) -> Result<RootStatus, Error> {
        let config = self.quorum_config()?;
        let ops = self.operations.lock();
        Ok(Self::root_status_of(ops.root.as_ref(), &config))
    }

    /// `PUT sys/generate-root/attempt`: with an `otp` of the right length, or none, when
    /// the core makes one and hands it back this once (Vault 1.10 and later).
    pub fn generate_root_init(&self, otp: Option<&str>) -> Result<RootStatus, Error> {
        let config = self.quorum_config()?;
        let (otp, generated) = match otp.filter(|o| !o.is_empty()) {
            Some(given) if given.len() != OTP_LEN => {
                return Err(Error::bad_request("OTP string has incorrect length"));
            }
            Some(given) => (Zeroizing::new(given.to_string()), false),
            None => (
                Zeroizing::new(
                    rand::rngs::OsRng
                        .sample_iter(&Alphanumeric)
                        .take(OTP_LEN)
                        .map(char::from)
                        .collect::<String>(),
                ),
                true,
            ),
        };
        let mut ops = self.operations.lock();
        if ops.root.is_some() {
            return Err(Error::bad_request("root generation already in progress"));
        }
        let root = RootGeneration {
            nonce: new_nonce(),
            otp,
            quorum: Quorum::default(),
        };
        tracing::info!(nonce = %root.nonce, "root generation initialized");
        let mut status = Self::root_status_of(Some(&root), &config);
        if generated {
            status.otp = Some(root.otp.clone());
        }
        ops.root = Some(root);
        Ok(status)
    }

    /// `DELETE sys/generate-root/attempt`.
    pub fn generate_root_cancel(&self) -> Result<(), Error> {
        self.quorum_config()?;
        self.operations.lock().root = None;
        Ok(())
    }

    /// `PUT sys/generate-root/update`: one unseal key; with the threshold reached and the
    /// root key checked, a new root token is stored and handed back encoded with the pad.
    pub async fn generate_root_update(&self, key: &str, nonce: &str) -> Result<RootUpdate, Error> {
        let config = self.quorum_config()?;
        let (parts, otp, nonce) = {
            let mut ops = self.operations.lock();
            let root = ops
                .root
                .as_mut()
                .ok_or_else(|| Error::bad_request("no root generation in progress"))?;
            if !bool::from(nonce.as_bytes().ct_eq(root.nonce.as_bytes())) {
                return Err(Error::bad_request(format!(
                    "incorrect nonce supplied; nonce for this root generation operation is {:?}",
                    root.nonce
                )));
            }
            let key = seal::decode_key(&config, key)?;
            let progress = root.quorum.add(key)?;
            if progress < usize::from(config.secret_threshold) {
                return Ok(RootUpdate::Progress(Self::root_status_of(
                    Some(root),
                    &config,
                )));
            }
            // The keys are used up whatever comes next, as in Vault; the attempt ends
            // once a token was made.
            (root.quorum.take(), root.otp.clone(), root.nonce.clone())
        };
        let root_key = seal::combine(&config, &parts)?;
        drop(parts);
        if !self.quorum_recovers(&config, &root_key)? {
            return Err(Error::bad_request(
                "root generation aborted: the keys given do not recover the root key",
            ));
        }
        let unsealed = self.unsealed()?;
        let token = super::generate_token_id();
        let entry = self.root_token_entry();
        let encoded_token = encode_token(&token, &otp)?;
        unsealed
            .tokens
            .create(&token, entry)
            .await
            .map_err(|e| Error::internal(format!("storing the new root token: {e}")))?;
        end_if_current(&mut self.operations.lock().root, |r| r.nonce == nonce);
        tracing::info!(nonce = %nonce, "root generation finished");
        Ok(RootUpdate::Done {
            nonce,
            encoded_token,
            required: config.secret_threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_counted_once() {
        let mut q = Quorum::default();
        assert_eq!(q.add(Zeroizing::new(vec![1, 2])).unwrap(), 1);
        let err = q.add(Zeroizing::new(vec![1, 2])).unwrap_err();
        assert!(err.to_string().contains("already been provided"), "{err}");
        assert_eq!(q.add(Zeroizing::new(vec![3])).unwrap(), 2);
        assert_eq!(q.take().len(), 2);
        assert_eq!(q.count(), 0);
    }

    #[test]
    fn tokens_round_trip_through_the_pad() {
        let token = "s.abcdefghijklmnopqrstuvwx";
        let otp = "0123456789ABCDEFGHIJKLMNOP";
        let encoded = encode_token(token, otp).unwrap();
        assert!(!encoded.ends_with('='));
        assert_eq!(decode_token(&encoded, otp).unwrap().as_str(), token);
        assert!(decode_token(&encoded, "short").is_err());
        assert!(encode_token(token, "short").is_err());
    }
}
