//! Differential test against recorded OpenBao answers.
//!
//! `testdata/capabilities_fixture.json` holds policy sets and paths made by a seeded generator
//! (globs, `+` segments, literal mid-path `*` and partial `+`, `deny`, empty capability lists,
//! legacy `policy = ...`, JSON policies, templates without an entity, leading and trailing
//! slashes, and patterns shared by several policies), then two hand-written sets in HCL1's
//! looser forms (attributes on one line, commas, repeats, quoted keys, heredocs, comments,
//! escapes, hex and octal numbers), with the answer of a real OpenBao's
//! `sys/capabilities` for a token holding exactly those policies. `Acl::capabilities` must give
//! the same answer for every case.

use std::sync::Arc;

use serde_json::Value;

use super::{Acl, Policy};

const FIXTURE: &str = include_str!("testdata/capabilities_fixture.json");

#[test]
fn capabilities_match_recorded_openbao_answers() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let sets = fixture["sets"].as_array().unwrap();
    let mut total = 0;
    let mut mismatches = Vec::new();
    for (si, set) in sets.iter().enumerate() {
        let policies: Vec<Arc<Policy>> = set["policies"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(pi, text)| {
                let text = text.as_str().unwrap();
                let policy = Policy::parse(&format!("d{si}_{pi}"), text)
                    .unwrap_or_else(|e| panic!("set {si} policy {pi} does not parse: {e}\n{text}"));
                Arc::new(policy)
            })
            .collect();
        let acl = Acl::new(&policies, None).unwrap();
        let pairs = set["paths"].as_array().unwrap();
        total += pairs.len();
        mismatches.extend(differences(&acl, pairs).map(|d| format!("set {si}, {d}")));
    }
    assert_eq!(total, fixture["cases_total"].as_u64().unwrap() as usize);
    assert!(total >= 1000, "only {total} cases");
    assert!(
        mismatches.is_empty(),
        "{} of {total} cases differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The recorded `[path, [capabilities...]]` pairs that `acl` answers otherwise, each as
/// `path "p": OpenBao [...], mainkey [...]`.
pub(super) fn differences<'a>(
    acl: &'a Acl,
    pairs: &'a [Value],
) -> impl Iterator<Item = String> + 'a {
    pairs.iter().filter_map(|pair| {
        let path = pair[0].as_str().unwrap();
        let want: Vec<&str> = pair[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let got = acl.capabilities(path).names();
        (got != want).then(|| format!("path {path:?}: OpenBao {want:?}, mainkey {got:?}"))
    })
}
