//! The one check every `/v1` path passes before it reaches the ACL or the router.
//!
//! The ACL matches policies against the path and the router picks a backend by it, so both must
//! see the same, unambiguous string. A path that could mean two things (`a/../b` or `a/b`, `a%2Fb`
//! or `a/b`) is rejected here rather than normalised, because normalising in one place and not the
//! other is exactly how ACL bypasses happen.
//!
//! Invariants of an accepted path (a proptest below holds us to them):
//! - it is the percent-decoded form of what the client sent, as valid UTF-8;
//! - no segment is empty, `.` or `..`, with one exception: a single trailing `/`, which LIST uses;
//! - it contains no control characters (C0, DEL, C1), whether they came raw or percent-encoded;
//! - each decoded segment came from exactly one raw segment: an encoded `/` is never accepted.

use thiserror::Error as ThisError;

/// Why a path was rejected. Every variant is a 400; the message never echoes raw control bytes.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum PathError {
    #[error("invalid request path: empty path segment")]
    EmptySegment,
    #[error("invalid request path: '.' and '..' segments are not allowed")]
    DotSegment,
    #[error("invalid request path: an encoded '/' inside a path segment is not allowed")]
    EncodedSlash,
    #[error("invalid request path: non-printable character")]
    NonPrintable,
    #[error("invalid request path: malformed percent-encoding")]
    BadEscape,
    #[error("invalid request path: not valid UTF-8 once decoded")]
    NotUtf8,
    #[error("invalid request path: a '\\' (raw or encoded) is not allowed")]
    Backslash,
    #[error("invalid request path: must start with '/'")]
    NotAbsolute,
    #[error("invalid request path: a fragment ('#') is not allowed")]
    Fragment,
}

/// A request URI that a proxy forwarded for a check (`X-Forwarded-Uri`), once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedPath {
    /// The decoded path, with its leading `/`.
    pub path: String,
}

/// Checks the path of a forwarded request URI (`/t/acme/orders?x=1`) by the same rules as a
/// `/v1` path, and also refuses a backslash (which some upstreams read as `/`) and a
/// fragment: the route is chosen and the tenant read from exactly what the upstream will see.
/// The query is not part of the decision and is not checked.
pub fn check_forwarded(uri: &str) -> Result<ForwardedPath, PathError> {
    let path = uri.split_once('?').map_or(uri, |(p, _)| p);
    if path.contains('#') {
        return Err(PathError::Fragment);
    }
    let rest = path.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    let lowered = rest.to_ascii_lowercase();
    if rest.contains('\\') || lowered.contains("%5c") {
        return Err(PathError::Backslash);
    }
    let decoded = check(rest)?;
    if decoded.contains('#') {
        return Err(PathError::Fragment);
    }
    Ok(ForwardedPath {
        path: format!("/{decoded}"),
    })
}

/// Checks a raw (still percent-encoded) path, relative to `/v1/`, and returns its decoded form.
///
/// `raw` is what follows `/v1/` in the request target, without the query. An empty path is
/// accepted as empty (the router answers it with 404), and so is a lone trailing `/` after a
/// non-empty path (`secret/metadata/` for LIST).
pub fn check(raw: &str) -> Result<String, PathError> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    // Only printable ASCII may appear unencoded: anything else is either a control character or
    // a byte that a client should have encoded, and accepting it would give two spellings of one
    // path.
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PathError::NonPrintable);
    }

    let (body, trailing_slash) = match raw.strip_suffix('/') {
        Some(rest) => (rest, true),
        None => (raw, false),
    };
    // `/v1//x` and `/v1/x//` both leave an empty segment here, which the loop rejects.
    let mut out = String::with_capacity(raw.len());
    for (i, segment) in body.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&check_segment(segment)?);
    }
    if trailing_slash {
        out.push('/');
    }
    Ok(out)
}

/// Decodes one raw segment and applies the per-segment rules to the decoded text, so that
/// `%2e%2e`, `.%2E` and `..` are all the same `..`.
fn check_segment(raw: &str) -> Result<String, PathError> {
    if raw.is_empty() {
        return Err(PathError::EmptySegment);
    }
    let bytes = percent_decode_strict(raw)?;
    let decoded = String::from_utf8(bytes).map_err(|_| PathError::NotUtf8)?;
    if decoded.contains('/') {
        return Err(PathError::EncodedSlash);
    }
    if decoded.chars().any(char::is_control) {
        return Err(PathError::NonPrintable);
    }
    if decoded == "." || decoded == ".." {
        return Err(PathError::DotSegment);
    }
    Ok(decoded)
}

/// Percent-decodes, rejecting a `%` that is not followed by two hex digits. The
/// `percent-encoding` crate passes such a `%` through unchanged, which would make `%zz` and
/// `%25zz` the same path.
fn percent_decode_strict(raw: &str) -> Result<Vec<u8>, PathError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
            let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(PathError::BadEscape),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forwarded_uris_are_checked_like_v1_paths() {
        let ok = |uri: &str| check_forwarded(uri).map(|p| p.path);
        assert_eq!(
            ok("/t/acme/orders?x=%2F&y=..").as_deref(),
            Ok("/t/acme/orders")
        );
        assert_eq!(ok("/").as_deref(), Ok("/"));
        assert_eq!(ok("/t/ac%6De/").as_deref(), Ok("/t/acme/"));
        for (uri, want) in [
            ("/t/acme/..%2fglobex", PathError::EncodedSlash),
            ("/t/acme%2Fx", PathError::EncodedSlash),
            ("//t/acme", PathError::EmptySegment),
            ("/t//acme", PathError::EmptySegment),
            ("/t/%2e%2e/globex", PathError::DotSegment),
            ("/t/acme/../globex", PathError::DotSegment),
            ("/t/./acme", PathError::DotSegment),
            ("/t/acme%5cx", PathError::Backslash),
            ("/t/acme\\x", PathError::Backslash),
            ("/t/acme%00", PathError::NonPrintable),
            ("/t/acme#frag", PathError::Fragment),
            ("/t/acme%23frag", PathError::Fragment),
            ("t/acme", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ] {
            assert_eq!(check_forwarded(uri), Err(want), "{uri}");
        }
    }

    #[test]
    fn accepts_ordinary_paths() {
        assert_eq!(check("secret/data/foo").as_deref(), Ok("secret/data/foo"));
        assert_eq!(check("sys/health").as_deref(), Ok("sys/health"));
        assert_eq!(check("a").as_deref(), Ok("a"));
        assert_eq!(check("").as_deref(), Ok(""));
    }

    #[test]
    fn accepts_one_trailing_slash() {
        assert_eq!(check("secret/metadata/").as_deref(), Ok("secret/metadata/"));
        assert_eq!(check("secret/").as_deref(), Ok("secret/"));
    }

    #[test]
    fn decodes_the_rest() {
        assert_eq!(check("a%20b/c").as_deref(), Ok("a b/c"));
        assert_eq!(check("caf%C3%A9").as_deref(), Ok("café"));
        // A literal `%` stays a literal: it is never decoded twice.
        assert_eq!(check("a%252e%252e").as_deref(), Ok("a%2e%2e"));
        // Dots inside a name are not traversal.
        assert_eq!(check("a..b/.c/d.").as_deref(), Ok("a..b/.c/d."));
        assert_eq!(check("a+b").as_deref(), Ok("a+b"));
    }

    #[test]
    fn rejects_dot_segments_raw_and_encoded() {
        for p in [
            "..",
            ".",
            "a/..",
            "a/../b",
            "./a",
            "a/./b",
            "a/../",
            "%2e%2e/a",
            "a/%2E%2E/b",
            "a/.%2e/b",
            "a/%2e./b",
            "a/%2E",
            "a/%2e/",
        ] {
            assert_eq!(check(p), Err(PathError::DotSegment), "{p}");
        }
    }

    #[test]
    fn rejects_empty_segments() {
        for p in ["/a", "a//b", "a//", "//", "/", "a/b//"] {
            assert_eq!(check(p), Err(PathError::EmptySegment), "{p}");
        }
    }

    #[test]
    fn rejects_encoded_slash() {
        for p in ["a%2Fb", "a%2fb", "%2F", "a/%2F/b", "%2e%2e%2fetc"] {
            assert_eq!(check(p), Err(PathError::EncodedSlash), "{p}");
        }
    }

    #[test]
    fn rejects_non_printable_raw_and_encoded() {
        for p in [
            "a\0b", "a%00b", "a%0a", "a%0D%0A", "a%7F", "a\tb", "a b", "a%C2%85", "a\u{e9}",
        ] {
            assert_eq!(check(p), Err(PathError::NonPrintable), "{p:?}");
        }
    }

    #[test]
    fn rejects_bad_escapes_and_bad_utf8() {
        for p in ["a%", "a%2", "a%zz", "%g0"] {
            assert_eq!(check(p), Err(PathError::BadEscape), "{p}");
        }
        assert_eq!(check("a%ff"), Err(PathError::NotUtf8));
        assert_eq!(check("a%C3"), Err(PathError::NotUtf8));
    }

    /// Segments built from the characters that matter: dots, slashes, `%`, hex digits, letters.
    fn raw_path() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just(".".to_string()),
            Just("/".to_string()),
            Just("%2e".to_string()),
            Just("%2E".to_string()),
            Just("%2f".to_string()),
            Just("%2F".to_string()),
            Just("%25".to_string()),
            Just("%00".to_string()),
            Just("%0a".to_string()),
            Just("%".to_string()),
            Just("a".to_string()),
            Just("2".to_string()),
            Just("e".to_string()),
            Just("\0".to_string()),
            any::<char>().prop_map(|c| c.to_string()),
            (0u8..=255).prop_map(|b| format!("%{b:02X}")),
        ];
        proptest::collection::vec(atom, 0..16).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn accepted_paths_are_unambiguous(raw in raw_path()) {
            if let Ok(path) = check(&raw) {
                prop_assert!(!path.chars().any(char::is_control));
                prop_assert!(!path.contains("//"));
                prop_assert!(!path.starts_with('/'));
                let body = path.strip_suffix('/').unwrap_or(&path);
                if !path.is_empty() {
                    for segment in body.split('/') {
                        prop_assert!(!segment.is_empty());
                        prop_assert!(segment != "." && segment != "..");
                    }
                }
                // One raw segment per decoded segment: no encoded `/` slipped through.
                prop_assert_eq!(path.matches('/').count(), raw.matches('/').count());
            }
        }

        #[test]
        fn encoding_a_dot_segment_never_helps(prefix in "[a-z]{1,5}", dots in prop_oneof![
            Just("."), Just(".."), Just("%2e"), Just("%2E%2e"), Just(".%2E"), Just("%2e.")
        ]) {
            let raw = format!("{prefix}/{dots}/x");
            prop_assert_eq!(check(&raw), Err(PathError::DotSegment));
        }
    }

    /// No path may abort the process (issue 8 §7): huge, deeply repeated and arbitrary ones,
    /// checked on a thread with a small stack.
    #[test]
    fn pathological_paths_never_abort() {
        crate::policy::tests_fuzz::on_small_stack(|| {
            for n in [1usize, 1_000, 100_000] {
                for piece in [
                    "a/", "../", "%2e%2e/", "%", "%2", "%25", "/", "%00", "é/", "%C3",
                ] {
                    let raw = piece.repeat(n);
                    if let Ok(path) = check(&raw) {
                        assert!(!path.contains("//"));
                    }
                }
            }
            let raw = format!("{}x", "%25".repeat(200_000));
            assert!(check(&raw).is_ok());
        });
    }

    proptest! {
        /// Arbitrary text, not only the interesting alphabet: never a panic, and whatever is
        /// accepted keeps the invariants.
        #[test]
        fn any_text_is_checked_without_panic(raw in "\\PC{0,64}") {
            if let Ok(path) = check(&raw) {
                prop_assert!(!path.chars().any(char::is_control));
                prop_assert!(!path.contains("//"));
                prop_assert_eq!(path.matches('/').count(), raw.matches('/').count());
            }
        }

        /// A mutated accepted path is still checked, and the check is idempotent on what it
        /// accepts when nothing in it needs encoding.
        #[test]
        fn mutated_paths_never_abort(
            base in prop_oneof![Just("secret/data/a"), Just("sys/policies/acl/x"), Just("auth/approle/login")],
            at in any::<usize>(),
            insert in raw_path(),
        ) {
            let mut chars: Vec<char> = base.chars().collect();
            let at = at % (chars.len() + 1);
            chars.splice(at..at, insert.chars());
            let raw: String = chars.into_iter().collect();
            if let Ok(path) = check(&raw) {
                // A decoded space or non-ASCII letter would have to be encoded again.
                if !path.contains('%') && path.bytes().all(|b| b.is_ascii_graphic()) {
                    prop_assert_eq!(check(&path), Ok(path.clone()));
                }
            }
        }
    }
}
