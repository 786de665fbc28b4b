//! Bringing the server to where items can be applied: initialised, unsealed, and a token.
//!
//! - Not initialised: `sys/init` with the file's `init` block, the keys into `-keys-file`
//!   (or, with `-format=json` and no file, into the JSON report), unseal with those keys,
//!   and apply with the new root token.
//! - Initialised and sealed: unseal with the keys of `-keys-file`.
//! - The token: the new root token after an init, else `VAULT_TOKEN`/`~/.vault-token`, else
//!   the `root_token` of `-keys-file`.
//!
//! A server with an auto-unseal seal (`recovery_seal: true` in `sys/seal-status`) is
//! initialised with recovery shares instead, answers recovery keys, and unseals itself.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{json, Value as Json};
use zeroize::Zeroizing;

use super::keys_file::{self, Keys};
use super::spec::InitSpec;
use crate::cli::args::OutputFormat;
use crate::cli::client::{Client, ClientSettings};
use crate::cli::operator::{decode, render_init, InitResponse};
use crate::cli::status::{parse_seal_status, SealStatus};
use crate::cli::{request_error, CliError};

/// How long a freshly unsealed server may take to become active (OpenBao's raft elects
/// itself first; mainkey is active at once).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the keys of a new server go.
pub enum KeysDestination<'a> {
    File(&'a Path),
    /// Into the `-format=json` report: the only case where a secret is printed, because the
    /// user asked for it.
    Report,
}

/// A server ready for the items.
pub struct Ready {
    /// Authenticated with the token to apply with.
    pub client: Client,
    /// How many keys the unseal took, when this run unsealed.
    pub unsealed_with: Option<usize>,
}

/// A server this run initialised. No `Debug`: `keys_json` holds every key and the root
/// token.
pub struct Initialised {
    pub shares: u32,
    pub threshold: u32,
    pub recovery: bool,
    /// The `operator init -format=json` text.
    pub keys_json: Zeroizing<String>,
    pub keys_file: Option<PathBuf>,
}

pub enum Prepared {
    Ready(Ready),
    /// A dry run on a server that is not initialised: nothing more can be planned.
    WouldInitialise(InitSpec),
    /// A dry run on a sealed server: it is not unsealed, so nothing more can be read.
    WouldUnseal,
}

/// The steps above. `settings` are the resolved client settings (with the caller's token, if
/// any). A server initialised by this run is put in `initialised` as soon as it is, so that
/// its keys reach the user even when a later step fails.
pub fn prepare(
    settings: &ClientSettings,
    init: InitSpec,
    keys_path: Option<&Path>,
    format: OutputFormat,
    dry_run: bool,
    initialised: &mut Option<Initialised>,
) -> Result<Prepared, CliError> {
    const CONTEXT: &str = "Error checking seal status";
    // The seal endpoints need no token; a stale one must not get in their way.
    let anonymous = client(settings, None)?;
    let body = anonymous
        .get("sys/seal-status")
        .map_err(request_error(CONTEXT))?;
    let status = parse_seal_status(&anonymous, "sys/seal-status", body, CONTEXT)?;

    if !status.initialized {
        let destination = match (keys_path, format) {
            (Some(path), _) => KeysDestination::File(path),
            (None, OutputFormat::Json) => KeysDestination::Report,
            (None, OutputFormat::Table) => {
                return Err(CliError::Local(
                    "the server is not initialised: give -keys-file=PATH for its unseal keys \
                     and root token (a new file, created 0600), or -format=json to receive \
                     them in the output"
                        .into(),
                ))
            }
        };
        if dry_run {
            if let KeysDestination::File(path) = destination {
                if path.exists() {
                    // The same refusal the real run would make.
                    return Err(keys_file::reserve(path).err().unwrap_or_else(|| {
                        CliError::Local(format!("{} already exists", path.display()))
                    }));
                }
            }
            return Ok(Prepared::WouldInitialise(init));
        }
        let new = initialise(&anonymous, &status, init, destination)?;
        let keys = keys_file::parse(&new.keys_json, "the sys/init answer");
        let recovery = new.recovery;
        *initialised = Some(new);
        let keys = keys?;
        let unsealed_with = if recovery {
            wait_unsealed(&anonymous)?;
            None
        } else {
            Some(unseal(
                &anonymous,
                &keys.unseal_keys,
                "the sys/init answer",
            )?)
        };
        wait_active(&anonymous);
        let token = keys
            .root_token
            .ok_or_else(|| CliError::Failed("sys/init answered no root token".into()))?;
        return Ok(Prepared::Ready(Ready {
            client: client(settings, Some(token))?,
            unsealed_with,
        }));
    }

    // Read the keys file only when it is needed: to unseal, or for want of another token.
    let mut keys: Option<Keys> = None;
    let mut unsealed_with = None;
    if status.sealed {
        let path = keys_path.ok_or_else(|| {
            CliError::Failed("the server is sealed; give -keys-file with its unseal keys".into())
        })?;
        let file_keys = keys_file::read(path)?;
        if dry_run {
            return Ok(Prepared::WouldUnseal);
        }
        unsealed_with = Some(unseal(
            &anonymous,
            &file_keys.unseal_keys,
            &path.display().to_string(),
        )?);
        wait_active(&anonymous);
        keys = Some(file_keys);
    }
    let token = match &settings.token {
        Some(token) => token.clone(),
        None => {
            if keys.is_none() {
                if let Some(path) = keys_path {
                    keys = Some(keys_file::read(path)?);
                }
            }
            keys.and_then(|k| k.root_token).ok_or_else(|| {
                CliError::Local(
                    "no token: set VAULT_TOKEN, log in (~/.vault-token), or give -keys-file \
                     with a root_token"
                        .into(),
                )
            })?
        }
    };
    Ok(Prepared::Ready(Ready {
        client: client(settings, Some(token))?,
        unsealed_with,
    }))
}

fn client(settings: &ClientSettings, token: Option<SecretString>) -> Result<Client, CliError> {
    let settings = ClientSettings {
        token,
        ..settings.clone()
    };
    Client::new(settings).map_err(request_error("Error connecting"))
}

fn initialise(
    client: &Client,
    status: &SealStatus,
    init: InitSpec,
    destination: KeysDestination<'_>,
) -> Result<Initialised, CliError> {
    const CONTEXT: &str = "Error initializing";
    if let KeysDestination::File(path) = destination {
        keys_file::reserve(path)?;
    }
    let release = || {
        if let KeysDestination::File(path) = destination {
            keys_file::release(path);
        }
    };
    let recovery = status.recovery_seal;
    let request = if recovery {
        json!({ "recovery_shares": init.shares, "recovery_threshold": init.threshold })
    } else {
        json!({ "secret_shares": init.shares, "secret_threshold": init.threshold })
    };
    let body = match client.put("sys/init", Some(&request)) {
        Ok(body) => body,
        Err(e) => {
            release();
            return Err(request_error(CONTEXT)(e));
        }
    };
    // An answer that cannot be read leaves the (empty) file in place: the server may be
    // initialised, and the file says that something happened.
    let keys_json = keys_json(client, body, init)?;
    let keys_file = match destination {
        KeysDestination::File(path) => {
            keys_file::fill(path, &keys_json)?;
            Some(path.to_path_buf())
        }
        KeysDestination::Report => None,
    };
    Ok(Initialised {
        shares: init.shares,
        threshold: init.threshold,
        recovery,
        keys_json,
        keys_file,
    })
}

/// The `operator init -format=json` text of a `sys/init` answer (for a recovery seal, with
/// the recovery keys and no unseal keys), as `operator init` renders it.
fn keys_json(
    client: &Client,
    body: Option<Json>,
    init: InitSpec,
) -> Result<Zeroizing<String>, CliError> {
    let response: InitResponse =
        decode(&client.url("sys/init"), "PUT", body, "Error initializing")?;
    Ok(Zeroizing::new(render_init(
        &response,
        init.shares,
        init.threshold,
        OutputFormat::Json,
    )))
}

/// Gives keys one at a time until the server is unsealed; how many it took.
fn unseal(client: &Client, keys: &[Zeroizing<String>], source: &str) -> Result<usize, CliError> {
    const CONTEXT: &str = "Error unsealing";
    for (i, key) in keys.iter().enumerate() {
        let body = client
            .put("sys/unseal", Some(&json!({ "key": key.as_str() })))
            .map_err(request_error(CONTEXT))?;
        let status = parse_seal_status(client, "sys/unseal", body, CONTEXT)?;
        if !status.sealed {
            return Ok(i + 1);
        }
    }
    Err(CliError::Failed(format!(
        "{CONTEXT}: the {} key(s) in {source} did not unseal the server",
        keys.len()
    )))
}

/// An auto-unseal server unseals itself after `sys/init`; wait for that.
fn wait_unsealed(client: &Client) -> Result<(), CliError> {
    const CONTEXT: &str = "Error checking seal status";
    let deadline = Instant::now() + ACTIVE_TIMEOUT;
    loop {
        let body = client
            .get("sys/seal-status")
            .map_err(request_error(CONTEXT))?;
        if !parse_seal_status(client, "sys/seal-status", body, CONTEXT)?.sealed {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CliError::Failed(
                "the server was initialised with a recovery seal but did not unseal itself".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Until `sys/health` says active, or the timeout; the first item's request then reports
/// whatever is still wrong.
fn wait_active(client: &Client) {
    let deadline = Instant::now() + ACTIVE_TIMEOUT;
    while client.get("sys/health").is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}
