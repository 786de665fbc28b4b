//! HCL1 policy text against recorded OpenBao answers.
//!
//! `testdata/hcl1_fixture.json` (made by `testdata/record_hcl1_fixture.py`) holds policies in
//! HCL1's looser forms (several attributes on a line, commas, repeats, quoted keys, heredocs,
//! comments, escapes, numbers) and malformed ones, each with what a real OpenBao made of it:
//! its `sys/capabilities` answer for some paths, or its error. mainkey must read every accepted
//! policy to the same capabilities, refuse every refused one, and give OpenBao's exact
//! `At line:column: ...` message for syntax errors.

use std::sync::Arc;

use serde_json::Value;

use super::tests_differential::differences;
use super::{parse_rules, Acl, Policy};
use crate::logical::Error;

const FIXTURE: &str = include_str!("testdata/hcl1_fixture.json");

/// Where the text ends: the line and the column just past its last character.
fn end_of(text: &str) -> (usize, usize) {
    let line = 1 + text.matches('\n').count();
    let last = text.rsplit('\n').next().unwrap_or("");
    (line, last.chars().count() + 1)
}

/// `At L:C: rest` split into its parts.
fn position(message: &str) -> Option<(usize, usize, &str)> {
    let rest = message.strip_prefix("failed to parse policy: At ")?;
    let (pos, rest) = rest.split_once(": ")?;
    let (line, column) = pos.split_once(':')?;
    Some((line.parse().ok()?, column.parse().ok()?, rest))
}

#[test]
fn hcl1_policies_read_as_openbao_reads_them() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let ours = parse_rules(text);
        let Some(theirs) = case["error"].as_str() else {
            let policy = match Policy::parse("p", text) {
                Ok(p) => Arc::new(p),
                Err(e) => {
                    failures.push(format!("{text:?}: OpenBao accepts, mainkey: {e}"));
                    continue;
                }
            };
            let acl = Acl::new(&[policy], None).unwrap();
            let pairs = case["paths"].as_array().unwrap();
            failures.extend(differences(&acl, pairs).map(|d| format!("{text:?}, {d}")));
            continue;
        };
        let ours = match ours {
            Err(Error::BadRequest(m)) => m,
            other => {
                failures.push(format!("{text:?}: OpenBao: {theirs}, mainkey: {other:?}"));
                continue;
            }
        };
        // A syntax error must match OpenBao's word for word. At the very end of the text,
        // OpenBao's column can run one or two past the last character (see `hcl1`); there
        // mainkey's must be the column just past it.
        let Some((line, column, rest)) = position(theirs) else {
            continue;
        };
        let matches = match position(&ours) {
            Some((l, c, r)) if r == rest && l == line => {
                c == column || (line, column) >= end_of(text) && (l, c) == end_of(text)
            }
            _ => false,
        };
        if !matches {
            failures.push(format!("{text:?}:\n  OpenBao: {theirs}\n  mainkey: {ours}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
