//! `mainkey policy write|read|list|delete|lint`: thin clients of `sys/policies/acl`, and an
//! offline lint through [`crate::policy::lint`].

use std::io::Read;

use serde_json::{json, Value as Json};

use super::args::{OutputFormat, PolicyLintArgs, PolicyListArgs, PolicyNameArgs, PolicyWriteArgs};
use super::client::ClientError;
use super::output;
use super::status::connect;
use super::{request_error, CliError, Outcome};

/// The text of FILE, or of standard input for `-`.
pub(crate) fn read_source(file: &str) -> Result<String, CliError> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Local(format!("Error reading policy from stdin: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(file)
        .map_err(|e| CliError::Local(format!("Error opening policy file: {e}")))
}

pub fn write(args: &PolicyWriteArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error uploading policy";
    let rules = read_source(&args.file)?;
    let client = connect(&args.client, CONTEXT)?;
    let name = args.name.trim().to_lowercase();
    let body = client
        .put(
            &format!("sys/policies/acl/{name}"),
            Some(&json!({ "policy": rules })),
        )
        .map_err(request_error(CONTEXT))?;
    eprint!("{}", output::warnings(body.as_ref()));
    println!("Success! Uploaded policy: {name}");
    Ok(Outcome::Done)
}

pub fn read(args: &PolicyNameArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error reading policy named";
    let client = connect(&args.client, CONTEXT)?;
    let name = args.name.trim().to_lowercase();
    let body = match client.get(&format!("sys/policies/acl/{name}")) {
        Ok(body) => body,
        Err(ClientError::Api { status: 404, .. }) => None,
        Err(source) => return Err(request_error(CONTEXT)(source)),
    };
    let rules = body
        .as_ref()
        .and_then(|b| b.get("data"))
        .and_then(|d| d.get("policy"))
        .and_then(Json::as_str);
    let Some(rules) = rules else {
        eprintln!("No policy named: {name}");
        return Ok(Outcome::Warnings);
    };
    print!("{}", render_read(rules, args.output.format));
    Ok(Outcome::Done)
}

/// `policy read`: the rules as they are, or bao's `{"policy": ...}` JSON.
pub fn render_read(rules: &str, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => output::json(&json!({ "policy": rules })),
        OutputFormat::Table => format!("{}\n", rules.trim()),
    }
}

pub fn list(args: &PolicyListArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error listing policies";
    let client = connect(&args.client, CONTEXT)?;
    let body = client
        .list("sys/policies/acl")
        .map_err(request_error(CONTEXT))?;
    let names: Vec<String> = body
        .as_ref()
        .and_then(|b| b.get("data"))
        .and_then(|d| d.get("keys"))
        .and_then(Json::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Json::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    print!("{}", render_list(&names, args.output.format));
    Ok(Outcome::Done)
}

/// `policy list`: one name a line, or a JSON array.
pub fn render_list(names: &[String], format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => output::json(&names),
        OutputFormat::Table => names.iter().map(|n| format!("{n}\n")).collect(),
    }
}

pub fn delete(args: &PolicyNameArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error deleting";
    let client = connect(&args.client, CONTEXT)?;
    let name = args.name.trim().to_lowercase();
    client
        .delete(&format!("sys/policies/acl/{name}"))
        .map_err(request_error(CONTEXT))?;
    println!("Success! Deleted policy: {name}");
    Ok(Outcome::Done)
}

/// `policy lint FILE`: offline. Each warning on a line of its own; exit 0 when clean, 2 with
/// warnings, 1 when the policy does not parse.
pub fn lint(args: &PolicyLintArgs) -> Result<Outcome, CliError> {
    let text = read_source(&args.file)?;
    let (out, outcome) = lint_text(&text)?;
    print!("{out}");
    Ok(outcome)
}

pub fn lint_text(text: &str) -> Result<(String, Outcome), CliError> {
    let warnings = crate::policy::lint(text)
        .map_err(|e| CliError::Local(format!("Error parsing policy: {e}")))?;
    if warnings.is_empty() {
        return Ok((String::new(), Outcome::Done));
    }
    let out = warnings.iter().map(|w| format!("{w}\n")).collect();
    Ok((out, Outcome::Warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_policy_lints_clean() {
        let (out, outcome) =
            lint_text(r#"path "secret/data/+/nexa" { capabilities = ["read"] }"#).expect("parses");
        assert_eq!(out, "");
        assert_eq!(outcome.exit_code(), 0);
    }

    #[test]
    fn a_literal_star_is_a_warning_with_exit_two() {
        let (out, outcome) =
            lint_text(r#"path "secret/data/tenant/*/nexa" { capabilities = ["read"] }"#)
                .expect("parses");
        assert!(out.contains("secret/data/tenant/*/nexa"), "{out}");
        assert!(out.ends_with('\n'));
        assert_eq!(outcome.exit_code(), 2);
    }

    #[test]
    fn a_policy_that_does_not_parse_exits_one() {
        let err = lint_text("path \"x\" { capabilities = ").expect_err("does not parse");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn read_and_list_layouts() {
        assert_eq!(
            render_read("path \"a\" {}\n\n", OutputFormat::Table),
            "path \"a\" {}\n"
        );
        let names = vec!["default".to_string(), "root".to_string()];
        assert_eq!(render_list(&names, OutputFormat::Table), "default\nroot\n");
        assert_eq!(
            render_list(&names, OutputFormat::Json),
            "[\n  \"default\",\n  \"root\"\n]\n"
        );
    }
}
