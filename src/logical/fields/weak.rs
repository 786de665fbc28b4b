//! Request fields decoded the way Vault's framework decodes them.
//!
//! Vault decodes JSON bodies and query strings with "weak" typing: `"5"` is an int, `true` is
//! 1, `""` is 0, a list of objects is merged into one object. Clients rely on some of this
//! (query parameters always arrive as strings), so the KV engines accept the same inputs and
//! reject the rest with Vault's wording.

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error as ThisError;

use crate::logical::Map;

/// A field that could not be converted to the type its endpoint declares. The text is
/// Vault's; callers wrap it in the endpoint's prefix.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[error("error converting input for field \"{field}\": {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        FieldError {
            field,
            reason: reason.into(),
        }
    }
}

/// Go's name for the dynamic type of a decoded JSON value, as mapstructure prints it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "json.Number",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

const PARSE_INT: &str = "'' cannot parse value as 'int': strconv.ParseInt: invalid syntax";

/// A non-null value as an int: numbers without a fraction, decimal strings (`""` is 0) and
/// booleans.
pub fn weak_int(field: &'static str, v: &Value) -> Result<i64, FieldError> {
    match v {
        Value::Null => Ok(0),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Number(n) => n.as_i64().ok_or_else(|| FieldError::new(field, PARSE_INT)),
        Value::String(s) if s.is_empty() => Ok(0),
        Value::String(s) => s.parse().map_err(|_| FieldError::new(field, PARSE_INT)),
        Value::Array(_) | Value::Object(_) => Err(FieldError::new(
            field,
            format!(
                "'' expected type 'int', got unconvertible type '{}'",
                go_type(v)
            ),
        )),
    }
}

/// Go's `strconv.ParseBool` spellings, which Vault uses for every boolean it parses from text
/// (query parameters, quoted config values, `VAULT_SKIP_VERIFY`).
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A value as a bool: booleans, numbers (non-zero is true) and Go's `ParseBool` strings.
pub fn weak_bool(field: &'static str, v: &Value) -> Result<bool, FieldError> {
    let invalid = || {
        FieldError::new(
            field,
            "'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax",
        )
    };
    match v {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) if s.is_empty() => Ok(false),
        Value::String(s) => parse_go_bool(s).ok_or_else(invalid),
        Value::Array(_) | Value::Object(_) => Err(FieldError::new(
            field,
            format!(
                "'' expected type 'bool', got unconvertible type '{}'",
                go_type(v)
            ),
        )),
    }
}

/// A value as an object. `null` stays `None`; a list of objects is merged left to right, as
/// mapstructure does (`[]` is an empty object, `[null]` is `None`).
pub fn weak_map(field: &'static str, v: &Value) -> Result<Option<Map>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m.clone())),
        Value::Array(items) if items.is_empty() => Ok(Some(Map::new())),
        Value::Array(items) => {
            let mut acc: Option<Map> = None;
            merge_list(field, items, "", &mut acc)?;
            Ok(acc)
        }
        _ => Err(FieldError::new(
            field,
            format!(
                "'' expected type 'map[string]interface {{}}', got unconvertible type '{}'",
                go_type(v)
            ),
        )),
    }
}

fn merge_list(
    field: &'static str,
    items: &[Value],
    path: &str,
    acc: &mut Option<Map>,
) -> Result<(), FieldError> {
    for (i, item) in items.iter().enumerate() {
        let here = format!("{path}[{i}]");
        match item {
            Value::Null => {}
            Value::Object(m) => {
                let target = acc.get_or_insert_with(Map::new);
                for (k, v) in m {
                    target.insert(k.clone(), v.clone());
                }
            }
            Value::Array(inner) => merge_list(field, inner, &here, acc)?,
            _ => {
                return Err(FieldError::new(
                    field,
                    format!(
                        "'{here}' expected type 'map[string]interface {{}}', got unconvertible type '{}'",
                        go_type(item)
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// A list of ints: a list of weak ints, one int, or a comma-separated string (`"1,2"`), as
/// Vault's comma-int-slice fields. `null` is empty.
pub fn weak_int_list(field: &'static str, v: &Value) -> Result<Vec<i64>, FieldError> {
    let decoding = |reason: String| {
        FieldError::new(
            field,
            format!("decoding failed due to the following error(s):\n\n{reason}"),
        )
    };
    let element = |i: usize, item: &Value| -> Result<i64, FieldError> {
        weak_int(field, item).map_err(|e| decoding(e.reason.replacen("''", &format!("'[{i}]'"), 1)))
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| element(i, x))
            .collect(),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => s
            .split(',')
            .enumerate()
            .map(|(i, part)| element(i, &Value::String(part.trim().to_string())))
            .collect(),
        other => Ok(vec![element(0, other)?]),
    }
}

/// A custom_metadata value as a string, as Vault's weak decode into `map[string]string`.
pub fn weak_string(v: &Value) -> Result<String, String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(_) | Value::Object(_) => Err(format!(
            "'' expected type 'string', got unconvertible type '{}'",
            go_type(v)
        )),
    }
}

/// Go's `strconv.Quote`, used where Vault formats a user string with `%q`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`: no control characters, and no spacing other
/// than the ASCII space.
pub fn is_printable(c: char) -> bool {
    !c.is_control() && (c == ' ' || !c.is_whitespace())
}

/// Go's `multierror` rendering, which Vault uses for validation failures.
pub fn multierror(errors: &[String]) -> String {
    let head = if errors.len() == 1 {
        "1 error occurred:".to_string()
    } else {
        format!("{} errors occurred:", errors.len())
    };
    let mut out = head;
    out.push('\n');
    for e in errors {
        out.push_str("\t* ");
        out.push_str(e);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// Vault's warning for request fields that an endpoint does not declare. It is only attached
/// to responses that carry data, as Vault's framework does. `list` is the gateway's LIST
/// marker, never a field.
pub fn unknown_fields_warning(data: &Map, known: &[&str]) -> Option<String> {
    let mut unknown: Vec<&str> = data
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "list" && !known.contains(k))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    unknown.sort_unstable();
    Some(format!(
        "Endpoint ignored these unrecognized parameters: [{}]",
        unknown.join(" ")
    ))
}

/// Rebuilds every object in `v` with its keys sorted, so responses list keys in the order Go
/// prints maps.
pub fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let tree: BTreeMap<String, Value> =
                m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(tree.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ints_decode_weakly() {
        assert_eq!(weak_int("f", &json!("5")), Ok(5));
        assert_eq!(weak_int("f", &json!("")), Ok(0));
        assert_eq!(weak_int("f", &json!("-0")), Ok(0));
        assert_eq!(weak_int("f", &json!(true)), Ok(1));
        assert_eq!(weak_int("f", &json!(-3)), Ok(-3));
        let e = weak_int("version", &json!("abc")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "error converting input for field \"version\": '' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
        );
        assert!(weak_int("f", &json!(1.5)).is_err());
        assert!(weak_int("f", &json!(2.0)).is_err());
        assert!(weak_int("f", &json!(1e20)).is_err());
        assert!(weak_int("f", &json!(u64::MAX)).is_err());
        assert!(weak_int("f", &json!([1])).is_err());
    }

    #[test]
    fn bools_decode_weakly() {
        assert_eq!(weak_bool("f", &json!("true")), Ok(true));
        assert_eq!(weak_bool("f", &json!(1)), Ok(true));
        assert_eq!(weak_bool("f", &json!(0)), Ok(false));
        assert_eq!(weak_bool("f", &json!("F")), Ok(false));
        assert!(weak_bool("f", &json!("yes")).is_err());
    }

    #[test]
    fn maps_merge_lists_of_objects() {
        assert_eq!(
            weak_map("data", &json!([{"a": "1"}, {"b": 2}])),
            Ok(Some(
                json!({"a": "1", "b": 2})
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
            ))
        );
        assert_eq!(weak_map("data", &json!([])), Ok(Some(Map::new())));
        assert_eq!(weak_map("data", &json!([null])), Ok(None));
        assert_eq!(weak_map("data", &json!(null)), Ok(None));
        assert_eq!(
            weak_map("data", &json!("str")).unwrap_err().to_string(),
            "error converting input for field \"data\": '' expected type 'map[string]interface {}', got unconvertible type 'string'"
        );
        assert_eq!(
            weak_map("data", &json!([[1]])).unwrap_err().reason,
            "'[0][0]' expected type 'map[string]interface {}', got unconvertible type 'json.Number'"
        );
    }

    #[test]
    fn int_lists_accept_vault_forms() {
        assert_eq!(
            weak_int_list("versions", &json!([1, "2", true])),
            Ok(vec![1, 2, 1])
        );
        assert_eq!(weak_int_list("versions", &json!("1,2")), Ok(vec![1, 2]));
        assert_eq!(weak_int_list("versions", &json!(3)), Ok(vec![3]));
        assert_eq!(weak_int_list("versions", &json!(null)), Ok(vec![]));
        assert_eq!(
            weak_int_list("versions", &json!(["x"])).unwrap_err().reason,
            "decoding failed due to the following error(s):\n\n'[0]' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
        );
        assert_eq!(
            weak_int_list("versions", &json!({"a": 1})).unwrap_err().reason,
            "decoding failed due to the following error(s):\n\n'[0]' expected type 'int', got unconvertible type 'map[string]interface {}'"
        );
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\u{1}"), "\"a\\x01\"");
        assert_eq!(go_quote("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(go_quote("é\n"), "\"é\\n\"");
        assert_eq!(go_quote("\u{85}"), "\"\\u0085\"");
    }

    #[test]
    fn multierror_matches_go() {
        assert_eq!(multierror(&["x".into()]), "1 error occurred:\n\t* x\n\n");
        assert_eq!(
            multierror(&["x".into(), "y".into()]),
            "2 errors occurred:\n\t* x\n\t* y\n\n"
        );
    }

    #[test]
    fn unknown_fields_are_sorted_and_list_is_ignored() {
        let data = json!({"zz": 1, "extra": 1, "data": {}, "list": "true"});
        let data = crate::logical::fields::into_map(data);
        assert_eq!(
            unknown_fields_warning(&data, &["data"]).as_deref(),
            Some("Endpoint ignored these unrecognized parameters: [extra zz]")
        );
        assert_eq!(
            unknown_fields_warning(&data, &["data", "zz", "extra"]),
            None
        );
    }
}
