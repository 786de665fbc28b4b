//! `Core::authorize_request`, the one way from a token to a decision: each refusal is typed,
//! and an allowed request names its caller with the entity's facts.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use super::test_support::{unsealed_core, TestCore, ROOT};
use super::*;
use crate::logical::fields::into_map;
use crate::logical::Map;

const INSIDE: &str = "10.1.2.3";

/// A core with userpass user `alice` (CIDR-bound to 10.0.0.0/8) logged in: her token and
/// entity id. Her policy reads `secret/data/tenant/<her tenant_id>/*`.
async fn fixture() -> (TestCore, String, String) {
    let t = unsealed_core().await;
    let rule = r#"path "secret/data/tenant/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read"] }"#;
    let setup = [
        ("sys/auth/userpass", json!({"type": "userpass"})),
        ("sys/policies/acl/tenant", json!({ "policy": rule })),
        (
            "auth/userpass/users/alice",
            json!({"password": "pw", "token_policies": ["tenant"], "token_bound_cidrs": ["10.0.0.0/8"]}),
        ),
    ];
    for (path, body) in setup {
        t.root(Operation::Update, path, body).await;
    }
    let mut login = Request::new(Operation::Update, "auth/userpass/login/alice")
        .with_data(into_map(json!({"password": "pw"})));
    login.remote_addr = Some(INSIDE.parse().unwrap());
    let auth = t.core.handle_request(login).await.unwrap().auth.unwrap();
    let token = auth["client_token"].as_str().unwrap().to_string();
    let entity = auth["entity_id"].as_str().unwrap().to_string();
    set_entity(
        &t,
        &entity,
        json!({"metadata": {"tenant_id": "acme"}, "policies": ["extra"]}),
    )
    .await;
    (t, token, entity)
}

async fn set_entity(t: &TestCore, id: &str, body: serde_json::Value) {
    t.root(Operation::Update, &format!("identity/entity/id/{id}"), body)
        .await;
}

async fn decide(
    core: &Core,
    token: Option<&str>,
    from: &str,
    path: &str,
) -> Result<Caller, Refused> {
    let remote: IpAddr = from.parse().unwrap();
    core.authorize_request(token, Some(remote), Operation::Read, path, &Map::new())
        .await
}

fn denial(r: Result<Caller, Refused>) -> Denial {
    match r {
        Err(Refused::Denied(d)) => d,
        Err(Refused::Failed(e)) => panic!("failed: {e:?}"),
        Ok(c) => panic!("allowed as {}", c.display_name()),
    }
}

#[tokio::test]
async fn an_allowed_request_names_the_caller_and_its_entity() {
    let (t, token, entity) = fixture().await;
    let core = &t.core;
    let caller = decide(
        core,
        Some(&token),
        INSIDE,
        "secret/data/tenant/acme/shopify",
    )
    .await
    .unwrap();
    assert_eq!(caller.entity_id(), entity);
    assert_eq!(
        caller
            .entity_metadata()
            .and_then(|m| m.get("tenant_id"))
            .map(String::as_str),
        Some("acme")
    );
    assert!(
        caller.entity_name().starts_with("entity_"),
        "{}",
        caller.entity_name()
    );
    assert_eq!(caller.policies(), ["default", "tenant"]);
    assert_eq!(caller.identity_policies(), ["extra"]);
    assert_eq!(caller.display_name(), "userpass-alice");
    assert!(caller.expire_time().is_some() && !caller.accessor().is_empty());
    let debug = format!("{caller:?}");
    assert!(!debug.contains(&token), "Debug shows no token id");
    assert!(!debug.contains(caller.accessor()), "nor the accessor");
    assert!(debug.contains("userpass-alice"), "{debug}");
}

#[tokio::test]
async fn each_refusal_says_why() {
    let (t, token, entity) = fixture().await;
    let core = &t.core;
    let path = "secret/data/tenant/acme/shopify";
    assert_eq!(
        denial(decide(core, None, INSIDE, path).await),
        Denial::NoToken
    );
    assert_eq!(
        denial(decide(core, Some(""), INSIDE, path).await),
        Denial::NoToken
    );
    assert_eq!(
        denial(decide(core, Some("s.nope"), INSIDE, path).await),
        Denial::UnknownToken
    );
    assert_eq!(
        denial(decide(core, Some(&token), "192.168.1.1", path).await),
        Denial::Cidr
    );
    let other = "secret/data/tenant/globex/shopify";
    assert_eq!(
        denial(decide(core, Some(&token), INSIDE, other).await),
        Denial::Acl
    );
    for d in [Denial::NoToken, Denial::UnknownToken] {
        assert!(d.is_unauthenticated());
    }
    assert!(!Denial::Acl.is_unauthenticated() && !Denial::Cidr.is_unauthenticated());

    set_entity(&t, &entity, json!({"disabled": true})).await;
    assert_eq!(
        denial(decide(core, Some(&token), INSIDE, path).await),
        Denial::EntityDisabled
    );
    // `/v1` still answers every denial as Vault does.
    let mut req = Request::new(Operation::Read, path).with_token(&token);
    req.remote_addr = Some(INSIDE.parse().unwrap());
    assert!(matches!(
        core.handle_request(req).await,
        Err(Error::PermissionDenied)
    ));

    let revoked = t
        .root(
            Operation::Update,
            "auth/token/revoke",
            json!({ "token": token }),
        )
        .await;
    assert!(revoked.data.is_none());
    assert_eq!(
        denial(decide(core, Some(&token), INSIDE, path).await),
        Denial::UnknownToken
    );
}

#[tokio::test]
async fn a_sealed_core_fails_rather_than_denies() {
    let (t, token, _) = fixture().await;
    let core = &t.core;
    core.seal().await.unwrap();
    match decide(core, Some(&token), INSIDE, "secret/data/x").await {
        Err(Refused::Failed(Error::Sealed)) => {}
        other => panic!(
            "expected sealed, got {:?}",
            other.map(|c| c.display_name().to_string())
        ),
    }
}

#[tokio::test]
async fn an_expired_token_and_the_children_of_an_expired_parent_are_expired() {
    let t = unsealed_core().await;
    let core = &t.core;
    let parent = t.token(ROOT, json!({"ttl": "1h"})).await;
    let child = t.token(&parent, json!({"ttl": "3h"})).await;
    assert!(decide(core, Some(&child), INSIDE, "auth/token/lookup-self")
        .await
        .is_ok());
    t.clock.advance(Duration::from_secs(3601));
    for token in [&parent, &child] {
        assert_eq!(
            denial(decide(core, Some(token), INSIDE, "auth/token/lookup-self").await),
            Denial::Expired
        );
    }
}

/// What the gateway asks before it reads a body: only a live token, or a path that needs
/// none, lets the body be read.
#[tokio::test]
async fn a_body_is_admitted_only_with_a_live_token_or_on_a_path_that_needs_none() {
    let (t, token, _) = fixture().await;
    let core = &t.core;
    let inside: IpAddr = INSIDE.parse().unwrap();
    let admits = |token: Option<&'static str>, path: &'static str| {
        let core = core.clone();
        async move { core.admits(token, Some(inside), path).await }
    };
    for path in ["secret/data/x", "sys/policies/acl/x", "auth/token/create"] {
        assert!(matches!(
            admits(None, path).await,
            Err(Refused::Denied(Denial::NoToken))
        ));
        assert!(matches!(
            admits(Some("s.nope"), path).await,
            Err(Refused::Denied(Denial::UnknownToken))
        ));
    }
    for path in [
        "sys/unseal",
        "sys/init",
        "auth/userpass/login/alice",
        "sys/internal/ui/mounts",
    ] {
        assert!(admits(None, path).await.is_ok(), "{path}");
    }
    assert!(core
        .admits(Some(&token), Some(inside), "secret/data/x")
        .await
        .is_ok());
    let outside: IpAddr = "192.168.1.1".parse().unwrap();
    assert!(matches!(
        core.admits(Some(&token), Some(outside), "secret/data/x")
            .await,
        Err(Refused::Denied(Denial::Cidr))
    ));
    // Sealed: admitted, so that handle_request answers 503.
    core.seal().await.unwrap();
    assert!(admits(None, "secret/data/x").await.is_ok());
}
