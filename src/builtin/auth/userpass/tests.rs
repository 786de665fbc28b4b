//! Userpass against `InmemStorage`; expected bodies are what OpenBao 2.7 answered.

use serde_json::{json, Value};

use super::*;
use crate::logical::fields::into_map;
use crate::logical::InmemStorage;

fn backend() -> Userpass {
    // Cheap parameters keep the tests fast; the login logic does not depend on them.
    Userpass::with_params(Params::new(64, 1, 1, None).unwrap())
}

async fn call_from(
    b: &Userpass,
    s: &InmemStorage,
    op: Operation,
    path: &str,
    data: Value,
    remote: Option<&str>,
) -> Result<Response, Error> {
    let req = super::super::test_request("auth/userpass/", op, path, data, remote);
    b.handle(&req, s).await
}

async fn call(
    b: &Userpass,
    s: &InmemStorage,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response, Error> {
    call_from(b, s, op, path, data, Some("127.0.0.1")).await
}

fn data(r: Response) -> Value {
    Value::Object(r.data.unwrap())
}

fn err(r: Result<Response, Error>) -> Error {
    match r {
        Ok(resp) => panic!("expected an error, got {resp:?}"),
        Err(e) => e,
    }
}

const EMPTY_USER: &str = r#"{"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,"token_num_uses":0,"token_period":0,"token_policies":[],"token_strictly_bind_ip":false,"token_ttl":0,"token_type":"default"}"#;

#[tokio::test]
async fn crud_matches_openbao() {
    let (b, s) = (backend(), InmemStorage::new());
    let r = call(
        &b,
        &s,
        Operation::Update,
        "users/Admin",
        json!({"password": "pw", "policies": "Admin, b", "token_ttl": "1h"}),
    )
    .await
    .unwrap();
    assert!(r.data.is_none() && r.warnings.is_empty());
    let want = json!({"policies":["admin","b"],"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,"token_num_uses":0,"token_period":0,"token_policies":["admin","b"],"token_strictly_bind_ip":false,"token_ttl":3600,"token_type":"default"});
    for name in ["Admin", "admin", "ADMIN"] {
        let got = data(
            call(&b, &s, Operation::Read, &format!("users/{name}"), json!({}))
                .await
                .unwrap(),
        );
        assert_eq!(got, want);
        // Keys in Go's order.
        let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
        let mut sorted_keys = keys.clone();
        sorted_keys.sort();
        assert_eq!(keys, sorted_keys);
    }
    let r = call(&b, &s, Operation::List, "users", json!({}))
        .await
        .unwrap();
    assert_eq!(data(r), json!({"keys": ["admin"]}));
    let r = call(&b, &s, Operation::List, "users/", json!({}))
        .await
        .unwrap();
    assert_eq!(data(r), json!({"keys": ["admin"]}));

    // A user without any token settings.
    call(
        &b,
        &s,
        Operation::Update,
        "users/u2",
        json!({"password": "x", "bogus": 1}),
    )
    .await
    .unwrap();
    let got = data(
        call(&b, &s, Operation::Read, "users/u2", json!({}))
            .await
            .unwrap(),
    );
    assert_eq!(got, serde_json::from_str::<Value>(EMPTY_USER).unwrap());

    // Unknown query parameters warn on a read.
    let r = call(&b, &s, Operation::Read, "users/u2", json!({"zz": "1"}))
        .await
        .unwrap();
    assert_eq!(
        r.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [zz]"]
    );

    call(&b, &s, Operation::Delete, "users/ADMIN", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        err(call(&b, &s, Operation::Read, "users/admin", json!({})).await),
        Error::NotFound
    ));
    // Deleting what is not there is a 204.
    call(&b, &s, Operation::Delete, "users/nobody", json!({}))
        .await
        .unwrap();
    call(&b, &s, Operation::Delete, "users/u2", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        err(call(&b, &s, Operation::List, "users", json!({})).await),
        Error::NotFound
    ));
}

#[tokio::test]
async fn legacy_fields_show_only_when_set_by_their_old_names() {
    let (b, s) = (backend(), InmemStorage::new());
    call(
        &b,
        &s,
        Operation::Update,
        "users/cid",
        json!({"password": "pw", "token_bound_cidrs": "10.0.0.0/8"}),
    )
    .await
    .unwrap();
    call(
        &b,
        &s,
        Operation::Update,
        "users/cid",
        json!({"bound_cidrs": "10.0.0.0/8", "ttl": "1h", "max_ttl": "2h"}),
    )
    .await
    .unwrap();
    let got = data(
        call(&b, &s, Operation::Read, "users/cid", json!({}))
            .await
            .unwrap(),
    );
    assert_eq!(
        got,
        json!({"bound_cidrs":["10.0.0.0/8"],"max_ttl":7200,"token_bound_cidrs":["10.0.0.0/8"],"token_explicit_max_ttl":0,"token_max_ttl":7200,"token_no_default_policy":false,"token_num_uses":0,"token_period":0,"token_policies":[],"token_strictly_bind_ip":false,"token_ttl":3600,"token_type":"default","ttl":3600})
    );
    // Writing the new names drops the old ones from the read.
    call(
        &b,
        &s,
        Operation::Update,
        "users/cid",
        json!({"token_ttl": "5m", "token_max_ttl": "1h", "token_bound_cidrs": "", "policies": "g"}),
    )
    .await
    .unwrap();
    let got = data(
        call(&b, &s, Operation::Read, "users/cid", json!({}))
            .await
            .unwrap(),
    );
    assert_eq!(got["token_ttl"], 300);
    assert!(
        got.get("ttl").is_none()
            && got.get("max_ttl").is_none()
            && got.get("bound_cidrs").is_none()
    );
    assert_eq!(got["policies"], json!(["g"]));
    call(
        &b,
        &s,
        Operation::Update,
        "users/cid",
        json!({"policies": ""}),
    )
    .await
    .unwrap();
    let got = data(
        call(&b, &s, Operation::Read, "users/cid", json!({}))
            .await
            .unwrap(),
    );
    assert!(got.get("policies").is_none());
    assert_eq!(got["token_policies"], json!([]));
}

#[tokio::test]
async fn write_errors_match_openbao() {
    let (b, s) = (backend(), InmemStorage::new());
    for body in [
        json!({}),
        json!({"password": ""}),
        json!({"token_ttl": "1h"}),
    ] {
        let e = err(call(&b, &s, Operation::Update, "users/u", body).await);
        assert_eq!(
            e.to_string(),
            "must provide either password or password_hash"
        );
    }
    let e = err(call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"password": "x", "password_hash": "y"}),
    )
    .await);
    assert_eq!(
        e.to_string(),
        "only one of password or password_hash may be provided"
    );
    let e = err(call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"password_hash": "notahash"}),
    )
    .await);
    assert!(matches!(e, Error::BadRequest(_)));
    let e = err(call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"password": "x", "token_ttl": "-1"}),
    )
    .await);
    assert_eq!(
        e.to_string(),
        "error converting input for field \"token_ttl\": cannot provide negative value '-1'"
    );
    // Nothing was stored by a refused write.
    assert!(s.list("user/").await.unwrap().is_empty());

    // An existing user may be updated without a password; an empty one changes nothing.
    call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"password": "pw"}),
    )
    .await
    .unwrap();
    call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"password": "", "token_ttl": "1m"}),
    )
    .await
    .unwrap();
    call(
        &b,
        &s,
        Operation::Update,
        "login/u",
        json!({"password": "pw"}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn root_is_never_granted() {
    let (b, s) = (backend(), InmemStorage::new());
    for (key, spelling) in [
        ("token_policies", json!("root")),
        ("token_policies", json!("Root")),
        ("token_policies", json!(" root")),
        ("token_policies", json!("root ")),
        ("token_policies", json!(["a", "ROOT"])),
        ("policies", json!("ROOT")),
        ("policies", json!("a, root")),
    ] {
        let mut body = into_map(json!({"password": "pw"}));
        body.insert(key.into(), spelling.clone());
        let e = err(call(&b, &s, Operation::Update, "users/u", Value::Object(body)).await);
        assert!(matches!(e, Error::BadRequest(_)), "{key}={spelling}");
    }
    assert!(s.list("user/").await.unwrap().is_empty());
    call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"password": "pw"}),
    )
    .await
    .unwrap();
    for body in [
        json!({"token_policies": "Root"}),
        json!({"policies": " root"}),
    ] {
        let e = err(call(&b, &s, Operation::Update, "users/u/policies", body).await);
        assert!(matches!(e, Error::BadRequest(_)));
    }
    let r = call(
        &b,
        &s,
        Operation::Update,
        "login/u",
        json!({"password": "pw"}),
    )
    .await
    .unwrap();
    assert!(r.login.unwrap().policies.is_empty());
}

#[tokio::test]
async fn login_returns_an_auth_like_openbao() {
    let (b, s) = (backend(), InmemStorage::new());
    call(
        &b,
        &s,
        Operation::Update,
        "users/Admin",
        json!({"password": "pw", "token_policies": "B,admin", "token_ttl": "1h", "token_max_ttl": "2h", "token_num_uses": 4}),
    )
    .await
    .unwrap();
    let r = call(
        &b,
        &s,
        Operation::Update,
        "login/ADMIN",
        json!({"password": "pw", "zzz": 1}),
    )
    .await
    .unwrap();
    assert!(r.data.is_none());
    assert_eq!(
        r.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [zzz]"]
    );
    let auth = r.login.unwrap();
    assert_eq!(auth.policies, vec!["admin", "b"]);
    assert_eq!(
        auth.metadata.get("username").map(String::as_str),
        Some("admin")
    );
    assert_eq!(auth.metadata.len(), 1);
    assert_eq!(auth.display_name, "admin");
    let alias = auth.alias.unwrap();
    assert_eq!(alias.name, "admin");
    assert!(alias.metadata.is_empty());
    assert_eq!((auth.ttl, auth.max_ttl, auth.num_uses), (3600, 7200, 4));
    assert!(auth.renewable && !auth.no_default_policy);
    assert!(auth.bound_cidrs.is_empty());
    assert_eq!(b.unauthenticated_paths(), &["login/*"]);
}

#[tokio::test]
async fn bad_logins_look_alike_and_cost_one_verification_each() {
    let (b, s) = (backend(), InmemStorage::new());
    call(
        &b,
        &s,
        Operation::Update,
        "users/alice",
        json!({"password": "right"}),
    )
    .await
    .unwrap();

    let before = b.verifications();
    let wrong = err(call(
        &b,
        &s,
        Operation::Update,
        "login/alice",
        json!({"password": "wrong"}),
    )
    .await);
    assert_eq!(b.verifications(), before + 1);
    let unknown = err(call(
        &b,
        &s,
        Operation::Update,
        "login/mallory",
        json!({"password": "wrong"}),
    )
    .await);
    // The unknown user ran a full verification too (against the dummy hash).
    assert_eq!(b.verifications(), before + 2);
    assert!(matches!(wrong, Error::BadRequest(_)) && matches!(unknown, Error::BadRequest(_)));
    assert_eq!(wrong.to_string(), "invalid username or password");
    assert_eq!(unknown.to_string(), wrong.to_string());

    // The dummy hash lets no one in.
    for guess in ["dummy", "password", "x"] {
        assert!(call(
            &b,
            &s,
            Operation::Update,
            "login/nobody",
            json!({"password": guess})
        )
        .await
        .is_err());
    }

    // A user whose stored hash is unusable fails the same way, after one verification.
    let corrupt = serde_json::to_vec(&json!({"password_hash": "garbage"})).unwrap();
    s.put("user/broken", corrupt).await.unwrap();
    let n = b.verifications();
    let e = err(call(
        &b,
        &s,
        Operation::Update,
        "login/broken",
        json!({"password": "garbage"}),
    )
    .await);
    assert_eq!(e.to_string(), "invalid username or password");
    assert_eq!(b.verifications(), n + 1);

    // A missing password is Vault's 500, for known and unknown users alike.
    for user in ["alice", "mallory"] {
        let e = err(call(
            &b,
            &s,
            Operation::Update,
            &format!("login/{user}"),
            json!({}),
        )
        .await);
        assert!(matches!(e, Error::Internal(ref m) if m == "missing password"));
    }
}

#[tokio::test]
async fn passwords_are_stored_only_as_argon2id() {
    let (b, s) = (backend(), InmemStorage::new());
    let secret = "correct horse battery staple";
    call(
        &b,
        &s,
        Operation::Update,
        "users/bob",
        json!({"password": secret}),
    )
    .await
    .unwrap();
    let raw = s.get("user/bob").await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(!text.contains(secret) && !text.contains("horse"));
    let stored: Value = serde_json::from_str(&text).unwrap();
    let phc = stored["password_hash"].as_str().unwrap();
    assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
    // Salted: the same password hashes differently for another user.
    call(
        &b,
        &s,
        Operation::Update,
        "users/carol",
        json!({"password": secret}),
    )
    .await
    .unwrap();
    let other: Value =
        serde_json::from_slice(&s.get("user/carol").await.unwrap().unwrap()).unwrap();
    assert_ne!(other["password_hash"], stored["password_hash"]);
    // No read shows it.
    let got = data(
        call(&b, &s, Operation::Read, "users/bob", json!({}))
            .await
            .unwrap(),
    );
    assert!(!got.to_string().contains("argon2"));
}

#[tokio::test]
async fn password_endpoint_and_prehashed_passwords() {
    let (b, s) = (backend(), InmemStorage::new());
    call(
        &b,
        &s,
        Operation::Update,
        "users/bob",
        json!({"password": "old"}),
    )
    .await
    .unwrap();
    call(
        &b,
        &s,
        Operation::Update,
        "users/BOB/password",
        json!({"password": "new"}),
    )
    .await
    .unwrap();
    assert!(call(
        &b,
        &s,
        Operation::Update,
        "login/bob",
        json!({"password": "old"})
    )
    .await
    .is_err());
    call(
        &b,
        &s,
        Operation::Update,
        "login/bob",
        json!({"password": "new"}),
    )
    .await
    .unwrap();

    let e = err(call(
        &b,
        &s,
        Operation::Update,
        "users/nobody/password",
        json!({"password": "x"}),
    )
    .await);
    assert!(
        matches!(e, Error::Internal(ref m) if m == "1 error occurred:\n\t* username does not exist\n\n")
    );
    for body in [json!({}), json!({"password": ""})] {
        let e = err(call(&b, &s, Operation::Update, "users/bob/password", body).await);
        assert_eq!(
            e.to_string(),
            "must provide either password or password_hash"
        );
    }
    assert!(matches!(
        err(call(&b, &s, Operation::Read, "users/bob/password", json!({})).await),
        Error::UnsupportedOperation
    ));

    // A pre-hashed argon2id password.
    let phc = b
        .hash(Zeroizing::new("hashed-pw".to_string()))
        .await
        .unwrap();
    call(
        &b,
        &s,
        Operation::Update,
        "users/dave",
        json!({"password_hash": phc}),
    )
    .await
    .unwrap();
    call(
        &b,
        &s,
        Operation::Update,
        "login/dave",
        json!({"password": "hashed-pw"}),
    )
    .await
    .unwrap();
    // Only argon2id is taken.
    let argon2i = "$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    assert!(call(
        &b,
        &s,
        Operation::Update,
        "users/erin",
        json!({"password_hash": argon2i})
    )
    .await
    .is_err());
}

#[tokio::test]
async fn policies_endpoint_matches_openbao() {
    let (b, s) = (backend(), InmemStorage::new());
    call(
        &b,
        &s,
        Operation::Update,
        "users/u2",
        json!({"password": "pw", "token_ttl": 300}),
    )
    .await
    .unwrap();
    call(
        &b,
        &s,
        Operation::Update,
        "users/u2/policies",
        json!({"token_policies": "X,y"}),
    )
    .await
    .unwrap();
    let got = data(
        call(&b, &s, Operation::Read, "users/u2", json!({}))
            .await
            .unwrap(),
    );
    assert_eq!(got["token_policies"], json!(["x", "y"]));
    assert!(got.get("policies").is_none());
    call(
        &b,
        &s,
        Operation::Update,
        "users/u2/policies",
        json!({"policies": "P,q"}),
    )
    .await
    .unwrap();
    let got = data(
        call(&b, &s, Operation::Read, "users/u2", json!({}))
            .await
            .unwrap(),
    );
    assert_eq!(
        (got["policies"].clone(), got["token_policies"].clone()),
        (json!(["p", "q"]), json!(["p", "q"]))
    );
    // An empty body changes nothing.
    call(&b, &s, Operation::Update, "users/u2/policies", json!({}))
        .await
        .unwrap();
    let again = data(
        call(&b, &s, Operation::Read, "users/u2", json!({}))
            .await
            .unwrap(),
    );
    assert_eq!(again, got);
    let e = err(call(
        &b,
        &s,
        Operation::Update,
        "users/nobody/policies",
        json!({"policies": "x"}),
    )
    .await);
    assert!(matches!(e, Error::Internal(_)));
    assert_eq!(
        e.to_string(),
        "1 error occurred:\n\t* username does not exist\n\n"
    );
}

#[tokio::test]
async fn token_bound_cidrs_are_enforced_at_login() {
    let (b, s) = (backend(), InmemStorage::new());
    call(
        &b,
        &s,
        Operation::Update,
        "users/cid",
        json!({"password": "pw", "token_bound_cidrs": "10.0.0.0/8"}),
    )
    .await
    .unwrap();
    let r = call_from(
        &b,
        &s,
        Operation::Update,
        "login/cid",
        json!({"password": "pw"}),
        Some("10.1.2.3"),
    )
    .await
    .unwrap();
    assert_eq!(
        r.login.unwrap().bound_cidrs,
        vec![crate::logical::IpNet::parse("10.0.0.0/8").unwrap()]
    );
    for remote in [Some("127.0.0.1"), Some("::1"), None] {
        let e = err(call_from(
            &b,
            &s,
            Operation::Update,
            "login/cid",
            json!({"password": "pw"}),
            remote,
        )
        .await);
        assert!(matches!(e, Error::PermissionDenied), "{remote:?}");
    }
    // A wrong password from a bad address is still the password error.
    let e = err(call_from(
        &b,
        &s,
        Operation::Update,
        "login/cid",
        json!({"password": "no"}),
        Some("127.0.0.1"),
    )
    .await);
    assert_eq!(e.to_string(), "invalid username or password");

    // token_strictly_bind_ip binds the token to the login address.
    call(
        &b,
        &s,
        Operation::Update,
        "users/strict",
        json!({"password": "pw", "token_strictly_bind_ip": true}),
    )
    .await
    .unwrap();
    let r = call_from(
        &b,
        &s,
        Operation::Update,
        "login/strict",
        json!({"password": "pw"}),
        Some("192.0.2.9"),
    )
    .await
    .unwrap();
    assert_eq!(
        r.login.unwrap().bound_cidrs,
        vec![crate::logical::IpNet::parse("192.0.2.9").unwrap()]
    );
}

#[tokio::test]
async fn unknown_paths_and_operations() {
    let (b, s) = (backend(), InmemStorage::new());
    for path in [
        "users/a@b",
        "users/-ab",
        "users/a/b",
        "users/a/password/x",
        "nope",
        "users/a/",
    ] {
        let e = err(call(&b, &s, Operation::Read, path, json!({})).await);
        assert_eq!(
            e.to_string(),
            "1 error occurred:\n\t* unsupported path\n\n",
            "{path}"
        );
        assert!(matches!(e, Error::NoHandler(_)));
    }
    for path in ["login", "login/a@b"] {
        let e = err(call(&b, &s, Operation::Update, path, json!({"password": "x"})).await);
        assert_eq!(e.to_string(), "unsupported path", "{path}");
    }
    assert!(matches!(
        err(call(&b, &s, Operation::Read, "users/", json!({})).await),
        Error::UnsupportedOperation
    ));
    assert!(matches!(
        err(call(&b, &s, Operation::Read, "login/a", json!({})).await),
        Error::UnsupportedOperation
    ));
    for path in ["users/a", "login/a"] {
        let e = err(call(&b, &s, Operation::List, path, json!({})).await);
        assert!(matches!(e, Error::NoHandler(_)), "{path}");
    }
    // A valid odd-but-legal name works.
    call(
        &b,
        &s,
        Operation::Update,
        "users/a.b-c_d",
        json!({"password": "x"}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn renewal_needs_the_user_and_the_same_policies() {
    let (b, s) = (backend(), InmemStorage::new());
    call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"password": "pw", "token_policies": "a,b", "token_ttl": 60}),
    )
    .await
    .unwrap();
    let mut auth = call(
        &b,
        &s,
        Operation::Update,
        "login/u",
        json!({"password": "pw"}),
    )
    .await
    .unwrap()
    .login
    .unwrap();
    // The core adds `default`; that is not a change.
    auth.policies.push("default".into());
    call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"token_ttl": 120, "token_max_ttl": 600}),
    )
    .await
    .unwrap();
    let terms = b.renew(&s, &auth).await.unwrap();
    assert_eq!(
        terms,
        crate::builtin::auth::Renewal {
            ttl: 120,
            max_ttl: 600,
            period: 0
        }
    );
    call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"token_policies": "a"}),
    )
    .await
    .unwrap();
    assert_eq!(
        b.renew(&s, &auth).await.unwrap_err().to_string(),
        "policies have changed, not renewing"
    );
    call(&b, &s, Operation::Delete, "users/u", json!({}))
        .await
        .unwrap();
    assert!(b.renew(&s, &auth).await.is_err());
}

#[tokio::test]
async fn a_pre_hashed_password_may_not_cost_more_than_the_hashing_threads_can_afford() {
    let (b, s) = (backend(), InmemStorage::new());
    // m = 4 GiB: every login to this user would allocate it.
    let costly = "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$\
                  qIvlnQqvDnAH5QmcYtQb1zXMX3iGYi0z4qNWc1hdGSg";
    let e = err(call(
        &b,
        &s,
        Operation::Update,
        "users/u",
        json!({"password_hash": costly}),
    )
    .await);
    assert!(e.to_string().contains("costs more than"), "{e}");
    // Stored anyway (an older version, or by hand): verified as the dummy, never at its cost.
    let stored = serde_json::to_vec(&json!({"password_hash": costly})).unwrap();
    s.put("user/u", stored).await.unwrap();
    let e = err(call(
        &b,
        &s,
        Operation::Update,
        "login/u",
        json!({"password": "x"}),
    )
    .await);
    assert_eq!(e.to_string(), "invalid username or password");
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_user_for_fifteen_minutes_at_the_same_cost() {
    use crate::clock::ManualClock;
    use std::time::{Duration, UNIX_EPOCH};
    let clock = std::sync::Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(1 << 30)));
    let b = backend().with_clock(clock.clone());
    let s = InmemStorage::new();
    call(
        &b,
        &s,
        Operation::Update,
        "users/alice",
        json!({"password": "right"}),
    )
    .await
    .unwrap();
    let login = |password: &'static str| {
        let (b, s) = (&b, &s);
        async move {
            call(
                b,
                s,
                Operation::Update,
                "login/alice",
                json!({ "password": password }),
            )
            .await
        }
    };
    for _ in 0..5 {
        assert!(login("wrong").await.is_err());
    }
    let before = b.verifications();
    let e = err(login("right").await);
    // The answer of a wrong password, and its one verification.
    assert_eq!(e.to_string(), "invalid username or password");
    assert!(matches!(e, Error::BadRequest(_)));
    assert_eq!(b.verifications(), before + 1);
    assert_eq!(
        b.lockout().locked(&s, &Default::default()).await.unwrap(),
        vec!["alice".to_string()]
    );

    clock.advance(Duration::from_secs(15 * 60 - 1));
    assert!(login("right").await.is_err());
    clock.advance(Duration::from_secs(1));
    login("right").await.unwrap();

    // An unknown name locks the same way, so locking tells nothing about who exists.
    for _ in 0..5 {
        let _ = call(
            &b,
            &s,
            Operation::Update,
            "login/ghost",
            json!({"password": "x"}),
        )
        .await;
    }
    assert_eq!(
        b.lockout().locked(&s, &Default::default()).await.unwrap(),
        vec!["ghost".to_string()]
    );
}

#[test]
fn hashes_in_reused_memory_agree_with_the_argon2_crate_both_ways() {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(256, 2, 1, None).unwrap();
    // Ours, checked by the crate.
    let phc = super::hash_phc("s3cret", params.clone()).unwrap();
    let parsed = PasswordHash::new(&phc).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=256,t=2,p=1$"), "{phc}");
    assert!(Argon2::default()
        .verify_password(b"s3cret", &parsed)
        .is_ok());
    assert!(Argon2::default()
        .verify_password(b"other", &parsed)
        .is_err());
    // The crate's (as stored by earlier versions), checked by ours.
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(b"s3cret", &salt)
        .unwrap()
        .to_string();
    let parsed = PasswordHash::new(&theirs).unwrap();
    assert!(super::verify_phc(b"s3cret", &parsed));
    assert!(!super::verify_phc(b"s3creT", &parsed));
    // A larger cost after a smaller one reuses and grows the same buffer.
    let big = super::hash_phc("x", Params::new(1024, 1, 1, None).unwrap()).unwrap();
    assert!(super::verify_phc(b"x", &PasswordHash::new(&big).unwrap()));
    assert!(super::verify_phc(b"s3cret", &parsed));
}
