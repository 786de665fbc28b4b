//! `mainkey operator generate-root`: a thin client of `sys/generate-root/attempt` and
//! `sys/generate-root/update`, with the bao CLI's flags, output and exit codes. `-decode`
//! runs locally: the encoding is the token XOR the one-time password, in base64.

use std::io::Read;

use rand::distributions::Alphanumeric;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::args::{GenerateRootArgs, OutputFormat};
use super::client::Client;
use super::operator::decode;
use super::output;
use super::rekey::{key_and_nonce, wrap};
use super::status::connect;
use super::{request_error, CliError, Outcome};
use crate::core::{decode_token, OTP_LEN};

/// `sys/generate-root/*` as the bao CLI prints it with `-format=json`. No `Debug`: it may
/// hold the one-time password or the encoded token.
#[derive(Default, Deserialize, Serialize)]
pub struct RootStatus {
    #[serde(default)]
    pub nonce: String,
    #[serde(default)]
    pub started: bool,
    #[serde(default)]
    pub progress: u32,
    #[serde(default)]
    pub required: u32,
    #[serde(default)]
    pub complete: bool,
    #[serde(default)]
    pub encoded_token: String,
    #[serde(default)]
    pub encoded_root_token: String,
    #[serde(default)]
    pub pgp_fingerprint: String,
    #[serde(default)]
    pub otp: String,
    #[serde(default)]
    pub otp_length: u32,
}

pub fn run(args: &GenerateRootArgs) -> Result<Outcome, CliError> {
    let format = args.output.format;
    if args.generate_otp {
        let otp: String = rand::rngs::OsRng
            .sample_iter(&Alphanumeric)
            .take(OTP_LEN)
            .map(char::from)
            .collect();
        match format {
            OutputFormat::Table => println!("{otp}"),
            OutputFormat::Json => {
                print!(
                    "{}",
                    output::json(&json!({"otp": otp, "otp_length": otp.len()}))
                )
            }
        }
        return Ok(Outcome::Done);
    }
    if !args.decode.is_empty() {
        return decode_command(args);
    }
    if args.cancel {
        const CONTEXT: &str = "Error canceling root token generation";
        let client = connect(&args.client, CONTEXT)?;
        client
            .delete("sys/generate-root/attempt")
            .map_err(request_error(CONTEXT))?;
        println!("Success! Root token generation canceled (if it was started)");
        return Ok(Outcome::Done);
    }
    if args.init {
        const CONTEXT: &str = "Error initializing root generation";
        let client = connect(&args.client, CONTEXT)?;
        let request = json!({"otp": args.otp, "pgp_key": ""});
        let body = client
            .put("sys/generate-root/attempt", Some(&request))
            .map_err(request_error(CONTEXT))?;
        let status: RootStatus = decode(
            &client.url("sys/generate-root/attempt"),
            "PUT",
            body,
            CONTEXT,
        )?;
        print_status(&status, format);
        return Ok(Outcome::Done);
    }
    const STATUS: &str = "Error getting root generation status";
    let client = connect(&args.client, STATUS)?;
    let status = status(&client, STATUS)?;
    if args.status {
        print_status(&status, format);
        return Ok(Outcome::Done);
    }
    if !status.started {
        eprintln!(
            "{}",
            wrap(&format!(
                "If starting root generation using the OTP method and generating your own \
                 OTP, the length of the OTP string needs to be {} characters in length.",
                status.otp_length
            ))
        );
        return Err(CliError::Local(wrap(
            "No root generation is in progress. Start a root generation by running \
             \"mainkey operator generate-root -init\".",
        )));
    }
    let (key, nonce) = key_and_nonce(
        args.key.as_deref(),
        &args.nonce,
        &status.nonce,
        "Operation nonce",
    )?;
    const CONTEXT: &str = "Error posting unseal key";
    let body = client
        .put(
            "sys/generate-root/update",
            Some(&json!({"key": key.as_str(), "nonce": nonce})),
        )
        .map_err(request_error(CONTEXT))?;
    let update: RootStatus = decode(
        &client.url("sys/generate-root/update"),
        "PUT",
        body,
        CONTEXT,
    )?;
    print_status(&update, format);
    Ok(Outcome::Done)
}

fn status(client: &Client, context: &'static str) -> Result<RootStatus, CliError> {
    let body = client
        .get("sys/generate-root/attempt")
        .map_err(request_error(context))?;
    decode(
        &client.url("sys/generate-root/attempt"),
        "GET",
        body,
        context,
    )
}

fn decode_command(args: &GenerateRootArgs) -> Result<Outcome, CliError> {
    if args.otp.is_empty() {
        return Err(CliError::Local("Missing otp: use -otp to supply it".into()));
    }
    let encoded = if args.decode == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Local(format!("Failed to read from stdin: {e}")))?;
        if text.trim().is_empty() {
            return Err(CliError::Local(
                "Missing encoded value. When using -decode=\"-\" value must be passed via stdin."
                    .into(),
            ));
        }
        text
    } else {
        args.decode.clone()
    };
    let token = decode_token(&encoded, args.otp.trim())
        .map_err(|e| CliError::Local(format!("Error decoding root token: {e}")))?;
    match args.output.format {
        OutputFormat::Table => println!("{}", token.as_str()),
        OutputFormat::Json => print!("{}", output::json(&json!({"token": token.as_str()}))),
    }
    Ok(Outcome::Done)
}

fn print_status(status: &RootStatus, format: OutputFormat) {
    if format == OutputFormat::Table && !status.otp.is_empty() {
        eprintln!(
            "{}",
            wrap(
                "A One-Time-Password has been generated for you and is shown in the OTP \
                 field. You will need this value to decode the resulting root token, so keep \
                 it safe."
            )
        );
    }
    print!("{}", render_status(status, format));
}

pub fn render_status(status: &RootStatus, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => output::json(status),
        OutputFormat::Table => {
            let mut rows = vec![
                ("Nonce".to_string(), status.nonce.clone()),
                ("Started".to_string(), status.started.to_string()),
                (
                    "Progress".to_string(),
                    format!("{}/{}", status.progress, status.required),
                ),
                ("Complete".to_string(), status.complete.to_string()),
            ];
            if !status.pgp_fingerprint.is_empty() {
                rows.push((
                    "PGP Fingerprint".to_string(),
                    status.pgp_fingerprint.clone(),
                ));
            }
            if !status.encoded_token.is_empty() {
                rows.push(("Encoded Token".to_string(), status.encoded_token.clone()));
            } else if !status.encoded_root_token.is_empty() {
                rows.push((
                    "Encoded Root Token".to_string(),
                    status.encoded_root_token.clone(),
                ));
            }
            if !status.otp.is_empty() {
                rows.push(("OTP".to_string(), status.otp.clone()));
            }
            if status.otp_length != 0 {
                rows.push(("OTP Length".to_string(), status.otp_length.to_string()));
            }
            output::columns(&rows)
                .lines()
                .map(|l| format!("{}\n", l.trim_end()))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_attempt_shows_its_pad_once() {
        let status = RootStatus {
            nonce: "n-1".into(),
            started: true,
            required: 3,
            otp: "abc".into(),
            otp_length: 26,
            ..RootStatus::default()
        };
        assert_eq!(
            render_status(&status, OutputFormat::Table),
            "Nonce         n-1\nStarted       true\nProgress      0/3\nComplete      false\n\
             OTP           abc\nOTP Length    26\n"
        );
    }

    #[test]
    fn a_finished_attempt_shows_the_encoded_token() {
        let status = RootStatus {
            nonce: "n-1".into(),
            started: true,
            progress: 3,
            required: 3,
            complete: true,
            encoded_token: "ZZZ".into(),
            encoded_root_token: "ZZZ".into(),
            ..RootStatus::default()
        };
        let out = render_status(&status, OutputFormat::Table);
        assert!(out.contains("Encoded Token    ZZZ\n"), "{out}");
        assert!(!out.contains("Encoded Root Token"), "{out}");
        let json: serde_json::Value =
            serde_json::from_str(&render_status(&status, OutputFormat::Json)).unwrap();
        assert_eq!(
            json,
            json!({"nonce": "n-1", "started": true, "progress": 3, "required": 3,
                   "complete": true, "encoded_token": "ZZZ", "encoded_root_token": "ZZZ",
                   "pgp_fingerprint": "", "otp": "", "otp_length": 0})
        );
    }
}
