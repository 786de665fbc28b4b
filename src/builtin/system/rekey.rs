//! `sys/rekey/init`, `sys/rekey/update`, `sys/generate-root/attempt` and
//! `sys/generate-root/update`, with Vault's bare JSON bodies and field names. They need no
//! token, as in Vault: the unseal keys they collect are what authorizes them. Unlike the
//! seal endpoints they are audited (the audit log hashes every request string; the raw
//! answers, which carry the new keys, are never written to it).

use base64::Engine as _;
use serde_json::{json, Value};

use crate::core::{Core, RekeyStatus, RekeyUpdate, RootStatus, RootUpdate, OTP_LEN};
use crate::logical::{fields, Error, Map, Operation, Request, Response};

/// The paths answered here.
pub const QUORUM_PATHS: &[&str] = &[
    "sys/rekey/init",
    "sys/rekey/update",
    "sys/generate-root/attempt",
    "sys/generate-root/update",
];

/// Answers a quorum path; `None` for every other path.
pub async fn quorum(core: &Core, req: &Request) -> Option<Result<Response, Error>> {
    let result = match (req.path.as_str(), req.operation) {
        ("sys/rekey/init", Operation::Read) => core.rekey_status().map(rekey_body),
        ("sys/rekey/init", Operation::Update) => rekey_init(core, &req.data),
        ("sys/rekey/init", Operation::Delete) => core.rekey_cancel().map(|()| Response::empty()),
        ("sys/rekey/update", Operation::Update) => rekey_update(core, &req.data).await,
        ("sys/generate-root/attempt", Operation::Read) => {
            core.generate_root_status().map(|s| root_body(&s, OTP_LEN))
        }
        ("sys/generate-root/attempt", Operation::Update) => root_init(core, &req.data),
        ("sys/generate-root/attempt", Operation::Delete) => {
            core.generate_root_cancel().map(|()| Response::empty())
        }
        ("sys/generate-root/update", Operation::Update) => root_update(core, &req.data).await,
        (path, _) if QUORUM_PATHS.contains(&path) => Err(Error::UnsupportedOperation),
        _ => return None,
    };
    Some(result)
}

/// Whether a field that is not supported was given a real value; clients send these
/// empty when unused.
fn given(data: &Map, key: &str) -> bool {
    match data.get(key) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

fn key_and_nonce(data: &Map) -> Result<(String, String), Error> {
    let key = fields::string(data, "key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Error::bad_request("'key' must be specified in request body as JSON"))?;
    let nonce = fields::string(data, "nonce")?.unwrap_or_default();
    Ok((key, nonce))
}

fn rekey_json(s: &RekeyStatus) -> Value {
    json!({
        "nonce": s.nonce,
        "started": s.started,
        "t": s.t,
        "n": s.n,
        "progress": s.progress,
        "required": s.required,
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": false,
    })
}

fn rekey_body(s: RekeyStatus) -> Response {
    Response::raw(200, rekey_json(&s))
}

fn rekey_init(core: &Core, data: &Map) -> Result<Response, Error> {
    if given(data, "pgp_keys") || given(data, "backup") {
        return Err(Error::bad_request(
            "PGP-encrypted unseal keys are not supported",
        ));
    }
    if given(data, "require_verification") {
        return Err(Error::bad_request("rekey verification is not supported"));
    }
    let shares = fields::unsigned(data, "secret_shares")?.unwrap_or(0);
    let threshold = fields::unsigned(data, "secret_threshold")?.unwrap_or(0);
    core.rekey_init(shares, threshold).map(rekey_body)
}

async fn rekey_update(core: &Core, data: &Map) -> Result<Response, Error> {
    let (key, nonce) = key_and_nonce(data)?;
    match core.rekey_update(&key, &nonce).await? {
        RekeyUpdate::Progress(status) => Ok(rekey_body(status)),
        RekeyUpdate::Done { nonce, keys } => {
            let b64 = base64::engine::general_purpose::STANDARD;
            Ok(Response::raw(
                200,
                json!({
                    "nonce": nonce,
                    "complete": true,
                    "keys": keys.iter().map(|k| hex::encode(k.as_slice())).collect::<Vec<_>>(),
                    "keys_base64": keys.iter().map(|k| b64.encode(k.as_slice())).collect::<Vec<_>>(),
                    "pgp_fingerprints": null,
                    "backup": false,
                    "verification_required": false,
                }),
            ))
        }
    }
}

fn root_body(s: &RootStatus, otp_length: usize) -> Response {
    Response::raw(
        200,
        json!({
            "nonce": s.nonce,
            "started": s.started,
            "progress": s.progress,
            "required": s.required,
            "complete": false,
            "encoded_token": "",
            "encoded_root_token": "",
            "pgp_fingerprint": "",
            "otp": s.otp.as_ref().map(|o| o.as_str()).unwrap_or(""),
            "otp_length": otp_length,
        }),
    )
}

fn root_init(core: &Core, data: &Map) -> Result<Response, Error> {
    if given(data, "pgp_key") {
        return Err(Error::bad_request(
            "PGP-encrypted root tokens are not supported",
        ));
    }
    let otp = fields::string(data, "otp")?;
    core.generate_root_init(otp.as_deref())
        .map(|s| root_body(&s, OTP_LEN))
}

async fn root_update(core: &Core, data: &Map) -> Result<Response, Error> {
    let (key, nonce) = key_and_nonce(data)?;
    match core.generate_root_update(&key, &nonce).await? {
        // OpenBao answers an update with `otp_length` 0.
        RootUpdate::Progress(status) => Ok(root_body(&status, 0)),
        RootUpdate::Done {
            nonce,
            encoded_token,
            required,
        } => Ok(Response::raw(
            200,
            json!({
                "nonce": nonce,
                "started": true,
                "progress": required,
                "required": required,
                "complete": true,
                "encoded_token": encoded_token,
                "encoded_root_token": encoded_token,
                "pgp_fingerprint": "",
                "otp": "",
                "otp_length": 0,
            }),
        )),
    }
}
