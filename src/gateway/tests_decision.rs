//! The route evaluation against a real, in-memory core: each outcome of the table, and each
//! change that must reach the very next request through the decision cache.

use serde_json::json;

use super::decision::{Forwarded, Gateway, Outcome};
use crate::config::gateway::{
    GatewayConfig, InjectHeader, PathTemplate, Requirement, RouteConfig, TenantSource,
};
use crate::core::test_support::{unsealed_core, TestCore, ROOT};
use crate::logical::Operation;

const SHOPIFY: &str = "secret/data/tenant/{{tenant}}/shopify";

fn shop_route(tenant: TenantSource) -> RouteConfig {
    RouteConfig {
        name: "shop".into(),
        hosts: Vec::new(),
        path_prefix: "/t/".into(),
        methods: Vec::new(),
        upstream: None,
        tenant: Some(tenant),
        jwt_auth: None,
        require: Some(Requirement {
            operation: Operation::Read,
            capability: "read".into(),
            path: PathTemplate::parse(SHOPIFY).unwrap(),
        }),
        inject_headers: vec![InjectHeader {
            name: "X-Shopify-Access-Token".into(),
            path: PathTemplate::parse(SHOPIFY).unwrap(),
            field: "access_token".into(),
        }],
        rate_limit: None,
    }
}

/// A core as the seeds set it up: KV v2 at `secret/`, a templated tenant policy, userpass
/// users alice (acme) and bob (globex), each tenant's Shopify token. Returns alice's token
/// and entity id.
async fn tenants() -> (TestCore, String, String) {
    let t = unsealed_core().await;
    let rule = r#"path "secret/data/tenant/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read"] }"#;
    for (path, body) in [
        (
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        ),
        ("sys/auth/userpass", json!({"type": "userpass"})),
        ("sys/policies/acl/tenant", json!({ "policy": rule })),
        (
            "auth/userpass/users/alice",
            json!({"password": "pw", "token_policies": ["tenant"]}),
        ),
        (
            "secret/data/tenant/acme/shopify",
            json!({"data": {"access_token": "shpat_acme_1"}}),
        ),
        (
            "secret/data/tenant/globex/shopify",
            json!({"data": {"access_token": "shpat_globex"}}),
        ),
    ] {
        t.root(Operation::Update, path, body).await;
    }
    let (token, entity) = login(&t, "alice").await;
    t.root(
        Operation::Update,
        &format!("identity/entity/id/{entity}"),
        json!({"metadata": {"tenant_id": "acme"}}),
    )
    .await;
    (t, token, entity)
}

async fn login(t: &TestCore, user: &str) -> (String, String) {
    let resp = t
        .write(
            "",
            &format!("auth/userpass/login/{user}"),
            json!({"password": "pw"}),
        )
        .await
        .unwrap();
    let auth = resp.auth.unwrap();
    (
        auth["client_token"].as_str().unwrap().to_string(),
        auth["entity_id"].as_str().unwrap().to_string(),
    )
}

fn gateway(t: &TestCore, routes: Vec<RouteConfig>) -> Gateway {
    Gateway::new(t.core.clone(), &GatewayConfig::default(), routes)
}

async fn check(gw: &Gateway, token: Option<&str>, path: &str) -> Outcome {
    let fwd = Forwarded {
        method: "GET",
        host: "shop.example.com",
        path,
        route: None,
        token,
        client: Some("127.0.0.1".parse().unwrap()),
        request_id: "test",
    };
    gw.evaluate(&fwd).await.0
}

/// The allowed answer's headers, as (lowercase name, value).
fn allowed(outcome: &Outcome) -> Vec<(String, String)> {
    match outcome {
        Outcome::Allow(a) => a
            .headers()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect(),
        other => panic!("not allowed: {other:?}"),
    }
}

fn header(outcome: &Outcome, name: &str) -> String {
    allowed(outcome)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test]
async fn a_tenant_gets_its_own_credential_and_identity_headers() {
    let (t, alice, entity) = tenants().await;
    let gw = gateway(&t, vec![shop_route(TenantSource::PathSegment(1))]);
    let out = check(&gw, Some(&alice), "/t/acme/orders").await;
    assert_eq!(
        allowed(&out),
        [
            ("x-mainkey-tenant".to_string(), "acme".to_string()),
            ("x-mainkey-entity".into(), entity),
            ("x-mainkey-policies".into(), "default,tenant".into()),
            ("x-mainkey-route".into(), "shop".into()),
            ("x-shopify-access-token".into(), "shpat_acme_1".into()),
        ]
    );
    assert!(
        !format!("{out:?}").contains("shpat_acme_1"),
        "Debug names headers, never their values"
    );
}

#[tokio::test]
async fn refusals_are_typed() {
    let (t, alice, _) = tenants().await;
    let gw = gateway(&t, vec![shop_route(TenantSource::PathSegment(1))]);
    assert!(matches!(
        check(&gw, Some(&alice), "/t/globex/x").await,
        Outcome::Forbidden("acl")
    ));
    assert!(matches!(
        check(&gw, None, "/t/acme/x").await,
        Outcome::Unauthenticated
    ));
    assert!(matches!(
        check(&gw, Some("hvs.junk"), "/t/acme/x").await,
        Outcome::Unauthenticated
    ));
    // Remembered: the second junk check is answered without the core.
    assert!(matches!(
        check(&gw, Some("hvs.junk"), "/t/acme/x").await,
        Outcome::Unauthenticated
    ));
    assert!(matches!(
        check(&gw, Some(&alice), "/other").await,
        Outcome::Forbidden("no_route")
    ));
    for bad in ["/t/a*b/x", "/t/a+b", "/t/a..b", "/t/{x}/y", "/t/"] {
        assert!(
            matches!(
                check(&gw, Some(&alice), bad).await,
                Outcome::Forbidden("bad_tenant")
            ),
            "{bad}"
        );
    }
    // A tenant without the injected secret: 403, never an empty credential.
    t.root(
        Operation::Update,
        "sys/policies/acl/tenant",
        json!({"policy": r#"path "secret/data/tenant/*" { capabilities = ["read"] }"#}),
    )
    .await;
    assert!(matches!(
        check(&gw, Some(&alice), "/t/initech/x").await,
        Outcome::Forbidden("credential_missing")
    ));
}

#[tokio::test]
async fn a_limited_use_token_is_refused_and_spends_nothing() {
    let (t, _, _) = tenants().await;
    let gw = gateway(&t, vec![shop_route(TenantSource::PathSegment(1))]);
    let limited = t.token(ROOT, json!({"num_uses": 2})).await;
    assert!(matches!(
        check(&gw, Some(&limited), "/t/acme/x").await,
        Outcome::Forbidden("limited_use_token")
    ));
    assert!(t
        .call(
            &limited,
            Operation::Read,
            "auth/token/lookup-self",
            json!({})
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn every_change_reaches_the_very_next_request() {
    let (t, alice, entity) = tenants().await;
    let gw = gateway(
        &t,
        vec![shop_route(TenantSource::EntityMetadata("tenant_id".into()))],
    );
    let first = check(&gw, Some(&alice), "/t/x").await;
    assert_eq!(header(&first, "x-shopify-access-token"), "shpat_acme_1");

    // A rotated secret is the one injected.
    t.root(
        Operation::Update,
        "secret/data/tenant/acme/shopify",
        json!({"data": {"access_token": "shpat_acme_2"}}),
    )
    .await;
    let out = check(&gw, Some(&alice), "/t/x").await;
    assert_eq!(header(&out, "x-shopify-access-token"), "shpat_acme_2");

    // A changed tenant_id moves the caller.
    t.root(
        Operation::Update,
        &format!("identity/entity/id/{entity}"),
        json!({"metadata": {"tenant_id": "globex"}}),
    )
    .await;
    let out = check(&gw, Some(&alice), "/t/x").await;
    assert_eq!(header(&out, "x-mainkey-tenant"), "globex");
    assert_eq!(header(&out, "x-shopify-access-token"), "shpat_globex");

    // A policy write takes the grant away.
    t.root(
        Operation::Update,
        "sys/policies/acl/tenant",
        json!({"policy": r#"path "secret/data/nothing" { capabilities = ["read"] }"#}),
    )
    .await;
    assert!(matches!(
        check(&gw, Some(&alice), "/t/x").await,
        Outcome::Forbidden("acl")
    ));

    // A revoked token is unknown at once.
    t.root(
        Operation::Update,
        "sys/policies/acl/tenant",
        json!({"policy": r#"path "secret/data/tenant/*" { capabilities = ["read"] }"#}),
    )
    .await;
    assert!(matches!(
        check(&gw, Some(&alice), "/t/x").await,
        Outcome::Allow(_)
    ));
    t.write(&alice, "auth/token/revoke-self", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        check(&gw, Some(&alice), "/t/x").await,
        Outcome::Unauthenticated
    ));

    // A sealed core answers 503.
    let (bob, _) = {
        t.root(
            Operation::Update,
            "auth/userpass/users/bob",
            json!({"password": "pw", "token_policies": ["tenant"]}),
        )
        .await;
        login(&t, "bob").await
    };
    let route = gateway(&t, vec![shop_route(TenantSource::PathSegment(1))]);
    assert!(matches!(
        check(&route, Some(&bob), "/t/acme/x").await,
        Outcome::Allow(_)
    ));
    t.core.seal().await.unwrap();
    assert!(matches!(
        check(&route, Some(&bob), "/t/acme/x").await,
        Outcome::Sealed
    ));
}

#[tokio::test]
async fn an_expired_token_is_not_served_from_the_cache() {
    let (t, _, _) = tenants().await;
    let gw = gateway(&t, vec![shop_route(TenantSource::PathSegment(1))]);
    let short = t
        .token(
            ROOT,
            json!({"ttl": "60s", "policies": ["tenant"], "no_parent": true}),
        )
        .await;
    // A token without an entity has no tenant_id, so give its policy the acme path.
    t.root(
        Operation::Update,
        "sys/policies/acl/tenant",
        json!({"policy": r#"path "secret/data/tenant/acme/*" { capabilities = ["read"] }"#}),
    )
    .await;
    assert!(matches!(
        check(&gw, Some(&short), "/t/acme/x").await,
        Outcome::Allow(_)
    ));
    t.clock.advance(std::time::Duration::from_secs(61));
    assert!(matches!(
        check(&gw, Some(&short), "/t/acme/x").await,
        Outcome::Unauthenticated
    ));
}

#[tokio::test]
async fn a_reload_swaps_the_routes() {
    let (t, alice, _) = tenants().await;
    let gw = gateway(&t, vec![shop_route(TenantSource::PathSegment(1))]);
    assert!(matches!(
        check(&gw, Some(&alice), "/t/acme/x").await,
        Outcome::Allow(_)
    ));
    let mut moved = shop_route(TenantSource::PathSegment(1));
    moved.path_prefix = "/shop/".into();
    gw.reload(&GatewayConfig::default(), vec![moved]);
    assert!(matches!(
        check(&gw, Some(&alice), "/t/acme/x").await,
        Outcome::Forbidden("no_route")
    ));
    assert!(matches!(
        check(&gw, Some(&alice), "/shop/acme/x").await,
        Outcome::Allow(_)
    ));
}
