//! `mainkey token create|lookup|revoke|capabilities`: thin clients of `auth/token/*` and
//! `sys/capabilities[-self]`.

use serde_json::{json, Map, Value as Json};

use super::args::{
    OutputFormat, TokenCapabilitiesArgs, TokenCreateArgs, TokenLookupArgs, TokenRevokeArgs,
};
use super::output;
use super::status::connect;
use super::{request_error, CliError, Outcome};

/// A secret (a whole `/v1` response) as a Key/Value table with its warnings first, or as JSON.
pub fn render_secret(secret: &Json, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => output::json(secret),
        OutputFormat::Table => output::key_value_table(&output::secret_rows(secret)),
    }
}

pub(crate) fn print_secret(secret: &Json, format: OutputFormat) {
    if format == OutputFormat::Table {
        eprint!("{}", output::warnings(Some(secret)));
    }
    print!("{}", render_secret(secret, format));
}

/// The `auth/token/create` body for the flags given.
pub fn create_body(args: &TokenCreateArgs) -> Result<Json, CliError> {
    let mut body = Map::new();
    let policies: Vec<&str> = args
        .policies
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    if !policies.is_empty() {
        body.insert("policies".into(), json!(policies));
    }
    if let Some(ttl) = &args.ttl {
        body.insert("ttl".into(), json!(ttl));
    }
    if let Some(ttl) = &args.explicit_max_ttl {
        body.insert("explicit_max_ttl".into(), json!(ttl));
    }
    if let Some(period) = &args.period {
        body.insert("period".into(), json!(period));
    }
    if args.orphan {
        body.insert("no_parent".into(), json!(true));
    }
    if args.no_default_policy {
        body.insert("no_default_policy".into(), json!(true));
    }
    if let Some(uses) = args.use_limit {
        body.insert("num_uses".into(), json!(uses));
    }
    if let Some(name) = &args.display_name {
        body.insert("display_name".into(), json!(name));
    }
    if let Some(id) = args.id.as_deref().filter(|id| !id.is_empty()) {
        body.insert("id".into(), json!(id));
    }
    if let Some(renewable) = args.renewable {
        body.insert("renewable".into(), json!(renewable));
    }
    if !args.metadata.is_empty() {
        let mut meta = Map::new();
        for pair in &args.metadata {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                CliError::Local(format!(
                    "Error parsing -metadata: {pair:?} is not of the form key=value"
                ))
            })?;
            meta.insert(k.to_string(), json!(v));
        }
        body.insert("meta".into(), Json::Object(meta));
    }
    Ok(Json::Object(body))
}

/// Where `token create` sends its body: through the token role when `-role` names one.
pub fn create_path(args: &TokenCreateArgs) -> String {
    match args.role.as_deref().filter(|r| !r.is_empty()) {
        Some(role) => format!("auth/token/create/{role}"),
        None => "auth/token/create".to_string(),
    }
}

pub fn create(args: &TokenCreateArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error creating token";
    let body = create_body(args)?;
    let client = connect(&args.client, CONTEXT)?;
    let secret = client
        .put(&create_path(args), Some(&body))
        .map_err(request_error(CONTEXT))?
        .unwrap_or(Json::Null);
    match &args.field {
        Some(field) => print_field(&secret, field, args.output.format),
        None => {
            print_secret(&secret, args.output.format);
            Ok(Outcome::Done)
        }
    }
}

/// One field of a `/v1` response, by the names the Vault CLI's `-field` takes: for a
/// response with an `auth` block `token`, `token_accessor`, `token_duration`,
/// `token_renewable`, `token_policies`, `identity_policies` and `policies`, else a key of
/// `data`. `None` when the response has no such field.
pub fn raw_field(secret: &Json, field: &str) -> Option<Json> {
    let data_field = || {
        secret
            .get("data")
            .and_then(|d| d.get(field))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let Some(auth) = secret.get("auth").filter(|a| a.is_object()) else {
        return data_field();
    };
    // Go's zero values: the Vault CLI prints `""` or `[]` for an empty auth field.
    let (key, zero) = match field {
        "token" => ("client_token", json!("")),
        "token_accessor" => ("accessor", json!("")),
        "token_duration" => ("lease_duration", json!(0)),
        "token_renewable" => ("renewable", json!(false)),
        "token_policies" | "identity_policies" | "policies" => (field, json!([])),
        _ => return data_field(),
    };
    Some(
        auth.get(key)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(zero),
    )
}

/// `-field`: the value alone, as Go's `%v` (or JSON with `-format=json`), without a trailing
/// newline when standard output is not a terminal, so that `$(...)` and pipes get it bare.
pub(crate) fn print_field(
    secret: &Json,
    field: &str,
    format: OutputFormat,
) -> Result<Outcome, CliError> {
    let value = raw_field(secret, field).ok_or_else(|| {
        CliError::Local(format!(
            "Field {} not present in secret",
            crate::logical::fields::go_quote(field)
        ))
    })?;
    let text = match format {
        OutputFormat::Table => output::go_value(&value),
        OutputFormat::Json => output::json(&value).trim_end().to_string(),
    };
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        println!("{text}");
    } else {
        print!("{text}");
    }
    Ok(Outcome::Done)
}

pub fn lookup(args: &TokenLookupArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error looking up token";
    let client = connect(&args.client, CONTEXT)?;
    let secret = match (&args.token, args.accessor) {
        (None, true) => {
            return Err(CliError::Local(
                "Not enough arguments (expected 1, got 0)".into(),
            ))
        }
        (None, false) => client.get("auth/token/lookup-self"),
        (Some(accessor), true) => client.put(
            "auth/token/lookup-accessor",
            Some(&json!({ "accessor": accessor })),
        ),
        (Some(token), false) => client.put("auth/token/lookup", Some(&json!({ "token": token }))),
    }
    .map_err(request_error(CONTEXT))?
    .unwrap_or(Json::Null);
    print_secret(&secret, args.output.format);
    Ok(Outcome::Done)
}

pub fn revoke(args: &TokenRevokeArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error revoking token";
    let client = connect(&args.client, CONTEXT)?;
    match (&args.token, args.self_, args.accessor) {
        (Some(_), true, _) => {
            return Err(CliError::Local(
                "Too many arguments (expected 0, got 1)".into(),
            ))
        }
        (None, true, _) => client.put("auth/token/revoke-self", None),
        (None, false, _) => {
            return Err(CliError::Local(
                "Not enough arguments (expected 1, got 0)".into(),
            ))
        }
        (Some(accessor), false, true) => client.put(
            "auth/token/revoke-accessor",
            Some(&json!({ "accessor": accessor })),
        ),
        (Some(token), false, false) => {
            client.put("auth/token/revoke", Some(&json!({ "token": token })))
        }
    }
    .map_err(request_error(CONTEXT))?;
    println!("Success! Revoked token (if it existed)");
    Ok(Outcome::Done)
}

pub fn capabilities(args: &TokenCapabilitiesArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error listing capabilities";
    let client = connect(&args.client, CONTEXT)?;
    let (token, path) = match args.args.as_slice() {
        [path] => (None, path.as_str()),
        [token, path] => (Some(token.as_str()), path.as_str()),
        _ => {
            return Err(CliError::Local(
                "Expected 1 or 2 arguments: [TOKEN] PATH".into(),
            ))
        }
    };
    let body = match token {
        None => client.put("sys/capabilities-self", Some(&json!({ "paths": [path] }))),
        Some(token) => client.put(
            "sys/capabilities",
            Some(&json!({ "token": token, "paths": [path] })),
        ),
    }
    .map_err(request_error(CONTEXT))?
    .unwrap_or(Json::Null);
    print!(
        "{}",
        render_capabilities(&capability_list(&body, path), args.output.format)
    );
    Ok(Outcome::Done)
}

/// The capabilities of `path` in a `sys/capabilities*` response, sorted.
pub fn capability_list(body: &Json, path: &str) -> Vec<String> {
    let data = body.get("data").filter(|d| d.is_object()).unwrap_or(body);
    let list = data
        .get(path)
        .or_else(|| data.get("capabilities"))
        .and_then(Json::as_array);
    let mut caps: Vec<String> = list
        .map(|l| {
            l.iter()
                .filter_map(Json::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    caps.sort();
    caps
}

/// `token capabilities`: `create, read` or a JSON array, like the Vault CLI.
pub fn render_capabilities(caps: &[String], format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => output::json(&caps),
        OutputFormat::Table => format!("{}\n", caps.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::argv::vault_style;
    use crate::cli::{Cli, Command, TokenCommand};
    use clap::Parser;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(vault_style(args.iter().copied())).expect("parses")
    }

    #[test]
    fn create_flags_become_the_request_body() {
        let cli = parse(&[
            "mainkey",
            "token",
            "create",
            "-policy=a",
            "-policy=b,c",
            "-ttl=1h",
            "-explicit-max-ttl=24h",
            "-period=2h",
            "-orphan",
            "-no-default-policy",
            "-use-limit=3",
            "-display-name=ci",
            "-metadata=tenant=t1",
            "-metadata=team=x",
            "-id=my-token",
            "-renewable=false",
            "-format=json",
        ]);
        let Command::Token(TokenCommand::Create(args)) = cli.command else {
            panic!("expected token create");
        };
        assert_eq!(args.output.format, OutputFormat::Json);
        assert_eq!(
            create_body(&args).expect("body"),
            json!({
                "policies": ["a", "b", "c"], "ttl": "1h", "explicit_max_ttl": "24h",
                "period": "2h", "no_parent": true, "no_default_policy": true, "num_uses": 3,
                "display_name": "ci", "meta": {"tenant": "t1", "team": "x"},
                "id": "my-token", "renewable": false
            })
        );
        assert_eq!(create_path(&args), "auth/token/create");
        assert_eq!(args.field, None);
    }

    #[test]
    fn a_role_creates_through_the_role_path() {
        let Command::Token(TokenCommand::Create(args)) = parse(&[
            "mainkey",
            "token",
            "create",
            "-role=ci",
            "-renewable",
            "-field=token",
        ])
        .command
        else {
            panic!("expected token create");
        };
        assert_eq!(create_path(&args), "auth/token/create/ci");
        assert_eq!(args.field.as_deref(), Some("token"));
        // The role is the path, never part of the body.
        assert_eq!(
            create_body(&args).expect("body"),
            json!({"renewable": true})
        );
        let Command::Token(TokenCommand::Create(args)) =
            parse(&["mainkey", "token", "create", "-role="]).command
        else {
            panic!("expected token create");
        };
        assert_eq!(create_path(&args), "auth/token/create");
    }

    #[test]
    fn raw_fields_of_a_token_answer() {
        let secret = json!({
            "data": null,
            "auth": {
                "client_token": "s.abc", "accessor": "acc", "lease_duration": 3600,
                "renewable": true, "policies": ["default", "p"], "token_policies": ["default", "p"],
                "identity_policies": null, "metadata": {"k": "v"}
            }
        });
        let field = |f: &str| raw_field(&secret, f);
        assert_eq!(field("token"), Some(json!("s.abc")));
        assert_eq!(field("token_accessor"), Some(json!("acc")));
        assert_eq!(field("token_duration"), Some(json!(3600)));
        assert_eq!(field("token_renewable"), Some(json!(true)));
        assert_eq!(field("policies"), Some(json!(["default", "p"])));
        assert_eq!(field("identity_policies"), Some(json!([])));
        assert_eq!(field("client_token"), None);
        assert_eq!(field("nope"), None);
        assert_eq!(
            output::go_value(&field("token_policies").unwrap()),
            "[default p]"
        );

        let plain = json!({"data": {"a": "b", "n": null}, "auth": null});
        assert_eq!(raw_field(&plain, "a"), Some(json!("b")));
        assert_eq!(raw_field(&plain, "n"), None);
        assert_eq!(raw_field(&plain, "token"), None);
    }

    #[test]
    fn a_missing_field_is_a_local_error() {
        let err =
            print_field(&json!({"data": {}}), "token", OutputFormat::Table).expect_err("missing");
        assert_eq!(err.to_string(), "Field \"token\" not present in secret");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn an_empty_create_sends_an_empty_body() {
        let Command::Token(TokenCommand::Create(args)) =
            parse(&["mainkey", "token", "create"]).command
        else {
            panic!("expected token create");
        };
        assert_eq!(create_body(&args).expect("body"), json!({}));
    }

    #[test]
    fn metadata_without_equals_is_a_local_error() {
        let Command::Token(TokenCommand::Create(args)) =
            parse(&["mainkey", "token", "create", "-metadata=oops"]).command
        else {
            panic!("expected token create");
        };
        assert_eq!(create_body(&args).expect_err("bad").exit_code(), 1);
    }

    #[test]
    fn lookup_and_revoke_flags() {
        let Command::Token(TokenCommand::Lookup(args)) =
            parse(&["mainkey", "token", "lookup", "-accessor", "acc1"]).command
        else {
            panic!("expected token lookup");
        };
        assert!(args.accessor);
        assert_eq!(args.token.as_deref(), Some("acc1"));
        let Command::Token(TokenCommand::Revoke(args)) =
            parse(&["mainkey", "token", "revoke", "-self"]).command
        else {
            panic!("expected token revoke");
        };
        assert!(args.self_);
        assert_eq!(args.token, None);
    }

    #[test]
    fn capabilities_take_one_or_two_arguments() {
        let Command::Token(TokenCommand::Capabilities(args)) =
            parse(&["mainkey", "token", "capabilities", "secret/data/x"]).command
        else {
            panic!("expected token capabilities");
        };
        assert_eq!(args.args, ["secret/data/x"]);
        let argv = vault_style(["mainkey", "token", "capabilities", "a", "b", "c"]);
        assert!(Cli::try_parse_from(argv).is_err());
    }

    #[test]
    fn capabilities_print_sorted_and_comma_separated() {
        let body = json!({"capabilities": ["update", "read"], "secret/x": ["update", "read"],
                          "data": {"capabilities": ["update", "read"],
                                   "secret/x": ["update", "read"]}});
        let caps = capability_list(&body, "secret/x");
        assert_eq!(
            render_capabilities(&caps, OutputFormat::Table),
            "read, update\n"
        );
        assert_eq!(
            render_capabilities(&caps, OutputFormat::Json),
            "[\n  \"read\",\n  \"update\"\n]\n"
        );
    }
}
