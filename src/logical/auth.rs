//! What an auth method hands the core on a successful login. The core mints the token from
//! it, links the alias to an identity entity, and fills the response's `auth` object.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// A successful login, before a token exists.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// Policies the method grants (already normalized: lowercased, trimmed).
    pub policies: Vec<String>,
    /// Key/value metadata shown on the token (`auth.metadata`), e.g. `role_name`, `username`.
    pub metadata: BTreeMap<String, String>,
    /// `display_name` of the token, e.g. `userpass-admin`.
    pub display_name: String,
    /// Seconds; 0 = the mount's/system default.
    pub ttl: u64,
    /// Seconds; 0 = the mount's/system max.
    pub max_ttl: u64,
    /// Seconds; non-zero makes a periodic token.
    pub period: u64,
    /// Seconds; 0 = none.
    pub explicit_max_ttl: u64,
    /// 0 = unlimited.
    pub num_uses: u64,
    pub no_default_policy: bool,
    /// Whether the token can be renewed through the method.
    pub renewable: bool,
    /// Source addresses the token may be used from (`token_bound_cidrs`); empty = any.
    pub bound_cidrs: Vec<IpNet>,
    /// The identity alias of the caller on this mount: the role_id for AppRole, the username
    /// for userpass, the `user_claim` for JWT.
    pub alias: Option<Alias>,
    /// Group aliases (`groups_claim` for JWT).
    pub group_aliases: Vec<String>,
}

/// The terms a token issued by an auth method may be renewed with now: the role's or user's
/// current settings, as Vault's renew callbacks return them. Seconds; 0 = the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Renewal {
    pub ttl: u64,
    pub max_ttl: u64,
    pub period: u64,
}

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    pub metadata: BTreeMap<String, String>,
}

/// An IP network (`10.0.0.0/8`, `::1/128`), as CIDR bindings use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    /// Parses `a.b.c.d/n`, `x::y/n`, or a bare address (a single host).
    pub fn parse(s: &str) -> Option<IpNet> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

// Metadata may name tenants and users; `Debug` shows only the shape.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("policies", &self.policies)
            .field("metadata_keys", &self.metadata.keys().collect::<Vec<_>>())
            .field("ttl", &self.ttl)
            .field("max_ttl", &self.max_ttl)
            .field("alias", &self.alias.as_ref().map(|_| "<alias>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_match_their_networks_only() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(IpNet::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(IpNet::parse("nope").is_none());
    }
}
