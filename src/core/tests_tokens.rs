//! Token limits (issue 8, section 2): periodic tokens, duration bounds, expiry of a parent,
//! limited-use parents, entity inheritance and CIDR bindings on every use, through the core.
//! The cache race is tested beside the store, in `tokens.rs`.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::logical::fields::into_map;

use super::test_support::{unsealed_core, TestCore, ROOT};

/// The token store's own questions, on top of the shared test core.
impl TestCore {
    async fn create(&self, parent: &str, body: Value) -> Result<Response, Error> {
        self.write(parent, "auth/token/create", body).await
    }

    async fn lookup_self(&self, token: &str) -> Result<Response, Error> {
        self.call(token, Operation::Read, "auth/token/lookup-self", json!({}))
            .await
    }

    async fn policy(&self, name: &str, text: &str) {
        self.write(
            ROOT,
            &format!("sys/policy/{name}"),
            json!({ "policy": text }),
        )
        .await
        .unwrap();
    }

    async fn stored_tokens(&self) -> usize {
        let unsealed = self.core.unsealed().unwrap();
        unsealed.tokens.all_keys().await.unwrap().len()
    }
}

fn bad_request(r: Result<Response, Error>) -> String {
    match r {
        Err(Error::BadRequest(m)) => m,
        other => panic!("expected 400, got {:?}", other.map(|r| r.warnings)),
    }
}

const CREATE_ONLY: &str = r#"path "auth/token/create*" { capabilities = ["update"] }"#;

#[tokio::test]
async fn a_periodic_token_needs_root_or_sudo() {
    let f = unsealed_core().await;
    f.policy("creator", CREATE_ONLY).await;
    let creator = f.token(ROOT, json!({"policies": ["creator"]})).await;
    let m = bad_request(
        f.create(&creator, json!({"period": "1h", "policies": ["creator"]}))
            .await,
    );
    assert_eq!(
        m,
        "root or sudo privileges required to create periodic token"
    );
    // The 100-year orphan of the report, through create-orphan.
    f.policy(
        "orphaner",
        r#"path "auth/token/create-orphan" { capabilities = ["update"] }"#,
    )
    .await;
    let orphaner = f.token(ROOT, json!({"policies": ["orphaner"]})).await;
    let m = bad_request(
        f.write(
            &orphaner,
            "auth/token/create-orphan",
            json!({"period": "876000h", "policies": ["orphaner"]}),
        )
        .await,
    );
    assert_eq!(
        m,
        "root or sudo privileges required to create periodic token"
    );
    // A zero period is no period.
    assert!(f
        .create(&creator, json!({"period": 0, "policies": ["creator"]}))
        .await
        .is_ok());

    // With sudo on the create path it is allowed.
    f.policy(
        "sudo-creator",
        r#"path "auth/token/create" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    let sudo = f.token(ROOT, json!({"policies": ["sudo-creator"]})).await;
    let resp = f
        .create(&sudo, json!({"period": "1h", "policies": ["sudo-creator"]}))
        .await
        .unwrap();
    assert_eq!(resp.auth.unwrap()["lease_duration"], 3600);
}

#[tokio::test]
async fn a_period_is_capped_at_the_max_ttl_with_vaults_warning() {
    let f = unsealed_core().await;
    // OpenBao 2.7.2, `period=9223372036` (the largest it accepts) and `100000h` by root.
    let resp = f
        .create(ROOT, json!({"period": "9223372036"}))
        .await
        .unwrap();
    assert_eq!(
        resp.warnings,
        vec!["period of \"2562047h47m16s\" exceeded the effective max_ttl of \"768h\"; period value is capped accordingly"]
    );
    assert_eq!(resp.auth.unwrap()["lease_duration"], 768 * 3600);
    let resp = f.create(ROOT, json!({"period": "100000h"})).await.unwrap();
    assert_eq!(
        resp.warnings,
        vec!["period of \"100000h\" exceeded the effective max_ttl of \"768h\"; period value is capped accordingly"]
    );
    // The token mount's own max TTL caps it too.
    f.write(ROOT, "sys/auth/token/tune", json!({"max_lease_ttl": "2h"}))
        .await
        .unwrap();
    let resp = f.create(ROOT, json!({"period": "3h"})).await.unwrap();
    assert_eq!(
        resp.warnings,
        vec!["period of \"3h\" exceeded the effective max_ttl of \"2h\"; period value is capped accordingly"]
    );
    assert_eq!(resp.auth.unwrap()["lease_duration"], 7200);
    // And a TTL beyond it, with the TTL warning.
    let resp = f.create(ROOT, json!({"ttl": "3h"})).await.unwrap();
    assert_eq!(
        resp.warnings,
        vec!["TTL of \"3h\" exceeded the effective max_ttl of \"2h\"; TTL value is capped accordingly"]
    );
}

#[tokio::test]
async fn durations_beyond_gos_range_are_400_and_lookup_never_panics() {
    let f = unsealed_core().await;
    let overflow = "multiplication of durations resulted in overflow, one operand may be too large";
    for body in [
        json!({"period": "9223372036854775807"}),
        json!({"period": 9_223_372_037_u64}),
        json!({"ttl": "9223372036854775807"}),
        json!({"explicit_max_ttl": "9223372036854775807"}),
        json!({"ttl": "106752d"}),
    ] {
        assert_eq!(
            bad_request(f.create(ROOT, body.clone()).await),
            overflow,
            "{body}"
        );
    }
    assert_eq!(
        bad_request(f.create(ROOT, json!({"ttl": "2562048h"})).await),
        "time: invalid duration \"2562048h\""
    );
    assert_eq!(
        bad_request(f.create(ROOT, json!({"ttl": "-1"})).await),
        "ttl must be positive"
    );
    // The largest accepted values make tokens whose lookup answers.
    for body in [
        json!({"period": "9223372036"}),
        json!({"explicit_max_ttl": "9223372036"}),
        json!({"ttl": "9223372036", "explicit_max_ttl": "9223372036"}),
    ] {
        let t = f.token(ROOT, body.clone()).await;
        let me = f.lookup_self(&t).await.unwrap();
        assert!(me.data.unwrap()["ttl"].as_u64().unwrap() > 0, "{body}");
    }
    // Renewing such a token near the end of time does not wrap either.
    let t = f.token(ROOT, json!({"period": "9223372036"})).await;
    f.write(
        &t,
        "auth/token/renew-self",
        json!({"increment": "9223372036"}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_limited_use_token_cannot_create_tokens() {
    let f = unsealed_core().await;
    f.policy("creator", CREATE_ONLY).await;
    let limited = f
        .token(ROOT, json!({"policies": ["creator"], "num_uses": 5}))
        .await;
    let m = bad_request(f.create(&limited, json!({"policies": ["creator"]})).await);
    assert_eq!(m, "restricted use token cannot generate child tokens");
    let m = bad_request(
        f.write(&limited, "auth/token/create-orphan", json!({}))
            .await,
    );
    assert_eq!(m, "restricted use token cannot generate child tokens");
}

#[tokio::test]
async fn a_child_dies_with_its_expired_parent_at_once_and_is_revoked_by_the_sweep() {
    let f = unsealed_core().await;
    f.policy("creator", CREATE_ONLY).await;
    let parent = f
        .token(ROOT, json!({"ttl": "1h", "policies": ["creator"]}))
        .await;
    let child = f.token(&parent, json!({"ttl": "10h"})).await;
    let grandchild = f.token(&child, json!({"ttl": "10h"})).await;
    let other = f.token(ROOT, json!({"ttl": "10h"})).await;
    assert!(f.lookup_self(&grandchild).await.is_ok());
    f.clock.advance(Duration::from_secs(3601));
    // Lazily: refused before any sweep.
    for t in [&parent, &child, &grandchild] {
        assert!(matches!(
            f.lookup_self(t).await,
            Err(Error::PermissionDenied)
        ));
    }
    let lookup = f
        .write(ROOT, "auth/token/lookup", json!({ "token": child }))
        .await;
    assert_eq!(bad_request(lookup), "bad token");
    assert!(f.lookup_self(&other).await.is_ok());

    // The sweep revokes the whole subtree in storage.
    let before = f.stored_tokens().await;
    let tokens = &f.core.unsealed().unwrap().tokens;
    assert_eq!(expiration::sweep(tokens).await.unwrap(), 1);
    assert_eq!(f.stored_tokens().await, before - 3);
    assert_eq!(expiration::sweep(tokens).await.unwrap(), 0);
    assert!(f.lookup_self(&other).await.is_ok());
}

#[tokio::test]
async fn the_sweep_survives_a_restart() {
    let f = unsealed_core().await;
    f.policy("creator", CREATE_ONLY).await;
    let parent = f
        .token(ROOT, json!({"ttl": "1h", "policies": ["creator"]}))
        .await;
    f.token(&parent, json!({"ttl": "5h"})).await;
    let renewed = f.token(ROOT, json!({"ttl": "1h"})).await;
    f.write(
        &renewed,
        "auth/token/renew-self",
        json!({"increment": "3h"}),
    )
    .await
    .unwrap();
    let count = f.stored_tokens().await;

    // Restart: a new core over the same storage, unsealed later than the expiry.
    f.core.shutdown();
    let core = Core::new(f.backend.clone(), f.clock.clone(), CoreConfig::default())
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(2 * 3600));
    core.unseal(&f.keys[0]).await.unwrap();
    let tokens = &core.unsealed().unwrap().tokens;
    assert_eq!(expiration::sweep(tokens).await.unwrap(), 1);
    // The parent and its child are gone; the renewed token (its index moved) is not.
    assert_eq!(tokens.all_keys().await.unwrap().len(), count - 2);
    let me = core
        .handle_request(
            Request::new(Operation::Read, "auth/token/lookup-self").with_token(&renewed),
        )
        .await;
    assert!(me.is_ok());
}

#[tokio::test]
async fn tokens_stored_before_the_index_are_indexed_on_unseal() {
    let f = unsealed_core().await;
    let t = f.token(ROOT, json!({"ttl": "1h"})).await;
    let tokens = &f.core.unsealed().unwrap().tokens;
    // As a store from before the index: no index entries and no marker.
    let storage = tokens.storage();
    for b in storage.list("expire/").await.unwrap() {
        for k in storage.list(&format!("expire/{b}")).await.unwrap() {
            storage.delete(&format!("expire/{b}{k}")).await.unwrap();
        }
    }
    storage.delete("expire-index-built").await.unwrap();
    let reopened = TokenStore::open(
        Arc::new(f.core.barrier.view(TOKEN_STORE_PREFIX)),
        f.clock.clone(),
    )
    .await
    .unwrap();
    f.clock.advance(Duration::from_secs(3601));
    assert_eq!(expiration::sweep(&reopened).await.unwrap(), 1);
    assert!(reopened.lookup(&t).await.unwrap().is_none());
    assert!(reopened
        .read_raw(&reopened.key_of(&t))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_child_acts_for_its_parents_entity() {
    let f = unsealed_core().await;
    f.write(ROOT, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    f.write(ROOT, "kv/t/acme/x", json!({"v": "1"}))
        .await
        .unwrap();
    f.write(ROOT, "sys/auth/userpass", json!({"type": "userpass"}))
        .await
        .unwrap();
    f.write(
        ROOT,
        "auth/userpass/users/alice",
        json!({"password": "pw", "policies": "p"}),
    )
    .await
    .unwrap();
    f.policy(
        "p",
        r#"path "kv/t/{{identity.entity.metadata.tenant}}/*" { capabilities = ["read"] }
           path "auth/token/create" { capabilities = ["update"] }"#,
    )
    .await;
    let auth = f
        .core
        .handle_request(
            Request::new(Operation::Update, "auth/userpass/login/alice")
                .with_data(into_map(json!({"password": "pw"}))),
        )
        .await
        .unwrap()
        .auth
        .unwrap();
    let parent = auth["client_token"].as_str().unwrap().to_string();
    let entity = auth["entity_id"].as_str().unwrap().to_string();
    f.write(
        ROOT,
        &format!("identity/entity/id/{entity}"),
        json!({"metadata": {"tenant": "acme"}}),
    )
    .await
    .unwrap();

    let resp = f.create(&parent, json!({"policies": ["p"]})).await.unwrap();
    let auth = resp.auth.unwrap();
    assert_eq!(auth["entity_id"], entity.as_str());
    let child = auth["client_token"].as_str().unwrap().to_string();
    let me = f.lookup_self(&child).await.unwrap();
    assert_eq!(me.data.unwrap()["entity_id"], entity.as_str());
    // The templated policy works for the child.
    let read = |t: String| {
        let f = &f;
        async move { f.call(&t, Operation::Read, "kv/t/acme/x", json!({})).await }
    };
    assert!(read(child.clone()).await.is_ok());

    // Disabling the entity stops the child too, and enabling it again restores it.
    let entity_path = format!("identity/entity/id/{entity}");
    f.write(ROOT, &entity_path, json!({"disabled": true}))
        .await
        .unwrap();
    assert!(matches!(
        read(child.clone()).await,
        Err(Error::PermissionDenied)
    ));
    f.write(ROOT, &entity_path, json!({"disabled": false}))
        .await
        .unwrap();
    assert!(read(child.clone()).await.is_ok());
    f.call(ROOT, Operation::Delete, &entity_path, json!({}))
        .await
        .unwrap();
    assert!(matches!(read(child).await, Err(Error::PermissionDenied)));

    // An orphan made by root does not inherit root's (empty) entity, nor anyone's.
    let orphan = f
        .write(ROOT, "auth/token/create-orphan", json!({}))
        .await
        .unwrap();
    assert_eq!(orphan.auth.unwrap()["entity_id"], "");
}

fn from(req: Request, addr: &str) -> Request {
    let mut req = req;
    req.remote_addr = Some(addr.parse().unwrap());
    req
}

#[tokio::test]
async fn a_cidr_bound_token_is_refused_from_elsewhere_on_every_path() {
    let f = unsealed_core().await;
    f.policy("creator", CREATE_ONLY).await;
    f.write(
        ROOT,
        "auth/token/roles/bound",
        json!({"allowed_policies": ["creator"], "token_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await
    .unwrap();
    let resp = f
        .write(ROOT, "auth/token/create/bound", json!({}))
        .await
        .unwrap();
    let token = resp.auth.unwrap()["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let requests = [
        Request::new(Operation::Read, "sys/internal/ui/mounts"),
        Request::new(Operation::Read, "sys/internal/ui/mounts/secret"),
        Request::new(Operation::Update, "sys/capabilities-self")
            .with_data(into_map(json!({"paths": ["sys/mounts"]}))),
        Request::new(Operation::Read, "auth/token/lookup-self"),
    ];
    for req in requests {
        let req = req.with_token(&token);
        let path = req.path.clone();
        let wrong = f.core.handle_request(from(req.clone(), "192.0.2.1")).await;
        assert!(
            matches!(wrong, Err(Error::PermissionDenied)),
            "{path}: {:?}",
            wrong.map(|_| ())
        );
        let unknown = f.core.handle_request(req.clone()).await;
        assert!(
            matches!(unknown, Err(Error::PermissionDenied)),
            "{path} without an address"
        );
        let right = f.core.handle_request(from(req, "10.1.2.3")).await;
        assert!(
            !matches!(right, Err(Error::PermissionDenied)),
            "{path} from inside the CIDR"
        );
    }
    assert!(matches!(
        f.core
            .token_acl(&token, Some("192.0.2.1".parse().unwrap()))
            .await,
        Err(Error::PermissionDenied)
    ));
    assert!(f
        .core
        .token_acl(&token, Some("10.9.9.9".parse().unwrap()))
        .await
        .unwrap()
        .is_some());

    // A child made without a role keeps the binding, so it cannot be escaped.
    let child = f
        .core
        .handle_request(from(
            Request::new(Operation::Update, "auth/token/create")
                .with_token(&token)
                .with_data(into_map(json!({"policies": ["default"]}))),
            "10.1.2.3",
        ))
        .await;
    {
        let resp = child.unwrap();
        let child = resp.auth.unwrap()["client_token"]
            .as_str()
            .unwrap()
            .to_string();
        let wrong = f
            .core
            .handle_request(from(
                Request::new(Operation::Read, "auth/token/lookup-self").with_token(&child),
                "192.0.2.1",
            ))
            .await;
        assert!(matches!(wrong, Err(Error::PermissionDenied)));
    }
}

#[tokio::test]
async fn a_role_period_beyond_gos_range_is_refused_and_the_largest_is_capped() {
    let f = unsealed_core().await;
    let m = bad_request(
        f.write(
            ROOT,
            "auth/token/roles/r",
            json!({"token_period": "9223372036854775807"}),
        )
        .await,
    );
    assert_eq!(m, "error converting input for field \"token_period\": multiplication of durations resulted in overflow, one operand may be too large");
    f.write(
        ROOT,
        "auth/token/roles/r2",
        json!({"token_period": "9223372036"}),
    )
    .await
    .unwrap();
    // A role's period needs no sudo at create time (the role's writer chose it), but it is
    // capped like any other.
    let resp = f
        .write(ROOT, "auth/token/create/r2", json!({}))
        .await
        .unwrap();
    assert_eq!(
        resp.warnings,
        vec!["period of \"2562047h47m16s\" exceeded the effective max_ttl of \"768h\"; period value is capped accordingly"]
    );
    let t = resp.auth.unwrap()["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(f.lookup_self(&t).await.is_ok());
}
