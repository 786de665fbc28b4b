use std::sync::Arc;

use base64::Engine as _;
use serde_json::json;

use super::*;
use crate::clock::SystemClock;
use crate::logical::fields::into_map;
use crate::physical::InmemBackend;

pub(super) fn b64(k: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(k)
}

pub(super) async fn new_core(backend: Arc<InmemBackend>) -> Arc<Core> {
    Core::new(backend, Arc::new(SystemClock), CoreConfig::default())
        .await
        .unwrap()
}

async fn initialized() -> (Arc<Core>, InitResult, Arc<InmemBackend>) {
    let backend = Arc::new(InmemBackend::new());
    let core = new_core(backend.clone()).await;
    let init = core.initialize(5, 3, None).await.unwrap();
    (core, init, backend)
}

async fn unseal_with(core: &Core, init: &InitResult, idx: &[usize]) {
    for &i in idx {
        core.unseal(&b64(&init.keys[i])).await.unwrap();
    }
}

fn write(token: &str, path: &str, data: serde_json::Value) -> Request {
    Request::new(Operation::Update, path)
        .with_token(token)
        .with_data(into_map(data))
}

#[tokio::test]
async fn init_leaves_the_core_sealed_and_three_keys_unseal_it() {
    let (core, init, _) = initialized().await;
    assert_eq!(init.keys.len(), 5);
    assert!(core.is_initialized() && core.is_sealed());
    unseal_with(&core, &init, &[0, 3]).await;
    assert!(core.is_sealed());
    assert_eq!(core.unseal_progress().0, 2);
    unseal_with(&core, &init, &[4]).await;
    assert!(!core.is_sealed());
}

#[tokio::test]
async fn init_twice_is_refused() {
    let (core, _, _) = initialized().await;
    match core.initialize(5, 3, None).await {
        Err(Error::BadRequest(m)) => assert!(m.contains("already initialized")),
        other => panic!("expected 400, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_malformed_key_is_refused_without_touching_progress() {
    let (core, init, _) = initialized().await;
    unseal_with(&core, &init, &[0]).await;
    for bad in ["zz", "", "AAAA", &hex::encode([1u8; 40])] {
        assert!(
            matches!(core.unseal(bad).await, Err(Error::BadRequest(_))),
            "{bad:?}"
        );
    }
    assert_eq!(core.unseal_progress().0, 1);
}

#[tokio::test]
async fn a_wrong_share_counts_and_reaching_the_threshold_with_it_resets() {
    let (core, init, _) = initialized().await;
    let mut wrong = init.keys[2].to_vec();
    wrong[5] ^= 0xff;
    unseal_with(&core, &init, &[0, 1]).await;
    assert!(matches!(
        core.unseal(&hex::encode(&wrong)).await,
        Err(Error::BadRequest(_))
    ));
    assert!(core.is_sealed());
    assert_eq!(
        core.unseal_progress().0,
        0,
        "progress resets after a failed attempt"
    );
    unseal_with(&core, &init, &[0, 1, 2]).await;
    assert!(!core.is_sealed());
}

#[tokio::test]
async fn seal_drops_keys_and_caches_and_answers_503() {
    let (core, init, _) = initialized().await;
    unseal_with(&core, &init, &[0, 1, 2]).await;
    let token = init.root_token.as_str();
    core.handle_request(write(token, "sys/mounts/kv", json!({"type": "kv-v2"})))
        .await
        .unwrap();
    core.handle_request(write(token, "kv/data/a", json!({"data": {"k": "v"}})))
        .await
        .unwrap();
    let unsealed = core.unsealed().unwrap();
    assert!(unsealed.tokens.cached_entries() > 0);

    core.seal().await.unwrap();
    assert!(core.is_sealed() && core.barrier().is_sealed());
    assert_eq!(
        unsealed.tokens.cached_entries(),
        0,
        "token cache cleared on seal"
    );
    assert!(
        unsealed
            .router
            .read()
            .entries(Table::Secrets)
            .next()
            .is_none(),
        "router dropped on seal"
    );
    let read = Request::new(Operation::Read, "kv/data/a").with_token(token);
    assert!(matches!(
        core.handle_request(read.clone()).await,
        Err(Error::Sealed)
    ));

    unseal_with(&core, &init, &[2, 3, 4]).await;
    let resp = core.handle_request(read).await.unwrap();
    assert_eq!(resp.data.unwrap()["data"]["k"], "v");
}

#[tokio::test]
async fn tokens_are_checked_on_every_request() {
    let (core, init, _) = initialized().await;
    unseal_with(&core, &init, &[0, 1, 2]).await;
    let req = |t: Option<&str>| {
        let r = Request::new(Operation::Read, "sys/mounts");
        match t {
            Some(t) => r.with_token(t),
            None => r,
        }
    };
    assert!(matches!(
        core.handle_request(req(None)).await,
        Err(Error::PermissionDenied)
    ));
    assert!(matches!(
        core.handle_request(req(Some(""))).await,
        Err(Error::PermissionDenied)
    ));
    assert!(matches!(
        core.handle_request(req(Some("s.nope"))).await,
        Err(Error::PermissionDenied)
    ));
    assert!(core
        .handle_request(req(Some(init.root_token.as_str())))
        .await
        .is_ok());
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let (core, init, backend) = initialized().await;
    unseal_with(&core, &init, &[0, 1, 2]).await;
    let token = init.root_token.to_string();
    core.handle_request(write(
        &token,
        "sys/mounts/glassdome",
        json!({"type": "kv", "options": {"version": "2"}}),
    ))
    .await
    .unwrap();
    core.handle_request(write(&token, "glassdome/data/x", json!({"data": {"v": 1}})))
        .await
        .unwrap();
    core.handle_request(write(&token, "glassdome/data/x", json!({"data": {"v": 2}})))
        .await
        .unwrap();
    core.shutdown();
    drop(core);

    let core = new_core(backend).await;
    assert!(core.is_initialized() && core.is_sealed());
    unseal_with(&core, &init, &[4, 2, 0]).await;
    let mut read = Request::new(Operation::Read, "glassdome/data/x").with_token(&token);
    read.data.insert("version".into(), "1".into());
    let resp = core.handle_request(read).await.unwrap();
    assert_eq!(resp.data.unwrap()["data"]["v"], 1);
    let mounts = core.mounts(Table::Secrets).unwrap();
    assert!(mounts
        .iter()
        .any(|m| m.path == "glassdome/" && m.kind == "kv"));
}

#[tokio::test]
async fn mounts_are_enabled_tuned_and_disabled_with_their_data() {
    let (core, init, _) = initialized().await;
    unseal_with(&core, &init, &[0, 1, 2]).await;
    let t = init.root_token.to_string();
    core.handle_request(write(
        &t,
        "sys/mounts/kv1",
        json!({"type": "kv", "options": {"version": "1"}}),
    ))
    .await
    .unwrap();
    let again = core
        .handle_request(write(&t, "sys/mounts/kv1", json!({"type": "kv"})))
        .await;
    assert!(matches!(again, Err(Error::BadRequest(m)) if m.contains("already in use")));
    core.handle_request(write(&t, "kv1/a", json!({"x": "1"})))
        .await
        .unwrap();
    core.handle_request(write(
        &t,
        "sys/mounts/kv1/tune",
        json!({"default_lease_ttl": "1h"}),
    ))
    .await
    .unwrap();
    let resp = core
        .handle_request(Request::new(Operation::Read, "kv1/a").with_token(&t))
        .await
        .unwrap();
    assert_eq!(resp.lease_duration, 3600);

    core.handle_request(Request::new(Operation::Delete, "sys/mounts/kv1").with_token(&t))
        .await
        .unwrap();
    core.handle_request(write(
        &t,
        "sys/mounts/kv1",
        json!({"type": "kv", "options": {"version": "1"}}),
    ))
    .await
    .unwrap();
    let gone = core
        .handle_request(Request::new(Operation::Read, "kv1/a").with_token(&t))
        .await;
    assert!(
        matches!(gone, Err(Error::NotFound)),
        "a re-enabled mount starts empty"
    );
}

#[tokio::test]
async fn a_mount_and_its_tuning_read_by_path() {
    let (core, init, _) = initialized().await;
    unseal_with(&core, &init, &[0, 1, 2]).await;
    let t = init.root_token.to_string();
    let read = |path: &str| core.handle_request(Request::new(Operation::Read, path).with_token(&t));
    core.handle_request(write(
        &t,
        "sys/mounts/kv1",
        json!({"type": "kv", "description": "d"}),
    ))
    .await
    .unwrap();
    let one = read("sys/mounts/kv1/").await.unwrap().data.unwrap();
    assert_eq!(
        (one["type"].as_str(), one["description"].as_str()),
        (Some("kv"), Some("d"))
    );
    let tune = read("sys/mounts/kv1/tune").await.unwrap().data.unwrap();
    assert_eq!(tune["description"], "d");
    match read("sys/mounts/nope").await {
        Err(Error::BadRequest(m)) => assert_eq!(m, "No secret engine mount at nope/"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    match read("sys/mounts/nope/tune").await {
        Err(Error::BadRequest(m)) => assert_eq!(m, "cannot fetch sysview for path \"nope/\""),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn reads_never_see_a_stale_cached_entry() {
    let (core, init, _) = initialized().await;
    unseal_with(&core, &init, &[0, 1, 2]).await;
    let t = init.root_token.to_string();
    let read = |path: &str| Request::new(Operation::Read, path).with_token(&t);
    core.handle_request(write(&t, "sys/mounts/s", json!({"type": "kv-v2"})))
        .await
        .unwrap();
    core.handle_request(write(&t, "s/data/k", json!({"data": {"v": "1"}})))
        .await
        .unwrap();
    // Warm the cache, then change the entry behind it in every way KV can.
    assert_eq!(
        core.handle_request(read("s/data/k"))
            .await
            .unwrap()
            .data
            .unwrap()["data"]["v"],
        "1"
    );
    core.handle_request(write(&t, "s/data/k", json!({"data": {"v": "2"}})))
        .await
        .unwrap();
    assert_eq!(
        core.handle_request(read("s/data/k"))
            .await
            .unwrap()
            .data
            .unwrap()["data"]["v"],
        "2",
        "read after write"
    );

    core.handle_request(write(&t, "s/destroy/k", json!({"versions": [2]})))
        .await
        .unwrap();
    let resp = core.handle_request(read("s/data/k")).await.unwrap();
    assert_eq!(resp.status, Some(404), "read after destroy");
    assert_eq!(resp.data.unwrap()["metadata"]["destroyed"], true);

    core.handle_request(Request::new(Operation::Delete, "s/metadata/k").with_token(&t))
        .await
        .unwrap();
    assert!(
        matches!(
            core.handle_request(read("s/data/k")).await,
            Err(Error::NotFound)
        ),
        "read after delete"
    );
}

mod tokens {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::clock::ManualClock;

    async fn unsealed_with_clock() -> (Arc<Core>, String, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let core = Core::new(
            Arc::new(InmemBackend::new()),
            clock.clone(),
            CoreConfig::default(),
        )
        .await
        .unwrap();
        let init = core.initialize(1, 1, Some("root")).await.unwrap();
        core.unseal(&b64(&init.keys[0])).await.unwrap();
        (core, "root".to_string(), clock)
    }

    async fn create(core: &Core, parent: &str, body: serde_json::Value) -> String {
        create_at(core, parent, "auth/token/create", body).await
    }

    /// Creates a token through `path` (`auth/token/create`, `.../create/<role>`, ...).
    async fn create_at(core: &Core, parent: &str, path: &str, body: serde_json::Value) -> String {
        let resp = core
            .handle_request(write(parent, path, body))
            .await
            .unwrap();
        resp.auth.unwrap()["client_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn lookup_self(token: &str) -> Request {
        Request::new(Operation::Read, "auth/token/lookup-self").with_token(token)
    }

    #[tokio::test]
    async fn a_child_token_has_default_and_its_policies_and_no_more() {
        let (core, root, _) = unsealed_with_clock().await;
        let child = create(
            &core,
            &root,
            json!({"policies": ["P1 "], "meta": {"a": "b"}}),
        )
        .await;
        assert!(child.starts_with("s."));
        let data = core
            .handle_request(lookup_self(&child))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(data["policies"], json!(["default", "p1"]));
        assert_eq!(data["meta"], json!({"a": "b"}));
        assert_eq!(data["id"], child.as_str());
        let denied = core
            .handle_request(Request::new(Operation::Read, "sys/mounts").with_token(&child))
            .await;
        assert!(matches!(denied, Err(Error::PermissionDenied)));
    }

    #[tokio::test]
    async fn revoking_a_parent_revokes_its_children_immediately() {
        let (core, root, _) = unsealed_with_clock().await;
        let parent = create(&core, &root, json!({"policies": ["root"]})).await;
        let child = create(&core, &parent, json!({"policies": ["default"]})).await;
        assert!(core.handle_request(lookup_self(&child)).await.is_ok());
        core.handle_request(write(&root, "auth/token/revoke", json!({"token": parent})))
            .await
            .unwrap();
        for t in [&parent, &child] {
            assert!(matches!(
                core.handle_request(lookup_self(t)).await,
                Err(Error::PermissionDenied)
            ));
        }
    }

    #[tokio::test]
    async fn renewal_never_passes_the_max_ttl_and_expiry_is_enforced() {
        let (core, root, clock) = unsealed_with_clock().await;
        let t = create(
            &core,
            &root,
            json!({"policies": ["p"], "ttl": "1h", "explicit_max_ttl": "24h"}),
        )
        .await;
        clock.advance(Duration::from_secs(3000));
        let renewed = core
            .handle_request(write(
                &t,
                "auth/token/renew-self",
                json!({"increment": "100h"}),
            ))
            .await
            .unwrap();
        let lease = renewed.auth.unwrap()["lease_duration"].as_u64().unwrap();
        assert_eq!(lease, 24 * 3600 - 3000, "capped at the explicit max");
        assert!(renewed.warnings[0].contains("capped"));
        clock.advance(Duration::from_secs(24 * 3600 - 3000 + 1));
        assert!(matches!(
            core.handle_request(lookup_self(&t)).await,
            Err(Error::PermissionDenied)
        ));
    }

    #[tokio::test]
    async fn a_non_root_token_cannot_create_tokens_without_a_grant() {
        let (core, root, _) = unsealed_with_clock().await;
        let parent = create(&core, &root, json!({"policies": ["p1"]})).await;
        // Until ACL policies grant `auth/token/create`, only root tokens may create tokens.
        let resp = core
            .handle_request(write(
                &parent,
                "auth/token/create",
                json!({"policies": ["root"]}),
            ))
            .await;
        assert!(matches!(resp, Err(Error::PermissionDenied)));
    }

    #[tokio::test]
    async fn only_root_or_sudo_chooses_a_token_id_and_never_a_generated_shape() {
        let (core, root, _) = unsealed_with_clock().await;
        let chosen = create(&core, &root, json!({"id": "ci-deploy", "policies": ["p"]})).await;
        assert_eq!(chosen, "ci-deploy");
        let me = core.handle_request(lookup_self("ci-deploy")).await.unwrap();
        assert_eq!(me.data.unwrap()["policies"], json!(["default", "p"]));

        let refused = |body: serde_json::Value, token: &str| {
            let req = write(token, "auth/token/create", body);
            let core = core.clone();
            async move {
                match core.handle_request(req).await {
                    Err(Error::BadRequest(m)) => m,
                    other => panic!("expected a 400, got {other:?}"),
                }
            }
        };
        // As OpenBao 2.x words it.
        for (id, why) in [
            ("s.abc", "custom token ID cannot have the 's.' prefix"),
            ("hvs.abc", "custom token ID cannot have the 'hvs.' prefix"),
            ("a.b", "custom token ID cannot have a '.' in the value"),
            ("ci-deploy", "cannot create a token with a duplicate ID"),
            ("root", "cannot create a token with a duplicate ID"),
        ] {
            assert_eq!(refused(json!({"id": id}), &root).await, why, "{id}");
        }
        // A child with a grant to create tokens is still no root.
        let policy = r#"path "auth/token/create" { capabilities = ["update"] }"#;
        core.handle_request(write(&root, "sys/policy/tc", json!({"policy": policy})))
            .await
            .unwrap();
        let child = create(&core, &root, json!({"policies": ["tc"]})).await;
        assert_eq!(
            refused(json!({"id": "mine"}), &child).await,
            "root or sudo privileges required to specify token id"
        );
        assert!(core.handle_request(lookup_self("mine")).await.is_err());
    }

    #[tokio::test]
    async fn sudo_on_the_create_path_allows_what_root_may_except_root() {
        let (core, root, _) = unsealed_with_clock().await;
        let policy = r#"path "auth/token/create" { capabilities = ["update", "sudo"] }"#;
        core.handle_request(write(&root, "sys/policy/ts", json!({"policy": policy})))
            .await
            .unwrap();
        let admin = create(&core, &root, json!({"policies": ["ts"]})).await;
        // A chosen id, an orphan, and policies the caller does not hold, as in Vault.
        let made = create(
            &core,
            &admin,
            json!({"id": "svc-1", "no_parent": true, "policies": ["other"]}),
        )
        .await;
        assert_eq!(made, "svc-1");
        let me = core
            .handle_request(lookup_self("svc-1"))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(me["policies"], json!(["default", "other"]));
        assert_eq!(me["orphan"], true);
        // Never root, whatever its spelling.
        for p in ["root", "Root "] {
            let resp = core
                .handle_request(write(&admin, "auth/token/create", json!({"policies": [p]})))
                .await;
            assert!(
                matches!(&resp, Err(Error::BadRequest(m)) if m.contains("parent token being root")),
                "{p:?}: {resp:?}"
            );
        }
        // Without sudo: the subset rule and no orphans.
        let policy = r#"path "auth/token/create" { capabilities = ["update"] }"#;
        core.handle_request(write(&root, "sys/policy/ts", json!({"policy": policy})))
            .await
            .unwrap();
        for (body, why) in [
            (
                json!({"policies": ["other"]}),
                "child policies must be subset of parent",
            ),
            (
                json!({"no_parent": true}),
                "root or sudo privileges required to create orphan token",
            ),
        ] {
            let resp = core
                .handle_request(write(&admin, "auth/token/create", body))
                .await;
            assert!(
                matches!(&resp, Err(Error::BadRequest(m)) if m == why),
                "{why}: {resp:?}"
            );
        }
    }

    #[tokio::test]
    async fn limited_use_tokens_stop_after_their_last_use() {
        let (core, root, _) = unsealed_with_clock().await;
        let t = create(&core, &root, json!({"policies": ["p"], "num_uses": 2})).await;
        assert_eq!(
            core.handle_request(lookup_self(&t))
                .await
                .unwrap()
                .data
                .unwrap()["num_uses"],
            1
        );
        assert!(core.handle_request(lookup_self(&t)).await.is_ok());
        assert!(matches!(
            core.handle_request(lookup_self(&t)).await,
            Err(Error::PermissionDenied)
        ));
    }

    #[tokio::test]
    async fn token_roles_bound_what_create_can_hand_out() {
        let (core, root, _) = unsealed_with_clock().await;
        let role = json!({"allowed_policies": ["app"], "orphan": true, "token_period": "1h"});
        core.handle_request(write(&root, "auth/token/roles/svc", role))
            .await
            .unwrap();
        let resp = core
            .handle_request(write(&root, "auth/token/create/svc", json!({})))
            .await
            .unwrap();
        let auth = resp.auth.unwrap();
        assert_eq!(auth["policies"], json!(["app", "default"]));
        assert_eq!(auth["orphan"], true);
        assert_eq!(auth["lease_duration"], 3600);
        let denied = core
            .handle_request(write(
                &root,
                "auth/token/create/svc",
                json!({"policies": ["other"]}),
            ))
            .await;
        assert!(matches!(denied, Err(Error::BadRequest(_))));
        let root_role = core
            .handle_request(write(
                &root,
                "auth/token/roles/bad",
                json!({"allowed_policies": ["Root"]}),
            ))
            .await;
        assert!(matches!(root_role, Err(Error::BadRequest(_))));
        let read = core
            .handle_request(Request::new(Operation::Read, "auth/token/roles/svc").with_token(&root))
            .await
            .unwrap();
        assert_eq!(read.data.unwrap()["token_period"], 3600);
    }

    #[tokio::test]
    async fn a_role_without_policy_lists_keeps_the_parent_subset_rule() {
        let (core, root, _) = unsealed_with_clock().await;
        let maker = r#"path "auth/token/create/*" { capabilities = ["update"] }"#;
        core.handle_request(write(&root, "sys/policy/maker", json!({"policy": maker})))
            .await
            .unwrap();
        for (role, body) in [
            ("free", json!({})),
            ("deny", json!({"disallowed_policies": ["admin"]})),
            ("allow", json!({"allowed_policies": ["other"]})),
        ] {
            core.handle_request(write(&root, &format!("auth/token/roles/{role}"), body))
                .await
                .unwrap();
        }
        let parent = create(&core, &root, json!({"policies": ["maker"]})).await;
        let through = |role: &str, body: serde_json::Value| {
            let req = write(&parent, &format!("auth/token/create/{role}"), body);
            let core = core.clone();
            async move {
                match core.handle_request(req).await {
                    Ok(resp) => Ok(resp.auth.unwrap()["policies"].clone()),
                    Err(Error::BadRequest(m)) => Err(m),
                    Err(e) => panic!("{e:?}"),
                }
            }
        };
        // What OpenBao 2.x answers to the same requests.
        let subset = "token policies ([\"default\" \"maker\"]) must be subset of the role's allowed policies ([\"default\" \"other\"]) or glob policies ([])";
        for (role, body, want) in [
            (
                "free",
                json!({"policies": ["admin"]}),
                Err("child policies must be subset of parent"),
            ),
            ("free", json!({}), Ok(json!(["default", "maker"]))),
            (
                "deny",
                json!({"policies": ["other"]}),
                Ok(json!(["default", "other"])),
            ),
            (
                "deny",
                json!({"policies": ["admin"]}),
                Err("token policy \"admin\" is disallowed by this role"),
            ),
            (
                "deny",
                json!({"policies": ["root"]}),
                Err("root tokens may not be created without parent token being root"),
            ),
            ("allow", json!({}), Ok(json!(["default", "other"]))),
            ("allow", json!({"policies": ["maker"]}), Err(subset)),
            (
                "allow",
                json!({"no_default_policy": true}),
                Ok(json!(["other"])),
            ),
        ] {
            let want = want.map_err(str::to_string);
            assert_eq!(through(role, body.clone()).await, want, "{role} {body}");
        }
    }

    #[tokio::test]
    async fn lookups_show_the_role_and_a_sanitized_display_name() {
        let (core, root, _) = unsealed_with_clock().await;
        core.handle_request(write(
            &root,
            "auth/token/roles/ci",
            json!({"path_suffix": "rev1"}),
        ))
        .await
        .unwrap();
        let lookup = |token: String| {
            let core = core.clone();
            async move {
                core.handle_request(lookup_self(&token))
                    .await
                    .unwrap()
                    .data
                    .unwrap()
            }
        };
        let token = create_at(
            &core,
            &root,
            "auth/token/create/ci",
            json!({"display_name": "CI job.1"}),
        )
        .await;
        let got = lookup(token).await;
        assert_eq!(got["role"], "ci");
        assert_eq!(got["path"], "auth/token/create/ci/rev1");
        assert_eq!(got["display_name"], "token-CI-job-1");
        let plain = create(&core, &root, json!({"display_name": "token-x!"})).await;
        let got = lookup(plain).await;
        assert!(got.get("role").is_none());
        assert_eq!(got["display_name"], "token-token-x");
    }

    #[tokio::test]
    async fn accessors_look_up_and_revoke_without_revealing_the_token() {
        let (core, root, _) = unsealed_with_clock().await;
        let resp = core
            .handle_request(write(
                &root,
                "auth/token/create",
                json!({"policies": ["p"]}),
            ))
            .await
            .unwrap();
        let auth = resp.auth.unwrap();
        let (token, accessor) = (
            auth["client_token"].as_str().unwrap(),
            auth["accessor"].as_str().unwrap(),
        );
        let data = core
            .handle_request(write(
                &root,
                "auth/token/lookup-accessor",
                json!({"accessor": accessor}),
            ))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(data["id"], "");
        core.handle_request(write(
            &root,
            "auth/token/revoke-accessor",
            json!({"accessor": accessor}),
        ))
        .await
        .unwrap();
        assert!(core.handle_request(lookup_self(token)).await.is_err());
    }
}

#[tokio::test]
async fn auth_mounts_live_in_their_own_table() {
    let (core, init, _) = initialized().await;
    unseal_with(&core, &init, &[0, 1, 2]).await;
    let t = init.root_token.to_string();
    let list = |path: &str| Request::new(Operation::Read, path).with_token(&t);
    let auth = core
        .handle_request(list("sys/auth"))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(auth["token/"]["type"], "token");
    assert!(auth["token/"]["accessor"]
        .as_str()
        .unwrap()
        .starts_with("auth_token_"));
    let secrets = core
        .handle_request(list("sys/mounts"))
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(secrets.get("token/").is_none() && secrets.get("sys/").is_some());
    let refused = core
        .handle_request(Request::new(Operation::Delete, "sys/auth/token").with_token(&t))
        .await;
    assert!(matches!(refused, Err(Error::BadRequest(_))));
    let unknown = core
        .handle_request(write(&t, "sys/auth/x", json!({"type": "nope"})))
        .await;
    assert!(matches!(unknown, Err(Error::BadRequest(m)) if m.contains("plugin not found")));
}

#[tokio::test]
async fn writes_to_folder_paths_are_refused_before_any_backend() {
    let (core, init, _) = initialized().await;
    unseal_with(&core, &init, &[0, 1, 2]).await;
    let t = init.root_token.to_string();
    for kind in ["jwt", "kubernetes", "approle", "userpass"] {
        core.handle_request(write(
            &t,
            &format!("sys/auth/{kind}"),
            json!({"type": kind}),
        ))
        .await
        .unwrap();
    }
    core.handle_request(write(&t, "sys/mounts/kv", json!({"type": "kv"})))
        .await
        .unwrap();
    core.handle_request(write(
        &t,
        "auth/approle/role/r",
        json!({"bind_secret_id": true}),
    ))
    .await
    .unwrap();
    let refused = |resp: Result<Response, Error>| matches!(resp, Err(Error::BadRequest(m)) if m == "cannot write to a path ending in '/'");
    for path in [
        "auth/jwt/role/",
        "auth/jwt/config/",
        "auth/jwt/login/",
        "auth/kubernetes/role/",
        "auth/kubernetes/config/",
        "auth/kubernetes/login/",
        "auth/userpass/users/",
        "auth/userpass/users/a/",
        "auth/userpass/login/",
        "auth/userpass/login/a/",
        "auth/approle/role/",
        "auth/approle/role/r/secret-id/",
        "auth/approle/role/r/secret-id/lookup/",
        "auth/approle/login/",
        "kv/dir/",
    ] {
        for op in [Operation::Update, Operation::Patch] {
            let body = into_map(json!({"password": "x", "secret_id": "s"}));
            let with_token = Request::new(op, path)
                .with_token(&t)
                .with_data(body.clone());
            assert!(
                refused(core.handle_request(with_token).await),
                "{op:?} {path}"
            );
            // Login paths answer without a token, but the check comes first.
            let anonymous = Request::new(op, path).with_data(body);
            assert!(
                refused(core.handle_request(anonymous).await),
                "{op:?} {path}"
            );
        }
    }
    // Nothing reached the backend: the role still has no secret-id. A LIST keeps its slash.
    let listed = core
        .handle_request(
            Request::new(Operation::List, "auth/approle/role/r/secret-id/").with_token(&t),
        )
        .await;
    assert!(
        matches!(listed, Err(Error::NotFound)),
        "no secret-id was generated"
    );
}

#[tokio::test]
async fn entities_and_groups_keep_their_name_index_in_step() {
    let (core, init, _) = initialized().await;
    unseal_with(&core, &init, &[0, 1, 2]).await;
    let t = init.root_token.to_string();
    let call = |op: Operation, path: &str, body: serde_json::Value| {
        core.handle_request(
            Request::new(op, path)
                .with_token(&t)
                .with_data(into_map(body)),
        )
    };
    for kind in ["entity", "group"] {
        let created = call(
            Operation::Update,
            &format!("identity/{kind}"),
            json!({"name": "a"}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["name"], "a");
        call(
            Operation::Update,
            &format!("identity/{kind}"),
            json!({"name": "b"}),
        )
        .await
        .unwrap();
        let taken = call(
            Operation::Update,
            &format!("identity/{kind}/id/{id}"),
            json!({"name": "b"}),
        )
        .await;
        assert!(
            matches!(&taken, Err(Error::BadRequest(m)) if m == &format!("{kind} name is already in use")),
            "{kind}"
        );
        let root = call(
            Operation::Update,
            &format!("identity/{kind}/id/{id}"),
            json!({"policies": ["P", "Root"]}),
        )
        .await;
        assert!(
            matches!(&root, Err(Error::BadRequest(m)) if m == "policies cannot include root"),
            "{kind}"
        );
        // Writing its own name again and renaming it both keep exactly one index entry.
        call(
            Operation::Update,
            &format!("identity/{kind}/id/{id}"),
            json!({"name": "a", "policies": "P, q"}),
        )
        .await
        .unwrap();
        call(
            Operation::Update,
            &format!("identity/{kind}/id/{id}"),
            json!({"name": "c"}),
        )
        .await
        .unwrap();
        let names = call(Operation::List, &format!("identity/{kind}/name"), json!({}))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(names["keys"], json!(["b", "c"]), "{kind}");
        let read = call(
            Operation::Read,
            &format!("identity/{kind}/name/c"),
            json!({}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
        assert_eq!(read["id"], id.as_str());
        assert_eq!(read["policies"], json!(["p", "q"]), "{kind}");
        assert!(matches!(
            call(
                Operation::Read,
                &format!("identity/{kind}/name/a"),
                json!({})
            )
            .await,
            Err(Error::NotFound)
        ));
        // A write by a new name creates the record under that name.
        let made = call(
            Operation::Update,
            &format!("identity/{kind}/name/d"),
            json!({}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
        assert_eq!(made["name"], "d", "{kind}");
    }
}

mod login {
    use super::*;
    use crate::core::mounts::Mounted;
    use crate::logical::{Auth, IpNet, Storage};

    /// An auth method that logs anyone in with the policies it is asked for.
    struct Permissive;

    #[async_trait::async_trait]
    impl Backend for Permissive {
        async fn handle(&self, req: &Request, _: &dyn Storage) -> Result<Response, Error> {
            let policies = req.data["policies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            Ok(Response {
                login: Some(Auth {
                    policies,
                    display_name: "alice".into(),
                    ttl: 3600,
                    bound_cidrs: req
                        .data
                        .get("cidr")
                        .map(|c| vec![IpNet::parse(c.as_str().unwrap()).unwrap()])
                        .unwrap_or_default(),
                    ..Auth::default()
                }),
                ..Response::default()
            })
        }

        fn unauthenticated_paths(&self) -> &'static [&'static str] {
            &["login"]
        }
    }

    async fn with_method() -> Arc<Core> {
        let (core, init, _) = initialized().await;
        unseal_with(&core, &init, &[0, 1, 2]).await;
        let entry = MountEntry::new(Table::Auth, "test/", "test", "", None);
        core.unsealed().unwrap().router.write().insert(Mounted {
            entry,
            backend: Arc::new(Permissive),
        });
        core
    }

    async fn login(core: &Core, body: serde_json::Value) -> Result<Response, Error> {
        let mut req = Request::new(Operation::Update, "auth/test/login").with_data(into_map(body));
        req.remote_addr = Some("10.0.0.5".parse().unwrap());
        core.handle_request(req).await
    }

    #[tokio::test]
    async fn a_login_mints_an_orphan_token_with_default_added() {
        let core = with_method().await;
        let auth = login(&core, json!({"policies": ["Tenant"]}))
            .await
            .unwrap()
            .auth
            .unwrap();
        assert_eq!(auth["policies"], json!(["default", "tenant"]));
        assert_eq!(auth["lease_duration"], 3600);
        assert_eq!(auth["orphan"], true);
        let token = auth["client_token"].as_str().unwrap();
        let me = core
            .handle_request(
                Request::new(Operation::Read, "auth/token/lookup-self").with_token(token),
            )
            .await
            .unwrap();
        assert_eq!(me.data.unwrap()["display_name"], "test-alice");
    }

    #[tokio::test]
    async fn no_auth_method_can_hand_out_root() {
        let core = with_method().await;
        for p in ["root", "Root", " root", "root "] {
            assert!(
                matches!(
                    login(&core, json!({"policies": [p]})).await,
                    Err(Error::PermissionDenied)
                ),
                "{p:?}"
            );
        }
    }

    #[tokio::test]
    async fn bound_cidrs_are_enforced_on_every_use() {
        let core = with_method().await;
        let auth = login(&core, json!({"policies": ["p"], "cidr": "192.168.0.0/16"}))
            .await
            .unwrap()
            .auth
            .unwrap();
        let token = auth["client_token"].as_str().unwrap();
        let mut req = Request::new(Operation::Read, "auth/token/lookup-self").with_token(token);
        req.remote_addr = Some("10.0.0.5".parse().unwrap());
        assert!(matches!(
            core.handle_request(req.clone()).await,
            Err(Error::PermissionDenied)
        ));
        req.remote_addr = Some("192.168.3.4".parse().unwrap());
        assert!(core.handle_request(req).await.is_ok());
    }
}

/// Built ACLs are cached between requests; every kind of write they depend on must still
/// apply to the very next request.
mod acl_cache {
    use super::*;

    struct Tenant {
        core: Arc<Core>,
        root: String,
        token: String,
        entity: String,
    }

    impl Tenant {
        async fn root_write(&self, path: &str, body: serde_json::Value) {
            self.core
                .handle_request(write(&self.root, path, body))
                .await
                .unwrap();
        }

        async fn policy(&self, name: &str, text: &str) {
            self.root_write(&format!("sys/policy/{name}"), json!({ "policy": text }))
                .await;
        }

        async fn can_read(&self, path: &str) -> bool {
            let req = Request::new(Operation::Read, path).with_token(&self.token);
            match self.core.handle_request(req).await {
                Ok(_) => true,
                Err(Error::PermissionDenied) => false,
                Err(e) => panic!("{path}: {e:?}"),
            }
        }
    }

    /// A userpass login (so with an entity) holding policy `p`, and KV secrets to read.
    async fn tenant() -> Tenant {
        let (core, init, _) = initialized().await;
        unseal_with(&core, &init, &[0, 1, 2]).await;
        let root = init.root_token.to_string();
        let mut t = Tenant {
            core,
            root,
            token: String::new(),
            entity: String::new(),
        };
        t.root_write("sys/mounts/kv", json!({"type": "kv"})).await;
        for path in ["kv/a/x", "kv/b/x", "kv/t/acme/x"] {
            t.root_write(path, json!({"v": "1"})).await;
        }
        t.root_write("sys/auth/userpass", json!({"type": "userpass"}))
            .await;
        t.root_write(
            "auth/userpass/users/alice",
            json!({"password": "pw", "policies": "p"}),
        )
        .await;
        t.policy("p", r#"path "kv/a/*" { capabilities = ["read"] }"#)
            .await;
        let login = Request::new(Operation::Update, "auth/userpass/login/alice")
            .with_data(into_map(json!({"password": "pw"})));
        let auth = t.core.handle_request(login).await.unwrap().auth.unwrap();
        t.token = auth["client_token"].as_str().unwrap().to_string();
        t.entity = auth["entity_id"].as_str().unwrap().to_string();
        t
    }

    #[tokio::test]
    async fn a_rewritten_or_deleted_policy_applies_to_the_next_request() {
        let t = tenant().await;
        assert!(t.can_read("kv/a/x").await && t.can_read("kv/a/x").await);
        assert!(!t.can_read("kv/b/x").await);
        t.policy("p", r#"path "kv/b/*" { capabilities = ["read"] }"#)
            .await;
        assert!(!t.can_read("kv/a/x").await);
        assert!(t.can_read("kv/b/x").await);
        let delete = Request::new(Operation::Delete, "sys/policy/p").with_token(&t.root);
        t.core.handle_request(delete).await.unwrap();
        assert!(!t.can_read("kv/b/x").await);
    }

    #[tokio::test]
    async fn entity_and_group_writes_apply_to_the_next_request() {
        let t = tenant().await;
        t.policy("q", r#"path "kv/b/*" { capabilities = ["read"] }"#)
            .await;
        let entity = format!("identity/entity/id/{}", t.entity);
        assert!(!t.can_read("kv/b/x").await);
        t.root_write(&entity, json!({"policies": ["q"]})).await;
        assert!(t.can_read("kv/b/x").await);
        t.root_write(&entity, json!({"policies": []})).await;
        assert!(!t.can_read("kv/b/x").await);

        t.root_write(
            "identity/group/name/readers",
            json!({"policies": ["q"], "member_entity_ids": [t.entity]}),
        )
        .await;
        assert!(t.can_read("kv/b/x").await);
        let delete =
            Request::new(Operation::Delete, "identity/group/name/readers").with_token(&t.root);
        t.core.handle_request(delete).await.unwrap();
        assert!(!t.can_read("kv/b/x").await);

        assert!(t.can_read("kv/a/x").await);
        t.root_write(&entity, json!({"disabled": true})).await;
        assert!(!t.can_read("kv/a/x").await);
        t.root_write(&entity, json!({"disabled": false})).await;
        assert!(t.can_read("kv/a/x").await);
        // A token whose entity is deleted may do nothing, as in Vault.
        let delete = Request::new(Operation::Delete, &entity).with_token(&t.root);
        t.core.handle_request(delete).await.unwrap();
        assert!(!t.can_read("kv/a/x").await);
    }

    #[tokio::test]
    async fn templated_rules_follow_the_entity_metadata() {
        let t = tenant().await;
        t.policy(
            "p",
            r#"path "kv/t/{{identity.entity.metadata.tenant}}/*" { capabilities = ["read"] }"#,
        )
        .await;
        let entity = format!("identity/entity/id/{}", t.entity);
        t.root_write(&entity, json!({"metadata": {"tenant": "acme"}}))
            .await;
        assert!(t.can_read("kv/t/acme/x").await);
        t.root_write(&entity, json!({"metadata": {"tenant": "other"}}))
            .await;
        assert!(!t.can_read("kv/t/acme/x").await);
    }
}

/// `identity/` is a mount like Vault's: listed, routed as any other, and neither mountable
/// nor removable; a table from before it was a mount gets it on unseal, once.
#[tokio::test]
async fn the_identity_store_is_an_ordinary_mount() {
    let t = test_support::unsealed_core().await;
    let root = test_support::ROOT;
    let listed = t.root(Operation::Read, "sys/mounts", json!({})).await;
    let identity = listed.data.unwrap()["identity/"].clone();
    assert_eq!(identity["type"], "identity");
    assert_eq!(identity["description"], "identity store");
    assert!(identity.get("deprecation_status").is_none());
    let accessor = identity["accessor"].as_str().unwrap().to_string();
    assert!(accessor.starts_with("identity_"), "{accessor}");

    let created = t
        .root(Operation::Update, "identity/entity", json!({"name": "e1"}))
        .await;
    assert!(created.data.unwrap()["id"].is_string());
    let refused = t.write(root, "sys/mounts/identity", json!({})).await;
    assert!(matches!(refused, Err(Error::BadRequest(_))));
    match t
        .call(root, Operation::Delete, "sys/mounts/identity", json!({}))
        .await
    {
        Err(Error::BadRequest(m)) => assert_eq!(m, "cannot unmount \"identity/\""),
        other => panic!("expected 400, got {:?}", other.map(|_| ())),
    }
    for kind in ["identity", "system"] {
        match t
            .write(root, "sys/mounts/again", json!({ "type": kind }))
            .await
        {
            Err(Error::BadRequest(m)) => {
                assert_eq!(m, format!("mount type of \"{kind}\" is not mountable"))
            }
            other => panic!("{kind}: expected 400, got {:?}", other.map(|_| ())),
        }
    }

    // A table without it (as written before) gets it on the next unseal, and keeps it.
    let unsealed = t.core.unsealed().unwrap();
    let without: Vec<MountEntry> = unsealed
        .router
        .read()
        .entries(Table::Secrets)
        .filter(|e| e.kind != "identity")
        .cloned()
        .collect();
    drop(unsealed);
    t.core
        .persist_mount_table(Table::Secrets, &without)
        .await
        .unwrap();
    let mut accessors = Vec::new();
    for _ in 0..2 {
        t.core.seal().await.unwrap();
        t.core.unseal(&t.keys[0]).await.unwrap();
        let listed = t.root(Operation::Read, "sys/mounts", json!({})).await;
        accessors.push(listed.data.unwrap()["identity/"]["accessor"].clone());
    }
    assert!(accessors[0].is_string());
    assert_eq!(accessors[0], accessors[1], "added once, then kept");
    // The entity written before is still there: the store's data did not move.
    let read = t
        .root(Operation::Read, "identity/entity/name/e1", json!({}))
        .await;
    assert_eq!(read.data.unwrap()["name"], "e1");
}
