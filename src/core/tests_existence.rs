//! Vault's create/update rule: a write is a `create` when the backend's existence check finds
//! nothing, an `update` when it finds the entry, and always an `update` on paths without a
//! check. The answers here are OpenBao 2.7's (`test_existence_differential.py` asks both).

use std::sync::Arc;

use base64::Engine as _;
use serde_json::json;

use super::*;
use crate::clock::SystemClock;
use crate::logical::fields::into_map;
use crate::physical::InmemBackend;

const ROOT: &str = "root";

/// A harmless policy body.
const RULE: &str = "path \"x\" { capabilities = [\"read\"] }";

/// Every path a test below writes, each granted one capability by the policy of that name.
const PATHS: &[&str] = &[
    "kv1/*",
    "secret/data/*",
    "secret/metadata/*",
    "sys/policies/acl/*",
    "sys/policy/*",
    "auth/userpass/users/*",
    "auth/approle/role/*",
    "auth/jwt/role/*",
    "auth/token/roles/*",
    "identity/entity/name/*",
];

fn write(token: &str, path: &str, data: serde_json::Value) -> Request {
    Request::new(Operation::Update, path)
        .with_token(token)
        .with_data(into_map(data))
}

async fn root_write(core: &Core, path: &str, data: serde_json::Value) {
    core.handle_request(write(ROOT, path, data))
        .await
        .unwrap_or_else(|e| panic!("root write of {path}: {e:?}"));
}

/// A core with a KV v1 mount at `kv1/`, KV v2 at `secret/`, userpass, AppRole and JWT, one
/// existing entry on every path of [`PATHS`] (named `old`), and a token holding only `create`
/// and one holding only `update` on all of them.
async fn fixture() -> (Arc<Core>, String, String) {
    let core = Core::new(
        Arc::new(InmemBackend::new()),
        Arc::new(SystemClock),
        CoreConfig::default(),
    )
    .await
    .unwrap();
    let init = core.initialize(1, 1, Some(ROOT)).await.unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode(&init.keys[0]);
    core.unseal(&key).await.unwrap();
    root_write(&core, "sys/mounts/kv1", json!({"type": "kv"})).await;
    root_write(&core, "sys/mounts/secret", json!({"type": "kv-v2"})).await;
    for method in ["userpass", "approle", "jwt"] {
        root_write(
            &core,
            &format!("sys/auth/{method}"),
            json!({"type": method}),
        )
        .await;
    }
    root_write(&core, "kv1/old", json!({"k": "v"})).await;
    root_write(&core, "secret/data/old", json!({"data": {"k": "v"}})).await;
    root_write(&core, "secret/data/meta-old", json!({"data": {"k": "v"}})).await;
    root_write(&core, "sys/policies/acl/old", json!({"policy": RULE})).await;
    root_write(&core, "auth/userpass/users/old", json!({"password": "pw"})).await;
    root_write(&core, "auth/approle/role/old", json!({})).await;
    root_write(
        &core,
        "auth/jwt/role/old",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["a"]}),
    )
    .await;
    root_write(&core, "auth/token/roles/old", json!({})).await;
    root_write(&core, "identity/entity/name/old", json!({})).await;
    let mut tokens = Vec::new();
    for cap in ["create", "update"] {
        let rules: String = PATHS
            .iter()
            .map(|p| format!("path \"{p}\" {{ capabilities = [\"{cap}\"] }}\n"))
            .collect();
        root_write(
            &core,
            &format!("sys/policies/acl/{cap}-only"),
            json!({ "policy": rules }),
        )
        .await;
        let resp = core
            .handle_request(write(
                ROOT,
                "auth/token/create",
                json!({"policies": [format!("{cap}-only")]}),
            ))
            .await
            .unwrap();
        tokens.push(
            resp.auth.unwrap()["client_token"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let update = tokens.pop().unwrap();
    let create = tokens.pop().unwrap();
    (core, create, update)
}

/// The writes of the tests: (path of a new entry, path of the existing one, body).
fn cases() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    vec![
        ("kv1/new", "kv1/old", json!({"k": "x"})),
        (
            "secret/data/new",
            "secret/data/old",
            json!({"data": {"k": "x"}}),
        ),
        (
            "secret/metadata/new-meta",
            "secret/metadata/meta-old",
            json!({"max_versions": 3}),
        ),
        (
            "auth/userpass/users/new",
            "auth/userpass/users/old",
            json!({"password": "x"}),
        ),
        (
            "auth/approle/role/new",
            "auth/approle/role/old",
            json!({"token_ttl": "1h"}),
        ),
        (
            "auth/jwt/role/new",
            "auth/jwt/role/old",
            json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["b"]}),
        ),
        (
            "auth/token/roles/new",
            "auth/token/roles/old",
            json!({"orphan": true}),
        ),
    ]
}

/// Paths without an existence check, where every write is an update.
fn unchecked() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    vec![
        (
            "sys/policies/acl/new",
            "sys/policies/acl/default",
            json!({"policy": "path \"*\" { capabilities = [\"sudo\", \"read\"] }"}),
        ),
        ("sys/policy/new2", "sys/policy/old", json!({"policy": RULE})),
        (
            "identity/entity/name/new",
            "identity/entity/name/old",
            json!({"metadata": {"tenant_id": "x"}}),
        ),
    ]
}

async fn outcome(core: &Core, token: &str, path: &str, body: &serde_json::Value) -> &'static str {
    match core.handle_request(write(token, path, body.clone())).await {
        Ok(_) => "ok",
        Err(Error::PermissionDenied) => "denied",
        Err(e) => panic!("{path}: unexpected {e:?}"),
    }
}

#[tokio::test]
async fn create_alone_makes_new_entries_and_never_overwrites() {
    let (core, create, _) = fixture().await;
    for (new, old, body) in cases() {
        assert_eq!(outcome(&core, &create, old, &body).await, "denied", "{old}");
        assert_eq!(outcome(&core, &create, new, &body).await, "ok", "{new}");
        // Now it exists, so a second write is an update.
        assert_eq!(outcome(&core, &create, new, &body).await, "denied", "{new}");
    }
}

#[tokio::test]
async fn update_alone_changes_existing_entries_and_never_creates() {
    let (core, _, update) = fixture().await;
    for (new, old, body) in cases() {
        assert_eq!(outcome(&core, &update, new, &body).await, "denied", "{new}");
        assert_eq!(outcome(&core, &update, old, &body).await, "ok", "{old}");
    }
}

#[tokio::test]
async fn paths_without_an_existence_check_need_update() {
    let (core, create, update) = fixture().await;
    for (new, old, body) in unchecked() {
        assert_eq!(outcome(&core, &create, new, &body).await, "denied", "{new}");
        assert_eq!(outcome(&core, &create, old, &body).await, "denied", "{old}");
        assert_eq!(outcome(&core, &update, new, &body).await, "ok", "{new}");
    }
}

/// The escalation this rule closes: with `create` on `sys/policies/acl/*` alone, a token
/// rewrote `default` to grant itself `sudo` on everything.
#[tokio::test]
async fn create_on_policies_cannot_rewrite_default_into_root() {
    let (core, create, _) = fixture().await;
    let body = json!({"policy": "path \"*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }"});
    assert_eq!(
        outcome(&core, &create, "sys/policies/acl/default", &body).await,
        "denied"
    );
    let default = core
        .handle_request(Request::new(Operation::Read, "sys/policies/acl/default").with_token(ROOT))
        .await
        .unwrap();
    let text = default.data.unwrap()["policy"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!text.contains("sudo"), "default policy was rewritten");
}

/// A KV v2 key whose versions are all destroyed still has metadata, so it exists.
#[tokio::test]
async fn a_destroyed_kv2_key_still_exists() {
    let (core, create, _) = fixture().await;
    root_write(&core, "secret/destroy/old", json!({"versions": [1]})).await;
    let body = json!({"data": {"k": "x"}});
    assert_eq!(
        outcome(&core, &create, "secret/data/old", &body).await,
        "denied"
    );
}
