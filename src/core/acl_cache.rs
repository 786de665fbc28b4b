//! Built ACLs, kept between requests. Building one means reading the caller's entity, its
//! aliases and every group, then merging and rendering each policy's rules; a gateway
//! decision must not pay that per request.
//!
//! An ACL depends on the token's own policy names and its entity, so that pair is the key.
//! Entries are tagged with the policy and identity stores' write generations (see
//! [`super::generation`]), so any policy, entity, alias or group write makes every entry
//! stale at once, and an entry holding a rule with an `expiration` is dropped when it passes.

use std::sync::Arc;
use std::time::SystemTime;

use super::authorization::Grant;

/// The policy store's and the identity store's generations when an entry was built.
pub type Stamp = (u64, u64);

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    policies: Vec<String>,
    entity_id: String,
}

impl Key {
    fn new(policies: &[String], entity_id: &str) -> Key {
        Key {
            policies: policies.to_vec(),
            entity_id: entity_id.to_string(),
        }
    }
}

/// What the caller may do: a grant, or nothing at all because its entity is disabled or gone.
pub type Decision = Option<Arc<Grant>>;

pub struct AclCache {
    entries: moka::sync::Cache<Key, (Stamp, Decision)>,
}

impl AclCache {
    pub fn new(capacity: u64) -> Self {
        AclCache {
            entries: moka::sync::Cache::new(capacity),
        }
    }

    /// The decision built for this token's policies and entity, if nothing it depends on has
    /// changed since.
    pub fn get(
        &self,
        policies: &[String],
        entity_id: &str,
        stamp: Stamp,
        now: SystemTime,
    ) -> Option<Decision> {
        let (built, decision) = self.entries.get(&Key::new(policies, entity_id))?;
        let current = decision
            .as_ref()
            .is_none_or(|grant| grant.acl.is_current_at(now));
        (built == stamp && current).then_some(decision)
    }

    /// Keeps a decision built from what the stores held at `stamp` (taken before reading them).
    pub fn insert(&self, policies: &[String], entity_id: &str, stamp: Stamp, decision: Decision) {
        self.entries
            .insert(Key::new(policies, entity_id), (stamp, decision));
    }

    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::{Acl, Policy};

    fn acl_at(text: &str, now: SystemTime) -> Arc<Grant> {
        let policy = Arc::new(Policy::parse("p", text).unwrap());
        Arc::new(Grant {
            acl: Arc::new(Acl::new_at(&[policy], None, now).unwrap()),
            identity_policies: Vec::new(),
            entity: None,
        })
    }

    #[test]
    fn an_entry_is_served_only_at_its_own_stamp() {
        let cache = AclCache::new(10);
        let now = SystemTime::now();
        let names = ["p".to_string()];
        let acl = acl_at(r#"path "a" { capabilities = ["read"] }"#, now);
        cache.insert(&names, "e1", (3, 7), Some(acl));
        assert!(cache.get(&names, "e1", (3, 7), now).is_some());
        assert!(cache.get(&names, "e1", (4, 7), now).is_none());
        assert!(cache.get(&names, "e1", (3, 8), now).is_none());
        assert!(cache.get(&names, "e2", (3, 7), now).is_none());
        assert!(cache.get(&["q".to_string()], "e1", (3, 7), now).is_none());
        // A disabled entity's decision is cached too, as "nothing".
        cache.insert(&names, "off", (3, 7), None);
        assert_eq!(
            cache.get(&names, "off", (3, 7), now).map(|d| d.is_none()),
            Some(true)
        );
        cache.clear();
        assert!(cache.get(&names, "e1", (3, 7), now).is_none());
    }

    #[test]
    fn an_entry_holding_an_expiring_rule_ends_with_it() {
        let cache = AclCache::new(10);
        let built = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let text = r#"path "a" {
            capabilities = ["read"]
            expiration = "2027-01-15T09:00:00Z"
        }"#;
        let acl = acl_at(text, built);
        assert!(acl.acl.capabilities("a").names() == ["read"]);
        let names = ["p".to_string()];
        cache.insert(&names, "", (0, 0), Some(acl));
        let hour = Duration::from_secs(3600);
        assert!(cache.get(&names, "", (0, 0), built + hour).is_some());
        assert!(cache
            .get(&names, "", (0, 0), built + hour + Duration::from_secs(1))
            .is_none());
    }
}
