//! `mainkey operator init|unseal|seal|rotate`: thin clients of `sys/init`, `sys/unseal`,
//! `sys/seal`, `sys/rotate` and `sys/key-status`.

use std::io::{BufRead, IsTerminal, Write};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::args::{InitArgs, OutputFormat, RotateArgs, SealArgs, UnsealArgs};
use super::client::ClientError;
use super::output;
use super::status::{self, connect};
use super::{request_error, CliError, Outcome};

// ----- init -------------------------------------------------------------------------------------

/// The `sys/init` response. No `Debug`: it holds every unseal key and the root token.
#[derive(Deserialize)]
pub struct InitResponse {
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub keys_base64: Vec<String>,
    /// Under an auto seal: the recovery keys, and no unseal keys.
    #[serde(default)]
    pub recovery_keys: Vec<String>,
    #[serde(default)]
    pub recovery_keys_base64: Vec<String>,
    pub root_token: String,
}

impl InitResponse {
    fn is_recovery(&self) -> bool {
        !self.recovery_keys.is_empty() || !self.recovery_keys_base64.is_empty()
    }
}

/// The Vault CLI's `-format=json` shape of `operator init`.
#[derive(Serialize)]
struct InitJson<'a> {
    unseal_keys_b64: &'a [String],
    unseal_keys_hex: &'a [String],
    unseal_shares: u32,
    unseal_threshold: u32,
    recovery_keys_b64: Option<Vec<String>>,
    recovery_keys_hex: Option<Vec<String>>,
    recovery_keys_shares: u32,
    recovery_keys_threshold: u32,
    root_token: &'a str,
}

pub fn init(args: &InitArgs) -> Result<Outcome, CliError> {
    if args.status {
        return init_status(args);
    }
    const CONTEXT: &str = "Error initializing";
    let client = connect(&args.client, CONTEXT)?;
    // As the Vault CLI does: an auto-sealed server takes recovery shares, and refuses
    // unseal shares.
    let recovery_seal = client
        .get("sys/seal-status")
        .map_err(request_error(CONTEXT))?
        .as_ref()
        .and_then(|s| s.get("recovery_seal"))
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let (request, shares, threshold) = if recovery_seal {
        (
            json!({
                "recovery_shares": args.recovery_shares,
                "recovery_threshold": args.recovery_threshold,
            }),
            args.recovery_shares,
            args.recovery_threshold,
        )
    } else {
        (
            json!({
                "secret_shares": args.key_shares,
                "secret_threshold": args.key_threshold,
            }),
            args.key_shares,
            args.key_threshold,
        )
    };
    let body = client
        .put("sys/init", Some(&request))
        .map_err(request_error(CONTEXT))?;
    let response: InitResponse = decode(&client.url("sys/init"), "PUT", body, CONTEXT)?;
    print!(
        "{}",
        render_init(&response, shares, threshold, args.output.format)
    );
    Ok(Outcome::Done)
}

/// `-status`: exit 0 when initialised, 2 when not, like the Vault CLI.
fn init_status(args: &InitArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error checking initialization status";
    let client = connect(&args.client, CONTEXT)?;
    let body = client.get("sys/init").map_err(request_error(CONTEXT))?;
    let initialized = body
        .as_ref()
        .and_then(|b| b.get("initialized"))
        .and_then(Json::as_bool)
        .unwrap_or(false);
    if initialized {
        println!("Vault is initialized");
        Ok(Outcome::Done)
    } else {
        println!("Vault is not initialized");
        Ok(Outcome::NotInitialized)
    }
}

pub fn render_init(
    response: &InitResponse,
    shares: u32,
    threshold: u32,
    format: OutputFormat,
) -> String {
    let recovery = response.is_recovery();
    match format {
        OutputFormat::Json => {
            let (unseal, recovery_counts) = if recovery {
                ((0, 0), (shares, threshold))
            } else {
                ((shares, threshold), (0, 0))
            };
            output::json(&InitJson {
                unseal_keys_b64: &response.keys_base64,
                unseal_keys_hex: &response.keys,
                unseal_shares: unseal.0,
                unseal_threshold: unseal.1,
                recovery_keys_b64: recovery.then(|| response.recovery_keys_base64.clone()),
                recovery_keys_hex: recovery.then(|| response.recovery_keys.clone()),
                recovery_keys_shares: recovery_counts.0,
                recovery_keys_threshold: recovery_counts.1,
                root_token: &response.root_token,
            })
        }
        OutputFormat::Table => {
            // The base64 form is what the Vault CLI shows; older servers only send hex.
            let prefer = |b64: &'_ Vec<String>, hex: &'_ Vec<String>| {
                if b64.is_empty() {
                    hex.clone()
                } else {
                    b64.clone()
                }
            };
            let (label, keys) = if recovery {
                (
                    "Recovery Key",
                    prefer(&response.recovery_keys_base64, &response.recovery_keys),
                )
            } else {
                ("Unseal Key", prefer(&response.keys_base64, &response.keys))
            };
            let mut out = String::new();
            for (i, key) in keys.iter().enumerate() {
                out.push_str(&format!("{label} {}: {key}\n", i + 1));
            }
            out.push_str(&format!("\nInitial Root Token: {}\n", response.root_token));
            if recovery {
                out.push_str(&format!(
                    "\nmainkey initialized with {shares} recovery key shares and a key \
                     threshold of {threshold}.\nThe auto seal holds the root key, so the \
                     server unseals itself. The recovery\nkeys cannot decrypt anything; \
                     {threshold} of them unseal after a manual seal and\nauthorize root \
                     token generation. Give them to different trusted people.\n"
                ));
            } else {
                out.push_str(&format!(
                    "\nmainkey initialized with {shares} key shares and a key threshold of \
                     {threshold}.\nGive the key shares above to different trusted people. \
                     Whenever the server\nis sealed, restarted or stopped, {threshold} of them \
                     are needed to unseal it.\n\nThe root key is not stored anywhere: without \
                     {threshold} of these shares the\ndata stays sealed for good.\n"
                ));
            }
            out
        }
    }
}

// ----- unseal -----------------------------------------------------------------------------------

pub fn unseal(args: &UnsealArgs) -> Result<Outcome, CliError> {
    let context = if args.reset {
        "Error resetting unseal process"
    } else {
        "Error unsealing"
    };
    // Read the key before connecting, so that a bad environment does not waste a typed key,
    // and settings problems still come first for a `-reset`.
    let request = if args.reset {
        json!({ "reset": true })
    } else {
        let key = match &args.key {
            Some(key) => key.trim().to_string(),
            None => read_unseal_key()?,
        };
        if key.is_empty() {
            return Err(CliError::Local(
                "Error unsealing: no unseal key given".into(),
            ));
        }
        json!({ "key": key })
    };
    let client = connect(&args.client, context)?;
    let body = client
        .put("sys/unseal", Some(&request))
        .map_err(request_error(context))?;
    let seal_status = status::parse_seal_status(&client, "sys/unseal", body, context)?;
    let leader = status::leader(&client);
    print!(
        "{}",
        status::render(&seal_status, &leader, args.output.format)
    );
    Ok(Outcome::Done)
}

/// One line from standard input. On a terminal the typing is hidden with `stty -echo` (no
/// unsafe termios code needed); piped input is read as it is, for scripts.
pub(crate) fn read_unseal_key() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    let hidden = stdin.is_terminal() && set_echo(false);
    if stdin.is_terminal() {
        let note = if hidden {
            "will be hidden"
        } else {
            "will be visible"
        };
        eprint!("Unseal Key ({note}): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if hidden {
        set_echo(true);
        eprintln!();
    }
    read.map_err(|e| CliError::Local(format!("Error reading the unseal key: {e}")))?;
    Ok(line.trim().to_string())
}

/// Turns terminal echo on or off through `stty`; false when that is not possible.
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

// ----- seal -------------------------------------------------------------------------------------

pub fn seal(args: &SealArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error sealing";
    let client = connect(&args.client, CONTEXT)?;
    client
        .put("sys/seal", None)
        .map_err(request_error(CONTEXT))?;
    println!("Success! Vault is sealed.");
    Ok(Outcome::Done)
}

// ----- rotate -----------------------------------------------------------------------------------

/// `sys/key-status`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct KeyStatus {
    pub term: u64,
    pub install_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryptions: Option<u64>,
}

pub fn rotate(args: &RotateArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error rotating key";
    let client = connect(&args.client, CONTEXT)?;
    client
        .put("sys/rotate", None)
        .map_err(request_error(CONTEXT))?;

    const STATUS_CONTEXT: &str = "Error reading key status";
    let body = client
        .get("sys/key-status")
        .map_err(request_error(STATUS_CONTEXT))?;
    // Vault answers with the fields both at the top level and inside the usual `data`
    // envelope; prefer `data`, fall back to the top level.
    let body = body.map(|b| match b.get("data") {
        Some(data @ Json::Object(_)) => data.clone(),
        _ => b,
    });
    let key_status: KeyStatus = decode(&client.url("sys/key-status"), "GET", body, STATUS_CONTEXT)?;
    print!("{}", render_key_status(&key_status, args.output.format));
    Ok(Outcome::Done)
}

pub fn render_key_status(key_status: &KeyStatus, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => output::json(key_status),
        OutputFormat::Table => {
            let mut rows = vec![
                ("Key Term".to_string(), key_status.term.to_string()),
                (
                    "Install Time".to_string(),
                    output::rfc822(&key_status.install_time),
                ),
            ];
            if let Some(count) = key_status.encryptions {
                rows.push(("Encryption Count".to_string(), count.to_string()));
            }
            format!("Success! Rotated key\n\n{}", output::columns(&rows))
        }
    }
}

// ----- shared -----------------------------------------------------------------------------------

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    url: &str,
    method: &'static str,
    body: Option<Json>,
    context: &'static str,
) -> Result<T, CliError> {
    let problem = match body {
        None => "empty body".to_string(),
        Some(body) => match serde_json::from_value(body) {
            Ok(value) => return Ok(value),
            // serde's message names the missing or mistyped field, never its value.
            Err(e) => e.to_string(),
        },
    };
    Err(CliError::Request {
        context,
        source: ClientError::Decode {
            method,
            url: url.to_string(),
            problem,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init_response() -> InitResponse {
        InitResponse {
            keys: vec!["aa01".into(), "bb02".into()],
            keys_base64: vec!["qgE=".into(), "uwI=".into()],
            recovery_keys: Vec::new(),
            recovery_keys_base64: Vec::new(),
            root_token: "s.root".into(),
        }
    }

    #[test]
    fn init_table_lists_base64_keys_then_the_root_token() {
        let out = render_init(&init_response(), 2, 2, OutputFormat::Table);
        assert!(
            out.starts_with(
                "Unseal Key 1: qgE=\nUnseal Key 2: uwI=\n\nInitial Root Token: s.root\n\n"
            ),
            "{out}"
        );
        assert!(out.contains("key threshold of 2"), "{out}");
    }

    #[test]
    fn init_table_falls_back_to_hex_keys() {
        let response = InitResponse {
            keys_base64: Vec::new(),
            ..init_response()
        };
        let out = render_init(&response, 2, 2, OutputFormat::Table);
        assert!(
            out.starts_with("Unseal Key 1: aa01\nUnseal Key 2: bb02\n"),
            "{out}"
        );
    }

    #[test]
    fn recovery_keys_are_shown_as_recovery_keys() {
        let response = InitResponse {
            keys: Vec::new(),
            keys_base64: Vec::new(),
            recovery_keys: vec!["cc03".into()],
            recovery_keys_base64: vec!["zAM=".into()],
            root_token: "s.root".into(),
        };
        let table = render_init(&response, 1, 1, OutputFormat::Table);
        assert!(table.starts_with("Recovery Key 1: zAM=\n"), "{table}");
        assert!(!table.contains("Unseal Key"), "{table}");
        let out: Json =
            serde_json::from_str(&render_init(&response, 1, 1, OutputFormat::Json)).unwrap();
        assert_eq!(out["recovery_keys_b64"], json!(["zAM="]));
        assert_eq!(out["recovery_keys_hex"], json!(["cc03"]));
        assert_eq!(out["recovery_keys_shares"], 1);
        assert_eq!(out["unseal_keys_b64"], json!([]));
        assert_eq!(out["unseal_shares"], 0);
    }

    #[test]
    fn init_json_has_the_vault_cli_shape() {
        let out: Json =
            serde_json::from_str(&render_init(&init_response(), 2, 2, OutputFormat::Json))
                .expect("valid JSON");
        assert_eq!(
            out,
            json!({
                "unseal_keys_b64": ["qgE=", "uwI="],
                "unseal_keys_hex": ["aa01", "bb02"],
                "unseal_shares": 2,
                "unseal_threshold": 2,
                "recovery_keys_b64": null,
                "recovery_keys_hex": null,
                "recovery_keys_shares": 0,
                "recovery_keys_threshold": 0,
                "root_token": "s.root"
            })
        );
    }

    #[test]
    fn rotate_table_matches_bao() {
        let key_status = KeyStatus {
            term: 2,
            install_time: "2026-11-25T13:37:55.846152214Z".into(),
            encryptions: Some(0),
        };
        assert_eq!(
            render_key_status(&key_status, OutputFormat::Table),
            "Success! Rotated key\n\nKey Term            2\nInstall Time        25 Nov 26 13:37 UTC\nEncryption Count    0\n"
        );
        let out: Json = serde_json::from_str(&render_key_status(&key_status, OutputFormat::Json))
            .expect("valid JSON");
        assert_eq!(
            out,
            json!({"term": 2, "install_time": "2026-11-25T13:37:55.846152214Z", "encryptions": 0})
        );
    }

    #[test]
    fn rotate_table_without_an_encryption_count() {
        let key_status = KeyStatus {
            term: 3,
            install_time: "2026-11-25T13:37:55Z".into(),
            encryptions: None,
        };
        assert_eq!(
            render_key_status(&key_status, OutputFormat::Table),
            "Success! Rotated key\n\nKey Term        3\nInstall Time    25 Nov 26 13:37 UTC\n"
        );
    }

    #[test]
    fn decode_errors_name_the_request() {
        let err = decode::<KeyStatus>(
            "http://x/v1/sys/key-status",
            "GET",
            None,
            "Error reading key status",
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("Error reading key status: GET http://x/v1/sys/key-status: unexpected response: empty body")
        );
    }
}
