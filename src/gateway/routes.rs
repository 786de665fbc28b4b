//! The route table: which `route` block a forwarded request falls under, and the tenant that
//! the request itself names (a path segment or a host label).
//!
//! Matching is on host, `path_prefix` and method; the longest prefix wins, then file order.
//! The path is the checked, decoded one (`path_check::check_forwarded`), so the route is
//! chosen from exactly what the upstream will see.

use std::collections::HashMap;

use crate::config::gateway::{RouteConfig, TenantSource};

/// One route as the gateway uses it: the config plus its place in the table (which keys the
/// decision cache, so a reload never serves a decision made for an older table).
#[derive(Debug)]
pub struct Route {
    pub config: RouteConfig,
    /// Index in the table.
    pub index: usize,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// Indices into `routes`, longest `path_prefix` first, then file order.
    by_prefix: Vec<usize>,
    by_name: HashMap<String, usize>,
}

impl RouteTable {
    pub fn new(configs: Vec<RouteConfig>) -> RouteTable {
        let routes: Vec<Route> = configs
            .into_iter()
            .enumerate()
            .map(|(index, config)| Route { config, index })
            .collect();
        let mut by_prefix: Vec<usize> = (0..routes.len()).collect();
        // A stable sort keeps file order among equal prefixes.
        by_prefix.sort_by_key(|&i| std::cmp::Reverse(routes[i].config.path_prefix.len()));
        let by_name = routes
            .iter()
            .map(|r| (r.config.name.clone(), r.index))
            .collect();
        RouteTable {
            routes,
            by_prefix,
            by_name,
        }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn by_name(&self, name: &str) -> Option<&Route> {
        self.by_name.get(name).map(|&i| &self.routes[i])
    }

    /// The route for a request: `method` as sent, `host` as in `Host`/`X-Forwarded-Host`
    /// (a port is ignored), `path` the checked, decoded path.
    pub fn select(&self, method: &str, host: &str, path: &str) -> Option<&Route> {
        let host = host_name(host);
        self.by_prefix
            .iter()
            .map(|&i| &self.routes[i])
            .find(|r| matches(&r.config, method, &host, path))
    }
}

fn matches(route: &RouteConfig, method: &str, host: &str, path: &str) -> bool {
    path.starts_with(&route.path_prefix)
        && (route.hosts.is_empty() || route.hosts.iter().any(|h| h == host))
        && (route.methods.is_empty()
            || route.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
}

/// `Host` without its port, lowercased. `[::1]:8080` gives `::1`.
pub fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Why a tenant value is refused: the answer is 403 and the route never matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTenant;

/// The tenant a request names by itself (path segment or host label); `None` when the
/// route's tenant comes from the caller (or the route has none). The value is checked.
pub fn request_tenant(
    source: Option<&TenantSource>,
    host: &str,
    path: &str,
) -> Option<Result<String, BadTenant>> {
    let value = match source? {
        TenantSource::PathSegment(n) => path
            .strip_prefix('/')
            .unwrap_or(path)
            .split('/')
            .nth(*n)
            .unwrap_or(""),
        TenantSource::HostLabel(n) => {
            return Some(checked_tenant(
                host_name(host).split('.').nth(*n).unwrap_or(""),
            ))
        }
        TenantSource::EntityMetadata(_) | TenantSource::JwtClaim(_) => return None,
    };
    Some(checked_tenant(value))
}

/// A tenant value goes into storage paths (`secret/data/tenant/{{tenant}}/...`) and into a
/// header, so only a plain name passes: not empty, and none of `/`, `*`, `+`, `..`, braces
/// (which would change what a path or a policy means), `%`, `\`, `?`, `#`, whitespace or
/// control characters (which would make two spellings of one tenant, or a bad header).
pub fn checked_tenant(value: &str) -> Result<String, BadTenant> {
    let forbidden = |c: char| {
        matches!(c, '/' | '*' | '+' | '{' | '}' | '%' | '\\' | '?' | '#')
            || c.is_whitespace()
            || c.is_control()
    };
    if value.is_empty() || value.contains("..") || value.chars().any(forbidden) {
        return Err(BadTenant);
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, prefix: &str, hosts: &[&str], methods: &[&str]) -> RouteConfig {
        RouteConfig {
            name: name.into(),
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            path_prefix: prefix.into(),
            methods: methods.iter().map(|s| s.to_string()).collect(),
            upstream: None,
            tenant: None,
            jwt_auth: None,
            require: None,
            inject_headers: Vec::new(),
            rate_limit: None,
        }
    }

    #[test]
    fn the_longest_prefix_wins_then_file_order() {
        let table = RouteTable::new(vec![
            route("any", "/", &[], &[]),
            route("t", "/t/", &[], &[]),
            route("orders", "/t/acme/orders", &[], &[]),
            route("t-again", "/t/", &[], &[]),
        ]);
        let name = |p: &str| table.select("GET", "h", p).map(|r| r.config.name.as_str());
        assert_eq!(name("/t/acme/orders/1"), Some("orders"));
        assert_eq!(name("/t/globex"), Some("t"));
        assert_eq!(name("/x"), Some("any"));
        assert_eq!(table.by_name("t-again").map(|r| r.index), Some(3));
    }

    #[test]
    fn host_and_method_must_match() {
        let table = RouteTable::new(vec![
            route("shop", "/t/", &["shop.example.com"], &["GET", "POST"]),
            route("fallback", "/", &[], &["GET"]),
        ]);
        let name = |m: &str, h: &str| {
            table
                .select(m, h, "/t/acme")
                .map(|r| r.config.name.as_str())
        };
        assert_eq!(name("GET", "shop.example.com"), Some("shop"));
        assert_eq!(name("post", "SHOP.example.com:8443"), Some("shop"));
        assert_eq!(name("GET", "other.example.com"), Some("fallback"));
        assert_eq!(name("DELETE", "shop.example.com"), None);
        assert!(RouteTable::new(vec![]).select("GET", "h", "/").is_none());
    }

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(host_name("Shop.Example.com:8080"), "shop.example.com");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("example.com."), "example.com");
        assert_eq!(host_name("example.com"), "example.com");
    }

    #[test]
    fn segments_and_labels_count_from_zero() {
        let seg = TenantSource::PathSegment(1);
        let label = TenantSource::HostLabel(0);
        assert_eq!(
            request_tenant(Some(&seg), "h", "/t/acme/orders"),
            Some(Ok("acme".into()))
        );
        assert_eq!(
            request_tenant(Some(&label), "acme.shop.example.com:443", "/"),
            Some(Ok("acme".into()))
        );
        assert_eq!(
            request_tenant(Some(&seg), "h", "/t"),
            Some(Err(BadTenant)),
            "a missing segment is an empty tenant"
        );
        assert_eq!(request_tenant(None, "h", "/t/acme"), None);
        let meta = TenantSource::EntityMetadata("tenant_id".into());
        assert_eq!(request_tenant(Some(&meta), "h", "/t/acme"), None);
    }

    #[test]
    fn tenant_values_that_change_a_path_never_pass() {
        for bad in [
            "", "a/b", "*", "a*", "+", "..", "a..b", "{x}", "}", "%2F", "a\\b", "a b", "a\n", "a?",
            "a#",
        ] {
            assert_eq!(checked_tenant(bad), Err(BadTenant), "{bad:?}");
        }
        for good in ["acme", "globex-2", "tenant_01", "a.b", "ÄCME"] {
            assert_eq!(checked_tenant(good).as_deref(), Ok(good));
        }
    }
}
