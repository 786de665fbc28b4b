//! `sys/rekey/*` and `sys/generate-root/*` through `handle_request`, without a token, as a
//! client sends them.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::logical::fields::into_map;
use crate::physical::InmemBackend;

// The core tests' own helpers: one way to make a core here.
use super::tests::{b64, new_core};

/// A 5-of-3 core, unsealed, with its keys (base64) and root token.
async fn unsealed() -> (Arc<Core>, Vec<String>, String, Arc<InmemBackend>) {
    let backend = Arc::new(InmemBackend::new());
    let core = new_core(backend.clone()).await;
    let init = core.initialize(5, 3, None).await.unwrap();
    let keys: Vec<String> = init.keys.iter().map(|k| b64(k)).collect();
    for k in &keys[..3] {
        core.unseal(k).await.unwrap();
    }
    assert!(!core.is_sealed());
    (core, keys, init.root_token.to_string(), backend)
}

pub(super) async fn call(
    core: &Core,
    op: Operation,
    path: &str,
    body: Value,
) -> Result<Value, Error> {
    let resp = core
        .handle_request(Request::new(op, path).with_data(into_map(body)))
        .await?;
    Ok(match resp.raw {
        Some(crate::logical::Raw {
            body: crate::logical::RawBody::Json(v),
            ..
        }) => v,
        _ => Value::Null,
    })
}

async fn put(core: &Core, path: &str, body: Value) -> Result<Value, Error> {
    call(core, Operation::Update, path, body).await
}

fn bad(result: Result<Value, Error>) -> String {
    match result {
        Err(Error::BadRequest(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[tokio::test]
async fn rekey_refuses_bad_input_and_cancel_forgets_the_keys() {
    let (core, keys, _, _) = unsealed().await;
    let status = call(&core, Operation::Read, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    assert_eq!(status["started"], false);
    assert_eq!(status["required"], 3);
    assert_eq!(status["nonce"], "");

    let msg = bad(put(
        &core,
        "sys/rekey/update",
        json!({"key": keys[0], "nonce": "x"}),
    )
    .await);
    assert_eq!(msg, "no barrier rekey in progress");
    for (shares, threshold, want) in [
        (3, 4, "threshold cannot be larger than shares"),
        (3, 0, "threshold must be at least one"),
        (256, 4, "shares must be less than 256"),
        (
            3,
            1,
            "threshold must be greater than one for multiple shares",
        ),
        (0, 0, "shares must be at least one"),
    ] {
        let msg = bad(put(
            &core,
            "sys/rekey/init",
            json!({"secret_shares": shares, "secret_threshold": threshold}),
        )
        .await);
        assert_eq!(msg, format!("invalid rekey seal configuration: {want}"));
    }

    let started = put(
        &core,
        "sys/rekey/init",
        json!({"secret_shares": 3, "secret_threshold": 2}),
    )
    .await
    .unwrap();
    assert_eq!(
        (&started["started"], &started["t"], &started["n"]),
        (&json!(true), &json!(2), &json!(3))
    );
    let nonce = started["nonce"].as_str().unwrap().to_string();
    let msg = bad(put(
        &core,
        "sys/rekey/init",
        json!({"secret_shares": 3, "secret_threshold": 2}),
    )
    .await);
    assert_eq!(msg, "rekey already in progress");

    let msg = bad(put(
        &core,
        "sys/rekey/update",
        json!({"key": keys[0], "nonce": "wrong"}),
    )
    .await);
    assert!(msg.starts_with("incorrect nonce supplied"), "{msg}");
    let msg = bad(put(&core, "sys/rekey/update", json!({"nonce": nonce})).await);
    assert_eq!(msg, "'key' must be specified in request body as JSON");
    let msg = bad(put(
        &core,
        "sys/rekey/update",
        json!({"key": "zz", "nonce": nonce}),
    )
    .await);
    assert_eq!(msg, "'key' must be a valid hex or base64 string");

    let one = put(
        &core,
        "sys/rekey/update",
        json!({"key": keys[0], "nonce": nonce}),
    )
    .await
    .unwrap();
    assert_eq!(one["progress"], 1);
    assert!(one.get("keys").is_none());
    let msg = bad(put(
        &core,
        "sys/rekey/update",
        json!({"key": keys[0], "nonce": nonce}),
    )
    .await);
    assert!(msg.contains("already been provided"), "{msg}");

    call(&core, Operation::Delete, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    assert!(core.operations.lock().rekey.is_none());
    let msg = bad(put(
        &core,
        "sys/rekey/update",
        json!({"key": keys[1], "nonce": nonce}),
    )
    .await);
    assert_eq!(msg, "no barrier rekey in progress");
    // A new rekey starts from nothing: the cancelled key is gone.
    let again = put(
        &core,
        "sys/rekey/init",
        json!({"secret_shares": 1, "secret_threshold": 1}),
    )
    .await
    .unwrap();
    assert_eq!(again["progress"], 0);
    assert_ne!(again["nonce"], json!(nonce));
}

#[tokio::test]
async fn rekey_replaces_the_keys_and_survives_a_restart() {
    let (core, old, token, backend) = unsealed().await;
    core.handle_request(
        Request::new(Operation::Update, "sys/mounts/kv")
            .with_token(token.as_str())
            .with_data(into_map(json!({"type": "kv"}))),
    )
    .await
    .unwrap();
    core.handle_request(
        Request::new(Operation::Update, "kv/x")
            .with_token(token.as_str())
            .with_data(into_map(json!({"v": "before"}))),
    )
    .await
    .unwrap();

    let started = put(
        &core,
        "sys/rekey/init",
        json!({"secret_shares": 3, "secret_threshold": 2}),
    )
    .await
    .unwrap();
    let nonce = started["nonce"].as_str().unwrap().to_string();
    let mut done = Value::Null;
    // Hex and base64 keys both count.
    for (i, k) in [&old[4], &old[1], &old[2]].into_iter().enumerate() {
        let key = if i == 0 {
            hex::encode(base64::engine::general_purpose::STANDARD.decode(k).unwrap())
        } else {
            k.clone()
        };
        done = put(
            &core,
            "sys/rekey/update",
            json!({"key": key, "nonce": nonce}),
        )
        .await
        .unwrap();
    }
    assert_eq!(done["complete"], true);
    assert_eq!(done["nonce"], json!(nonce));
    let new: Vec<String> = done["keys_base64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new.len(), 3);
    assert_eq!(done["keys"].as_array().unwrap().len(), 3);
    let status = core.seal_status();
    assert_eq!(
        (status["t"].clone(), status["n"].clone()),
        (json!(2), json!(3))
    );
    let after = call(&core, Operation::Read, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    assert_eq!(
        (after["started"].clone(), after["required"].clone()),
        (json!(false), json!(2))
    );

    core.shutdown();
    drop(core);
    let core = new_core(backend).await;
    assert_eq!(core.seal_config().unwrap().secret_threshold, 2);
    // Three old keys no longer open it: two of them already reach the new threshold and fail.
    core.unseal(&old[0]).await.unwrap();
    let refused = core.unseal(&old[1]).await;
    assert!(matches!(refused, Err(Error::BadRequest(_))), "{refused:?}");
    assert!(core.is_sealed());
    core.unseal(&new[2]).await.unwrap();
    core.unseal(&new[0]).await.unwrap();
    assert!(!core.is_sealed());
    let read = core
        .handle_request(Request::new(Operation::Read, "kv/x").with_token(token.as_str()))
        .await
        .unwrap();
    assert_eq!(read.data.unwrap()["v"], "before");
}

#[tokio::test]
async fn a_quorum_of_foreign_keys_changes_nothing() {
    let (core, old, _, _) = unsealed().await;
    let (_, foreign, _, _) = unsealed().await;
    let nonce = put(
        &core,
        "sys/rekey/init",
        json!({"secret_shares": 1, "secret_threshold": 1}),
    )
    .await
    .unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    for k in &foreign[..2] {
        put(&core, "sys/rekey/update", json!({"key": k, "nonce": nonce}))
            .await
            .unwrap();
    }
    let msg = bad(put(
        &core,
        "sys/rekey/update",
        json!({"key": foreign[2], "nonce": nonce}),
    )
    .await);
    assert!(msg.starts_with("rekey failed"), "{msg}");
    assert_eq!(core.seal_config().unwrap().secret_shares, 5);
    // The keys are used up; the rekey itself stays, with the real keys still able to finish.
    let status = call(&core, Operation::Read, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    assert_eq!(
        (status["started"].clone(), status["progress"].clone()),
        (json!(true), json!(0))
    );
    let mut done = Value::Null;
    for k in &old[..3] {
        done = put(&core, "sys/rekey/update", json!({"key": k, "nonce": nonce}))
            .await
            .unwrap();
    }
    assert_eq!(done["complete"], true);
    assert_eq!(done["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn generate_root_gives_a_root_token_encoded_with_the_pad() {
    let (core, keys, old_root, _) = unsealed().await;
    let status = call(
        &core,
        Operation::Read,
        "sys/generate-root/attempt",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(status["started"], false);
    assert_eq!(status["otp_length"], 26);
    let msg = bad(put(&core, "sys/generate-root/attempt", json!({"otp": "short"})).await);
    assert_eq!(msg, "OTP string has incorrect length");

    let started = put(&core, "sys/generate-root/attempt", json!({}))
        .await
        .unwrap();
    let otp = started["otp"].as_str().unwrap().to_string();
    assert_eq!(otp.len(), 26);
    let nonce = started["nonce"].as_str().unwrap().to_string();
    // The pad is shown once only.
    let status = call(
        &core,
        Operation::Read,
        "sys/generate-root/attempt",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        (status["started"].clone(), status["otp"].clone()),
        (json!(true), json!(""))
    );
    let msg = bad(put(&core, "sys/generate-root/attempt", json!({})).await);
    assert_eq!(msg, "root generation already in progress");

    let msg = bad(put(
        &core,
        "sys/generate-root/update",
        json!({"key": keys[0], "nonce": "x"}),
    )
    .await);
    assert!(msg.starts_with("incorrect nonce supplied"), "{msg}");
    let mut done = Value::Null;
    for k in &keys[2..5] {
        done = put(
            &core,
            "sys/generate-root/update",
            json!({"key": k, "nonce": nonce}),
        )
        .await
        .unwrap();
        if done["complete"] != true {
            let again = put(
                &core,
                "sys/generate-root/update",
                json!({"key": k, "nonce": nonce}),
            )
            .await;
            assert!(bad(again).contains("already been provided"));
        }
    }
    assert_eq!(done["complete"], true);
    let encoded = done["encoded_root_token"].as_str().unwrap();
    assert_eq!(done["encoded_token"], json!(encoded));
    let token = decode_token(encoded, &otp).unwrap();
    assert!(token.starts_with("s.") && token.len() == 26);
    assert_ne!(token.as_str(), old_root);

    let me = core
        .handle_request(
            Request::new(Operation::Read, "auth/token/lookup-self").with_token(token.as_str()),
        )
        .await
        .unwrap();
    let data = me.data.unwrap();
    assert_eq!(data["policies"], json!(["root"]));
    assert_eq!(data["ttl"], 0);
    // The new root token revokes the old one.
    core.handle_request(
        Request::new(Operation::Update, "auth/token/revoke")
            .with_token(token.as_str())
            .with_data(into_map(json!({"token": old_root}))),
    )
    .await
    .unwrap();
    let gone = core
        .handle_request(
            Request::new(Operation::Read, "auth/token/lookup-self").with_token(&old_root),
        )
        .await;
    assert!(matches!(gone, Err(Error::PermissionDenied)), "{gone:?}");
    let msg = bad(put(
        &core,
        "sys/generate-root/update",
        json!({"key": keys[0], "nonce": nonce}),
    )
    .await);
    assert_eq!(msg, "no root generation in progress");
}

#[tokio::test]
async fn sealed_refuses_and_seal_forgets_what_was_given() {
    let (core, keys, _, _) = unsealed().await;
    let nonce = put(
        &core,
        "sys/rekey/init",
        json!({"secret_shares": 1, "secret_threshold": 1}),
    )
    .await
    .unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        &core,
        "sys/rekey/update",
        json!({"key": keys[0], "nonce": nonce}),
    )
    .await
    .unwrap();
    put(&core, "sys/generate-root/attempt", json!({}))
        .await
        .unwrap();
    core.seal().await.unwrap();
    for (op, path) in [
        (Operation::Read, "sys/rekey/init"),
        (Operation::Update, "sys/rekey/update"),
        (Operation::Read, "sys/generate-root/attempt"),
        (Operation::Delete, "sys/generate-root/attempt"),
    ] {
        let r = call(&core, op, path, json!({"key": keys[1], "nonce": nonce})).await;
        assert!(matches!(r, Err(Error::Sealed)), "{path}: {r:?}");
    }
    for k in &keys[..3] {
        core.unseal(k).await.unwrap();
    }
    let status = call(&core, Operation::Read, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    assert_eq!(status["started"], false);
    let status = call(
        &core,
        Operation::Read,
        "sys/generate-root/attempt",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(status["started"], false);
    let r = call(&core, Operation::List, "sys/rekey/init", json!({})).await;
    assert!(matches!(r, Err(Error::UnsupportedOperation)), "{r:?}");
}
