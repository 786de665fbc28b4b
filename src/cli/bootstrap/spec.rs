//! The bootstrap file: what the server should have, in HCL or YAML.
//!
//! One serde model reads both. HCL's labeled blocks (`secrets "secret" { type = "kv-v2" }`)
//! deserialize as maps keyed by their label (`secrets: { secret: { type: kv-v2 } }`), which
//! is also how the YAML form is written. Every block rejects keys it does not know, except
//! `approle_role` and `userpass_user`, whose other keys are the server's fields and go to it
//! as they are (the server knows its fields better than a copy of the list here would).
//!
//! Secrets are never in the file: passwords and KV values come from environment variables
//! or files named in it, read by [`super::inputs`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::cli::CliError;

/// The whole file. Every section is optional; an empty file asks for nothing (but still
/// initialises and unseals the server).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Spec {
    pub init: Option<InitSpec>,
    pub audit: BTreeMap<String, MountSpec>,
    pub secrets: BTreeMap<String, MountSpec>,
    pub auth: BTreeMap<String, MountSpec>,
    pub policy: BTreeMap<String, PolicySpec>,
    pub approle_role: BTreeMap<String, AppRoleSpec>,
    pub userpass_user: BTreeMap<String, UserpassSpec>,
    pub entity: BTreeMap<String, EntitySpec>,
    pub kv: BTreeMap<String, KvSpec>,
}

/// `init { shares = 5, threshold = 3 }`: used only when the server is not initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InitSpec {
    pub shares: u32,
    pub threshold: u32,
}

/// The `operator init` defaults.
impl Default for InitSpec {
    fn default() -> Self {
        InitSpec {
            shares: 5,
            threshold: 3,
        }
    }
}

/// `secrets "<path>" { ... }` and `auth "<path>" { ... }`: a secrets engine or an auth
/// method; also `audit "<path>" { type = "file", options = { file_path = "..." } }`, an
/// audit device, which has the same fields but `config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountSpec {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub options: Map<String, Json>,
    #[serde(default)]
    pub config: MountConfigSpec,
}

/// The tunable lease TTLs of a mount, as `"1h"` or seconds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MountConfigSpec {
    pub default_lease_ttl: Option<Json>,
    pub max_lease_ttl: Option<Json>,
}

/// `policy "<name>" { rules = <<EOT ... EOT }` or `{ file = "policies/x.hcl" }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySpec {
    pub rules: Option<String>,
    /// Relative to the bootstrap file's directory.
    pub file: Option<PathBuf>,
}

/// `approle_role "<name>" { mount = "approle", token_policies = [...], ... }`.
#[derive(Debug, Clone, Deserialize)]
pub struct AppRoleSpec {
    #[serde(default = "default_approle_mount")]
    pub mount: String,
    /// The role's fields, sent as they are.
    #[serde(flatten)]
    pub fields: Map<String, Json>,
}

fn default_approle_mount() -> String {
    "approle".into()
}

/// `userpass_user "<name>" { mount = "userpass", policies = [...], password_env = "X" }`.
/// The password itself is never in the file.
#[derive(Debug, Clone, Deserialize)]
pub struct UserpassSpec {
    #[serde(default = "default_userpass_mount")]
    pub mount: String,
    /// The name of an environment variable that holds the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file (relative to the bootstrap file) whose content, less a final newline, is the
    /// password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The user's other fields, sent as they are.
    #[serde(flatten)]
    pub fields: Map<String, Json>,
}

fn default_userpass_mount() -> String {
    "userpass".into()
}

/// `entity "<name>" { policies = [...], metadata = { tenant_id = "acme" } }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntitySpec {
    pub policies: Option<Vec<String>>,
    pub metadata: Option<Map<String, Json>>,
    pub disabled: Option<bool>,
}

/// `kv "<mount>/<path>" { data = {...}, data_env = { key = "ENV" }, data_file = "x.env" }`:
/// the whole data of one secret, made of the three sources (a key may come from only one).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KvSpec {
    /// Values that are not secret, written in the file.
    pub data: Map<String, Json>,
    /// Key → the environment variable that holds its value.
    pub data_env: BTreeMap<String, String>,
    /// A `.env` file (relative to the bootstrap file) of more keys.
    pub data_file: Option<PathBuf>,
}

/// The file's syntax, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Hcl,
    Yaml,
}

impl Syntax {
    pub fn of(path: &Path) -> Result<Syntax, CliError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("hcl") => Ok(Syntax::Hcl),
            Some("yaml" | "yml") => Ok(Syntax::Yaml),
            _ => Err(CliError::Local(format!(
                "{}: a bootstrap file is HCL (.hcl) or YAML (.yaml, .yml)",
                path.display()
            ))),
        }
    }
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<Spec, CliError> {
    let syntax = Syntax::of(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Local(format!("Error reading {}: {e}", path.display())))?;
    parse(&text, syntax, &path.display().to_string())
}

/// Parses `text`; `source` names the file in messages.
pub fn parse(text: &str, syntax: Syntax, source: &str) -> Result<Spec, CliError> {
    let bad = |problem: String| CliError::Local(format!("{source}: {problem}"));
    let spec: Spec = match syntax {
        Syntax::Hcl => {
            let body = hcl::parse(text).map_err(|e| bad(e.to_string()))?;
            refuse_repeated_blocks(&body).map_err(bad)?;
            hcl::from_body(body).map_err(|e| bad(e.to_string()))?
        }
        // An empty YAML document is `null`, which the struct does not take: read it as `{}`.
        Syntax::Yaml if text.trim().is_empty() => Spec::default(),
        Syntax::Yaml => {
            // Into a typed map a repeated key silently wins; the generic value refuses it.
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
                .map_err(|e| bad(e.to_string()))?;
            serde_yaml_ng::from_str(text).map_err(|e| bad(e.to_string()))?
        }
    };
    spec.check().map_err(bad)?;
    Ok(spec)
}

/// HCL merges two `policy "x"` blocks into a list that then fails to deserialize with a
/// message about sequences; say what is wrong instead.
fn refuse_repeated_blocks(body: &hcl::Body) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for block in body.blocks() {
        let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
        let id = format!("{} {}", block.identifier(), labels.join(" "));
        if !seen.insert(id.clone()) {
            return Err(format!("block {} is given twice", id.trim_end()));
        }
    }
    Ok(())
}

impl Spec {
    /// The rules serde cannot say: one source per password and per policy, no secret in the
    /// file, names that make a path.
    fn check(&self) -> Result<(), String> {
        if let Some(init) = &self.init {
            if init.shares == 0 || init.threshold == 0 || init.threshold > init.shares {
                return Err(format!(
                    "init: threshold ({}) must be between 1 and shares ({})",
                    init.threshold, init.shares
                ));
            }
        }
        let sections = [
            ("audit", self.audit.keys().collect::<Vec<_>>()),
            ("secrets", self.secrets.keys().collect()),
            ("auth", self.auth.keys().collect()),
            ("policy", self.policy.keys().collect()),
            ("approle_role", self.approle_role.keys().collect()),
            ("userpass_user", self.userpass_user.keys().collect()),
            ("entity", self.entity.keys().collect()),
            ("kv", self.kv.keys().collect()),
        ];
        for (section, names) in sections {
            for name in names {
                check_name(section, name)?;
            }
        }
        for (name, audit) in &self.audit {
            let config = &audit.config;
            if config.default_lease_ttl.is_some() || config.max_lease_ttl.is_some() {
                return Err(format!("audit/{name}: an audit device has no config"));
            }
        }
        for (name, policy) in &self.policy {
            if policy.rules.is_some() == policy.file.is_some() {
                return Err(format!("policy/{name}: give exactly one of rules or file"));
            }
        }
        for (name, role) in &self.approle_role {
            check_mount("approle_role", name, &role.mount)?;
        }
        for (name, user) in &self.userpass_user {
            check_mount("userpass_user", name, &user.mount)?;
            if user.fields.contains_key("password") {
                return Err(format!(
                    "userpass_user/{name}: a password is never written in the file; \
                     use password_env or password_file"
                ));
            }
            if user.password_env.is_some() == user.password_file.is_some() {
                return Err(format!(
                    "userpass_user/{name}: give exactly one of password_env or password_file"
                ));
            }
        }
        for (path, kv) in &self.kv {
            if !path.trim_matches('/').contains('/') {
                return Err(format!(
                    "kv/{path}: name the secret as <mount>/<path>, e.g. secret/app/config"
                ));
            }
            if let Some(key) = kv.data.keys().find(|k| kv.data_env.contains_key(*k)) {
                return Err(format!("kv/{path}: key {key} is in both data and data_env"));
            }
            if kv.data.is_empty() && kv.data_env.is_empty() && kv.data_file.is_none() {
                return Err(format!("kv/{path}: give data, data_env or data_file"));
            }
        }
        Ok(())
    }
}

/// A label becomes part of an API path: no empty, `.` or `..` segments and nothing that is
/// not printable, so that an item never addresses another path than its own.
fn check_name(section: &str, name: &str) -> Result<(), String> {
    let trimmed = name.trim_matches('/');
    let plain = !trimmed.is_empty()
        && trimmed
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && trimmed
            .chars()
            .all(|c| !c.is_control() && c != '?' && c != '#' && c != '%' && c != ' ');
    if plain {
        Ok(())
    } else {
        Err(format!("{section}: {name:?} is not a usable name"))
    }
}

fn check_mount(section: &str, name: &str, mount: &str) -> Result<(), String> {
    check_name(section, mount)
        .map_err(|_| format!("{section}/{name}: mount {mount:?} is not a usable mount path"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example of the README, which every kind of block is in.
    const EXAMPLE: &str = include_str!("../../../config/bootstrap.example.hcl");

    fn hcl(text: &str) -> Result<Spec, String> {
        parse(text, Syntax::Hcl, "spec.hcl").map_err(|e| e.to_string())
    }

    fn yaml(text: &str) -> Result<Spec, String> {
        parse(text, Syntax::Yaml, "spec.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn every_kind_of_block_parses_from_hcl() {
        let spec = hcl(EXAMPLE).expect("the example parses");
        assert_eq!(spec.init, Some(InitSpec::default()));
        assert_eq!(spec.audit["file"].kind, "file");
        assert_eq!(
            spec.audit["file"].options["file_path"],
            json!("/var/log/mainkey/audit.log")
        );
        assert_eq!(spec.secrets["secret"].kind, "kv-v2");
        assert_eq!(
            spec.secrets["secret"].description.as_deref(),
            Some("tenant credentials")
        );
        assert_eq!(spec.auth["approle"].kind, "approle");
        assert!(spec.policy["tenant-acme"]
            .rules
            .as_deref()
            .is_some_and(|r| r.starts_with("path \"secret/data/tenant/acme/*\" {\n")));
        let role = &spec.approle_role["billing"];
        assert_eq!(role.mount, "approle");
        assert_eq!(role.fields["token_policies"], json!(["tenant-acme"]));
        assert_eq!(role.fields["token_ttl"], json!("1h"));
        assert!(!role.fields.contains_key("mount"));
        let user = &spec.userpass_user["admin"];
        assert_eq!(user.mount, "userpass");
        assert_eq!(user.password_env.as_deref(), Some("ADMIN_PASSWORD"));
        assert_eq!(
            Json::Object(user.fields.clone()),
            json!({"policies": ["admin"]})
        );
        let metadata = spec.entity["acme"].metadata.clone().map(Json::Object);
        assert_eq!(metadata, Some(json!({"tenant_id": "acme"})));
        let kv = &spec.kv["secret/tenant/acme/smtp"];
        assert_eq!(kv.data["port"], json!("587"));
        assert_eq!(kv.data_env["password"], "ACME_SMTP_PASSWORD");
    }

    #[test]
    fn mount_settings_and_policy_files_parse() {
        let spec = hcl(
            "secrets \"s\" {\n  type = \"kv\"\n  options = { version = 2 }\n  config = {\n    default_lease_ttl = \"1h\"\n    max_lease_ttl = 86400\n  }\n}\npolicy \"p\" {\n  file = \"policies/p.hcl\"\n}\n",
        )
        .expect("parses");
        let secret = &spec.secrets["s"];
        assert_eq!(secret.options["version"], json!(2));
        assert_eq!(secret.config.default_lease_ttl, Some(json!("1h")));
        assert_eq!(secret.config.max_lease_ttl, Some(json!(86400)));
        assert_eq!(
            spec.policy["p"].file.as_deref(),
            Some(Path::new("policies/p.hcl"))
        );
    }

    #[test]
    fn the_yaml_form_reads_the_same() {
        let spec = yaml(
            r#"
init: {shares: 3, threshold: 2}
secrets:
  secret:
    type: kv-v2
    config: {default_lease_ttl: 1h}
approle_role:
  billing:
    token_policies: [tenant-acme]
    token_ttl: 1h
userpass_user:
  admin:
    mount: people
    password_file: admin.pw
kv:
  secret/app:
    data_env: {api_key: API_KEY}
"#,
        )
        .expect("parses");
        assert_eq!(
            spec.init,
            Some(InitSpec {
                shares: 3,
                threshold: 2
            })
        );
        assert_eq!(
            spec.secrets["secret"].config.default_lease_ttl,
            Some(json!("1h"))
        );
        assert_eq!(
            Json::Object(spec.approle_role["billing"].fields.clone()),
            json!({"token_policies": ["tenant-acme"], "token_ttl": "1h"})
        );
        assert_eq!(spec.userpass_user["admin"].mount, "people");
        assert_eq!(spec.kv["secret/app"].data_env["api_key"], "API_KEY");
    }

    #[test]
    fn empty_files_ask_for_nothing_and_init_defaults_to_five_and_three() {
        for spec in [
            hcl("").expect("hcl"),
            yaml("").expect("yaml"),
            yaml("{}").expect("{}"),
        ] {
            assert!(spec.init.is_none() && spec.secrets.is_empty() && spec.kv.is_empty());
        }
        assert_eq!(
            hcl("init {}\n").expect("parses").init,
            Some(InitSpec::default())
        );
        assert_eq!(
            InitSpec::default(),
            InitSpec {
                shares: 5,
                threshold: 3
            }
        );
    }

    #[test]
    fn unknown_keys_name_the_file_and_the_key() {
        for (text, key) in [
            (
                "secrets \"s\" {\n  type = \"kv\"\n  tpye = \"kv\"\n}\n",
                "tpye",
            ),
            ("polices \"p\" {\n  rules = \"\"\n}\n", "polices"),
            ("entity \"e\" {\n  policy = [\"a\"]\n}\n", "policy"),
            ("init {\n  key_shares = 1\n}\n", "key_shares"),
            ("kv \"secret/a\" {\n  value = {}\n}\n", "value"),
        ] {
            let err = hcl(text).expect_err(text);
            assert!(err.starts_with("spec.hcl: "), "{err}");
            assert!(err.contains(key), "{err}");
        }
        let err = yaml("audit:\n  file:\n    type: file\n    path: x\n").expect_err("path");
        assert!(
            err.starts_with("spec.yaml: ") && err.contains("path"),
            "{err}"
        );
    }

    #[test]
    fn a_block_given_twice_is_an_error() {
        let err = hcl("policy \"a\" {\n  rules = \"\"\n}\npolicy \"a\" {\n  rules = \"\"\n}\n")
            .expect_err("twice");
        assert_eq!(err, "spec.hcl: block policy a is given twice");
        let err = yaml("policy:\n  a: {rules: x}\n  a: {rules: y}\n").expect_err("twice");
        assert!(err.contains("duplicate"), "{err}");
    }

    #[test]
    fn secrets_are_never_in_the_file() {
        let err =
            hcl("userpass_user \"u\" {\n  password = \"hunter2\"\n}\n").expect_err("password");
        assert!(err.contains("never written in the file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = hcl("userpass_user \"u\" {\n  policies = []\n}\n").expect_err("no source");
        assert!(
            err.contains("exactly one of password_env or password_file"),
            "{err}"
        );
    }

    #[test]
    fn structural_rules_are_checked() {
        for (text, want) in [
            ("policy \"p\" {\n}\n", "exactly one of rules or file"),
            (
                "policy \"p\" {\n  rules = \"\"\n  file = \"x\"\n}\n",
                "exactly one of rules or file",
            ),
            ("kv \"secret\" {\n  data = { a = 1 }\n}\n", "<mount>/<path>"),
            ("kv \"secret/a\" {\n}\n", "give data, data_env or data_file"),
            (
                "kv \"secret/a\" {\n  data = { k = 1 }\n  data_env = { k = \"K\" }\n}\n",
                "key k is in both",
            ),
            (
                "init {\n  shares = 2\n  threshold = 3\n}\n",
                "between 1 and shares",
            ),
            (
                "policy \"a/../b\" {\n  rules = \"\"\n}\n",
                "not a usable name",
            ),
            (
                "approle_role \"r\" {\n  mount = \"\"\n}\n",
                "not a usable mount path",
            ),
        ] {
            let err = hcl(text).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn the_syntax_comes_from_the_extension() {
        assert_eq!(Syntax::of(Path::new("a.hcl")).ok(), Some(Syntax::Hcl));
        assert_eq!(Syntax::of(Path::new("a.yml")).ok(), Some(Syntax::Yaml));
        assert_eq!(Syntax::of(Path::new("a.yaml")).ok(), Some(Syntax::Yaml));
        assert!(Syntax::of(Path::new("a.json")).is_err());
    }
}
