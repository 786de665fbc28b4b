//! Tests of the whole config path: text -> tree -> typed config, in HCL and JSON.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const FILE: &str = "config.hcl";

fn hcl(text: &str) -> Result<ServerConfig, ConfigError> {
    parse(text, FILE, Format::Hcl)
}

fn json(text: &str) -> Result<ServerConfig, ConfigError> {
    parse(text, "config.json", Format::Json)
}

fn hcl_ok(text: &str) -> ServerConfig {
    match hcl(text) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got: {e}"),
    }
}

fn hcl_err(text: &str) -> String {
    match hcl(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn json_err(text: &str) -> String {
    match json(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

/// A minimal valid file with `extra` appended at the top level.
fn with_top(extra: &str) -> String {
    format!(
        "storage \"redb\" {{ path = \"/tmp/x.redb\" }}\n\
         listener \"tcp\" {{ tls_disable = true }}\n{extra}\n"
    )
}

/// A minimal valid file with `extra` inside the listener block.
fn with_listener(extra: &str) -> String {
    format!(
        "storage \"redb\" {{ path = \"/tmp/x.redb\" }}\n\
         listener \"tcp\" {{\n  tls_disable = true\n  {extra}\n}}\n"
    )
}

/// Certificate and key files that exist, for the TLS-enabled listener tests.
struct TlsFixture {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

fn tls_fixture() -> TlsFixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, "not parsed by the config layer").expect("write cert");
    std::fs::write(&key, "not parsed by the config layer").expect("write key");
    TlsFixture {
        _dir: dir,
        cert,
        key,
    }
}

// ----- the happy paths ----------------------------------------------------------------------

#[test]
fn minimal_config_gets_vault_defaults() {
    let c = hcl_ok(
        "storage \"redb\" { path = \"data/mainkey.redb\" }\nlistener \"tcp\" { tls_disable = 1 }\n",
    );
    assert_eq!(
        c.storage,
        StorageConfig::Redb {
            path: PathBuf::from("data/mainkey.redb")
        }
    );
    assert_eq!(
        c.listeners,
        vec![ListenerConfig {
            address: "127.0.0.1:8200".into(),
            tls: None,
            max_request_size: Some(DEFAULT_MAX_REQUEST_SIZE),
            limits: ListenerLimits::default(),
            unauthenticated_metrics_access: false,
        }]
    );
    assert_eq!(DEFAULT_MAX_REQUEST_SIZE, 32 * 1024 * 1024);
    assert_eq!(c.default_lease_ttl, Duration::from_secs(768 * 3600));
    assert_eq!(c.max_lease_ttl, Duration::from_secs(768 * 3600));
    assert_eq!(c.api_addr, None);
    assert!(!c.ui);
    assert!(!c.disable_mlock);
}

#[test]
fn full_config_with_tls_and_every_key() {
    let tls = tls_fixture();
    let text = format!(
        r#"
        # a comment
        storage "redb" {{
          path = "/var/lib/mainkey/mainkey.redb"
        }}
        listener "tcp" {{
          address          = "0.0.0.0:8200"
          tls_cert_file    = "{cert}"
          tls_key_file     = "{key}"
          tls_min_version  = "tls12"
          max_request_size = 1048576
        }}
        api_addr          = "https://vault.example.com:8200"
        ui                = true
        disable_mlock     = true
        default_lease_ttl = "1h"
        max_lease_ttl     = "720h"
        "#,
        cert = tls.cert.display(),
        key = tls.key.display()
    );
    let c = hcl_ok(&text);
    assert_eq!(
        c.listeners,
        vec![ListenerConfig {
            address: "0.0.0.0:8200".into(),
            tls: Some(TlsFiles {
                cert_file: tls.cert.clone(),
                key_file: tls.key.clone(),
            }),
            max_request_size: Some(1_048_576),
            limits: ListenerLimits::default(),
            unauthenticated_metrics_access: false,
        }]
    );
    assert_eq!(
        c.api_addr.as_deref(),
        Some("https://vault.example.com:8200")
    );
    assert!(c.ui);
    assert!(c.disable_mlock);
    assert_eq!(c.default_lease_ttl, Duration::from_secs(3600));
    assert_eq!(c.max_lease_ttl, Duration::from_secs(720 * 3600));
}

#[test]
fn inmem_storage() {
    let c = hcl_ok("storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\n");
    assert_eq!(c.storage, StorageConfig::Inmem);
}

#[test]
fn legacy_backend_block_means_storage() {
    let c =
        hcl_ok("backend \"redb\" { path = \"a.redb\" }\nlistener \"tcp\" { tls_disable = true }\n");
    assert_eq!(
        c.storage,
        StorageConfig::Redb {
            path: PathBuf::from("a.redb")
        }
    );
}

#[test]
fn several_listeners_are_kept_in_order() {
    let c = hcl_ok(
        r#"
        storage "inmem" {}
        listener "tcp" {
          address = "127.0.0.1:8200"
          tls_disable = true
        }
        listener "tcp" {
          address = "127.0.0.1:8300"
          tls_disable = "1"
          max_request_size = -1
        }
        "#,
    );
    let addresses: Vec<_> = c.listeners.iter().map(|l| l.address.as_str()).collect();
    assert_eq!(addresses, ["127.0.0.1:8200", "127.0.0.1:8300"]);
    assert_eq!(c.listeners[1].max_request_size, None);
}

#[test]
fn booleans_in_every_form_through_the_whole_path() {
    for (text, want) in [
        ("true", true),
        ("false", false),
        ("1", true),
        ("0", false),
        ("\"true\"", true),
        ("\"false\"", false),
        ("\"1\"", true),
        ("\"0\"", false),
    ] {
        assert_eq!(
            hcl_ok(&with_top(&format!("ui = {text}"))).ui,
            want,
            "ui = {text}"
        );
        let c = hcl_ok(&with_top(&format!("disable_mlock = {text}")));
        assert_eq!(c.disable_mlock, want, "disable_mlock = {text}");
        // The false forms of tls_disable need certificate files: see the next test.
        if want {
            let c = hcl_ok(&format!(
                "storage \"inmem\" {{}}\nlistener \"tcp\" {{ tls_disable = {text} }}\n"
            ));
            assert_eq!(c.listeners[0].tls, None, "tls_disable = {text}");
        }
    }
}

#[test]
fn tls_disable_false_forms_require_certificates() {
    for text in ["false", "0", "\"false\"", "\"0\""] {
        let err = hcl(&format!(
            "storage \"inmem\" {{}}\nlistener \"tcp\" {{ tls_disable = {text} }}\n"
        ))
        .expect_err("TLS on without files");
        assert_eq!(
            err.to_string(),
            "config.hcl: listener \"tcp\": tls_cert_file: missing: required unless tls_disable is true"
        );
    }
}

#[test]
fn durations_in_every_form_through_the_whole_path() {
    for (text, secs) in [
        ("\"768h\"", 768 * 3600),
        ("\"30s\"", 30),
        ("\"10m\"", 600),
        ("\"1h30m\"", 5400),
        ("3600", 3600),
        ("\"3600\"", 3600),
        ("\"2d\"", 48 * 3600),
    ] {
        let c = hcl_ok(&with_top(&format!("default_lease_ttl = {text}")));
        assert_eq!(c.default_lease_ttl, Duration::from_secs(secs), "{text}");
    }
}

#[test]
fn zero_lease_ttls_mean_the_default() {
    let c = hcl_ok(&with_top("default_lease_ttl = 0\nmax_lease_ttl = \"0s\""));
    assert_eq!(c.default_lease_ttl, DEFAULT_LEASE_TTL);
    assert_eq!(c.max_lease_ttl, DEFAULT_LEASE_TTL);
}

#[test]
fn an_unset_default_lease_ttl_is_capped_by_a_shorter_max() {
    let c = hcl_ok(&with_top("max_lease_ttl = \"1h\""));
    assert_eq!(c.default_lease_ttl, Duration::from_secs(3600));
    assert_eq!(c.max_lease_ttl, Duration::from_secs(3600));
}

#[test]
fn max_request_size_zero_or_unset_is_the_default_and_negative_is_unlimited() {
    for (text, want) in [
        ("0", Some(DEFAULT_MAX_REQUEST_SIZE)),
        ("\"0\"", Some(DEFAULT_MAX_REQUEST_SIZE)),
        ("-1", None),
        ("\"-1\"", None),
        ("1024", Some(1024)),
        ("\"1024\"", Some(1024)),
    ] {
        let c = hcl_ok(&with_listener(&format!("max_request_size = {text}")));
        assert_eq!(c.listeners[0].max_request_size, want, "{text}");
    }
}

#[test]
fn an_empty_host_listens_everywhere() {
    let c = hcl_ok(&with_listener("address = \":8200\""));
    assert_eq!(c.listeners[0].address, "0.0.0.0:8200");
    let c = hcl_ok(&with_listener("address = \"[::1]:8201\""));
    assert_eq!(c.listeners[0].address, "[::1]:8201");
}

#[test]
fn ignored_vault_keys_are_accepted() {
    let c = hcl_ok(&with_top(
        r#"
        cluster_addr = "https://127.0.0.1:8201"
        cluster_name = "prod"
        log_level    = "info"
        pid_file     = "/run/vault.pid"
        plugin_directory = "/etc/vault/plugins"
        telemetry {
          prometheus_retention_time = "30s"
          disable_hostname = true
        }
        service_registration "consul" {
          address = "127.0.0.1:8500"
        }
        "#,
    ));
    assert_eq!(c.listeners.len(), 1);
    let c = hcl_ok(&with_listener(
        "cluster_address = \"127.0.0.1:8201\"\nhttp_read_timeout = \"30s\"\ntelemetry {\n unauthenticated_metrics_access = true\n}",
    ));
    assert_eq!(c.listeners.len(), 1);
    for key in IGNORED_TOP_LEVEL_KEYS {
        hcl_ok(&with_top(&format!("{key} = \"x\"")));
    }
    for key in IGNORED_LISTENER_KEYS {
        hcl_ok(&with_listener(&format!("{key} = \"x\"")));
    }
}

#[test]
fn load_reads_files_and_picks_the_format_by_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hcl_path = dir.path().join("mainkey.hcl");
    let json_path = dir.path().join("mainkey.JSON");
    std::fs::write(
        &hcl_path,
        "storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\n",
    )
    .expect("write");
    std::fs::write(
        &json_path,
        r#"{"storage": {"inmem": {}}, "listener": {"tcp": {"tls_disable": true}}}"#,
    )
    .expect("write");
    let from_hcl = load(&hcl_path).expect("hcl loads");
    let from_json = load(&json_path).expect("json loads");
    assert_eq!(from_hcl.storage, from_json.storage);
    assert_eq!(from_hcl.listeners, from_json.listeners);

    let missing = dir.path().join("missing.hcl");
    let err = load(&missing).expect_err("no such file").to_string();
    assert!(
        err.starts_with(&format!("{}: cannot read", missing.display())),
        "{err}"
    );
}

#[test]
fn the_shipped_example_config_is_valid_hcl_and_names_redb() {
    // The example enables TLS with files that do not exist here, so only the syntax and the
    // TLS error are checked; switching TLS off must make it load.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/mainkey.hcl");
    let text = std::fs::read_to_string(&path).expect("config/mainkey.hcl exists");
    let err = parse(&text, "mainkey.hcl", Format::Hcl)
        .expect_err("the TLS files do not exist on a build machine")
        .to_string();
    assert!(err.contains("listener \"tcp\": tls_cert_file"), "{err}");
    let plain = text.replace("tls_disable   = false", "tls_disable   = true");
    let c = parse(&plain, "mainkey.hcl", Format::Hcl).expect("example loads without TLS");
    assert!(matches!(c.storage, StorageConfig::Redb { .. }));
    // The limits it documents are the ones it sets.
    let l = &c.listeners[0].limits;
    assert_eq!(
        l.http_read_header_timeout,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(l.http_idle_timeout, std::time::Duration::from_secs(300));
    assert_eq!(l.max_connections, 1024);
    assert_eq!(l.json.max_json_depth, Some(300));
    assert!(c.user_lockout.contains_key("all"));
}

// ----- JSON equivalence ---------------------------------------------------------------------

fn assert_same(a: &ServerConfig, b: &ServerConfig) {
    assert_eq!(a.storage, b.storage);
    assert_eq!(a.listeners, b.listeners);
    assert_eq!(a.api_addr, b.api_addr);
    assert_eq!(a.ui, b.ui);
    assert_eq!(a.disable_mlock, b.disable_mlock);
    assert_eq!(a.default_lease_ttl, b.default_lease_ttl);
    assert_eq!(a.max_lease_ttl, b.max_lease_ttl);
}

#[test]
fn json_matches_hcl() {
    let tls = tls_fixture();
    let from_hcl = hcl_ok(&format!(
        r#"
        storage "redb" {{ path = "/data/mainkey.redb" }}
        listener "tcp" {{
          address = "127.0.0.1:8200"
          tls_cert_file = "{cert}"
          tls_key_file = "{key}"
        }}
        listener "tcp" {{
          address = "127.0.0.1:8300"
          tls_disable = "true"
          max_request_size = -1
        }}
        api_addr = "http://127.0.0.1:8200"
        ui = "1"
        disable_mlock = true
        default_lease_ttl = "1h30m"
        max_lease_ttl = 86400
        telemetry {{ disable_hostname = true }}
        "#,
        cert = tls.cert.display(),
        key = tls.key.display()
    ));
    let body = |listeners: serde_json::Value| {
        serde_json::json!({
            "storage": {"redb": {"path": "/data/mainkey.redb"}},
            "listener": listeners,
            "api_addr": "http://127.0.0.1:8200",
            "ui": "1",
            "disable_mlock": true,
            "default_lease_ttl": "1h30m",
            "max_lease_ttl": 86400,
            "telemetry": {"disable_hostname": true}
        })
        .to_string()
    };
    let first = serde_json::json!({
        "address": "127.0.0.1:8200",
        "tls_cert_file": tls.cert,
        "tls_key_file": tls.key
    });
    let second = serde_json::json!({
        "address": "127.0.0.1:8300",
        "tls_disable": "true",
        "max_request_size": -1
    });
    for listeners in [
        serde_json::json!([{"tcp": first}, {"tcp": second}]),
        serde_json::json!({"tcp": [first, second]}),
    ] {
        let from_json = json(&body(listeners)).expect("JSON config loads");
        assert_same(&from_hcl, &from_json);
    }
}

#[test]
fn json_single_listener_object_form() {
    let c = json(r#"{"storage": {"inmem": {}}, "listener": {"tcp": {"tls_disable": 1, "address": "127.0.0.1:9000"}}}"#)
        .expect("loads");
    assert_eq!(c.listeners[0].address, "127.0.0.1:9000");
    assert_eq!(c.listeners[0].tls, None);
}

#[test]
fn json_errors_name_file_block_and_key() {
    assert_eq!(
        json_err(r#"{"storage": {"inmem": {}}, "listener": {"tcp": {"tls_disable": "maybe"}}}"#),
        "config.json: listener \"tcp\": tls_disable: expected a boolean (true, false, 1, 0), got \"maybe\""
    );
    assert_eq!(
        json_err(
            r#"{"storage": {"inmem": {}}, "listener": {"tcp": {"tls_disable": true}}, "ui": {"a": 1}}"#
        ),
        "config.json: ui: expected a value (key = value), got a block"
    );
    assert_eq!(
        json_err(r#"{"storage": "redb", "listener": {"tcp": {"tls_disable": true}}}"#),
        "config.json: storage: expected an object of the form {\"<type>\": {...}} or a list of them, got a string"
    );
    assert_eq!(
        json_err(r#"[1, 2]"#),
        "config.json: (top level): expected a JSON object"
    );
    let syntax = json_err("{\"storage\": ");
    assert!(
        syntax.starts_with("config.json: invalid JSON: "),
        "{syntax}"
    );
}

// ----- every error names file, block and key --------------------------------------------------

#[test]
fn errors_name_file_block_and_key() {
    let cases: Vec<(String, &str)> = vec![
        (
            with_listener("tls_disable = \"maybe\"").replace("tls_disable = true\n", ""),
            "config.hcl: listener \"tcp\": tls_disable: expected a boolean (true, false, 1, 0), got \"maybe\"",
        ),
        (
            with_top("ui = 2"),
            "config.hcl: ui: expected a boolean (true, false, 1, 0), got 2",
        ),
        (
            with_top("disable_mlock = \"yes\""),
            "config.hcl: disable_mlock: expected a boolean (true, false, 1, 0), got \"yes\"",
        ),
        (
            with_top("default_lease_ttl = \"soon\""),
            "config.hcl: default_lease_ttl: expected a duration such as \"768h\", \"30s\", \"1h30m\" or a number of seconds, got \"soon\"",
        ),
        (
            with_top("max_lease_ttl = -5"),
            "config.hcl: max_lease_ttl: must not be negative, got -5",
        ),
        (
            with_top("max_lease_ttl = true"),
            "config.hcl: max_lease_ttl: expected a duration such as \"768h\", \"30s\", \"1h30m\" or a number of seconds, got true",
        ),
        (
            with_top("default_lease_ttl = \"800h\""),
            "config.hcl: default_lease_ttl: 800h is longer than max_lease_ttl (768h)",
        ),
        (
            with_top("default_lease_ttl = \"2h\"\nmax_lease_ttl = \"1h\""),
            "config.hcl: default_lease_ttl: 2h is longer than max_lease_ttl (1h)",
        ),
        (
            with_top("api_addr = 8200"),
            "config.hcl: api_addr: expected a string, got 8200",
        ),
        (
            with_top("api_addr = \"${env.ADDR}\""),
            "config.hcl: api_addr: expected a string, got an expression (interpolation, variables and functions are not supported)",
        ),
        (with_top("colour = \"blue\""), "config.hcl: colour: unknown key"),
        (with_top("frobnicate {}"), "config.hcl: frobnicate: unknown key"),
        (
            with_top("seal \"awskms\" { region = \"eu-west-1\" }"),
            "config.hcl: seal \"awskms\": seal type \"awskms\" is not supported; mainkey seals with Shamir keys or \"transit\" (another mainkey's or Vault's transit engine)",
        ),
        (
            with_top("seal \"transit\" { namespace = \"ns1/\" }"),
            "config.hcl: seal \"transit\": namespace: mainkey's transit seal does not send a namespace",
        ),
        (
            with_top("seal \"transit\" { colour = \"blue\" }"),
            "config.hcl: seal \"transit\": colour: unknown key",
        ),
        (
            with_top("seal \"transit\" { disable_renewal = \"maybe\" }"),
            "config.hcl: seal \"transit\": disable_renewal: expected a boolean (true, false, 1, 0), got \"maybe\"",
        ),
        (
            with_top("seal \"transit\" {}\nseal \"transit\" {}"),
            "config.hcl: seal \"transit\": only one seal block is allowed",
        ),
        (
            with_top("ha_storage \"raft\" {}"),
            "config.hcl: ha_storage: not supported by mainkey",
        ),
        (
            with_listener("max_request_size = 1.5"),
            "config.hcl: listener \"tcp\": max_request_size: expected an integer, got 1.5",
        ),
        (
            with_listener("max_request_size = \"32MiB\""),
            "config.hcl: listener \"tcp\": max_request_size: expected an integer, got \"32MiB\"",
        ),
        (
            with_listener("address = \"localhost\""),
            "config.hcl: listener \"tcp\": address: expected host:port, such as \"127.0.0.1:8200\" or \"[::1]:8200\", got \"localhost\"",
        ),
        (
            with_listener("address = \"127.0.0.1:99999\""),
            "config.hcl: listener \"tcp\": address: expected host:port, such as \"127.0.0.1:8200\" or \"[::1]:8200\", got \"127.0.0.1:99999\"",
        ),
        (
            with_listener("address = \"::1:8200\""),
            "config.hcl: listener \"tcp\": address: expected host:port, such as \"127.0.0.1:8200\" or \"[::1]:8200\", got \"::1:8200\"",
        ),
        (
            with_listener("adress = \"127.0.0.1:8200\""),
            "config.hcl: listener \"tcp\": adress: unknown key",
        ),
        (
            with_listener("tls_require_and_verify_client_cert = true"),
            "config.hcl: listener \"tcp\": tls_require_and_verify_client_cert: not supported by mainkey",
        ),
        (
            with_listener("tls_min_version = \"tls13\""),
            "config.hcl: listener \"tcp\": tls_min_version: only \"tls12\" is supported, got \"tls13\"",
        ),
        (
            "storage \"inmem\" {}\nlistener \"unix\" { address = \"/run/x.sock\" }\n".into(),
            "config.hcl: listener \"unix\": unsupported listener type \"unix\"; mainkey supports \"tcp\"",
        ),
        (
            "storage \"inmem\" {}\nlistener { tls_disable = true }\n".into(),
            "config.hcl: listener: expected exactly one label, the type, as in listener \"<type>\" { ... }; got 0",
        ),
        (
            "storage \"inmem\" {}\nlistener = \"tcp\"\n".into(),
            "config.hcl: listener: expected a block such as listener \"<type>\" { ... }, got a value",
        ),
        (
            "storage \"file\" { path = \"/x\" }\nlistener \"tcp\" { tls_disable = true }\n".into(),
            "config.hcl: storage \"file\": unknown storage type \"file\"; mainkey supports \"redb\" and \"inmem\"",
        ),
        (
            "storage \"redb\" {}\nlistener \"tcp\" { tls_disable = true }\n".into(),
            "config.hcl: storage \"redb\": path: missing: the path of the database file is required",
        ),
        (
            "storage \"redb\" { path = \"\" }\nlistener \"tcp\" { tls_disable = true }\n".into(),
            "config.hcl: storage \"redb\": path: must not be empty",
        ),
        (
            "storage \"redb\" { path = 1 }\nlistener \"tcp\" { tls_disable = true }\n".into(),
            "config.hcl: storage \"redb\": path: expected a string, got 1",
        ),
        (
            "storage \"redb\" {\n path = \"/a\"\n node_id = \"n1\"\n}\nlistener \"tcp\" { tls_disable = true }\n".into(),
            "config.hcl: storage \"redb\": node_id: unknown key",
        ),
        (
            "storage \"inmem\" { path = \"/a\" }\nlistener \"tcp\" { tls_disable = true }\n".into(),
            "config.hcl: storage \"inmem\": path: unknown key",
        ),
        (
            "storage \"inmem\" {}\nstorage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\n".into(),
            "config.hcl: storage \"inmem\": only one storage block is allowed",
        ),
        (
            "listener \"tcp\" { tls_disable = true }\n".into(),
            "config.hcl: storage: missing: a storage \"redb\" { path = \"...\" } block is required",
        ),
        (
            "storage \"inmem\" {}\n".into(),
            "config.hcl: listener: missing: at least one listener \"tcp\" { ... } block is required",
        ),
        (
            "storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\nlistener \"tcp\" { tls_disable = 7 }\n".into(),
            "config.hcl: listener \"tcp\" #2: tls_disable: expected a boolean (true, false, 1, 0), got 7",
        ),
        (
            "storage \"inmem\" {}\nlistener \"tcp\" {\n tls_cert_file = \"/nonexistent/c.pem\"\n tls_key_file = \"/nonexistent/k.pem\"\n}\n".into(),
            "config.hcl: listener \"tcp\": tls_cert_file: \"/nonexistent/c.pem\": No such file or directory (os error 2)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(hcl_err(&text), want, "for config:\n{text}");
    }
}

#[test]
fn a_missing_key_file_is_named() {
    let tls = tls_fixture();
    let err = hcl_err(&format!(
        "storage \"inmem\" {{}}\nlistener \"tcp\" {{ tls_cert_file = \"{}\" }}\n",
        tls.cert.display()
    ));
    assert_eq!(
        err,
        "config.hcl: listener \"tcp\": tls_key_file: missing: required unless tls_disable is true"
    );
}

#[test]
fn a_repeated_key_is_a_syntax_error_with_its_line() {
    // The HCL parser refuses redefined attributes itself (JSON objects cannot repeat keys
    // once parsed), so no later layer needs its own check.
    let err = hcl_err(&with_top("ui = true\nui = false"));
    assert!(err.starts_with("config.hcl: invalid HCL: "), "{err}");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("redefined attribute"), "{err}");
}

#[test]
fn syntax_errors_name_the_file() {
    let err = hcl_err("storage \"redb\" {\n");
    assert!(err.starts_with("config.hcl: invalid HCL: "), "{err}");
}

#[test]
fn error_messages_do_not_echo_long_values_whole() {
    let secret = "s.".to_string() + &"A".repeat(200);
    let err = hcl_err(&with_top(&format!("ui = \"{secret}\"")));
    assert!(!err.contains(&secret), "{err}");
}

#[test]
fn config_error_fields_are_structured() {
    match hcl(&with_listener("tls_disable = \"maybe\"").replace("tls_disable = true\n", "")) {
        Err(ConfigError::Invalid {
            file, block, key, ..
        }) => {
            assert_eq!(file, "config.hcl");
            assert_eq!(block.as_deref(), Some("listener \"tcp\""));
            assert_eq!(key.as_deref(), Some("tls_disable"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn dev_config_is_plain_http_in_memory() {
    let c = ServerConfig::dev("127.0.0.1:8200");
    assert_eq!(c.storage, StorageConfig::Inmem);
    assert!(c.ui, "dev mode serves the UI, as Vault's does");
    assert_eq!(c.listeners[0].tls, None);
    assert_eq!(
        c.listeners[0].max_request_size,
        Some(DEFAULT_MAX_REQUEST_SIZE)
    );
}

#[test]
fn listener_limits_take_vaults_names_and_defaults() {
    let c = hcl_ok("storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = 1 }\n");
    let l = &c.listeners[0].limits;
    assert_eq!(l.http_read_header_timeout, Duration::from_secs(10));
    assert_eq!(l.http_idle_timeout, Duration::from_secs(300));
    assert_eq!(l.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(l.json, JsonLimits::default());
    assert_eq!(l.json.max_json_depth, Some(300));
    assert_eq!(l.json.max_json_string_value_length, Some(1_048_576));
    assert_eq!(l.json.max_json_object_entry_count, Some(10_000));
    assert_eq!(l.json.max_json_array_element_count, Some(10_000));
    assert_eq!(l.json.max_request_json_memory, Some(34_078_720));
    assert_eq!(l.json.max_request_json_strings, Some(1000));

    let c = hcl_ok(
        r#"
        storage "inmem" {}
        listener "tcp" {
          tls_disable = 1
          http_read_header_timeout = "3s"
          http_idle_timeout = 20
          max_connections = 7
          max_json_depth = 5
          max_json_string_value_length = -1
          max_json_object_entry_count = 0
          max_json_array_element_count = 9
          max_request_json_memory = 1000
          max_request_json_strings = "12"
        }
        "#,
    );
    let l = &c.listeners[0].limits;
    assert_eq!(l.http_read_header_timeout, Duration::from_secs(3));
    assert_eq!(l.http_idle_timeout, Duration::from_secs(20));
    assert_eq!(l.max_connections, 7);
    assert_eq!(l.json.max_json_depth, Some(5));
    assert_eq!(l.json.max_json_string_value_length, None);
    assert_eq!(l.json.max_json_object_entry_count, Some(10_000));
    assert_eq!(l.json.max_json_array_element_count, Some(9));
    assert_eq!(l.json.max_request_json_memory, Some(1000));
    assert_eq!(l.json.max_request_json_strings, Some(12));
}

// ---------------------------------------------------------------------------------------------
// No config text may abort the process (issue 8 §7): pathological shapes and random or
// mutated files, each parsed on a thread with a small stack.

mod never_aborts {
    use proptest::prelude::*;

    use super::super::{parse, Format};
    use crate::policy::tests_fuzz::{on_stack, run_on_stack};

    /// A worker thread's stack. hcl-edit refuses nesting past 64 levels, and its parser's
    /// unoptimised frames need more than 1 MiB at that depth (measured: 1 MiB overflows at 90
    /// levels of `[`, 2 MiB holds 20,000, which hcl-edit refuses at 64).
    const STACK: usize = 2 * 1024 * 1024;

    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        on_stack(STACK, f)
    }

    const SEED_HCL: &str = "ui = true\n\
        storage \"redb\" { path = \"/tmp/x.redb\" }\n\
        listener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n  tls_disable = true\n  max_request_size = 1024\n}\n\
        default_lease_ttl = \"1h\"\n\
        telemetry { prometheus_retention_time = \"30s\" }\n";
    const SEED_JSON: &str = r#"{"ui": true, "storage": {"redb": {"path": "/tmp/x.redb"}},
        "listener": [{"tcp": {"address": "127.0.0.1:8200", "tls_disable": true}}],
        "default_lease_ttl": "1h"}"#;

    /// Any answer but an abort or a panic will do.
    fn both(text: &str) -> Result<(), String> {
        let _ = parse(text, "f.hcl", Format::Hcl);
        let _ = parse(text, "f.json", Format::Json);
        Ok(())
    }

    #[test]
    fn pathological_shapes_never_abort() {
        let mut texts = Vec::new();
        for n in [10usize, 100, 1_000, 20_000] {
            texts.push(format!("x = {}{}", "[".repeat(n), "]".repeat(n)));
            texts.push(format!("x = {}", "[".repeat(n)));
            texts.push(format!("x = {}1{}", "{ y = ".repeat(n), " }".repeat(n)));
            texts.push(format!("{}{}", "b { ".repeat(n), "} ".repeat(n)));
            texts.push(format!("b {}{{ }}", "\"l\" ".repeat(n)));
            texts.push(format!("x = {}1{}", "(".repeat(n), ")".repeat(n)));
            texts.push(format!("x = {}1", "-".repeat(n)));
            texts.push(format!("x = {}true", "!".repeat(n)));
            texts.push(format!("x = 1{}", " + 1".repeat(n)));
            texts.push(format!("x = {}", "a ? b : ".repeat(n) + "c"));
            texts.push(format!("x = \"{}\"", "${".repeat(n)));
            texts.push(format!("x = \"{}1{}\"", "${[".repeat(n), "]}".repeat(n)));
            texts.push(format!("x = a{}", ".b".repeat(n)));
            texts.push(format!("x = f({}1{})", "f(".repeat(n), ")".repeat(n)));
            texts.push(format!("{{\"x\": {}{}}}", "[".repeat(n), "]".repeat(n)));
            texts.push(format!(
                "{{\"x\": {}1{}}}",
                "{\"a\": ".repeat(n),
                "}".repeat(n)
            ));
            texts.push(format!(
                "{{\"listener\": {}{{\"tcp\": {{}}}}{}}}",
                "[".repeat(n),
                "]".repeat(n)
            ));
            texts.push(format!(
                "{{\"storage\": {}1{}}}",
                "{\"redb\": ".repeat(n),
                "}".repeat(n)
            ));
            texts.push(format!("listener \"tcp\" {{ {} }}", "x = 1\n".repeat(n)));
        }
        on_small_stack(move || {
            for text in &texts {
                let _ = both(text);
            }
        });
    }

    fn atom() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("storage".to_string()),
            Just("listener".to_string()),
            Just("\"tcp\"".to_string()),
            Just("\"redb\"".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("(".to_string()),
            Just(")".to_string()),
            Just("=".to_string()),
            Just(":".to_string()),
            Just(",".to_string()),
            Just("?".to_string()),
            Just("\n".to_string()),
            Just(" ".to_string()),
            Just("\"".to_string()),
            Just("${".to_string()),
            Just("%{".to_string()),
            Just("<<EOT\n".to_string()),
            Just("EOT\n".to_string()),
            Just("#".to_string()),
            Just("/*".to_string()),
            Just("address".to_string()),
            Just("\"127.0.0.1:8200\"".to_string()),
            Just("max_request_size".to_string()),
            Just("-1".to_string()),
            Just("1e400".to_string()),
            Just("99999999999999999999".to_string()),
            Just("\"1h\"".to_string()),
            Just("true".to_string()),
            Just("null".to_string()),
            Just("\0".to_string()),
            "\\PC{0,6}",
        ]
    }

    fn mutated(seed: &'static str) -> impl Strategy<Value = String> {
        (
            proptest::collection::vec((any::<usize>(), atom()), 0..4),
            proptest::collection::vec((any::<usize>(), 1usize..6), 0..4),
        )
            .prop_map(move |(inserts, deletes)| {
                let mut chars: Vec<char> = seed.chars().collect();
                for (at, n) in deletes {
                    if !chars.is_empty() {
                        let at = at % chars.len();
                        let end = (at + n).min(chars.len());
                        chars.drain(at..end);
                    }
                }
                for (at, s) in inserts {
                    let at = at % (chars.len() + 1);
                    chars.splice(at..at, s.chars());
                }
                chars.into_iter().collect()
            })
    }

    #[test]
    fn random_config_text_never_aborts() {
        run_on_stack(
            STACK,
            384,
            || proptest::collection::vec(atom(), 0..50).prop_map(|v| v.concat()),
            |text| both(text),
        );
    }

    #[test]
    fn mutated_config_files_never_abort() {
        run_on_stack(STACK, 384, || mutated(SEED_HCL), |text| both(text));
        run_on_stack(STACK, 384, || mutated(SEED_JSON), |text| both(text));
    }
}

/// Issue 8 §4: Vault's `user_lockout` server blocks, once refused as unsupported.
#[test]
fn user_lockout_blocks_parse_as_vaults() {
    let c = hcl_ok(&with_top(
        "user_lockout \"all\" {\n  lockout_threshold = 7\n  lockout_duration = \"30m\"\n}\n\
         user_lockout \"userpass\" {\n  lockout_threshold = \"3\"\n  lockout_counter_reset = 60\n  disable_lockout = \"false\"\n}\n\
         user_lockout \"AppRole\" { disable_lockout = true }",
    ));
    assert_eq!(
        c.user_lockout["all"],
        UserLockoutBlock {
            lockout_threshold: Some(7),
            lockout_duration: Some(Duration::from_secs(1800)),
            ..Default::default()
        }
    );
    assert_eq!(
        c.user_lockout["userpass"],
        UserLockoutBlock {
            lockout_threshold: Some(3),
            lockout_counter_reset: Some(Duration::from_secs(60)),
            disable_lockout: Some(false),
            ..Default::default()
        }
    );
    assert_eq!(c.user_lockout["approle"].disable_lockout, Some(true));
    assert!(hcl_ok(&with_top("")).user_lockout.is_empty());
    let j = json(
        r#"{"storage": {"redb": {"path": "/tmp/x.redb"}}, "listener": {"tcp": {"tls_disable": true}},
            "user_lockout": {"all": {"lockout_threshold": 2}}}"#,
    )
    .unwrap();
    assert_eq!(j.user_lockout["all"].lockout_threshold, Some(2));
}

#[test]
fn user_lockout_errors_name_the_file_block_and_key() {
    for (text, want) in [
        (
            with_top("user_lockout \"ldap\" {}"),
            "config.hcl: user_lockout \"ldap\": unsupported auth type \"ldap\"; user_lockout applies to \"all\", \"userpass\" or \"approle\"",
        ),
        (
            with_top("user_lockout \"all\" { lockout_threshold = -1 }"),
            "config.hcl: user_lockout \"all\": lockout_threshold: must be between 0 and 4294967295, got -1",
        ),
        (
            with_top("user_lockout \"all\" { lockout_duration = \"soon\" }"),
            "config.hcl: user_lockout \"all\": lockout_duration: expected a duration such as \"768h\", \"30s\", \"1h30m\" or a number of seconds, got \"soon\"",
        ),
        (
            with_top("user_lockout \"userpass\" { disable_lockout = \"maybe\" }"),
            "config.hcl: user_lockout \"userpass\": disable_lockout: expected a boolean (true, false, 1, 0), got \"maybe\"",
        ),
        (
            with_top("user_lockout \"all\" { lockout_treshold = 3 }"),
            "config.hcl: user_lockout \"all\": lockout_treshold: unknown key",
        ),
        (
            with_top("user_lockout \"all\" {}\nuser_lockout \"all\" {}"),
            "config.hcl: user_lockout \"all\": only one user_lockout block per type is allowed",
        ),
        (
            with_top("user_lockout { lockout_threshold = 3 }"),
            "config.hcl: user_lockout: expected exactly one label, the type, as in user_lockout \"<type>\" { ... }; got 0",
        ),
    ] {
        assert_eq!(hcl_err(&text), want, "for {text}");
    }
}

#[test]
fn transit_seal_block_is_read_and_its_token_stays_out_of_debug() {
    use secrecy::ExposeSecret;
    let config = hcl_ok(&with_top(
        "seal \"transit\" {\n  address = \"https://kms:8200\"\n  token = \"s.topsecret\"\n  \
         key_name = \"autounseal\"\n  mount_path = \"transit/\"\n  disable_renewal = \"true\"\n  \
         tls_ca_cert = \"/etc/ca.pem\"\n  tls_skip_verify = false\n}",
    ));
    let seal = config.seal.as_ref().expect("a transit seal");
    assert_eq!(seal.address.as_deref(), Some("https://kms:8200"));
    assert_eq!(seal.token.as_ref().unwrap().expose_secret(), "s.topsecret");
    assert_eq!(seal.key_name.as_deref(), Some("autounseal"));
    assert_eq!(seal.mount_path.as_deref(), Some("transit/"));
    assert_eq!(seal.disable_renewal, Some(true));
    assert_eq!(seal.tls_ca_cert.as_deref(), Some(Path::new("/etc/ca.pem")));
    assert_eq!(seal.tls_skip_verify, Some(false));
    assert!(!format!("{config:?}").contains("topsecret"));

    // The same block in JSON, and `seal "shamir"` as no auto seal at all.
    let json_config = json(
        r#"{"storage": {"redb": {"path": "/tmp/x.redb"}},
            "listener": {"tcp": {"tls_disable": true}},
            "seal": {"transit": {"address": "http://kms:8200", "key_name": "k"}}}"#,
    )
    .expect("valid JSON");
    assert_eq!(json_config.seal.unwrap().key_name.as_deref(), Some("k"));
    assert!(hcl_ok(&with_top("seal \"shamir\" {}")).seal.is_none());
    assert!(hcl_ok(&with_top("")).seal.is_none());
}
