//! `mainkey kv ...`: the Vault CLI's KV commands. Each asks `sys/internal/ui/mounts/<path>`
//! first to learn the mount and its version, then speaks KV v1 (`mount/path`) or KV v2
//! (`mount/data/path`, `mount/metadata/path`, ...) as `bao kv` does, with its output.

use serde_json::{json, Map, Value as Json};

use super::args::OutputFormat;
use super::args_kv::{
    KvGetArgs, KvMetadataDeleteArgs, KvMetadataPutArgs, KvPatchArgs, KvPathArgs, KvTarget,
    KvVersionsArgs, KvWriteArgs,
};
use super::client::{absent_on_404, Client, ClientError};
use super::status::connect;
use super::token::print_field;
use super::{data_args, output, request_error, CliError, Outcome};

/// Where a kv command's secret lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvLocation {
    /// The mount as `sys/internal/ui/mounts` names it (`secret/`), or "" when not known.
    pub mount: String,
    pub v2: bool,
    /// The path the user gave, joined to the mount when `-mount` was used.
    partial: String,
    /// `-mount` was given, so a KV v1 path is `mount/partial`.
    mount_flag: bool,
}

impl KvLocation {
    /// The API path of the secret: for KV v2 under `prefix` (`data`, `metadata`, `delete`,
    /// ...), for KV v1 the path itself.
    pub fn api_path(&self, prefix: &str) -> String {
        if self.v2 {
            with_prefix(&self.partial, &self.mount, prefix)
        } else if self.mount_flag {
            join(&[&self.mount, &self.partial])
        } else {
            self.partial.clone()
        }
    }

    /// The Vault CLI's refusal of a KV v2 command on a v1 mount: `what` names it
    /// ("Metadata", "Destroy"); `patch` has its own words and exit code.
    fn require_v2(&self, what: &str) -> Result<(), CliError> {
        match (self.v2, what) {
            (true, _) => Ok(()),
            (false, "patch") => Err(CliError::Failed(
                "K/V engine mount must be version 2 for patch support".into(),
            )),
            (false, _) => Err(CliError::Local(format!(
                "{what} not supported on KV Version 1"
            ))),
        }
    }
}

/// Finds the mount of `target` and its KV version, as `bao kv` does before every command.
pub fn locate(client: &Client, target: &KvTarget) -> Result<KvLocation, CliError> {
    let partial = sanitize(&target.path);
    let preflight = |path: &str| -> Result<(String, bool), CliError> {
        let answer = client.get(&format!("sys/internal/ui/mounts/{path}"));
        match answer {
            // An older server without the endpoint: assume KV v1, as the Vault CLI does.
            Err(ClientError::Api { status: 404, .. }) => Ok((String::new(), false)),
            Err(e) => Err(CliError::Request {
                context: "Error finding the KV mount",
                source: e,
            }),
            Ok(body) => {
                let data = body.as_ref().and_then(|b| b.get("data"));
                let mount = data
                    .and_then(|d| d.get("path"))
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_string();
                let version = data
                    .and_then(|d| d.get("options"))
                    .and_then(|o| o.get("version"))
                    .and_then(Json::as_str);
                Ok((mount, version == Some("2")))
            }
        }
    };
    match &target.mount {
        Some(mount) => {
            let (mount, v2) = preflight(&sanitize(mount))?;
            let partial = if v2 {
                join(&[&mount, &partial])
            } else {
                partial
            };
            Ok(KvLocation {
                mount,
                v2,
                partial,
                mount_flag: true,
            })
        }
        None => {
            let (mount, v2) = preflight(&partial)?;
            Ok(KvLocation {
                mount,
                v2,
                partial,
                mount_flag: false,
            })
        }
    }
}

fn sanitize(path: &str) -> String {
    path.trim_matches('/').to_string()
}

/// Go's `path.Join`: the parts joined by `/`, then cleaned (no empty, `.` or `..` segments,
/// no trailing slash).
fn join(parts: &[&str]) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in parts.iter().flat_map(|p| p.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    segments.join("/")
}

/// The Vault CLI's `addPrefixToKVPath`: `secret/foo` in mount `secret/` under `data` is
/// `secret/data/foo`; the mount itself is `secret/data`.
fn with_prefix(path: &str, mount: &str, prefix: &str) -> String {
    if path == mount || path == mount.trim_end_matches('/') {
        return join(&[mount, prefix]);
    }
    let suffix = path.strip_prefix(mount).unwrap_or(path);
    join(&[mount, prefix, suffix])
}

/// The Vault CLI's section header: `title` between `=` signs, about `width` wide.
fn pad_equal_signs(title: &str, width: usize) -> String {
    let mut signs = width.saturating_sub(title.len() + 2);
    if signs == 0 {
        signs = 4;
    }
    if signs % 2 != 0 {
        signs += 1;
    }
    let side = "=".repeat(signs / 2);
    format!("{side} {title} {side}")
}

/// The header over a Key/Value table of `map`, as wide as the Vault CLI makes it.
fn header_for_map(title: &str, map: &Map<String, Json>) -> String {
    let widest = map.keys().map(String::len).max().unwrap_or(0);
    pad_equal_signs(title, widest + 4 + 5)
}

/// `== Secret Path ==` and the path, as `bao kv get` starts its table.
fn path_block(title: &str, path: &str) -> String {
    format!("{}\n{path}\n\n", pad_equal_signs(title, path.len()))
}

/// A map as the Vault CLI's table shows data: sorted keys, Go `%v` values.
fn data_table(map: &Map<String, Json>) -> String {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let rows: Vec<(String, String)> = keys
        .into_iter()
        .map(|k| {
            let shown = output::go_value(&map[k.as_str()]);
            (
                k.clone(),
                if shown.is_empty() {
                    "n/a".to_string()
                } else {
                    shown
                },
            )
        })
        .collect();
    output::key_value_table(&rows)
}

fn object(value: Option<&Json>) -> Option<&Map<String, Json>> {
    value.and_then(Json::as_object)
}

pub fn get(args: &KvGetArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error reading";
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    let mut path = at.api_path("data");
    if at.v2 && args.version > 0 {
        path = format!("{path}?version={}", args.version);
    }
    let shown = path.split('?').next().unwrap_or(&path).to_string();
    let secret = absent_on_404(client.get(&path))
        .map_err(request_error(CONTEXT))?
        .ok_or_else(|| CliError::Failed(format!("No value found at {shown}")))?;
    let data = secret.get("data");
    if let Some(field) = &args.field {
        if !at.v2 {
            return print_field(&secret, field, args.output.format);
        }
        let inner = data
            .and_then(|d| d.get("data"))
            .filter(|d| !d.is_null())
            .ok_or_else(|| CliError::Failed(format!("No data found at {shown}")))?;
        return print_field(&json!({ "data": inner }), field, args.output.format);
    }
    if args.output.format == OutputFormat::Json {
        print!("{}", output::json(&secret));
        return Ok(Outcome::Done);
    }
    eprint!("{}", output::warnings(Some(&secret)));
    let mut text = String::new();
    if at.v2 {
        text.push_str(&path_block("Secret Path", &shown));
    }
    if let Some(metadata) = object(data.and_then(|d| d.get("metadata"))) {
        text.push_str(&header_for_map("Metadata", metadata));
        text.push('\n');
        text.push_str(&data_table(metadata));
        text.push('\n');
    }
    let values = if at.v2 {
        object(data.and_then(|d| d.get("data")))
    } else {
        object(data)
    };
    if let Some(values) = values {
        text.push_str(&header_for_map("Data", values));
        text.push('\n');
        text.push_str(&data_table(values));
    }
    print!("{text}");
    Ok(Outcome::Done)
}

/// The KV v2 write body: the data and, when given, the check-and-set version.
fn v2_body(data: Map<String, Json>, cas: Option<u64>) -> Json {
    let mut options = Map::new();
    if let Some(cas) = cas {
        options.insert("cas".into(), json!(cas));
    }
    json!({ "data": data, "options": options })
}

/// What `kv put` and `kv patch` print for the answer to a write at `path`.
fn report_write(
    path: &str,
    answer: Option<Json>,
    field: Option<&str>,
    format: OutputFormat,
) -> Result<Outcome, CliError> {
    let Some(secret) = answer else {
        if format == OutputFormat::Table {
            println!("Success! Data written to: {path}");
        }
        return Ok(Outcome::Done);
    };
    if let Some(field) = field {
        return print_field(&secret, field, format);
    }
    match format {
        OutputFormat::Json => print!("{}", output::json(&secret)),
        OutputFormat::Table => {
            eprint!("{}", output::warnings(Some(&secret)));
            let metadata = object(secret.get("data")).cloned().unwrap_or_default();
            print!(
                "{}{}\n{}",
                path_block("Secret Path", path),
                header_for_map("Metadata", &metadata),
                data_table(&metadata)
            );
        }
    }
    Ok(Outcome::Done)
}

fn read_data(args: &KvWriteArgs) -> Result<Map<String, Json>, CliError> {
    match args.data.as_slice() {
        [] => Err(CliError::Local("Must supply data".into())),
        words => data_args::parse(words, &mut std::io::stdin().lock()),
    }
}

pub fn put(args: &KvWriteArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error writing data";
    let data = read_data(args)?;
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    let path = at.api_path("data");
    let body = if at.v2 {
        v2_body(data, args.cas)
    } else {
        Json::Object(data)
    };
    let answer = client
        .put(&path, Some(&body))
        .map_err(request_error(CONTEXT))?;
    report_write(&path, answer, args.field.as_deref(), args.output.format)
}

pub fn patch(args: &KvPatchArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error writing data";
    let write = &args.write;
    let mut data = if write.data.is_empty() && !args.remove_data.is_empty() {
        Map::new()
    } else {
        read_data(write)?
    };
    for key in &args.remove_data {
        data.insert(key.clone(), Json::Null);
    }
    let client = connect(&write.client, CONTEXT)?;
    let at = locate(&client, &write.target)?;
    at.require_v2("patch")?;
    let path = at.api_path("data");
    let answer = match args.method.as_deref() {
        Some("rw") => read_then_write(&client, &path, data)?,
        Some("patch") => client
            .patch(&path, &v2_body(data, write.cas.filter(|&c| c > 0)))
            .map_err(request_error(CONTEXT))?,
        None => match client.patch(&path, &v2_body(data.clone(), write.cas.filter(|&c| c > 0))) {
            Ok(answer) => answer,
            // As the Vault CLI: a server or policy without PATCH gets a read and a CAS write.
            Err(ClientError::Api { status: 405, .. }) => read_then_write(&client, &path, data)?,
            Err(ClientError::Api { status: 403, .. }) => {
                eprintln!(
                    "WARNING! Data was written to {path} but we recommend that you add the \
                     \"patch\" capability to your ACL policy in order to use HTTP PATCH in the \
                     future."
                );
                read_then_write(&client, &path, data)?
            }
            Err(e) => return Err(request_error(CONTEXT)(e)),
        },
        Some(other) => {
            return Err(CliError::Failed(format!(
                "Unsupported method provided to -method flag: {other}"
            )))
        }
    };
    report_write(&path, answer, write.field.as_deref(), write.output.format)
}

/// `kv patch -method=rw`: read the current version, merge, write with check-and-set on it.
fn read_then_write(
    client: &Client,
    path: &str,
    changes: Map<String, Json>,
) -> Result<Option<Json>, CliError> {
    let current = absent_on_404(client.get(path))
        .map_err(request_error("Error doing pre-read"))?
        .ok_or_else(|| CliError::Failed(format!("No value found at {path}")))?;
    let data = current.get("data");
    let version = data
        .and_then(|d| d.get("metadata"))
        .and_then(|m| m.get("version"))
        .and_then(Json::as_u64)
        .ok_or_else(|| {
            CliError::Failed(format!(
                "No metadata found at {path}; patch only works on existing data"
            ))
        })?;
    let mut merged = object(data.and_then(|d| d.get("data")))
        .cloned()
        .ok_or_else(|| {
            CliError::Failed(format!(
                "No data found at {path}; patch only works on existing data"
            ))
        })?;
    merged.extend(changes);
    client
        .put(path, Some(&v2_body(merged, Some(version))))
        .map_err(request_error("Error writing data"))
}

pub fn list(args: &KvPathArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error listing";
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    let path = at.api_path("metadata");
    let answer = absent_on_404(client.list(&path)).map_err(request_error(CONTEXT))?;
    print_keys(&path, answer.as_ref(), args.output.format)
}

/// A LIST answer as the Vault CLI prints it: a `Keys` column, or the JSON list of keys.
pub(crate) fn print_keys(
    path: &str,
    answer: Option<&Json>,
    format: OutputFormat,
) -> Result<Outcome, CliError> {
    let keys = answer
        .and_then(|a| a.get("data"))
        .and_then(|d| d.get("keys"))
        .and_then(Json::as_array);
    match (keys, format) {
        (Some(keys), OutputFormat::Json) => print!("{}", output::json(keys)),
        (Some(keys), OutputFormat::Table) => {
            eprint!("{}", output::warnings(answer));
            let mut text = String::from("Keys\n----\n");
            for key in keys {
                text.push_str(key.as_str().unwrap_or_default());
                text.push('\n');
            }
            print!("{text}");
        }
        (None, OutputFormat::Json) => {
            print!("{}", output::json(&json!({})));
            return Err(CliError::Failed(format!("No value found at {path}")));
        }
        (None, OutputFormat::Table) => {
            return Err(CliError::Failed(format!("No value found at {path}")))
        }
    }
    Ok(Outcome::Done)
}

/// The versions of `-versions=1,2 -versions=3`, as the strings given: the server checks them,
/// as it does for the Vault CLI.
fn versions(args: &KvVersionsArgs, what: &str) -> Result<Vec<String>, CliError> {
    let list: Vec<String> = args
        .versions
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    if list.is_empty() && what != "delete" {
        return Err(CliError::Local(format!(
            "No versions provided, use the \"-versions\" flag to specify the version to {what}."
        )));
    }
    Ok(list)
}

pub fn delete(args: &KvVersionsArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error deleting";
    let versions = versions(args, "delete")?;
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    let shown = at.api_path("data");
    if at.v2 && !versions.is_empty() {
        client
            .put(
                &at.api_path("delete"),
                Some(&json!({ "versions": versions })),
            )
            .map_err(request_error(CONTEXT))?;
    } else {
        client.delete(&shown).map_err(request_error(CONTEXT))?;
    }
    println!("Success! Data deleted (if it existed) at: {shown}");
    Ok(Outcome::Done)
}

/// `kv undelete` and `kv destroy`: a list of versions written to `mount/<action>/path`.
fn versions_action(args: &KvVersionsArgs, action: &str) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error writing data";
    let versions = versions(args, action)?;
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    at.require_v2(if action == "undelete" {
        "Undelete"
    } else {
        "Destroy"
    })?;
    let path = at.api_path(action);
    client
        .put(&path, Some(&json!({ "versions": versions })))
        .map_err(request_error(CONTEXT))?;
    println!("Success! Data written to: {path}");
    Ok(Outcome::Done)
}

pub fn undelete(args: &KvVersionsArgs) -> Result<Outcome, CliError> {
    versions_action(args, "undelete")
}

pub fn destroy(args: &KvVersionsArgs) -> Result<Outcome, CliError> {
    versions_action(args, "destroy")
}

pub fn metadata_get(args: &KvPathArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error reading";
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    at.require_v2("Metadata")?;
    let path = at.api_path("metadata");
    let secret = absent_on_404(client.get(&path))
        .map_err(request_error(CONTEXT))?
        .ok_or_else(|| CliError::Failed(format!("No value found at {path}")))?;
    if args.output.format == OutputFormat::Json {
        print!("{}", output::json(&secret));
        return Ok(Outcome::Done);
    }
    let mut metadata = object(secret.get("data")).cloned().unwrap_or_default();
    let versions = match metadata.remove("versions") {
        Some(Json::Object(versions)) => versions,
        _ => return Err(CliError::Failed(format!("No value found at {path}"))),
    };
    let mut text = path_block("Metadata Path", &path);
    text.push_str(&header_for_map("Metadata", &metadata));
    text.push('\n');
    text.push_str(&data_table(&metadata));
    let mut numbers: Vec<(u64, &Map<String, Json>)> = versions
        .iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_object()?)))
        .collect();
    numbers.sort_by_key(|(n, _)| *n);
    for (n, version) in numbers {
        text.push('\n');
        text.push_str(&header_for_map(&format!("Version {n}"), version));
        text.push('\n');
        text.push_str(&data_table(version));
    }
    print!("{text}");
    Ok(Outcome::Done)
}

pub fn metadata_put(args: &KvMetadataPutArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error writing data";
    let mut body = Map::new();
    if let Some(max) = args.max_versions {
        body.insert("max_versions".into(), json!(max));
    }
    if let Some(required) = args.cas_required {
        body.insert("cas_required".into(), json!(required));
    }
    if let Some(after) = &args.delete_version_after {
        body.insert("delete_version_after".into(), json!(after));
    }
    if !args.custom_metadata.is_empty() {
        let mut custom = Map::new();
        for pair in &args.custom_metadata {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                CliError::Local(format!(
                    "invalid -custom-metadata {pair:?}: expected key=value"
                ))
            })?;
            custom.insert(k.to_string(), json!(v));
        }
        body.insert("custom_metadata".into(), Json::Object(custom));
    }
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    at.require_v2("Metadata")?;
    let path = at.api_path("metadata");
    client
        .put(&path, Some(&Json::Object(body)))
        .map_err(request_error(CONTEXT))?;
    println!("Success! Data written to: {path}");
    Ok(Outcome::Done)
}

pub fn metadata_delete(args: &KvMetadataDeleteArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error deleting";
    let client = connect(&args.client, CONTEXT)?;
    let at = locate(&client, &args.target)?;
    at.require_v2("Metadata")?;
    let path = at.api_path("metadata");
    client.delete(&path).map_err(request_error(CONTEXT))?;
    println!("Success! Data deleted (if it existed) at: {path}");
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(mount: &str, v2: bool, partial: &str, mount_flag: bool) -> KvLocation {
        KvLocation {
            mount: mount.into(),
            v2,
            partial: partial.into(),
            mount_flag,
        }
    }

    #[test]
    fn v2_paths_get_the_prefix_after_the_mount() {
        let secret = at("secret/", true, "secret/app/db", false);
        assert_eq!(secret.api_path("data"), "secret/data/app/db");
        assert_eq!(secret.api_path("metadata"), "secret/metadata/app/db");
        let root = at("secret/", true, "secret", false);
        assert_eq!(root.api_path("metadata"), "secret/metadata");
        let nested = at("team/kv/", true, "team/kv/x", false);
        assert_eq!(nested.api_path("destroy"), "team/kv/destroy/x");
    }

    #[test]
    fn v1_paths_stay_as_given_or_join_the_mount() {
        assert_eq!(at("kv/", false, "kv/a", false).api_path("data"), "kv/a");
        assert_eq!(at("kv/", false, "a/b", true).api_path("data"), "kv/a/b");
    }

    #[test]
    fn join_cleans_like_go() {
        assert_eq!(join(&["secret/", "data", "a//b/"]), "secret/data/a/b");
        assert_eq!(join(&["secret/", "data", "../x"]), "secret/x");
        assert_eq!(join(&["a", ".", "b"]), "a/b");
    }

    #[test]
    fn headers_are_padded_like_the_vault_cli() {
        assert_eq!(pad_equal_signs("Secret Path", 15), "= Secret Path =");
        assert_eq!(pad_equal_signs("Secret Path", 18), "=== Secret Path ===");
        assert_eq!(pad_equal_signs("Data", 3), "== Data ==");
        let mut map = Map::new();
        map.insert("created_time".into(), json!("x"));
        assert_eq!(header_for_map("Metadata", &map), "====== Metadata ======");
    }
}
