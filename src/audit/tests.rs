use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;

fn device(path: &str, file: &str, extra: &[(&str, &str)]) -> Arc<Device> {
    let mut options = BTreeMap::from([("file_path".to_string(), file.to_string())]);
    for (k, v) in extra {
        options.insert(k.to_string(), v.to_string());
    }
    Arc::new(
        Device::open(
            &DeviceEntry {
                path: path.into(),
                kind: "file".into(),
                description: String::new(),
                options,
                local: false,
                salt: hex::encode(Salt::generate().as_bytes()),
            },
            true,
            &OwnFiles::from(Vec::new()),
        )
        .unwrap(),
    )
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const TOKEN: &str = "s.the-callers-token";
const ACCESSOR: &str = "the-accessor";

fn facts<'a>(
    data: Option<&'a serde_json::Map<String, Value>>,
    policies: &'a [String],
) -> RequestFacts<'a> {
    RequestFacts {
        id: "req-1",
        operation: "read",
        path: "secret/data/x",
        mount_point: Some("secret/"),
        remote_address: Some("127.0.0.1".parse().unwrap()),
        client_token: Some(TOKEN),
        data,
        auth: Some(AuthFacts {
            accessor: ACCESSOR,
            display_name: "token",
            policies,
            identity_policies: &[],
            entity_id: "",
            metadata: None,
            token_ttl: 60,
        }),
    }
}

#[test]
fn entries_hash_every_token_accessor_and_value_with_the_devices_salt() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let broker = Broker::default();
    let da = device("a/", a.to_str().unwrap(), &[]);
    let db = device("b/", b.to_str().unwrap(), &[("hmac_accessor", "false")]);
    broker.set(vec![da.clone(), db.clone()]);

    let policies = vec!["default".to_string()];
    let body = json!({"data": {"password": "hunter2"}});
    let req = facts(body.as_object(), &policies);
    broker.log(&Entry::request("t", &req, "")).unwrap();
    let resp_data = json!({"data": {"api_key": "sk-live-123"}, "metadata": {"version": 1}});
    let login =
        json!({"client_token": "s.minted", "accessor": "new-accessor", "policies": ["default"]});
    let resp = ResponseFacts {
        data: resp_data.as_object(),
        auth: login.as_object(),
        warnings: &[],
    };
    broker
        .log(&Entry::response(
            "t",
            &RequestFacts {
                data: None,
                ..facts(None, &policies)
            },
            Some(&resp),
            "",
        ))
        .unwrap();

    let raw = std::fs::read_to_string(&a).unwrap() + &std::fs::read_to_string(&b).unwrap();
    for secret in [TOKEN, "hunter2", "sk-live-123", "s.minted"] {
        assert!(!raw.contains(secret), "{secret} in\n{raw}");
    }
    let la = lines(&a);
    assert_eq!(la[0]["type"], "request");
    assert_eq!(
        la[0]["auth"]["client_token"],
        broker.hash("a/", TOKEN).unwrap()
    );
    assert_eq!(
        la[0]["request"]["client_token"],
        broker.hash("a/", TOKEN).unwrap()
    );
    assert_eq!(
        la[0]["auth"]["accessor"],
        broker.hash("a/", ACCESSOR).unwrap()
    );
    assert_eq!(
        la[0]["request"]["data"]["data"]["password"],
        broker.hash("a/", "hunter2").unwrap()
    );
    assert_eq!(la[0]["request"]["path"], "secret/data/x");
    assert_eq!(la[1]["type"], "response");
    assert_eq!(
        la[1]["response"]["data"]["data"]["api_key"],
        broker.hash("a/", "sk-live-123").unwrap()
    );
    assert_eq!(la[1]["response"]["data"]["metadata"]["version"], 1);
    assert_eq!(
        la[1]["response"]["auth"]["client_token"],
        broker.hash("a/", "s.minted").unwrap()
    );
    assert!(la[1]["request"].get("data").is_none());
    for key in ["time", "type", "auth", "request", "error"] {
        assert!(la[0].get(key).is_some(), "{key}");
    }

    // Another device: another salt, and accessors in the clear as it asked.
    let lb = lines(&b);
    assert_ne!(broker.hash("a/", TOKEN), broker.hash("b/", TOKEN));
    assert_eq!(
        lb[0]["auth"]["client_token"],
        broker.hash("b/", TOKEN).unwrap()
    );
    assert_eq!(lb[0]["auth"]["accessor"], ACCESSOR);
    assert_eq!(lb[1]["response"]["auth"]["accessor"], "new-accessor");
    assert_eq!(broker.hash("missing/", TOKEN), None);
}

#[test]
fn log_raw_writes_values_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.log");
    let broker = Broker::default();
    broker.set(vec![device(
        "raw/",
        path.to_str().unwrap(),
        &[("log_raw", "true")],
    )]);
    let policies = vec![];
    broker
        .log(&Entry::request("t", &facts(None, &policies), ""))
        .unwrap();
    assert_eq!(lines(&path)[0]["auth"]["client_token"], TOKEN);
}

#[test]
fn no_writable_device_fails_and_one_writable_device_is_enough() {
    let broker = Broker::default();
    let policies = vec![];
    let req = facts(None, &policies);
    let entry = Entry::request("t", &req, "");
    broker.log(&entry).unwrap();

    broker.set(vec![device("full/", "/dev/full", &[])]);
    assert!(matches!(broker.log(&entry), Err(Error::Internal(_))));
    let before = crate::metrics::metrics()
        .audit_failures
        .with_label_values(&["full/"])
        .get();
    assert!(before >= 1);

    broker.set(vec![
        device("full/", "/dev/full", &[]),
        device("null/", "discard", &[]),
    ]);
    broker.log(&entry).unwrap();
}

#[test]
fn gateway_entries_name_headers_and_hash_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.log");
    let broker = Broker::default();
    broker.set(vec![device("gw/", path.to_str().unwrap(), &[])]);
    broker
        .log(&Entry::gateway(
            "t",
            &GatewayFacts {
                id: "r",
                method: "GET",
                host: "shop.example.com",
                path: "/t/acme/x",
                remote_address: None,
                client_token: Some(TOKEN),
                route: "shop",
                tenant: "acme",
                decision: "allow",
                status: 200,
                entity_id: "e",
                policies: "default",
                injected_headers: vec!["x-shopify-access-token"],
            },
        ))
        .unwrap();
    let line = &lines(&path)[0];
    assert_eq!(line["type"], "gateway");
    assert_eq!(
        line["request"]["client_token"],
        broker.hash("gw/", TOKEN).unwrap()
    );
    assert_eq!(
        line["gateway"]["injected_headers"][0],
        "x-shopify-access-token"
    );
}

#[test]
fn every_string_in_data_is_hashed_at_any_depth_and_other_values_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.log");
    let broker = Broker::default();
    broker.set(vec![device("d/", path.to_str().unwrap(), &[])]);
    let policies = vec![];
    let body =
        json!({"password": "hunter2", "n": 3, "deep": [{"k": ["v", null]}], "t": true, "e": ""});
    broker
        .log(&Entry::request(
            "t",
            &facts(body.as_object(), &policies),
            "",
        ))
        .unwrap();
    let data = &lines(&path)[0]["request"]["data"];
    let h = |v: &str| broker.hash("d/", v).unwrap();
    assert_eq!(data["password"], h("hunter2"));
    assert_eq!(data["deep"][0]["k"][0], h("v"));
    assert_eq!(data["deep"][0]["k"][1], Value::Null);
    assert_eq!(data["n"], 3);
    assert_eq!(data["t"], true);
    assert_eq!(
        data["e"],
        h(""),
        "an empty string in data is hashed like any other"
    );
    assert!(!std::fs::read_to_string(&path).unwrap().contains("hunter2"));
}
