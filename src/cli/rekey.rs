//! `mainkey operator rekey`: a thin client of `sys/rekey/init` and `sys/rekey/update`, with
//! the bao CLI's flags, output and exit codes.

use std::io::{IsTerminal, Read};

use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use super::args::{OutputFormat, RekeyArgs};
use super::client::Client;
use super::operator::{decode, read_unseal_key};
use super::output;
use super::status::connect;
use super::{request_error, CliError, Outcome};

/// `sys/rekey/init` as the bao CLI prints it with `-format=json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct RekeyStatus {
    #[serde(default)]
    pub nonce: String,
    #[serde(default)]
    pub started: bool,
    #[serde(default)]
    pub t: u32,
    #[serde(default)]
    pub n: u32,
    #[serde(default)]
    pub progress: u32,
    #[serde(default)]
    pub required: u32,
    #[serde(default)]
    pub pgp_fingerprints: Option<Vec<String>>,
    #[serde(default)]
    pub backup: bool,
    #[serde(default)]
    pub verification_required: bool,
    #[serde(default)]
    pub verification_nonce: String,
}

/// The answer to the last `sys/rekey/update`. No `Debug`: it holds the new unseal keys.
#[derive(Deserialize, Serialize)]
pub struct RekeyDone {
    pub nonce: String,
    pub complete: bool,
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub keys_base64: Vec<String>,
    #[serde(default)]
    pub pgp_fingerprints: Option<Vec<String>>,
    #[serde(default)]
    pub backup: bool,
    #[serde(default)]
    pub verification_required: bool,
}

pub fn run(args: &RekeyArgs) -> Result<Outcome, CliError> {
    let format = args.output.format;
    if args.cancel {
        const CONTEXT: &str = "Error canceling rekey";
        let client = connect(&args.client, CONTEXT)?;
        client
            .delete("sys/rekey/init")
            .map_err(request_error(CONTEXT))?;
        println!("Success! Canceled rekeying (if it was started)");
        return Ok(Outcome::Done);
    }
    if args.init {
        const CONTEXT: &str = "Error initializing rekey";
        let client = connect(&args.client, CONTEXT)?;
        let request = json!({
            "secret_shares": args.key_shares,
            "secret_threshold": args.key_threshold,
        });
        let body = client
            .put("sys/rekey/init", Some(&request))
            .map_err(request_error(CONTEXT))?;
        let status: RekeyStatus = decode(&client.url("sys/rekey/init"), "PUT", body, CONTEXT)?;
        print!("{}", render_status(&status, format));
        return Ok(Outcome::Done);
    }
    if args.status {
        let client = connect(&args.client, "Error reading rekey status")?;
        let status = status(&client, "Error reading rekey status")?;
        print!("{}", render_status(&status, format));
        return Ok(Outcome::Done);
    }
    provide(args)
}

fn status(client: &Client, context: &'static str) -> Result<RekeyStatus, CliError> {
    let body = client
        .get("sys/rekey/init")
        .map_err(request_error(context))?;
    decode(&client.url("sys/rekey/init"), "GET", body, context)
}

/// Gives one key; prints the progress, or the new keys once the rekey is done.
fn provide(args: &RekeyArgs) -> Result<Outcome, CliError> {
    const STATUS: &str = "Error getting rekey status";
    let client = connect(&args.client, STATUS)?;
    let before = status(&client, STATUS)?;
    if !before.started {
        return Err(CliError::Local(wrap(
            "No rekey is in progress. Start a rekey process by running \"mainkey operator \
             rekey -init\".",
        )));
    }
    let (key, nonce) = key_and_nonce(
        args.key.as_deref(),
        &args.nonce,
        &before.nonce,
        "Rekey operation nonce",
    )?;
    const CONTEXT: &str = "Error posting unseal key";
    let body = client
        .put(
            "sys/rekey/update",
            Some(&json!({"key": key.as_str(), "nonce": nonce})),
        )
        .map_err(request_error(CONTEXT))?;
    let complete = body
        .as_ref()
        .and_then(|b| b.get("complete"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if !complete {
        let now = status(&client, "Error reading rekey status")?;
        print!("{}", render_status(&now, args.output.format));
        return Ok(Outcome::Done);
    }
    let done: RekeyDone = decode(&client.url("sys/rekey/update"), "PUT", body, CONTEXT)?;
    print!("{}", render_done(&done, &before, args.output.format));
    Ok(Outcome::Done)
}

/// The key from the argument (`-` for standard input) or a prompt, and the nonce: from
/// `-nonce`, or from the status when the key was asked for, as the bao CLI does.
pub(crate) fn key_and_nonce(
    key: Option<&str>,
    flag_nonce: &str,
    status_nonce: &str,
    label: &str,
) -> Result<(Zeroizing<String>, String), CliError> {
    let (key, nonce) = match key {
        Some("-") => {
            let mut text = Zeroizing::new(String::new());
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Local(format!("Failed to read from stdin: {e}")))?;
            (text, flag_nonce.to_string())
        }
        None | Some("") => {
            if std::io::stdin().is_terminal() {
                eprintln!("{label}: {status_nonce}");
            }
            (Zeroizing::new(read_unseal_key()?), status_nonce.to_string())
        }
        Some(given) => (Zeroizing::new(given.to_string()), flag_nonce.to_string()),
    };
    if nonce.is_empty() {
        return Err(CliError::Local(
            "Missing nonce value: specify it via the -nonce flag".into(),
        ));
    }
    Ok((Zeroizing::new(key.trim().to_string()), nonce))
}

pub fn render_status(status: &RekeyStatus, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => output::json(status),
        OutputFormat::Table => {
            let nonce = if status.nonce.is_empty() {
                "n/a".to_string()
            } else {
                status.nonce.clone()
            };
            let mut rows = vec![
                ("Nonce".to_string(), nonce),
                ("Started".to_string(), status.started.to_string()),
            ];
            if status.started {
                rows.push((
                    "Progress".to_string(),
                    format!("{}/{}", status.progress, status.required),
                ));
                rows.push(("New Shares".to_string(), status.n.to_string()));
                rows.push(("New Threshold".to_string(), status.t.to_string()));
                rows.push((
                    "Verification Required".to_string(),
                    status.verification_required.to_string(),
                ));
            }
            output::key_value_table(&rows)
        }
    }
}

/// The new keys: base64 as the bao CLI shows them (hex when the server sent no base64).
pub fn render_done(done: &RekeyDone, before: &RekeyStatus, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => output::json(done),
        OutputFormat::Table => {
            let keys = if done.keys_base64.len() == done.keys.len() {
                &done.keys_base64
            } else {
                &done.keys
            };
            let mut out = String::from("\n");
            for (i, key) in keys.iter().enumerate() {
                out.push_str(&format!("Key {}: {key}\n", i + 1));
            }
            out.push_str(&format!("\nOperation nonce: {}\n\n", done.nonce));
            out.push_str(&wrap(&format!(
                "mainkey unseal keys rekeyed to {} key shares and a key threshold of {}. \
                 Please securely distribute the key shares printed above. When mainkey is \
                 re-sealed, restarted, or stopped, you must supply at least {} of these keys \
                 to unseal it before it can start servicing requests.",
                before.n, before.t, before.t
            )));
            out.push('\n');
            out
        }
    }
}

/// Wraps text at 80 columns, as the Vault CLI's messages are.
pub(crate) fn wrap(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > 80 {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> RekeyStatus {
        RekeyStatus {
            nonce: "n-1".into(),
            started: true,
            t: 2,
            n: 3,
            progress: 1,
            required: 3,
            ..RekeyStatus::default()
        }
    }

    #[test]
    fn status_tables_match_bao() {
        assert_eq!(
            render_status(&RekeyStatus::default(), OutputFormat::Table),
            "Key        Value\n---        -----\nNonce      n/a\nStarted    false\n"
        );
        assert_eq!(
            render_status(&started(), OutputFormat::Table),
            "Key                      Value\n---                      -----\n\
             Nonce                    n-1\nStarted                  true\n\
             Progress                 1/3\nNew Shares               3\n\
             New Threshold            2\nVerification Required    false\n"
        );
    }

    #[test]
    fn status_json_has_the_bao_fields() {
        let out: serde_json::Value =
            serde_json::from_str(&render_status(&started(), OutputFormat::Json)).unwrap();
        assert_eq!(
            out,
            json!({"nonce": "n-1", "started": true, "t": 2, "n": 3, "progress": 1,
                   "required": 3, "pgp_fingerprints": null, "backup": false,
                   "verification_required": false, "verification_nonce": ""})
        );
    }

    #[test]
    fn the_new_keys_are_listed_in_base64_with_the_nonce() {
        let done = RekeyDone {
            nonce: "n-1".into(),
            complete: true,
            keys: vec!["aa".into(), "bb".into()],
            keys_base64: vec!["qg==".into(), "uw==".into()],
            pgp_fingerprints: None,
            backup: false,
            verification_required: false,
        };
        let out = render_done(&done, &started(), OutputFormat::Table);
        assert!(
            out.starts_with("\nKey 1: qg==\nKey 2: uw==\n\nOperation nonce: n-1\n\n"),
            "{out}"
        );
        assert!(
            out.contains("3 key shares and a key threshold of 2."),
            "{out}"
        );
        assert!(out.lines().all(|l| l.len() <= 80), "{out}");
    }

    #[test]
    fn a_key_needs_a_nonce() {
        let err = key_and_nonce(Some("abc"), "", "n-1", "x").err().unwrap();
        assert_eq!(
            err.to_string(),
            "Missing nonce value: specify it via the -nonce flag"
        );
        let (key, nonce) = key_and_nonce(Some(" abc "), "n-2", "n-1", "x").unwrap();
        assert_eq!((key.as_str(), nonce.as_str()), ("abc", "n-2"));
    }
}
