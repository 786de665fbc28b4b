//! Tests of the `gateway` and `route` blocks: text -> tree -> typed config.
//!
//! Most cases are written once, as a JSON document, and also rendered to HCL (`to_hcl`), so
//! every case checks both formats and that they agree: the same config, or the same error
//! (block, key and message) apart from the file name.

use std::path::PathBuf;

use serde_json::{json, Value as Json};

use super::gateway::*;
use super::*;
use crate::logical::{IpNet, Operation};

// ----- the two formats from one document ----------------------------------------------------

/// The blocks that take one label, by the block they sit in (`""`: the top level), as
/// `tree.rs` reads them from JSON.
fn labelled(kind: &str) -> &'static [&'static str] {
    match kind {
        "" => &["storage", "listener", "route", "user_lockout"],
        "gateway" => &["listener"],
        "route" => &["inject_header"],
        _ => &[],
    }
}

/// A JSON string as an HCL string literal: JSON's escapes are HCL's, except that HCL would
/// read `${` and `%{` as templates.
fn hcl_string(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_default()
        .replace("${", "$${")
        .replace("%{", "%%{")
}

fn hcl_value(v: &Json) -> String {
    match v {
        Json::String(s) => hcl_string(s),
        Json::Array(list) => format!(
            "[{}]",
            list.iter().map(hcl_value).collect::<Vec<_>>().join(", ")
        ),
        Json::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{} = {}", hcl_string(k), hcl_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The bodies of a labelled block in one of JSON's shapes, as (label, body) in order; `None`
/// when the value has another shape (which JSON refuses, and so must the HCL rendering).
fn labelled_bodies(value: &Json) -> Option<Vec<(&str, &Json)>> {
    let elements: Vec<&Json> = match value {
        Json::Array(list) => list.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for element in elements {
        let Json::Object(by_label) = element else {
            return None;
        };
        for (label, bodies) in by_label {
            let bodies: Vec<&Json> = match bodies {
                Json::Array(list) => list.iter().collect(),
                other => vec![other],
            };
            for body in bodies {
                if !body.is_object() {
                    return None;
                }
                out.push((label.as_str(), body));
            }
        }
    }
    Some(out)
}

/// Renders the body of a JSON config document (of block kind `kind`, `""` for the top level)
/// as the HCL that means the same.
fn to_hcl(body: &Json, kind: &str, out: &mut String) {
    let Json::Object(map) = body else { return };
    for (key, value) in map {
        // Only top-level blocks hold labelled blocks of their own; "-" has none.
        let child_kind = if kind.is_empty() { key.as_str() } else { "-" };
        let bodies = if labelled(kind).contains(&key.as_str()) {
            labelled_bodies(value)
        } else {
            None
        };
        match (bodies, value) {
            (Some(bodies), _) => {
                // Labels are plain string literals in HCL: no template escaping.
                for (label, b) in bodies {
                    let label = serde_json::to_string(label).unwrap_or_default();
                    out.push_str(&format!("{key} {label} {{\n"));
                    to_hcl(b, child_kind, out);
                    out.push_str("}\n");
                }
            }
            (None, Json::Object(_)) if !labelled(kind).contains(&key.as_str()) => {
                out.push_str(&format!("{key} {{\n"));
                to_hcl(value, child_kind, out);
                out.push_str("}\n");
            }
            (None, other) => out.push_str(&format!("{key} = {}\n", hcl_value(other))),
        }
    }
}

fn hcl_text(doc: &Json) -> String {
    let mut out = String::new();
    to_hcl(doc, "", &mut out);
    out
}

/// The gateway part of a config, or the error without its file name (and its block and key).
type Outcome = Result<(GatewayConfig, Vec<RouteConfig>), String>;

fn outcome(result: Result<ServerConfig, ConfigError>, file: &str) -> Outcome {
    match result {
        Ok(c) => Ok((c.gateway, c.routes)),
        Err(e) => {
            let text = e.to_string();
            let located = match &e {
                ConfigError::Invalid { block, key, .. } => format!("[{block:?} {key:?}] "),
                _ => String::new(),
            };
            let prefix = format!("{file}: ");
            match text.strip_prefix(&prefix) {
                Some(rest) => Err(format!("{located}{rest}")),
                None => Err(format!("{located}(no file name) {text}")),
            }
        }
    }
}

/// Parses `doc` as JSON and as HCL, checks that both agree, and returns the outcome.
fn both(doc: &Json) -> Outcome {
    let hcl = hcl_text(doc);
    let from_hcl = outcome(parse(&hcl, "g.hcl", Format::Hcl), "g.hcl");
    let from_json = outcome(parse(&doc.to_string(), "g.json", Format::Json), "g.json");
    assert_eq!(from_hcl, from_json, "HCL and JSON disagree; HCL:\n{hcl}");
    from_hcl
}

/// Both formats accept `doc` or both refuse it, and what they accept is the same config. (The
/// messages may differ when JSON's shape is wrong where HCL would have a value.)
fn both_agree(doc: &Json) {
    let hcl = hcl_text(doc);
    let from_hcl = outcome(parse(&hcl, "g.hcl", Format::Hcl), "g.hcl");
    let from_json = outcome(parse(&doc.to_string(), "g.json", Format::Json), "g.json");
    match (&from_hcl, &from_json) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "HCL:\n{hcl}"),
        (Err(_), Err(_)) => {}
        _ => panic!("HCL and JSON disagree: {from_hcl:?} vs {from_json:?}; HCL:\n{hcl}"),
    }
}

/// Just the message of an error both formats give (without the file name).
fn both_err(doc: &Json) -> String {
    match both(doc) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.split_once("] ").map_or(e.clone(), |(_, m)| m.to_string()),
    }
}

fn both_ok(doc: &Json) -> (GatewayConfig, Vec<RouteConfig>) {
    match both(doc) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got: {e}"),
    }
}

/// A valid file with `extra`'s keys added at the top level.
fn doc(extra: Json) -> Json {
    let mut d = json!({
        "storage": {"redb": {"path": "/tmp/x.redb"}},
        "listener": {"tcp": {"tls_disable": true}},
    });
    if let (Json::Object(d), Json::Object(extra)) = (&mut d, extra) {
        d.extend(extra);
    }
    d
}

/// A file with one route "r" whose body is `path_prefix = "/p/"` plus `body`.
fn route_doc(body: Json) -> Json {
    let mut b = json!({"path_prefix": "/p/"});
    if let (Json::Object(b), Json::Object(body)) = (&mut b, body) {
        b.extend(body);
    }
    doc(json!({"route": {"r": b}}))
}

fn one_route(body: Json) -> RouteConfig {
    let (_, mut routes) = both_ok(&route_doc(body));
    assert_eq!(routes.len(), 1);
    routes.remove(0)
}

fn template(text: &str) -> PathTemplate {
    PathTemplate::parse(text).expect("a valid template")
}

/// A route as `route "r" { path_prefix = "/p/" }` gives it.
fn bare_route() -> RouteConfig {
    RouteConfig {
        name: "r".into(),
        hosts: vec![],
        path_prefix: "/p/".into(),
        methods: vec![],
        upstream: None,
        tenant: None,
        jwt_auth: None,
        require: None,
        inject_headers: vec![],
        rate_limit: None,
    }
}

// ----- the shipped example --------------------------------------------------------------------

#[test]
fn the_shipped_gateway_example_loads_with_the_values_it_documents() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/gateway.hcl");
    let c = load(&path).expect("config/gateway.hcl loads");
    assert!(matches!(c.storage, StorageConfig::Redb { .. }));
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].address, "127.0.0.1:8200");

    let g = &c.gateway;
    assert_eq!(g.forward_auth_path, "/forward-auth");
    assert_eq!(g.trusted_proxies, default_trusted_proxies());
    assert_eq!(g.listeners.len(), 1);
    assert_eq!(g.listeners[0].address, "127.0.0.1:8300");
    assert_eq!(g.listeners[0].tls, None);

    let names: Vec<_> = c.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["tenant-api", "nexa", "health"]);

    let shop = &c.routes[0];
    assert_eq!(shop.hosts, ["api.smarterbot.store"]);
    assert_eq!(shop.path_prefix, "/t/");
    assert_eq!(shop.methods, ["GET", "POST", "PUT", "DELETE"]);
    assert_eq!(
        shop.upstream,
        Some(Upstream {
            url: "http://127.0.0.1:9000".into(),
            tls: false,
            host: "127.0.0.1".into(),
            port: 9000,
        })
    );
    assert_eq!(shop.tenant, Some(TenantSource::PathSegment(1)));
    assert_eq!(shop.jwt_auth, None);
    assert_eq!(
        shop.require,
        Some(Requirement {
            operation: Operation::Read,
            capability: "read".into(),
            path: template("secret/data/tenant/{{tenant}}/shopify"),
        })
    );
    assert_eq!(
        shop.inject_headers,
        vec![
            InjectHeader {
                name: "X-Shopify-Access-Token".into(),
                path: template("secret/data/tenant/{{tenant}}/shopify"),
                field: "SHOPIFY_ACCESS_TOKEN".into(),
            },
            InjectHeader {
                name: "X-Shopify-Shop-Domain".into(),
                path: template("secret/data/tenant/{{tenant}}/shopify"),
                field: "SHOPIFY_SHOP_DOMAIN".into(),
            },
        ]
    );
    assert_eq!(shop.rate_limit, None);

    let nexa = &c.routes[1];
    assert_eq!(nexa.hosts, ["nexa.smarterbot.store"]);
    assert_eq!(nexa.path_prefix, "/v1/chat/");
    assert_eq!(nexa.methods, ["POST"]);
    assert_eq!(nexa.upstream.as_ref().map(|u| u.port), Some(9100));
    assert_eq!(
        nexa.tenant,
        Some(TenantSource::EntityMetadata("tenant_id".into()))
    );
    assert_eq!(
        nexa.jwt_auth,
        Some(JwtAuth {
            mount: "jwt".into(),
            role: "nexa-gateway".into(),
        })
    );
    assert_eq!(
        nexa.require.as_ref().map(|r| r.path.as_str()),
        Some("secret/data/tenant/{{tenant}}/nexa")
    );
    assert!(nexa.inject_headers.is_empty());
    assert_eq!(
        nexa.rate_limit,
        Some(RateLimit {
            per: RateKey::Tenant,
            rpm: Rpm::From {
                path: template("secret/data/tenant/{{tenant}}/nexa"),
                field: "TENANT_HARD_LIMIT_RPM".into(),
            },
            burst: Some(20),
        })
    );

    let health = &c.routes[2];
    assert_eq!(health.tenant, None);
    assert_eq!(health.require, None);
    assert_eq!(
        health.rate_limit,
        Some(RateLimit {
            per: RateKey::Token,
            rpm: Rpm::Fixed(60),
            burst: None,
        })
    );
}

// ----- the happy paths ----------------------------------------------------------------------

#[test]
fn without_a_gateway_block_the_defaults_apply_and_there_are_no_routes() {
    let (g, routes) = both_ok(&doc(json!({})));
    assert_eq!(g, GatewayConfig::default());
    assert_eq!(g.forward_auth_path, "/forward-auth");
    assert_eq!(
        g.trusted_proxies,
        vec![
            IpNet::parse("127.0.0.0/8").expect("valid"),
            IpNet::parse("::1/128").expect("valid")
        ]
    );
    assert!(g.listeners.is_empty());
    assert!(routes.is_empty());
    let (g, _) = both_ok(&doc(json!({"gateway": {}})));
    assert_eq!(g, GatewayConfig::default());
}

#[test]
fn the_gateway_block_takes_every_key() {
    let (g, _) = both_ok(&doc(json!({"gateway": {
        "forward_auth_path": "/auth/check",
        "trusted_proxies": ["10.0.0.0/8", "192.168.1.7", "fd00::/8"],
        "listener": {"tcp": [
            {"address": "127.0.0.1:8300", "tls_disable": true},
            {"address": "[::1]:8301", "tls_disable": "1", "max_request_size": 1024}
        ]}
    }})));
    assert_eq!(g.forward_auth_path, "/auth/check");
    assert_eq!(
        g.trusted_proxies,
        ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]
            .iter()
            .map(|s| IpNet::parse(s).expect("valid"))
            .collect::<Vec<_>>()
    );
    let addresses: Vec<_> = g.listeners.iter().map(|l| l.address.as_str()).collect();
    assert_eq!(addresses, ["127.0.0.1:8300", "[::1]:8301"]);
    assert_eq!(g.listeners[1].max_request_size, Some(1024));
    // An empty list is allowed: nobody may call the forward-auth endpoint.
    let (g, _) = both_ok(&doc(json!({"gateway": {"trusted_proxies": []}})));
    assert!(g.trusted_proxies.is_empty());
}

#[test]
fn a_gateway_listener_with_tls_uses_the_listener_extraction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("c.pem");
    let key = dir.path().join("k.pem");
    std::fs::write(&cert, "x").expect("write");
    std::fs::write(&key, "x").expect("write");
    let (g, _) = both_ok(&doc(json!({"gateway": {"listener": {"tcp": {
        "address": "0.0.0.0:8443", "tls_cert_file": cert, "tls_key_file": key
    }}}})));
    assert_eq!(
        g.listeners[0].tls,
        Some(TlsFiles {
            cert_file: cert,
            key_file: key
        })
    );
    assert_eq!(
        both_err(&doc(
            json!({"gateway": {"listener": {"tcp": {"address": "127.0.0.1:8300"}}}})
        )),
        "gateway > listener \"tcp\": tls_cert_file: missing: required unless tls_disable is true"
    );
}

#[test]
fn a_full_route_parses_into_every_field() {
    let r = one_route(json!({
        "hosts": ["Shop.Example.com", "[::1]", "10.0.0.5"],
        "path_prefix": "/t/",
        "methods": ["get", "Post", "PROPFIND"],
        "upstream": "HTTPS://API.example.com:8443/",
        "tenant": "jwt.claim.https://example.com/tenant",
        "jwt_auth": {"mount": "/auth/jwt/", "role": "gateway"},
        "require": {"capability": "create", "path": "secret/data/tenant/{{tenant}}/x"},
        "inject_header": {
            "X-Shopify-Access-Token": {"path": "secret/data/tenant/{{tenant}}/shopify", "field": "access_token"},
            "X-Static": {"path": "secret/data/shared", "field": "k"}
        },
        "rate_limit": {"per": "tenant", "rpm": "120", "burst": 1_000_000}
    }));
    assert_eq!(
        r,
        RouteConfig {
            name: "r".into(),
            hosts: vec!["shop.example.com".into(), "::1".into(), "10.0.0.5".into()],
            path_prefix: "/t/".into(),
            methods: vec!["GET".into(), "POST".into(), "PROPFIND".into()],
            upstream: Some(Upstream {
                url: "HTTPS://API.example.com:8443/".into(),
                tls: true,
                host: "api.example.com".into(),
                port: 8443,
            }),
            tenant: Some(TenantSource::JwtClaim("https://example.com/tenant".into())),
            jwt_auth: Some(JwtAuth {
                mount: "jwt".into(),
                role: "gateway".into(),
            }),
            require: Some(Requirement {
                operation: Operation::Update,
                capability: "create".into(),
                path: template("secret/data/tenant/{{tenant}}/x"),
            }),
            inject_headers: vec![
                InjectHeader {
                    name: "X-Shopify-Access-Token".into(),
                    path: template("secret/data/tenant/{{tenant}}/shopify"),
                    field: "access_token".into(),
                },
                InjectHeader {
                    name: "X-Static".into(),
                    path: template("secret/data/shared"),
                    field: "k".into(),
                },
            ],
            rate_limit: Some(RateLimit {
                per: RateKey::Tenant,
                rpm: Rpm::Fixed(120),
                burst: Some(1_000_000),
            }),
        }
    );
}

#[test]
fn a_route_needs_only_its_path_prefix() {
    assert_eq!(one_route(json!({})), bare_route());
    // Empty lists mean any host and any method, as leaving them out does.
    assert_eq!(one_route(json!({"hosts": [], "methods": []})), bare_route());
}

#[test]
fn routes_keep_file_order_in_every_json_shape() {
    let body = |p: &str| json!({"path_prefix": p});
    for routes in [
        json!({"a": body("/a/"), "b": body("/b/")}),
        json!([{"a": body("/a/")}, {"b": body("/b/")}]),
    ] {
        let (_, routes) = both_ok(&doc(json!({ "route": routes })));
        let got: Vec<_> = routes
            .iter()
            .map(|r| (r.name.as_str(), r.path_prefix.as_str()))
            .collect();
        assert_eq!(got, [("a", "/a/"), ("b", "/b/")]);
    }
    // inject_header blocks take the same shapes.
    let header = |f: &str| json!({"path": "secret/x", "field": f});
    for headers in [
        json!({"X-A": header("a"), "X-B": header("b")}),
        json!([{"X-A": header("a")}, {"X-B": header("b")}]),
    ] {
        let r = one_route(json!({ "inject_header": headers }));
        let got: Vec<_> = r
            .inject_headers
            .iter()
            .map(|h| (h.name.as_str(), h.field.as_str()))
            .collect();
        assert_eq!(got, [("X-A", "a"), ("X-B", "b")]);
    }
}

#[test]
fn every_capability_maps_to_its_operation() {
    for (capability, operation) in [
        ("read", Operation::Read),
        ("list", Operation::List),
        ("create", Operation::Update),
        ("update", Operation::Update),
        ("delete", Operation::Delete),
        ("patch", Operation::Patch),
    ] {
        let r = one_route(json!({"require": {"capability": capability, "path": "secret/x"}}));
        let require = r.require.expect("require is set");
        assert_eq!(require.operation, operation, "{capability}");
        assert_eq!(require.capability, capability);
    }
}

#[test]
fn every_tenant_source_parses() {
    for (text, want) in [
        ("path.segment.0", TenantSource::PathSegment(0)),
        ("path.segment.12", TenantSource::PathSegment(12)),
        ("host.label.0", TenantSource::HostLabel(0)),
        ("host.label.3", TenantSource::HostLabel(3)),
        (
            "entity.metadata.tenant_id",
            TenantSource::EntityMetadata("tenant_id".into()),
        ),
        (
            "entity.metadata.a.b",
            TenantSource::EntityMetadata("a.b".into()),
        ),
    ] {
        assert_eq!(
            one_route(json!({"tenant": text})).tenant,
            Some(want),
            "{text}"
        );
    }
    let r =
        one_route(json!({"tenant": "jwt.claim.tid", "jwt_auth": {"mount": "jwt", "role": "g"}}));
    assert_eq!(r.tenant, Some(TenantSource::JwtClaim("tid".into())));
}

#[test]
fn jwt_mounts_lose_the_auth_prefix_and_slashes() {
    for mount in ["jwt", "/jwt", "jwt/", "auth/jwt", "/auth/jwt/", "auth//jwt"] {
        let r = one_route(json!({"jwt_auth": {"mount": mount, "role": "g"}}));
        assert_eq!(
            r.jwt_auth.map(|j| j.mount).as_deref(),
            Some("jwt"),
            "{mount}"
        );
    }
    let r = one_route(json!({"jwt_auth": {"mount": "auth/oidc/prod", "role": "g"}}));
    assert_eq!(r.jwt_auth.map(|j| j.mount).as_deref(), Some("oidc/prod"));
}

#[test]
fn upstreams_default_their_port_from_the_scheme() {
    for (url, tls, host, port) in [
        ("http://127.0.0.1:9000", false, "127.0.0.1", 9000),
        ("http://backend", false, "backend", 80),
        ("https://api.example.com", true, "api.example.com", 443),
        ("https://api.example.com/", true, "api.example.com", 443),
        ("http://[::1]:8080", false, "::1", 8080),
        ("https://[2001:DB8::1]", true, "2001:db8::1", 443),
        (
            "http://svc_a.internal:65535",
            false,
            "svc_a.internal",
            65535,
        ),
    ] {
        let u = one_route(json!({ "upstream": url }))
            .upstream
            .expect("upstream set");
        assert_eq!(
            (u.url.as_str(), u.tls, u.host.as_str(), u.port),
            (url, tls, host, port)
        );
    }
}

#[test]
fn rate_limits_take_a_fixed_rpm_or_rpm_from_and_burst_defaults_to_none() {
    let r = one_route(json!({"rate_limit": {"per": "token", "rpm": 1}}));
    assert_eq!(
        r.rate_limit,
        Some(RateLimit {
            per: RateKey::Token,
            rpm: Rpm::Fixed(1),
            burst: None
        })
    );
    let r = one_route(json!({"rate_limit": {"per": "token", "rpm": 1_000_000, "burst": 1}}));
    assert_eq!(
        r.rate_limit.map(|l| (l.rpm, l.burst)),
        Some((Rpm::Fixed(1_000_000), Some(1)))
    );
    let r = one_route(json!({"tenant": "path.segment.1", "rate_limit": {
        "per": "tenant", "rpm_from": {"path": "secret/data/tenant/{{tenant}}/nexa", "field": "RPM"}
    }}));
    assert_eq!(
        r.rate_limit.map(|l| l.rpm),
        Some(Rpm::From {
            path: template("secret/data/tenant/{{tenant}}/nexa"),
            field: "RPM".into()
        })
    );
}

#[test]
fn tenant_may_come_after_the_blocks_that_use_it() {
    let r = one_route(json!({
        "require": {"capability": "read", "path": "secret/{{tenant}}"},
        "rate_limit": {"per": "tenant", "rpm": 5},
        "tenant": "host.label.0"
    }));
    assert_eq!(r.tenant, Some(TenantSource::HostLabel(0)));
}

#[test]
fn forward_auth_paths_that_are_allowed() {
    for path in [
        "/forward-auth",
        "/auth",
        "/v1x",
        "/uix/",
        "/_mainkey/check",
        "/a/b/",
    ] {
        let (g, _) = both_ok(&doc(json!({"gateway": {"forward_auth_path": path}})));
        assert_eq!(g.forward_auth_path, path);
    }
}

// ----- every rule is an error that names the block and the key -------------------------------

/// Each case: a document and the error both formats give, as `block: key: problem`.
fn error_cases() -> Vec<(Json, String)> {
    let gw = |body: Json| doc(json!({ "gateway": body }));
    let rt = route_doc;
    let with_tenant = |mut body: Json| {
        if let Json::Object(m) = &mut body {
            m.insert("tenant".into(), json!("path.segment.1"));
        }
        rt(body)
    };
    let mut cases: Vec<(Json, &str)> = vec![
        // gateway
        (gw(json!({"colour": 1})), "gateway: colour: unknown key"),
        (doc(json!({"gateway": "on"})), "gateway: expected a block gateway { ... }, got a value"),
        (gw(json!({"forward_auth_path": "forward"})), "gateway: forward_auth_path: must start with /, got \"forward\""),
        (gw(json!({"forward_auth_path": ""})), "gateway: forward_auth_path: must start with /, got \"\""),
        (gw(json!({"forward_auth_path": 5})), "gateway: forward_auth_path: expected a string, got 5"),
        (gw(json!({"forward_auth_path": "/"})), "gateway: forward_auth_path: must not be / itself; use a path such as \"/forward-auth\""),
        (gw(json!({"forward_auth_path": "/v1/forward"})), "gateway: forward_auth_path: must not be under /v1/, which mainkey serves itself, got \"/v1/forward\""),
        (gw(json!({"forward_auth_path": "/v1"})), "gateway: forward_auth_path: must not be under /v1/, which mainkey serves itself, got \"/v1\""),
        (gw(json!({"forward_auth_path": "/V1/x"})), "gateway: forward_auth_path: must not be under /v1/, which mainkey serves itself, got \"/V1/x\""),
        (gw(json!({"forward_auth_path": "/ui/"})), "gateway: forward_auth_path: must not be under /ui/, which mainkey serves itself, got \"/ui/\""),
        (gw(json!({"forward_auth_path": "/a?b"})), "gateway: forward_auth_path: must be a plain path: ASCII letters, digits, / and -._~!$&'()*+,;=:@ (no %, ?, # or spaces), got \"/a?b\""),
        (gw(json!({"forward_auth_path": "/a%2Fb"})), "gateway: forward_auth_path: must be a plain path: ASCII letters, digits, / and -._~!$&'()*+,;=:@ (no %, ?, # or spaces), got \"/a%2Fb\""),
        (gw(json!({"forward_auth_path": "/a/../v1/x"})), "gateway: forward_auth_path: must not hold an empty, . or .. segment, got \"/a/../v1/x\""),
        (gw(json!({"forward_auth_path": "//v1/x"})), "gateway: forward_auth_path: must not hold an empty, . or .. segment, got \"//v1/x\""),
        (gw(json!({"trusted_proxies": "127.0.0.1"})), "gateway: trusted_proxies: expected a list of strings, got \"127.0.0.1\""),
        (gw(json!({"trusted_proxies": [1]})), "gateway: trusted_proxies: expected a list of strings, got 1 in the list"),
        (gw(json!({"trusted_proxies": ["10.0.0.0/33"]})), "gateway: trusted_proxies: \"10.0.0.0/33\" is not an address or a CIDR range such as \"10.0.0.0/8\" or \"::1/128\""),
        (gw(json!({"trusted_proxies": ["localhost"]})), "gateway: trusted_proxies: \"localhost\" is not an address or a CIDR range such as \"10.0.0.0/8\" or \"::1/128\""),
        (gw(json!({"listener": {"tcp": {"tls_disable": true}}})), "gateway > listener \"tcp\": address: missing: a gateway listener needs its own address, such as \"127.0.0.1:8300\""),
        (gw(json!({"listener": {"unix": {"address": "/x"}}})), "gateway > listener \"unix\": unsupported listener type \"unix\"; mainkey supports \"tcp\""),
        (gw(json!({"listener": {"tcp": {"address": "127.0.0.1:8300", "tls_disable": true, "colour": 1}}})), "gateway > listener \"tcp\": colour: unknown key"),
        (gw(json!({"listener": {"tcp": {"address": "127.0.0.1:8200", "tls_disable": true}}})), "gateway > listener \"tcp\": address: 127.0.0.1:8200 is already the address of an API listener"),
        (gw(json!({"listener": {"tcp": [{"address": "127.0.0.1:8300", "tls_disable": true}, {"address": "127.0.0.1:8300", "tls_disable": true}]}})), "gateway > listener \"tcp\" #2: address: 127.0.0.1:8300 is already the address of an earlier gateway listener"),
        (gw(json!({"listener": {"tcp": [{"address": "127.0.0.1:8300", "tls_disable": true}, {"address": "127.0.0.1:8301", "tls_disable": "x"}]}})), "gateway > listener \"tcp\" #2: tls_disable: expected a boolean (true, false, 1, 0), got \"x\""),
        // route: the block itself
        (doc(json!({"route": {"r": {}}})), "route \"r\": path_prefix: missing: every route needs a path_prefix, such as \"/t/\""),
        (doc(json!({"route": [{"r": {"path_prefix": "/a/"}}, {"r": {"path_prefix": "/b/"}}]})), "route \"r\": duplicate route name: a route \"r\" is already defined earlier in the file"),
        (doc(json!({"route": {"r": [{"path_prefix": "/a/"}, {"path_prefix": "/b/"}]}})), "route \"r\": duplicate route name: a route \"r\" is already defined earlier in the file"),
        (doc(json!({"route": {"a b": {"path_prefix": "/a/"}}})), "route \"a b\": the route's name must be letters, digits, '-', '_' or '.', got \"a b\""),
        (doc(json!({"route": {"": {"path_prefix": "/a/"}}})), "route \"\": the route's name must be letters, digits, '-', '_' or '.', got \"\""),
        (rt(json!({"colour": "blue"})), "route \"r\": colour: unknown key"),
        (rt(json!({"path_prefix": "t/"})), "route \"r\": path_prefix: must start with /, got \"t/\""),
        (rt(json!({"path_prefix": "/t//x"})), "route \"r\": path_prefix: must not hold an empty, . or .. segment, got \"/t//x\""),
        (rt(json!({"path_prefix": "/t/./x"})), "route \"r\": path_prefix: must not hold an empty, . or .. segment, got \"/t/./x\""),
        (rt(json!({"path_prefix": "/t x"})), "route \"r\": path_prefix: must be a plain path: ASCII letters, digits, / and -._~!$&'()*+,;=:@ (no %, ?, # or spaces), got \"/t x\""),
        (rt(json!({"path_prefix": 1})), "route \"r\": path_prefix: expected a string, got 1"),
        // hosts and methods
        (rt(json!({"hosts": "shop.example.com"})), "route \"r\": hosts: expected a list of strings, got \"shop.example.com\""),
        (rt(json!({"hosts": ["shop.example.com:443"]})), "route \"r\": hosts: \"shop.example.com:443\": a host name without a port, such as \"shop.example.com\" (the port is not matched)"),
        (rt(json!({"hosts": ["[::1]:443"]})), "route \"r\": hosts: \"[::1]:443\": a host name without a port, such as \"shop.example.com\" (the port is not matched)"),
        (rt(json!({"hosts": ["*.example.com"]})), "route \"r\": hosts: \"*.example.com\": wildcards are not supported; list each host name exactly"),
        (rt(json!({"hosts": ["shop.example.com."]})), "route \"r\": hosts: \"shop.example.com.\": write the host name without its trailing dot"),
        (rt(json!({"hosts": ["a..b"]})), "route \"r\": hosts: \"a..b\": not a host name (letters, digits, '-' and '_' in dot-separated labels)"),
        (rt(json!({"hosts": [""]})), "route \"r\": hosts: \"\": not a host name (letters, digits, '-' and '_' in dot-separated labels)"),
        (rt(json!({"hosts": ["shop/x"]})), "route \"r\": hosts: \"shop/x\": not a host name (letters, digits, '-' and '_' in dot-separated labels)"),
        (rt(json!({"hosts": ["-a.com"]})), "route \"r\": hosts: \"-a.com\": not a host name (letters, digits, '-' and '_' in dot-separated labels)"),
        (rt(json!({"hosts": ["a.com", "A.com"]})), "route \"r\": hosts: \"A.com\" is listed twice"),
        (rt(json!({"methods": ["GE T"]})), "route \"r\": methods: \"GE T\" is not an HTTP method name"),
        (rt(json!({"methods": [""]})), "route \"r\": methods: \"\" is not an HTTP method name"),
        (rt(json!({"methods": ["GET", "get"]})), "route \"r\": methods: \"get\" is listed twice"),
        (rt(json!({"methods": [true]})), "route \"r\": methods: expected a list of strings, got true in the list"),
        // upstream
        (rt(json!({"upstream": "127.0.0.1:9000"})), "route \"r\": upstream: no scheme; expected http://host[:port] or https://host[:port], got \"127.0.0.1:9000\""),
        (rt(json!({"upstream": "ftp://x"})), "route \"r\": upstream: the scheme must be http or https; expected http://host[:port] or https://host[:port], got \"ftp://x\""),
        (rt(json!({"upstream": "http://x/api"})), "route \"r\": upstream: no path, query or fragment is allowed; expected http://host[:port] or https://host[:port], got \"http://x/api\""),
        (rt(json!({"upstream": "http://x?a=1"})), "route \"r\": upstream: no path, query or fragment is allowed; expected http://host[:port] or https://host[:port], got \"http://x?a=1\""),
        (rt(json!({"upstream": "http://x#f"})), "route \"r\": upstream: no path, query or fragment is allowed; expected http://host[:port] or https://host[:port], got \"http://x#f\""),
        (rt(json!({"upstream": "http://u:p@x"})), "route \"r\": upstream: no user name or password is allowed in the URL; expected http://host[:port] or https://host[:port]"),
        (rt(json!({"upstream": "http://"})), "route \"r\": upstream: the host is missing; expected http://host[:port] or https://host[:port], got \"http://\""),
        (rt(json!({"upstream": "http://:80"})), "route \"r\": upstream: the host is missing; expected http://host[:port] or https://host[:port], got \"http://:80\""),
        (rt(json!({"upstream": "http://x:0"})), "route \"r\": upstream: the port must be a number from 1 to 65535; expected http://host[:port] or https://host[:port], got \"http://x:0\""),
        (rt(json!({"upstream": "http://x:65536"})), "route \"r\": upstream: the port must be a number from 1 to 65535; expected http://host[:port] or https://host[:port], got \"http://x:65536\""),
        (rt(json!({"upstream": "http://x:"})), "route \"r\": upstream: the port must be a number from 1 to 65535; expected http://host[:port] or https://host[:port], got \"http://x:\""),
        (rt(json!({"upstream": "http://x:+80"})), "route \"r\": upstream: the port must be a number from 1 to 65535; expected http://host[:port] or https://host[:port], got \"http://x:+80\""),
        (rt(json!({"upstream": "http://::1:80"})), "route \"r\": upstream: an IPv6 address must be in brackets; expected http://host[:port] or https://host[:port], got \"http://::1:80\""),
        (rt(json!({"upstream": "http://[::1"})), "route \"r\": upstream: an IPv6 address needs its closing ]; expected http://host[:port] or https://host[:port], got \"http://[::1\""),
        (rt(json!({"upstream": "http://[x]:80"})), "route \"r\": upstream: not an IPv6 address inside the brackets; expected http://host[:port] or https://host[:port], got \"http://[x]:80\""),
        (rt(json!({"upstream": "http://[::1]80"})), "route \"r\": upstream: expected :port after the IPv6 address; expected http://host[:port] or https://host[:port], got \"http://[::1]80\""),
        (rt(json!({"upstream": "http://bad host"})), "route \"r\": upstream: not a host name (letters, digits, '-' and '_' in dot-separated labels); expected http://host[:port] or https://host[:port], got \"http://bad host\""),
        // tenant
        (rt(json!({"tenant": "path.segment.-1"})), "route \"r\": tenant: the segment index must be a non-negative integer, got \"path.segment.-1\""),
        (rt(json!({"tenant": "path.segment.x"})), "route \"r\": tenant: the segment index must be a non-negative integer, got \"path.segment.x\""),
        (rt(json!({"tenant": "path.segment."})), "route \"r\": tenant: the segment index must be a non-negative integer, got \"path.segment.\""),
        (rt(json!({"tenant": "path.segment.99999999999999999999999"})), "route \"r\": tenant: the segment index is too large, got \"path.segment.99999999999999999999999\""),
        (rt(json!({"tenant": "host.label.+1"})), "route \"r\": tenant: the label index must be a non-negative integer, got \"host.label.+1\""),
        (rt(json!({"tenant": "entity.metadata."})), "route \"r\": tenant: the metadata key must not be empty, got \"entity.metadata.\""),
        (rt(json!({"tenant": "jwt.claim.", "jwt_auth": {"mount": "jwt", "role": "g"}})), "route \"r\": tenant: the claim name must not be empty, got \"jwt.claim.\""),
        (rt(json!({"tenant": "path.segment"})), "route \"r\": tenant: expected path.segment.<n>, host.label.<n>, entity.metadata.<key> or jwt.claim.<name>, got \"path.segment\""),
        (rt(json!({"tenant": "tenant_id"})), "route \"r\": tenant: expected path.segment.<n>, host.label.<n>, entity.metadata.<key> or jwt.claim.<name>, got \"tenant_id\""),
        (rt(json!({"tenant": "jwt.claim.tid"})), "route \"r\": tenant: jwt.claim.<name> needs a jwt_auth { mount = \"...\", role = \"...\" } block in the route"),
        // jwt_auth
        (rt(json!({"jwt_auth": {"mount": "jwt"}})), "route \"r\" > jwt_auth: role: missing: the JWT auth role"),
        (rt(json!({"jwt_auth": {"role": "g"}})), "route \"r\" > jwt_auth: mount: missing: the JWT auth mount, such as \"jwt\""),
        (rt(json!({"jwt_auth": {"mount": "auth/", "role": "g"}})), "route \"r\" > jwt_auth: mount: expected the path of a JWT auth mount, such as \"jwt\", got \"auth/\""),
        (rt(json!({"jwt_auth": {"mount": "jwt/../x", "role": "g"}})), "route \"r\" > jwt_auth: mount: expected the path of a JWT auth mount, such as \"jwt\", got \"jwt/../x\""),
        (rt(json!({"jwt_auth": {"mount": "jwt", "role": ""}})), "route \"r\" > jwt_auth: role: the role must be a non-empty name, got \"\""),
        (rt(json!({"jwt_auth": {"mount": "jwt", "role": "g", "audience": "x"}})), "route \"r\" > jwt_auth: audience: unknown key"),
        (rt(json!({"jwt_auth": "jwt"})), "route \"r\": jwt_auth: expected a block jwt_auth { ... }, got a value"),
        // require
        (rt(json!({"require": {"capability": "sudo", "path": "secret/x"}})), "route \"r\" > require: capability: expected one of read, list, create, update, delete, patch, got \"sudo\""),
        (rt(json!({"require": {"capability": "Read", "path": "secret/x"}})), "route \"r\" > require: capability: expected one of read, list, create, update, delete, patch, got \"Read\""),
        (rt(json!({"require": {"path": "secret/x"}})), "route \"r\" > require: capability: missing: one of read, list, create, update, delete, patch"),
        (rt(json!({"require": {"capability": "read"}})), "route \"r\" > require: path: missing: the logical path the capability is checked on"),
        (rt(json!({"require": {"capability": "read", "path": "secret/x", "paths": []}})), "route \"r\" > require: paths: unknown key"),
        (rt(json!({"require": {"capability": "read", "path": "secret/{{identity.entity.id}}/x"}})), "route \"r\" > require: path: unknown template \"{{identity.entity.id}}\": only {{tenant}} is allowed"),
        (rt(json!({"require": {"capability": "read", "path": "/secret/x"}})), "route \"r\" > require: path: path \"/secret/x\" must be a logical path such as secret/data/x, without a leading /"),
        (rt(json!({"require": {"capability": "read", "path": "secret/{{tenant}}"}})), "route \"r\" > require: path: uses {{tenant}}, but the route has no tenant = \"...\" to fill it"),
        // inject_header
        (rt(json!({"inject_header": {"X Bad": {"path": "secret/x", "field": "f"}}})), "route \"r\" > inject_header \"X Bad\": \"X Bad\" is not a valid HTTP header name"),
        (rt(json!({"inject_header": {"": {"path": "secret/x", "field": "f"}}})), "route \"r\" > inject_header \"\": \"\" is not a valid HTTP header name"),
        (rt(json!({"inject_header": {"X-Mainkey-Tenant": {"path": "secret/x", "field": "f"}}})), "route \"r\" > inject_header \"X-Mainkey-Tenant\": X-Mainkey-* headers are set by the gateway itself and cannot be injected"),
        (rt(json!({"inject_header": {"x-mainkey-": {"path": "secret/x", "field": "f"}}})), "route \"r\" > inject_header \"x-mainkey-\": X-Mainkey-* headers are set by the gateway itself and cannot be injected"),
        (rt(json!({"inject_header": {"X-A": {"path": "secret/x", "field": "f"}, "x-a": {"path": "secret/y", "field": "g"}}})), "route \"r\" > inject_header \"x-a\": this header is already injected by an earlier inject_header block of the route (names are case-insensitive)"),
        (rt(json!({"inject_header": {"X-A": {"path": "secret/x"}}})), "route \"r\" > inject_header \"X-A\": field: missing: the field of the secret whose value is sent"),
        (rt(json!({"inject_header": {"X-A": {"field": "f"}}})), "route \"r\" > inject_header \"X-A\": path: missing: the logical path of the secret to read"),
        (rt(json!({"inject_header": {"X-A": {"path": "secret/x", "field": ""}}})), "route \"r\" > inject_header \"X-A\": field: the field must be a non-empty name, got \"\""),
        (rt(json!({"inject_header": {"X-A": {"path": "secret/x", "field": "f", "value": "v"}}})), "route \"r\" > inject_header \"X-A\": value: unknown key"),
        (rt(json!({"inject_header": {"X-A": {"path": "secret/{{tenant}}", "field": "f"}}})), "route \"r\" > inject_header \"X-A\": path: uses {{tenant}}, but the route has no tenant = \"...\" to fill it"),
        (rt(json!({"inject_header": {"X-A": {"path": "secret/{{tenant_id}}", "field": "f"}}})), "route \"r\" > inject_header \"X-A\": path: unknown template \"{{tenant_id}}\": only {{tenant}} is allowed"),
        // rate_limit
        (rt(json!({"rate_limit": {"per": "token", "rpm": 0}})), "route \"r\" > rate_limit: rpm: must be between 1 and 1000000, got 0"),
        (rt(json!({"rate_limit": {"per": "token", "rpm": -5}})), "route \"r\" > rate_limit: rpm: must be between 1 and 1000000, got -5"),
        (rt(json!({"rate_limit": {"per": "token", "rpm": 1_000_001}})), "route \"r\" > rate_limit: rpm: must be between 1 and 1000000, got 1000001"),
        (rt(json!({"rate_limit": {"per": "token", "rpm": 5_000_000_000_i64}})), "route \"r\" > rate_limit: rpm: must be between 1 and 1000000, got 5000000000"),
        (rt(json!({"rate_limit": {"per": "token", "rpm": 1.5}})), "route \"r\" > rate_limit: rpm: expected an integer, got 1.5"),
        (rt(json!({"rate_limit": {"per": "token", "rpm": 5, "burst": 0}})), "route \"r\" > rate_limit: burst: must be between 1 and 1000000, got 0"),
        (rt(json!({"rate_limit": {"per": "token", "rpm": 5, "burst": 1_000_001}})), "route \"r\" > rate_limit: burst: must be between 1 and 1000000, got 1000001"),
        (rt(json!({"rate_limit": {"per": "token"}})), "route \"r\" > rate_limit: rpm: missing: set rpm = <requests per minute> or an rpm_from { path, field } block"),
        (rt(json!({"rate_limit": {"per": "token", "rpm": 5, "rpm_from": {"path": "secret/x", "field": "f"}}})), "route \"r\" > rate_limit: rpm_from: set either rpm or rpm_from, not both"),
        (rt(json!({"rate_limit": {"rpm": 5}})), "route \"r\" > rate_limit: per: missing: \"tenant\" or \"token\""),
        (rt(json!({"rate_limit": {"per": "ip", "rpm": 5}})), "route \"r\" > rate_limit: per: expected \"tenant\" or \"token\", got \"ip\""),
        (rt(json!({"rate_limit": {"per": "token", "rpm": 5, "window": "1m"}})), "route \"r\" > rate_limit: window: unknown key"),
        (rt(json!({"rate_limit": {"per": "tenant", "rpm": 5}})), "route \"r\" > rate_limit: per: per = \"tenant\" needs tenant = \"...\" in the route"),
        (rt(json!({"rate_limit": {"per": "token", "rpm_from": {"path": "secret/{{tenant}}", "field": "f"}}})), "route \"r\" > rate_limit > rpm_from: path: uses {{tenant}}, but the route has no tenant = \"...\" to fill it"),
        (rt(json!({"rate_limit": {"per": "token", "rpm_from": {"path": "secret/x"}}})), "route \"r\" > rate_limit > rpm_from: field: missing: the field of the secret holding the limit"),
        (rt(json!({"rate_limit": {"per": "token", "rpm_from": {"field": "f"}}})), "route \"r\" > rate_limit > rpm_from: path: missing: the logical path of the secret holding the limit"),
        (rt(json!({"rate_limit": {"per": "token", "rpm_from": {"path": "secret/x", "field": "f", "default": 5}}})), "route \"r\" > rate_limit > rpm_from: default: unknown key"),
        (with_tenant(json!({"rate_limit": {"per": "tenant", "rpm": 5, "burst": 0}})), "route \"r\" > rate_limit: burst: must be between 1 and 1000000, got 0"),
    ];
    // Every forbidden header, in any case.
    let forbidden: Vec<(Json, String)> = [
        "Connection",
        "keep-alive",
        "Proxy-Authenticate",
        "PROXY-AUTHORIZATION",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "host",
        "Content-Length",
        "Authorization",
        "x-vault-token",
    ]
    .iter()
    .map(|name| {
        (
            rt(json!({"inject_header": {*name: {"path": "secret/x", "field": "f"}}})),
            format!("route \"r\" > inject_header {name:?}: {name} cannot be injected: it is hop-by-hop, framing or credential header that the gateway controls"),
        )
    })
    .collect();
    let mut out: Vec<(Json, String)> = cases.drain(..).map(|(d, m)| (d, m.to_string())).collect();
    out.extend(forbidden);
    out
}

#[test]
fn every_bad_value_is_an_error_naming_block_and_key_in_both_formats() {
    // All the cases run, and the failures are listed together.
    let mut failures = Vec::new();
    for (doc, want) in error_cases() {
        match std::panic::catch_unwind(|| both_err(&doc)) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("want {want}\n got {got}")),
            Err(_) => failures.push(format!("want {want}\n got a panic (see above)")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_carry_the_block_and_key_as_fields() {
    let d = route_doc(json!({"rate_limit": {"per": "token", "rpm": 0}}));
    match parse(&d.to_string(), "g.json", Format::Json) {
        Err(ConfigError::Invalid {
            file, block, key, ..
        }) => {
            assert_eq!(file, "g.json");
            assert_eq!(block.as_deref(), Some("route \"r\" > rate_limit"));
            assert_eq!(key.as_deref(), Some("rpm"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // A JSON shape error inside a route names the route as its block.
    let d = doc(json!({"route": {"r": {"path_prefix": "/p/", "inject_header": {"X-A": 3}}}}));
    match parse(&d.to_string(), "g.json", Format::Json) {
        Err(ConfigError::Invalid {
            block,
            key,
            problem,
            ..
        }) => {
            assert_eq!(block.as_deref(), Some("route \"r\""));
            assert_eq!(key.as_deref(), Some("inject_header \"X-A\""));
            assert_eq!(problem, "expected an object, got a number");
        }
        other => panic!("unexpected {other:?}"),
    }
    let d = doc(json!({"gateway": {"listener": "tcp"}}));
    assert!(parse(&d.to_string(), "g.json", Format::Json).is_err());
    let d = doc(json!({"gateway": {"listener": ["tcp"]}}));
    match parse(&d.to_string(), "g.json", Format::Json) {
        Err(ConfigError::Invalid { block, key, .. }) => {
            assert_eq!(block.as_deref(), Some("gateway"));
            assert_eq!(key.as_deref(), Some("listener"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_upstream_password_is_not_echoed() {
    let err = both_err(&route_doc(
        json!({"upstream": "https://svc:hunter2-secret@backend:8443"}),
    ));
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("no user name or password"), "{err}");
}

/// What HCL can say and JSON cannot: repeated blocks, labels where none belong.
#[test]
fn hcl_only_errors() {
    let base = "storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\n";
    for (extra, want) in [
        ("gateway {}\ngateway {}", "config.hcl: gateway: only one gateway block is allowed"),
        ("gateway \"x\" {}", "config.hcl: gateway: expected no label, as in gateway { ... }; got 1"),
        ("route { path_prefix = \"/\" }", "config.hcl: route: expected exactly one label, the name, as in route \"<name>\" { ... }; got 0"),
        ("route \"a\" \"b\" { path_prefix = \"/\" }", "config.hcl: route: expected exactly one label, the name, as in route \"<name>\" { ... }; got 2"),
        ("route = \"a\"", "config.hcl: route: expected a block such as route \"<name>\" { ... }, got a value"),
        (
            "route \"r\" {\n path_prefix = \"/\"\n require {\n capability = \"read\"\n path = \"a\"\n }\n require {\n capability = \"read\"\n path = \"b\"\n }\n}",
            "config.hcl: route \"r\" > require: only one require block is allowed",
        ),
        (
            "route \"r\" {\n path_prefix = \"/\"\n jwt_auth {\n mount = \"a\"\n role = \"r\"\n }\n jwt_auth {}\n}",
            "config.hcl: route \"r\" > jwt_auth: only one jwt_auth block is allowed",
        ),
        (
            "route \"r\" {\n path_prefix = \"/\"\n rate_limit {\n per = \"token\"\n rpm = 1\n }\n rate_limit {}\n}",
            "config.hcl: route \"r\" > rate_limit: only one rate_limit block is allowed",
        ),
        (
            "route \"r\" {\n path_prefix = \"/\"\n rate_limit {\n per = \"token\"\n rpm_from {}\n rpm_from {}\n }\n}",
            "config.hcl: route \"r\" > rate_limit > rpm_from: path: missing: the logical path of the secret holding the limit",
        ),
        (
            "route \"r\" {\n path_prefix = \"/\"\n rate_limit {\n per = \"token\"\n rpm_from {\n path = \"a\"\n field = \"f\"\n }\n rpm_from {}\n }\n}",
            "config.hcl: route \"r\" > rate_limit > rpm_from: only one rpm_from block is allowed",
        ),
        (
            "route \"r\" {\n path_prefix = \"/\"\n inject_header {\n path = \"a\"\n field = \"f\"\n }\n}",
            "config.hcl: route \"r\" > inject_header: expected exactly one label, the header name, as in inject_header \"<header name>\" { ... }; got 0",
        ),
        (
            "route \"r\" {\n path_prefix = \"/\"\n require \"x\" {}\n}",
            "config.hcl: route \"r\" > require: expected no label, as in require { ... }; got 1",
        ),
        (
            "route \"r\" {\n path_prefix = \"/\"\n hosts = [\"${var.host}\"]\n}",
            "config.hcl: route \"r\": hosts: expected a list of strings, got an expression (interpolation, variables and functions are not supported) in the list",
        ),
        (
            "gateway {\n listener = \"tcp\"\n}",
            "config.hcl: gateway: listener: expected a block such as listener \"<type>\" { ... }, got a value",
        ),
        (
            "route \"r\" {\n path_prefix = \"/\"\n inject_header = \"X-A\"\n}",
            "config.hcl: route \"r\": inject_header: expected a block such as inject_header \"<header name>\" { ... }, got a value",
        ),
        (
            "gateway {\n listener \"tcp\" {\n address = \"127.0.0.1:8300\"\n tls_disable = true\n }\n}\ngateway {}",
            "config.hcl: gateway: only one gateway block is allowed",
        ),
    ] {
        let text = format!("{base}{extra}\n");
        match parse(&text, "config.hcl", Format::Hcl) {
            Ok(c) => panic!("expected an error for\n{text}\ngot {:?}", c.routes),
            Err(e) => assert_eq!(e.to_string(), want, "for\n{text}"),
        }
    }
}

#[test]
fn hcl_lists_keep_their_elements() {
    let text = "storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\n\
                route \"r\" {\n path_prefix = \"/\"\n hosts = [\"A.example\", \"b.example\"]\n methods = [\"get\"]\n}\n";
    let c = parse(text, "config.hcl", Format::Hcl).expect("loads");
    assert_eq!(c.routes[0].hosts, ["a.example", "b.example"]);
    assert_eq!(c.routes[0].methods, ["GET"]);
    // The API listener and the old keys are untouched by the gateway keys.
    assert_eq!(c.listeners.len(), 1);
}

#[test]
fn a_config_with_routes_round_trips_through_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d =
        route_doc(json!({"tenant": "host.label.0", "rate_limit": {"per": "tenant", "rpm": 10}}));
    let hcl_path = dir.path().join("m.hcl");
    let json_path = dir.path().join("m.json");
    std::fs::write(&hcl_path, hcl_text(&d)).expect("write");
    std::fs::write(&json_path, d.to_string()).expect("write");
    let a = load(&hcl_path).expect("hcl loads");
    let b = load(&json_path).expect("json loads");
    assert_eq!(a.routes, b.routes);
    assert_eq!(a.routes[0].tenant, Some(TenantSource::HostLabel(0)));
}

// ---------------------------------------------------------------------------------------------
// No route block, however mangled, panics the extraction; and HCL and JSON never disagree.

mod never_panics {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value as Json};

    use super::super::{parse, Format};
    use super::{both, both_agree, hcl_text};
    use crate::policy::tests_fuzz::run_on_stack;

    const STACK: usize = 2 * 1024 * 1024;

    const KEYS: &[&str] = &[
        "hosts",
        "path_prefix",
        "methods",
        "upstream",
        "tenant",
        "jwt_auth",
        "require",
        "inject_header",
        "rate_limit",
        "mount",
        "role",
        "capability",
        "path",
        "field",
        "per",
        "rpm",
        "rpm_from",
        "burst",
        "forward_auth_path",
        "trusted_proxies",
        "listener",
        "address",
        "tls_disable",
        "colour",
    ];

    fn scalar() -> impl Strategy<Value = Json> {
        prop_oneof![
            Just(json!("/t/")),
            Just(json!("/")),
            Just(json!("")),
            Just(json!("secret/data/tenant/{{tenant}}/shopify")),
            Just(json!("secret/{{tenant")),
            Just(json!("path.segment.1")),
            Just(json!("host.label.99999999999999999999")),
            Just(json!("entity.metadata.tenant_id")),
            Just(json!("jwt.claim.tid")),
            Just(json!("http://[::1]:8080")),
            Just(json!("https://h:99999/")),
            Just(json!("read")),
            Just(json!("tenant")),
            Just(json!("token")),
            Just(json!("127.0.0.1:8300")),
            Just(json!("X-Shopify-Access-Token")),
            Just(json!("${x}")),
            Just(json!(0)),
            Just(json!(-1)),
            Just(json!(1_000_001)),
            Just(json!(i64::MIN + 1)),
            Just(json!(u64::MAX)),
            Just(json!(1.5)),
            Just(json!(true)),
            Just(json!(null)),
            "\\PC{0,12}".prop_map(Json::String),
            // Not i64::MIN: HCL has no negative literals, and the negation of 2^63 is a float.
            (i64::MIN + 1..=i64::MAX).prop_map(|n| json!(n)),
        ]
    }

    fn value() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            4 => scalar(),
            1 => proptest::collection::vec(scalar(), 0..4).prop_map(Json::Array),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..5).prop_map(
                |entries| {
                    let mut m = Map::new();
                    for (k, v) in entries {
                        m.insert(k.to_string(), v);
                    }
                    Json::Object(m)
                },
            )
        })
    }

    /// A config with a gateway block and up to three routes, their bodies random.
    fn document() -> impl Strategy<Value = Json> {
        (
            proptest::option::of(value()),
            proptest::collection::vec(
                (
                    prop_oneof![Just("r".to_string()), Just("s".to_string()), "[a-z]{1,3}"],
                    value(),
                ),
                0..3,
            ),
            proptest::collection::vec((0..2usize, "\\PC{0,8}", value()), 0..3),
        )
            .prop_map(|(gateway, routes, headers)| {
                let mut routes: Vec<Json> = routes
                    .into_iter()
                    .map(|(name, body)| {
                        // A valid path_prefix first, so that some routes get far enough to
                        // reach the later checks (the random keys may still replace it).
                        let mut full = Map::new();
                        full.insert("path_prefix".into(), json!("/t/"));
                        if let Json::Object(random) = body {
                            full.extend(random);
                        }
                        json!({ name: full })
                    })
                    .collect();
                // Labelled inject_header blocks inside the first route, with odd names.
                if let Some(Json::Object(first)) = routes.first_mut() {
                    if let Some(Json::Object(body)) = first.values_mut().next() {
                        let mut by_name = Map::new();
                        for (_, name, v) in headers {
                            by_name.insert(name, if v.is_object() { v } else { json!({}) });
                        }
                        body.insert("inject_header".into(), Json::Object(by_name));
                    }
                }
                let mut d = json!({
                    "storage": {"redb": {"path": "/tmp/x.redb"}},
                    "listener": {"tcp": {"tls_disable": true}},
                    "route": routes,
                });
                if let (Some(g), Json::Object(m)) = (gateway, &mut d) {
                    m.insert("gateway".into(), g);
                }
                d
            })
    }

    /// Valid route bodies, to be mutated a little: most mutants stay close enough to valid to
    /// reach the checks that tie keys together.
    fn valid_bodies() -> Vec<Json> {
        vec![
            json!({"path_prefix": "/t/", "tenant": "path.segment.1",
                   "require": {"capability": "read", "path": "secret/data/tenant/{{tenant}}/shopify"},
                   "inject_header": {"X-Shopify-Access-Token": {"path": "secret/data/tenant/{{tenant}}/shopify", "field": "access_token"}}}),
            json!({"path_prefix": "/v1/chat/", "hosts": ["nexa.example.com"], "methods": ["POST"],
                   "upstream": "http://127.0.0.1:9100", "tenant": "entity.metadata.tenant_id",
                   "jwt_auth": {"mount": "jwt", "role": "g"},
                   "rate_limit": {"per": "tenant", "rpm_from": {"path": "secret/data/tenant/{{tenant}}/nexa", "field": "RPM"}, "burst": 20}}),
            json!({"path_prefix": "/healthz", "rate_limit": {"per": "token", "rpm": 60}}),
            json!({"path_prefix": "/", "tenant": "jwt.claim.tid", "jwt_auth": {"mount": "auth/jwt", "role": "r"},
                   "inject_header": [{"X-A": {"path": "secret/{{tenant}}", "field": "a"}}, {"X-B": {"path": "secret/b", "field": "b"}}]}),
        ]
    }

    /// Replace, remove or add one key, at the top of the body or one block down.
    fn mutate(body: &mut Json, (op, at, deep, value): &(u8, usize, bool, Json)) {
        let Json::Object(map) = body else { return };
        let target = if *deep && !map.is_empty() {
            let i = at % map.len();
            match map.values_mut().nth(i) {
                Some(inner @ Json::Object(_)) => inner,
                _ => return,
            }
        } else {
            body
        };
        let Json::Object(map) = target else { return };
        let key = match map.keys().nth(at % map.len().max(1)) {
            Some(k) if *op != 2 => k.clone(),
            _ => KEYS[at % KEYS.len()].to_string(),
        };
        match op {
            1 => {
                map.shift_remove(&key);
            }
            _ => {
                map.insert(key, value.clone());
            }
        }
    }

    fn plausible_document() -> impl Strategy<Value = Json> {
        let mutation = (0u8..3, any::<usize>(), any::<bool>(), value());
        proptest::collection::vec(
            (
                0..valid_bodies().len(),
                proptest::collection::vec(mutation, 0..3),
            ),
            1..3,
        )
        .prop_map(|routes| {
            let bodies = valid_bodies();
            let routes: Vec<Json> = routes
                .into_iter()
                .enumerate()
                .map(|(i, (which, mutations))| {
                    let mut body = bodies[which].clone();
                    for m in &mutations {
                        mutate(&mut body, m);
                    }
                    json!({ format!("r{i}"): body })
                })
                .collect();
            json!({
                "storage": {"redb": {"path": "/tmp/x.redb"}},
                "listener": {"tcp": {"tls_disable": true}},
                "route": routes,
            })
        })
    }

    #[test]
    fn mutated_valid_routes_never_panic_and_both_formats_agree() {
        run_on_stack(STACK, 512, plausible_document, agree);
    }

    /// No panic, and the HCL rendering means what the JSON means.
    fn agree(d: &Json) -> Result<(), String> {
        both_agree(d);
        Ok(())
    }

    #[test]
    fn random_route_blocks_never_panic_and_both_formats_agree() {
        run_on_stack(STACK, 512, document, agree);
    }

    const SEED: &str = include_str!("../../config/gateway.hcl");

    fn mutated() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("route".to_string()),
            Just("\"r\"".to_string()),
            Just("inject_header".to_string()),
            Just("rate_limit".to_string()),
            Just("{{tenant}}".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("=".to_string()),
            Just("\"".to_string()),
            Just("\n".to_string()),
            Just("-1".to_string()),
            Just("99999999999999999999".to_string()),
            "\\PC{0,6}",
        ];
        (
            proptest::collection::vec((any::<usize>(), atom), 0..4),
            proptest::collection::vec((any::<usize>(), 1usize..8), 0..4),
        )
            .prop_map(|(inserts, deletes)| {
                let mut chars: Vec<char> = SEED.chars().collect();
                for (at, n) in deletes {
                    if !chars.is_empty() {
                        let at = at % chars.len();
                        let end = (at + n).min(chars.len());
                        chars.drain(at..end);
                    }
                }
                for (at, s) in inserts {
                    let at = at % (chars.len() + 1);
                    chars.splice(at..at, s.chars());
                }
                chars.into_iter().collect()
            })
    }

    fn parses_without_panic(text: &str) -> Result<(), String> {
        let _ = parse(text, "f.hcl", Format::Hcl);
        let _ = parse(text, "f.json", Format::Json);
        Ok(())
    }

    #[test]
    fn mutated_gateway_example_never_panics() {
        run_on_stack(STACK, 384, mutated, |text| parses_without_panic(text));
    }

    /// The renderer the property tests rely on writes labelled blocks as HCL blocks.
    #[test]
    fn the_renderer_agrees_on_the_example() {
        let d = json!({
            "storage": {"redb": {"path": "/tmp/x.redb"}},
            "listener": {"tcp": {"tls_disable": true}},
            "route": {"r": {"path_prefix": "/t/", "hosts": ["a.b"], "inject_header": {"X-A": {"path": "secret/x", "field": "f"}}}}
        });
        let text = hcl_text(&d);
        assert!(text.contains("inject_header \"X-A\" {"), "{text}");
        assert!(both(&d).is_ok());
    }
}
