//! The capability bitset of one path rule, and the names `sys/capabilities` answers with.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of capabilities. `DENY` is never combined with anything else in a rule (the parser and
/// the merge keep it alone), and `ROOT` only comes from the built-in `root` policy.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u16);

/// Every capability with its name, in the order `sys/capabilities` lists them (sorted by name, as
/// Vault sorts its answer).
const NAMED: [(Capabilities, &str); 9] = [
    (Capabilities::CREATE, "create"),
    (Capabilities::DELETE, "delete"),
    (Capabilities::LIST, "list"),
    (Capabilities::PATCH, "patch"),
    (Capabilities::READ, "read"),
    (Capabilities::SCAN, "scan"),
    (Capabilities::SUDO, "sudo"),
    (Capabilities::UPDATE, "update"),
    (Capabilities::DENY, "deny"),
];

impl Capabilities {
    pub const DENY: Capabilities = Capabilities(1);
    pub const CREATE: Capabilities = Capabilities(1 << 1);
    pub const READ: Capabilities = Capabilities(1 << 2);
    pub const UPDATE: Capabilities = Capabilities(1 << 3);
    pub const DELETE: Capabilities = Capabilities(1 << 4);
    pub const LIST: Capabilities = Capabilities(1 << 5);
    pub const SUDO: Capabilities = Capabilities(1 << 6);
    pub const PATCH: Capabilities = Capabilities(1 << 7);
    /// OpenBao's `scan` (recursive list). Accepted and reported so that OpenBao policies parse
    /// and answer identically; no mainkey operation is granted by it.
    pub const SCAN: Capabilities = Capabilities(1 << 8);
    /// Everything, from the built-in `root` policy. Reported as just `root`.
    pub const ROOT: Capabilities = Capabilities(1 << 9);

    pub const fn empty() -> Capabilities {
        Capabilities(0)
    }

    /// The capability a policy names, e.g. `read`. `root` is not a name a policy may use.
    pub fn from_name(name: &str) -> Option<Capabilities> {
        NAMED.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every capability of `other` is in `self`.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when `self` and `other` share a capability.
    pub const fn intersects(self, other: Capabilities) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn is_root(self) -> bool {
        self.contains(Capabilities::ROOT)
    }

    /// True when this set grants nothing: an explicit `deny`, or no capability at all.
    pub const fn is_deny(self) -> bool {
        self.contains(Capabilities::DENY) || self.is_empty()
    }

    /// The names as `sys/capabilities` answers: `["root"]` for root, `["deny"]` for a denial or
    /// an empty set, else the granted names sorted alphabetically.
    pub fn names(&self) -> Vec<&'static str> {
        if self.is_root() {
            return vec!["root"];
        }
        if self.is_deny() {
            return vec!["deny"];
        }
        NAMED
            .iter()
            .filter(|(c, _)| *c != Capabilities::DENY && self.contains(*c))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Capabilities) -> Capabilities {
        Capabilities(self.0 | rhs.0)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Capabilities) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capabilities{:?}", self.names())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_like_sys_capabilities() {
        let all = Capabilities::CREATE
            | Capabilities::READ
            | Capabilities::UPDATE
            | Capabilities::DELETE
            | Capabilities::LIST
            | Capabilities::SUDO
            | Capabilities::PATCH;
        assert_eq!(
            all.names(),
            ["create", "delete", "list", "patch", "read", "sudo", "update"]
        );
        assert_eq!(Capabilities::empty().names(), ["deny"]);
        assert_eq!(Capabilities::DENY.names(), ["deny"]);
        assert_eq!((Capabilities::DENY | Capabilities::READ).names(), ["deny"]);
        assert_eq!(Capabilities::ROOT.names(), ["root"]);
    }

    #[test]
    fn from_name_knows_policy_names_only() {
        assert_eq!(Capabilities::from_name("patch"), Some(Capabilities::PATCH));
        assert_eq!(Capabilities::from_name("deny"), Some(Capabilities::DENY));
        assert_eq!(Capabilities::from_name("root"), None);
        assert_eq!(Capabilities::from_name("READ"), None);
        assert_eq!(Capabilities::from_name(""), None);
    }
}
