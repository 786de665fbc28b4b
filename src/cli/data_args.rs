//! The data words of `write`, `kv put` and `kv patch`, read as the Vault CLI reads them:
//! `K=V`; `K=@FILE` (the file's text); `K=-` (standard input's text); `K=\@x` for a value that
//! starts with `@`; a lone `-` or `@FILE` for a whole JSON object. A key given twice becomes a
//! list, as in Vault.

use std::io::Read;

use serde_json::{Map, Value as Json};

use super::CliError;

/// Builds the JSON object from the words; `stdin` is read at most once.
pub fn parse(words: &[String], stdin: &mut dyn Read) -> Result<Map<String, Json>, CliError> {
    let mut out = Map::new();
    let mut stdin_used = false;
    let mut take_stdin = |what: &str| -> Result<String, CliError> {
        if stdin_used {
            return Err(failed(format!(
                "standard input given twice ({what}): it can be read only once"
            )));
        }
        stdin_used = true;
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .map_err(|e| failed(format!("reading standard input: {e}")))?;
        Ok(text)
    };
    for word in words {
        if word == "-" {
            merge_object(&mut out, &take_stdin("-")?, "standard input")?;
            continue;
        }
        if let Some(file) = word.strip_prefix('@') {
            merge_object(&mut out, &read_file(file)?, file)?;
            continue;
        }
        let Some((key, value)) = word.split_once('=') else {
            return Err(failed(format!("format must be key=value, got {word:?}")));
        };
        if key.is_empty() {
            return Err(failed(format!("a key is empty in {word:?}")));
        }
        let value = if let Some(file) = value.strip_prefix('@') {
            read_file(file)?
        } else if let Some(literal) = value.strip_prefix("\\@") {
            format!("@{literal}")
        } else if value == "-" {
            take_stdin(key)?
        } else {
            value.to_string()
        };
        add(&mut out, key, Json::String(value));
    }
    Ok(out)
}

/// Vault's kvbuilder: a repeated key collects its values into a list.
fn add(out: &mut Map<String, Json>, key: &str, value: Json) {
    match out.get_mut(key) {
        None => {
            out.insert(key.to_string(), value);
        }
        Some(Json::Array(list)) => list.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Json::Array(vec![first, value]);
        }
    }
}

fn merge_object(out: &mut Map<String, Json>, text: &str, source: &str) -> Result<(), CliError> {
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(map)) => {
            out.extend(map);
            Ok(())
        }
        Ok(_) => Err(failed(format!("{source}: expected a JSON object"))),
        Err(e) => Err(failed(format!("{source}: invalid JSON: {e}"))),
    }
}

fn read_file(path: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| failed(format!("error reading {path}: {e}")))
}

fn failed(problem: String) -> CliError {
    CliError::Local(format!("Failed to parse K=V data: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pairs_files_stdin_and_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pem");
        std::fs::write(&file, "line1\nline2\n").unwrap();
        let mut stdin = "from stdin".as_bytes();
        let got = parse(
            &words(&[
                "a=1",
                "b=x=y",
                &format!("c=@{}", file.display()),
                "d=-",
                "e=\\@home",
                "a=2",
                "f=",
            ]),
            &mut stdin,
        )
        .unwrap();
        assert_eq!(
            Json::Object(got),
            serde_json::json!({
                "a": ["1", "2"], "b": "x=y", "c": "line1\nline2\n", "d": "from stdin",
                "e": "@home", "f": ""
            })
        );
    }

    #[test]
    fn a_whole_json_object_from_stdin_or_a_file() {
        let mut stdin = r#"{"n": 1, "s": "t"}"#.as_bytes();
        let got = parse(&words(&["-", "x=y"]), &mut stdin).unwrap();
        assert_eq!(
            Json::Object(got),
            serde_json::json!({"n": 1, "s": "t", "x": "y"})
        );
    }

    #[test]
    fn bad_words_are_refused() {
        let mut empty = "".as_bytes();
        for bad in [&["novalue"][..], &["=v"], &["-"], &["@/does/not/exist"]] {
            let err = parse(&words(bad), &mut empty).unwrap_err();
            assert!(
                err.to_string().starts_with("Failed to parse K=V data"),
                "{bad:?}: {err}"
            );
        }
        let mut stdin = "[1]".as_bytes();
        assert!(parse(&words(&["-"]), &mut stdin).is_err(), "not an object");
        let mut stdin = "x".as_bytes();
        let err = parse(&words(&["a=-", "b=-"]), &mut stdin).unwrap_err();
        assert!(err.to_string().contains("only once"), "{err}");
    }
}
