use std::sync::Arc;

use base64::Engine as _;
use serde_json::json;

use super::*;
use crate::clock::SystemClock;
use crate::logical::Map;
use crate::physical::InmemBackend;

fn b64(k: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(k)
}

fn obj(v: serde_json::Value) -> Map {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn new_core(backend: Arc<InmemBackend>) -> Arc<Core> {
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
        .with_data(obj(data))
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
        unsealed.router.read().entries().next().is_none(),
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
    let mounts = core.mounts().unwrap();
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
