//! Reading typed fields out of a request's JSON data, with Vault's leniency: numbers and
//! booleans may arrive as strings (query parameters always do), and durations take Go's forms.

use serde_json::Value;

use super::{Error, Map};

/// A string field; numbers and booleans are rendered as strings.
pub fn string(data: &Map, key: &str) -> Result<Option<String>, Error> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(type_error(key, "string")),
    }
}

/// A boolean field: `true`, `false`, or the strings Go's `strconv.ParseBool` takes.
pub fn boolean(data: &Map, key: &str) -> Result<Option<bool>, Error> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Some(true)),
            "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Ok(Some(false)),
            _ => Err(type_error(key, "bool")),
        },
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(type_error(key, "bool")),
        },
        Some(_) => Err(type_error(key, "bool")),
    }
}

/// A non-negative integer field, from a number or a numeric string.
pub fn unsigned(data: &Map, key: &str) -> Result<Option<u64>, Error> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| type_error(key, "int")),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| type_error(key, "int")),
        Some(_) => Err(type_error(key, "int")),
    }
}

/// A duration field in seconds: an integer number of seconds, or a Go duration string such as
/// `768h`, `1h30m`, `90s`.
pub fn duration_secs(data: &Map, key: &str) -> Result<Option<u64>, Error> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| type_error(key, "duration")),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => parse_duration(s)
            .map(|d| Some(d.as_secs()))
            .ok_or_else(|| type_error(key, "duration")),
        Some(_) => Err(type_error(key, "duration")),
    }
}

/// A JSON object field.
pub fn object<'a>(data: &'a Map, key: &str) -> Result<Option<&'a Map>, Error> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(type_error(key, "map")),
    }
}

fn type_error(key: &str, want: &str) -> Error {
    Error::bad_request(format!(
        "error converting input for field \"{key}\": expected {want}"
    ))
}

/// Parses Go's duration syntax (`1h30m`, `90s`, `1.5h`, `300ms`) or a plain number of seconds.
/// Negative durations are refused: no Vault field takes one.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    if !total.is_finite() || total < 0.0 || total > u64::MAX as f64 {
        return None;
    }
    Some(std::time::Duration::from_secs_f64(total))
}

/// Formats seconds as Go's `time.Duration.String()` does: `0s`, `90s` -> `1m30s`, `1h0m0s`.
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn durations_take_go_forms() {
        assert_eq!(
            parse_duration("768h").map(|d| d.as_secs()),
            Some(768 * 3600)
        );
        assert_eq!(parse_duration("1h30m").map(|d| d.as_secs()), Some(5400));
        assert_eq!(parse_duration("90").map(|d| d.as_secs()), Some(90));
        assert_eq!(parse_duration("1.5h").map(|d| d.as_secs()), Some(5400));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration("10x"), None);
    }

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(3600), "1h0m0s");
        assert_eq!(format_duration(90), "1m30s");
        assert_eq!(format_duration(5), "5s");
    }

    #[test]
    fn fields_accept_strings() {
        let d = map(json!({"b": "true", "n": "12", "t": "1h", "x": [1]}));
        assert_eq!(boolean(&d, "b").unwrap(), Some(true));
        assert_eq!(unsigned(&d, "n").unwrap(), Some(12));
        assert_eq!(duration_secs(&d, "t").unwrap(), Some(3600));
        assert!(string(&d, "x").is_err());
        assert_eq!(string(&d, "missing").unwrap(), None);
    }
}
