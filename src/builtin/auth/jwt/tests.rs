//! JWT auth against `InmemStorage`, a `ManualClock`, test keys under `testdata/`, and a small
//! JWKS server (HTTP or HTTPS with a test CA) on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;
use crate::clock::ManualClock;
use crate::logical::InmemStorage;

const START: u64 = 1_795_613_361;

const RSA1_KEY: &str = include_str!("testdata/rsa1.key");
const RSA1_PUB: &str = include_str!("testdata/rsa1.pub");
const RSA1_JWK: &str = include_str!("testdata/rsa1.jwk");
const RSA2_KEY: &str = include_str!("testdata/rsa2.key");
const RSA2_JWK: &str = include_str!("testdata/rsa2.jwk");
const EC1_KEY: &str = include_str!("testdata/ec1.key");
const EC1_PUB: &str = include_str!("testdata/ec1.pub");
const CA_PEM: &str = include_str!("testdata/ca.pem");
const OTHER_CA_PEM: &str = include_str!("testdata/other_ca.pem");
const SERVER_PEM: &str = include_str!("testdata/server.pem");
const SERVER_KEY: &str = include_str!("testdata/server.key");

struct Env {
    b: Arc<Jwt>,
    s: Arc<InmemStorage>,
    clock: Arc<ManualClock>,
}

fn env() -> Env {
    let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(START)));
    Env {
        b: Arc::new(Jwt::new(clock.clone())),
        s: Arc::new(InmemStorage::new()),
        clock,
    }
}

fn bad_msg(r: Result<Response, Error>) -> String {
    match r {
        Ok(resp) => panic!("expected an error, got {resp:?}"),
        Err(Error::BadRequest(m)) => m,
        Err(e) => panic!("expected a 400, got {e:?}"),
    }
}

fn now() -> u64 {
    START
}

fn sign(alg: Algorithm, key_pem: &str, kid: Option<&str>, claims: Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(key_pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(key_pem.as_bytes()),
    }
    .unwrap();
    jsonwebtoken::encode(&h, &claims, &key).unwrap()
}

fn rs(claims: Value) -> String {
    sign(Algorithm::RS256, RSA1_KEY, None, claims)
}

fn good_claims() -> Value {
    json!({
        "iss": "https://issuer.example",
        "sub": "svc-42",
        "aud": ["mainkey"],
        "exp": now() + 300,
        "iat": now() - 10,
        "nbf": now() - 10,
        "email": "svc@example.com",
        "tenant": "rut-76832940-3",
        "groups": ["ops", "dev"],
        "env": "prod-eu",
    })
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

impl Env {
    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, Error> {
        let req = super::super::test_request("auth/jwt/", op, path, body, Some("127.0.0.1"));
        self.b.handle(&req, self.s.as_ref()).await
    }

    async fn write(&self, path: &str, body: Value) -> Response {
        self.call(Operation::Update, path, body).await.unwrap()
    }

    async fn read(&self, path: &str) -> Value {
        Value::Object(
            self.call(Operation::Read, path, json!({}))
                .await
                .unwrap()
                .data
                .unwrap(),
        )
    }

    async fn login(&self, role: &str, jwt: &str) -> Result<Response, Error> {
        self.call(
            Operation::Update,
            "login",
            json!({"role": role, "jwt": jwt}),
        )
        .await
    }

    async fn pem_setup(&self) {
        self.write(
            "config",
            json!({
                "jwt_validation_pubkeys": [RSA1_PUB, EC1_PUB],
                "bound_issuer": "https://issuer.example",
            }),
        )
        .await;
        self.write(
            "role/svc",
            json!({
                "role_type": "jwt",
                "user_claim": "sub",
                "bound_audiences": "mainkey",
                "groups_claim": "groups",
                "claim_mappings": {"tenant": "tenant_id", "email": "email"},
                "token_policies": "tenant-policy",
                "token_ttl": "1h",
            }),
        )
        .await;
    }
}

#[tokio::test]
async fn valid_login_maps_claims_into_the_alias() {
    let e = env();
    e.pem_setup().await;
    let resp = e.login("svc", &rs(good_claims())).await.unwrap();
    let auth = resp.login.unwrap();
    assert_eq!(auth.policies, vec!["tenant-policy".to_string()]);
    assert_eq!(auth.ttl, 3600);
    let alias = auth.alias.unwrap();
    assert_eq!(alias.name, "svc-42");
    assert_eq!(alias.metadata.get("tenant_id").unwrap(), "rut-76832940-3");
    assert_eq!(alias.metadata.get("email").unwrap(), "svc@example.com");
    assert_eq!(alias.metadata.len(), 2);
    assert_eq!(auth.metadata.get("role").unwrap(), "svc");
    assert_eq!(auth.metadata.get("tenant_id").unwrap(), "rut-76832940-3");
    assert_eq!(
        auth.group_aliases,
        vec!["ops".to_string(), "dev".to_string()]
    );

    // An EC key from the same list works too.
    let es = sign(Algorithm::ES256, EC1_KEY, None, good_claims());
    assert!(e.login("svc", &es).await.is_ok());
}

#[tokio::test]
async fn alg_none_is_refused() {
    let e = env();
    e.pem_setup().await;
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&good_claims())
    );
    assert!(bad_msg(e.login("svc", &unsigned).await).contains("error validating token"));
    // Even with a copied signature from a genuine token.
    let genuine = rs(good_claims());
    let sig = genuine.rsplit('.').next().unwrap();
    let forged = format!("{unsigned}{sig}");
    assert!(e.login("svc", &forged).await.is_err());
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let e = env();
    e.pem_setup().await;
    for secret in [RSA1_PUB, RSA1_PUB.trim()] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let tok = jsonwebtoken::encode(
                &Header::new(alg),
                &good_claims(),
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .unwrap();
            let msg = bad_msg(e.login("svc", &tok).await);
            assert!(msg.contains("unsupported signing algorithm"), "{msg}");
        }
    }
    // HS* cannot be allowed by configuration either.
    let r = e
        .call(
            Operation::Update,
            "config",
            json!({"jwt_validation_pubkeys": [RSA1_PUB], "jwt_supported_algs": ["HS256"]}),
        )
        .await;
    assert!(bad_msg(r).contains("invalid jwt_supported_algs"));
}

#[tokio::test]
async fn wrong_or_missing_audience_is_refused() {
    let e = env();
    e.pem_setup().await;
    let mut c = good_claims();
    c["aud"] = json!("someone-else");
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("audience"));
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("aud");
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("audience"));
    let mut c = good_claims();
    c["aud"] = json!(["x", "mainkey"]);
    assert!(e.login("svc", &rs(c)).await.is_ok());

    // A role without bound_audiences refuses tokens that carry one.
    e.write(
        "role/noaud",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_subject": "svc-42"}),
    )
    .await;
    assert!(bad_msg(e.login("noaud", &rs(good_claims())).await)
        .contains("no audiences bound to the role"));
}

#[tokio::test]
async fn expiry_honours_a_small_leeway_only() {
    let e = env();
    e.pem_setup().await;
    let mut c = good_claims();
    // OpenBao's default: 60 s of clock skew, no more.
    c["exp"] = json!(now() - 60);
    assert!(e.login("svc", &rs(c.clone())).await.is_ok());
    c["exp"] = json!(now() - 61);
    assert!(bad_msg(e.login("svc", &rs(c.clone())).await).contains("expired"));
    // The expiration leeway only fills in a missing `exp` (OpenBao 2.7.2 refuses this one).
    e.write("role/svc", json!({"expiration_leeway": "5m"}))
        .await;
    c["exp"] = json!(now() - 300);
    assert!(bad_msg(e.login("svc", &rs(c.clone())).await).contains("expired"));
    // A larger clock skew does widen it.
    e.write("role/svc", json!({"clock_skew_leeway": "5m"}))
        .await;
    assert!(e.login("svc", &rs(c.clone())).await.is_ok());
    e.write("role/svc", json!({"clock_skew_leeway": 0})).await;
    c["exp"] = json!(now() - 3600);
    assert!(bad_msg(e.login("svc", &rs(c.clone())).await).contains("expired"));

    // With no leeway at all, one second past exp is too late.
    e.write(
        "role/svc",
        json!({"clock_skew_leeway": -1, "expiration_leeway": -1}),
    )
    .await;
    c["exp"] = json!(now() - 1);
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("expired"));

    // Time moves on: a good token expires.
    let tok = rs(good_claims());
    assert!(e.login("svc", &tok).await.is_ok());
    e.clock.advance(Duration::from_secs(301));
    assert!(e.login("svc", &tok).await.is_err());
}

/// `good_claims` without its time claims, plus `times`.
fn timed(times: Value) -> Value {
    let mut c = good_claims();
    let m = c.as_object_mut().unwrap();
    for k in ["exp", "iat", "nbf"] {
        m.remove(k);
    }
    m.extend(times.as_object().unwrap().clone());
    c
}

/// Issue 8 §3; each answer measured against OpenBao 2.7.2 (hashicorp/cap).
#[tokio::test]
async fn a_token_without_time_claims_or_with_only_an_old_iat_is_refused() {
    let e = env();
    e.pem_setup().await;
    let n = now() as i64;
    let msg = bad_msg(e.login("svc", &rs(timed(json!({})))).await);
    assert_eq!(
        msg,
        "error validating token: no issued at (iat), not before (nbf), or expiration time (exp) claims in token"
    );
    // 0 is "absent", as in Go.
    let msg = bad_msg(e.login("svc", &rs(timed(json!({"iat": 0})))).await);
    assert!(msg.contains("no issued at (iat)"), "{msg}");
    let msg = bad_msg(e.login("svc", &rs(timed(json!({"iat": n - 86_400})))).await);
    assert_eq!(
        msg,
        "error validating token: invalid expiration time (exp) claim: token is expired"
    );
    // Without `exp`, a token lives 150 s (the default expiration leeway) past the later of
    // `iat` and `nbf`, plus 60 s of clock skew.
    for (times, ok) in [
        (json!({"iat": n - 200}), true),
        (json!({"iat": n - 210}), true),
        (json!({"iat": n - 215}), false),
        (json!({"nbf": n - 200}), true),
        (json!({"nbf": n - 215}), false),
        (json!({"iat": n - 1000, "nbf": n - 100}), true),
        (json!({"iat": n - 100, "nbf": n - 1000}), true),
        (json!({"iat": -5}), false),
        (json!({"iat": (n - 10) as f64 + 0.5}), true),
        (json!({"iat": 1e300}), false),
    ] {
        let r = e.login("svc", &rs(timed(times.clone()))).await;
        assert_eq!(r.is_ok(), ok, "{times}: {r:?}");
    }
    // Time moves on: an iat-only token stops working once its computed expiry has passed.
    let tok = rs(timed(json!({"iat": n})));
    assert!(e.login("svc", &tok).await.is_ok());
    e.clock.advance(Duration::from_secs(211));
    assert!(bad_msg(e.login("svc", &tok).await).contains("expired"));
}

#[tokio::test]
async fn leeways_fill_in_missing_time_claims_as_cap_does() {
    let e = env();
    e.pem_setup().await;
    let n = now() as i64;
    e.write("role/svc", json!({"expiration_leeway": 300})).await;
    assert!(e
        .login("svc", &rs(timed(json!({"iat": n - 350}))))
        .await
        .is_ok());
    assert!(e
        .login("svc", &rs(timed(json!({"iat": n - 370}))))
        .await
        .is_err());
    // No leeways: the token expires at its iat.
    e.write(
        "role/svc",
        json!({"expiration_leeway": -1, "clock_skew_leeway": -1}),
    )
    .await;
    assert!(bad_msg(e.login("svc", &rs(timed(json!({"iat": n - 1})))).await).contains("expired"));
    // Without `iat` and `nbf`, `nbf` is `exp` minus the not-before leeway.
    e.write(
        "role/svc",
        json!({"expiration_leeway": 0, "clock_skew_leeway": 0, "not_before_leeway": -1}),
    )
    .await;
    assert!(
        bad_msg(e.login("svc", &rs(timed(json!({"exp": n + 100})))).await)
            .contains("not yet valid")
    );
    e.write("role/svc", json!({"not_before_leeway": 100})).await;
    assert!(
        bad_msg(e.login("svc", &rs(timed(json!({"exp": n + 200})))).await)
            .contains("not yet valid")
    );
    assert!(e
        .login("svc", &rs(timed(json!({"exp": n + 150}))))
        .await
        .is_ok());
    // A time claim that is not a number is refused.
    let msg = bad_msg(
        e.login("svc", &rs(timed(json!({"exp": (n + 100).to_string()}))))
            .await,
    );
    assert!(
        msg.contains("expected number value to unmarshal NumericDate"),
        "{msg}"
    );
}

#[tokio::test]
async fn leeways_are_bounded_by_gos_duration() {
    let e = env();
    e.pem_setup().await;
    for key in [
        "clock_skew_leeway",
        "expiration_leeway",
        "not_before_leeway",
    ] {
        for v in [
            json!(i64::MAX),
            json!(i64::MAX.to_string()),
            json!(10_000_000_000i64),
            json!(9_223_372_037i64),
            json!(-9_223_372_037i64),
            json!(i64::MIN),
        ] {
            let msg = bad_msg(e.call(Operation::Update, "role/svc", json!({key: v})).await);
            assert_eq!(
                msg,
                format!("error converting input for field \"{key}\": multiplication of durations resulted in overflow, one operand may be too large"),
                "{key}={v}"
            );
        }
        e.write("role/svc", json!({key: 9_223_372_036i64})).await;
        e.write("role/svc", json!({key: -9_223_372_036i64})).await;
        e.write("role/svc", json!({key: 0})).await;
    }
    // The refused write left the role as it was: expiry still applies.
    let mut c = good_claims();
    c["exp"] = json!(now() - 3600);
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("expired"));
}

/// A JWT signed with RSA1 and a header of our own (jsonwebtoken's `Header` has no `crit`).
fn rs_with_header(header: Value, claims: Value) -> String {
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let key = EncodingKey::from_rsa_pem(RSA1_KEY.as_bytes()).unwrap();
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::RS256).unwrap();
    format!("{input}.{sig}")
}

#[tokio::test]
async fn an_unknown_crit_header_is_refused() {
    let e = env();
    e.pem_setup().await;
    let plain = rs_with_header(json!({"alg": "RS256", "typ": "JWT"}), good_claims());
    assert!(e.login("svc", &plain).await.is_ok());
    // As OpenBao (go-jose): understood `b64` passes, any other extension fails as a signature.
    let b64_ok = rs_with_header(
        json!({"alg": "RS256", "crit": ["b64"], "b64": true}),
        good_claims(),
    );
    assert!(e.login("svc", &b64_ok).await.is_ok());
    for header in [
        json!({"alg": "RS256", "crit": ["foo"], "foo": 1}),
        json!({"alg": "RS256", "crit": ["exp"], "exp": 1}),
        json!({"alg": "RS256", "crit": ["b64", "foo"], "b64": true}),
        json!({"alg": "RS256", "crit": ["b64"], "b64": false}),
        json!({"alg": "RS256", "crit": ["b64"]}),
        // Stricter than OpenBao: RFC 7515 forbids an empty or non-list `crit`.
        json!({"alg": "RS256", "crit": []}),
        json!({"alg": "RS256", "crit": "foo"}),
    ] {
        let msg = bad_msg(
            e.login("svc", &rs_with_header(header.clone(), good_claims()))
                .await,
        );
        assert_eq!(
            msg,
            "error validating token: error verifying token signature: no known key successfully validated the token signature",
            "{header}"
        );
    }
}

#[tokio::test]
async fn an_aud_that_is_not_strings_is_refused() {
    let e = env();
    e.pem_setup().await;
    for aud in [
        json!(["mainkey", 1]),
        json!({"mainkey": 1}),
        json!(7),
        json!(["mainkey", null]),
    ] {
        let mut c = good_claims();
        c["aud"] = aud.clone();
        let msg = bad_msg(e.login("svc", &rs(c)).await);
        assert_eq!(
            msg,
            "error validating token: go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience",
            "{aud}"
        );
    }
}

/// Each row measured against OpenBao 2.7.2: (bound value, claim value, accepted).
#[tokio::test]
async fn bound_claims_compare_typed_values_as_openbao_does() {
    let e = env();
    e.pem_setup().await;
    let rows = [
        (json!("true"), json!(true), false),
        (json!(true), json!("true"), false),
        (json!(true), json!(true), true),
        (json!(1000), json!(1000), true),
        (json!("1000"), json!(1000), false),
        (json!(1000), json!("1000"), false),
        (json!("1000"), json!("1000"), true),
        (json!([1000]), json!([1000]), false),
        (json!(1000), json!([1000]), false),
        (json!([1000]), json!(1000), true),
        (json!(["x", 1000]), json!([1000]), false),
        (json!(1.5), json!(1.5), false),
        (json!(1), json!(1.0), true),
        (json!(-5), json!(-5), true),
        (
            json!(12345678901234567890u64),
            json!(12345678901234567890u64),
            false,
        ),
        (json!(["a", "b"]), json!(["c", "b"]), true),
        (json!("x"), json!([["x"]]), false),
        (json!("x"), json!([{"a": 1}, "x"]), true),
        (json!([true]), json!([true]), true),
    ];
    for (bound, value, ok) in rows {
        e.write(
            "role/typed",
            json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "mainkey",
                   "bound_claims": {"f": bound}}),
        )
        .await;
        let mut c = good_claims();
        c["f"] = value.clone();
        let r = e.login("typed", &rs(c)).await;
        assert_eq!(r.is_ok(), ok, "bound {bound} claim {value}: {r:?}");
        if !ok {
            assert_eq!(
                bad_msg(r),
                "error validating claims: claim \"f\" does not match any associated bound claim values"
            );
        }
    }
    let mut c = good_claims();
    c["f"] = json!({"a": 1});
    assert!(bad_msg(e.login("typed", &rs(c)).await)
        .starts_with("error validating claims: received claim is not a string, bool, int or list"));
    // Globs are strings only.
    let msg = bad_msg(
        e.call(
            Operation::Update,
            "role/typed",
            json!({"bound_claims_type": "glob", "bound_claims": {"f": true}}),
        )
        .await,
    );
    assert_eq!(msg, "claim is not a string: true");
}

#[tokio::test]
async fn not_yet_valid_and_future_tokens_are_refused() {
    let e = env();
    e.pem_setup().await;
    let mut c = good_claims();
    c["nbf"] = json!(now() + 3600);
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("nbf"));
    let mut c = good_claims();
    c["iat"] = json!(now() + 3600);
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("iat"));
}

#[tokio::test]
async fn wrong_issuer_and_unknown_keys_are_refused() {
    let e = env();
    e.pem_setup().await;
    let mut c = good_claims();
    c["iss"] = json!("https://evil.example");
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("issuer"));
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("iss");
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("issuer"));
    // A key that is not configured.
    let other = sign(Algorithm::RS256, RSA2_KEY, None, good_claims());
    assert!(bad_msg(e.login("svc", &other).await).contains("signature"));
    // A tampered payload.
    let tok = rs(good_claims());
    let parts: Vec<&str> = tok.split('.').collect();
    let mut c = good_claims();
    c["sub"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], b64(&c), parts[2]);
    assert!(e.login("svc", &tampered).await.is_err());
}

#[tokio::test]
async fn bound_subject_and_claims() {
    let e = env();
    e.pem_setup().await;
    e.write(
        "role/bound",
        json!({
            "role_type": "jwt", "user_claim": "email", "bound_audiences": ["mainkey"],
            "bound_subject": "svc-42",
            "bound_claims": {"tenant": ["rut-1", "rut-76832940-3"], "groups": "ops"},
        }),
    )
    .await;
    let r = e.login("bound", &rs(good_claims())).await.unwrap();
    assert_eq!(r.login.unwrap().alias.unwrap().name, "svc@example.com");

    let mut c = good_claims();
    c["sub"] = json!("svc-43");
    assert!(bad_msg(e.login("bound", &rs(c)).await).contains("bound subject"));
    let mut c = good_claims();
    c["tenant"] = json!("rut-2");
    assert!(bad_msg(e.login("bound", &rs(c)).await).contains("tenant"));
    let mut c = good_claims();
    c["groups"] = json!(["dev"]);
    assert!(e.login("bound", &rs(c)).await.is_err());
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("tenant");
    assert!(e.login("bound", &rs(c)).await.is_err());

    // Numbers and booleans compare by their JSON text.
    e.write(
        "role/num",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "mainkey",
               "bound_claims": {"level": [3, 4], "admin": false}}),
    )
    .await;
    let mut c = good_claims();
    c["level"] = json!(4);
    c["admin"] = json!(false);
    assert!(e.login("num", &rs(c.clone())).await.is_ok());
    c["admin"] = json!(true);
    assert!(e.login("num", &rs(c)).await.is_err());

    // Glob matching: only `*` is special; string mode takes `*` literally.
    e.write(
        "role/glob",
        json!({
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": "mainkey",
            "bound_claims_type": "glob", "bound_claims": {"env": "prod-*", "/tenant": "rut-*-3"},
        }),
    )
    .await;
    assert!(e.login("glob", &rs(good_claims())).await.is_ok());
    let mut c = good_claims();
    c["env"] = json!("staging-eu");
    assert!(e.login("glob", &rs(c)).await.is_err());
    e.write("role/glob", json!({"bound_claims_type": "string"}))
        .await;
    assert!(e.login("glob", &rs(good_claims())).await.is_err());
    let mut c = good_claims();
    c["env"] = json!("prod-*");
    c["tenant"] = json!("rut-*-3");
    assert!(e.login("glob", &rs(c)).await.is_ok());
}

#[tokio::test]
async fn missing_user_claim_is_refused() {
    let e = env();
    e.pem_setup().await;
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("sub");
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("\"sub\""));
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("groups");
    assert!(bad_msg(e.login("svc", &rs(c)).await).contains("groups"));
}

#[tokio::test]
async fn renewal_follows_the_role_and_stops_when_it_is_gone() {
    let e = env();
    e.pem_setup().await;
    let auth = e
        .login("svc", &rs(good_claims()))
        .await
        .unwrap()
        .login
        .unwrap();
    let terms = |ttl, max_ttl, period| {
        Some(crate::logical::Renewal {
            ttl,
            max_ttl,
            period,
        })
    };
    // As the core asks, through the Backend trait.
    let e = &e;
    let renew = |auth: crate::logical::Auth| async move { e.b.renew(e.s.as_ref(), &auth).await };
    assert_eq!(renew(auth.clone()).await.unwrap(), terms(3600, 0, 0));

    // The role's current TTLs bound the renewal, not the ones of the login.
    e.write(
        "role/svc",
        json!({"token_ttl": "10m", "token_max_ttl": "30m"}),
    )
    .await;
    assert_eq!(renew(auth.clone()).await.unwrap(), terms(600, 1800, 0));
    e.write("role/svc", json!({"token_period": "5m"})).await;
    assert_eq!(renew(auth.clone()).await.unwrap(), terms(600, 1800, 300));

    e.call(Operation::Delete, "role/svc", json!({}))
        .await
        .unwrap();
    let gone = renew(auth.clone()).await.unwrap_err();
    assert!(matches!(gone, Error::Internal(_)), "{gone:?}");
    assert_eq!(
        gone.to_string(),
        "1 error occurred:\n\t* role svc does not exist during renewal\n\n"
    );
    // A role of the same name made again renews the token again, as in Vault.
    e.pem_setup().await;
    assert!(renew(auth.clone()).await.is_ok());

    // A token whose login recorded no role is refused.
    let mut anonymous = auth.clone();
    anonymous.metadata.remove("role");
    let err = renew(anonymous).await.unwrap_err();
    assert!(err
        .to_string()
        .contains("failed to fetch role_name during renewal"));
}

#[tokio::test]
async fn roles_and_config_read_back_like_vault() {
    let e = env();
    e.pem_setup().await;
    let cfg = e.read("config").await;
    assert_eq!(cfg["bound_issuer"], "https://issuer.example");
    assert_eq!(cfg["jwt_validation_pubkeys"].as_array().unwrap().len(), 2);
    assert_eq!(cfg["jwks_url"], "");
    assert_eq!(cfg["jwt_supported_algs"], json!([]));

    let role = e.read("role/svc").await;
    assert_eq!(role["role_type"], "jwt");
    assert_eq!(role["bound_audiences"], json!(["mainkey"]));
    assert_eq!(role["bound_claims"], Value::Null);
    assert_eq!(role["bound_claims_type"], "string");
    assert_eq!(
        role["claim_mappings"],
        json!({"email": "email", "tenant": "tenant_id"})
    );
    assert_eq!(role["user_claim"], "sub");
    assert_eq!(role["groups_claim"], "groups");
    assert_eq!(role["token_policies"], json!(["tenant-policy"]));
    assert_eq!(role["token_ttl"], 3600);
    assert_eq!(role["clock_skew_leeway"], 0);

    let list = e.call(Operation::List, "role/", json!({})).await.unwrap();
    assert_eq!(Value::Object(list.data.unwrap())["keys"], json!(["svc"]));
    // Parameters an endpoint ignores get Vault's warning; its own fields do not.
    let ignored = ["Endpoint ignored these unrecognized parameters: [foo]"];
    for (op, path) in [
        (Operation::List, "role/"),
        (Operation::Read, "role/svc"),
        (Operation::Read, "config"),
    ] {
        let resp = e.call(op, path, json!({"foo": "bar"})).await.unwrap();
        assert_eq!(resp.warnings, ignored, "{op:?} {path}");
    }
    let own = e
        .call(Operation::Read, "role/svc", json!({"user_claim": "x"}))
        .await
        .unwrap();
    assert!(own.warnings.is_empty(), "{:?}", own.warnings);
    e.call(Operation::Delete, "role/svc", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        e.call(Operation::Read, "role/svc", json!({})).await,
        Err(Error::NotFound)
    ));
    assert!(bad_msg(e.login("svc", &rs(good_claims())).await).contains("could not be found"));
}

#[tokio::test]
async fn role_and_config_validation() {
    let e = env();
    let msg = bad_msg(
        e.call(
            Operation::Update,
            "role/r",
            json!({"role_type": "oidc", "user_claim": "sub", "bound_audiences": "a"}),
        )
        .await,
    );
    assert!(msg.contains("not supported"), "{msg}");
    assert!(bad_msg(
        e.call(
            Operation::Update,
            "role/r",
            json!({"user_claim": "sub", "bound_audiences": "a"})
        )
        .await
    )
    .contains("role_type"));
    assert!(bad_msg(
        e.call(
            Operation::Update,
            "role/r",
            json!({"role_type": "jwt", "bound_audiences": "a"})
        )
        .await
    )
    .contains("user claim"));
    assert!(bad_msg(
        e.call(
            Operation::Update,
            "role/r",
            json!({"role_type": "jwt", "user_claim": "sub"})
        )
        .await
    )
    .contains("bound constraint"));
    assert!(bad_msg(
        e.call(
            Operation::Update,
            "role/r",
            json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "a", "token_policies": "root"})
        )
        .await
    )
    .contains("root"));

    // Exactly one key source.
    assert!(bad_msg(e.call(Operation::Update, "config", json!({})).await).contains("exactly one"));
    assert!(bad_msg(
        e.call(
            Operation::Update,
            "config",
            json!({"jwt_validation_pubkeys": [RSA1_PUB], "jwks_url": "http://127.0.0.1:1/jwks"})
        )
        .await
    )
    .contains("exactly one"));
    assert!(bad_msg(
        e.call(
            Operation::Update,
            "config",
            json!({"jwt_validation_pubkeys": ["not a key"]})
        )
        .await
    )
    .contains("public key"));
    // Login before any config.
    assert!(bad_msg(e.login("r", "x.y.z").await).contains("configuration"));
}

/// A tiny JWKS (and OIDC discovery) server. `jwks` is served at any path but the discovery
/// one; `hits` counts the JWKS requests.
struct JwksServer {
    url: String,
    jwks: Arc<parking_lot::Mutex<String>>,
    hits: Arc<AtomicUsize>,
    /// Answer 500 to JWKS requests.
    fail: Arc<std::sync::atomic::AtomicBool>,
}

fn jwks_of(jwks: &[&str]) -> String {
    let keys: Vec<Value> = jwks
        .iter()
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    json!({ "keys": keys }).to_string()
}

fn serve(tls: bool) -> JwksServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let scheme = if tls { "https" } else { "http" };
    let base = format!("{scheme}://127.0.0.1:{port}");
    let jwks = Arc::new(parking_lot::Mutex::new(jwks_of(&[RSA1_JWK])));
    let hits = Arc::new(AtomicUsize::new(0));
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tls_config = tls.then(|| {
        let certs = rustls_pemfile::certs(&mut SERVER_PEM.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pemfile::private_key(&mut SERVER_KEY.as_bytes())
            .unwrap()
            .unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        )
    });
    let (j, h, b, f) = (jwks.clone(), hits.clone(), base.clone(), fail.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let answer = |s: &mut dyn ReadWrite| {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut status = "200 OK";
                let body = if path == "/.well-known/openid-configuration" {
                    json!({"issuer": b, "jwks_uri": format!("{b}/keys")}).to_string()
                } else {
                    h.fetch_add(1, Ordering::SeqCst);
                    if f.load(Ordering::SeqCst) {
                        status = "500 Internal Server Error";
                    }
                    j.lock().clone()
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.flush();
            };
            match &tls_config {
                Some(cfg) => {
                    let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) else {
                        continue;
                    };
                    let mut s = rustls::StreamOwned::new(conn, tcp);
                    answer(&mut s);
                    s.conn.send_close_notify();
                    let _ = s.flush();
                }
                None => {
                    let mut s = tcp;
                    answer(&mut s);
                }
            }
        }
    });
    JwksServer {
        url: format!("{base}/keys"),
        jwks,
        hits,
        fail,
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Env {
    async fn jwks_role(&self) {
        self.write(
            "role/svc",
            json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "mainkey"}),
        )
        .await;
    }
}

/// Logs in with rsa1, rotates the server to rsa2 only, and checks that the new key is picked
/// up through a `kid` refresh while the rotated-out key is refused.
async fn rotation(e: &Env, srv: &JwksServer) {
    e.jwks_role().await;
    // rsa1's JWK says RS256: the same key under PS256 is refused.
    let ps = sign(Algorithm::PS256, RSA1_KEY, Some("rsa1"), good_claims());
    assert!(bad_msg(e.login("svc", &ps).await).contains("signature"));
    let k1 = sign(Algorithm::RS256, RSA1_KEY, Some("rsa1"), good_claims());
    let k2 = sign(Algorithm::RS256, RSA2_KEY, Some("rsa2"), good_claims());
    assert!(e.login("svc", &k1).await.is_ok());
    // rsa2 is not published yet: refused, and no refetch storm.
    let before = srv.hits.load(Ordering::SeqCst);
    e.clock.advance(keys::REFRESH_MIN_INTERVAL);
    assert!(e.login("svc", &k2).await.is_err());
    for _ in 0..5 {
        assert!(e.login("svc", &k2).await.is_err());
    }
    assert_eq!(srv.hits.load(Ordering::SeqCst), before + 1);

    // Rotate: rsa2 in, rsa1 out.
    *srv.jwks.lock() = jwks_of(&[RSA2_JWK]);
    e.clock.advance(keys::REFRESH_MIN_INTERVAL);
    let r = e.login("svc", &k2).await.unwrap();
    assert_eq!(r.login.unwrap().alias.unwrap().name, "svc-42");
    let msg = bad_msg(e.login("svc", &k1).await);
    assert!(msg.contains("signature"), "{msg}");
    // Still refused once the cache is old enough to be refetched.
    e.clock.advance(keys::MAX_AGE);
    assert!(e.login("svc", &k1).await.is_err());
    // A token without kid is tried against every published key.
    let nokid = sign(Algorithm::RS256, RSA2_KEY, None, good_claims());
    assert!(e.login("svc", &nokid).await.is_ok());
    let nokid1 = sign(Algorithm::RS256, RSA1_KEY, None, good_claims());
    assert!(e.login("svc", &nokid1).await.is_err());
}

#[tokio::test]
async fn jwks_over_http_rotates() {
    let e = env();
    let srv = serve(false);
    e.write("config", json!({"jwks_url": srv.url})).await;
    assert_eq!(e.read("config").await["jwks_url"], json!(srv.url));
    rotation(&e, &srv).await;
}

#[tokio::test]
async fn jwks_over_https_with_a_test_ca_rotates() {
    let e = env();
    let srv = serve(true);
    // Without the CA, or with another one, the server is not trusted.
    let msg = bad_msg(
        e.call(Operation::Update, "config", json!({"jwks_url": srv.url}))
            .await,
    );
    assert!(msg.contains("error checking jwks URL"), "{msg}");
    let msg = bad_msg(
        e.call(
            Operation::Update,
            "config",
            json!({"jwks_url": srv.url, "jwks_ca_pem": OTHER_CA_PEM}),
        )
        .await,
    );
    assert!(msg.contains("error checking jwks URL"), "{msg}");
    e.write(
        "config",
        json!({"jwks_url": srv.url, "jwks_ca_pem": CA_PEM}),
    )
    .await;
    rotation(&e, &srv).await;
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_and_binds_the_issuer() {
    let e = env();
    let srv = serve(false);
    let issuer = srv.url.trim_end_matches("/keys").to_string();
    e.write("config", json!({"oidc_discovery_url": issuer}))
        .await;
    e.jwks_role().await;
    let mut c = good_claims();
    c["iss"] = json!(issuer);
    let ok = sign(Algorithm::RS256, RSA1_KEY, Some("rsa1"), c);
    assert!(e.login("svc", &ok).await.is_ok());
    // Another issuer is refused even though the key is right.
    let other = sign(Algorithm::RS256, RSA1_KEY, Some("rsa1"), good_claims());
    assert!(bad_msg(e.login("svc", &other).await).contains("issuer"));
}

#[tokio::test]
async fn a_jwks_server_that_is_down_is_not_asked_on_every_login() {
    let e = env();
    let srv = serve(false);
    e.write("config", json!({"jwks_url": srv.url})).await;
    e.jwks_role().await;
    // A restart: same storage, empty cache, and the server now fails.
    let e = Env {
        b: Arc::new(Jwt::new(e.clock.clone())),
        s: e.s.clone(),
        clock: e.clock.clone(),
    };
    srv.fail.store(true, Ordering::SeqCst);
    let tok = sign(Algorithm::RS256, RSA1_KEY, Some("rsa1"), good_claims());
    let before = srv.hits.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert!(e.login("svc", &tok).await.is_err());
    }
    assert_eq!(srv.hits.load(Ordering::SeqCst), before + 1);
    srv.fail.store(false, Ordering::SeqCst);
    assert!(e.login("svc", &tok).await.is_err());
    e.clock.advance(keys::REFRESH_MIN_INTERVAL);
    assert!(e.login("svc", &tok).await.is_ok());
    assert_eq!(srv.hits.load(Ordering::SeqCst), before + 2);
}
