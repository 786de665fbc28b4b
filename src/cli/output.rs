//! Output layouts shared by the client commands, matching the Vault CLI's so that people and
//! scripts that read `bao`/`vault` output can read mainkey's.

use serde::Serialize;

/// A Key/Value table as the Vault CLI prints it: the first column padded to its widest entry
/// plus four spaces, with a `Key`/`Value` header and `---`/`-----` rule.
pub fn key_value_table(rows: &[(String, String)]) -> String {
    let mut all = vec![
        ("Key".to_string(), "Value".to_string()),
        ("---".to_string(), "-----".to_string()),
    ];
    all.extend(rows.iter().cloned());
    columns(&all)
}

/// Two columns without a header, as the Vault CLI prints a single item's fields.
pub fn columns(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        + 4;
    let mut out = String::new();
    for (key, value) in rows {
        let pad = width - key.chars().count();
        out.push_str(key);
        out.push_str(&" ".repeat(pad));
        out.push_str(value);
        out.push('\n');
    }
    out
}

/// Pretty JSON with a trailing newline, two-space indented like the Vault CLI.
pub fn json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        // Serializing plain data structs and `serde_json::Value` cannot fail; keep the output
        // well-formed anyway.
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

/// Go's `time.RFC822` layout in UTC (`25 Nov 26 13:37 UTC`), which the Vault CLI uses for
/// install times; anything that is not RFC 3339 is shown as it came.
pub fn rfc822(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%d %b %y %H:%M UTC")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn table_pads_the_key_column_by_four() {
        assert_eq!(
            key_value_table(&rows(&[("Sealed", "false"), ("Unseal Progress", "1/3")])),
            "Key                Value\n---                -----\nSealed             false\nUnseal Progress    1/3\n"
        );
    }

    #[test]
    fn the_header_counts_for_the_width() {
        assert_eq!(
            key_value_table(&rows(&[("a", "1")])),
            "Key    Value\n---    -----\na      1\n"
        );
    }

    #[test]
    fn columns_have_no_header() {
        assert_eq!(
            columns(&rows(&[("Key Term", "2"), ("Encryption Count", "0")])),
            "Key Term            2\nEncryption Count    0\n"
        );
    }

    #[test]
    fn install_times_are_rfc822_in_utc() {
        assert_eq!(
            rfc822("2026-11-25T13:37:55.846152214Z"),
            "25 Nov 26 13:37 UTC"
        );
        assert_eq!(rfc822("2026-11-25T15:37:55+02:00"), "25 Nov 26 13:37 UTC");
        assert_eq!(rfc822("yesterday"), "yesterday");
    }

    #[test]
    fn json_is_pretty_with_a_newline() {
        assert_eq!(json(&serde_json::json!({"a": 1})), "{\n  \"a\": 1\n}\n");
    }
}
