//! One item at a time: read what the server has, compare it with what the file asks for,
//! and say what would change and which writes make it so. Nothing here writes.
//!
//! Only the fields that the file declares are compared; what the server has beyond them is
//! left alone. A mount whose type is not the file's is an error, never a re-mount: disabling
//! a mount destroys its data.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value as Json};

use super::compare::{differing_fields, duration_secs, engine, same_field, same_rules};
use super::inputs::{password_json, Inputs};
use super::spec::{AppRoleSpec, EntitySpec, MountSpec, UserpassSpec};
use crate::cli::args_kv::KvTarget;
use crate::cli::auth::mount_path;
use crate::cli::client::{absent_on_404, Client, ClientError};
use crate::cli::kv::locate;
use crate::cli::CliError;
use crate::logical::fields::weak_string;

/// What an item needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create,
    /// The names of the fields that differ.
    Update(Vec<String>),
    Unchanged,
}

/// One `PUT /v1/<path>`. No `Debug`: a body may carry a password or KV values.
pub struct Write {
    pub path: String,
    pub body: Json,
}

/// An item's plan. No `Debug`, as [`Write`].
pub struct Step {
    /// `secrets/secret`, `policy/tenant-acme`: the file's section and label.
    pub item: String,
    /// Shown after a created item: `kv-v2`, `2 keys`.
    pub detail: Option<String>,
    pub change: Change,
    pub writes: Vec<Write>,
    /// An existing userpass user whose password was not compared.
    pub password_kept: bool,
}

impl Step {
    fn new(item: String, change: Change) -> Self {
        Step {
            item,
            detail: None,
            change,
            writes: Vec::new(),
            password_kept: false,
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Writes only happen for a change.
    fn write(mut self, path: String, body: Json) -> Self {
        if self.change != Change::Unchanged {
            self.writes.push(Write { path, body });
        }
        self
    }
}

/// The tables an item is compared with, and what the run has created so far.
pub struct Planner<'a> {
    pub client: &'a Client,
    pub inputs: &'a Inputs,
    pub reset_passwords: bool,
    pub dry_run: bool,
    /// `secret/`, `auth/approle/`: mounts this run creates. In a dry run they do not exist,
    /// so the items inside them are new without asking.
    created_mounts: BTreeSet<String>,
}

/// A failed request, named by the item it was for.
pub fn item_error(item: &str) -> impl Fn(ClientError) -> CliError + '_ {
    move |e| match e {
        ClientError::Settings(_) => CliError::Local(format!("{item}: {e}")),
        _ => CliError::Failed(format!("{item}: {e}")),
    }
}

/// `data` of a Vault response, as an object.
fn data_of(body: Option<Json>) -> Option<Map<String, Json>> {
    match body?.get_mut("data").map(Json::take) {
        Some(Json::Object(map)) => Some(map),
        _ => None,
    }
}

/// String options as the server keeps them (`version = 2` is `"2"`).
fn string_options(options: &Map<String, Json>) -> Map<String, Json> {
    options
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(weak_string(v).unwrap_or_default())))
        .collect()
}

/// A mount's or device's `options`, or none.
fn options_of(current: &Json) -> Map<String, Json> {
    current
        .get("options")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A description the file declares and the server has otherwise.
fn description_differs(wanted: Option<&str>, current: &Json) -> bool {
    wanted.is_some_and(|d| !same_field("description", &json!(d), current.get("description")))
}

fn describe_engine(kind: &str, options: &Map<String, Json>) -> String {
    match engine(kind, options) {
        (kind, Some(version)) if kind == "kv" => format!("kv-v{version}"),
        (kind, _) => kind,
    }
}

impl<'a> Planner<'a> {
    pub fn new(
        client: &'a Client,
        inputs: &'a Inputs,
        reset_passwords: bool,
        dry_run: bool,
    ) -> Self {
        Planner {
            client,
            inputs,
            reset_passwords,
            dry_run,
            created_mounts: BTreeSet::new(),
        }
    }

    /// A table (`sys/mounts`, `sys/auth`, `sys/audit`) keyed by path (`secret/`).
    pub fn table(&self, path: &str, section: &str) -> Result<Map<String, Json>, CliError> {
        let body = self.client.get(path).map_err(item_error(section))?;
        Ok(data_of(body).unwrap_or_default())
    }

    /// Read `path`; `None` when nothing is there.
    fn read(&self, item: &str, path: &str) -> Result<Option<Map<String, Json>>, CliError> {
        let body = absent_on_404(self.client.get(path)).map_err(item_error(item))?;
        Ok(data_of(body))
    }

    /// In a dry run, an item inside a mount that this run would create is new.
    fn in_created_mount(&self, path: &str) -> bool {
        self.dry_run
            && self
                .created_mounts
                .iter()
                .any(|mount| path.starts_with(mount.as_str()))
    }

    pub fn audit(
        &self,
        name: &str,
        spec: &MountSpec,
        table: &Map<String, Json>,
    ) -> Result<Step, CliError> {
        let item = format!("audit/{name}");
        let path = mount_path(name);
        let Some(current) = table.get(&path) else {
            let mut body = json!({ "type": spec.kind, "options": string_options(&spec.options) });
            if let Some(description) = &spec.description {
                body["description"] = json!(description);
            }
            return Ok(Step::new(item, Change::Create)
                .detail(spec.kind.clone())
                .write(format!("sys/audit/{}", name.trim_matches('/')), body));
        };
        let mut differing = Vec::new();
        if current.get("type").and_then(Json::as_str) != Some(spec.kind.as_str()) {
            differing.push("type".to_string());
        }
        if description_differs(spec.description.as_deref(), current) {
            differing.push("description".into());
        }
        let current_options = options_of(current);
        for (key, value) in &spec.options {
            if !same_field(key, value, current_options.get(key)) {
                differing.push(format!("options.{key}"));
            }
        }
        if !differing.is_empty() {
            // Vault has no way to change a device; disabling one to enable it again changes
            // its HMAC salt, which is the user's decision, not a bootstrap's.
            return Err(CliError::Failed(format!(
                "{item}: the audit device on the server differs in {}; audit devices are not \
                 changed in place: disable it (mainkey delete sys/audit/{}) and run again",
                differing.join(", "),
                name.trim_matches('/')
            )));
        }
        Ok(Step::new(item, Change::Unchanged))
    }

    /// A secrets engine (`section` "secrets", API `sys/mounts`) or an auth method
    /// ("auth", `sys/auth`).
    pub fn mount(
        &mut self,
        section: &str,
        name: &str,
        spec: &MountSpec,
        table: &Map<String, Json>,
    ) -> Result<Step, CliError> {
        let item = format!("{section}/{name}");
        let (api, router_prefix) = match section {
            "auth" => ("sys/auth", "auth/"),
            _ => ("sys/mounts", ""),
        };
        let path = mount_path(name);
        let api_path = format!("{api}/{}", path.trim_end_matches('/'));
        let Some(current) = table.get(&path) else {
            self.created_mounts.insert(format!("{router_prefix}{path}"));
            return Ok(Step::new(item, Change::Create)
                .detail(spec.kind.clone())
                .write(api_path, mount_body(spec)));
        };
        let current_kind = current.get("type").and_then(Json::as_str).unwrap_or("");
        let current_options = options_of(current);
        if engine(&spec.kind, &spec.options) != engine(current_kind, &current_options) {
            return Err(CliError::Failed(format!(
                "{item}: the server has a {} mount here and the file asks for {}; a mount's \
                 type is never changed, because disabling a mount destroys its data",
                describe_engine(current_kind, &current_options),
                spec.kind
            )));
        }
        let (differing, tune) = mount_differences(spec, current, &current_options);
        let change = if differing.is_empty() {
            Change::Unchanged
        } else {
            Change::Update(differing)
        };
        Ok(Step::new(item, change).write(format!("{api_path}/tune"), tune))
    }

    pub fn policy(&self, name: &str) -> Result<Step, CliError> {
        let item = format!("policy/{name}");
        let wanted = self
            .inputs
            .policies
            .get(name)
            .map(String::as_str)
            .unwrap_or("");
        let path = format!("sys/policies/acl/{}", name.trim().to_lowercase());
        let current = self.read(&item, &path)?;
        let change = match current
            .as_ref()
            .and_then(|c| c.get("policy"))
            .and_then(Json::as_str)
        {
            None => Change::Create,
            Some(current) if same_rules(wanted, current) => Change::Unchanged,
            Some(_) => Change::Update(vec!["rules".into()]),
        };
        Ok(Step::new(item, change).write(path, json!({ "policy": wanted })))
    }

    pub fn approle_role(&self, name: &str, spec: &AppRoleSpec) -> Result<Step, CliError> {
        let item = format!("approle_role/{name}");
        let path = format!("auth/{}role/{name}", mount_path(&spec.mount));
        let change = self.fields_change(&item, &path, &spec.fields)?;
        Ok(Step::new(item, change).write(path, Json::Object(spec.fields.clone())))
    }

    pub fn userpass_user(&self, name: &str, spec: &UserpassSpec) -> Result<Step, CliError> {
        let item = format!("userpass_user/{name}");
        let path = format!(
            "auth/{}users/{}",
            mount_path(&spec.mount),
            name.to_lowercase()
        );
        let password = self.inputs.passwords.get(name).map(password_json);
        let mut body = spec.fields.clone();
        let mut change = self.fields_change(&item, &path, &spec.fields)?;
        // A password cannot be read back: it is set when the user is created, and on an
        // existing user only when asked.
        let password_kept = change != Change::Create && !self.reset_passwords;
        if !password_kept {
            if let Some(password) = password {
                body.insert("password".into(), password);
            }
            change = match change {
                Change::Create => Change::Create,
                Change::Update(mut fields) => {
                    fields.push("password".into());
                    Change::Update(fields)
                }
                Change::Unchanged => Change::Update(vec!["password".into()]),
            };
        }
        let mut step = Step::new(item, change).write(path, Json::Object(body));
        step.password_kept = password_kept;
        Ok(step)
    }

    pub fn entity(&self, name: &str, spec: &EntitySpec) -> Result<Step, CliError> {
        let item = format!("entity/{name}");
        let path = format!("identity/entity/name/{name}");
        let mut wanted = Map::new();
        if let Some(policies) = &spec.policies {
            wanted.insert("policies".into(), json!(policies));
        }
        if let Some(metadata) = &spec.metadata {
            wanted.insert("metadata".into(), Json::Object(metadata.clone()));
        }
        if let Some(disabled) = spec.disabled {
            wanted.insert("disabled".into(), json!(disabled));
        }
        let change = self.fields_change(&item, &path, &wanted)?;
        Ok(Step::new(item, change).write(path, Json::Object(wanted)))
    }

    /// One KV secret, v1 or v2 as its mount says. Its whole data is compared: the file
    /// describes the secret, not a patch of it.
    pub fn kv(&self, name: &str) -> Result<Step, CliError> {
        let item = format!("kv/{name}");
        let wanted = self
            .inputs
            .kv_data
            .get(name)
            .map(|d| d.expose().clone())
            .unwrap_or_default();
        let keys = match wanted.len() {
            1 => "1 key".to_string(),
            n => format!("{n} keys"),
        };
        let path = name.trim_matches('/');
        if self.in_created_mount(path) {
            return Ok(Step::new(item, Change::Create).detail(keys));
        }
        let target = KvTarget {
            mount: None,
            path: path.to_string(),
        };
        let at =
            locate(self.client, &target).map_err(|e| CliError::Failed(format!("{item}: {e}")))?;
        if at.mount.is_empty() {
            return Err(CliError::Failed(format!(
                "{item}: no KV mount holds {path}"
            )));
        }
        let api_path = at.api_path("data");
        let current = self.read(&item, &api_path)?;
        let current = if at.v2 {
            current.and_then(|mut c| match c.remove("data") {
                Some(Json::Object(data)) => Some(data),
                _ => None,
            })
        } else {
            current
        };
        let change = match current {
            None => Change::Create,
            Some(current) => match changed_keys(&wanted, &current) {
                keys if keys.is_empty() => Change::Unchanged,
                keys => Change::Update(keys),
            },
        };
        let body = if at.v2 {
            json!({ "data": wanted })
        } else {
            Json::Object(wanted)
        };
        Ok(Step::new(item, change).detail(keys).write(api_path, body))
    }

    /// Create when nothing is at `path`, else the declared `fields` that differ.
    fn fields_change(
        &self,
        item: &str,
        path: &str,
        fields: &Map<String, Json>,
    ) -> Result<Change, CliError> {
        if self.in_created_mount(path) {
            return Ok(Change::Create);
        }
        Ok(match self.read(item, path)? {
            None => Change::Create,
            Some(current) => match differing_fields(fields, &current) {
                differing if differing.is_empty() => Change::Unchanged,
                differing => Change::Update(differing),
            },
        })
    }
}

/// The `sys/mounts/<path>` (or `sys/auth/<path>`) body that enables `spec`.
fn mount_body(spec: &MountSpec) -> Json {
    let mut body = json!({ "type": spec.kind });
    if let Some(description) = &spec.description {
        body["description"] = json!(description);
    }
    if !spec.options.is_empty() {
        body["options"] = Json::Object(string_options(&spec.options));
    }
    let mut config = Map::new();
    if let Some(ttl) = &spec.config.default_lease_ttl {
        config.insert("default_lease_ttl".into(), ttl.clone());
    }
    if let Some(ttl) = &spec.config.max_lease_ttl {
        config.insert("max_lease_ttl".into(), ttl.clone());
    }
    if !config.is_empty() {
        body["config"] = Json::Object(config);
    }
    body
}

/// The declared settings of a mount that differ from `current`, and the tune body that
/// sets them. The KV version is the engine's identity, compared before, so never tuned.
fn mount_differences(
    spec: &MountSpec,
    current: &Json,
    current_options: &Map<String, Json>,
) -> (Vec<String>, Json) {
    let mut differing = Vec::new();
    let mut tune = Map::new();
    if let Some(description) = &spec.description {
        if description_differs(Some(description), current) {
            differing.push("description".to_string());
            tune.insert("description".into(), json!(description));
        }
    }
    let config = current.get("config");
    for (field, wanted) in [
        ("default_lease_ttl", &spec.config.default_lease_ttl),
        ("max_lease_ttl", &spec.config.max_lease_ttl),
    ] {
        let Some(wanted) = wanted else { continue };
        let current = config.and_then(|c| c.get(field));
        if duration_secs(wanted) != current.and_then(duration_secs) {
            differing.push(field.to_string());
            tune.insert(field.into(), wanted.clone());
        }
    }
    let mut options = Map::new();
    for (key, value) in string_options(&spec.options) {
        if key != "version" && !same_field(&key, &value, current_options.get(&key)) {
            differing.push(format!("options.{key}"));
            options.insert(key, value);
        }
    }
    if !options.is_empty() {
        tune.insert("options".into(), Json::Object(options));
    }
    (differing, Json::Object(tune))
}

/// The keys whose values differ, were added or would be removed; values are compared
/// exactly, as they are stored.
fn changed_keys(wanted: &Map<String, Json>, current: &Map<String, Json>) -> Vec<String> {
    let keys: BTreeSet<&String> = wanted.keys().chain(current.keys()).collect();
    keys.into_iter()
        .filter(|k| wanted.get(*k) != current.get(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Json) -> Map<String, Json> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn mount(kind: &str, extra: Json) -> MountSpec {
        let mut value = json!({ "type": kind });
        if let (Json::Object(v), Json::Object(e)) = (&mut value, extra) {
            v.extend(e);
        }
        serde_json::from_value(value).expect("a mount spec")
    }

    #[test]
    fn a_mount_body_carries_only_what_is_declared() {
        assert_eq!(
            mount_body(&mount("kv-v2", json!({}))),
            json!({"type": "kv-v2"})
        );
        assert_eq!(
            mount_body(&mount(
                "kv",
                json!({"description": "d", "options": {"version": 2}, "config": {"max_lease_ttl": "1h"}})
            )),
            json!({"type": "kv", "description": "d", "options": {"version": "2"}, "config": {"max_lease_ttl": "1h"}})
        );
    }

    #[test]
    fn mount_settings_are_compared_in_the_servers_units() {
        let current = json!({
            "type": "kv", "description": "tenant data", "options": {"version": "2"},
            "config": {"default_lease_ttl": 3600, "max_lease_ttl": 0}
        });
        let options = map(json!({"version": "2"}));
        let same = mount(
            "kv-v2",
            json!({"description": "tenant data", "config": {"default_lease_ttl": "1h"}}),
        );
        let (differing, _) = mount_differences(&same, &current, &options);
        assert!(differing.is_empty(), "{differing:?}");

        let other = mount(
            "kv-v2",
            json!({"description": "other", "options": {"version": "2", "x": "y"}, "config": {"default_lease_ttl": "2h"}}),
        );
        let (differing, tune) = mount_differences(&other, &current, &options);
        assert_eq!(
            differing,
            vec!["description", "default_lease_ttl", "options.x"]
        );
        assert_eq!(
            tune,
            json!({"description": "other", "default_lease_ttl": "2h", "options": {"x": "y"}})
        );
    }

    #[test]
    fn kv_data_differs_by_key_and_exact_value() {
        let wanted = map(json!({"a": "1", "b": 2}));
        assert!(changed_keys(&wanted, &map(json!({"b": 2, "a": "1"}))).is_empty());
        assert_eq!(
            changed_keys(&wanted, &map(json!({"a": "1", "b": "2"}))),
            vec!["b"]
        );
        assert_eq!(
            changed_keys(&wanted, &map(json!({"a": "1", "b": 2, "c": 3}))),
            vec!["c"]
        );
        assert_eq!(changed_keys(&wanted, &map(json!({"a": "1"}))), vec!["b"]);
    }

    #[test]
    fn engines_are_described_as_the_file_would_name_them() {
        assert_eq!(
            describe_engine("kv", &map(json!({"version": "2"}))),
            "kv-v2"
        );
        assert_eq!(describe_engine("kv", &Map::new()), "kv-v1");
        assert_eq!(describe_engine("transit", &Map::new()), "transit");
    }
}
