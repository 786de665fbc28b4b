//! No request body may abort the process (issue 8 §7): what decodes a `/v1` write's JSON
//! (`api::decode`) gets pathological, random and mutated bodies on a thread with a small
//! stack, and must answer each with a request or a 400.

use http::{HeaderMap, Method, Uri};
use proptest::prelude::*;

use super::api;
use crate::logical::Error;
use crate::policy::tests_fuzz::{on_small_stack, run_on_stack, SMALL_STACK};

fn decode_body(body: &[u8]) -> Result<(), String> {
    let uri: Uri = "/v1/secret/data/a".parse().expect("a valid URI");
    for method in [Method::POST, Method::PUT] {
        match api::decode(&method, &uri, &HeaderMap::new(), body, None) {
            Ok(_) | Err(Error::BadRequest(_)) => {}
            Err(other) => return Err(format!("not a 400: {other:?}")),
        }
    }
    Ok(())
}

#[test]
fn pathological_bodies_never_abort() {
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for n in [10usize, 127, 128, 129, 1_000, 100_000] {
        bodies.push(format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes());
        bodies.push("[".repeat(n).into_bytes());
        bodies.push(format!("{{\"a\": {}1{}}}", "{\"a\": ".repeat(n), "}".repeat(n)).into_bytes());
        bodies.push(format!("{{\"a\": {}}}", "{\"a\": ".repeat(n)).into_bytes());
        bodies.push(format!("{{\"a\": {}{}}}", "[{\"b\": ".repeat(n), "}]".repeat(n)).into_bytes());
        bodies.push(format!("{{\"a\": \"{}\"}}", "\\u00e9".repeat(n)).into_bytes());
        bodies.push(format!("{{\"a\": \"{}\"}}", "\\ud800".repeat(n)).into_bytes());
        bodies.push(format!("{{\"a\": {}}}", "9".repeat(n)).into_bytes());
        bodies.push(format!("{{\"a\": 1e{}}}", "9".repeat(n)).into_bytes());
        bodies.push(format!("{{{}\"z\": 1}}", "\"k\": 1, ".repeat(n)).into_bytes());
        bodies.push(format!("{{\"a\": [{}1]}}", "1,".repeat(n)).into_bytes());
    }
    bodies.push(vec![0xff, 0xfe, b'{']);
    bodies.push(b"{\"a\": \"\xc3\"}".to_vec());
    bodies.push(b"\xef\xbb\xbf{}".to_vec());
    bodies.push(b"{} {}".to_vec());
    bodies.push(b"null".to_vec());
    on_small_stack(move || {
        for body in &bodies {
            if let Err(e) = decode_body(body) {
                panic!("{e} for a body of {} bytes", body.len());
            }
        }
    });
}

fn json_atom() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(":".to_string()),
        Just(",".to_string()),
        Just("\"k\"".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\\u".to_string()),
        Just("\\ud83d\\ude00".to_string()),
        Just("\\udc00".to_string()),
        Just("1".to_string()),
        Just("-0.5e-400".to_string()),
        Just("1e400".to_string()),
        Just("18446744073709551616".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        Just(" ".to_string()),
        "\\PC{0,4}",
    ]
}

#[test]
fn random_bodies_never_abort() {
    run_on_stack(
        SMALL_STACK,
        512,
        || proptest::collection::vec(json_atom(), 0..80).prop_map(|v| v.concat()),
        |body| decode_body(body.as_bytes()),
    );
    run_on_stack(
        SMALL_STACK,
        256,
        || proptest::collection::vec(any::<u8>(), 0..200),
        |body| decode_body(body),
    );
}

#[test]
fn mutated_bodies_never_abort() {
    const SEED: &str = r#"{"policy": "path \"a\" { capabilities = [\"read\"] }", "data": {"k": [1, 2.5, true, null, {"x": "é"}]}, "options": {"cas": 0}}"#;
    let strategy = || {
        (
            proptest::collection::vec((any::<usize>(), json_atom()), 0..5),
            proptest::collection::vec((any::<usize>(), 1usize..6), 0..5),
        )
            .prop_map(|(inserts, deletes)| {
                let mut bytes = SEED.as_bytes().to_vec();
                for (at, n) in deletes {
                    let at = at % bytes.len().max(1);
                    let end = (at + n).min(bytes.len());
                    if at < end {
                        bytes.drain(at..end);
                    }
                }
                for (at, s) in inserts {
                    let at = at % (bytes.len() + 1);
                    bytes.splice(at..at, s.bytes());
                }
                bytes
            })
    };
    run_on_stack(SMALL_STACK, 512, strategy, |body| decode_body(body));
}
