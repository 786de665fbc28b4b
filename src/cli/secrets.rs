//! `mainkey secrets enable|disable|list|tune`: thin clients of `sys/mounts`, with the Vault
//! CLI's flags and messages.

use serde_json::{json, Map, Value as Json};

use super::args::OutputFormat;
use super::args_kv::{
    MountSettingsArgs, SecretsDisableArgs, SecretsEnableArgs, SecretsListArgs, SecretsTuneArgs,
};
use super::auth::{mount_path, mounts};
use super::status::connect;
use super::{output, request_error, CliError, Outcome};

/// `-options=k=v` (repeated) and `-version=N` as the `options` object.
fn options(settings: &MountSettingsArgs) -> Result<Map<String, Json>, CliError> {
    let mut options = Map::new();
    for pair in &settings.options {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            CliError::Local(format!("invalid -options {pair:?}: expected key=value"))
        })?;
        options.insert(k.to_string(), json!(v));
    }
    if let Some(version) = settings.version.filter(|&v| v > 0) {
        options.insert("version".into(), json!(version.to_string()));
    }
    Ok(options)
}

/// The TTLs of the flags, as `sys/mounts` takes them in `config` and the tune body at its
/// top level.
fn ttls(settings: &MountSettingsArgs) -> Map<String, Json> {
    let mut ttls = Map::new();
    if let Some(ttl) = &settings.default_lease_ttl {
        ttls.insert("default_lease_ttl".into(), json!(ttl));
    }
    if let Some(ttl) = &settings.max_lease_ttl {
        ttls.insert("max_lease_ttl".into(), json!(ttl));
    }
    ttls
}

pub fn enable(args: &SecretsEnableArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error enabling";
    let engine = args.engine_type.trim();
    let path = mount_path(args.path.as_deref().unwrap_or(engine));
    let mut body = json!({ "type": engine, "config": ttls(&args.settings) });
    if let Some(description) = &args.settings.description {
        body["description"] = json!(description);
    }
    let options = options(&args.settings)?;
    if !options.is_empty() {
        body["options"] = Json::Object(options);
    }
    let client = connect(&args.client, CONTEXT)?;
    client
        .put(
            &format!("sys/mounts/{}", path.trim_end_matches('/')),
            Some(&body),
        )
        .map_err(request_error(CONTEXT))?;
    println!("Success! Enabled the {engine} secrets engine at: {path}");
    Ok(Outcome::Done)
}

pub fn disable(args: &SecretsDisableArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error disabling secrets engine";
    let client = connect(&args.client, CONTEXT)?;
    let path = mount_path(&args.path);
    client
        .delete(&format!("sys/mounts/{}", path.trim_end_matches('/')))
        .map_err(request_error(CONTEXT))?;
    println!("Success! Disabled the secrets engine (if it existed) at: {path}");
    Ok(Outcome::Done)
}

pub fn tune(args: &SecretsTuneArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error tuning secrets engine";
    let path = mount_path(&args.path);
    let mut body = ttls(&args.settings);
    if let Some(description) = &args.settings.description {
        body.insert("description".into(), json!(description));
    }
    let options = options(&args.settings)?;
    if !options.is_empty() {
        body.insert("options".into(), Json::Object(options));
    }
    let client = connect(&args.client, CONTEXT)?;
    client
        .put(
            &format!("sys/mounts/{}/tune", path.trim_end_matches('/')),
            Some(&Json::Object(body)),
        )
        .map_err(request_error(CONTEXT))?;
    println!("Success! Tuned the secrets engine at: {path}");
    Ok(Outcome::Done)
}

pub fn list(args: &SecretsListArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error listing secrets engines";
    let client = connect(&args.client, CONTEXT)?;
    let body = client.get("sys/mounts").map_err(request_error(CONTEXT))?;
    print!(
        "{}",
        render_list(
            &body.unwrap_or(Json::Null),
            args.detailed,
            args.output.format
        )
    );
    Ok(Outcome::Done)
}

/// `secrets list`: the Vault CLI's table sorted by path (with TTLs and options when
/// `detailed`), or the mounts as JSON.
pub fn render_list(body: &Json, detailed: bool, format: OutputFormat) -> String {
    let mounts = mounts(body);
    if format == OutputFormat::Json {
        return output::json(&mounts);
    }
    let mut paths: Vec<&String> = mounts.keys().collect();
    paths.sort();
    let text = |m: &Json, k: &str| m.get(k).map(output::go_value).unwrap_or_default();
    let flag = |m: &Json, k: &str| {
        m.get(k)
            .and_then(Json::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    let ttl = |m: &Json, k: &str| match m
        .get("config")
        .and_then(|c| c.get(k))
        .and_then(Json::as_i64)
    {
        Some(0) | None => "system".to_string(),
        Some(seconds) => output::human_duration(seconds),
    };
    let rows: Vec<Vec<String>> = paths
        .into_iter()
        .map(|path| {
            let m = &mounts[path.as_str()];
            let mut row = vec![path.clone(), text(m, "type"), text(m, "accessor")];
            if detailed {
                row.extend([
                    ttl(m, "default_lease_ttl"),
                    ttl(m, "max_lease_ttl"),
                    flag(m, "local"),
                    flag(m, "seal_wrap"),
                    m.get("options")
                        .filter(|o| !o.is_null())
                        .map(output::go_value)
                        .unwrap_or_default(),
                ]);
            }
            row.push(text(m, "description"));
            row
        })
        .collect();
    let header: &[&str] = if detailed {
        &[
            "Path",
            "Type",
            "Accessor",
            "Default TTL",
            "Max TTL",
            "Local",
            "Seal Wrap",
            "Options",
            "Description",
        ]
    } else {
        &["Path", "Type", "Accessor", "Description"]
    };
    output::table(header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_by_path() {
        let body = json!({"data": {
            "sys/": {"type": "system", "accessor": "system_1", "description": "system endpoints"},
            "secret/": {"type": "kv", "accessor": "kv_2", "description": "",
                        "options": {"version": "2"}, "config": {"max_lease_ttl": 3600}}
        }});
        assert_eq!(
            render_list(&body, false, OutputFormat::Table),
            "Path       Type      Accessor    Description
----       ----      --------    -----------
secret/    kv        kv_2        n/a
sys/       system    system_1    system endpoints
"
        );
        let detailed = render_list(&body, true, OutputFormat::Table);
        let secret_row = detailed.lines().nth(2).unwrap();
        let cells: Vec<&str> = secret_row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "secret/",
                "kv",
                "kv_2",
                "system",
                "1h",
                "false",
                "false",
                "map[version:2]",
                "n/a"
            ],
            "{detailed}"
        );
        assert!(detailed.contains("map[version:2]"), "{detailed}");
    }

    #[test]
    fn options_take_the_version_shorthand() {
        let settings = MountSettingsArgs {
            description: None,
            default_lease_ttl: None,
            max_lease_ttl: None,
            options: vec!["a=b".into()],
            version: Some(2),
        };
        assert_eq!(
            Json::Object(options(&settings).unwrap()),
            json!({"a": "b", "version": "2"})
        );
        let bad = MountSettingsArgs {
            options: vec!["nokey".into()],
            ..settings
        };
        assert!(options(&bad).is_err());
    }
}
