//! Request fields decoded as Vault's framework decodes the auth methods' fields.
//!
//! Unlike `logical::fields`, a key that is present with `null` counts as present (Vault's
//! `GetOk` is true for it), and a negative duration is refused with Vault's wording.

use serde_json::Value;

use crate::logical::duration::parse_duration_secs;
pub use crate::logical::fields::warn_unknown;
use crate::logical::fields::{weak_bool, weak_int, weak_string, FieldError};
use crate::logical::{Error, Map};

fn bad(field: &'static str, reason: impl Into<String>) -> Error {
    Error::bad_request(
        FieldError {
            field,
            reason: reason.into(),
        }
        .to_string(),
    )
}

/// Whether the request names `key` at all.
pub fn has(data: &Map, key: &str) -> bool {
    data.contains_key(key)
}

/// A string field (`null` is "").
pub fn string(data: &Map, key: &'static str) -> Result<Option<String>, Error> {
    data.get(key)
        .map(|v| weak_string(v).map_err(|reason| bad(key, reason)))
        .transpose()
}

/// A string field that must be given and non-empty; else a 400 `missing <key>`.
pub fn required_string(data: &Map, key: &'static str) -> Result<String, Error> {
    match string(data, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::bad_request(format!("missing {key}"))),
    }
}

pub fn boolean(data: &Map, key: &'static str) -> Result<Option<bool>, Error> {
    data.get(key)
        .map(|v| weak_bool(key, v).map_err(|e| Error::bad_request(e.to_string())))
        .transpose()
}

/// A signed int field; callers word their own "cannot be negative".
pub fn int(data: &Map, key: &'static str) -> Result<Option<i64>, Error> {
    data.get(key)
        .map(|v| weak_int(key, v).map_err(|e| Error::bad_request(e.to_string())))
        .transpose()
}

/// A duration in whole seconds (`TypeDurationSecond`), refusing negative values.
pub fn duration(data: &Map, key: &'static str) -> Result<Option<u64>, Error> {
    let Some(v) = data.get(key) else {
        return Ok(None);
    };
    let secs = parse_duration_secs(v).map_err(|reason| bad(key, reason))?;
    u64::try_from(secs)
        .map(Some)
        .map_err(|_| bad(key, format!("cannot provide negative value '{secs}'")))
}

/// Vault's `TypeCommaStringSlice`: a comma-separated string or a list, each element trimmed.
/// Empty elements between commas are kept, as Vault keeps them; `null` and `""` are empty.
pub fn comma_strings(data: &Map, key: &'static str) -> Result<Option<Vec<String>>, Error> {
    let Some(v) = data.get(key) else {
        return Ok(None);
    };
    let items = match v {
        Value::Null => Vec::new(),
        Value::String(s) if s.trim().is_empty() => Vec::new(),
        Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                weak_string(item)
                    .map(|s| s.trim().to_string())
                    .map_err(|reason| bad(key, reason))
            })
            .collect::<Result<_, _>>()?,
        other => vec![weak_string(other).map_err(|reason| bad(key, reason))?],
    };
    Ok(Some(items))
}

/// A LIST of the keys under `prefix`, with Vault's warning for parameters a LIST ignores.
pub async fn list_keys(
    req: &crate::logical::Request,
    storage: &dyn crate::logical::Storage,
    prefix: &str,
) -> Result<crate::logical::Response, crate::logical::Error> {
    let mut resp = crate::logical::Response::list(storage.list(prefix).await?)?;
    warn_unknown(&mut resp, &req.data, &[]);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::fields::into_map;
    use serde_json::json;

    #[test]
    fn comma_slices_split_trim_and_keep_inner_empties() {
        let d = into_map(json!({
            "s": "Zed, B,a,b, ,default", "l": ["Zed", " B", 5], "n": null, "e": "", "o": {"a": 1}
        }));
        assert_eq!(
            comma_strings(&d, "s").unwrap().unwrap(),
            vec!["Zed", "B", "a", "b", "", "default"]
        );
        assert_eq!(
            comma_strings(&d, "l").unwrap().unwrap(),
            vec!["Zed", "B", "5"]
        );
        assert_eq!(comma_strings(&d, "n").unwrap(), Some(vec![]));
        assert_eq!(comma_strings(&d, "e").unwrap(), Some(vec![]));
        assert_eq!(comma_strings(&d, "missing").unwrap(), None);
        assert!(comma_strings(&d, "o").is_err());
    }

    #[test]
    fn durations_refuse_negatives_with_vaults_words() {
        let d = into_map(json!({"a": "-1s", "b": "1h", "c": "abc", "d": null}));
        assert_eq!(
            duration(&d, "a").unwrap_err().to_string(),
            "error converting input for field \"a\": cannot provide negative value '-1'"
        );
        assert_eq!(duration(&d, "b").unwrap(), Some(3600));
        assert_eq!(
            duration(&d, "c").unwrap_err().to_string(),
            "error converting input for field \"c\": time: invalid duration \"abc\""
        );
        assert_eq!(duration(&d, "d").unwrap(), Some(0));
    }
}
