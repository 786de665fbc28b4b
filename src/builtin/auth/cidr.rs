//! CIDR bindings as Vault's auth methods parse, compare and print them.
//!
//! Two parsers, because Vault has two: `token_bound_cidrs` go through go-sockaddr, which takes a
//! bare address as a single host; `secret_id_bound_cidrs` and `cidr_list` go through Go's
//! `net.ParseCIDR`, which needs the `/prefix`.

use std::net::IpAddr;

use crate::logical::IpNet;

/// A `token_bound_cidrs` element: an address or a CIDR. The error is go-sockaddr's.
pub fn parse_addr(s: &str) -> Result<IpNet, String> {
    IpNet::parse(s).ok_or_else(|| {
        format!(
            "error parsing address {s:?}: Unable to convert {s:?} to an IPv4 or IPv6 address, or a UNIX Socket"
        )
    })
}

/// A strict CIDR (`10.0.0.0/8`). The error is the one Vault's CIDR validation returns.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    if !s.contains('/') {
        return Err(format!("invalid CIDR address: {s}"));
    }
    IpNet::parse(s).ok_or_else(|| format!("invalid CIDR address: {s}"))
}

/// How go-sockaddr prints a network: a single host without its prefix.
pub fn render(net: &IpNet) -> String {
    let full = if net.addr.is_ipv4() { 32 } else { 128 };
    if net.prefix == full {
        net.addr.to_string()
    } else {
        format!("{}/{}", net.addr, net.prefix)
    }
}

/// Whether every block of `inner` lies inside some block of `outer` (Vault's `SubsetBlocks`).
pub fn is_subset(outer: &[IpNet], inner: &[IpNet]) -> bool {
    inner.iter().all(|i| {
        outer
            .iter()
            .any(|o| i.prefix >= o.prefix && o.contains(i.addr))
    })
}

pub fn any_contains(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(ip))
}

/// Parses stored CIDR strings; they were validated on write, so a failure means corruption.
pub fn parse_stored(list: &[String]) -> Result<Vec<IpNet>, crate::logical::Error> {
    list.iter()
        .map(|s| {
            IpNet::parse(s)
                .ok_or_else(|| crate::logical::Error::internal("stored CIDR block is corrupt"))
        })
        .collect()
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quote_list(list: &[String]) -> String {
    let quoted: Vec<String> = list
        .iter()
        .map(|s| crate::logical::fields::go_quote(s))
        .collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_render_like_sockaddr() {
        for (input, want) in [
            ("10.1.2.3/8", "10.1.2.3/8"),
            ("::1", "::1"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("10.0.0.1/32", "10.0.0.1"),
            (" 127.0.0.1 ", "127.0.0.1"),
        ] {
            assert_eq!(render(&parse_addr(input).unwrap()), want);
        }
        assert_eq!(
            parse_addr("bad").unwrap_err(),
            "error parsing address \"bad\": Unable to convert \"bad\" to an IPv4 or IPv6 address, or a UNIX Socket"
        );
    }

    #[test]
    fn strict_cidrs_need_a_prefix() {
        assert!(parse_cidr("10.0.0.0/8").is_ok());
        assert_eq!(
            parse_cidr("10.0.0.1").unwrap_err(),
            "invalid CIDR address: 10.0.0.1"
        );
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("bad/8").is_err());
    }

    #[test]
    fn subsets() {
        let p = |s: &str| parse_cidr(s).unwrap();
        let role = [p("10.0.0.0/8"), p("127.0.0.1/32")];
        assert!(is_subset(&role, &[p("10.1.0.0/16"), p("127.0.0.1/32")]));
        assert!(!is_subset(&role, &[p("10.0.0.0/7")]));
        assert!(!is_subset(&role, &[p("192.168.0.0/16")]));
        assert!(is_subset(&role, &[]));
        assert_eq!(
            go_quote_list(&["10.0.0.0/8".into(), "a".into()]),
            "[\"10.0.0.0/8\" \"a\"]"
        );
    }
}
