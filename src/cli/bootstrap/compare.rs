//! Is what the server has already what the file asks for? The server answers in its own
//! normal form (durations in seconds, policy lists lower-cased and in its order, `kv` with
//! `options.version`), and the file may say the same thing in another form (`"1h"`,
//! `"a,b"`, `kv-v2`). These comparisons see through that, so a second run writes nothing.

use serde_json::{Map, Value as Json};

use crate::logical::duration::parse_duration_secs;
use crate::logical::fields::{parse_go_bool, weak_string};

/// A secrets engine as the server keeps it: its type and, for KV, its version. `kv-v2` and
/// `kv` with `options.version = "2"` are the same engine; `kv` and `generic` without a
/// version are KV v1.
pub fn engine(kind: &str, options: &Map<String, Json>) -> (String, Option<String>) {
    let version = options.get("version").and_then(|v| weak_string(v).ok());
    match kind {
        "kv-v1" => ("kv".into(), Some("1".into())),
        "kv-v2" => ("kv".into(), Some("2".into())),
        "kv" | "generic" => (
            "kv".into(),
            Some(
                version
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "1".into()),
            ),
        ),
        other => (other.to_string(), None),
    }
}

/// The declared fields of `wanted` whose value on the server (`current`) is not the same.
pub fn differing_fields(wanted: &Map<String, Json>, current: &Map<String, Json>) -> Vec<String> {
    wanted
        .iter()
        .filter(|(field, value)| !same_field(field, value, current.get(*field)))
        .map(|(field, _)| field.clone())
        .collect()
}

/// Whether the server's `current` value of `field` is the `wanted` one.
pub fn same_field(field: &str, wanted: &Json, current: Option<&Json>) -> bool {
    let current = match current {
        None | Some(Json::Null) => {
            return is_empty(wanted)
                || (is_duration_field(field) && parse_duration_secs(wanted) == Ok(0))
        }
        Some(current) => current,
    };
    match (wanted, current) {
        (Json::Array(_), _) | (_, Json::Array(_)) => {
            let fold = field.ends_with("policies");
            match (string_set(wanted, fold), string_set(current, fold)) {
                (Some(a), Some(b)) => a == b,
                _ => wanted == current,
            }
        }
        (Json::Object(w), Json::Object(c)) => {
            w.len() == c.len() && w.iter().all(|(k, v)| same_field(k, v, c.get(k)))
        }
        (Json::Object(_), _) | (_, Json::Object(_)) => false,
        _ => same_scalar(field, wanted, current),
    }
}

/// Two scalars: the same text (`5` and `"5"`), the same duration for a TTL or period field
/// (`"1h"` and `3600`), or the same boolean (`"true"` and `true`).
fn same_scalar(field: &str, wanted: &Json, current: &Json) -> bool {
    if let (Ok(a), Ok(b)) = (weak_string(wanted), weak_string(current)) {
        if a == b {
            return true;
        }
    }
    if is_duration_field(field) {
        if let (Ok(a), Ok(b)) = (parse_duration_secs(wanted), parse_duration_secs(current)) {
            return a == b;
        }
    }
    match (as_bool(wanted), as_bool(current)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Vault's TTL and period fields: `token_ttl`, `secret_id_ttl`, `default_lease_ttl`,
/// `token_period`, `period`, `lockout_duration`...
fn is_duration_field(field: &str) -> bool {
    field.ends_with("ttl") || field.ends_with("period") || field.ends_with("duration")
}

/// The duration a file gives (`"1h"`, `3600`, `"3600"`), in seconds.
pub fn duration_secs(value: &Json) -> Option<i64> {
    parse_duration_secs(value).ok()
}

fn as_bool(value: &Json) -> Option<bool> {
    match value {
        Json::Bool(b) => Some(*b),
        Json::String(s) => parse_go_bool(s),
        _ => None,
    }
}

/// A list as a sorted set of strings; a string is Vault's comma-separated list (`"a, b"`).
/// `fold` lower-cases, as the server does with policy names.
fn string_set(value: &Json, fold: bool) -> Option<Vec<String>> {
    let mut items: Vec<String> = match value {
        Json::Array(items) => items
            .iter()
            .map(weak_string)
            .collect::<Result<_, _>>()
            .ok()?,
        Json::String(s) => s.split(',').map(str::to_string).collect(),
        _ => return None,
    };
    for item in &mut items {
        *item = item.trim().to_string();
        if fold {
            *item = item.to_lowercase();
        }
    }
    items.retain(|item| !item.is_empty());
    items.sort();
    items.dedup();
    Some(items)
}

/// What a server shows for a field that was never set.
fn is_empty(value: &Json) -> bool {
    match value {
        Json::Null => true,
        Json::Bool(b) => !b,
        Json::Number(n) => n.as_f64() == Some(0.0),
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
    }
}

/// Policy texts: the same but for trailing whitespace and line endings, which the HCL
/// heredoc and a file's last newline vary.
pub fn same_rules(wanted: &str, current: &str) -> bool {
    let normal = |s: &str| s.replace("\r\n", "\n").trim_end().to_string();
    normal(wanted) == normal(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Json) -> Map<String, Json> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn kv_types_are_compared_by_version() {
        let none = Map::new();
        let v2 = map(json!({"version": "2"}));
        let v1 = map(json!({"version": "1"}));
        assert_eq!(engine("kv-v2", &none), engine("kv", &v2));
        assert_eq!(
            engine("kv-v2", &v1),
            engine("kv", &v2),
            "the type wins, as on the server"
        );
        assert_eq!(engine("kv", &none), engine("kv", &v1));
        assert_eq!(engine("generic", &none), engine("kv-v1", &none));
        assert_eq!(
            engine("kv", &map(json!({"version": 2}))),
            engine("kv-v2", &none)
        );
        assert_ne!(engine("kv", &none), engine("kv", &v2));
        assert_ne!(engine("kv-v2", &none), engine("transit", &none));
        assert_eq!(engine("transit", &v2), ("transit".to_string(), None));
    }

    #[test]
    fn durations_are_compared_in_seconds() {
        assert!(same_field("token_ttl", &json!("1h"), Some(&json!(3600))));
        assert!(same_field("token_ttl", &json!("60m"), Some(&json!(3600))));
        assert!(same_field(
            "token_max_ttl",
            &json!(3600),
            Some(&json!(3600))
        ));
        assert!(same_field(
            "secret_id_ttl",
            &json!("3600"),
            Some(&json!(3600))
        ));
        assert!(same_field(
            "token_period",
            &json!("1d"),
            Some(&json!(86400))
        ));
        assert!(same_field("token_ttl", &json!("0s"), None));
        assert!(!same_field("token_ttl", &json!("2h"), Some(&json!(3600))));
        assert!(!same_field("token_ttl", &json!("1h"), None));
        // Only TTL-like fields are durations: a name is not "1h" seconds.
        assert!(!same_field(
            "display_name",
            &json!("1h"),
            Some(&json!(3600))
        ));
    }

    #[test]
    fn lists_are_sets_and_policy_names_fold_case() {
        assert!(same_field(
            "token_policies",
            &json!(["b", "a"]),
            Some(&json!(["a", "b"]))
        ));
        assert!(same_field(
            "token_policies",
            &json!("b, a"),
            Some(&json!(["a", "b"]))
        ));
        assert!(same_field(
            "policies",
            &json!(["Admin"]),
            Some(&json!(["admin"]))
        ));
        assert!(same_field("policies", &json!([]), None));
        assert!(!same_field(
            "policies",
            &json!(["a"]),
            Some(&json!(["a", "b"]))
        ));
        assert!(!same_field("policies", &json!(["a"]), None));
        // Other lists keep their case.
        assert!(!same_field(
            "bound_claims",
            &json!(["A"]),
            Some(&json!(["a"]))
        ));
        assert!(same_field(
            "token_bound_cidrs",
            &json!(["10.0.0.0/8", "127.0.0.1/32"]),
            Some(&json!(["127.0.0.1/32", "10.0.0.0/8"]))
        ));
    }

    #[test]
    fn scalars_are_compared_as_the_server_reads_them() {
        assert!(same_field("token_num_uses", &json!("5"), Some(&json!(5))));
        assert!(same_field(
            "bind_secret_id",
            &json!("true"),
            Some(&json!(true))
        ));
        assert!(same_field("bind_secret_id", &json!(false), None));
        assert!(!same_field(
            "bind_secret_id",
            &json!(false),
            Some(&json!(true))
        ));
        assert!(same_field(
            "token_type",
            &json!("default"),
            Some(&json!("default"))
        ));
        assert!(!same_field(
            "token_type",
            &json!("batch"),
            Some(&json!("default"))
        ));
    }

    #[test]
    fn maps_must_hold_exactly_the_declared_keys() {
        let wanted = json!({"tenant_id": "acme"});
        assert!(same_field(
            "metadata",
            &wanted,
            Some(&json!({"tenant_id": "acme"}))
        ));
        assert!(!same_field(
            "metadata",
            &wanted,
            Some(&json!({"tenant_id": "other"}))
        ));
        assert!(!same_field(
            "metadata",
            &wanted,
            Some(&json!({"tenant_id": "acme", "extra": "x"}))
        ));
        assert!(same_field(
            "metadata",
            &json!({"n": 1}),
            Some(&json!({"n": "1"}))
        ));
        assert!(!same_field("metadata", &wanted, Some(&json!("acme"))));
    }

    #[test]
    fn differing_fields_lists_only_the_declared_fields_that_differ() {
        let wanted = map(json!({"token_ttl": "1h", "token_policies": ["a"], "token_num_uses": 0}));
        let current = map(json!({
            "token_ttl": 7200, "token_policies": ["a"], "token_num_uses": 0, "period": 5
        }));
        assert_eq!(
            differing_fields(&wanted, &current),
            vec!["token_ttl".to_string()]
        );
        let current = map(json!({"token_ttl": 3600, "token_policies": ["A"]}));
        assert!(differing_fields(&wanted, &current).is_empty());
    }

    #[test]
    fn policy_texts_ignore_trailing_whitespace_only() {
        assert!(same_rules("path \"a\" {}\n", "path \"a\" {}"));
        assert!(same_rules("path \"a\" {}\r\n", "path \"a\" {}\n"));
        assert!(!same_rules("path \"a\" {}", "path \"b\" {}"));
        assert!(!same_rules("  path \"a\" {}", "path \"a\" {}"));
    }

    #[test]
    fn durations_of_the_file_are_read_like_the_server_reads_them() {
        assert_eq!(duration_secs(&json!("1h")), Some(3600));
        assert_eq!(duration_secs(&json!(90)), Some(90));
        assert_eq!(duration_secs(&json!("soon")), None);
    }
}
