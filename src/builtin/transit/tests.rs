use super::*;
use crate::clock::{SharedClock, SystemClock};
use crate::logical::fields::into_map;
use crate::logical::InmemStorage;
use std::sync::Arc;

fn engine() -> Transit {
    let clock: SharedClock = Arc::new(SystemClock);
    Transit::new(clock)
}

async fn call(
    t: &Transit,
    s: &InmemStorage,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response, Error> {
    let req = Request::new(op, path).with_data(into_map(data));
    t.handle(&req, s).await
}

async fn field(t: &Transit, s: &InmemStorage, path: &str, data: Value, name: &str) -> Value {
    let resp = call(t, s, Operation::Update, path, data).await.unwrap();
    resp.data.unwrap()[name].clone()
}

/// `encrypt/k` of `plain`: the ciphertext.
async fn encrypt(t: &Transit, s: &InmemStorage, plain: &str) -> Value {
    let data = json!({"plaintext": b64(plain)});
    field(t, s, "encrypt/k", data, "ciphertext").await
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

#[tokio::test]
async fn encrypt_decrypt_round_trip_and_ciphertexts_differ() {
    let (t, s) = (engine(), InmemStorage::new());
    let one = encrypt(&t, &s, "hello").await;
    let two = encrypt(&t, &s, "hello").await;
    let one = one.as_str().unwrap().to_string();
    assert!(one.starts_with("vault:v1:"), "{one}");
    assert_ne!(one, two.as_str().unwrap(), "a fresh nonce each time");
    let plain = field(&t, &s, "decrypt/k", json!({"ciphertext": one}), "plaintext").await;
    assert_eq!(plain, json!(b64("hello")));
    // The empty plaintext is a plaintext too.
    let empty = field(&t, &s, "encrypt/k", json!({"plaintext": ""}), "ciphertext").await;
    let back = field(
        &t,
        &s,
        "decrypt/k",
        json!({"ciphertext": empty}),
        "plaintext",
    )
    .await;
    assert_eq!(back, json!(""));
}

#[tokio::test]
async fn stored_key_holds_no_plaintext_and_debug_shows_no_material() {
    let (t, s) = (engine(), InmemStorage::new());
    call(&t, &s, Operation::Update, "keys/k", json!({}))
        .await
        .unwrap();
    let key = load(&s, "k").await.unwrap().unwrap();
    let debug = format!("{key:?}");
    let stored = s.get("policy/k").await.unwrap().unwrap();
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    let material = stored["versions"]["1"]["key"].as_str().unwrap();
    assert!(!debug.contains(material), "{debug}");
    let read = call(&t, &s, Operation::Read, "keys/k", json!({}))
        .await
        .unwrap();
    let read = serde_json::to_string(&read.data).unwrap();
    assert!(!read.contains(material), "{read}");
}

#[tokio::test]
async fn rotation_min_decryption_and_rewrap() {
    let (t, s) = (engine(), InmemStorage::new());
    let old = encrypt(&t, &s, "x").await;
    let info = field(&t, &s, "keys/k/rotate", json!({}), "latest_version").await;
    assert_eq!(info, json!(2));
    let new = encrypt(&t, &s, "x").await;
    assert!(new.as_str().unwrap().starts_with("vault:v2:"));
    let pinned = field(
        &t,
        &s,
        "encrypt/k",
        json!({"plaintext": b64("x"), "key_version": 1}),
        "ciphertext",
    )
    .await;
    assert!(pinned.as_str().unwrap().starts_with("vault:v1:"));
    let rewrapped = field(&t, &s, "rewrap/k", json!({"ciphertext": old}), "ciphertext").await;
    assert!(rewrapped.as_str().unwrap().starts_with("vault:v2:"));

    call(
        &t,
        &s,
        Operation::Update,
        "keys/k/config",
        json!({"min_decryption_version": 2}),
    )
    .await
    .unwrap();
    let e = call(
        &t,
        &s,
        Operation::Update,
        "decrypt/k",
        json!({"ciphertext": old}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ciphertext or signature version is disallowed by policy (too old)"
    );
    let e = call(
        &t,
        &s,
        Operation::Update,
        "encrypt/k",
        json!({"plaintext": "", "key_version": 1}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    let back = field(
        &t,
        &s,
        "decrypt/k",
        json!({"ciphertext": rewrapped}),
        "plaintext",
    )
    .await;
    assert_eq!(back, json!(b64("x")));

    let e = call(
        &t,
        &s,
        Operation::Update,
        "keys/k/config",
        json!({"min_decryption_version": 3}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot set min decryption version of 3, latest key version is 2"
    );
    let e = call(
        &t,
        &s,
        Operation::Update,
        "keys/k/config",
        json!({"min_encryption_version": -1}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[tokio::test]
async fn tampered_and_malformed_ciphertexts_are_400s_that_echo_nothing() {
    let (t, s) = (engine(), InmemStorage::new());
    let good = encrypt(&t, &s, "secret").await;
    let good = good.as_str().unwrap().to_string();
    let body = good.trim_start_matches("vault:v1:");
    let mut raw = STANDARD.decode(body).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    let cases = [
        (
            format!("vault:v1:{}", STANDARD.encode(&raw)),
            "cipher: message authentication failed",
        ),
        (body.to_string(), "invalid ciphertext: no prefix"),
        (
            "vault:v1".to_string(),
            "invalid ciphertext: wrong number of fields",
        ),
        (
            format!("vault:vX:{body}"),
            "invalid ciphertext: version number could not be decoded",
        ),
        (format!("vault:v9:{body}"), "invalid key version"),
        (format!("vault:v0:{body}"), "invalid key version"),
        (
            "vault:v1:!!!".to_string(),
            "invalid ciphertext: could not decode base64",
        ),
        (
            "vault:v1:AAAA".to_string(),
            "invalid ciphertext: nonce length",
        ),
    ];
    for (ciphertext, want) in cases {
        let e = call(
            &t,
            &s,
            Operation::Update,
            "decrypt/k",
            json!({"ciphertext": ciphertext}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (e.status(), e.to_string().as_str()),
            (400, want),
            "{ciphertext}"
        );
    }
    let e = call(&t, &s, Operation::Update, "decrypt/k", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "missing ciphertext to decrypt");
    let e = call(
        &t,
        &s,
        Operation::Update,
        "decrypt/nokey",
        json!({"ciphertext": good}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "encryption key not found");
    let e = call(
        &t,
        &s,
        Operation::Update,
        "encrypt/k",
        json!({"plaintext": "not base64!"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "illegal base64 data at input byte 3");
}

#[tokio::test]
async fn batches_answer_per_item_and_fail_as_a_whole_with_400() {
    let (t, s) = (engine(), InmemStorage::new());
    let resp = call(
        &t,
        &s,
        Operation::Update,
        "encrypt/k",
        json!({"batch_input": [
            {"plaintext": b64("a"), "reference": "r1"}, {"plaintext": b64("b")}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, None);
    let results = resp.data.unwrap()["batch_results"].clone();
    assert_eq!(results[0]["reference"], json!("r1"));
    let input: Vec<Value> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"ciphertext": r["ciphertext"]}))
        .chain([json!({"ciphertext": "junk"})])
        .collect();
    let resp = call(
        &t,
        &s,
        Operation::Update,
        "decrypt/k",
        json!({"batch_input": input}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, Some(400));
    let results = resp.data.unwrap()["batch_results"].clone();
    assert_eq!(results[0]["plaintext"], json!(b64("a")));
    assert_eq!(results[1]["plaintext"], json!(b64("b")));
    assert_eq!(results[2]["error"], json!("invalid ciphertext: no prefix"));
    let e = call(
        &t,
        &s,
        Operation::Update,
        "decrypt/k",
        json!({"batch_input": []}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[tokio::test]
async fn datakeys_deletion_types_and_paths() {
    let (t, s) = (engine(), InmemStorage::new());
    let e = call(&t, &s, Operation::Update, "datakey/plaintext/k", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "encryption key not found");
    call(
        &t,
        &s,
        Operation::Update,
        "keys/k",
        json!({"type": "aes256-gcm96"}),
    )
    .await
    .unwrap();
    let resp = call(
        &t,
        &s,
        Operation::Update,
        "datakey/plaintext/k",
        json!({"bits": 512}),
    )
    .await
    .unwrap();
    let data = resp.data.unwrap();
    let plain = STANDARD
        .decode(data["plaintext"].as_str().unwrap())
        .unwrap();
    assert_eq!(plain.len(), 64);
    let back = field(
        &t,
        &s,
        "decrypt/k",
        json!({"ciphertext": data["ciphertext"]}),
        "plaintext",
    )
    .await;
    assert_eq!(back, data["plaintext"]);
    let resp = call(&t, &s, Operation::Update, "datakey/wrapped/k", json!({}))
        .await
        .unwrap();
    assert!(!resp.data.unwrap().contains_key("plaintext"));
    let e = call(
        &t,
        &s,
        Operation::Update,
        "datakey/wrapped/k",
        json!({"bits": 100}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "invalid bits value");

    let e = call(
        &t,
        &s,
        Operation::Update,
        "keys/rsa",
        json!({"type": "rsa-2048"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    let e = call(
        &t,
        &s,
        Operation::Update,
        "keys/d",
        json!({"derived": true}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(load(&s, "rsa").await.unwrap().is_none() && load(&s, "d").await.unwrap().is_none());

    let e = call(&t, &s, Operation::Delete, "keys/k", json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "error deleting policy k: deletion is not allowed for this key"
    );
    call(
        &t,
        &s,
        Operation::Update,
        "keys/k/config",
        json!({"deletion_allowed": true}),
    )
    .await
    .unwrap();
    call(&t, &s, Operation::Delete, "keys/k", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        call(&t, &s, Operation::Read, "keys/k", json!({})).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        call(&t, &s, Operation::List, "keys", json!({})).await,
        Err(Error::NotFound)
    ));

    for path in [
        "keys/a/b",
        "keys/-x",
        "encrypt/",
        "datakey/other/k",
        "nothing",
        "keys/x/y/rotate",
    ] {
        let e = call(&t, &s, Operation::Update, path, json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 404, "{path}");
    }
    let e = call(&t, &s, Operation::Read, "encrypt/k", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
}

#[tokio::test]
async fn existence_check_makes_the_first_write_a_create() {
    let (t, s) = (engine(), InmemStorage::new());
    assert_eq!(t.exists("encrypt/k", &s).await.unwrap(), Some(false));
    assert_eq!(t.exists("keys/k", &s).await.unwrap(), Some(false));
    call(
        &t,
        &s,
        Operation::Update,
        "encrypt/k",
        json!({"plaintext": ""}),
    )
    .await
    .unwrap();
    assert_eq!(t.exists("encrypt/k", &s).await.unwrap(), Some(true));
    assert_eq!(t.exists("keys/k", &s).await.unwrap(), Some(true));
    assert_eq!(t.exists("decrypt/k", &s).await.unwrap(), None);
}
