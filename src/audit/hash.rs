//! HMAC-SHA256 of sensitive strings, with a salt of the device's own, so a value can be
//! matched (`sys/audit-hash`) but not read back from an audit log.

use hmac::{Hmac, Mac};
use serde_json::Value;
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
        format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Replaces every string inside `value` (object values and array items, at any depth)
    /// by its hash, as Vault hashes request and response data. Keys stay readable; numbers,
    /// booleans and nulls are not secrets and stay too.
    pub fn hash_strings(&self, value: &mut Value) {
        // An explicit stack: data nests as deep as the JSON limits allow.
        let mut pending = vec![value];
        while let Some(v) = pending.pop() {
            match v {
                Value::String(s) => *s = self.hash(s),
                Value::Array(items) => pending.extend(items.iter_mut()),
                Value::Object(map) => pending.extend(map.values_mut()),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
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
    use serde_json::json;

    #[test]
    fn hashes_are_keyed_by_the_salt_and_cover_every_string() {
        let (a, b) = (Salt::generate(), Salt::generate());
        assert_ne!(a.hash("s.token"), b.hash("s.token"));
        assert_eq!(a.hash("s.token"), a.hash("s.token"));
        assert!(a.hash("x").starts_with(PREFIX));
        assert_eq!(a.hash("x").len(), PREFIX.len() + 64);

        let mut data = json!({"password": "hunter2", "n": 3, "deep": [{"k": ["v"]}], "t": true});
        a.hash_strings(&mut data);
        assert_eq!(data["password"], a.hash("hunter2"));
        assert_eq!(data["deep"][0]["k"][0], a.hash("v"));
        assert_eq!(data["n"], 3);
        assert_eq!(data["t"], true);
        assert!(!data.to_string().contains("hunter2"));
        assert_eq!(format!("{a:?}"), "Salt(<redacted>)");
    }

    #[test]
    fn a_deep_value_is_hashed_without_recursion() {
        let mut v = json!("leaf");
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        Salt::generate().hash_strings(&mut v);
        // Dropping a deep Value recurses in serde_json; unwind it by hand.
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
        assert!(cur.as_str().is_some_and(|s| s.starts_with(PREFIX)));
    }
}
