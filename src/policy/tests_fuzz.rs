//! No policy text may abort the process (issue 8 §7). Pathological shapes (deep nesting,
//! one item with thousands of keys, unterminated forms) and random or mutated documents go
//! through the whole pipeline a policy write runs: parse, lower, build an ACL, answer a
//! capabilities question. Every run happens on a thread whose stack is a fraction of a
//! server worker's, so a recursion that grows with the input shows up as an abort here.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use super::hcl1::MAX_DEPTH;
use super::{parse_rules, Acl, Policy};
use crate::logical::Error;

/// Half of the 2 MiB that tokio and pingora give their worker threads. Unoptimised frames are
/// large: the HCL1 parser at its depth bound needs between 512 KiB and 1 MiB in a debug
/// build. An unbounded recursion (50,000 nested objects) needs many times more.
pub(crate) const SMALL_STACK: usize = 1024 * 1024;

/// Runs `f` on a thread with [`SMALL_STACK`]; an overflow aborts the test binary.
pub(crate) fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    on_stack(SMALL_STACK, f)
}

/// Runs `f` on a thread with a stack of `bytes`.
pub(crate) fn on_stack<T: Send + 'static>(
    bytes: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    std::thread::Builder::new()
        .stack_size(bytes)
        .spawn(f)
        .expect("spawn a test thread")
        .join()
        .expect("the test thread panicked")
}

/// Everything a policy write does with `text`. A refusal must be a 400 with the parser's
/// prefix; an accepted policy must build an ACL that answers.
fn write_policy(text: &str) -> Result<(), String> {
    match Policy::parse("fuzz", text) {
        Ok(policy) => {
            let acl = Acl::new(&[Arc::new(policy)], None).map_err(|e| format!("acl: {e:?}"))?;
            for path in ["a", "secret/data/x", "sys/policies/acl/default", ""] {
                let _ = acl.capabilities(path);
            }
            Ok(())
        }
        Err(Error::BadRequest(m)) if m.starts_with("failed to parse policy: ") => Ok(()),
        Err(Error::BadRequest(_)) => Ok(()),
        Err(other) => Err(format!("not a 400: {other:?}")),
    }
}

fn parse_err(text: &str) -> String {
    match parse_rules(text) {
        Err(Error::BadRequest(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

/// The reproduction from the issue: a 100 KB policy whose one item has 50,000 keys.
#[test]
fn an_item_with_fifty_thousand_keys_is_refused_without_overflow() {
    let text = format!(
        "path \"x\" {{ capabilities = [\"read\"] {}{{ }} }}",
        "k ".repeat(50_000)
    );
    assert!(text.len() > 100_000);
    let msg = on_small_stack(move || parse_err(&text));
    assert_eq!(
        msg,
        format!(
            "failed to parse policy: At 1:{}: nested deeper than {MAX_DEPTH} levels",
            36 + 2 * (MAX_DEPTH - 2)
        )
    );
    // Within the bound it parses, and is refused for its unknown key, as OpenBao refuses it.
    let text = format!(
        "path \"x\" {{ capabilities = [\"read\"] {}{{ }} }}",
        "k ".repeat(MAX_DEPTH - 2)
    );
    let msg = on_small_stack(move || parse_err(&text));
    assert_eq!(msg, "failed to parse policy: path \"x\": invalid key \"k\"");
}

/// Keys and object levels count against one bound, so neither can be traded for the other.
#[test]
fn keys_and_nested_objects_share_the_depth_bound() {
    let nested = |keys: usize, levels: usize| {
        format!(
            "path \"x\" {{ capabilities = [\"read\"] {}{{ {} }} }}",
            "k ".repeat(keys),
            "a { ".repeat(levels) + &"} ".repeat(levels)
        )
    };
    for (keys, levels, ok) in [
        (50, 40, true),
        (50, 60, false),
        (MAX_DEPTH - 2, 0, true),
        (1, MAX_DEPTH - 3, true),
        (1, MAX_DEPTH, false),
    ] {
        let text = nested(keys, levels);
        let msg = on_small_stack(move || parse_err(&text));
        assert_eq!(
            msg.contains("nested deeper than"),
            !ok,
            "{keys} keys, {levels} levels: {msg}"
        );
    }
}

/// Every nesting form, at and far past the bound, in both policy syntaxes.
#[test]
fn pathological_shapes_never_abort() {
    let mut texts = Vec::new();
    for n in [
        MAX_DEPTH - 3,
        MAX_DEPTH - 1,
        MAX_DEPTH,
        MAX_DEPTH + 1,
        1_000,
        100_000,
    ] {
        let (open_l, close_l) = ("[".repeat(n), "]".repeat(n));
        texts.push(format!("path \"a\" {{ capabilities = {open_l}{close_l} }}"));
        texts.push(format!("path \"a\" {{ capabilities = {open_l} }}"));
        texts.push(format!(
            "path \"a\" {{ allowed_parameters = {{ x = {}1{} }} }}",
            "{ y = ".repeat(n),
            " }".repeat(n)
        ));
        texts.push(format!(
            "path \"a\" {{ {}{} }}",
            "y { ".repeat(n),
            "} ".repeat(n)
        ));
        texts.push(format!("path \"a\" {{ {} }}", "y { ".repeat(n)));
        texts.push(format!(
            "path \"a\" {{ x = {}\"v\"{} }}",
            "[{ a = ".repeat(n),
            " }]".repeat(n)
        ));
        texts.push(format!("path {}{{ }}", "\"a\" ".repeat(n)));
        texts.push(format!("{}{{}}", "k ".repeat(n)));
        texts.push("{".repeat(n));
        texts.push("[".repeat(n));
        texts.push(format!(
            "{{\"path\": {{\"a\": {{\"allowed_parameters\": {{\"x\": {}{}}}}}}}}}",
            "[".repeat(n),
            "]".repeat(n)
        ));
        texts.push(format!(
            "{{\"path\": {{\"a\": {}1{}}}}}",
            "{\"a\": ".repeat(n),
            "}".repeat(n)
        ));
        texts.push(format!("{{\"path\": {}", "[".repeat(n)));
        texts.push(format!("path \"a\" {{ comment = \"{}\" }}", "${".repeat(n)));
        texts.push(format!(
            "path \"a\" {{ c = <<EOT\n{}\nEOT\n}}",
            "[{".repeat(n)
        ));
        texts.push(format!("path \"a\" {{ c = [{}] }}", "\"r\",".repeat(n)));
        texts.push("path \"a\" { capabilities = [\"read\"] }\n".repeat(n.min(5_000)));
    }
    on_small_stack(move || {
        for text in &texts {
            if let Err(e) = write_policy(text) {
                panic!("{e} for a text of {} bytes", text.len());
            }
        }
    });
}

/// The words, punctuation and broken forms HCL1 and JSON policies are made of.
fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("path".to_string()),
        Just("\"secret/*\"".to_string()),
        Just("\"a/+/b\"".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("=".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string()),
        Just("capabilities".to_string()),
        Just("\"read\"".to_string()),
        Just("\"deny\"".to_string()),
        Just("policy".to_string()),
        Just("allowed_parameters".to_string()),
        Just("required_parameters".to_string()),
        Just("min_wrapping_ttl".to_string()),
        Just("\"1h\"".to_string()),
        Just("k".to_string()),
        Just("#c\n".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("//".to_string()),
        Just("<<EOT\n".to_string()),
        Just("<<-EOT\n".to_string()),
        Just("EOT\n".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\"\\u00e9\"".to_string()),
        Just("\"\\x".to_string()),
        Just("\"\\U0011ffff\"".to_string()),
        Just("${".to_string()),
        Just("{{identity.entity.id}}".to_string()),
        Just("\"{{identity.entity.metadata.x}}/*\"".to_string()),
        Just("1e3".to_string()),
        Just("0x1F".to_string()),
        Just("9999999999999999999999".to_string()),
        Just("-".to_string()),
        Just(".".to_string()),
        Just("+".to_string()),
        Just("true".to_string()),
        Just("\0".to_string()),
        Just("\u{feff}".to_string()),
        Just("é".to_string()),
        "\\PC{0,8}",
    ]
}

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(atom(), 0..60).prop_map(|v| v.concat())
}

/// Policies OpenBao was seen to read or refuse (the HCL1 fixture), as seeds for mutation.
fn seeds() -> Vec<String> {
    let fixture: Value =
        serde_json::from_str(include_str!("testdata/hcl1_fixture.json")).expect("fixture");
    let mut seeds: Vec<String> = fixture["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter_map(|c| c["text"].as_str().map(str::to_string))
        .collect();
    seeds.push(
        r#"{"path": {"secret/*": {"capabilities": ["read"], "allowed_parameters": {"a": ["x"]}}}}"#
            .to_string(),
    );
    seeds
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Repeat(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), atom()).prop_map(|(at, s)| Edit::Insert(at, s)),
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), 1usize..6, 2usize..300).prop_map(|(at, n, k)| Edit::Repeat(at, n, k)),
    ]
}

/// Applies edits at character boundaries, so the text stays UTF-8 as a request body must.
fn mutate(seed: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for e in edits {
        let len = chars.len();
        match e {
            Edit::Insert(at, s) => {
                let at = at % (len + 1);
                chars.splice(at..at, s.chars());
            }
            Edit::Delete(at, n) if len > 0 => {
                let at = at % len;
                let end = (at + n).min(len);
                chars.drain(at..end);
            }
            Edit::Repeat(at, n, k) if len > 0 => {
                let at = at % len;
                let end = (at + n).min(len);
                let piece: Vec<char> = chars[at..end].to_vec();
                for _ in 1..*k {
                    chars.splice(end..end, piece.iter().copied());
                }
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// The proptest runner, driven by hand so that it runs on the small stack. The strategy is
/// made on that thread (strategies are not `Send`).
fn run_on_small_stack<S: Strategy + 'static>(
    cases: u32,
    strategy: impl FnOnce() -> S + Send + 'static,
    check: fn(&S::Value) -> Result<(), String>,
) {
    run_on_stack(SMALL_STACK, cases, strategy, check);
}

/// [`run_on_small_stack`] with a stack of `bytes`.
pub(crate) fn run_on_stack<S: Strategy + 'static>(
    bytes: usize,
    cases: u32,
    strategy: impl FnOnce() -> S + Send + 'static,
    check: fn(&S::Value) -> Result<(), String>,
) {
    on_stack(bytes, move || {
        let strategy = strategy();
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, |v| {
            check(&v).map_err(proptest::test_runner::TestCaseError::fail)
        }) {
            panic!("{e}");
        }
    });
}

#[test]
fn random_policy_text_never_aborts() {
    run_on_small_stack(512, soup, |text| write_policy(text));
    run_on_small_stack(256, || "\\PC{0,200}", |text| write_policy(text));
}

#[test]
fn mutated_policies_never_abort() {
    let strategy = || {
        let seeds = seeds();
        (0..seeds.len(), proptest::collection::vec(edit(), 1..6))
            .prop_map(move |(i, edits)| mutate(&seeds[i], &edits))
    };
    run_on_small_stack(512, strategy, |text| write_policy(text));
}

// ---------------------------------------------------------------------------------------------
// HCL1 on a quarter-megabyte stack. The HCL1 reader, its conversion to JSON and the drop of
// what it builds no longer recurse, so HCL1 policies of any shape go through on
// `TINY_STACK`. (A JSON policy does not: serde_json's reader recurses up to its own bound of
// 128 levels and needs more than that in a debug build, which `SMALL_STACK` covers.)

use super::hcl1::tests::{
    check_json_matches_recursion, depth_of_items, depth_of_json, on_tiny_stack, TINY_STACK,
};

/// The issue's reproduction on the tiny stack: refused at the first key past the bound,
/// without reading the rest of the chain, so at once.
#[test]
fn fifty_thousand_keys_are_refused_quickly_on_a_tiny_stack() {
    let text = format!(
        "path \"x\" {{ capabilities = [\"read\"] {}{{ }} }}",
        "k ".repeat(50_000)
    );
    assert!(text.len() > 100_000);
    let (msg, took) = on_tiny_stack(move || {
        let start = std::time::Instant::now();
        let msg = parse_err(&text);
        (msg, start.elapsed())
    });
    assert_eq!(
        msg,
        format!(
            "failed to parse policy: At 1:{}: nested deeper than {MAX_DEPTH} levels",
            36 + 2 * (MAX_DEPTH - 2)
        )
    );
    // Milliseconds in a debug build; the bound is loose for a busy machine.
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}

/// At the bound a policy parses (and is then judged on its keys); one level more is refused
/// where that level starts.
#[test]
fn policies_at_the_bound_parse_and_one_level_more_is_refused() {
    let too_deep = |column: usize| {
        format!("failed to parse policy: At 1:{column}: nested deeper than {MAX_DEPTH} levels")
    };
    // (text at the bound, its message, text one past, the column refused)
    let cases = [
        // Keys of an item inside a path block, which takes two levels.
        (
            format!("path \"x\" {{ {}{{ }} }}", "k ".repeat(MAX_DEPTH - 2)),
            "failed to parse policy: path \"x\": invalid key \"k\"".to_string(),
            format!("path \"x\" {{ {}{{ }} }}", "k ".repeat(MAX_DEPTH - 1)),
            12 + 2 * (MAX_DEPTH - 2),
        ),
        // Labels of a top-level item.
        (
            format!("path {}{{ }}", "\"a\" ".repeat(MAX_DEPTH - 1)),
            "failed to parse policy: a path block takes exactly one label: path \"...\" { ... }"
                .to_string(),
            format!("path {}{{ }}", "\"a\" ".repeat(MAX_DEPTH)),
            6 + 4 * (MAX_DEPTH - 1),
        ),
        // Nested blocks, `y { y { ... } }`.
        (
            format!(
                "path \"x\" {{ {}{} }}",
                "y { ".repeat(MAX_DEPTH - 2),
                "} ".repeat(MAX_DEPTH - 2)
            ),
            "failed to parse policy: path \"x\": invalid key \"y\"".to_string(),
            format!(
                "path \"x\" {{ {}{} }}",
                "y { ".repeat(MAX_DEPTH - 1),
                "} ".repeat(MAX_DEPTH - 1)
            ),
            12 + 4 * (MAX_DEPTH - 2),
        ),
        // Nested lists.
        (
            format!(
                "path \"x\" {{ capabilities = {}\"read\"{} }}",
                "[".repeat(MAX_DEPTH - 2),
                "]".repeat(MAX_DEPTH - 2)
            ),
            "failed to parse policy: path \"x\": capabilities must be a list of strings"
                .to_string(),
            format!(
                "path \"x\" {{ capabilities = {}\"read\"{} }}",
                "[".repeat(MAX_DEPTH - 1),
                "]".repeat(MAX_DEPTH - 1)
            ),
            27 + (MAX_DEPTH - 2),
        ),
    ];
    for (at, at_msg, past, column) in cases {
        let (a, p) = on_tiny_stack(move || (parse_err(&at), parse_err(&past)));
        assert_eq!(a, at_msg);
        assert_eq!(p, too_deep(column));
    }
}

/// Openers repeated around the bound and far past it, closers, and the usual atoms.
fn deep_piece() -> impl Strategy<Value = String> {
    let opener = prop_oneof![
        Just("a { "),
        Just("x = ["),
        Just("["),
        Just("{ "),
        Just("k "),
        Just("\"k\" "),
        Just("x = { "),
        Just("[{ a = "),
        Just("path \"a\" { "),
        Just("}"),
        Just("]"),
        Just(" }]"),
        Just(", "),
    ];
    let count = prop_oneof![1usize..4, 90usize..110, 1_000usize..2_000];
    prop_oneof![
        3 => (opener, count).prop_map(|(s, n)| s.repeat(n)),
        1 => atom(),
    ]
}

fn deep_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(deep_piece(), 1..8),
        proptest::collection::vec(edit(), 0..4),
    )
        .prop_map(|(pieces, edits)| mutate(&pieces.concat(), &edits))
}

/// What the reader makes of a deep text: never a panic or an overflow, and never anything
/// deeper than the bound, as a node or as JSON.
fn check_deep(text: &str) -> Result<(), String> {
    if let Ok(items) = super::hcl1::parse(text) {
        let depth = depth_of_items(&items);
        if depth > MAX_DEPTH {
            return Err(format!("{depth} levels built"));
        }
        for item in &items {
            let (_, value) = item.to_json_entry();
            if depth_of_json(&value) > MAX_DEPTH {
                return Err(format!("JSON {} deep", depth_of_json(&value)));
            }
        }
    }
    // A text that starts with `{` is a JSON policy, read by serde_json (see above).
    if !text.trim_start().starts_with('{') {
        write_policy(text)?;
    }
    Ok(())
}

#[test]
fn deep_and_mutated_hcl1_never_aborts_on_a_tiny_stack() {
    run_on_stack(TINY_STACK, 256, deep_text, |text| check_deep(text));
    let strategy = || {
        let seeds = seeds();
        (
            0..seeds.len(),
            proptest::collection::vec(edit(), 1..6),
            deep_piece(),
        )
            .prop_map(move |(i, edits, piece)| {
                let mut text = mutate(&seeds[i], &edits);
                let at = text.len() / 2;
                let at = (0..=at)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                text.insert_str(at, &piece);
                text
            })
    };
    run_on_stack(TINY_STACK, 256, strategy, |text| check_deep(text));
}

/// The conversion to JSON without recursion gives what a plain recursion gives, on deep and
/// mutated texts (compared on a large stack, for the recursion's sake).
#[test]
fn json_of_deep_texts_matches_a_plain_recursion() {
    run_on_stack(16 * 1024 * 1024, 256, deep_text, |text| {
        check_json_matches_recursion(text)
    });
}
