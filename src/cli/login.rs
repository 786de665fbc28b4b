//! `mainkey login`: authenticate with the token, userpass, approle or jwt method, print the
//! token as the Vault CLI does and keep it in `~/.vault-token`.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use secrecy::SecretString;
use serde_json::{json, Value as Json};

use super::args::{LoginArgs, OutputFormat};
use super::client::{Client, ClientSettings};
use super::token::print_secret;
use super::{CliError, Outcome};

const CONTEXT: &str = "Error authenticating";

/// What to send where for one login.
#[derive(Debug, PartialEq)]
pub enum LoginRequest {
    /// Verify the token with `auth/token/lookup-self`.
    Token(String),
    /// `PUT auth/<path>` with this body.
    Login { path: String, body: Json },
}

/// `key=value` words into a map; anything else is a usage error.
fn pairs(words: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    words
        .iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    CliError::Local(format!(
                        "Error parsing arguments: {w:?} is not of the form key=value"
                    ))
                })
        })
        .collect()
}

fn required(map: &BTreeMap<String, String>, key: &str) -> Result<String, CliError> {
    map.get(key)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| CliError::Local(format!("Error authenticating: {key} must be given")))
}

/// Works out the request from the flags and words; `stdin_token` is asked only for a token
/// login without one.
pub fn plan(
    args: &LoginArgs,
    stdin_token: impl FnOnce() -> Result<String, CliError>,
) -> Result<LoginRequest, CliError> {
    let method = args.method.as_str();
    let mount = args
        .path
        .as_deref()
        .unwrap_or(method)
        .trim_matches('/')
        .to_string();
    match method {
        "token" => {
            let token = match args.args.as_slice() {
                [] => stdin_token()?,
                [t] if t == "-" => stdin_token()?,
                [t] if t.starts_with("token=") => t["token=".len()..].to_string(),
                [t] => t.clone(),
                _ => {
                    return Err(CliError::Local(
                        "Too many arguments (expected 0 or 1)".into(),
                    ))
                }
            };
            let token = token.trim().to_string();
            if token.is_empty() {
                return Err(CliError::Local(
                    "Error authenticating: no token given".into(),
                ));
            }
            Ok(LoginRequest::Token(token))
        }
        "userpass" => {
            let map = pairs(&args.args)?;
            let username = required(&map, "username")?;
            let password = required(&map, "password")?;
            Ok(LoginRequest::Login {
                path: format!("{mount}/login/{username}"),
                body: json!({ "password": password }),
            })
        }
        "approle" => {
            let map = pairs(&args.args)?;
            let mut body = json!({ "role_id": required(&map, "role_id")? });
            if let Some(secret_id) = map.get("secret_id") {
                body["secret_id"] = json!(secret_id);
            }
            Ok(LoginRequest::Login {
                path: format!("{mount}/login"),
                body,
            })
        }
        "jwt" => {
            let map = pairs(&args.args)?;
            let mut body = json!({ "jwt": required(&map, "jwt")? });
            if let Some(role) = map.get("role") {
                body["role"] = json!(role);
            }
            Ok(LoginRequest::Login {
                path: format!("{mount}/login"),
                body,
            })
        }
        other => Err(CliError::Local(format!(
            "Unknown auth method: {other}. Use \"mainkey auth list\" to see the complete list of \
             auth methods. Additionally, some auth methods are only available via the HTTP API."
        ))),
    }
}

fn read_stdin_token() -> Result<String, CliError> {
    eprint!("Token (will be hidden): ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Local(format!("Error reading token: {e}")))?;
    Ok(line.trim().to_string())
}

pub fn run(args: &LoginArgs) -> Result<Outcome, CliError> {
    let request = plan(args, read_stdin_token)?;
    let to_cli = super::request_error(CONTEXT);
    let mut settings = ClientSettings::resolve(&args.client).map_err(to_cli)?;
    let secret = match &request {
        LoginRequest::Token(token) => {
            settings.token = Some(SecretString::from(token.clone()));
            let client = Client::new(settings).map_err(to_cli)?;
            let lookup = client
                .get("auth/token/lookup-self")
                .map_err(to_cli)?
                .unwrap_or(Json::Null);
            token_secret(token, &lookup)
        }
        LoginRequest::Login { path, body } => {
            // A login must not carry whatever token is stored already.
            settings.token = None;
            let client = Client::new(settings).map_err(to_cli)?;
            client
                .put(&format!("auth/{path}"), Some(body))
                .map_err(to_cli)?
                .unwrap_or(Json::Null)
        }
    };
    let token = secret
        .get("auth")
        .and_then(|a| a.get("client_token"))
        .and_then(Json::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CliError::Local("Error authenticating: the response has no token".into()))?
        .to_string();
    if !args.no_store {
        store_token(&token)?;
    }
    if args.output.format == OutputFormat::Table {
        print!("{}", banner(args.no_store));
    }
    print_secret(&secret, args.output.format);
    Ok(Outcome::Done)
}

/// A token login shows the looked-up token as an `auth` block, as the Vault CLI does.
pub fn token_secret(token: &str, lookup: &Json) -> Json {
    let data = lookup.get("data").cloned().unwrap_or(Json::Null);
    let get = |k: &str| data.get(k).cloned().unwrap_or(Json::Null);
    let policies = get("policies");
    let identity = data
        .get("identity_policies")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let mut all: Vec<Json> = policies.as_array().cloned().unwrap_or_default();
    for p in identity.as_array().into_iter().flatten() {
        if !all.contains(p) {
            all.push(p.clone());
        }
    }
    json!({
        "request_id": lookup.get("request_id").cloned().unwrap_or(json!("")),
        "lease_id": "",
        "lease_duration": 0,
        "renewable": false,
        "data": null,
        "warnings": lookup.get("warnings").cloned().unwrap_or(Json::Null),
        "auth": {
            "client_token": token,
            "accessor": get("accessor"),
            "policies": all,
            "token_policies": policies,
            "identity_policies": identity,
            "metadata": get("meta"),
            "orphan": get("orphan"),
            "entity_id": get("entity_id"),
            "lease_duration": get("ttl").as_i64().unwrap_or(0),
            "renewable": get("renewable").as_bool().unwrap_or(false),
        }
    })
}

/// The Vault CLI's words before the token table.
pub fn banner(no_store: bool) -> &'static str {
    if no_store {
        "The token was not stored in token helper. Set the VAULT_TOKEN environment\n\
         variable or pass the token below with each request to Vault.\n\n\
         Success! You are now authenticated.\n\n"
    } else {
        "Success! You are now authenticated. The token information displayed below is\n\
         already stored in the token helper. You do NOT need to run \"mainkey login\"\n\
         again. Future Vault requests will automatically use this token.\n\n"
    }
}

/// Writes `~/.vault-token` with mode 0600.
fn store_token(token: &str) -> Result<(), CliError> {
    let home = std::env::var("HOME")
        .ok()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| CliError::Local("Error storing token: HOME is not set".into()))?;
    let path = PathBuf::from(home).join(".vault-token");
    super::private_file::write(&path, token.as_bytes(), true)
        .map_err(|e| CliError::Local(format!("Error storing token in {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::argv::vault_style;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn login_args(args: &[&str]) -> LoginArgs {
        let mut argv = vec!["mainkey", "login"];
        argv.extend(args);
        match Cli::try_parse_from(vault_style(argv))
            .expect("parses")
            .command
        {
            Command::Login(args) => args,
            other => panic!("expected login, got {other:?}"),
        }
    }

    fn no_stdin() -> Result<String, CliError> {
        panic!("stdin must not be read")
    }

    #[test]
    fn userpass_goes_to_login_slash_username() {
        let args = login_args(&["-method=userpass", "username=admin", "password=pw"]);
        assert_eq!(
            plan(&args, no_stdin).expect("plans"),
            LoginRequest::Login {
                path: "userpass/login/admin".into(),
                body: json!({"password": "pw"})
            }
        );
        let args = login_args(&[
            "-method=userpass",
            "-path=people",
            "username=a",
            "password=b",
        ]);
        let LoginRequest::Login { path, .. } = plan(&args, no_stdin).expect("plans") else {
            panic!("expected a login");
        };
        assert_eq!(path, "people/login/a");
    }

    #[test]
    fn approle_and_jwt_bodies() {
        let args = login_args(&["-method=approle", "role_id=r", "secret_id=s", "-no-store"]);
        assert!(args.no_store);
        assert_eq!(
            plan(&args, no_stdin).expect("plans"),
            LoginRequest::Login {
                path: "approle/login".into(),
                body: json!({"role_id": "r", "secret_id": "s"})
            }
        );
        let args = login_args(&["-method=jwt", "-path=oidc", "role=dev", "jwt=eyJ"]);
        assert_eq!(
            plan(&args, no_stdin).expect("plans"),
            LoginRequest::Login {
                path: "oidc/login".into(),
                body: json!({"role": "dev", "jwt": "eyJ"})
            }
        );
    }

    #[test]
    fn token_is_the_default_method() {
        let args = login_args(&["s.abc"]);
        assert_eq!(
            plan(&args, no_stdin).expect("plans"),
            LoginRequest::Token("s.abc".into())
        );
        let args = login_args(&[]);
        assert_eq!(
            plan(&args, || Ok("s.stdin\n".into())).expect("plans"),
            LoginRequest::Token("s.stdin".into())
        );
    }

    #[test]
    fn bad_input_is_a_local_error() {
        for words in [
            vec!["-method=userpass", "username=a"],
            vec!["-method=userpass", "nonsense"],
            vec!["-method=ldap", "a=b"],
            vec!["-method=approle"],
        ] {
            let err = plan(&login_args(&words), no_stdin).expect_err("fails");
            assert_eq!(err.exit_code(), 1, "{words:?}");
        }
    }

    #[test]
    fn a_token_login_prints_the_looked_up_token() {
        let lookup = json!({"data": {"accessor": "acc", "policies": ["root"], "ttl": 0,
                                     "renewable": false, "meta": null}});
        let secret = token_secret("root", &lookup);
        let table = crate::cli::output::key_value_table(&crate::cli::output::secret_rows(&secret));
        assert_eq!(
            table,
            "Key                  Value
---                  -----
token                root
token_accessor       acc
token_duration       ∞
token_renewable      false
token_policies       [\"root\"]
identity_policies    []
policies             [\"root\"]
"
        );
    }

    #[test]
    fn the_token_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".vault-token");
        std::fs::write(&path, "old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        super::super::private_file::write(&path, b"s.new", true).expect("writes");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "s.new");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
