//! `sys/audit` (GET: the enabled devices), `sys/audit/<path>` (PUT: enable, DELETE: disable)
//! and `sys/audit-hash/<path>` (POST: hash a value as that device does). `sys/audit` and
//! `sys/audit/*` are root paths (sudo), as in Vault; `sys/audit-hash` needs only `update`.

use serde_json::json;

use crate::audit::DeviceEntry;
use crate::core::Core;
use crate::logical::{fields, Error, Map, Operation, Request, Response};

/// `sys/audit` and `sys/audit/<path>`; `rest` is what follows `audit/`.
pub async fn handle(core: &Core, req: &Request, rest: &str) -> Result<Response, Error> {
    if rest.is_empty() {
        if req.operation != Operation::Read {
            return Err(Error::UnsupportedOperation);
        }
        return list(core).await;
    }
    let path = device_path(rest)?;
    match req.operation {
        Operation::Update => {
            core.enable_audit(entry_from(&path, &req.data)?).await?;
            Ok(Response::empty())
        }
        Operation::Delete => {
            core.disable_audit(&path).await?;
            Ok(Response::empty())
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

/// `sys/audit-hash/<path>` with `{"input": "..."}`.
pub fn hash(core: &Core, req: &Request, rest: &str) -> Result<Response, Error> {
    if req.operation != Operation::Update {
        return Err(Error::UnsupportedOperation);
    }
    let path = device_path(rest)?;
    let input = fields::string(&req.data, "input")?
        .ok_or_else(|| Error::bad_request("the \"input\" parameter is required"))?;
    let hash = core.audit_hash(&path, &input)?;
    Ok(Response::data(fields::into_map(json!({ "hash": hash }))))
}

async fn list(core: &Core) -> Result<Response, Error> {
    let mut data = Map::new();
    for d in core.audit_devices().await? {
        data.insert(
            d.path.clone(),
            json!({
                "type": d.kind,
                "description": d.description,
                "options": d.options,
                "local": d.local,
                "path": d.path,
            }),
        );
    }
    Ok(Response::data(data))
}

/// A device path as Vault keeps it: no leading `/`, one trailing `/`. Only plain names, so a
/// path never reads as something else in the table or in a metric label.
fn device_path(rest: &str) -> Result<String, Error> {
    let name = rest.trim_matches('/');
    if name.is_empty() {
        return Err(Error::bad_request("missing audit device path"));
    }
    let plain = name
        .split('/')
        .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if !plain || name.len() > 128 {
        return Err(Error::bad_request(format!(
            "invalid audit device path \"{name}\""
        )));
    }
    Ok(format!("{name}/"))
}

fn entry_from(path: &str, data: &Map) -> Result<DeviceEntry, Error> {
    let kind = fields::string(data, "type")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::bad_request("audit type must be specified"))?;
    let options = fields::string_map(data, "options")?.unwrap_or_default();
    Ok(DeviceEntry {
        path: path.to_string(),
        kind,
        description: fields::string(data, "description")?.unwrap_or_default(),
        options,
        local: fields::boolean(data, "local")?.unwrap_or(false),
        salt: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_are_plain_names() {
        assert_eq!(device_path("file").unwrap(), "file/");
        assert_eq!(device_path("/team/file/").unwrap(), "team/file/");
        for bad in [
            "",
            "/",
            "a/../b",
            "a//b",
            "a b",
            "ä",
            "a\nb",
            &"x".repeat(129),
        ] {
            assert!(device_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_entry_needs_a_type_and_takes_weakly_typed_options() {
        let data = fields::into_map(
            json!({"type": "file", "options": {"file_path": "stdout", "log_raw": true}}),
        );
        let e = entry_from("file/", &data).unwrap();
        // As Vault decodes options weakly: a JSON `true` is "1", which the device reads as on.
        assert_eq!(e.options["log_raw"], "1");
        let none = fields::into_map(json!({"options": {}}));
        assert!(matches!(
            entry_from("file/", &none),
            Err(Error::BadRequest(_))
        ));
        let bad = fields::into_map(json!({"type": "file", "options": "x"}));
        assert!(entry_from("file/", &bad).is_err());
    }
}
