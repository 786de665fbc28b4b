//! HMAC-SHA256 of sensitive strings, with a salt of the device's own, so a value can be
//! matched (`sys/audit-hash`) but not read back from an audit log.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The prefix of every hashed value, as Vault writes it.
pub const PREFIX: &str = "hmac-sha256:";

/// A device's salt. Kept in the barrier with the audit table; never logged or shown.
pub struct Salt(Zeroizing<Vec<u8>>);

impl Salt {
    pub const LEN: usize = 32;

    pub fn generate() -> Salt {
        use rand::RngCore;
        let mut bytes = Zeroizing::new(vec![0u8; Self::LEN]);
        rand::thread_rng().fill_bytes(&mut bytes);
        Salt(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Salt {
        Salt(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `hmac-sha256:<hex>` of `input`.
    pub fn hash(&self, input: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(input.as_bytes());
        let mut hex = [0u8; 64];
        hex::encode_to_slice(mac.finalize().into_bytes(), &mut hex)
            .unwrap_or_else(|_| unreachable!("64 hex digits for 32 bytes"));
        let mut out = String::with_capacity(PREFIX.len() + hex.len());
        out.push_str(PREFIX);
        // Hex digits are ASCII.
        out.extend(hex.iter().map(|&b| char::from(b)));
        out
    }
}

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_by_the_salt_and_never_debug_printed() {
        let (a, b) = (Salt::generate(), Salt::generate());
        assert_ne!(a.hash("s.token"), b.hash("s.token"));
        assert_eq!(a.hash("s.token"), a.hash("s.token"));
        assert!(a.hash("x").starts_with(PREFIX));
        assert_eq!(a.hash("x").len(), PREFIX.len() + 64);
        assert_eq!(format!("{a:?}"), "Salt(<redacted>)");
    }
}
