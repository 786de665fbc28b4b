//! Tests of the policy room as a whole: parsing and its errors, names and built-ins, Vault's
//! priority matching (a table of real OpenBao answers), merging, `deny`, `sudo`, parameters,
//! wrapping and templating. The expected values marked "OpenBao" were read from a real
//! `bao server -dev` (2.7.2).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;
use crate::logical::{Error, Map, Operation};

fn policy(text: &str) -> Arc<Policy> {
    Arc::new(Policy::parse("p", text).unwrap_or_else(|e| panic!("{e}\n{text}")))
}

/// One policy per text.
fn acl(texts: &[&str]) -> Acl {
    let policies: Vec<_> = texts.iter().map(|t| policy(t)).collect();
    Acl::new(&policies, None).unwrap()
}

fn caps(acl: &Acl, path: &str) -> String {
    acl.capabilities(path).names().join(" ")
}

fn parse_err(text: &str) -> String {
    match parse_rules(text) {
        Err(Error::BadRequest(m)) => m,
        other => panic!("expected a 400 for {text:?}, got {other:?}"),
    }
}

fn data(v: serde_json::Value) -> Map {
    v.as_object().unwrap().clone()
}

fn allowed(acl: &Acl, op: Operation, path: &str, d: &Map) -> bool {
    match acl.allow(op, path, d, None, false) {
        Ok(()) => true,
        Err(Error::PermissionDenied) => false,
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[test]
fn parses_hcl_with_every_key() {
    let rules = parse_rules(
        r#"
        # comment
        name = "ignored"
        path "secret/data/*" {
            capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
            comment = "all of it"
            required_parameters = ["Foo", "bar"]
            allowed_parameters = {
                "Name" = ["a*", "*b", true]
                "*"    = []
            }
            denied_parameters = {
                "secret" = []
            }
            min_wrapping_ttl = "1m"
            max_wrapping_ttl = 3600
        }
        path "/lead" {
            capabilities = []
        }
        "#,
    )
    .unwrap();
    assert_eq!(rules.len(), 2);
    let r = &rules[0];
    assert_eq!(r.path, "secret/data/*");
    assert!(!r.templated);
    assert_eq!(
        r.permissions.capabilities.names(),
        ["create", "delete", "list", "patch", "read", "sudo", "update"]
    );
    assert_eq!(r.permissions.required_parameters, ["Foo", "bar"]);
    // Parameter names are lowercased, values kept as written.
    assert_eq!(
        r.permissions.allowed_parameters["name"],
        [json!("a*"), json!("*b"), json!(true)]
    );
    assert!(r.permissions.allowed_parameters["*"].is_empty());
    assert!(r.permissions.denied_parameters["secret"].is_empty());
    assert_eq!(r.permissions.min_wrapping_ttl, 60);
    assert_eq!(r.permissions.max_wrapping_ttl, 3600);
    // One leading `/` is dropped; an empty list grants nothing.
    assert_eq!(rules[1].path, "lead");
    assert!(rules[1].permissions.capabilities.is_empty());
}

#[test]
fn parses_json_policies() {
    let rules = parse_rules(
        r#"{"path": {"secret/*": {"capabilities": ["read"]},
                     "kv/x": {"policy": "write", "allowed_parameters": {"A": ["1"]},
                              "min_wrapping_ttl": 60}}}"#,
    )
    .unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].path, "secret/*");
    assert_eq!(rules[0].permissions.capabilities, Capabilities::READ);
    assert_eq!(
        rules[1].permissions.capabilities.names(),
        ["create", "delete", "list", "read", "update"]
    );
    assert_eq!(rules[1].permissions.allowed_parameters["a"], [json!("1")]);
    assert_eq!(rules[1].permissions.min_wrapping_ttl, 60);

    // HCL1's JSON reader also takes a list of path objects (OpenBao accepts it).
    let rules = parse_rules(
        r#"{"path": [{"a": {"capabilities": ["read"]}}, {"b": {"capabilities": ["list"]}}]}"#,
    )
    .unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1].permissions.capabilities, Capabilities::LIST);

    assert!(
        parse_err(r#"{"path": {"secret/*": {"capabilities": ["bogus"]}}}"#)
            .ends_with(r#"invalid capability "bogus""#)
    );
    assert!(parse_err(r#"{"path": {"s": {"capz": ["read"]}}}"#).contains(r#"invalid key "capz""#));
    assert!(parse_err(r#"{"paths": {}}"#).contains(r#"invalid key "paths""#));
    assert!(parse_err(r#"{"path": {"s": {"capabilities": "read"}}}"#).contains("must be a list"));
    assert!(parse_err(r#"{"path": "#).starts_with("failed to parse policy: "));
}

#[test]
fn legacy_policy_maps_to_capabilities() {
    // OpenBao: read -> list read; write -> create delete list read update; sudo adds sudo;
    // deny -> deny, even next to capabilities.
    let cases = [
        (r#"policy = "read""#, "list read"),
        (r#"policy = "write""#, "create delete list read update"),
        (r#"policy = "sudo""#, "create delete list read sudo update"),
        (r#"policy = "deny""#, "deny"),
        (
            r#"policy = "read"
               capabilities = ["update"]"#,
            "list read update",
        ),
        (
            r#"policy = "deny"
               capabilities = ["update"]"#,
            "deny",
        ),
    ];
    for (body, want) in cases {
        let text = format!("path \"a\" {{\n{body}\n}}");
        assert_eq!(caps(&acl(&[&text]), "a"), want, "{body}");
    }
    assert_eq!(
        parse_err(r#"path "a" { policy = "admin" }"#),
        r#"failed to parse policy: path "a": invalid policy "admin""#
    );
}

#[test]
fn rejects_bad_policies_with_vault_like_messages() {
    let cases = [
        (
            r#"path "a" { capabilities = ["read", "fly"] }"#,
            r#"failed to parse policy: path "a": invalid capability "fly""#,
        ),
        (
            r#"path "a" { capabilities = ["READ"] }"#,
            r#"failed to parse policy: path "a": invalid capability "READ""#,
        ),
        (
            r#"path "a" { capabilities = ["root"] }"#,
            r#"failed to parse policy: path "a": invalid capability "root""#,
        ),
        (
            r#"path "a" { capabilities = [1] }"#,
            r#"failed to parse policy: path "a": invalid capability "1""#,
        ),
        // `deny` stops the reading of capabilities, so a later bad name passes (as in Vault),
        // an earlier one does not.
        (
            r#"path "a" { capabilities = ["bogus", "deny"] }"#,
            r#"failed to parse policy: path "a": invalid capability "bogus""#,
        ),
        (
            r#"path "a" {
                 capabilities = ["read"]
                 foo = 1
               }"#,
            r#"failed to parse policy: path "a": invalid key "foo""#,
        ),
        (
            r#"path "a" { Capabilities = ["read"] }"#,
            r#"failed to parse policy: path "a": invalid key "Capabilities""#,
        ),
        (
            "foo = 1\npath \"a\" { capabilities = [\"read\"] }",
            r#"failed to parse policy: invalid key "foo""#,
        ),
        (
            r#"PATH "a" { capabilities = ["read"] }"#,
            r#"failed to parse policy: invalid key "PATH""#,
        ),
        (
            r#"path "a/+*" { capabilities = ["read"] }"#,
            r#"failed to parse policy: path "a/+*": invalid use of wildcards ('+*' is forbidden)"#,
        ),
        (
            r#"path "a" {
                 capabilities = ["read"]
                 min_wrapping_ttl = "1h"
                 max_wrapping_ttl = "1m"
               }"#,
            r#"failed to parse policy: path "a": max_wrapping_ttl cannot be less than min_wrapping_ttl"#,
        ),
        (
            r#"path "a" {
                 capabilities = ["read"]
                 min_wrapping_ttl = "abc"
               }"#,
            r#"failed to parse policy: path "a": error parsing min_wrapping_ttl: time: invalid duration "abc""#,
        ),
        (
            r#"path "a/{{identity.entity.id" { capabilities = ["read"] }"#,
            r#"failed to parse policy: path "a/{{identity.entity.id": failed to validate policy templating: unbalanced templating characters"#,
        ),
        (
            r#"path "a/}}x" { capabilities = ["read"] }"#,
            r#"failed to parse policy: path "a/}}x": failed to validate policy templating: unbalanced templating characters"#,
        ),
        (
            r#"path "a" { capabilities = "read" }"#,
            r#"failed to parse policy: path "a": capabilities must be a list"#,
        ),
        (
            r#"path "a" {
                 capabilities = ["read"]
                 required_parameters = "x"
               }"#,
            r#"failed to parse policy: path "a": required_parameters must be a list"#,
        ),
        (
            r#"path "a" {
                 capabilities = ["read"]
                 allowed_parameters = ["x"]
               }"#,
            r#"failed to parse policy: path "a": allowed_parameters must be a map of parameter names to lists"#,
        ),
        (
            r#"path "a" {
                 capabilities = ["read"]
                 allowed_parameters = { "x" = "y" }
               }"#,
            r#"failed to parse policy: path "a": allowed_parameters: the values of "x" must be a list"#,
        ),
        (
            r#"path "a" {
                 capabilities = ["read"]
                 mfa_methods = ["totp"]
               }"#,
            r#"failed to parse policy: path "a": "mfa_methods" is not supported by mainkey"#,
        ),
        (
            r#"path "a" {
                 capabilities = ["list"]
                 pagination_limit = 5
               }"#,
            r#"failed to parse policy: path "a": "pagination_limit" is not supported by mainkey"#,
        ),
        (
            r#"path = "a""#,
            r#"failed to parse policy: a path must be a block: path "..." { ... }"#,
        ),
        (
            r#"path { capabilities = ["read"] }"#,
            r#"failed to parse policy: a path block takes exactly one label: path "..." { ... }"#,
        ),
        (
            r#"path "a" "b" { capabilities = ["read"] }"#,
            r#"failed to parse policy: a path block takes exactly one label: path "..." { ... }"#,
        ),
        (
            r#"path "a" {
                 capabilities = ["read"]
                 expiration = "yesterday"
               }"#,
            "",
        ),
    ];
    for (text, want) in cases {
        let got = parse_err(text);
        if want.is_empty() {
            assert!(
                got.starts_with(r#"failed to parse policy: path "a": invalid expiration time: "#),
                "{got}"
            );
        } else {
            assert_eq!(got, want, "{text}");
        }
    }
    // Syntax errors carry the parser's message.
    for text in [
        r#"path "a" { capabilities = ["read" }"#,
        r#""hello""#,
        r#"path "a" = { capabilities = ["read"] }"#,
        r#"path "a" { capabilities = [var.x] }"#,
        r#"path "a" { capabilities = concat(["read"]) }"#,
    ] {
        assert!(
            parse_err(text).starts_with("failed to parse policy: "),
            "{text}"
        );
    }
}

#[test]
fn hostile_nesting_is_refused_not_overflowed() {
    let deep = format!(
        "path \"a\" {{ capabilities = {}{} }}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(parse_err(&deep).starts_with("failed to parse policy: "));
    let deep_json = format!(
        "{{\"path\": {{\"a\": {{\"allowed_parameters\": {{\"x\": {}{}}}}}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(parse_err(&deep_json).starts_with("failed to parse policy: "));
    // Brackets inside strings are text, not nesting.
    let text = format!(
        "path \"a\" {{\n capabilities = [\"read\"]\n comment = \"{}\"\n}}",
        "[".repeat(100)
    );
    assert!(parse_rules(&text).is_ok());
}

#[test]
fn hcl_forms_that_vault_also_accepts() {
    // Block form of the parameter maps, heredocs, empty documents, and a `deny` that ends the
    // capability list.
    let rules = parse_rules(
        r#"
        path "a" {
            capabilities = ["read", "list"]
            allowed_parameters {
                x = ["y"]
            }
            comment = <<EOT
            anything
            EOT
        }
        path "b" { capabilities = ["update", "deny", "bogus"] }
        path "c" {
            capabilities = ["create"]
            allowed_parameters = { "X" = ["1"], "y" = [] }
        }
        "#,
    )
    .unwrap();
    assert_eq!(rules[0].permissions.capabilities.names(), ["list", "read"]);
    assert_eq!(rules[0].permissions.allowed_parameters["x"], [json!("y")]);
    assert_eq!(rules[1].permissions.capabilities, Capabilities::DENY);
    assert_eq!(rules[2].permissions.allowed_parameters.len(), 2);
    assert!(rules[2].permissions.allowed_parameters.contains_key("x"));
    assert!(parse_rules("").unwrap().is_empty());
    // Vault reads policies as HCL1, which also takes several attributes on one line and
    // repeated attributes (see `hcl1_forms_that_vault_accepts`).
    let one_line =
        parse_rules(r#"path "a" { capabilities = ["read"] max_wrapping_ttl = "1h" }"#).unwrap();
    assert_eq!(one_line[0].permissions.capabilities, Capabilities::READ);
    assert_eq!(one_line[0].permissions.max_wrapping_ttl, 3600);
    assert!(parse_rules("# only a comment\n").unwrap().is_empty());
    // OpenBao's `scan` parses and is reported.
    assert_eq!(
        caps(
            &acl(&[r#"path "a" { capabilities = ["scan", "read"] }"#]),
            "a"
        ),
        "read scan"
    );
}

#[test]
fn hcl1_forms_that_vault_accepts() {
    // Each answer below is OpenBao's (2.7.2) for the same text; `tests_hcl1` checks many more
    // against its recorded answers.
    let cases = [
        // Several attributes on one line; `policy` and `capabilities` add up.
        (
            r#"path "a" { policy = "read" capabilities = ["update"] }"#,
            "list read update",
        ),
        (
            r#"path "a" { capabilities = ["update"] policy = "read" }"#,
            "list read update",
        ),
        // Commas between attributes and between blocks, trailing commas.
        (
            r#"path "a" { capabilities = ["read"], policy = "write" }"#,
            "create delete list read update",
        ),
        (r#"path "a" { capabilities = ["read"], }"#, "read"),
        (
            r#"path "a" { capabilities = ["read"] }, path "a" { capabilities = ["list"] }"#,
            "list read",
        ),
        // Stray commas in lists.
        (r#"path "a" { capabilities = ["read", "list",] }"#, "list read"),
        (r#"path "a" { capabilities = [,"read",,"list"] }"#, "list read"),
        (r#"path "a" { capabilities = [,] }"#, "deny"),
        // A repeated `capabilities` adds up, in a block or on one line; a repeated block too.
        (
            "path \"a\" {\n capabilities = [\"read\"]\n capabilities = [\"list\"]\n}",
            "list read",
        ),
        (
            r#"path "a" { capabilities = ["read"] capabilities = ["list"] }"#,
            "list read",
        ),
        (
            r#"path "a" { capabilities = ["read"] capabilities = ["deny"] }"#,
            "deny",
        ),
        (
            "path \"a\" { capabilities = [\"read\"] }\npath \"a\" { capabilities = [\"list\"] }",
            "list read",
        ),
        // A repeated `policy` keeps the last; an empty one is no policy.
        (r#"path "a" { policy = "read" policy = "deny" }"#, "deny"),
        (
            r#"path "a" { policy = "deny" policy = "write" }"#,
            "create delete list read update",
        ),
        (r#"path "a" { policy = "" capabilities = ["read"] }"#, "read"),
        // Quoted keys, a bare label, all three kinds of comment.
        (r#"path "a" { "capabilities" = ["read"] }"#, "read"),
        (r#""path" "a" { capabilities = ["read"] }"#, "read"),
        (r#"path a { capabilities = ["read"] }"#, "read"),
        (
            "# hash\n// slashes\n/* block\n comment */ path \"a\" { /* in */ capabilities = [\"read\"] // end\n}",
            "read",
        ),
        // A heredoc keeps its last line break, so only an empty one is a valid `policy`.
        ("path \"a\" {\n policy = <<EOT\nEOT\n}", "deny"),
    ];
    for (text, want) in cases {
        assert_eq!(caps(&acl(&[text]), "a"), want, "{text}");
    }

    // Repeated parameter maps merge, and so do repeated names within one map.
    let rules = parse_rules(
        r#"path "a" {
             capabilities = ["update"]
             allowed_parameters = { x = ["1"] }
             allowed_parameters { y = [] }
             denied_parameters { z = ["1"], z = ["2"] }
             required_parameters = ["x"] required_parameters = ["y"]
           }"#,
    )
    .unwrap();
    let p = &rules[0].permissions;
    assert_eq!(p.allowed_parameters["x"], [json!("1")]);
    assert!(p.allowed_parameters["y"].is_empty());
    assert_eq!(p.denied_parameters["z"], [json!("1"), json!("2")]);
    assert_eq!(p.required_parameters, ["x", "y"]);

    // A repeated TTL keeps the last: here max (1h) < min (90m) is an error, the other way not.
    let ttls = |first: &str, last: &str| {
        parse_rules(&format!(
            "path \"a\" {{ capabilities = [\"update\"] min_wrapping_ttl = \"90m\" \
             max_wrapping_ttl = \"{first}\" max_wrapping_ttl = \"{last}\" }}"
        ))
    };
    assert_eq!(
        ttls("1h", "2h").unwrap()[0].permissions.max_wrapping_ttl,
        7200
    );
    assert!(ttls("2h", "1h").is_err());

    // Heredocs: `<<-` takes the closing line's indentation off every line, when all have it.
    let comment = |text: &str| {
        let text = format!("path \"a\" {{\n policy = {text}\n}}");
        parse_err(&text)
    };
    assert!(comment("<<EOT\nread\nEOT").ends_with(r#"invalid policy "read\n""#));
    assert!(
        comment("<<-EOT\n   read\n     x\n  EOT").ends_with(r#"invalid policy " read\n   x\n""#)
    );
    assert!(comment("<<-EOT\n\tread\n\tEOT").ends_with(r#"invalid policy "read\n""#));
    assert!(comment("<<EOT\r\nre\r\nad\r\nEOT\r").ends_with(r#"invalid policy "re\nad\n""#));

    // Go's string escapes, numbers in Go's forms (hex, octal, exponent).
    let rules = parse_rules(
        r#"path "\x41\u00e9\"\\" { capabilities = ["update"] max_wrapping_ttl = 0x10 min_wrapping_ttl = 010 }
           path "b" { capabilities = ["update"] max_wrapping_ttl = 1e3 }"#,
    )
    .unwrap();
    assert_eq!(rules[0].path, "A\u{e9}\"\\");
    assert_eq!(rules[0].permissions.max_wrapping_ttl, 16);
    assert_eq!(rules[0].permissions.min_wrapping_ttl, 8);
    assert_eq!(rules[1].permissions.max_wrapping_ttl, 1000);
}

#[test]
fn hcl1_syntax_errors_say_where_as_vault_does() {
    // OpenBao's messages, line and column included.
    let cases = [
        (
            "path \"a\" {\n  capabilities = [\"read]\n}",
            "At 2:25: literal not terminated",
        ),
        (
            r#"path "a { capabilities = ["read"] }"#,
            "At 1:36: literal not terminated",
        ),
        (
            "path \"a\" {\n  capabilities = [\"read\"]\n}\n}",
            "At 4:1: expected: IDENT | STRING | ASSIGN | LBRACE got: RBRACE",
        ),
        (
            "path \"a\" {\n  capabilities = [\"read\"\n}",
            "At 3:1: error parsing list, expected comma or list end, got: RBRACE",
        ),
        (
            "path \"a\" {\n  capabilities [\"read\"]\n}",
            "At 2:16: expected: IDENT | STRING | ASSIGN | LBRACE got: LBRACK",
        ),
        (
            "path \"a\" {\n capabilities\n}",
            "At 3:1: key 'capabilities' expected start of object ('{') or assignment ('=')",
        ),
        (
            r#"path "a" { capabilities = read }"#,
            "At 1:27: Unknown token: 1:27 IDENT read",
        ),
        (
            r#"path "a" = { capabilities = ["read"] }"#,
            "At 1:10: nested object expected: LBRACE got: ASSIGN",
        ),
        (
            r#"path "a\qb" { capabilities = ["read"] }"#,
            "At 1:9: illegal char escape",
        ),
        (
            r#"path "a" { capabilities = ["read"] ; }"#,
            "At 1:36: illegal char",
        ),
        (
            r#"path "a" { capabilities = ["read"] } /* x"#,
            "At 1:42: comment not terminated",
        ),
        (
            "path \"a\" {\n comment = <<EOT\nread\n}",
            "At 4:2: heredoc not terminated",
        ),
        (
            "path \"a\" {\n comment = <<EOT read\nEOT\n}",
            "At 2:17: invalid characters in heredoc anchor",
        ),
        // A lexical error wins over a later syntax error, as in OpenBao.
        (
            r#"path "a\q" { capabilities = read }"#,
            "At 1:9: illegal char escape",
        ),
        // At the end of the text the column is the one just past the last character (OpenBao
        // says 3:2 here).
        (
            "path \"a\" {\n  capabilities = [\"read\"]\n",
            "At 3:1: object expected closing RBRACE got: EOF",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            parse_err(text),
            format!("failed to parse policy: {want}"),
            "{text}"
        );
    }
}

#[test]
fn hcl1_forms_vault_reads_oddly_are_refused() {
    // OpenBao takes `path { ... }` as the path "path", ignores a second label, and reads a
    // parameter map whose values are not lists as matching nothing. Each is a mistake in
    // practice, so mainkey refuses them.
    let cases = [
        (
            r#"path { capabilities = ["read"] }"#,
            "a path block takes exactly one label",
        ),
        (
            r#"path = { capabilities = ["read"] }"#,
            "a path block takes exactly one label",
        ),
        (
            r#"path "a" "b" { capabilities = ["read"] }"#,
            "a path block takes exactly one label",
        ),
        (
            r#"path "a" { capabilities = ["update"] allowed_parameters "x" { } }"#,
            r#"the values of "x" must be a list"#,
        ),
        (
            r#"path "a" { capabilities = ["update"] allowed_parameters = { x = { y = 1 } } }"#,
            r#"the values of "x" must be a list"#,
        ),
    ];
    for (text, want) in cases {
        let got = parse_err(text);
        assert!(got.contains(want), "{text}: {got}");
    }
}

#[test]
fn a_deny_rule_ignores_its_other_keys() {
    // Vault stops reading a block at `deny`, so its parameters and wrapping TTLs are neither
    // kept nor validated.
    let rules = parse_rules(
        r#"path "a" {
             capabilities = ["deny"]
             allowed_parameters = { "x" = [] }
             min_wrapping_ttl = "nonsense"
           }"#,
    )
    .unwrap();
    assert_eq!(rules[0].permissions.capabilities, Capabilities::DENY);
    assert!(rules[0].permissions.allowed_parameters.is_empty());
}

#[test]
fn templated_paths_are_flagged() {
    let p = policy(
        r#"path "secret/data/tenant/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read"] }
           path "plain" { capabilities = ["read"] }"#,
    );
    assert!(p.is_templated());
    assert!(p.paths()[0].templated);
    assert!(!p.paths()[1].templated);
    assert!(!policy(r#"path "a" { capabilities = ["read"] }"#).is_templated());
}

// ---------------------------------------------------------------------------------------------
// Names and built-ins

#[test]
fn names_are_trimmed_and_lowercased() {
    for name in ["Root", " root", "root ", "ROOT", "\troot\n", " RoOt "] {
        assert_eq!(normalize_name(name), "root", "{name:?}");
        match writable_name(name) {
            Err(Error::BadRequest(m)) => assert_eq!(m, "cannot update \"root\" policy"),
            other => panic!("{name:?}: {other:?}"),
        }
        assert!(matches!(
            Policy::parse(name, r#"path "*" { capabilities = ["sudo"] }"#),
            Err(Error::BadRequest(_))
        ));
        assert!(deletable_name(name).is_err());
    }
    assert_eq!(writable_name(" Tenant-Policy ").unwrap(), "tenant-policy");
    assert_eq!(Policy::parse("Foo", "").unwrap().name(), "foo");
    match deletable_name("Default") {
        Err(Error::BadRequest(m)) => assert_eq!(m, "cannot delete default policy"),
        other => panic!("{other:?}"),
    }
    assert_eq!(deletable_name("other").unwrap(), "other");
}

#[test]
fn only_the_builtin_root_is_root() {
    // A policy that grants everything is still not root: it reports capabilities, not "root".
    let everything = Arc::new(
        Policy::parse(
            "rooty",
            r#"path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo", "patch"] }"#,
        )
        .unwrap(),
    );
    assert!(!everything.is_root());
    let a = Acl::new(&[everything], None).unwrap();
    assert!(!a.is_root());
    assert_eq!(
        caps(&a, "sys/audit"),
        "create delete list patch read sudo update"
    );

    let root = Arc::new(Policy::root());
    assert!(root.is_root());
    assert_eq!(root.name(), "root");
    assert_eq!(root.raw(), "");
    let a = Acl::new(std::slice::from_ref(&root), None).unwrap();
    assert!(a.is_root());
    assert_eq!(caps(&a, "anything/at/all"), "root");
    for op in [
        Operation::Read,
        Operation::Update,
        Operation::Patch,
        Operation::Delete,
        Operation::List,
    ] {
        a.allow(op, "sys/audit/x", &Map::new(), Some(false), true)
            .unwrap();
    }
    // As in Vault, root cannot be combined with other policies.
    let other = policy(r#"path "a" { capabilities = ["read"] }"#);
    assert!(matches!(
        Acl::new(&[root, other], None),
        Err(Error::Internal(_))
    ));
}

#[test]
fn default_policy_grants_what_openbaos_does() {
    let default = Arc::new(Policy::default_policy());
    assert_eq!(default.name(), "default");
    assert!(default.is_templated());
    assert_eq!(default.raw(), DEFAULT_POLICY_TEXT);
    let ctx = TemplateContext {
        entity_id: "e-1".into(),
        entity_name: "alice".into(),
        ..Default::default()
    };
    let a = Acl::new(std::slice::from_ref(&default), Some(&ctx)).unwrap();
    // The same answers as OpenBao's default policy.
    let want = [
        ("auth/token/lookup-self", "read"),
        ("auth/token/renew-self", "update"),
        ("auth/token/revoke-self", "update"),
        ("sys/capabilities-self", "update"),
        ("identity/entity/id/e-1", "read"),
        ("identity/entity/name/alice", "read"),
        ("identity/entity/id/e-2", "deny"),
        ("sys/internal/ui/resultant-acl", "read"),
        ("sys/leases/renew", "update"),
        ("sys/leases/lookup", "update"),
        ("cubbyhole/x", "create delete list read update"),
        ("cubbyhole/", "create delete list read update"),
        ("sys/wrapping/wrap", "update"),
        ("sys/wrapping/lookup", "update"),
        ("sys/wrapping/unwrap", "update"),
        ("sys/tools/hash", "update"),
        ("sys/tools/hash/sha2-256", "update"),
        ("identity/oidc/provider/p/authorize", "read update"),
        ("auth/token/create", "deny"),
        ("secret/data/x", "deny"),
        ("sys/policy/default", "deny"),
    ];
    for (path, caps_want) in want {
        assert_eq!(caps(&a, path), caps_want, "{path}");
    }
    // Without an entity the templated rules match nothing.
    let a = Acl::new(&[default], None).unwrap();
    assert_eq!(caps(&a, "identity/entity/id/"), "deny");
    assert_eq!(caps(&a, "auth/token/lookup-self"), "read");
}

// ---------------------------------------------------------------------------------------------
// Priority matching: every row is (rules of one policy, path, OpenBao's answer).

type Row = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

const PRIORITY: &[Row] = &[
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/foo",
        "update",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/foo/",
        "update",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/x",
        "read",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/foo/bar",
        "create",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/foo/baz",
        "create",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/foo/bz",
        "create",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/a/bar",
        "list",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/a/bar/",
        "read",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/a/b/baz",
        "patch",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/foo/b/baz",
        "create",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/foo/bar/baz",
        "create",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret/",
        "read",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "secret",
        "deny",
    ),
    (
        &[
            ("secret/*", "read"),
            ("secret/foo", "update"),
            ("secret/+/bar", "list"),
            ("secret/foo/+", "delete"),
            ("secret/foo/b*", "create"),
            ("secret/+/+/baz", "patch"),
        ],
        "other",
        "deny",
    ),
    (&[("foo/a*", "read"), ("foo/+", "list")], "foo/ab", "read"),
    (&[("foo/a*", "read"), ("foo/+", "list")], "foo/b", "list"),
    (&[("foo/a*", "read"), ("foo/+", "list")], "foo/a", "read"),
    (&[("foo/a*", "read"), ("foo/+", "list")], "foo/", "list"),
    (&[("foo/a*", "read"), ("foo/+", "list")], "foo/a/b", "read"),
    (
        &[("foo/+/bar", "update"), ("foo/+/ba*", "create")],
        "foo/x/bar",
        "update",
    ),
    (
        &[("foo/+/bar", "update"), ("foo/+/ba*", "create")],
        "foo/x/bat",
        "create",
    ),
    (
        &[("foo/+/bar", "update"), ("foo/+/ba*", "create")],
        "foo/x/ba",
        "create",
    ),
    (
        &[("foo/+/bar", "update"), ("foo/+/ba*", "create")],
        "foo/x/bar/y",
        "create",
    ),
    (&[("foo/+", "list"), ("foo/*", "read")], "foo/x", "list"),
    (&[("foo/+", "list"), ("foo/*", "read")], "foo/x/y", "read"),
    (&[("foo/+", "list"), ("foo/*", "read")], "foo/", "list"),
    (
        &[("foo/+/bar/baz", "read"), ("foo/+/+/baz", "list")],
        "foo/1/bar/baz",
        "read",
    ),
    (
        &[("foo/+/bar/baz", "read"), ("foo/+/+/baz", "list")],
        "foo/1/2/baz",
        "list",
    ),
    (
        &[("foo/+/bar/ba*", "read"), ("foo/+/bar/b*", "list")],
        "foo/1/bar/baz",
        "read",
    ),
    (
        &[("foo/+/bar/ba*", "read"), ("foo/+/bar/b*", "list")],
        "foo/1/bar/bz",
        "list",
    ),
    (
        &[("foo/+/x/+", "read"), ("foo/+/+/y", "list")],
        "foo/1/x/y",
        "read",
    ),
    (
        &[("foo/+/x/+", "read"), ("foo/+/+/y", "list")],
        "foo/1/2/y",
        "list",
    ),
    (
        &[("foo/+/x/+", "read"), ("foo/+/+/y", "list")],
        "foo/1/x/2",
        "read",
    ),
    (&[("a/+", "read")], "a/x", "read"),
    (&[("a/+", "read")], "a/x/", "read"),
    (&[("a/+", "read")], "a/", "read"),
    (&[("a/+", "read")], "a", "deny"),
    (&[("a/+", "read")], "a/x/y", "deny"),
    (&[("a/b", "read")], "a/b", "read"),
    (&[("a/b", "read")], "a/b/", "read"),
    (&[("a/b", "read")], "a/b//", "deny"),
    (&[("a/b", "read")], "/a/b", "read"),
    (&[("a/+/c", "read")], "a//c", "read"),
    (&[("a/+/c", "read")], "a/x/c", "read"),
    (&[("a/+/c", "read")], "a/x/c/", "read"),
    (&[("a/+/*", "read")], "a/x", "deny"),
    (&[("a/+/*", "read")], "a/x/", "read"),
    (&[("a/+/*", "read")], "a/x/y", "read"),
    (&[("a/+/*", "read")], "a//", "read"),
    (&[("a/*/c", "read")], "a/*/c", "read"),
    (&[("a/*/c", "read")], "a/x/c", "deny"),
    (&[("a/b+", "read")], "a/b+", "read"),
    (&[("a/b+", "read")], "a/bx", "deny"),
    (&[("a/+b", "read")], "a/+b", "read"),
    (&[("a/+b", "read")], "a/xb", "deny"),
    (&[("*", "read"), ("+", "list")], "x", "list"),
    (&[("*", "read"), ("+", "list")], "x/y", "read"),
    (&[("*", "read"), ("+", "list")], "x/", "read"),
    (&[("*", "read"), ("+", "list")], "/", "list"),
    (&[("+/*", "read"), ("a/*", "list")], "a/x", "list"),
    (&[("+/*", "read"), ("a/*", "list")], "b/x", "read"),
    (&[("+/*", "read"), ("a/*", "list")], "a", "deny"),
    (
        &[("secret/*", "read"), ("secret/a/*", "deny")],
        "secret/a/b",
        "deny",
    ),
    (
        &[("secret/*", "read"), ("secret/a/*", "deny")],
        "secret/a",
        "read",
    ),
    (
        &[("secret/*", "read"), ("secret/a/*", "deny")],
        "secret/a/",
        "deny",
    ),
    (
        &[("secret/*", "read"), ("secret/a/*", "deny")],
        "secret/ab",
        "read",
    ),
    (&[("x/*", "read"), ("x/y/*", "")], "x/y/z", "deny"),
    (&[("x/*", "read"), ("x/y/*", "")], "x/yz", "read"),
    (&[("x/*", "read"), ("x/y/*", "")], "x/y", "read"),
    (
        &[("t/{{identity.entity.id}}", "read"), ("t/*", "list")],
        "t/abc",
        "list",
    ),
    (
        &[("t/{{identity.entity.id}}", "read"), ("t/*", "list")],
        "t/",
        "list",
    ),
    (&[("/lead/*", "read")], "lead/x", "read"),
    (&[("/lead/*", "read")], "/lead/x", "read"),
    (&[("/lead/*", "read")], "//lead/x", "read"),
    (
        &[("s/*", "read"), ("s/m/x", "list"), ("s/m/x/*", "deny")],
        "s/m/x/",
        "list",
    ),
    (
        &[("s/*", "read"), ("s/m/x", "list"), ("s/m/x/*", "deny")],
        "s/m/x",
        "list",
    ),
    (
        &[("s/*", "read"), ("s/m/x", "list"), ("s/m/x/*", "deny")],
        "s/m/x/y",
        "deny",
    ),
    (
        &[("s/m/+/*", "read"), ("s/m/a/+", "list")],
        "s/m/a/b",
        "list",
    ),
    (
        &[("s/m/+/*", "read"), ("s/m/a/+", "list")],
        "s/m/a/b/c",
        "read",
    ),
    (
        &[("s/m/+/*", "read"), ("s/m/a/+", "list")],
        "s/m/a/",
        "list",
    ),
    (&[("k/+/+", "read"), ("k/*", "list")], "k/a/b", "read"),
    (&[("k/+/+", "read"), ("k/*", "list")], "k/a/b/", "list"),
    (&[("k/+/+", "read"), ("k/*", "list")], "k/a", "list"),
    (&[("k/a+/*", "read"), ("k/+", "list")], "k/a+/x", "read"),
    (&[("k/a+/*", "read"), ("k/+", "list")], "k/a+", "list"),
];

#[test]
fn priority_matching_matches_openbao() {
    assert!(PRIORITY.len() >= 40);
    for (rules, path, want) in PRIORITY {
        let text: String = rules
            .iter()
            .map(|(p, c)| {
                let list: Vec<String> = c
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("{s:?}"))
                    .collect();
                format!("path {p:?} {{ capabilities = [{}] }}\n", list.join(", "))
            })
            .collect();
        assert_eq!(caps(&acl(&[&text]), path), *want, "{path:?} under\n{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// LIST and trailing slashes

#[test]
fn list_matches_like_openbao() {
    let a = acl(&[r#"
        path "secret/metadata/x" { capabilities = ["list"] }
        path "secret/metadata/tenant/*" { capabilities = ["list"] }
        path "secret/metadata/tenant/a/*" { capabilities = ["deny"] }
        path "kv/+" { capabilities = ["list", "read"] }
    "#]);
    let none = Map::new();
    // OpenBao (unlike older Vault) lets an exact rule for `x` grant LIST of `x/`.
    assert!(allowed(&a, Operation::List, "secret/metadata/x/", &none));
    assert!(allowed(&a, Operation::List, "secret/metadata/x", &none));
    // ... but only for LIST: a READ of `x/` is not the path `x`.
    assert!(!allowed(&a, Operation::Read, "secret/metadata/x/", &none));
    // A deny on `a/*` holds for a LIST of `a/`: the pattern `a/*` matches `a/` itself.
    assert!(!allowed(
        &a,
        Operation::List,
        "secret/metadata/tenant/a/",
        &none
    ));
    assert!(!allowed(
        &a,
        Operation::List,
        "secret/metadata/tenant/a/b/",
        &none
    ));
    assert!(allowed(
        &a,
        Operation::List,
        "secret/metadata/tenant/b/",
        &none
    ));
    assert!(allowed(
        &a,
        Operation::List,
        "secret/metadata/tenant/",
        &none
    ));
    // `secret/metadata/tenant/a` without the slash is matched by `tenant/*`, not `a/*`.
    assert!(allowed(
        &a,
        Operation::List,
        "secret/metadata/tenant/a",
        &none
    ));
    // `kv/+` grants a LIST of `kv/x/` through the slash-less fallback, but not a READ.
    assert!(allowed(&a, Operation::List, "kv/x/", &none));
    assert!(!allowed(&a, Operation::Read, "kv/x/", &none));
    assert!(allowed(&a, Operation::Read, "kv/x", &none));
    // sys/capabilities looks paths up as a LIST does (OpenBao).
    assert_eq!(caps(&a, "secret/metadata/x/"), "list");
    assert_eq!(caps(&a, "secret/metadata/tenant/a/"), "deny");
    assert_eq!(caps(&a, "kv/x/"), "list read");
    // Leading slashes of the request path are ignored.
    assert!(allowed(&a, Operation::Read, "//kv/x", &none));
}

#[test]
fn an_explicit_exact_grant_wins_over_a_glob_deny_for_list() {
    // OpenBao: with an exact rule on `a`, a LIST of `a/` uses it, even though `a/*` is denied
    // (the exact rule is consulted before any glob).
    let a = acl(&[
        r#"path "secret/metadata/tenant/a/*" { capabilities = ["deny"] }"#,
        r#"path "secret/metadata/tenant/a" { capabilities = ["list"] }"#,
    ]);
    assert_eq!(caps(&a, "secret/metadata/tenant/a/"), "list");
    assert_eq!(caps(&a, "secret/metadata/tenant/a/b"), "deny");
}

// ---------------------------------------------------------------------------------------------
// Merging, deny, sudo, operations

#[test]
fn rules_for_one_pattern_merge_across_policies() {
    let a = acl(&[
        r#"path "secret/*" { capabilities = ["read"] }"#,
        r#"path "secret/*" { capabilities = ["list"] }
           path "secret/a" { capabilities = ["update"] }"#,
        r#"path "secret/a" { capabilities = ["create"] }
           path "secret/+/b" { capabilities = ["delete"] }"#,
        r#"path "secret/+/b" { capabilities = ["patch"] }"#,
    ]);
    assert_eq!(caps(&a, "secret/x"), "list read");
    // The exact entry is used alone: nothing from `secret/*` is added.
    assert_eq!(caps(&a, "secret/a"), "create update");
    assert_eq!(caps(&a, "secret/x/b"), "delete patch");
    // Rules repeated inside one policy merge the same way.
    let a = acl(&[r#"path "a" { capabilities = ["read"] }
                    path "a" { capabilities = ["list"] }"#]);
    assert_eq!(caps(&a, "a"), "list read");
}

#[test]
fn deny_wins_in_its_entry_whatever_the_order() {
    for texts in [
        [
            r#"path "secret/a/*" { capabilities = ["deny"] }"#,
            r#"path "secret/a/*" { capabilities = ["read", "sudo"] }"#,
        ],
        [
            r#"path "secret/a/*" { capabilities = ["read", "sudo"] }"#,
            r#"path "secret/a/*" { capabilities = ["deny"] }"#,
        ],
    ] {
        let mut with_broad = texts.to_vec();
        with_broad.push(r#"path "secret/*" { capabilities = ["read"] }"#);
        let a = acl(&with_broad);
        assert_eq!(caps(&a, "secret/a/x"), "deny");
        assert_eq!(caps(&a, "secret/b"), "read");
        assert!(!allowed(&a, Operation::Read, "secret/a/x", &Map::new()));
    }
    // A more specific rule with no capabilities shadows a broader grant.
    let a = acl(&[r#"path "x/*" { capabilities = ["read"] }
                    path "x/y/*" { capabilities = [] }"#]);
    assert_eq!(caps(&a, "x/y/z"), "deny");
    assert!(!allowed(&a, Operation::Read, "x/y/z", &Map::new()));
}

#[test]
fn operations_need_their_capability() {
    let a = acl(&[r#"
        path "r" { capabilities = ["read"] }
        path "c" { capabilities = ["create"] }
        path "u" { capabilities = ["update"] }
        path "p" { capabilities = ["patch"] }
        path "d" { capabilities = ["delete"] }
        path "l/" { capabilities = ["list"] }
        path "s" { capabilities = ["read", "sudo"] }
        path "all" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
    "#]);
    let none = Map::new();
    let check = |op, path: &str, exists, root_protected| {
        a.allow(op, path, &none, exists, root_protected).is_ok()
    };
    assert!(check(Operation::Read, "r", None, false));
    assert!(!check(Operation::List, "r", None, false));
    assert!(!check(Operation::Update, "r", None, false));
    // Update: `create` for a new entry, `update` for an existing one, and `update` where the
    // backend has no existence check (`None`), as Vault's router decides.
    assert!(check(Operation::Update, "c", Some(false), false));
    assert!(!check(Operation::Update, "c", Some(true), false));
    assert!(!check(Operation::Update, "c", None, false));
    assert!(check(Operation::Update, "u", Some(true), false));
    assert!(!check(Operation::Update, "u", Some(false), false));
    assert!(check(Operation::Update, "u", None, false));
    // Patch needs `patch`; `update` is not enough.
    assert!(check(Operation::Patch, "p", Some(true), false));
    assert!(!check(Operation::Patch, "u", Some(true), false));
    assert!(check(Operation::Delete, "d", None, false));
    assert!(!check(Operation::Read, "d", None, false));
    assert!(check(Operation::List, "l/", None, false));
    assert!(!check(Operation::Read, "l/", None, false));
    // Root-protected paths also need `sudo`.
    assert!(check(Operation::Read, "s", None, true));
    assert!(!check(Operation::Read, "r", None, true));
    assert!(!check(Operation::Update, "s", None, true));
    for op in [
        Operation::Read,
        Operation::Update,
        Operation::Patch,
        Operation::Delete,
    ] {
        assert!(check(op, "all", None, false), "{op:?}");
        assert!(!check(op, "all", None, true), "{op:?}");
        assert!(!check(op, "nowhere", None, false), "{op:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters and wrapping. Expected outcomes are OpenBao's for writes to a KV v1 mount.

#[test]
fn parameter_rules_of_one_policy() {
    let a = acl(&[r#"
        path "kv/allow" {
            capabilities = ["create", "update", "read"]
            allowed_parameters = { "a" = ["x*", "*y", "*mid*", "*"], "n" = [5], "b" = [true], "e" = [] }
        }
        path "kv/deny" {
            capabilities = ["create", "update", "read"]
            denied_parameters = { "a" = ["bad*"], "n" = [5] }
        }
        path "kv/denyall" {
            capabilities = ["create", "update"]
            denied_parameters = { "*" = [] }
        }
        path "kv/star" {
            capabilities = ["create", "update"]
            allowed_parameters = { "*" = [], "a" = ["ok"] }
        }
        path "kv/req" {
            capabilities = ["create", "update", "read"]
            required_parameters = ["Foo", "bar"]
        }
    "#]);
    let cases = [
        ("allow", json!({"a": "xa"}), true),
        ("allow", json!({"a": "ay"}), true),
        ("allow", json!({"a": "amidb"}), true),
        // A lone `*` value only matches itself.
        ("allow", json!({"a": "*"}), true),
        ("allow", json!({"a": "zz"}), false),
        // Numbers never match (Vault compares json.Number with Go ints).
        ("allow", json!({"n": 5}), false),
        ("allow", json!({"n": "5"}), false),
        ("allow", json!({"b": true}), true),
        ("allow", json!({"e": [1, 2]}), true),
        // Request names match case-insensitively.
        ("allow", json!({"A": "xa"}), true),
        ("allow", json!({"zzz": "1"}), false),
        ("allow", json!({}), true),
        ("deny", json!({"a": "badx"}), false),
        ("deny", json!({"a": "good"}), true),
        ("deny", json!({"n": 5}), true),
        ("deny", json!({"A": "badx"}), false),
        ("denyall", json!({"x": 1}), false),
        ("denyall", json!({}), true),
        ("star", json!({"a": "ok"}), true),
        ("star", json!({"a": "no"}), false),
        ("star", json!({"q": "no"}), true),
        // Required names are lowercased, request names are not.
        ("req", json!({"foo": 1, "bar": 1}), true),
        ("req", json!({"Foo": 1, "bar": 1}), false),
        ("req", json!({"foo": 1}), false),
    ];
    for (path, body, want) in cases {
        let d = data(body.clone());
        let path = format!("kv/{path}");
        assert_eq!(
            allowed(&a, Operation::Update, &path, &d),
            want,
            "{path} {body}"
        );
    }
    // Reads are checked too (their data is the query string), as in Vault.
    assert!(!allowed(&a, Operation::Read, "kv/req", &Map::new()));
    assert!(allowed(
        &a,
        Operation::Read,
        "kv/req",
        &data(json!({"foo": "1", "bar": "2"}))
    ));
    assert!(!allowed(
        &a,
        Operation::Read,
        "kv/allow",
        &data(json!({"zzz": "1"}))
    ));
    // Deletes and lists are not.
    let d = acl(&[r#"path "kv/req" {
        capabilities = ["delete"]
        required_parameters = ["foo"]
    }"#]);
    assert!(allowed(&d, Operation::Delete, "kv/req", &Map::new()));
}

#[test]
fn patch_is_checked_like_update() {
    let a = acl(&[r#"path "kv/p" {
        capabilities = ["patch"]
        denied_parameters = { "secret" = [] }
    }"#]);
    assert!(allowed(
        &a,
        Operation::Patch,
        "kv/p",
        &data(json!({"a": 1}))
    ));
    assert!(!allowed(
        &a,
        Operation::Patch,
        "kv/p",
        &data(json!({"secret": 1}))
    ));
}

#[test]
fn parameter_rules_merge_across_policies() {
    let m1 = r#"
        path "kv/m" {
            capabilities = ["create", "update"]
            allowed_parameters = { "a" = ["x"] }
        }
        path "kv/n" {
            capabilities = ["create", "update"]
            allowed_parameters = { "a" = ["x"] }
            denied_parameters = { "b" = ["no*"] }
            required_parameters = ["a"]
        }"#;
    let m2 = r#"
        path "kv/m" {
            capabilities = ["read"]
            allowed_parameters = { "a" = ["y"], "b" = [] }
        }
        path "kv/n" {
            capabilities = ["create"]
            allowed_parameters = { "*" = [] }
            required_parameters = ["c"]
        }"#;
    let m3 = r#"path "kv/m" { capabilities = ["update"] }"#;
    let m4 = r#"path "kv/m" {
        capabilities = ["update"]
        allowed_parameters = { "a" = [] }
    }"#;
    let m5 = r#"path "kv/n" { capabilities = ["deny"] }"#;
    let cases: &[(&[&str], &str, serde_json::Value, bool)] = &[
        (&[m1, m2], "kv/m", json!({"a": "x"}), true),
        (&[m1, m2], "kv/m", json!({"a": "y"}), true),
        (&[m1, m2], "kv/m", json!({"a": "z"}), false),
        (&[m1, m2], "kv/m", json!({"b": "q"}), true),
        // A policy without parameter rules does not lift another's.
        (&[m1, m3], "kv/m", json!({"a": "x"}), true),
        (&[m1, m3], "kv/m", json!({"a": "z"}), false),
        // An empty list ("any value") absorbs the other's list, in either order.
        (&[m1, m4], "kv/m", json!({"a": "z"}), true),
        (&[m4, m1], "kv/m", json!({"a": "z"}), true),
        (&[m1, m2], "kv/n", json!({"a": "x", "c": 1}), true),
        (&[m1, m2], "kv/n", json!({"a": "x"}), false),
        (&[m1, m2], "kv/n", json!({"a": "z", "c": 1}), false),
        (
            &[m1, m2],
            "kv/n",
            json!({"a": "x", "c": 1, "b": "nope"}),
            false,
        ),
        (
            &[m1, m2],
            "kv/n",
            json!({"a": "x", "c": 1, "b": "yes"}),
            true,
        ),
        (
            &[m1, m2],
            "kv/n",
            json!({"a": "x", "c": 1, "zz": "1"}),
            true,
        ),
        (&[m1, m2, m5], "kv/n", json!({"a": "x", "c": 1}), false),
        (&[m5, m1], "kv/n", json!({"a": "x", "c": 1}), false),
    ];
    for (texts, path, body, want) in cases {
        let a = acl(texts);
        assert_eq!(
            allowed(&a, Operation::Update, path, &data(body.clone())),
            *want,
            "{path} {body} with {} policies",
            texts.len()
        );
    }
}

#[test]
fn wrapping_ttl_bounds() {
    let m1 = r#"path "kv/w" {
        capabilities = ["read"]
        min_wrapping_ttl = "1m"
        max_wrapping_ttl = "1h"
    }"#;
    let m2 = r#"path "kv/w" {
        capabilities = ["read"]
        max_wrapping_ttl = "10m"
    }"#;
    let none = Map::new();
    let check = |a: &Acl, ttl: Option<u64>| {
        a.allow_request(&AccessRequest {
            operation: Operation::Read,
            path: "kv/w",
            data: &none,
            entry_exists: None,
            root_protected: false,
            wrap_ttl: ttl.map(Duration::from_secs),
        })
        .is_ok()
    };
    let one = acl(&[m1]);
    let both = acl(&[m1, m2]);
    // OpenBao: unwrapped 403; 30s 403; 5m 200; 30m 200 (403 with the merged 10m max); 2h 403.
    for (ttl, want_one, want_both) in [
        (None, false, false),
        (Some(30), false, false),
        (Some(300), true, true),
        (Some(1800), true, false),
        (Some(7200), false, false),
    ] {
        assert_eq!(check(&one, ttl), want_one, "{ttl:?}");
        assert_eq!(check(&both, ttl), want_both, "{ttl:?}");
    }
    // `allow` is an unwrapped request.
    assert!(one
        .allow(Operation::Read, "kv/w", &none, None, false)
        .is_err());
}

#[test]
fn expired_rules_are_left_out() {
    let p = policy(
        r#"path "a" {
             capabilities = ["read"]
             expiration = "2030-01-01T00:00:00Z"
           }
           path "b" {
             capabilities = ["read"]
             expiration = 1000
           }"#,
    );
    let before = SystemTime::UNIX_EPOCH + Duration::from_secs(999);
    let a = Acl::new_at(std::slice::from_ref(&p), None, before).unwrap();
    assert_eq!(caps(&a, "a"), "read");
    assert_eq!(caps(&a, "b"), "read");
    let after_b = SystemTime::UNIX_EPOCH + Duration::from_secs(1001);
    let a = Acl::new_at(std::slice::from_ref(&p), None, after_b).unwrap();
    assert_eq!(caps(&a, "a"), "read");
    assert_eq!(caps(&a, "b"), "deny");
}

// ---------------------------------------------------------------------------------------------
// Templating through the ACL: the seed-001 tenant model.

const TENANT_POLICY: &str = r#"
path "secret/data/tenant/{{identity.entity.metadata.tenant_id}}/*" {
    capabilities = ["create", "read", "update", "delete"]
}
path "secret/metadata/tenant/{{identity.entity.metadata.tenant_id}}/*" {
    capabilities = ["read", "list"]
}
path "secret/metadata/tenant/{{identity.entity.metadata.tenant_id}}" {
    capabilities = ["list"]
}
"#;

fn tenant(tenant_id: &str) -> TemplateContext {
    TemplateContext {
        entity_id: "e-1".into(),
        entity_name: "svc".into(),
        entity_metadata: [("tenant_id".to_string(), tenant_id.to_string())].into(),
        ..Default::default()
    }
}

#[test]
fn tenants_see_only_their_own_paths() {
    let p = policy(TENANT_POLICY);
    let a = Acl::new(std::slice::from_ref(&p), Some(&tenant("rut-76832940-3"))).unwrap();
    let none = Map::new();
    for name in ["nexa", "shopify", "supabase", "smtp"] {
        let own = format!("secret/data/tenant/rut-76832940-3/{name}");
        let other = format!("secret/data/tenant/rut-12345678-9/{name}");
        assert!(allowed(&a, Operation::Read, &own, &none));
        assert!(!allowed(&a, Operation::Read, &other, &none));
    }
    assert!(allowed(
        &a,
        Operation::List,
        "secret/metadata/tenant/rut-76832940-3/",
        &none
    ));
    assert!(!allowed(
        &a,
        Operation::List,
        "secret/metadata/tenant/rut-12345678-9/",
        &none
    ));
    assert!(!allowed(
        &a,
        Operation::List,
        "secret/metadata/tenant/",
        &none
    ));
    assert!(!allowed(
        &a,
        Operation::Read,
        "secret/metadata/tenant/rut-12345678-9/nexa",
        &none
    ));

    // The ACL is rebuilt per request: a changed tenant_id changes access at once.
    let a = Acl::new(std::slice::from_ref(&p), Some(&tenant("rut-12345678-9"))).unwrap();
    assert!(allowed(
        &a,
        Operation::Read,
        "secret/data/tenant/rut-12345678-9/nexa",
        &none
    ));
    assert!(!allowed(
        &a,
        Operation::Read,
        "secret/data/tenant/rut-76832940-3/nexa",
        &none
    ));
}

#[test]
fn hostile_template_values_give_access_to_nothing() {
    let p = policy(TENANT_POLICY);
    let probes = [
        "secret/data/tenant/x/nexa",
        "secret/data/tenant/*/nexa",
        "secret/data/tenant/+/nexa",
        "secret/data/tenant/a/b/nexa",
        "secret/data/tenant/../nexa",
        "secret/data/tenant//nexa",
        "secret/data/tenant/./nexa",
        "secret/data/tenant/rut-76832940-3/nexa",
        "secret/metadata/tenant/",
        "secret/metadata/tenant//",
        "secret/metadata/tenant/a/",
        "secret/metadata/tenant/*/",
    ];
    for value in ["*", "+", "a/b", "..", "", ".", "a/../b", "x\u{0}", "rut*"] {
        let a = Acl::new(std::slice::from_ref(&p), Some(&tenant(value))).unwrap();
        for path in probes {
            assert_eq!(caps(&a, path), "deny", "tenant_id {value:?}, {path}");
            for op in [Operation::Read, Operation::List, Operation::Update] {
                assert!(
                    !allowed(&a, op, path, &Map::new()),
                    "tenant_id {value:?}, {op:?} {path}"
                );
            }
        }
    }
    // A missing key or no identity at all: nothing either.
    let mut no_key = tenant("x");
    no_key.entity_metadata.clear();
    for ctx in [Some(&no_key), None] {
        let a = Acl::new(std::slice::from_ref(&p), ctx).unwrap();
        for path in probes {
            assert_eq!(caps(&a, path), "deny", "{path}");
        }
    }
}

#[test]
fn a_dropped_template_rule_leaves_the_others() {
    let p = policy(
        r#"path "t/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read"] }
           path "always" { capabilities = ["read"] }
           path "u/{{identity.entity.name}}" { capabilities = ["update"] }
           path "g/{{identity.groups.names.admins.id}}/*" { capabilities = ["list"] }
           path "al/{{identity.entity.aliases.auth_userpass_1.name}}" { capabilities = ["read"] }"#,
    );
    let mut ctx = tenant("*");
    ctx.aliases.push(TemplateAlias {
        mount_accessor: "auth_userpass_1".into(),
        id: "a-1".into(),
        name: "alice".into(),
        ..Default::default()
    });
    ctx.groups.push(TemplateGroup {
        id: "g-9".into(),
        name: "admins".into(),
        ..Default::default()
    });
    let a = Acl::new(std::slice::from_ref(&p), Some(&ctx)).unwrap();
    assert_eq!(caps(&a, "t/*/x"), "deny");
    assert_eq!(caps(&a, "always"), "read");
    assert_eq!(caps(&a, "u/svc"), "update");
    assert_eq!(caps(&a, "g/g-9/"), "list");
    assert_eq!(caps(&a, "al/alice"), "read");
}

// ---------------------------------------------------------------------------------------------
// No panics on hostile input

mod no_panic {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parsing_arbitrary_text_does_not_panic(text in "\\PC{0,200}") {
            let _ = parse_rules(&text);
            let _ = lint(&text);
        }

        #[test]
        fn parsing_policy_shaped_text_does_not_panic(
            path in "[a-z/+*{}.é]{0,20}",
            caps in proptest::collection::vec("[a-z]{0,8}", 0..4),
            tail in "[\\[\\]{}\"=a-z0-9 \n]{0,30}",
        ) {
            let list: Vec<String> = caps.iter().map(|c| format!("{c:?}")).collect();
            let text = format!(
                "path {path:?} {{\n capabilities = [{}]\n{tail}\n}}",
                list.join(", ")
            );
            let _ = parse_rules(&text);
        }

        #[test]
        fn matching_arbitrary_paths_does_not_panic(path in "[a-zé/+*.]{0,24}") {
            let a = acl(&[r#"
                path "é*" { capabilities = ["read"] }
                path "a/é+/*" { capabilities = ["list"] }
                path "+/+" { capabilities = ["update"] }
                path "a/+/b*" { capabilities = ["create"] }
                path "*" { capabilities = ["deny"] }
            "#]);
            let _ = a.capabilities(&path);
            for op in [Operation::Read, Operation::List, Operation::Update] {
                let _ = a.allow(op, &path, &Map::new(), None, false);
            }
        }
    }
}
