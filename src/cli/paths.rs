//! `mainkey read|write|list|delete PATH`: any `/v1` path, as the Vault CLI's generic
//! commands, through the same client and output as the rest.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value as Json;

use super::args::OutputFormat;
use super::args_kv::{PathArgs, ReadArgs, WriteArgs};
use super::client::absent_on_404;
use super::kv::print_keys;
use super::status::connect;
use super::token::{print_field, print_secret};
use super::{data_args, request_error, CliError, Outcome};

fn sanitize(path: &str) -> &str {
    path.trim_matches('/')
}

/// `read PATH K=V...`: the pairs as a query string.
fn query(words: &[String]) -> Result<String, CliError> {
    let mut parts = Vec::new();
    for word in words {
        let (k, v) = word.split_once('=').ok_or_else(|| {
            CliError::Local(format!(
                "Failed to parse K=V data: format must be key=value, got {word:?}"
            ))
        })?;
        parts.push(format!(
            "{}={}",
            utf8_percent_encode(k, NON_ALPHANUMERIC),
            utf8_percent_encode(v, NON_ALPHANUMERIC)
        ));
    }
    Ok(parts.join("&"))
}

/// A secret, or one field of it, in the format asked.
fn show(secret: &Json, field: Option<&str>, format: OutputFormat) -> Result<Outcome, CliError> {
    if let Some(field) = field {
        return print_field(secret, field, format);
    }
    print_secret(secret, format);
    Ok(Outcome::Done)
}

pub fn read(args: &ReadArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error reading";
    let path = sanitize(&args.path);
    let query = query(&args.data)?;
    let client = connect(&args.client, CONTEXT)?;
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let secret = absent_on_404(client.get(&target))
        .map_err(request_error(CONTEXT))?
        .ok_or_else(|| CliError::Failed(format!("No value found at {path}")))?;
    show(&secret, args.field.as_deref(), args.output.format)
}

pub fn write(args: &WriteArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error writing data";
    let path = sanitize(&args.path);
    if args.data.is_empty() && !args.force {
        return Err(CliError::Local("Must supply data or use -force".into()));
    }
    let data = data_args::parse(&args.data, &mut std::io::stdin().lock())?;
    let client = connect(&args.client, CONTEXT)?;
    let answer = client
        .put(path, Some(&Json::Object(data)))
        .map_err(request_error(CONTEXT))?;
    match answer {
        None => {
            if args.output.format == OutputFormat::Table {
                println!("Success! Data written to: {path}");
            }
            Ok(Outcome::Done)
        }
        Some(secret) => show(&secret, args.field.as_deref(), args.output.format),
    }
}

pub fn list(args: &PathArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error listing";
    let path = sanitize(&args.path);
    let client = connect(&args.client, CONTEXT)?;
    let answer = absent_on_404(client.list(path)).map_err(request_error(CONTEXT))?;
    print_keys(path, answer.as_ref(), args.output.format)
}

pub fn delete(args: &PathArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error deleting";
    let path = sanitize(&args.path);
    let client = connect(&args.client, CONTEXT)?;
    let answer = client.delete(path).map_err(request_error(CONTEXT))?;
    match answer {
        Some(secret) => print_secret(&secret, args.output.format),
        None if args.output.format == OutputFormat::Table => {
            println!("Success! Data deleted (if it existed) at: {path}")
        }
        None => {}
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_pairs_become_an_encoded_query() {
        let words = vec!["version=2".to_string(), "a b=c&d".to_string()];
        assert_eq!(query(&words).unwrap(), "version=2&a%20b=c%26d");
        assert!(query(&["bare".to_string()]).is_err());
    }
}
