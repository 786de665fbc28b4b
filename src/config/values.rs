//! Scalar conversions with Vault's leniency: booleans and numbers may be quoted, durations take
//! Go's duration syntax or a number of seconds. Each returns the problem as text; the caller
//! adds the file, block and key.

use std::time::Duration;

use super::tree::Value;
use crate::logical::fields::parse_go_bool;

pub(crate) const BOOL_EXPECTED: &str = "expected a boolean (true, false, 1, 0)";

/// `true`, `false`, `1`, `0`, and as strings also the other spellings Go's `strconv.ParseBool`
/// takes (`"t"`, `"TRUE"`, `"False"`...), because Vault parses quoted booleans with it.
pub(crate) fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Int(1) => Ok(true),
        Value::Int(0) => Ok(false),
        Value::Str(s) => parse_go_bool(s).ok_or_else(|| got(BOOL_EXPECTED, value)),
        _ => Err(got(BOOL_EXPECTED, value)),
    }
}

pub(crate) fn integer(value: &Value) -> Result<i64, String> {
    const EXPECTED: &str = "expected an integer";
    match value {
        Value::Int(i) => Ok(*i),
        Value::Str(s) => s.parse::<i64>().map_err(|_| got(EXPECTED, value)),
        _ => Err(got(EXPECTED, value)),
    }
}

pub(crate) fn string(value: &Value) -> Result<String, String> {
    match value {
        Value::Str(s) => Ok(s.clone()),
        _ => Err(got("expected a string", value)),
    }
}

const DURATION_EXPECTED: &str =
    "expected a duration such as \"768h\", \"30s\", \"1h30m\" or a number of seconds";

/// Vault's duration forms: a non-negative number of seconds (number or quoted integer) or a Go
/// duration string (`"768h"`, `"1h30m"`, `"1.5h"`, `"250ms"`), plus Vault's `d` for days.
pub(crate) fn duration(value: &Value) -> Result<Duration, String> {
    let fail = || got(DURATION_EXPECTED, value);
    match value {
        Value::Int(i) => u64::try_from(*i)
            .map(Duration::from_secs)
            .map_err(|_| format!("must not be negative, got {i}")),
        Value::Float(x) if x.is_finite() && *x >= 0.0 => {
            Duration::try_from_secs_f64(*x).map_err(|_| fail())
        }
        Value::Float(x) if *x < 0.0 => Err(format!("must not be negative, got {x}")),
        Value::Str(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                return s
                    .parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| fail());
            }
            if s.starts_with('-') {
                return Err(format!("must not be negative, got {}", value.describe()));
            }
            parse_go_duration(s).ok_or_else(fail)
        }
        _ => Err(fail()),
    }
}

/// Go's `time.ParseDuration` (shared with request fields), for non-negative values only.
pub(crate) fn parse_go_duration(input: &str) -> Option<Duration> {
    // Vault also takes a whole number of days, `"2d"`, which Go does not.
    if let Some(days) = input.strip_suffix('d').and_then(|d| d.parse::<u64>().ok()) {
        return days.checked_mul(86_400).map(Duration::from_secs);
    }
    let nanos = u128::try_from(crate::logical::duration::parse_go_duration(input).ok()?).ok()?;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// A duration the way an operator would write it in the config: `768h`, `1h30m`, `45s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn got(expected: &str, value: &Value) -> String {
    format!("{expected}, got {}", value.describe())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    #[test]
    fn booleans_in_every_accepted_form() {
        for (value, want) in [
            (Value::Bool(true), true),
            (Value::Bool(false), false),
            (Value::Int(1), true),
            (Value::Int(0), false),
            (s("true"), true),
            (s("false"), false),
            (s("1"), true),
            (s("0"), false),
            (s("TRUE"), true),
            (s("False"), false),
            (s("t"), true),
            (s("F"), false),
        ] {
            assert_eq!(boolean(&value), Ok(want), "{value:?}");
        }
    }

    #[test]
    fn booleans_reject_everything_else() {
        for value in [
            Value::Int(2),
            Value::Int(-1),
            Value::Float(1.0),
            s("yes"),
            s("maybe"),
            s(""),
            s(" true"),
            Value::Null,
            Value::List(Vec::new()),
            Value::Object,
            Value::Expression,
        ] {
            let err = boolean(&value).expect_err("must be rejected");
            assert!(err.starts_with(BOOL_EXPECTED), "{err}");
        }
        assert_eq!(
            boolean(&s("maybe")),
            Err("expected a boolean (true, false, 1, 0), got \"maybe\"".to_string())
        );
    }

    #[test]
    fn durations_in_every_accepted_form() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        for (value, want) in [
            (s("768h"), h(768)),
            (s("30s"), Duration::from_secs(30)),
            (s("10m"), Duration::from_secs(600)),
            (s("1h30m"), Duration::from_secs(5400)),
            (s("1h30m15s"), Duration::from_secs(5415)),
            (s("1.5h"), Duration::from_secs(5400)),
            (s(".5s"), Duration::from_millis(500)),
            (s("250ms"), Duration::from_millis(250)),
            (s("10us"), Duration::from_micros(10)),
            (s("10µs"), Duration::from_micros(10)),
            (s("7ns"), Duration::from_nanos(7)),
            (s("2d"), h(48)),
            (s("+5s"), Duration::from_secs(5)),
            (s("0"), Duration::ZERO),
            (s("3600"), h(1)),
            (s(" 3600 "), h(1)),
            (Value::Int(3600), h(1)),
            (Value::Int(0), Duration::ZERO),
            (Value::Float(1.5), Duration::from_millis(1500)),
        ] {
            assert_eq!(duration(&value), Ok(want), "{value:?}");
        }
    }

    #[test]
    fn durations_reject_everything_else() {
        for value in [
            s(""),
            s("h"),
            s("10"),
            s("10x"),
            s("1h30"),
            s("1.h5"),
            s("."),
            s(".s"),
            s("1e3s"),
            s("1 h"),
            s("99999999999999999999999h"),
            s("1.5"),
            Value::Bool(true),
            Value::Null,
            Value::List(Vec::new()),
            Value::Expression,
        ] {
            // "10" is all digits, so it *is* seconds; keep it out of the reject list.
            if value == s("10") {
                assert_eq!(duration(&value), Ok(Duration::from_secs(10)));
                continue;
            }
            let err = duration(&value).expect_err("must be rejected");
            assert!(err.starts_with("expected a duration"), "{value:?}: {err}");
        }
        for value in [Value::Int(-1), Value::Float(-0.5), s("-5s"), s("-1")] {
            let err = duration(&value).expect_err("negative");
            assert!(err.starts_with("must not be negative"), "{err}");
        }
    }

    #[test]
    fn integers_take_numbers_and_quoted_numbers() {
        assert_eq!(integer(&Value::Int(-1)), Ok(-1));
        assert_eq!(integer(&s("1048576")), Ok(1_048_576));
        assert_eq!(integer(&s("-1")), Ok(-1));
        assert!(integer(&Value::Float(1.5)).is_err());
        assert!(integer(&s("32MiB")).is_err());
        assert!(integer(&Value::Bool(true)).is_err());
    }

    #[test]
    fn strings_are_not_coerced() {
        assert_eq!(string(&s("x")), Ok("x".to_string()));
        assert_eq!(
            string(&Value::Int(8200)),
            Err("expected a string, got 8200".to_string())
        );
    }

    #[test]
    fn durations_format_back_readably() {
        assert_eq!(format_duration(Duration::from_secs(768 * 3600)), "768h");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
