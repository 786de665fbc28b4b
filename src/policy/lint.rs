//! Warnings about policies that Vault accepts but that almost certainly do not mean what their
//! author thinks (beyond Vault: it says nothing). `sys/policy` returns them in `warnings`, and
//! `mainkey policy lint` prints them offline.

use super::parse::{parse_rules, PathRule};
use crate::logical::fields::go_quote;
use crate::logical::Error;

/// Parses `policy_text` and returns its warnings (empty for a clean policy).
pub fn lint(policy_text: &str) -> Result<Vec<String>, Error> {
    Ok(warnings(&parse_rules(policy_text)?))
}

/// The warnings of already parsed rules, in rule order.
pub fn warnings(rules: &[PathRule]) -> Vec<String> {
    let mut out = Vec::new();
    for rule in rules {
        if let Some(w) = literal_star(&rule.path) {
            out.push(w);
        }
        if let Some(w) = literal_plus(&rule.path) {
            out.push(w);
        }
    }
    out
}

/// A `*` anywhere but at the very end is matched literally (seed 001's
/// `secret/data/tenant/*/nexa`). When the `*` stands for whole segments, suggest `+`.
fn literal_star(path: &str) -> Option<String> {
    let body = path.strip_suffix('*').unwrap_or(path);
    if !body.contains('*') {
        return None;
    }
    let mut warning = format!(
        "path {}: \"*\" is only a glob at the end of a path; Vault and mainkey match this \"*\" literally.",
        go_quote(path)
    );
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len() - 1;
    let mut changed = false;
    let suggested: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            if *seg == "*" && i != last {
                changed = true;
                "+"
            } else {
                seg
            }
        })
        .collect();
    if changed {
        warning.push_str(&format!(
            " To match one segment, use \"+\": {}",
            go_quote(&suggested.join("/"))
        ));
    }
    Some(warning)
}

/// A `+` inside a segment (`a+b`, `+b`) is matched literally; only a whole `+` segment is a
/// wildcard.
fn literal_plus(path: &str) -> Option<String> {
    let partial = path
        .strip_suffix('*')
        .unwrap_or(path)
        .split('/')
        .any(|seg| seg.contains('+') && seg != "+");
    partial.then(|| {
        format!(
            "path {}: \"+\" is only a wildcard as a whole segment; Vault and mainkey match this \"+\" literally.",
            go_quote(path)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_001_mid_path_star_suggests_plus() {
        let w = lint(r#"path "secret/data/tenant/*/nexa" { capabilities = ["read"] }"#).unwrap();
        assert_eq!(
            w,
            [
                r#"path "secret/data/tenant/*/nexa": "*" is only a glob at the end of a path; Vault and mainkey match this "*" literally. To match one segment, use "+": "secret/data/tenant/+/nexa""#
            ]
        );
    }

    #[test]
    fn clean_policies_have_no_warnings() {
        let text = r#"
            path "secret/data/tenant/+/nexa" { capabilities = ["read"] }
            path "secret/data/*" { capabilities = ["read"] }
            path "secret/+/x/*" { capabilities = ["read"] }
            path "*" { capabilities = ["read"] }
            path "+" { capabilities = ["read"] }
            path "secret/data/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read"] }
        "#;
        assert_eq!(lint(text).unwrap(), Vec::<String>::new());
        assert_eq!(
            lint(super::super::DEFAULT_POLICY_TEXT).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn other_literal_stars_and_pluses() {
        let w = lint(r#"path "a/*/b/*/*" { capabilities = ["read"] }"#).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].ends_with(r#"use "+": "a/+/b/+/*""#), "{}", w[0]);

        // A `*` inside a segment has no `+` equivalent, so no suggestion.
        let w = lint(r#"path "a/b*c" { capabilities = ["read"] }"#).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].ends_with("literally."), "{}", w[0]);
        let w = lint(r#"path "a/**" { capabilities = ["read"] }"#).unwrap();
        assert_eq!(w.len(), 1);

        let w = lint(r#"path "a/b+c" { capabilities = ["read"] }"#).unwrap();
        assert_eq!(
            w,
            [
                r#"path "a/b+c": "+" is only a wildcard as a whole segment; Vault and mainkey match this "+" literally."#
            ]
        );
        assert_eq!(
            lint(r#"path "a/+b/*" { capabilities = ["read"] }"#)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn lint_reports_parse_errors() {
        assert!(lint(r#"path "a" { capabilities = ["fly"] }"#).is_err());
    }
}
