//! Durations as Vault reads and prints them.
//!
//! Vault accepts a duration as integer seconds (`90`, `"90"`), a day count (`"1d"`) or a Go
//! duration string (`"1h30m"`, `"1.5h"`, `"100ms"`), and truncates it to whole seconds. It
//! prints durations with Go's `time.Duration.String` (`"0s"`, `"1m30s"`, `"1h0m0s"`). Clients
//! and the `bao` CLI compare these strings, so both directions follow Go exactly.

use serde_json::Value;

use super::fields::go_quote;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Parses a duration field the way Vault's `ParseDurationSecond` does and returns whole
/// seconds (truncated towards zero). `null` and `""` are zero. The error text is Go's, because
/// Vault puts it verbatim into the 400 message.
pub fn parse_duration_secs(value: &Value) -> Result<i64, String> {
    match value {
        Value::Null => Ok(0),
        // Go decodes JSON numbers as `json.Number` and parses their text like a string, so
        // `1.5` is "missing unit" rather than 1.5 seconds.
        Value::Number(n) => parse_duration_str(&n.to_string()),
        Value::String(s) => parse_duration_str(s),
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            Err("could not parse duration from input".to_string())
        }
    }
}

fn parse_duration_str(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(secs) = s.parse::<i64>() {
        return within_go_duration(secs);
    }
    if let Some(days) = s.strip_suffix('d') {
        return days
            .parse::<i64>()
            .ok()
            .and_then(|d| d.checked_mul(86_400))
            .ok_or_else(|| {
                format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    go_quote(days)
                )
            })
            .and_then(within_go_duration);
    }
    let nanos = parse_go_duration(s)?;
    i64::try_from(nanos / NANOS_PER_SEC)
        .map_err(|_| format!("time: invalid duration {}", go_quote(s)))
}

/// Vault holds every duration as Go's `time.Duration` (int64 nanoseconds), and refuses a
/// count of seconds that does not fit (OpenBao 2.x answers 400 with this text). This bound
/// is also what keeps every `now + duration` in the core far from overflowing.
fn within_go_duration(secs: i64) -> Result<i64, String> {
    const MAX_SECS: i64 = i64::MAX / 1_000_000_000;
    if secs.unsigned_abs() > MAX_SECS.unsigned_abs() {
        return Err(
            "multiplication of durations resulted in overflow, one operand may be too large"
                .to_string(),
        );
    }
    Ok(secs)
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, in nanoseconds.
pub fn parse_go_duration(orig: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !s.is_empty() {
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &rest[..frac_len];
            s = &rest[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let unit_nanos: i128 = match unit {
            "ns" => 1,
            "us" | "\u{00b5}s" | "\u{03bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(orig)
                ))
            }
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(unit_nanos).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            // Only the digits that can still matter at nanosecond precision are kept.
            let digits = &frac_part[..frac_part.len().min(18)];
            let frac: i128 = digits.parse().map_err(|_| invalid())?;
            let scale = 10_i128.pow(digits.len() as u32);
            value = value
                .checked_add(frac * unit_nanos / scale)
                .ok_or_else(invalid)?;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        // Go's Duration is an int64 of nanoseconds.
        if total > i64::MAX as i128 {
            return Err(invalid());
        }
    }
    Ok(if negative { -total } else { total })
}

/// Go's `time.Duration.String` for a whole number of seconds.
pub fn format_secs(secs: i64) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let abs = secs.unsigned_abs();
    let (h, m, s) = (abs / 3600, (abs % 3600) / 60, abs % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_vault_forms() {
        let cases = [
            (json!(90), 90),
            (json!("90"), 90),
            (json!("5400"), 5400),
            (json!("1h"), 3600),
            (json!("30m"), 1800),
            (json!("90s"), 90),
            (json!("1.5h"), 5400),
            (json!("1h30m"), 5400),
            (json!("100ms"), 0),
            (json!("1d"), 86_400),
            (json!("-1s"), -1),
            (json!("-5"), -5),
            (json!(""), 0),
            (json!(null), 0),
            (json!("0"), 0),
            (json!(".5m"), 30),
            (json!("1us"), 0),
            (json!("2\u{00b5}s"), 0),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration_secs(&input), Ok(want), "{input}");
        }
    }

    #[test]
    fn seconds_beyond_go_durations_are_refused_like_openbao() {
        let overflow =
            "multiplication of durations resulted in overflow, one operand may be too large";
        for v in [
            json!(9_223_372_037_i64),
            json!("9223372036854775807"),
            json!("-9223372037"),
            json!("106752d"),
        ] {
            assert_eq!(parse_duration_secs(&v).unwrap_err(), overflow, "{v}");
        }
        assert_eq!(parse_duration_secs(&json!("9223372036")), Ok(9_223_372_036));
        assert_eq!(parse_duration_secs(&json!("106751d")), Ok(9_223_286_400));
    }

    #[test]
    fn errors_read_like_go() {
        assert_eq!(
            parse_duration_secs(&json!("abc")).unwrap_err(),
            "time: invalid duration \"abc\""
        );
        assert_eq!(
            parse_duration_secs(&json!(1.5)).unwrap_err(),
            "time: missing unit in duration \"1.5\""
        );
        assert_eq!(
            parse_duration_secs(&json!("3x")).unwrap_err(),
            "time: unknown unit \"x\" in duration \"3x\""
        );
        assert_eq!(
            parse_duration_secs(&json!(true)).unwrap_err(),
            "could not parse duration from input"
        );
        assert!(parse_duration_secs(&json!("1.5d")).is_err());
        assert!(parse_duration_secs(&json!("")).is_ok());
        assert!(parse_duration_secs(&json!("-")).is_err());
        assert!(parse_duration_secs(&json!(".")).is_err());
        assert!(parse_duration_secs(&json!("99999999999h")).is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_secs(0), "0s");
        assert_eq!(format_secs(10), "10s");
        assert_eq!(format_secs(90), "1m30s");
        assert_eq!(format_secs(1800), "30m0s");
        assert_eq!(format_secs(3600), "1h0m0s");
        assert_eq!(format_secs(5400), "1h30m0s");
        assert_eq!(format_secs(86_400), "24h0m0s");
        assert_eq!(format_secs(-1), "-1s");
        assert_eq!(format_secs(3661), "1h1m1s");
    }
}
