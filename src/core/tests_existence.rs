//! Vault's create/update rule: a write is a `create` when the backend's existence check finds
//! nothing, an `update` when it finds the entry, and always an `update` on paths without a
//! check. The answers here are OpenBao 2.7's (`test_existence_differential.py` asks both).

use std::sync::Arc;

use serde_json::json;

use super::test_support::{unsealed_core, ROOT};
use super::*;
use crate::logical::fields::into_map;

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

/// A core with a KV v1 mount at `kv1/`, KV v2 at `secret/`, userpass, AppRole and JWT, one
/// existing entry on every path of [`PATHS`] (named `old`), and a token holding only `create`
/// and one holding only `update` on all of them.
async fn fixture() -> (Arc<Core>, String, String) {
    let t = unsealed_core().await;
    let setup = [
        ("sys/mounts/kv1", json!({"type": "kv"})),
        ("sys/mounts/secret", json!({"type": "kv-v2"})),
        ("sys/auth/userpass", json!({"type": "userpass"})),
        ("sys/auth/approle", json!({"type": "approle"})),
        ("sys/auth/jwt", json!({"type": "jwt"})),
        ("kv1/old", json!({"k": "v"})),
        ("secret/data/old", json!({"data": {"k": "v"}})),
        ("secret/data/meta-old", json!({"data": {"k": "v"}})),
        ("sys/policies/acl/old", json!({"policy": RULE})),
        ("sys/policy/old", json!({"policy": RULE})),
        ("auth/userpass/users/old", json!({"password": "pw"})),
        ("auth/approle/role/old", json!({})),
        (
            "auth/jwt/role/old",
            json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["a"]}),
        ),
        ("auth/token/roles/old", json!({})),
        ("identity/entity/name/old", json!({})),
    ];
    for (path, body) in setup {
        t.root(Operation::Update, path, body).await;
    }
    let mut tokens = Vec::new();
    for cap in ["create", "update"] {
        let rules: String = PATHS
            .iter()
            .map(|p| format!("path \"{p}\" {{ capabilities = [\"{cap}\"] }}\n"))
            .collect();
        let name = format!("{cap}-only");
        t.root(
            Operation::Update,
            &format!("sys/policies/acl/{name}"),
            json!({ "policy": rules }),
        )
        .await;
        tokens.push(t.token(ROOT, json!({ "policies": [name] })).await);
    }
    let update = tokens.pop().unwrap();
    let create = tokens.pop().unwrap();
    (t.core, create, update)
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
    core.handle_request(write(ROOT, "secret/destroy/old", json!({"versions": [1]})))
        .await
        .unwrap();
    let body = json!({"data": {"k": "x"}});
    assert_eq!(
        outcome(&core, &create, "secret/data/old", &body).await,
        "denied"
    );
}
