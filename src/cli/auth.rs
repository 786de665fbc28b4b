//! `mainkey auth enable|disable|list`: thin clients of `sys/auth`.

use serde_json::{json, Value as Json};

use super::args::{AuthDisableArgs, AuthEnableArgs, AuthListArgs, OutputFormat};
use super::output;
use super::status::connect;
use super::{request_error, CliError, Outcome};

/// `approle` → `approle/`, as the Vault CLI prints mount paths.
pub(crate) fn mount_path(path: &str) -> String {
    format!("{}/", path.trim_matches('/'))
}

pub fn enable(args: &AuthEnableArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error enabling";
    let client = connect(&args.client, CONTEXT)?;
    let path = mount_path(args.path.as_deref().unwrap_or(&args.method_type));
    let mut body = json!({ "type": args.method_type });
    if let Some(description) = &args.description {
        body["description"] = json!(description);
    }
    client
        .put(
            &format!("sys/auth/{}", path.trim_end_matches('/')),
            Some(&body),
        )
        .map_err(request_error(CONTEXT))?;
    println!(
        "Success! Enabled {} auth method at: {path}",
        args.method_type
    );
    Ok(Outcome::Done)
}

pub fn disable(args: &AuthDisableArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error disabling auth method";
    let client = connect(&args.client, CONTEXT)?;
    let path = mount_path(&args.path);
    client
        .delete(&format!("sys/auth/{}", path.trim_end_matches('/')))
        .map_err(request_error(CONTEXT))?;
    println!("Success! Disabled the auth method (if it existed) at: {path}");
    Ok(Outcome::Done)
}

pub fn list(args: &AuthListArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error listing enabled authentications";
    let client = connect(&args.client, CONTEXT)?;
    let body = client.get("sys/auth").map_err(request_error(CONTEXT))?;
    print!(
        "{}",
        render_list(&body.unwrap_or(Json::Null), args.output.format)
    );
    Ok(Outcome::Done)
}

/// The mounts of a `sys/auth` response, from `data` (or the top level of older servers).
pub(crate) fn mounts(body: &Json) -> serde_json::Map<String, Json> {
    let source = body.get("data").filter(|d| d.is_object()).unwrap_or(body);
    source
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(k, v)| k.ends_with('/') && v.is_object())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// `auth list`: the Vault CLI's table, sorted by path, or the mounts as JSON.
pub fn render_list(body: &Json, format: OutputFormat) -> String {
    let mounts = mounts(body);
    if format == OutputFormat::Json {
        return output::json(&mounts);
    }
    let mut paths: Vec<&String> = mounts.keys().collect();
    paths.sort();
    let text = |m: &Json, k: &str| m.get(k).and_then(Json::as_str).unwrap_or("").to_string();
    let rows: Vec<Vec<String>> = paths
        .into_iter()
        .map(|path| {
            let m = &mounts[path.as_str()];
            let version = text(m, "plugin_version");
            vec![
                path.clone(),
                text(m, "type"),
                text(m, "accessor"),
                text(m, "description"),
                if version.is_empty() {
                    "n/a".to_string()
                } else {
                    version
                },
            ]
        })
        .collect();
    output::table(
        &["Path", "Type", "Accessor", "Description", "Version"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_by_path() {
        let body = json!({
            "request_id": "x",
            "data": {
                "userpass/": {"type": "userpass", "accessor": "auth_userpass_1", "description": ""},
                "token/": {"type": "token", "accessor": "auth_token_2",
                           "description": "token based credentials"}
            }
        });
        assert_eq!(
            render_list(&body, OutputFormat::Table),
            "Path         Type        Accessor           Description                Version
----         ----        --------           -----------                -------
token/       token       auth_token_2       token based credentials    n/a
userpass/    userpass    auth_userpass_1    n/a                        n/a
"
        );
    }

    #[test]
    fn mount_paths_end_in_one_slash() {
        assert_eq!(mount_path("approle"), "approle/");
        assert_eq!(mount_path("/a/b/"), "a/b/");
    }
}
