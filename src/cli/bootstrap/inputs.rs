//! What a bootstrap file refers to: passwords and KV values, read from the environment
//! variables and files that it names, and policy files. All of them are read before the
//! first request, so a missing variable or file stops the run before anything is written.
//!
//! Nothing here derives `Debug`, and messages name the variable or file, never its content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value as Json};
use zeroize::Zeroizing;

use super::spec::{KvSpec, PolicySpec, Spec, UserpassSpec};
use crate::cli::{dotenv, CliError};

/// What each item needs, by item name.
pub struct Inputs {
    /// Policy texts, from `rules` or `file`.
    pub policies: BTreeMap<String, String>,
    pub passwords: BTreeMap<String, SecretString>,
    pub kv_data: BTreeMap<String, SecretData>,
}

/// The whole data of one KV secret. Its values may be secret; `serde_json` values cannot be
/// zeroized, so they live no longer than the run and are never printed.
pub struct SecretData(Map<String, Json>);

impl SecretData {
    pub fn expose(&self) -> &Map<String, Json> {
        &self.0
    }
}

/// Reads every input of `spec`; `base` is the bootstrap file's directory, against which
/// relative paths are taken.
pub fn read(
    spec: &Spec,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Inputs, CliError> {
    let mut policies = BTreeMap::new();
    for (name, policy) in &spec.policy {
        policies.insert(name.clone(), policy_text(name, policy, base)?);
    }
    let mut passwords = BTreeMap::new();
    for (name, user) in &spec.userpass_user {
        passwords.insert(name.clone(), password(name, user, base, env)?);
    }
    let mut kv_data = BTreeMap::new();
    for (path, kv) in &spec.kv {
        kv_data.insert(path.clone(), kv_secret(path, kv, base, env)?);
    }
    Ok(Inputs {
        policies,
        passwords,
        kv_data,
    })
}

/// A path from the bootstrap file, relative to its directory.
pub fn relative_to(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// The text of a file the bootstrap file names, for `item`; the message names the file.
fn read_file(item: &str, base: &Path, file: &Path) -> Result<String, CliError> {
    let path = relative_to(base, file);
    std::fs::read_to_string(&path)
        .map_err(|e| CliError::Local(format!("{item}: Error reading {}: {e}", path.display())))
}

fn policy_text(name: &str, policy: &PolicySpec, base: &Path) -> Result<String, CliError> {
    match (&policy.rules, &policy.file) {
        (Some(rules), _) => Ok(rules.clone()),
        (None, Some(file)) => read_file(&format!("policy/{name}"), base, file),
        (None, None) => Err(CliError::Local(format!(
            "policy/{name}: give rules or file"
        ))),
    }
}

fn password(
    name: &str,
    user: &UserpassSpec,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretString, CliError> {
    let item = format!("userpass_user/{name}");
    let text = match (&user.password_env, &user.password_file) {
        (Some(var), _) => env(var).ok_or_else(|| {
            CliError::Local(format!("{item}: the environment variable {var} is not set"))
        })?,
        (None, Some(file)) => {
            let mut text = read_file(&item, base, file)?;
            // `echo pw > file` ends it with a newline that is no part of the password.
            while text.ends_with('\n') || text.ends_with('\r') {
                text.pop();
            }
            text
        }
        (None, None) => {
            return Err(CliError::Local(format!(
                "{item}: give password_env or password_file"
            )))
        }
    };
    if text.is_empty() {
        return Err(CliError::Local(format!("{item}: the password is empty")));
    }
    Ok(SecretString::from(text))
}

fn kv_secret(
    path: &str,
    kv: &KvSpec,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretData, CliError> {
    let item = format!("kv/{path}");
    let mut data = Map::new();
    if let Some(file) = &kv.data_file {
        let text = Zeroizing::new(read_file(&item, base, file)?);
        let source = format!("{item}: {}", relative_to(base, file).display());
        data = dotenv::parse(&text, &source)?;
    }
    for (key, value) in &kv.data {
        if data.contains_key(key) {
            return Err(CliError::Local(format!(
                "{item}: key {key} is in both data and data_file"
            )));
        }
        data.insert(key.clone(), value.clone());
    }
    for (key, var) in &kv.data_env {
        if data.contains_key(key) {
            return Err(CliError::Local(format!(
                "{item}: key {key} is in both data_env and data_file"
            )));
        }
        let value = env(var).ok_or_else(|| {
            CliError::Local(format!(
                "{item}: the environment variable {var} (for key {key}) is not set"
            ))
        })?;
        data.insert(key.clone(), Json::String(value));
    }
    Ok(SecretData(data))
}

/// The password of a user, for the one request body that carries it.
pub fn password_json(password: &SecretString) -> Json {
    Json::String(password.expose_secret().to_string())
}

#[cfg(test)]
mod tests {
    use super::super::spec::{parse, Syntax};
    use super::*;
    use serde_json::json;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn spec(text: &str) -> Spec {
        parse(text, Syntax::Hcl, "spec.hcl").expect("parses")
    }

    #[test]
    fn kv_data_is_made_of_its_three_sources() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("smtp.env"),
            "USER=mailer\nHOST='smtp.example.com'\n",
        )
        .expect("write");
        let spec = spec(
            "kv \"secret/smtp\" {\n  data_file = \"smtp.env\"\n  data = { port = 587 }\n  data_env = { password = \"SMTP_PW\" }\n}\n",
        );
        let inputs = read(&spec, dir.path(), &env(&[("SMTP_PW", "s3cret")])).expect("reads");
        assert_eq!(
            Json::Object(inputs.kv_data["secret/smtp"].expose().clone()),
            json!({"USER": "mailer", "HOST": "smtp.example.com", "port": 587, "password": "s3cret"})
        );
    }

    #[test]
    fn a_missing_variable_or_file_is_named_without_any_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec1 = spec("kv \"secret/a\" {\n  data_env = { k = \"NOT_SET\" }\n}\n");
        let err = read(&spec1, dir.path(), &env(&[]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("kv/secret/a: the environment variable NOT_SET (for key k) is not set")
        );
        let spec2 = spec("userpass_user \"u\" {\n  password_file = \"missing.pw\"\n}\n");
        let err = read(&spec2, dir.path(), &env(&[]))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.starts_with("userpass_user/u: Error reading ")),
            "{err:?}"
        );
    }

    #[test]
    fn a_password_file_loses_its_final_newline_and_an_empty_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("u.pw"), "correct horse\n").expect("write");
        std::fs::write(dir.path().join("empty.pw"), "\n").expect("write");
        let inputs = read(
            &spec("userpass_user \"u\" {\n  password_file = \"u.pw\"\n}\n"),
            dir.path(),
            &env(&[]),
        )
        .expect("reads");
        assert_eq!(inputs.passwords["u"].expose_secret(), "correct horse");
        let err = read(
            &spec("userpass_user \"u\" {\n  password_file = \"empty.pw\"\n}\n"),
            dir.path(),
            &env(&[]),
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("userpass_user/u: the password is empty")
        );
    }

    #[test]
    fn policy_files_are_read_relative_to_the_bootstrap_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("policies")).expect("mkdir");
        std::fs::write(dir.path().join("policies/p.hcl"), "path \"a\" {}\n").expect("write");
        let spec = spec(
            "policy \"p\" {\n  file = \"policies/p.hcl\"\n}\npolicy \"q\" {\n  rules = \"path \\\"b\\\" {}\"\n}\n",
        );
        let inputs = read(&spec, dir.path(), &env(&[])).expect("reads");
        assert_eq!(inputs.policies["p"], "path \"a\" {}\n");
        assert_eq!(inputs.policies["q"], "path \"b\" {}");
        let spec = spec_missing();
        let err = read(&spec, dir.path(), &env(&[]))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.starts_with("policy/m: Error reading ")),
            "{err:?}"
        );
    }

    fn spec_missing() -> Spec {
        spec("policy \"m\" {\n  file = \"nope.hcl\"\n}\n")
    }

    #[test]
    fn a_key_from_two_sources_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.env"), "k=1\n").expect("write");
        let spec =
            spec("kv \"secret/a\" {\n  data_file = \"a.env\"\n  data_env = { k = \"K\" }\n}\n");
        let err = read(&spec, dir.path(), &env(&[("K", "v")]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("kv/secret/a: key k is in both data_env and data_file")
        );
    }
}
