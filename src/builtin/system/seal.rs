//! `sys/init`, `sys/unseal`, `sys/seal-status`, `sys/health`, `sys/leader` and
//! `sys/key-status`. The first five answer without a token, sealed or not, with bare JSON
//! objects as Vault does.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::core::Core;
use crate::logical::{fields, Error, Map, Operation, Request, Response};

/// Answers the seal endpoints; `None` for every other path.
/// The `sys/` paths answered without a token, sealed or not: [`unauthenticated`] serves them.
pub const UNAUTHENTICATED_PATHS: &[&str] = &[
    "sys/init",
    "sys/seal-status",
    "sys/unseal",
    "sys/health",
    "sys/leader",
];

pub async fn unauthenticated(core: &Core, req: &Request) -> Option<Result<Response, Error>> {
    // Init and unseal are boxed: their futures are kilobytes (the keyring, the mount tables),
    // and every request's future would otherwise carry and copy that space.
    let result = match (req.path.as_str(), req.operation) {
        ("sys/init", Operation::Read) => Ok(Response::raw(
            200,
            json!({"initialized": core.is_initialized()}),
        )),
        ("sys/init", Operation::Update) => Box::pin(init(core, &req.data)).await,
        ("sys/seal-status", Operation::Read) => Ok(Response::raw(200, core.seal_status())),
        ("sys/unseal", Operation::Update) => Box::pin(unseal(core, &req.data)).await,
        ("sys/health", Operation::Read) => health(core, &req.data),
        ("sys/leader", Operation::Read) => Ok(Response::raw(200, json!({"ha_enabled": false}))),
        (path, _) if UNAUTHENTICATED_PATHS.contains(&path) => Err(Error::UnsupportedOperation),
        _ => return None,
    };
    Some(result)
}

async fn init(core: &Core, data: &Map) -> Result<Response, Error> {
    let (shares, threshold) = init_shares(core, data)?;
    // Clients send these empty when unused; only a real key asks for what is not supported.
    let given = |key: &str| match data.get(key) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    if given("pgp_keys") || given("recovery_pgp_keys") || given("root_token_pgp_key") {
        return Err(Error::bad_request(
            "PGP-encrypted unseal keys are not supported",
        ));
    }
    let result = core.initialize(shares, threshold, None).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let hex_keys: Vec<String> = result
        .keys
        .iter()
        .map(|k| hex::encode(k.as_slice()))
        .collect();
    let b64_keys: Vec<String> = result
        .keys
        .iter()
        .map(|k| b64.encode(k.as_slice()))
        .collect();
    let body = if result.recovery {
        json!({
            "keys": [],
            "keys_base64": [],
            "recovery_keys": hex_keys,
            "recovery_keys_base64": b64_keys,
            "root_token": result.root_token.as_str(),
        })
    } else {
        json!({
            "keys": hex_keys,
            "keys_base64": b64_keys,
            "root_token": result.root_token.as_str(),
        })
    };
    Ok(Response::raw(200, body))
}

/// The shares and threshold that `sys/init` splits the key into: the unseal key's under
/// Shamir, the recovery key's under an auto seal. As in Vault, the other pair is refused
/// rather than ignored, so a script cannot believe it chose something it did not.
fn init_shares(core: &Core, data: &Map) -> Result<(u64, u64), Error> {
    let read = |key: &'static str| fields::unsigned(data, key).map(|v| v.unwrap_or(0));
    let barrier = [
        ("secret_shares", read("secret_shares")?),
        ("secret_threshold", read("secret_threshold")?),
    ];
    let recovery = [
        ("recovery_shares", read("recovery_shares")?),
        ("recovery_threshold", read("recovery_threshold")?),
    ];
    let (kind, wanted, other) = match &core.config().auto_seal {
        Some(seal) => (seal.kind(), recovery, barrier),
        None => ("shamir", barrier, recovery),
    };
    let given: Vec<&str> = other
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, _)| *k)
        .collect();
    if !given.is_empty() {
        return Err(Error::bad_request(format!(
            "parameters {} not applicable to seal type {kind}",
            given.join(",")
        )));
    }
    Ok((wanted[0].1, wanted[1].1))
}

async fn unseal(core: &Core, data: &Map) -> Result<Response, Error> {
    if !core.is_initialized() {
        return Err(Error::bad_request("Vault is not initialized"));
    }
    if fields::boolean(data, "reset")?.unwrap_or(false) {
        core.reset_unseal();
    } else {
        let key = fields::string(data, "key")?
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                Error::bad_request(
                    "'key' must be specified in request body as JSON, or 'reset' set to true",
                )
            })?;
        core.unseal(&key).await?;
    }
    Ok(Response::raw(200, core.seal_status()))
}

/// `sys/health`: the status code says active (200), standby (429), uninitialised (501) or
/// sealed (503), each overridable by a query parameter.
fn health(core: &Core, query: &Map) -> Result<Response, Error> {
    let code = |key: &'static str, default: u16| -> Result<u16, Error> {
        match fields::unsigned(query, key) {
            Ok(Some(c)) if (100..=599).contains(&c) => Ok(c as u16),
            Ok(None) => Ok(default),
            _ => Err(Error::bad_request(format!("bad code for '{key}'"))),
        }
    };
    // Validate every parameter even though this node is never a standby.
    let _ = fields::boolean(query, "standbyok")?;
    let _ = fields::boolean(query, "perfstandbyok")?;
    let _ = code("standbycode", 429)?;
    let _ = code("performancestandbycode", 473)?;
    let _ = code("drsecondarycode", 472)?;
    let initialized = core.is_initialized();
    let sealed = core.is_sealed();
    let status = if !initialized {
        code("uninitcode", 501)?
    } else if sealed {
        code("sealedcode", 503)?
    } else {
        code("activecode", 200)?
    };
    let now = core
        .clock()
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut body = json!({
        "initialized": initialized,
        "sealed": sealed,
        // OpenBao reports a sealed node as a standby whose replication modes are unknown.
        "standby": sealed,
        "replication_performance_mode": if sealed { "unknown" } else { "disabled" },
        "replication_dr_mode": if sealed { "unknown" } else { "disabled" },
        "server_time_utc": now,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let (Some(c), false, Value::Object(m)) = (core.seal_config(), sealed, &mut body) {
        m.insert("cluster_name".into(), c.cluster_name.into());
        m.insert("cluster_id".into(), c.cluster_id.into());
    }
    Ok(Response::raw(status, body))
}

pub fn key_status(core: &Core) -> Result<Response, Error> {
    let status = core.key_status()?;
    let mut data = Map::new();
    data.insert("term".into(), status.term.into());
    data.insert("install_time".into(), rfc3339(status.install_time).into());
    data.insert("encryptions".into(), status.encryptions.into());
    Ok(Response::data(data))
}
