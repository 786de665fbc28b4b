//! `mainkey token create|lookup|revoke|capabilities`: thin clients of `auth/token/*` and
//! `sys/capabilities[-self]`.

use serde_json::{json, Map, Value as Json};

use super::args::{
    OutputFormat, TokenCapabilitiesArgs, TokenCreateArgs, TokenLookupArgs, TokenRevokeArgs,
};
use super::client::ClientError;
use super::output;
use super::status::connect;
use super::{CliError, Outcome};

fn request(context: &'static str) -> impl Fn(ClientError) -> CliError {
    move |source| CliError::Request { context, source }
}

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

pub fn create(args: &TokenCreateArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error creating token";
    let body = create_body(args)?;
    let client = connect(&args.client, CONTEXT)?;
    let secret = client
        .put("auth/token/create", Some(&body))
        .map_err(request(CONTEXT))?
        .unwrap_or(Json::Null);
    print_secret(&secret, args.output.format);
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
    .map_err(request(CONTEXT))?
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
    .map_err(request(CONTEXT))?;
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
    .map_err(request(CONTEXT))?
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
                "display_name": "ci", "meta": {"tenant": "t1", "team": "x"}
            })
        );
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
