//! Auto seals: the root key kept wrapped by a key service outside this server (another
//! mainkey's or Vault's `transit` engine), so the core can unseal itself at start.
//!
//! With an auto seal, `sys/init` hands out *recovery* keys instead of unseal keys: Shamir shares
//! of a separate random recovery key. They cannot decrypt anything; they authorize the quorum
//! operations (a manual unseal after `sys/seal`, root generation), as in Vault. The core stores
//! the wrapped root key and a digest of the recovery key in the plaintext seal configuration,
//! since both must be readable while sealed and neither opens the barrier by itself.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::Core;

/// Why the key service could not wrap or unwrap: it is down, refused the token, or answered
/// something unexpected. The message names the service and never holds key material.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SealUnavailable(pub String);

/// A key service that wraps the root key. `Debug` must not show credentials.
#[async_trait::async_trait]
pub trait AutoSeal: fmt::Debug + Send + Sync + 'static {
    /// The seal type, as `sys/seal-status` reports it and a config's `seal "<type>"` names it.
    fn kind(&self) -> &'static str;

    /// Encrypts the root key; the answer is stored as it is.
    async fn wrap(&self, root_key: &[u8]) -> Result<String, SealUnavailable>;

    /// Decrypts what [`AutoSeal::wrap`] returned.
    async fn unwrap(&self, wrapped: &str) -> Result<Zeroizing<Vec<u8>>, SealUnavailable>;
}

/// What the seal configuration holds for an auto-sealed core.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AutoSealed {
    /// The seal type that wrapped the root key, e.g. `transit`.
    pub kind: String,
    /// The key service's ciphertext of the root key.
    pub wrapped_root_key: String,
    /// The hex SHA-256 of the recovery key, under a domain prefix. The recovery key is 32
    /// random bytes, so the digest gives nothing to guess from.
    pub recovery_key_digest: String,
}

const RECOVERY_DIGEST_DOMAIN: &[u8] = b"mainkey recovery key v1\0";

/// The digest stored for a recovery key.
pub fn recovery_key_digest(recovery_key: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(RECOVERY_DIGEST_DOMAIN);
    hasher.update(recovery_key);
    hex::encode(hasher.finalize())
}

impl AutoSealed {
    /// Whether `candidate` (recovered from recovery shares) is the recovery key; constant time.
    pub fn is_recovery_key(&self, candidate: &[u8]) -> bool {
        let digest = recovery_key_digest(candidate);
        bool::from(digest.as_bytes().ct_eq(self.recovery_key_digest.as_bytes()))
    }
}

/// How long the auto-unseal loop waits after a failure, as Vault does.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Starts the loop that unseals `core` through its auto seal: at once, then every
/// [`RETRY_AFTER`] while the key service is down, until the core was unsealed once. An
/// uninitialized core is waited for, since `sys/init` unseals by itself and the loop stops
/// then. The loop holds the core weakly, so it ends with the server.
pub fn start_unseal_loop(core: &Arc<Core>) {
    let weak: Weak<Core> = Arc::downgrade(core);
    super::background::spawn("mainkey-auto-unseal", "auto-unseal", move |runtime| loop {
        let Some(core) = weak.upgrade() else { return };
        if core.was_unsealed() {
            return;
        }
        match runtime.block_on(core.auto_unseal()) {
            Ok(true) => {
                tracing::info!("unsealed through the auto seal");
                return;
            }
            Ok(false) => {}
            Err(e) => tracing::error!(
                "auto-unseal failed, the server stays sealed; retrying in {}s: {e}",
                RETRY_AFTER.as_secs()
            ),
        }
        drop(core);
        std::thread::sleep(RETRY_AFTER);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recovery_key_matches_its_digest() {
        let sealed = AutoSealed {
            kind: "transit".into(),
            wrapped_root_key: "vault:v1:x".into(),
            recovery_key_digest: recovery_key_digest(&[7u8; 32]),
        };
        assert!(sealed.is_recovery_key(&[7u8; 32]));
        assert!(!sealed.is_recovery_key(&[8u8; 32]));
        assert!(!sealed.is_recovery_key(&[7u8; 31]));
        assert!(!sealed.is_recovery_key(&[]));
    }
}
