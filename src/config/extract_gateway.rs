//! Typed extraction of the `gateway` block and the `route "<name>"` blocks (what they mean is
//! in `gateway.rs`). `extract::server_config` calls it on the same normalized tree as the rest
//! of the file, so HCL and JSON go through this one path. Every error names the file, the block
//! (nested blocks as `route "shop" > rate_limit`) and the key.

use std::net::Ipv6Addr;

use super::error::ConfigError;
use super::extract::{listener_config, At};
use super::gateway::{
    GatewayConfig, InjectHeader, JwtAuth, PathTemplate, RateKey, RateLimit, Requirement,
    RouteConfig, Rpm, TenantSource, Upstream, TENANT_PLACEHOLDER,
};
use super::tree::{Body, Content, Item, Value};
use super::types::ListenerConfig;
use super::values;
use crate::logical::{IpNet, Operation};

/// The largest `rpm` and `burst`: far above any real tenant's limit, small enough that token
/// bucket arithmetic in `u32` cannot overflow.
pub const MAX_RPM: u32 = 1_000_000;

/// Headers a route may not inject: hop-by-hop headers (a proxy drops or rewrites them), the
/// framing and routing headers, and the ones that carry identity to mainkey or to the
/// upstream. Compared case-insensitively; `X-Mainkey-*` is refused as a prefix.
pub const FORBIDDEN_INJECT_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",
    "x-vault-token",
];

/// The prefix of the headers the gateway itself sets for the upstream.
pub const RESERVED_HEADER_PREFIX: &str = "x-mainkey-";

// ---------------------------------------------------------------------------------------------
// gateway { ... }
// ---------------------------------------------------------------------------------------------

/// `gateway { forward_auth_path, trusted_proxies, listener "tcp" { ... } }`.
pub(super) fn gateway_config(file: &str, item: &Item) -> Result<GatewayConfig, ConfigError> {
    let top = At { file, block: None };
    let (at, body) = plain_block(&top, item)?;
    let mut config = GatewayConfig::default();
    let listener_blocks = body
        .items
        .iter()
        .filter(|i| i.key == "listener" && matches!(i.content, Content::Block(_)))
        .count();
    for item in &body.items {
        match item.key.as_str() {
            "forward_auth_path" => {
                config.forward_auth_path = at.convert(item, forward_auth_path)?
            }
            "trusted_proxies" => config.trusted_proxies = at.convert(item, trusted_proxies)?,
            "listener" => {
                let (mut listener_at, listener_body, kind) = labelled_block(&at, item, "type")?;
                if listener_blocks > 1 {
                    // With several listeners, the label alone would not say which.
                    let number = config.listeners.len() + 1;
                    listener_at.block = listener_at.block.map(|b| format!("{b} #{number}"));
                }
                let listener = listener_config(&listener_at, kind, listener_body)?;
                // The API listener's default address would collide with the API listener.
                if !listener_body.items.iter().any(|i| i.key == "address") {
                    return Err(listener_at.error(
                        Some("address"),
                        "missing: a gateway listener needs its own address, such as \"127.0.0.1:8300\"",
                    ));
                }
                config.listeners.push(listener);
            }
            key => return Err(at.error(Some(key), "unknown key")),
        }
    }
    Ok(config)
}

/// A gateway listener may not take an address that an API listener (or another gateway
/// listener) already has: the second bind would fail at start-up with a less helpful message.
pub(super) fn check_listener_addresses(
    file: &str,
    api: &[ListenerConfig],
    gateway: &GatewayConfig,
) -> Result<(), ConfigError> {
    let several = gateway.listeners.len() > 1;
    for (i, listener) in gateway.listeners.iter().enumerate() {
        let clash = if api.iter().any(|l| l.address == listener.address) {
            Some("an API listener")
        } else if gateway.listeners[..i]
            .iter()
            .any(|l| l.address == listener.address)
        {
            Some("an earlier gateway listener")
        } else {
            None
        };
        if let Some(other) = clash {
            let mut block = "gateway > listener \"tcp\"".to_string();
            if several {
                block.push_str(&format!(" #{}", i + 1));
            }
            return Err(At {
                file,
                block: Some(block),
            }
            .error(
                Some("address"),
                format!("{} is already the address of {other}", listener.address),
            ));
        }
    }
    Ok(())
}

fn forward_auth_path(value: &Value) -> Result<String, String> {
    let path = values::string(value)?;
    url_path(&path).map_err(|why| format!("{why}, got {}", value.describe()))?;
    if path == "/" {
        return Err("must not be / itself; use a path such as \"/forward-auth\"".into());
    }
    // The API and the UI own these; case-insensitively, so no spelling can shadow them.
    let lower = path.to_ascii_lowercase();
    for reserved in ["/v1", "/ui"] {
        if lower == reserved || lower.starts_with(&format!("{reserved}/")) {
            return Err(format!(
                "must not be under {reserved}/, which mainkey serves itself, got {}",
                value.describe()
            ));
        }
    }
    Ok(path)
}

fn trusted_proxies(value: &Value) -> Result<Vec<IpNet>, String> {
    string_list(value)?
        .iter()
        .map(|entry| {
            IpNet::parse(entry).ok_or_else(|| {
                format!(
                    "{} is not an address or a CIDR range such as \"10.0.0.0/8\" or \"::1/128\"",
                    Value::Str(entry.clone()).describe()
                )
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// route "<name>" { ... }
// ---------------------------------------------------------------------------------------------

/// One `route "<name>"` block. `earlier` are the routes before it in the file, for the
/// duplicate-name check.
pub(super) fn route_config(
    file: &str,
    item: &Item,
    earlier: &[RouteConfig],
) -> Result<RouteConfig, ConfigError> {
    let top = At { file, block: None };
    let (at, body, name) = labelled_block(&top, item, "name")?;
    route_name(name).map_err(|problem| at.error(None, problem))?;
    if earlier.iter().any(|r| r.name == name) {
        return Err(at.error(
            None,
            format!(
                "duplicate route name: a route {name:?} is already defined earlier in the file"
            ),
        ));
    }

    let mut path_prefix = None;
    let mut hosts = Vec::new();
    let mut methods = Vec::new();
    let mut upstream = None;
    let mut tenant = None;
    let mut jwt_auth = None;
    let mut require = None;
    let mut inject_headers: Vec<InjectHeader> = Vec::new();
    let mut rate_limit = None;

    for item in &body.items {
        let key = item.key.as_str();
        match key {
            "path_prefix" => path_prefix = Some(at.convert(item, path_prefix_value)?),
            "hosts" => hosts = at.convert(item, route_hosts)?,
            "methods" => methods = at.convert(item, route_methods)?,
            "upstream" => upstream = Some(at.convert(item, upstream_value)?),
            "tenant" => tenant = Some(at.convert(item, tenant_source)?),
            "jwt_auth" => {
                let (inner, body) = single_block(&at, item, jwt_auth.is_some())?;
                jwt_auth = Some(jwt_auth_block(&inner, body)?);
            }
            "require" => {
                let (inner, body) = single_block(&at, item, require.is_some())?;
                require = Some(require_block(&inner, body)?);
            }
            "inject_header" => {
                let (inner, body, header) = labelled_block(&at, item, "header name")?;
                let header = inject_header_block(&inner, header, body)?;
                if inject_headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case(&header.name))
                {
                    return Err(inner.error(
                        None,
                        "this header is already injected by an earlier inject_header block of the route (names are case-insensitive)",
                    ));
                }
                inject_headers.push(header);
            }
            "rate_limit" => {
                let (inner, body) = single_block(&at, item, rate_limit.is_some())?;
                rate_limit = Some(rate_limit_block(&inner, body)?);
            }
            _ => return Err(at.error(Some(key), "unknown key")),
        }
    }

    let route = RouteConfig {
        name: name.to_string(),
        hosts,
        path_prefix: path_prefix.ok_or_else(|| {
            at.error(
                Some("path_prefix"),
                "missing: every route needs a path_prefix, such as \"/t/\"",
            )
        })?,
        methods,
        upstream,
        tenant,
        jwt_auth,
        require,
        inject_headers,
        rate_limit,
    };
    check_route(&at, &route)?;
    Ok(route)
}

/// The rules that tie a route's keys together; checked once the whole block is read, since
/// `tenant` may come after the blocks that need it.
fn check_route(at: &At<'_>, route: &RouteConfig) -> Result<(), ConfigError> {
    if matches!(route.tenant, Some(TenantSource::JwtClaim(_))) && route.jwt_auth.is_none() {
        return Err(at.error(
            Some("tenant"),
            "jwt.claim.<name> needs a jwt_auth { mount = \"...\", role = \"...\" } block in the route",
        ));
    }
    if route.tenant.is_none() {
        let no_tenant = |inner: At<'_>| {
            inner.error(
                Some("path"),
                format!(
                    "uses {TENANT_PLACEHOLDER}, but the route has no tenant = \"...\" to fill it"
                ),
            )
        };
        if let Some(require) = &route.require {
            if require.path.uses_tenant() {
                return Err(no_tenant(at.child("require")));
            }
        }
        for header in &route.inject_headers {
            if header.path.uses_tenant() {
                return Err(no_tenant(
                    at.child(&format!("inject_header {:?}", header.name)),
                ));
            }
        }
        if let Some(limit) = &route.rate_limit {
            if let Rpm::From { path, .. } = &limit.rpm {
                if path.uses_tenant() {
                    return Err(no_tenant(at.child("rate_limit").child("rpm_from")));
                }
            }
            if limit.per == RateKey::Tenant {
                return Err(at.child("rate_limit").error(
                    Some("per"),
                    "per = \"tenant\" needs tenant = \"...\" in the route",
                ));
            }
        }
    }
    Ok(())
}

/// Route names appear in logs, metrics and the UI: plain ASCII names only.
fn route_name(name: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || !name.chars().all(plain) {
        return Err(format!(
            "the route's name must be letters, digits, '-', '_' or '.', got {}",
            Value::Str(name.to_string()).describe()
        ));
    }
    Ok(())
}

fn path_prefix_value(value: &Value) -> Result<String, String> {
    let path = values::string(value)?;
    url_path(&path).map_err(|why| format!("{why}, got {}", value.describe()))?;
    Ok(path)
}

fn route_hosts(value: &Value) -> Result<Vec<String>, String> {
    let mut hosts: Vec<String> = Vec::new();
    for entry in string_list(value)? {
        let shown = Value::Str(entry.clone()).describe();
        let host = route_host(&entry).map_err(|why| format!("{shown}: {why}"))?;
        if hosts.contains(&host) {
            return Err(format!("{shown} is listed twice"));
        }
        hosts.push(host);
    }
    Ok(hosts)
}

/// An exact host name, lowercased, as the gateway compares it with the request's host (which
/// loses its port and an IPv6 address its brackets).
fn route_host(entry: &str) -> Result<String, String> {
    let lower = entry.to_ascii_lowercase();
    let bracketed = lower.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    if let Some(ip) = bracketed
        .or(Some(lower.as_str()))
        .filter(|h| h.contains(':'))
    {
        if ip.parse::<Ipv6Addr>().is_ok() {
            return Ok(ip.to_string());
        }
        return Err(
            "a host name without a port, such as \"shop.example.com\" (the port is not matched)"
                .into(),
        );
    }
    if lower.contains('*') {
        return Err("wildcards are not supported; list each host name exactly".into());
    }
    if lower.ends_with('.') && lower.len() > 1 {
        return Err("write the host name without its trailing dot".into());
    }
    dns_name(&lower)?;
    Ok(lower)
}

/// A host name (or IPv4 address): dot-separated labels of letters, digits, `-` and `_`.
fn dns_name(host: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(
            "not a host name (letters, digits, '-' and '_' in dot-separated labels)".into(),
        );
    }
    Ok(())
}

fn route_methods(value: &Value) -> Result<Vec<String>, String> {
    let mut methods: Vec<String> = Vec::new();
    for entry in string_list(value)? {
        let shown = Value::Str(entry.clone()).describe();
        if !is_http_token(&entry) {
            return Err(format!("{shown} is not an HTTP method name"));
        }
        let method = entry.to_ascii_uppercase();
        if methods.contains(&method) {
            return Err(format!("{shown} is listed twice"));
        }
        methods.push(method);
    }
    Ok(methods)
}

/// RFC 9110 `token`: what a method or a header name may be made of.
fn is_http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn upstream_value(value: &Value) -> Result<Upstream, String> {
    let url = values::string(value)?;
    let bad = |why: &str| {
        format!(
            "{why}; expected http://host[:port] or https://host[:port], got {}",
            value.describe()
        )
    };
    let scheme_end = url.find("://").ok_or_else(|| bad("no scheme"))?;
    let tls = match url[..scheme_end].to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return Err(bad("the scheme must be http or https")),
    };
    let rest = &url[scheme_end + 3..];
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if !(tail.is_empty() || tail == "/") {
        return Err(bad("no path, query or fragment is allowed"));
    }
    if authority.contains('@') {
        // The value is not shown: what precedes the `@` may be a password.
        return Err(
            "no user name or password is allowed in the URL; expected http://host[:port] or https://host[:port]"
                .into(),
        );
    }
    let (host, port) = if let Some(inside) = authority.strip_prefix('[') {
        let (ip, after) = inside
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 address needs its closing ]"))?;
        if ip.parse::<Ipv6Addr>().is_err() {
            return Err(bad("not an IPv6 address inside the brackets"));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| bad("expected :port after the IPv6 address"))?,
            ),
        };
        (ip.to_ascii_lowercase(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err(bad("an IPv6 address must be in brackets"));
        }
        let host = host.to_ascii_lowercase();
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        dns_name(&host).map_err(|why| bad(&why))?;
        (host, port)
    };
    let port = match port {
        None if tls => 443,
        None => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    Ok(Upstream {
        url,
        tls,
        host,
        port,
    })
}

fn tenant_source(value: &Value) -> Result<TenantSource, String> {
    let text = values::string(value)?;
    let index = |rest: &str, what: &str| -> Result<usize, String> {
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "the {what} index must be a non-negative integer, got {}",
                value.describe()
            ));
        }
        rest.parse::<usize>()
            .map_err(|_| format!("the {what} index is too large, got {}", value.describe()))
    };
    let name = |rest: &str, what: &str| -> Result<String, String> {
        if rest.is_empty() || rest.chars().any(char::is_control) {
            return Err(format!(
                "the {what} must not be empty, got {}",
                value.describe()
            ));
        }
        Ok(rest.to_string())
    };
    if let Some(rest) = text.strip_prefix("path.segment.") {
        Ok(TenantSource::PathSegment(index(rest, "segment")?))
    } else if let Some(rest) = text.strip_prefix("host.label.") {
        Ok(TenantSource::HostLabel(index(rest, "label")?))
    } else if let Some(rest) = text.strip_prefix("entity.metadata.") {
        Ok(TenantSource::EntityMetadata(name(rest, "metadata key")?))
    } else if let Some(rest) = text.strip_prefix("jwt.claim.") {
        Ok(TenantSource::JwtClaim(name(rest, "claim name")?))
    } else {
        Err(format!(
            "expected path.segment.<n>, host.label.<n>, entity.metadata.<key> or jwt.claim.<name>, got {}",
            value.describe()
        ))
    }
}

/// `jwt_auth { mount = "jwt", role = "gateway" }`.
fn jwt_auth_block(at: &At<'_>, body: &Body) -> Result<JwtAuth, ConfigError> {
    let mut mount = None;
    let mut role = None;
    for item in &body.items {
        match item.key.as_str() {
            "mount" => mount = Some(at.convert(item, jwt_mount)?),
            "role" => role = Some(at.convert(item, |v| plain_text(v, "role"))?),
            key => return Err(at.error(Some(key), "unknown key")),
        }
    }
    Ok(JwtAuth {
        mount: mount.ok_or_else(|| {
            at.error(
                Some("mount"),
                "missing: the JWT auth mount, such as \"jwt\"",
            )
        })?,
        role: role.ok_or_else(|| at.error(Some("role"), "missing: the JWT auth role"))?,
    })
}

/// `jwt`, `auth/jwt`, `/auth/jwt/` all name the mount `auth/jwt/`; kept as `jwt`.
fn jwt_mount(value: &Value) -> Result<String, String> {
    let raw = values::string(value)?;
    let trimmed = raw.trim_start_matches('/');
    let mount = trimmed
        .strip_prefix("auth/")
        .unwrap_or(trimmed)
        .trim_matches('/');
    if mount.is_empty()
        || mount.chars().any(|c| c.is_whitespace() || c.is_control())
        || mount
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!(
            "expected the path of a JWT auth mount, such as \"jwt\", got {}",
            value.describe()
        ));
    }
    Ok(mount.to_string())
}

/// `require { capability = "read", path = "..." }`.
fn require_block(at: &At<'_>, body: &Body) -> Result<Requirement, ConfigError> {
    let mut capability = None;
    let mut path = None;
    for item in &body.items {
        match item.key.as_str() {
            "capability" => capability = Some(at.convert(item, capability_value)?),
            "path" => path = Some(at.convert(item, path_template)?),
            key => return Err(at.error(Some(key), "unknown key")),
        }
    }
    let (capability, operation) = capability.ok_or_else(|| {
        at.error(
            Some("capability"),
            "missing: one of read, list, create, update, delete, patch",
        )
    })?;
    Ok(Requirement {
        operation,
        capability,
        path: path.ok_or_else(|| {
            at.error(
                Some("path"),
                "missing: the logical path the capability is checked on",
            )
        })?,
    })
}

/// The capability as written and the operation the ACL is asked about. `create` and `update`
/// are both a write; the ACL's existence check tells them apart.
fn capability_value(value: &Value) -> Result<(String, Operation), String> {
    let text = values::string(value)?;
    let operation = match text.as_str() {
        "read" => Operation::Read,
        "list" => Operation::List,
        "create" | "update" => Operation::Update,
        "delete" => Operation::Delete,
        "patch" => Operation::Patch,
        _ => {
            return Err(format!(
                "expected one of read, list, create, update, delete, patch, got {}",
                value.describe()
            ))
        }
    };
    Ok((text, operation))
}

/// `inject_header "<name>" { path = "...", field = "..." }`.
fn inject_header_block(at: &At<'_>, name: &str, body: &Body) -> Result<InjectHeader, ConfigError> {
    inject_header_name(name).map_err(|problem| at.error(None, problem))?;
    let mut path = None;
    let mut field = None;
    for item in &body.items {
        match item.key.as_str() {
            "path" => path = Some(at.convert(item, path_template)?),
            "field" => field = Some(at.convert(item, |v| plain_text(v, "field"))?),
            key => return Err(at.error(Some(key), "unknown key")),
        }
    }
    Ok(InjectHeader {
        name: name.to_string(),
        path: path.ok_or_else(|| {
            at.error(
                Some("path"),
                "missing: the logical path of the secret to read",
            )
        })?,
        field: field.ok_or_else(|| {
            at.error(
                Some("field"),
                "missing: the field of the secret whose value is sent",
            )
        })?,
    })
}

fn inject_header_name(name: &str) -> Result<(), String> {
    if !is_http_token(name) {
        return Err(format!(
            "{} is not a valid HTTP header name",
            Value::Str(name.to_string()).describe()
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with(RESERVED_HEADER_PREFIX) {
        return Err(
            "X-Mainkey-* headers are set by the gateway itself and cannot be injected".into(),
        );
    }
    if FORBIDDEN_INJECT_HEADERS.contains(&lower.as_str()) {
        return Err(format!(
            "{name} cannot be injected: it is hop-by-hop, framing or credential header that the gateway controls"
        ));
    }
    Ok(())
}

/// `rate_limit { per = "tenant"|"token", rpm = <n> | rpm_from { ... }, burst = <n> }`.
fn rate_limit_block(at: &At<'_>, body: &Body) -> Result<RateLimit, ConfigError> {
    let mut per = None;
    let mut rpm = None;
    let mut rpm_from = None;
    let mut burst = None;
    for item in &body.items {
        let key = item.key.as_str();
        match key {
            "per" => per = Some(at.convert(item, rate_key)?),
            "rpm" => rpm = Some(at.convert(item, rate_number)?),
            "rpm_from" => {
                let (inner, body) = single_block(at, item, rpm_from.is_some())?;
                rpm_from = Some(rpm_from_block(&inner, body)?);
            }
            "burst" => burst = Some(at.convert(item, rate_number)?),
            _ => return Err(at.error(Some(key), "unknown key")),
        }
    }
    let rpm = match (rpm, rpm_from) {
        (Some(n), None) => Rpm::Fixed(n),
        (None, Some(from)) => from,
        (Some(_), Some(_)) => {
            return Err(at.error(Some("rpm_from"), "set either rpm or rpm_from, not both"))
        }
        (None, None) => {
            return Err(at.error(
                Some("rpm"),
                "missing: set rpm = <requests per minute> or an rpm_from { path, field } block",
            ))
        }
    };
    Ok(RateLimit {
        per: per.ok_or_else(|| at.error(Some("per"), "missing: \"tenant\" or \"token\""))?,
        rpm,
        burst,
    })
}

fn rpm_from_block(at: &At<'_>, body: &Body) -> Result<Rpm, ConfigError> {
    let mut path = None;
    let mut field = None;
    for item in &body.items {
        match item.key.as_str() {
            "path" => path = Some(at.convert(item, path_template)?),
            "field" => field = Some(at.convert(item, |v| plain_text(v, "field"))?),
            key => return Err(at.error(Some(key), "unknown key")),
        }
    }
    Ok(Rpm::From {
        path: path.ok_or_else(|| {
            at.error(
                Some("path"),
                "missing: the logical path of the secret holding the limit",
            )
        })?,
        field: field.ok_or_else(|| {
            at.error(
                Some("field"),
                "missing: the field of the secret holding the limit",
            )
        })?,
    })
}

fn rate_key(value: &Value) -> Result<RateKey, String> {
    match values::string(value)?.as_str() {
        "tenant" => Ok(RateKey::Tenant),
        "token" => Ok(RateKey::Token),
        _ => Err(format!(
            "expected \"tenant\" or \"token\", got {}",
            value.describe()
        )),
    }
}

fn rate_number(value: &Value) -> Result<u32, String> {
    let n = values::integer(value)?;
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_RPM).contains(n))
        .ok_or_else(|| format!("must be between 1 and {MAX_RPM}, got {n}"))
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

fn path_template(value: &Value) -> Result<PathTemplate, String> {
    PathTemplate::parse(&values::string(value)?)
}

/// A non-empty string without control characters (a field or role name).
fn plain_text(value: &Value, what: &str) -> Result<String, String> {
    let text = values::string(value)?;
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(format!(
            "the {what} must be a non-empty name, got {}",
            value.describe()
        ));
    }
    Ok(text)
}

/// `["a", "b"]`: a list whose elements are all strings.
fn string_list(value: &Value) -> Result<Vec<String>, String> {
    let Value::List(elements) = value else {
        return Err(format!(
            "expected a list of strings, got {}",
            value.describe()
        ));
    };
    elements
        .iter()
        .map(|element| match element {
            Value::Str(s) => Ok(s.clone()),
            other => Err(format!(
                "expected a list of strings, got {} in the list",
                other.describe()
            )),
        })
        .collect()
}

/// A URL path written in the file: it starts with `/` and is compared with the checked,
/// decoded path of a request, so it holds only characters that need no percent-encoding, and
/// no empty, `.` or `..` segment (such a request path is refused before routing).
fn url_path(path: &str) -> Result<(), &'static str> {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '/' | '-'
                    | '.'
                    | '_'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | ':'
                    | '@'
            )
    };
    if !path.starts_with('/') {
        return Err("must start with /");
    }
    if !path.chars().all(allowed) {
        return Err("must be a plain path: ASCII letters, digits, / and -._~!$&'()*+,;=:@ (no %, ?, # or spaces)");
    }
    // A single trailing `/` is fine; an empty segment anywhere else is not.
    let body = path.strip_suffix('/').unwrap_or(path);
    if body
        .split('/')
        .skip(1)
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("must not hold an empty, . or .. segment");
    }
    Ok(())
}

/// A block with no label inside `parent` (`gateway {}`, `require {}`).
fn plain_block<'f, 'b>(parent: &At<'f>, item: &'b Item) -> Result<(At<'f>, &'b Body), ConfigError> {
    let Content::Block(body) = &item.content else {
        return Err(parent.error(
            Some(&item.key),
            format!("expected a block {} {{ ... }}, got a value", item.key),
        ));
    };
    let at = parent.child(&item.key);
    if !item.labels.is_empty() {
        return Err(at.error(
            None,
            format!(
                "expected no label, as in {} {{ ... }}; got {}",
                item.key,
                item.labels.len()
            ),
        ));
    }
    Ok((at, body))
}

/// A block that may appear once in its parent; `seen` says an earlier one was already read.
fn single_block<'f, 'b>(
    parent: &At<'f>,
    item: &'b Item,
    seen: bool,
) -> Result<(At<'f>, &'b Body), ConfigError> {
    let (at, body) = plain_block(parent, item)?;
    if seen {
        return Err(at.error(None, format!("only one {} block is allowed", item.key)));
    }
    Ok((at, body))
}

/// A block with exactly one label inside `parent`: `route "shop"`, `inject_header "X-A"`.
/// `what` names the label in messages.
fn labelled_block<'f, 'b>(
    parent: &At<'f>,
    item: &'b Item,
    what: &str,
) -> Result<(At<'f>, &'b Body, &'b str), ConfigError> {
    let Content::Block(body) = &item.content else {
        return Err(parent.error(
            Some(&item.key),
            format!(
                "expected a block such as {} \"<{what}>\" {{ ... }}, got a value",
                item.key
            ),
        ));
    };
    match item.labels.as_slice() {
        [label] => Ok((
            parent.child(&format!("{} {label:?}", item.key)),
            body,
            label,
        )),
        labels => Err(parent.child(&item.key).error(
            None,
            format!(
                "expected exactly one label, the {what}, as in {} \"<{what}>\" {{ ... }}; got {}",
                item.key,
                labels.len()
            ),
        )),
    }
}
