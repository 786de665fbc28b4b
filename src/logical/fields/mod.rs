//! Reading typed fields out of a request's JSON data with Vault's weak typing: numbers and
//! booleans may arrive as strings (query parameters always do), and durations take Go's forms.
//! The decoders themselves live in `weak`; these wrappers look a key up and turn a decoding
//! failure into a 400.

mod weak;

pub use weak::*;

use super::{duration, Error, Map, Response};

fn lookup<'a>(data: &'a Map, key: &str) -> Option<&'a serde_json::Value> {
    data.get(key).filter(|v| !v.is_null())
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::bad_request(e.to_string())
}

/// A string field; numbers and booleans are rendered as Vault renders them.
pub fn string(data: &Map, key: &'static str) -> Result<Option<String>, Error> {
    lookup(data, key)
        .map(|v| weak_string(v).map_err(|reason| bad(FieldError { field: key, reason })))
        .transpose()
}

/// A boolean field.
pub fn boolean(data: &Map, key: &'static str) -> Result<Option<bool>, Error> {
    lookup(data, key)
        .map(|v| weak_bool(key, v).map_err(bad))
        .transpose()
}

/// A non-negative integer field.
pub fn unsigned(data: &Map, key: &'static str) -> Result<Option<u64>, Error> {
    let Some(v) = lookup(data, key) else {
        return Ok(None);
    };
    let n = weak_int(key, v).map_err(bad)?;
    u64::try_from(n).map(Some).map_err(|_| {
        bad(FieldError {
            field: key,
            reason: format!("must not be negative, got {n}"),
        })
    })
}

/// A non-negative duration field in whole seconds: integer seconds or a Go duration string.
pub fn duration_secs(data: &Map, key: &'static str) -> Result<Option<u64>, Error> {
    let Some(v) = lookup(data, key) else {
        return Ok(None);
    };
    let secs = duration::parse_duration_secs(v)
        .map_err(|reason| bad(FieldError { field: key, reason }))?;
    u64::try_from(secs).map(Some).map_err(|_| {
        bad(FieldError {
            field: key,
            reason: format!("must not be negative, got {secs}"),
        })
    })
}

/// A list of strings: a JSON list (items weakly typed) or a comma-separated string, as
/// Vault's comma-string-slice fields (`policies`, `token_bound_cidrs`, ...).
pub fn string_list(data: &Map, key: &'static str) -> Result<Option<Vec<String>>, Error> {
    match lookup(data, key) {
        None => Ok(None),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| weak_string(v).map_err(|reason| bad(FieldError { field: key, reason })))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(serde_json::Value::String(s)) => Ok(Some(
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        )),
        Some(_) => Err(bad(FieldError {
            field: key,
            reason: "expected a list of strings".into(),
        })),
    }
}

/// A map of strings (`metadata`, `options`): a JSON object whose values are weakly typed.
pub fn string_map(
    data: &Map,
    key: &'static str,
) -> Result<Option<std::collections::BTreeMap<String, String>>, Error> {
    let Some(obj) = object(data, key)? else {
        return Ok(None);
    };
    obj.iter()
        .map(|(k, v)| {
            weak_string(v)
                .map(|s| (k.clone(), s))
                .map_err(|reason| bad(FieldError { field: key, reason }))
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Adds Vault's warning for the fields of `data` that an endpoint does not declare (see
/// [`unknown_fields_warning`]) to `resp`; only call it for a response that has a body (data
/// or a login), never for a 204.
pub fn warn_unknown(resp: &mut Response, data: &Map, known: &[&str]) {
    if let Some(w) = unknown_fields_warning(data, known) {
        resp.warnings.push(w);
    }
}

/// A JSON value as a data map: the object itself, or an empty map for anything else. For the
/// `json!({..})` objects that handlers build as response data, and for test request bodies.
pub fn into_map(v: serde_json::Value) -> Map {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `v`'s keys sorted at every level (see [`sorted`]), as a data map: Vault renders read
/// responses from Go maps, whose JSON encoding sorts the keys.
pub fn sorted_data(v: serde_json::Value) -> Map {
    into_map(sorted(v))
}

/// A JSON object field.
pub fn object(data: &Map, key: &'static str) -> Result<Option<Map>, Error> {
    match lookup(data, key) {
        None => Ok(None),
        Some(v) => weak_map(key, v).map_err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keyed_fields_accept_strings_and_refuse_wrong_types() {
        let d = into_map(
            json!({"b": "true", "n": "12", "t": "1h", "x": [1], "neg": -1, "o": {"a": 1}}),
        );
        assert_eq!(boolean(&d, "b").unwrap(), Some(true));
        assert_eq!(unsigned(&d, "n").unwrap(), Some(12));
        assert_eq!(duration_secs(&d, "t").unwrap(), Some(3600));
        assert!(string(&d, "x").is_err());
        assert!(unsigned(&d, "neg").is_err());
        assert!(duration_secs(&d, "neg").is_err());
        assert_eq!(string(&d, "missing").unwrap(), None);
        assert_eq!(object(&d, "o").unwrap().unwrap()["a"], 1);
        assert!(object(&d, "b").is_err());
    }
}
