//! AppRole against `InmemStorage` and a `ManualClock`; expected bodies are what OpenBao 2.7
//! answered for the same requests.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};

use super::*;
use crate::clock::ManualClock;
use crate::logical::fields::into_map;
use crate::logical::{InmemStorage, IpNet};

const START: u64 = 1_795_613_361;

struct Env {
    b: Arc<AppRole>,
    s: Arc<InmemStorage>,
    clock: Arc<ManualClock>,
}

fn env() -> Env {
    let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(START)));
    Env {
        b: Arc::new(AppRole::new(clock.clone())),
        s: Arc::new(InmemStorage::new()),
        clock,
    }
}

fn err(r: Result<Response, Error>) -> Error {
    match r {
        Ok(resp) => panic!("expected an error, got {resp:?}"),
        Err(e) => e,
    }
}

fn data(r: Response) -> Value {
    Value::Object(r.data.unwrap())
}

impl Env {
    async fn call_from(
        &self,
        op: Operation,
        path: &str,
        body: Value,
        remote: Option<&str>,
    ) -> Result<Response, Error> {
        let req = super::super::test_request("auth/approle/", op, path, body, remote);
        self.b.handle(&req, self.s.as_ref()).await
    }

    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, Error> {
        self.call_from(op, path, body, Some("127.0.0.1")).await
    }

    async fn write(&self, path: &str, body: Value) -> Response {
        self.call(Operation::Update, path, body).await.unwrap()
    }

    async fn read(&self, path: &str) -> Value {
        data(self.call(Operation::Read, path, json!({})).await.unwrap())
    }

    async fn role_id(&self, role: &str) -> String {
        self.read(&format!("role/{role}/role-id")).await["role_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Generates a secret-id; returns (secret_id, accessor).
    async fn secret_id(&self, role: &str, body: Value) -> (String, String) {
        let d = data(self.write(&format!("role/{role}/secret-id"), body).await);
        (
            d["secret_id"].as_str().unwrap().to_string(),
            d["secret_id_accessor"].as_str().unwrap().to_string(),
        )
    }

    async fn login_from(
        &self,
        role_id: &str,
        secret_id: &str,
        remote: Option<&str>,
    ) -> Result<Response, Error> {
        self.call_from(
            Operation::Update,
            "login",
            json!({"role_id": role_id, "secret_id": secret_id}),
            remote,
        )
        .await
    }

    async fn login(&self, role_id: &str, secret_id: &str) -> Result<Response, Error> {
        self.login_from(role_id, secret_id, Some("127.0.0.1")).await
    }

    /// Every (key, value) in storage.
    async fn dump(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut dirs = vec![String::new()];
        while let Some(dir) = dirs.pop() {
            for child in self.s.list(&dir).await.unwrap() {
                let key = format!("{dir}{child}");
                if key.ends_with('/') {
                    dirs.push(key);
                } else {
                    let v = self.s.get(&key).await.unwrap().unwrap();
                    out.push((key, v));
                }
            }
        }
        out.sort();
        out
    }

    async fn keys_under(&self, prefix: &str) -> Vec<String> {
        self.dump()
            .await
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(prefix))
            .collect()
    }
}

#[tokio::test]
async fn role_crud_matches_openbao() {
    let e = env();
    let r = e
        .write(
            "role/MyRole",
            json!({"token_policies": "A,b", "secret_id_ttl": "10m", "token_ttl": "1h", "token_max_ttl": "4h"}),
        )
        .await;
    assert!(r.data.is_none() && r.warnings.is_empty());
    // OpenBao keeps `token_policies` as typed (["A","b"]); mainkey normalizes policy names.
    let want = json!({"bind_secret_id":true,"local_secret_ids":false,"secret_id_bound_cidrs":null,"secret_id_num_uses":0,"secret_id_ttl":600,"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":14400,"token_no_default_policy":false,"token_num_uses":0,"token_period":0,"token_policies":["a","b"],"token_strictly_bind_ip":false,"token_ttl":3600,"token_type":"default"});
    assert_eq!(e.read("role/MyRole").await, want);
    assert_eq!(e.read("role/myrole").await, want);
    let listed = data(e.call(Operation::List, "role", json!({})).await.unwrap());
    assert_eq!(listed, json!({"keys": ["myrole"]}));
    let listed = data(e.call(Operation::List, "role/", json!({})).await.unwrap());
    assert_eq!(listed, json!({"keys": ["myrole"]}));

    // The role_id is a UUID, the same through any spelling of the name.
    let id = e.role_id("MyRole").await;
    assert_eq!(id, e.role_id("myrole").await);
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(
        e.read("role/myrole/role-id").await,
        json!({ "role_id": id })
    );
    assert_eq!(
        e.read("role/myrole/local-secret-ids").await,
        json!({"local_secret_ids": false})
    );

    // An update keeps what it does not name.
    e.write("role/myrole", json!({"secret_id_num_uses": 3}))
        .await;
    let got = e.read("role/myrole").await;
    assert_eq!(got["secret_id_num_uses"], 3);
    assert_eq!(got["token_ttl"], 3600);
    assert_eq!(e.role_id("myrole").await, id);

    e.call(Operation::Delete, "role/MyRole", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        err(e.call(Operation::Read, "role/myrole", json!({})).await),
        Error::NotFound
    ));
    assert!(matches!(
        err(e
            .call(Operation::Read, "role/myrole/role-id", json!({}))
            .await),
        Error::NotFound
    ));
    assert!(matches!(
        err(e.call(Operation::List, "role", json!({})).await),
        Error::NotFound
    ));
    // Deleting a missing role is a 204.
    e.call(Operation::Delete, "role/nope", json!({}))
        .await
        .unwrap();
    assert_eq!(e.b.unauthenticated_paths(), &["login"]);
}

#[tokio::test]
async fn legacy_role_fields_render_like_openbao() {
    let e = env();
    e.write("role/rh", json!({"secret_id_bound_cidrs": ""}))
        .await;
    assert_eq!(e.read("role/rh").await["secret_id_bound_cidrs"], json!([]));
    e.write(
        "role/rh",
        json!({"bound_cidr_list": "10.0.0.0/8", "policies": "X,a", "period": "1h"}),
    )
    .await;
    let want = json!({"bind_secret_id":true,"local_secret_ids":false,"period":3600,"policies":["a","x"],"secret_id_bound_cidrs":["10.0.0.0/8"],"secret_id_num_uses":0,"secret_id_ttl":0,"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,"token_num_uses":0,"token_period":3600,"token_policies":["a","x"],"token_strictly_bind_ip":false,"token_ttl":0,"token_type":"default"});
    assert_eq!(e.read("role/rh").await, want);
    e.write(
        "role/rh",
        json!({"token_period": 60, "token_policies": "z"}),
    )
    .await;
    let got = e.read("role/rh").await;
    assert!(got.get("period").is_none() && got.get("policies").is_none());
    assert_eq!(got["token_period"], 60);

    e.write("role/ri", json!({"local_secret_ids": true})).await;
    assert_eq!(e.read("role/ri").await["local_secret_ids"], true);
    let er = err(e
        .call(
            Operation::Update,
            "role/ri",
            json!({"local_secret_ids": true}),
        )
        .await);
    assert_eq!(
        er.to_string(),
        "local_secret_ids can only be modified during role creation"
    );
}

#[tokio::test]
async fn role_write_errors_and_warnings_match_openbao() {
    let e = env();
    let multi = |m: &str| format!("1 error occurred:\n\t* {m}\n\n");
    let cases: Vec<(Value, String, bool)> = vec![
        (json!({"bind_secret_id": false}), multi("at least one constraint should be enabled on the role"), true),
        (json!({"secret_id_bound_cidrs": "10.1.2.3/8, 10.0.0.1"}), multi("failed to validate CIDR blocks: invalid CIDR address: 10.0.0.1"), true),
        (json!({"secret_id_bound_cidrs": "bad"}), multi("failed to validate CIDR blocks: invalid CIDR address: bad"), true),
        (json!({"token_bound_cidrs": "bad"}), "error parsing address \"bad\": Unable to convert \"bad\" to an IPv4 or IPv6 address, or a UNIX Socket".into(), false),
        (json!({"token_type": "xx"}), "invalid 'token_type' value \"xx\"".into(), false),
        (json!({"token_ttl": "-1s"}), "error converting input for field \"token_ttl\": cannot provide negative value '-1'".into(), false),
        (json!({"token_ttl": "2h", "token_max_ttl": "1h"}), "'token_ttl' cannot be greater than 'token_max_ttl'".into(), false),
        (json!({"token_num_uses": -1}), "'token_num_uses' cannot be negative".into(), false),
        (json!({"secret_id_num_uses": -1}), "secret_id_num_uses cannot be negative".into(), false),
        (json!({"secret_id_ttl": "-1"}), "error converting input for field \"secret_id_ttl\": cannot provide negative value '-1'".into(), false),
        (json!({"period": "10000h"}), "period of \"10000h0m0s\" is greater than the backend's maximum lease TTL of \"768h0m0s\"".into(), false),
        (json!({"role_id": ""}), "invalid role_id supplied, or failed to generate a role_id".into(), false),
        (json!({"token_strictly_bind_ip": true, "bound_cidr_list": "10.0.0.0/8", "token_bound_cidrs": "10.0.0.0/8"}), "'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one".into(), false),
    ];
    for (body, want, internal_error) in cases {
        let er = err(e.call(Operation::Update, "role/re", body.clone()).await);
        assert_eq!(er.to_string(), want, "{body}");
        assert_eq!(matches!(er, Error::Internal(_)), internal_error, "{body}");
        assert!(matches!(er, Error::Internal(_) | Error::BadRequest(_)));
    }
    // Nothing was stored by a refused write.
    assert!(e.keys_under("role").await.is_empty());

    let r = e
        .write("role/re", json!({"token_type": "default-service"}))
        .await;
    assert_eq!(
        r.warnings,
        vec!["default-service has no useful meaning; adjusting to service"]
    );
    assert_eq!(e.read("role/re").await["token_type"], "service");
    let r = e.write("role/re", json!({"token_max_ttl": "10000h"})).await;
    assert_eq!(r.warnings, vec!["token_max_ttl is greater than the backend mount's maximum TTL value; issued tokens' max TTL value will be truncated"]);
    // token_period is not checked against the maximum (only the legacy `period` is).
    e.write("role/re", json!({"token_period": "1000h"})).await;
    // A role that binds neither a secret-id nor CIDRs can still exist with token CIDRs.
    e.write(
        "role/rd",
        json!({"bind_secret_id": false, "token_bound_cidrs": "127.0.0.1"}),
    )
    .await;
    assert_eq!(
        e.read("role/rd").await["token_bound_cidrs"],
        json!(["127.0.0.1"])
    );
    let er = err(e
        .call(
            Operation::Update,
            "role/rd",
            json!({"token_bound_cidrs": ""}),
        )
        .await);
    assert_eq!(
        er.to_string(),
        multi("at least one constraint should be enabled on the role")
    );
    // Batch tokens are refused.
    assert!(e
        .call(Operation::Update, "role/rb", json!({"token_type": "batch"}))
        .await
        .is_err());
}

#[tokio::test]
async fn root_cannot_be_granted_by_a_role() {
    let e = env();
    for body in [
        json!({"token_policies": "root"}),
        json!({"token_policies": "Root"}),
        json!({"token_policies": " root"}),
        json!({"token_policies": "root "}),
        json!({"token_policies": ["a", "ROOT"]}),
        json!({"policies": "a,Root"}),
    ] {
        let er = err(e.call(Operation::Update, "role/r", body.clone()).await);
        assert!(matches!(er, Error::BadRequest(_)), "{body}");
    }
    assert!(e.keys_under("role").await.is_empty());
    e.write("role/r", json!({"token_policies": "a"})).await;
    let er = err(e
        .call(
            Operation::Update,
            "role/r",
            json!({"token_policies": "a,root"}),
        )
        .await);
    assert!(matches!(er, Error::BadRequest(_)));
    assert_eq!(e.read("role/r").await["token_policies"], json!(["a"]));
}

#[tokio::test]
async fn role_id_can_be_set_and_is_unique() {
    let e = env();
    e.write("role/ra", json!({})).await;
    e.write("role/rb", json!({})).await;
    let old = e.role_id("ra").await;
    let (sid, _) = e.secret_id("ra", json!({})).await;
    e.write("role/ra/role-id", json!({"role_id": "custom-rid"}))
        .await;
    assert_eq!(e.role_id("ra").await, "custom-rid");
    // The old role_id no longer logs in; the new one does, with the same secret-id.
    assert_eq!(
        err(e.login(&old, &sid).await).to_string(),
        "invalid role or secret ID"
    );
    e.login("custom-rid", &sid).await.unwrap();

    let multi = "1 error occurred:\n\t* role_id already in use\n\n";
    let er = err(e
        .call(
            Operation::Update,
            "role/rb/role-id",
            json!({"role_id": "custom-rid"}),
        )
        .await);
    assert_eq!(er.to_string(), multi);
    let er = err(e
        .call(
            Operation::Update,
            "role/rc",
            json!({"role_id": "custom-rid"}),
        )
        .await);
    assert_eq!(er.to_string(), multi);
    for body in [json!({}), json!({"role_id": ""})] {
        let er = err(e.call(Operation::Update, "role/rb/role-id", body).await);
        assert_eq!(er.to_string(), "missing role_id");
    }
    let er = err(e
        .call(
            Operation::Update,
            "role/nope/role-id",
            json!({"role_id": "x"}),
        )
        .await);
    assert_eq!(
        er.to_string(),
        "1 error occurred:\n\t* unsupported path\n\n"
    );
    // A role_id given at creation.
    e.write("role/rd", json!({"role_id": "rd-id"})).await;
    assert_eq!(e.role_id("rd").await, "rd-id");
}

#[tokio::test]
async fn secret_ids_generate_and_look_up_like_openbao() {
    let e = env();
    e.write("role/myrole", json!({"secret_id_ttl": "10m"}))
        .await;
    let r = e
        .write(
            "role/myrole/secret-id",
            json!({"metadata": "{\"tenant_id\":\"t1\"}", "bogus": 1}),
        )
        .await;
    assert_eq!(
        r.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [bogus]"]
    );
    let d = data(r);
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec![
            "secret_id",
            "secret_id_accessor",
            "secret_id_num_uses",
            "secret_id_ttl"
        ]
    );
    assert_eq!(
        (d["secret_id_num_uses"].clone(), d["secret_id_ttl"].clone()),
        (json!(0), json!(600))
    );
    let sid = d["secret_id"].as_str().unwrap().to_string();
    let acc = d["secret_id_accessor"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&sid).is_ok() && uuid::Uuid::parse_str(&acc).is_ok());

    e.clock.advance(Duration::from_secs(5));
    let want = json!({
        "cidr_list": [],
        "creation_time": "2026-11-25T13:29:21Z",
        "expiration_time": "2026-11-25T13:39:21Z",
        "last_updated_time": "2026-11-25T13:29:21Z",
        "metadata": {"tenant_id": "t1"},
        "secret_id_accessor": acc,
        "secret_id_num_uses": 0,
        "secret_id_ttl": 600,
        "token_bound_cidrs": []
    });
    let got = data(
        e.call(
            Operation::Update,
            "role/myrole/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(got, want);
    let got = data(
        e.call(
            Operation::Update,
            "role/myrole/secret-id-accessor/lookup",
            json!({"secret_id_accessor": acc}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(got, want);
    let listed = data(
        e.call(Operation::List, "role/myrole/secret-id", json!({}))
            .await
            .unwrap(),
    );
    assert_eq!(listed, json!({ "keys": [acc] }));

    // A secret-id without a TTL never expires: Go's zero time.
    e.write("role/forever", json!({})).await;
    let r = e
        .write(
            "role/forever/custom-secret-id",
            json!({"secret_id": "my-secret", "metadata": "x=y"}),
        )
        .await;
    assert_eq!(data(r)["secret_id"], "my-secret");
    let got = data(
        e.call(
            Operation::Update,
            "role/forever/secret-id/lookup",
            json!({"secret_id": "my-secret"}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(got["expiration_time"], "0001-01-01T00:00:00Z");
    assert_eq!(got["metadata"], json!({"x": "y"}));
    // A TTL above the mount's maximum is capped in the answer and the expiry, as Vault does.
    let d = data(
        e.write("role/forever/secret-id", json!({"ttl": "1000h"}))
            .await,
    );
    assert_eq!(d["secret_id_ttl"], 2_764_800);

    // Lookups of what does not exist are 204s.
    let r = e
        .call(
            Operation::Update,
            "role/myrole/secret-id/lookup",
            json!({"secret_id": "nope"}),
        )
        .await
        .unwrap();
    assert!(r.data.is_none() && r.status.is_none());
    let r = e
        .call(
            Operation::Update,
            "role/myrole/secret-id-accessor/lookup",
            json!({"secret_id_accessor": "nope"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, Some(404));
    assert_eq!(
        data(r),
        json!({"error": "failed to find accessor entry for secret_id_accessor: \"nope\""})
    );
}

#[tokio::test]
async fn secret_id_requests_are_checked_like_openbao() {
    let e = env();
    e.write(
        "role/r2",
        json!({"secret_id_num_uses": 3, "secret_id_ttl": "1h", "secret_id_bound_cidrs": "10.0.0.0/8, 127.0.0.1/32"}),
    )
    .await;
    let multi = |m: &str| format!("1 error occurred:\n\t* {m}\n\n");
    let cases: Vec<(Value, String)> = vec![
        (json!({"ttl": "2h"}), "ttl cannot be longer than the role's secret_id_ttl".into()),
        (json!({"ttl": 0}), "ttl cannot be longer than the role's secret_id_ttl".into()),
        (json!({"num_uses": 5}), "num_uses cannot be higher than the role's secret_id_num_uses".into()),
        (json!({"num_uses": 0}), "num_uses cannot be higher than the role's secret_id_num_uses".into()),
        (json!({"num_uses": -1}), "num_uses cannot be negative".into()),
        (json!({"ttl": "-1s"}), "Field validation failed: error converting input for field \"ttl\": cannot provide negative value '-1'".into()),
        (json!({"metadata": {"a": "b"}}), "Field validation failed: error converting input for field \"metadata\": '' expected type 'string', got unconvertible type 'map[string]interface {}'".into()),
        (json!({"metadata": "notjson"}), "failed to parse metadata: failed to parse the input: invalid <key,value> format".into()),
        (json!({"cidr_list": "192.168.0.0/16"}), multi("failed to verify subset relationship between CIDR blocks on the role [\"10.0.0.0/8\" \"127.0.0.1/32\"] and CIDR blocks on the secret ID [\"192.168.0.0/16\"]: %!w(<nil>)")),
        (json!({"cidr_list": "bad"}), multi("failed to validate CIDR blocks: invalid CIDR address: bad")),
        (json!({"cidr_list": "10.1.2.3"}), multi("failed to validate CIDR blocks: invalid CIDR address: 10.1.2.3")),
        (json!({"token_bound_cidrs": "1.2.3.4"}), multi("failed to validate token CIDR blocks: invalid CIDR address: 1.2.3.4")),
    ];
    for (body, want) in cases {
        let er = err(e
            .call(Operation::Update, "role/r2/secret-id", body.clone())
            .await);
        assert_eq!(er.to_string(), want, "{body}");
    }
    assert!(e.keys_under("secret_id/").await.is_empty());
    assert!(e.keys_under("accessor/").await.is_empty());

    let d = data(
        e.write("role/r2/secret-id", json!({"ttl": "30m", "num_uses": 1}))
            .await,
    );
    assert_eq!(
        (d["secret_id_ttl"].clone(), d["secret_id_num_uses"].clone()),
        (json!(1800), json!(1))
    );
    let d = data(
        e.write(
            "role/r2/secret-id",
            json!({"cidr_list": "10.1.0.0/16,127.0.0.1/32"}),
        )
        .await,
    );
    assert_eq!(d["secret_id_num_uses"], 3);

    // Token CIDRs of a secret-id must sit inside the role's.
    e.write("role/rg", json!({"token_bound_cidrs": "10.0.0.0/8"}))
        .await;
    let er = err(e
        .call(
            Operation::Update,
            "role/rg/secret-id",
            json!({"token_bound_cidrs": "192.168.0.0/16"}),
        )
        .await);
    assert_eq!(er.to_string(), multi("failed to verify subset relationship between CIDR blocks on the role [\"10.0.0.0/8\"] and CIDR blocks on the secret ID [\"192.168.0.0/16\"]: %!w(<nil>)"));
    e.write(
        "role/rg/secret-id",
        json!({"token_bound_cidrs": "10.1.0.0/16"}),
    )
    .await;

    // A custom secret-id is unique per role, and can repeat across roles.
    e.write("role/ra", json!({})).await;
    e.write("role/ra/custom-secret-id", json!({"secret_id": "dup"}))
        .await;
    let er = err(e
        .call(
            Operation::Update,
            "role/ra/custom-secret-id",
            json!({"secret_id": "dup"}),
        )
        .await);
    assert_eq!(
        er.to_string(),
        multi("failed to store secret_id: SecretID is already registered")
    );
    e.write("role/rg/custom-secret-id", json!({"secret_id": "dup"}))
        .await;
    let er = err(e
        .call(Operation::Update, "role/ra/custom-secret-id", json!({}))
        .await);
    assert_eq!(er.to_string(), "missing secret_id");

    // A role that binds no secret-id makes none.
    e.write(
        "role/rf",
        json!({"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.0/8"}),
    )
    .await;
    let er = err(e
        .call(Operation::Update, "role/rf/secret-id", json!({}))
        .await);
    assert_eq!(er.to_string(), "bind_secret_id is not set on the role");
}

#[tokio::test]
async fn missing_roles_answer_like_openbao() {
    let e = env();
    e.write("role/exists", json!({})).await;
    let multi = "1 error occurred:\n\t* role \"nope\" does not exist\n\n";
    for (path, body) in [
        ("role/nope/secret-id/lookup", json!({"secret_id": "x"})),
        ("role/nope/secret-id/destroy", json!({"secret_id": "x"})),
        (
            "role/nope/secret-id-accessor/lookup",
            json!({"secret_id_accessor": "x"}),
        ),
        (
            "role/nope/secret-id-accessor/destroy",
            json!({"secret_id_accessor": "x"}),
        ),
    ] {
        let er = err(e.call(Operation::Update, path, body).await);
        assert_eq!(er.to_string(), multi, "{path}");
        assert!(matches!(er, Error::Internal(_)));
    }
    for path in ["role/nope/secret-id", "role/nope/custom-secret-id"] {
        let er = err(e
            .call(Operation::Update, path, json!({"secret_id": "x"}))
            .await);
        assert!(
            matches!(er, Error::NoHandler(ref m) if m == "role \"nope\" does not exist"),
            "{path}"
        );
    }
    let er = err(e
        .call(Operation::List, "role/nope/secret-id", json!({}))
        .await);
    assert!(matches!(er, Error::BadRequest(ref m) if m == "role \"nope\" does not exist"));
    // A role with no secret-ids lists nothing.
    assert!(matches!(
        err(e
            .call(Operation::List, "role/exists/secret-id", json!({}))
            .await),
        Error::NotFound
    ));
    for (path, field) in [
        ("role/exists/secret-id/lookup", "missing secret_id"),
        ("role/exists/secret-id/destroy", "missing secret_id"),
        (
            "role/exists/secret-id-accessor/lookup",
            "missing secret_id_accessor",
        ),
        (
            "role/exists/secret-id-accessor/destroy",
            "missing secret_id_accessor",
        ),
    ] {
        let er = err(e.call(Operation::Update, path, json!({})).await);
        assert_eq!(er.to_string(), field, "{path}");
    }
    let er = err(e
        .call(
            Operation::Update,
            "role/exists/secret-id-accessor/destroy",
            json!({"secret_id_accessor": "nope"}),
        )
        .await);
    assert_eq!(
        er.to_string(),
        "1 error occurred:\n\t* failed to find accessor entry for secret_id_accessor: \"nope\"\n\n"
    );
    // Paths and operations that do not exist.
    for path in ["role/a@b", "role/x/nope", "nope", "role/x/secret-id/other"] {
        let er = err(e.call(Operation::Read, path, json!({})).await);
        assert_eq!(
            er.to_string(),
            "1 error occurred:\n\t* unsupported path\n\n",
            "{path}"
        );
    }
    // A LIST of a path that lists nothing is an unknown path, as Vault routes `path/`.
    for path in ["role/exists", "login", "role/exists/role-id"] {
        let er = err(e.call(Operation::List, path, json!({})).await);
        assert_eq!(
            er.to_string(),
            "1 error occurred:\n\t* unsupported path\n\n",
            "{path}"
        );
    }
    for (op, path) in [
        (Operation::Read, "role/exists/secret-id"),
        (Operation::Read, "login"),
        (Operation::Read, "role/exists/secret-id/lookup"),
        (Operation::Delete, "role/exists/role-id"),
    ] {
        assert!(
            matches!(
                err(e.call(op, path, json!({})).await),
                Error::UnsupportedOperation
            ),
            "{op:?} {path}"
        );
    }
}

#[tokio::test]
async fn login_returns_an_auth_like_openbao() {
    let e = env();
    e.write(
        "role/myrole",
        json!({"token_policies": "B,a", "token_ttl": "1h", "token_max_ttl": "4h", "token_num_uses": 3,
               "token_period": "30m", "token_explicit_max_ttl": "5h", "token_no_default_policy": true}),
    )
    .await;
    let rid = e.role_id("myrole").await;
    let (sid, _) = e
        .secret_id("myrole", json!({"metadata": "{\"tenant_id\":\"t1\"}"}))
        .await;
    let r = e
        .call(
            Operation::Update,
            "login",
            json!({"role_id": format!(" {rid} "), "secret_id": format!("{sid} "), "zz": 1}),
        )
        .await
        .unwrap();
    assert!(r.data.is_none());
    assert_eq!(
        r.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [zz]"]
    );
    let auth = r.login.unwrap();
    assert_eq!(auth.policies, vec!["a", "b"]);
    let meta: Vec<(&str, &str)> = auth
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(meta, vec![("role_name", "myrole"), ("tenant_id", "t1")]);
    let alias = auth.alias.clone().unwrap();
    assert_eq!(alias.name, rid);
    assert_eq!(alias.metadata, auth.metadata);
    // The core makes `approle` of an empty display name (mount path + name).
    assert_eq!(auth.display_name, "");
    assert_eq!(
        (
            auth.ttl,
            auth.max_ttl,
            auth.num_uses,
            auth.period,
            auth.explicit_max_ttl
        ),
        (3600, 14_400, 3, 1800, 18_000)
    );
    assert!(auth.renewable && auth.no_default_policy);

    // Without bind_secret_id: role_id alone, and only role_name in the metadata.
    e.write(
        "role/rf",
        json!({"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.0/8", "token_bound_cidrs": "127.0.0.1,10.0.0.0/8"}),
    )
    .await;
    let rid = e.role_id("rf").await;
    let auth = e.login(&rid, "whatever").await.unwrap().login.unwrap();
    assert_eq!(auth.metadata.len(), 1);
    assert_eq!(auth.metadata["role_name"], "rf");
    assert_eq!(
        auth.bound_cidrs,
        vec![
            IpNet::parse("127.0.0.1").unwrap(),
            IpNet::parse("10.0.0.0/8").unwrap()
        ]
    );
    let er = err(e.login_from(&rid, "", Some("10.0.0.1")).await);
    assert_eq!(
        er.to_string(),
        "source address \"10.0.0.1\" unauthorized by CIDR restrictions on the role: %!w(<nil>)"
    );
}

#[tokio::test]
async fn bad_logins_match_openbao() {
    let e = env();
    e.write("role/r", json!({})).await;
    let rid = e.role_id("r").await;
    let (sid, _) = e.secret_id("r", json!({})).await;
    assert_eq!(
        err(e.login(&rid, "bad").await).to_string(),
        "invalid role or secret ID"
    );
    assert_eq!(
        err(e.login("bad", &sid).await).to_string(),
        "invalid role or secret ID"
    );
    assert!(matches!(
        err(e.login("bad", &sid).await),
        Error::BadRequest(_)
    ));
    let er = err(e
        .call(Operation::Update, "login", json!({"role_id": rid}))
        .await);
    assert_eq!(er.to_string(), "missing secret_id");
    let er = err(e.call(Operation::Update, "login", json!({})).await);
    assert!(matches!(er, Error::Internal(ref m) if m == "missing role_id"));
    // A secret-id of one role does not log in as another.
    e.write("role/other", json!({})).await;
    let other = e.role_id("other").await;
    assert_eq!(
        err(e.login(&other, &sid).await).to_string(),
        "invalid role or secret ID"
    );
    // A fresh mount with no roles at all.
    let fresh = env();
    assert_eq!(
        err(fresh.login("x", "y").await).to_string(),
        "invalid role or secret ID"
    );
    // A deleted role's credentials stop working.
    e.call(Operation::Delete, "role/r", json!({}))
        .await
        .unwrap();
    assert_eq!(
        err(e.login(&rid, &sid).await).to_string(),
        "invalid role or secret ID"
    );
}

#[tokio::test]
async fn secret_ids_expire_on_the_clock() {
    let e = env();
    e.write("role/r3", json!({})).await;
    let rid = e.role_id("r3").await;
    let (sid, acc) = e.secret_id("r3", json!({"ttl": 60})).await;
    e.clock.advance(Duration::from_secs(59));
    e.login(&rid, &sid).await.unwrap();
    e.clock.advance(Duration::from_secs(1));
    // Gone for lookups and listings at the instant it expires...
    let r = e
        .call(
            Operation::Update,
            "role/r3/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await
        .unwrap();
    assert!(r.data.is_none());
    let r = e
        .call(
            Operation::Update,
            "role/r3/secret-id-accessor/lookup",
            json!({"secret_id_accessor": acc}),
        )
        .await
        .unwrap();
    assert!(r.data.is_none());
    assert!(matches!(
        err(e
            .call(Operation::List, "role/r3/secret-id", json!({}))
            .await),
        Error::NotFound
    ));
    // ...refused at login, which also removes it from storage.
    assert_eq!(
        err(e.login(&rid, &sid).await).to_string(),
        "invalid role or secret ID"
    );
    assert!(e.keys_under("secret_id/").await.is_empty());
    assert!(e.keys_under("accessor/").await.is_empty());

    // A role's secret_id_ttl applies when the request names none.
    e.write("role/r4", json!({"secret_id_ttl": "10m"})).await;
    let rid4 = e.role_id("r4").await;
    let (sid4, _) = e.secret_id("r4", json!({})).await;
    e.clock.advance(Duration::from_secs(600));
    assert!(e.login(&rid4, &sid4).await.is_err());

    // An expired custom secret-id can be registered again.
    e.write(
        "role/r3/custom-secret-id",
        json!({"secret_id": "again", "ttl": 1}),
    )
    .await;
    e.clock.advance(Duration::from_secs(1));
    e.write("role/r3/custom-secret-id", json!({"secret_id": "again"}))
        .await;
    e.login(&rid, "again").await.unwrap();
    assert_eq!(e.keys_under("accessor/").await.len(), 1);
}

#[tokio::test]
async fn num_uses_count_down_and_end() {
    let e = env();
    e.write("role/r2", json!({"secret_id_num_uses": 5})).await;
    let rid = e.role_id("r2").await;
    let (sid, _) = e.secret_id("r2", json!({"num_uses": 2})).await;
    e.clock.advance(Duration::from_secs(7));
    e.login(&rid, &sid).await.unwrap();
    let got = data(
        e.call(
            Operation::Update,
            "role/r2/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(got["secret_id_num_uses"], 1);
    assert_eq!(got["creation_time"], "2026-11-25T13:29:21Z");
    assert_eq!(got["last_updated_time"], "2026-11-25T13:29:28Z");
    e.login(&rid, &sid).await.unwrap();
    // The last use removed the secret-id and its accessor together.
    assert!(e.keys_under("secret_id/").await.is_empty());
    assert!(e.keys_under("accessor/").await.is_empty());
    assert_eq!(
        err(e.login(&rid, &sid).await).to_string(),
        "invalid role or secret ID"
    );
    let r = e
        .call(
            Operation::Update,
            "role/r2/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await
        .unwrap();
    assert!(r.data.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_consume_each_use_once() {
    let e = env();
    e.write("role/r", json!({})).await;
    let rid = e.role_id("r").await;
    let (sid, _) = e.secret_id("r", json!({"num_uses": 3})).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (b, s) = (e.b.clone(), e.s.clone());
        let body = into_map(json!({"role_id": rid, "secret_id": sid}));
        tasks.push(tokio::spawn(async move {
            let mut req = Request::new(Operation::Update, "login").with_data(body);
            req.remote_addr = Some("127.0.0.1".parse().unwrap());
            b.handle(&req, s.as_ref()).await.is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() {
            ok += 1;
        }
    }
    assert_eq!(ok, 3);
}

#[tokio::test]
async fn cidr_bindings_are_enforced_before_a_use_is_consumed() {
    let e = env();
    e.write(
        "role/r2",
        json!({"secret_id_bound_cidrs": "10.0.0.0/8, 127.0.0.1/32"}),
    )
    .await;
    let rid = e.role_id("r2").await;
    let (sid, _) = e
        .secret_id("r2", json!({"num_uses": 2, "cidr_list": "10.1.0.0/16"}))
        .await;
    let er = err(e.login_from(&rid, &sid, Some("127.0.0.1")).await);
    assert_eq!(er.to_string(), "source address \"127.0.0.1\" unauthorized by CIDR restrictions on the secret ID: %!w(<nil>)");
    let er = err(e.login_from(&rid, &sid, None).await);
    assert_eq!(
        er.to_string(),
        "1 error occurred:\n\t* failed to get connection information\n\n"
    );
    // Neither refusal cost a use.
    let got = data(
        e.call(
            Operation::Update,
            "role/r2/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(got["secret_id_num_uses"], 2);
    assert_eq!(got["cidr_list"], json!(["10.1.0.0/16"]));
    e.login_from(&rid, &sid, Some("10.1.2.3")).await.unwrap();

    // An unlimited secret-id words the refusal as Vault's other code path does.
    let (sid2, _) = e.secret_id("r2", json!({"cidr_list": "10.1.0.0/16"})).await;
    let er = err(e.login_from(&rid, &sid2, Some("127.0.0.1")).await);
    assert_eq!(
        er.to_string(),
        "source address \"127.0.0.1\" unauthorized through CIDR restrictions on the secret ID"
    );

    // The role's own blocks, narrowed after the secret-id was made.
    let (sid3, _) = e.secret_id("r2", json!({"num_uses": 1})).await;
    e.write("role/r2", json!({"secret_id_bound_cidrs": "10.0.0.0/8"}))
        .await;
    let er = err(e.login_from(&rid, &sid3, Some("127.0.0.1")).await);
    assert_eq!(
        er.to_string(),
        "source address \"127.0.0.1\" unauthorized by CIDR restrictions on the role: %!w(<nil>)"
    );
    e.login_from(&rid, &sid3, Some("10.9.9.9")).await.unwrap();
    // A secret-id whose blocks are no longer inside the role's is refused.
    e.write("role/r2", json!({"secret_id_bound_cidrs": "10.2.0.0/16"}))
        .await;
    let er = err(e.login_from(&rid, &sid, Some("10.1.2.3")).await);
    assert!(er
        .to_string()
        .contains("failed to verify subset relationship"));

    // A secret-id's token CIDRs replace the role's on the token.
    e.write("role/rg", json!({"token_bound_cidrs": "10.0.0.0/8"}))
        .await;
    let rg = e.role_id("rg").await;
    let (plain, _) = e.secret_id("rg", json!({})).await;
    let (narrow, _) = e
        .secret_id("rg", json!({"token_bound_cidrs": "10.1.0.0/16"}))
        .await;
    let auth = e.login(&rg, &plain).await.unwrap().login.unwrap();
    assert_eq!(auth.bound_cidrs, vec![IpNet::parse("10.0.0.0/8").unwrap()]);
    let auth = e.login(&rg, &narrow).await.unwrap().login.unwrap();
    assert_eq!(auth.bound_cidrs, vec![IpNet::parse("10.1.0.0/16").unwrap()]);
}

#[tokio::test]
async fn another_roles_path_cannot_destroy_a_secret_id() {
    let e = env();
    e.write("role/ra", json!({})).await;
    e.write("role/rb", json!({})).await;
    let ra = e.role_id("ra").await;
    let (sid, acc) = e.secret_id("ra", json!({})).await;

    // By secret-id through rb: a 204 that did nothing.
    let r = e
        .call(
            Operation::Update,
            "role/rb/secret-id/destroy",
            json!({"secret_id": sid}),
        )
        .await
        .unwrap();
    assert!(r.data.is_none());
    e.call(
        Operation::Delete,
        "role/rb/secret-id/destroy",
        json!({"secret_id": sid}),
    )
    .await
    .unwrap();
    // By accessor through rb: refused.
    let er = err(e
        .call(
            Operation::Update,
            "role/rb/secret-id-accessor/destroy",
            json!({"secret_id_accessor": acc}),
        )
        .await);
    assert!(matches!(er, Error::Forbidden(ref m) if m == "invalid secret id accessor"));
    // Lookups through rb see nothing either.
    for (path, body) in [
        ("role/rb/secret-id/lookup", json!({"secret_id": sid})),
        (
            "role/rb/secret-id-accessor/lookup",
            json!({"secret_id_accessor": acc}),
        ),
    ] {
        let r = e.call(Operation::Update, path, body).await.unwrap();
        assert!(r.data.is_none(), "{path}");
    }
    // ra's secret-id still logs in, more than once.
    e.login(&ra, &sid).await.unwrap();
    e.login(&ra, &sid).await.unwrap();

    // ra's own paths do destroy it, by secret-id...
    e.call(
        Operation::Update,
        "role/ra/secret-id/destroy",
        json!({"secret_id": sid}),
    )
    .await
    .unwrap();
    assert!(e.login(&ra, &sid).await.is_err());
    assert!(e.keys_under("accessor/").await.is_empty());
    // ...and by accessor.
    let (sid2, acc2) = e.secret_id("ra", json!({})).await;
    e.call(
        Operation::Delete,
        "role/ra/secret-id-accessor/destroy",
        json!({"secret_id_accessor": acc2}),
    )
    .await
    .unwrap();
    assert!(e.login(&ra, &sid2).await.is_err());
    assert!(e.keys_under("secret_id/").await.is_empty());
}

#[tokio::test]
async fn deleting_a_role_removes_its_secret_ids() {
    let e = env();
    e.write("role/gone", json!({})).await;
    e.write("role/kept", json!({})).await;
    let rid = e.role_id("gone").await;
    let (sid, _) = e.secret_id("gone", json!({})).await;
    e.secret_id("gone", json!({})).await;
    let (kept_sid, _) = e.secret_id("kept", json!({})).await;
    e.call(Operation::Delete, "role/gone", json!({}))
        .await
        .unwrap();
    assert_eq!(e.keys_under("secret_id/").await.len(), 1);
    assert_eq!(e.keys_under("accessor/").await.len(), 1);
    assert_eq!(e.keys_under("role_id/").await.len(), 1);
    // Recreated with the same name and role_id, the old secret-id does not come back.
    e.write("role/gone", json!({"role_id": rid})).await;
    assert!(e.login(&rid, &sid).await.is_err());
    let kept = e.role_id("kept").await;
    e.login(&kept, &kept_sid).await.unwrap();
}

#[tokio::test]
async fn storage_never_holds_a_secret_id() {
    let e = env();
    e.write("role/r", json!({})).await;
    let (sid, _) = e.secret_id("r", json!({"num_uses": 3})).await;
    e.write(
        "role/r/custom-secret-id",
        json!({"secret_id": "Custom-Secret-Value"}),
    )
    .await;
    e.login(&e.role_id("r").await, &sid).await.unwrap();
    for (key, value) in e.dump().await {
        let text = format!("{key} {}", String::from_utf8_lossy(&value));
        assert!(!text.contains(&sid), "{key}");
        assert!(!text.contains("Custom-Secret-Value"), "{key}");
    }
}

#[tokio::test]
async fn tidy_removes_expired_orphaned_and_dangling_entries() {
    let e = env();
    // On a mount with nothing yet.
    let r = e
        .call(Operation::Update, "tidy/secret-id", json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, Some(202));
    assert_eq!(r.warnings.len(), 1);

    e.write("role/r", json!({})).await;
    let rid = e.role_id("r").await;
    let (live, _) = e.secret_id("r", json!({})).await;
    e.secret_id("r", json!({"ttl": 10})).await;
    // A secret-id left below a role key that no longer exists, and an accessor without its
    // secret-id, as a crash or race could leave them.
    e.s.put(
        "secret_id/deadbeef/cafe",
        serde_json::to_vec(&json!({"accessor": "a1"})).unwrap(),
    )
    .await
    .unwrap();
    e.s.put(
        "accessor/0123",
        serde_json::to_vec(&json!({"secret_id_hmac": "x"})).unwrap(),
    )
    .await
    .unwrap();
    e.clock.advance(Duration::from_secs(10));
    assert_eq!(e.keys_under("secret_id/").await.len(), 3);
    assert_eq!(e.keys_under("accessor/").await.len(), 3);
    let r = e
        .call(Operation::Update, "tidy/secret-id", json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, Some(202));
    assert_eq!(e.keys_under("secret_id/").await.len(), 1);
    assert_eq!(e.keys_under("accessor/").await.len(), 1);
    e.login(&rid, &live).await.unwrap();
    assert!(matches!(
        err(e.call(Operation::Read, "tidy/secret-id", json!({})).await),
        Error::UnsupportedOperation
    ));
}

#[tokio::test]
async fn renewal_follows_the_role() {
    let e = env();
    e.write("role/r", json!({"token_ttl": "1h", "token_max_ttl": "2h"}))
        .await;
    let rid = e.role_id("r").await;
    let (sid, _) = e.secret_id("r", json!({})).await;
    let auth = e.login(&rid, &sid).await.unwrap().login.unwrap();
    e.write("role/r", json!({"token_ttl": "30m", "token_period": "10m"}))
        .await;
    let terms = e.b.renew(e.s.as_ref(), &auth).await.unwrap();
    assert_eq!(
        terms,
        crate::builtin::auth::Renewal {
            ttl: 1800,
            max_ttl: 7200,
            period: 600
        }
    );
    e.call(Operation::Delete, "role/r", json!({}))
        .await
        .unwrap();
    let er = e.b.renew(e.s.as_ref(), &auth).await.unwrap_err();
    assert_eq!(
        er.to_string(),
        "1 error occurred:\n\t* role \"r\" does not exist during renewal\n\n"
    );
}

#[tokio::test]
async fn per_field_role_endpoints_read_set_and_reset_one_field() {
    let e = env();
    e.call(
        Operation::Update,
        "role/r1",
        json!({"token_policies": "a,b", "token_ttl": "1h"}),
    )
    .await
    .unwrap();
    let got = data(
        e.call(Operation::Read, "role/r1/policies", json!({}))
            .await
            .unwrap(),
    );
    assert_eq!(got["token_policies"], json!(["a", "b"]));
    e.call(
        Operation::Update,
        "role/r1/policies",
        json!({"token_policies": ["c"]}),
    )
    .await
    .unwrap();
    let got = data(e.call(Operation::Read, "role/r1", json!({})).await.unwrap());
    assert_eq!(got["token_policies"], json!(["c"]));
    assert_eq!(got["token_ttl"], json!(3600), "other fields are untouched");
    e.call(Operation::Delete, "role/r1/token-ttl", json!({}))
        .await
        .unwrap();
    let got = data(
        e.call(Operation::Read, "role/r1/token-ttl", json!({}))
            .await
            .unwrap(),
    );
    assert_eq!(got["token_ttl"], json!(0));
    // A missing role's field, as OpenBao answers: 404, 404 "unsupported path", 204.
    let missing = e
        .call(Operation::Read, "role/nope/token-ttl", json!({}))
        .await;
    assert!(matches!(err(missing), Error::NotFound));
    let missing = e
        .call(
            Operation::Update,
            "role/nope/token-ttl",
            json!({"token_ttl": 5}),
        )
        .await;
    assert!(matches!(err(missing), Error::NoHandler(ref m) if m.contains("unsupported path")));
    e.call(Operation::Delete, "role/nope/token-ttl", json!({}))
        .await
        .unwrap();
    assert!(e
        .call(Operation::Read, "role/nope", json!({}))
        .await
        .is_err());
    let root = e
        .call(
            Operation::Update,
            "role/r1/policies",
            json!({"token_policies": ["Root"]}),
        )
        .await;
    assert!(matches!(err(root), Error::BadRequest(_)));
}

#[tokio::test]
async fn five_invalid_logins_lock_the_role_id_for_fifteen_minutes() {
    let e = env();
    e.write("role/r", json!({})).await;
    let rid = e.role_id("r").await;
    let (sid, _) = e.secret_id("r", json!({})).await;
    for _ in 0..5 {
        assert_eq!(
            err(e.login(&rid, "wrong").await).to_string(),
            "invalid role or secret ID"
        );
    }
    // Locked: the right secret-id gets the answer of a wrong one, and uses nothing.
    let locked = err(e.login(&rid, &sid).await);
    assert_eq!(locked.to_string(), "invalid role or secret ID");
    assert!(matches!(locked, Error::BadRequest(_)));
    assert_eq!(
        e.b.lockout()
            .locked(e.s.as_ref(), &Default::default())
            .await
            .unwrap(),
        vec![rid.clone()]
    );
    e.clock.advance(Duration::from_secs(15 * 60));
    e.login(&rid, &sid).await.unwrap();

    // Four failures, 15 minutes, four more: the first four no longer count.
    for _ in 0..4 {
        let _ = e.login(&rid, "wrong").await;
    }
    e.clock.advance(Duration::from_secs(15 * 60));
    for _ in 0..4 {
        let _ = e.login(&rid, "wrong").await;
    }
    e.login(&rid, &sid).await.unwrap();

    // Unlocked by hand (sys/locked-users), it logs in again at once.
    for _ in 0..5 {
        let _ = e.login(&rid, "wrong").await;
    }
    assert!(e.login(&rid, &sid).await.is_err());
    e.b.unlock_user(e.s.as_ref(), &Default::default(), &rid)
        .await
        .unwrap();
    e.login(&rid, &sid).await.unwrap();
}

/// Issue 8 §7: two roles holding the same custom secret-id share its HMAC. Role rb's
/// accessor paths used to resolve ra's accessor to rb's own secret-id, destroy it with ra's
/// index entry, and leave both logins failing. OpenBao 2.7.2 answers the lookup with 204 and
/// the destroy with 403 "invalid secret id accessor", and both secret-ids keep working.
#[tokio::test]
async fn a_shared_custom_secret_id_keeps_its_accessors_apart() {
    let e = env();
    e.write("role/ra", json!({})).await;
    e.write("role/rb", json!({})).await;
    let (ra, rb) = (e.role_id("ra").await, e.role_id("rb").await);
    let mut accessors = Vec::new();
    for role in ["ra", "rb"] {
        let d = data(
            e.write(
                &format!("role/{role}/custom-secret-id"),
                json!({"secret_id": "same-secret"}),
            )
            .await,
        );
        accessors.push(d["secret_id_accessor"].as_str().unwrap().to_string());
    }
    let (acc_a, acc_b) = (accessors[0].clone(), accessors[1].clone());

    // rb asks about ra's accessor: nothing there for rb.
    let r = e
        .call(
            Operation::Update,
            "role/rb/secret-id-accessor/lookup",
            json!({"secret_id_accessor": acc_a}),
        )
        .await
        .unwrap();
    assert!(r.data.is_none());
    let er = err(e
        .call(
            Operation::Update,
            "role/rb/secret-id-accessor/destroy",
            json!({"secret_id_accessor": acc_a}),
        )
        .await);
    assert!(matches!(er, Error::Forbidden(ref m) if m == "invalid secret id accessor"));
    // Nor the other way round.
    let er = err(e
        .call(
            Operation::Update,
            "role/ra/secret-id-accessor/destroy",
            json!({"secret_id_accessor": acc_b}),
        )
        .await);
    assert!(matches!(er, Error::Forbidden(_)));
    // Both still log in, and each role still sees its own accessor.
    e.login(&ra, "same-secret").await.unwrap();
    e.login(&rb, "same-secret").await.unwrap();
    for (role, acc) in [("ra", &acc_a), ("rb", &acc_b)] {
        let d = data(
            e.call(
                Operation::Update,
                &format!("role/{role}/secret-id-accessor/lookup"),
                json!({"secret_id_accessor": acc}),
            )
            .await
            .unwrap(),
        );
        assert_eq!(d["secret_id_accessor"], json!(acc));
    }
    // Each role's own destroy takes only its own secret-id.
    e.write(
        "role/rb/secret-id-accessor/destroy",
        json!({"secret_id_accessor": acc_b}),
    )
    .await;
    assert!(e.login(&rb, "same-secret").await.is_err());
    e.login(&ra, "same-secret").await.unwrap();
}
