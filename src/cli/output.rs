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

/// A value the way Go's `%v` prints decoded JSON, which is what the Vault CLI's tables show:
/// lists as `[a b]`, objects as `map[k:v]` with sorted keys, null as `<nil>`.
pub fn go_value(value: &serde_json::Value) -> String {
    use serde_json::Value as Json;
    match value {
        Json::Null => "<nil>".to_string(),
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", parts.join(" "))
        }
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_value(&map[k.as_str()])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// A number of seconds as the Vault CLI shows durations: Go's `time.Duration` text with the
/// zero minutes and seconds dropped (`768h`, `1h30m`, `45s`, `0s`).
pub fn human_duration(seconds: i64) -> String {
    if seconds == 0 {
        return "0s".to_string();
    }
    let sign = if seconds < 0 { "-" } else { "" };
    let total = seconds.unsigned_abs();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut text = String::from(sign);
    if h > 0 {
        text.push_str(&format!("{h}h{m}m{s}s"));
    } else if m > 0 {
        text.push_str(&format!("{m}m{s}s"));
    } else {
        text.push_str(&format!("{s}s"));
    }
    if let Some(stripped) = text.strip_suffix("m0s") {
        text = format!("{stripped}m");
    }
    if let Some(idx) = text.find("h0m") {
        text = format!("{}{}", &text[..idx + 1], &text[idx + 3..]);
    }
    text
}

/// Like the Vault CLI's `humanDurationInt`: numbers (or numeric strings) become durations,
/// anything else prints as `%v`.
fn human_duration_value(value: &serde_json::Value) -> String {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    match seconds {
        Some(s) => human_duration(s),
        None => go_value(value),
    }
}

/// A Go `%q` list of strings: `["a" "b"]`.
fn quoted_list(value: Option<&serde_json::Value>) -> String {
    let items: Vec<String> = value
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => crate::logical::fields::go_quote(s),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
}

/// The rows of a `/v1` response as the Vault CLI's table formatter shows a secret: the lease,
/// the `auth` block as `token*` rows, then `data` with sorted keys, durations humanised.
pub fn secret_rows(secret: &serde_json::Value) -> Vec<(String, String)> {
    use serde_json::Value as Json;
    let mut rows = Vec::new();
    let lease = secret
        .get("lease_duration")
        .and_then(Json::as_i64)
        .unwrap_or(0);
    if lease > 0 {
        let id = secret.get("lease_id").and_then(Json::as_str).unwrap_or("");
        if !id.is_empty() {
            rows.push(("lease_id".to_string(), id.to_string()));
        }
        rows.push(("lease_duration".to_string(), human_duration(lease)));
        let renewable = secret
            .get("renewable")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        rows.push(("lease_renewable".to_string(), renewable.to_string()));
    }
    if let Some(auth) = secret.get("auth").filter(|a| a.is_object()) {
        let text = |k: &str| auth.get(k).and_then(Json::as_str).unwrap_or("").to_string();
        let duration = auth
            .get("lease_duration")
            .and_then(Json::as_i64)
            .unwrap_or(0);
        rows.push(("token".to_string(), text("client_token")));
        rows.push(("token_accessor".to_string(), text("accessor")));
        rows.push((
            "token_duration".to_string(),
            if duration == 0 {
                "∞".to_string()
            } else {
                human_duration(duration)
            },
        ));
        let renewable = auth
            .get("renewable")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        rows.push(("token_renewable".to_string(), renewable.to_string()));
        rows.push((
            "token_policies".to_string(),
            quoted_list(auth.get("token_policies")),
        ));
        rows.push((
            "identity_policies".to_string(),
            quoted_list(auth.get("identity_policies")),
        ));
        rows.push(("policies".to_string(), quoted_list(auth.get("policies"))));
        if let Some(Json::Object(meta)) = auth.get("metadata") {
            let mut keys: Vec<&String> = meta.keys().collect();
            keys.sort();
            for k in keys {
                rows.push((format!("token_meta_{k}"), go_value(&meta[k.as_str()])));
            }
        }
    }
    if let Some(Json::Object(data)) = secret.get("data") {
        let mut keys: Vec<&String> = data.keys().collect();
        keys.sort();
        for k in keys {
            let v = &data[k.as_str()];
            let looks_like_ttl =
                k == "period" || k.ends_with("_period") || k == "ttl" || k.ends_with("_ttl");
            let shown = if looks_like_ttl {
                human_duration_value(v)
            } else {
                go_value(v)
            };
            // Like the Vault CLI's columnize `Empty` setting.
            let shown = if shown.is_empty() {
                "n/a".to_string()
            } else {
                shown
            };
            rows.push((k.clone(), shown));
        }
    }
    rows
}

/// The Vault CLI's warning block, printed before a table (to standard error).
pub fn warnings(secret: Option<&serde_json::Value>) -> String {
    let list: Vec<String> = secret
        .and_then(|s| s.get("warnings"))
        .and_then(serde_json::Value::as_array)
        .map(|l| {
            l.iter()
                .map(|w| w.as_str().map_or_else(|| w.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() {
        return String::new();
    }
    let mut out = String::from("WARNING! The following warnings were returned from Vault:\n\n");
    for w in list {
        out.push_str(&format!("  * {w}\n\n"));
    }
    out
}

/// Columns with a header and dashes under each heading, joined by four spaces, trailing space
/// trimmed, as the Vault CLI's list tables (`auth list`).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut all: Vec<Vec<String>> = vec![
        header.iter().map(|h| h.to_string()).collect(),
        header
            .iter()
            .map(|h| "-".repeat(h.chars().count()))
            .collect(),
    ];
    all.extend(rows.iter().cloned());
    let n = header.len();
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            all.iter()
                .map(|r| r.get(i).map_or(3, |c| c.chars().count().max(3)))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate() {
            let cell = match row.get(i).map_or("", String::as_str) {
                // Like the Vault CLI's columnize `Empty` setting.
                "" => "n/a",
                text => text,
            };
            line.push_str(cell);
            if i + 1 < n {
                line.push_str(&" ".repeat(width - cell.chars().count() + 4));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_drop_zero_units_like_the_vault_cli() {
        for (secs, want) in [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (90, "1m30s"),
            (3600, "1h"),
            (5400, "1h30m"),
            (2_764_800, "768h"),
            (2_764_790, "767h59m50s"),
            (3601, "1h1s"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn values_print_like_go() {
        let v = serde_json::json!({"b": [1, "x"], "a": null, "c": {"k": true}});
        assert_eq!(go_value(&v), "map[a:<nil> b:[1 x] c:map[k:true]]");
    }

    #[test]
    fn auth_blocks_become_token_rows() {
        let secret = serde_json::json!({
            "auth": {"client_token": "s.x", "accessor": "acc", "lease_duration": 2764800,
                     "renewable": true, "token_policies": ["default"], "policies": ["default"],
                     "identity_policies": [], "metadata": {"username": "admin"}}
        });
        assert_eq!(
            key_value_table(&secret_rows(&secret)),
            "Key                    Value
---                    -----
token                  s.x
token_accessor         acc
token_duration         768h
token_renewable        true
token_policies         [\"default\"]
identity_policies      []
policies               [\"default\"]
token_meta_username    admin
"
        );
    }

    #[test]
    fn data_rows_are_sorted_with_ttls_humanised() {
        let secret = serde_json::json!({
            "data": {"ttl": 3600, "policies": ["a", "b"], "explicit_max_ttl": 0, "meta": null}
        });
        assert_eq!(
            secret_rows(&secret),
            vec![
                ("explicit_max_ttl".to_string(), "0s".to_string()),
                ("meta".to_string(), "<nil>".to_string()),
                ("policies".to_string(), "[a b]".to_string()),
                ("ttl".to_string(), "1h".to_string()),
            ]
        );
    }

    #[test]
    fn warnings_block() {
        assert_eq!(warnings(None), "");
        let s = serde_json::json!({"warnings": ["w1"]});
        assert_eq!(
            warnings(Some(&s)),
            "WARNING! The following warnings were returned from Vault:\n\n  * w1\n\n"
        );
    }

    #[test]
    fn list_tables_pad_columns_and_trim() {
        assert_eq!(
            table(&["Path", "Type"], &[vec!["token/".into(), "token".into()]]),
            "Path      Type\n----      ----\ntoken/    token\n"
        );
    }

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
