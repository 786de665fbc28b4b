//! `mainkey kv import|export`: a `.env` file to one KV secret and back.
//!
//! Reading is dotenvy's: `export` prefixes, comments, single quotes (literal), double quotes
//! (with `\n`, `\"` escapes), multi-line quoted values, and `$VAR` / `${VAR}` replaced from
//! earlier lines or the environment, as dotenv loaders do. Writing quotes every value so that
//! the same reader gives it back byte for byte. Values never appear in messages.

use std::io::Read;
use std::path::Path;

use serde_json::{json, Map, Value as Json};

use super::args_kv::{KvExportArgs, KvImportArgs};
use super::client::{absent_on_404, ClientError};
use super::kv::locate;
use super::status::connect;
use super::{request_error, CliError, Outcome};

/// The variables of a `.env` text, in file order; a later line wins over an earlier one.
pub fn parse(text: &str, source: &str) -> Result<Map<String, Json>, CliError> {
    let mut vars = Map::new();
    let mut last: Option<String> = None;
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((key, value)) => {
                vars.insert(key.clone(), Json::String(value));
                last = Some(key);
            }
            // dotenvy's error text quotes the line, which may hold a secret: say where only.
            Err(_) => {
                let place = match &last {
                    Some(key) => format!("the line after variable {key}"),
                    None => "the first variable".to_string(),
                };
                return Err(CliError::Local(format!(
                    "{source}: cannot parse {place} (its text is not shown)"
                )));
            }
        }
    }
    Ok(vars)
}

/// A key as dotenvy reads one: a letter or `_`, then letters, digits, `_` or `.`.
fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// One value, quoted for dotenvy: single-quoted runs (literal, newlines included), with each
/// `'` and `\` written outside the quotes as `\'` and `\\`. A `\` is kept outside because
/// dotenvy's line joiner treats `\'` inside single quotes as an escape while its value parser
/// does not.
fn quote(value: &str) -> String {
    let mut out = String::from("'");
    for c in value.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '\\' => out.push_str("'\\\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The `.env` text of a secret's data. Non-string values are written as their JSON text.
pub fn render(data: &Map<String, Json>) -> Result<String, CliError> {
    let bad: Vec<&str> = data
        .keys()
        .filter(|k| !valid_key(k))
        .map(String::as_str)
        .collect();
    if !bad.is_empty() {
        return Err(CliError::Local(format!(
            "these keys cannot be .env variable names: {}",
            bad.join(", ")
        )));
    }
    let mut out = String::new();
    for (key, value) in data {
        let text = match value {
            Json::String(s) => s.clone(),
            Json::Null => String::new(),
            other => other.to_string(),
        };
        out.push_str(key);
        out.push('=');
        out.push_str(&quote(&text));
        out.push('\n');
    }
    Ok(out)
}

fn read_source(file: &str) -> Result<String, CliError> {
    let mut text = String::new();
    let read = if file == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    read.map_err(|e| CliError::Local(format!("Error reading {file}: {e}")))?;
    Ok(text)
}

pub fn import(args: &KvImportArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error writing data";
    if args.force && args.cas.is_some() {
        return Err(CliError::Local("give -cas or -force, not both".into()));
    }
    let vars = parse(&read_source(&args.file)?, &args.file)?;
    if vars.is_empty() {
        return Err(CliError::Local(format!("{}: no variables", args.file)));
    }
    let count = vars.len();
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    let path = at.api_path("data");
    let exists_error = || {
        CliError::Local(format!(
            "Error writing data to {path}: a secret is already there; give -force to replace \
             it, or -cas=VERSION to replace that version"
        ))
    };
    let body = if at.v2 {
        // Without -force, check-and-set 0: the server writes only if nothing is there, so a
        // secret written meanwhile is not lost either.
        let cas = if args.force {
            None
        } else {
            Some(args.cas.unwrap_or(0))
        };
        let mut options = Map::new();
        if let Some(cas) = cas {
            options.insert("cas".into(), json!(cas));
        }
        json!({ "data": vars, "options": options })
    } else {
        if args.cas.is_some() {
            return Err(CliError::Local(
                "-cas needs a KV version 2 mount; use -force on version 1".into(),
            ));
        }
        if !args.force {
            let current = absent_on_404(client.get(&path)).map_err(request_error(CONTEXT))?;
            if current.is_some() {
                return Err(exists_error());
            }
        }
        Json::Object(vars)
    };
    let answer = match client.put(&path, Some(&body)) {
        Err(ClientError::Api {
            status: 400,
            errors: Some(errors),
            ..
        }) if args.cas.is_none() && errors.iter().any(|e| e.contains("check-and-set")) => {
            return Err(exists_error())
        }
        other => other.map_err(request_error(CONTEXT))?,
    };
    let version = answer
        .as_ref()
        .and_then(|a| a.get("data"))
        .and_then(|d| d.get("version"))
        .and_then(Json::as_u64);
    match version {
        Some(v) => println!("Success! Imported {count} variables into {path} (version {v})"),
        None => println!("Success! Imported {count} variables into {path}"),
    }
    Ok(Outcome::Done)
}

pub fn export(args: &KvExportArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error reading";
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    let path = at.api_path("data");
    let query = if at.v2 && args.version > 0 {
        format!("{path}?version={}", args.version)
    } else {
        path.clone()
    };
    let secret = absent_on_404(client.get(&query))
        .map_err(request_error(CONTEXT))?
        .ok_or_else(|| CliError::Failed(format!("No value found at {path}")))?;
    let data = secret.get("data");
    let data = if at.v2 {
        data.and_then(|d| d.get("data"))
    } else {
        data
    };
    let data = data
        .and_then(Json::as_object)
        .ok_or_else(|| CliError::Failed(format!("No data found at {path}")))?;
    let text = render(data)?;
    if args.file == "-" {
        print!("{text}");
        return Ok(Outcome::Done);
    }
    super::private_file::write(Path::new(&args.file), text.as_bytes(), args.force).map_err(
        |e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::Local(format!(
                "Error writing {}: it exists; give -force to replace it",
                args.file
            )),
            _ => CliError::Local(format!("Error writing {}: {e}", args.file)),
        },
    )?;
    println!(
        "Success! Wrote {} variables from {path} to {}",
        data.len(),
        args.file
    );
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_syntax_is_read() {
        let text = "# comment\nexport A=1\nB='single $HOME'\nC=\"double \\\"q\\\" x=y\"\n\
                    D=\"line1\nline2\"\nE=\nF=plain # trailing comment\nA=2\n";
        let vars = parse(text, "t.env").unwrap();
        assert_eq!(
            Json::Object(vars),
            json!({"A": "2", "B": "single $HOME", "C": "double \"q\" x=y",
                   "D": "line1\nline2", "E": "", "F": "plain"})
        );
    }

    #[test]
    fn a_parse_error_does_not_show_the_line() {
        let err = parse("OK=1\nBAD='s3cr3t-value\n", "t.env").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("after variable OK"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn rendered_values_read_back_exactly() {
        let tricky = [
            "plain",
            "",
            "it's",
            "back\\slash\\",
            "ends with quote'",
            "a=b=c",
            "$HOME ${PATH} $",
            "multi\nline\n",
            "crlf\r\nline",
            "  spaced  ",
            "# not a comment",
            "\"double\"",
            "ünïcødé ✓ 秘密",
            "\\'",
        ];
        let mut data = Map::new();
        for (i, value) in tricky.iter().enumerate() {
            data.insert(format!("K{i}"), json!(value));
        }
        data.insert("NUM".into(), json!(42));
        let text = render(&data).unwrap();
        let back = parse(&text, "rendered").unwrap();
        for (i, value) in tricky.iter().enumerate() {
            assert_eq!(
                back[&format!("K{i}")],
                json!(value),
                "value {value:?} in\n{text}"
            );
        }
        assert_eq!(back["NUM"], json!("42"));
    }

    #[test]
    fn keys_that_dotenv_cannot_read_are_refused() {
        let mut data = Map::new();
        data.insert("good_KEY.1".into(), json!("x"));
        data.insert("bad key".into(), json!("x"));
        data.insert("1st".into(), json!("x"));
        let err = render(&data).unwrap_err().to_string();
        assert!(err.contains("bad key") && err.contains("1st"), "{err}");
        assert!(!err.contains("good_KEY"), "{err}");
    }
}
