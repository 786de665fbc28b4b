//! `sys/mounts`, `sys/mounts/<path>`, `sys/mounts/<path>/tune` and
//! `sys/internal/ui/mounts[/<path>]`.

use serde_json::Value;

use crate::core::{
    normalize_mount_path, Core, MountConfig, MountEntry, MountTune, Table, UserLockoutTune,
};
use crate::logical::{fields, Error, Map, Operation, Request, Response};

pub async fn handle(
    core: &Core,
    table: Table,
    req: &Request,
    rest: &str,
) -> Result<Response, Error> {
    if rest.is_empty() {
        return match req.operation {
            Operation::Read => list(core, table),
            _ => Err(Error::UnsupportedOperation),
        };
    }
    if let Some(path) = rest.strip_suffix("/tune") {
        return match req.operation {
            Operation::Read => read_tune(core, table, path),
            Operation::Update => tune(core, table, path, &req.data).await,
            _ => Err(Error::UnsupportedOperation),
        };
    }
    match req.operation {
        Operation::Read => read_one(core, table, rest),
        Operation::Update => enable(core, table, rest, &req.data).await,
        Operation::Delete => {
            core.unmount(table, rest).await?;
            Ok(Response::empty())
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

fn list(core: &Core, table: Table) -> Result<Response, Error> {
    let mut data = Map::new();
    for entry in core.mounts(table)? {
        data.insert(entry.path.clone(), Value::Object(entry.to_json()));
    }
    Ok(Response::data(data))
}

/// The mount at `path` (normalized); when there is none, a 400 that `missing` words for
/// the normalized path.
fn mount_at(
    core: &Core,
    table: Table,
    path: &str,
    missing: fn(&str) -> String,
) -> Result<MountEntry, Error> {
    let path = normalize_mount_path(path)?;
    core.mounts(table)?
        .into_iter()
        .find(|e| e.path == path)
        .ok_or_else(|| Error::bad_request(missing(&path)))
}

fn read_one(core: &Core, table: Table, path: &str) -> Result<Response, Error> {
    let entry = mount_at(core, table, path, |p| {
        format!("No secret engine mount at {p}")
    })?;
    Ok(Response::data(entry.to_json()))
}

async fn enable(core: &Core, table: Table, path: &str, data: &Map) -> Result<Response, Error> {
    let kind = fields::string(data, "type")?.unwrap_or_default();
    let description = fields::string(data, "description")?.unwrap_or_default();
    let options = fields::string_map(data, "options")?;
    let mut config = MountConfig::default();
    if let Some(c) = fields::object(data, "config")? {
        config.default_lease_ttl = fields::duration_secs(&c, "default_lease_ttl")?.unwrap_or(0);
        config.max_lease_ttl = fields::duration_secs(&c, "max_lease_ttl")?.unwrap_or(0);
        config.force_no_cache = fields::boolean(&c, "force_no_cache")?.unwrap_or(false);
    }
    core.mount(table, path, &kind, &description, options, config)
        .await?;
    Ok(Response::empty())
}

fn read_tune(core: &Core, table: Table, path: &str) -> Result<Response, Error> {
    let entry = mount_at(core, table, path, |p| {
        format!("cannot fetch sysview for path \"{p}\"")
    })?;
    let (default_ttl, max_ttl) = core.effective_ttls(&entry);
    let mut data = Map::new();
    data.insert("default_lease_ttl".into(), default_ttl.into());
    data.insert("description".into(), entry.description.clone().into());
    data.insert("force_no_cache".into(), entry.config.force_no_cache.into());
    data.insert("max_lease_ttl".into(), max_ttl.into());
    if let Some(l) = &entry.config.user_lockout_config {
        // Vault shows these only once the mount was tuned; 0 means the server's setting.
        data.insert(
            "user_lockout_counter_reset_duration".into(),
            l.counter_reset.unwrap_or(0).into(),
        );
        data.insert(
            "user_lockout_threshold".into(),
            l.threshold.unwrap_or(0).into(),
        );
        data.insert(
            "user_lockout_duration".into(),
            l.duration.unwrap_or(0).into(),
        );
        data.insert(
            "user_lockout_disable".into(),
            l.disable.unwrap_or(false).into(),
        );
    }
    if let Some(options) = &entry.options {
        data.insert(
            "options".into(),
            serde_json::to_value(options).unwrap_or(Value::Null),
        );
    }
    Ok(Response::data(data))
}

async fn tune(core: &Core, table: Table, path: &str, data: &Map) -> Result<Response, Error> {
    let tune = MountTune {
        description: fields::string(data, "description")?,
        default_lease_ttl: fields::duration_secs(data, "default_lease_ttl")?,
        max_lease_ttl: fields::duration_secs(data, "max_lease_ttl")?,
        options: fields::string_map(data, "options")?,
        user_lockout: user_lockout_tune(data)?,
    };
    core.tune(table, path, tune).await?;
    Ok(Response::empty())
}

/// Vault's `user_lockout_config` tune object: `lockout_threshold`, `lockout_duration`,
/// `lockout_counter_reset_duration` (or `lockout_counter_reset`) and `lockout_disable`. A
/// duration of `"system"`, like a zero, goes back to the server's setting. An empty or
/// absent object changes nothing.
fn user_lockout_tune(data: &Map) -> Result<Option<UserLockoutTune>, Error> {
    let Some(c) = fields::object(data, "user_lockout_config")? else {
        return Ok(None);
    };
    if c.is_empty() {
        return Ok(None);
    }
    let duration = |key: &'static str| -> Result<Option<u64>, Error> {
        match c.get(key) {
            Some(Value::String(s)) if s == "system" => Ok(Some(0)),
            _ => fields::duration_secs(&c, key),
        }
    };
    let threshold = match fields::unsigned(&c, "lockout_threshold")? {
        None => None,
        Some(t) => Some(u32::try_from(t).map_err(|_| {
            Error::bad_request("unable to parse user lockout threshold: value out of range")
        })?),
    };
    Ok(Some(UserLockoutTune {
        threshold,
        duration: duration("lockout_duration")?,
        // OpenBao reads `lockout_counter_reset_duration` and its documentation names
        // `lockout_counter_reset`; both are taken, the former first.
        counter_reset: match duration("lockout_counter_reset_duration")? {
            Some(d) => Some(d),
            None => duration("lockout_counter_reset")?,
        },
        disable: fields::boolean(&c, "lockout_disable")?,
    }))
}

/// `sys/internal/ui/mounts/<path>`: the `bao kv` CLI reads `options.version` here to decide
/// between KV v1 and v2. Without a path, every mount the token may use.
///
/// Reached without the core's authorization (as in Vault), so it checks the token itself and,
/// like Vault, shows only mounts under which the token's ACL grants something: a token cannot
/// learn which engines exist elsewhere.
pub async fn ui_mounts(core: &Core, req: &Request, path: &str) -> Result<Response, Error> {
    if req.operation != Operation::Read {
        return Err(Error::UnsupportedOperation);
    }
    // Without a token Vault lists only mounts tuned to `listing_visibility = "unauth"`,
    // which mainkey does not offer: an empty listing. A token that is not live is refused.
    let acl = match req.client_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => Some(
            core.token_acl(token, req.remote_addr)
                .await?
                .ok_or(Error::PermissionDenied)?,
        ),
        None => None,
    };
    let visible = |entry: &MountEntry| {
        acl.as_ref()
            .is_some_and(|acl| acl.has_mount_access(&entry.router_path()))
    };
    if path.is_empty() {
        let mut data = Map::new();
        for (name, table) in [("secret", Table::Secrets), ("auth", Table::Auth)] {
            let mut mounts = Map::new();
            for entry in core.mounts(table)?.iter().filter(|e| visible(e)) {
                mounts.insert(entry.path.clone(), Value::Object(entry.to_json()));
            }
            data.insert(name.into(), Value::Object(mounts));
        }
        return Ok(Response::data(data));
    }
    if acl.is_none() {
        return Err(Error::PermissionDenied);
    }
    // Vault's message names the path as asked, with one trailing `/`, whether the mount is
    // missing or hidden, so this cannot be used to find out which mounts exist.
    let asked = format!("{}/", path.trim_start_matches('/').trim_end_matches('/'));
    let entry = core
        .mount_for(path)?
        .filter(|entry| visible(entry))
        .ok_or_else(|| {
            Error::Forbidden(format!(
                "preflight capability check returned 403, please ensure client's policies grant access to path \"{asked}\""
            ))
        })?;
    let mut data = entry.to_json();
    data.insert("path".into(), entry.path.clone().into());
    Ok(Response::data(data))
}
