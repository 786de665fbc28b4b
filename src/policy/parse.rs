//! Vault policy documents: HCL, JSON and the legacy `policy = "write"` form, parsed into path
//! rules.
//!
//! Both syntaxes are first lowered to one shape (a list of `path` blocks, each a list of
//! key/value pairs as JSON values), so that the checks below run once for both. The messages
//! follow Vault's (`failed to parse policy: path "a": invalid capability "fly"`), because
//! operators search for them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::capability::Capabilities;
use super::hcl1::{self, Item, Node};
use super::template;
use super::{normalize_name, DEFAULT_POLICY_NAME, ROOT_POLICY_NAME};
use crate::logical::duration::parse_duration_secs;
use crate::logical::fields::go_quote;
use crate::logical::Error;

/// Parameter constraints: parameter name (lowercased) to the values it may (or may not) take.
/// An empty list means "any value". The key `*` stands for every parameter.
pub type ParameterValues = BTreeMap<String, Vec<Value>>;

/// What one path rule grants, and the constraints on the request. The same shape holds the
/// merge of every rule for one pattern in an [`Acl`](super::Acl).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Permissions {
    /// `DENY` alone, or the granted capabilities (possibly none).
    pub capabilities: Capabilities,
    pub allowed_parameters: ParameterValues,
    pub denied_parameters: ParameterValues,
    pub required_parameters: Vec<String>,
    /// Seconds; 0 is unset. Vault's `ParseDurationSecond` admits negative values, which
    /// constrain nothing.
    pub min_wrapping_ttl: i64,
    pub max_wrapping_ttl: i64,
}

/// One `path "..." { ... }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// The pattern as written, without one leading `/`, with its trailing `*` and any
    /// `{{...}}` templates still in place.
    pub path: String,
    /// True when `path` holds `{{...}}`: it is rendered per request, see [`template`].
    pub templated: bool,
    pub permissions: Permissions,
    /// After this instant the rule no longer applies (OpenBao's `expiration`).
    pub expiration: Option<SystemTime>,
}

/// A named, parsed policy. Only [`Policy::root`] makes a root policy: a policy parsed from text
/// is never root, whatever its name.
#[derive(Debug, Clone)]
pub struct Policy {
    name: String,
    raw: String,
    paths: Vec<PathRule>,
    templated: bool,
    root: bool,
}

impl Policy {
    /// Parses a policy document under `name` (normalized). The name `root` is refused, since
    /// only the built-in root policy may carry it.
    pub fn parse(name: &str, text: &str) -> Result<Policy, Error> {
        let name = normalize_name(name);
        if name == ROOT_POLICY_NAME {
            return Err(Error::bad_request("cannot update \"root\" policy"));
        }
        let paths = parse_rules(text)?;
        Ok(Policy {
            templated: paths.iter().any(|p| p.templated),
            name,
            raw: text.to_string(),
            paths,
            root: false,
        })
    }

    /// The built-in `root` policy: everything, including `sudo`. Its text is empty, as Vault
    /// returns it from `sys/policy/root`.
    pub fn root() -> Policy {
        Policy {
            name: ROOT_POLICY_NAME.to_string(),
            raw: String::new(),
            paths: Vec::new(),
            templated: false,
            root: true,
        }
    }

    /// The built-in `default` policy with its initial text ([`super::DEFAULT_POLICY_TEXT`]).
    pub fn default_policy() -> Policy {
        let paths = parse_rules(super::DEFAULT_POLICY_TEXT).unwrap_or_default();
        Policy {
            name: DEFAULT_POLICY_NAME.to_string(),
            raw: super::DEFAULT_POLICY_TEXT.to_string(),
            templated: paths.iter().any(|p| p.templated),
            paths,
            root: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text the policy was parsed from, as `sys/policy/<name>` returns it in `rules`.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    pub fn paths(&self) -> &[PathRule] {
        &self.paths
    }

    pub fn is_templated(&self) -> bool {
        self.templated
    }

    pub fn is_root(&self) -> bool {
        self.root
    }
}

/// Parses the rules of a policy document (HCL, or JSON when it starts with `{`).
pub fn parse_rules(text: &str) -> Result<Vec<PathRule>, Error> {
    let blocks = if text.trim_start().starts_with('{') {
        lower_json(text)
    } else {
        lower_hcl(text)
    }
    .map_err(|e| Error::bad_request(format!("failed to parse policy: {e}")))?;
    blocks
        .into_iter()
        .map(build_rule)
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| Error::bad_request(format!("failed to parse policy: {e}")))
}

/// A `path` block lowered from either syntax.
struct RawBlock {
    path: String,
    entries: Vec<(String, Value)>,
}

fn invalid_key(key: &str) -> String {
    format!("invalid key {}", go_quote(key))
}

/// Reads a policy as HCL1, the syntax Vault reads policies in (see [`hcl1`]). Top-level items
/// other than `name` (ignored, as Vault decodes and drops it) and `path` are refused.
fn lower_hcl(text: &str) -> Result<Vec<RawBlock>, String> {
    let mut blocks = Vec::new();
    for item in hcl1::parse(text)? {
        let key = item.keys[0].text.as_str();
        match key {
            "name" => {}
            "path" => {
                let Node::Object(body) = &item.value else {
                    return Err("a path must be a block: path \"...\" { ... }".to_string());
                };
                // Vault takes `path { ... }` as the path "path" and ignores labels after the
                // first; both are mistakes in practice, so they are refused.
                let [_, label] = item.keys.as_slice() else {
                    return Err(
                        "a path block takes exactly one label: path \"...\" { ... }".to_string()
                    );
                };
                let entries = body.iter().map(Item::to_json_entry).collect();
                blocks.push(RawBlock {
                    path: label.text.clone(),
                    entries,
                });
            }
            other => return Err(invalid_key(other)),
        }
    }
    Ok(blocks)
}

/// Vault's JSON policy form: `{"path": {"secret/*": {"capabilities": ["read"]}}}`; `path` may
/// also be a list of such objects, as HCL1's JSON reader allows.
fn lower_json(text: &str) -> Result<Vec<RawBlock>, String> {
    // serde_json bounds its own recursion, so no nesting check is needed here.
    let root: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Value::Object(root) = root else {
        return Err("does not contain a root object".to_string());
    };
    let mut blocks = Vec::new();
    for (key, value) in root {
        match key.as_str() {
            "name" => {}
            "path" => {
                let groups = match value {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                for group in groups {
                    let Value::Object(paths) = group else {
                        return Err("path must be an object of path blocks".to_string());
                    };
                    for (path, body) in paths {
                        let entries = json_entries(body)
                            .map_err(|e| format!("path {}: {e}", go_quote(&path)))?;
                        blocks.push(RawBlock { path, entries });
                    }
                }
            }
            other => return Err(invalid_key(other)),
        }
    }
    Ok(blocks)
}

fn json_entries(body: Value) -> Result<Vec<(String, Value)>, String> {
    match body {
        Value::Object(map) => Ok(map.into_iter().collect()),
        // HCL1's JSON reader flattens a list of objects into one block.
        Value::Array(items) => {
            let mut entries = Vec::new();
            for item in items {
                entries.extend(json_entries(item)?);
            }
            Ok(entries)
        }
        _ => Err("a path block must be an object".to_string()),
    }
}

/// The decoded keys of one block, before their meaning is checked.
#[derive(Default)]
struct Decoded {
    legacy_policy: Option<String>,
    capabilities: Vec<String>,
    allowed: ParameterValues,
    denied: ParameterValues,
    required: Vec<String>,
    min_wrapping_ttl: Option<Value>,
    max_wrapping_ttl: Option<Value>,
    expiration: Option<String>,
}

/// Turns a block into a rule. Expired rules are kept here and skipped when an ACL is built.
fn build_rule(block: RawBlock) -> Result<PathRule, String> {
    let RawBlock { path, entries } = block;
    let at = |e: String| format!("path {}: {e}", go_quote(&path));
    let decoded = decode_entries(entries).map_err(at)?;

    let templated = template::check_balanced(&path)
        .map_err(|e| at(format!("failed to validate policy templating: {e}")))?;
    // Paths in Vault start after the `/` of the API path.
    let pattern = path.strip_prefix('/').unwrap_or(&path).to_string();
    if pattern.contains("+*") {
        return Err(format!(
            "path {}: invalid use of wildcards ('+*' is forbidden)",
            go_quote(&pattern)
        ));
    }

    let mut names = decoded.capabilities;
    // An empty `policy` is no policy (OpenBao reads `policy = ""` so).
    if let Some(legacy) = decoded.legacy_policy.as_ref().filter(|p| !p.is_empty()) {
        let implied: &[&str] = match legacy.as_str() {
            "deny" => &["deny"],
            "read" => &["read", "list"],
            "write" => &["create", "read", "update", "delete", "list"],
            "sudo" => &["create", "read", "update", "delete", "list", "sudo"],
            other => return Err(at(format!("invalid policy {}", go_quote(other)))),
        };
        if legacy == "deny" {
            names.clear();
        }
        names.extend(implied.iter().map(|s| s.to_string()));
    }

    let mut permissions = Permissions::default();
    for name in &names {
        let cap = Capabilities::from_name(name)
            .ok_or_else(|| at(format!("invalid capability {}", go_quote(name))))?;
        if cap == Capabilities::DENY {
            // A denial carries nothing else, and Vault stops reading the block here.
            permissions.capabilities = Capabilities::DENY;
            break;
        }
        permissions.capabilities |= cap;
    }

    let expiration = decoded
        .expiration
        .as_deref()
        .map(parse_expiration)
        .transpose()
        .map_err(|e| at(format!("invalid expiration time: {e}")))?;

    if permissions.capabilities != Capabilities::DENY {
        permissions.allowed_parameters = decoded.allowed;
        permissions.denied_parameters = decoded.denied;
        permissions.required_parameters = decoded.required;
        permissions.min_wrapping_ttl =
            wrapping_ttl(&decoded.min_wrapping_ttl, "min_wrapping_ttl").map_err(at)?;
        permissions.max_wrapping_ttl =
            wrapping_ttl(&decoded.max_wrapping_ttl, "max_wrapping_ttl").map_err(at)?;
        if permissions.min_wrapping_ttl != 0
            && permissions.max_wrapping_ttl != 0
            && permissions.max_wrapping_ttl < permissions.min_wrapping_ttl
        {
            return Err(at(
                "max_wrapping_ttl cannot be less than min_wrapping_ttl".to_string()
            ));
        }
    }

    Ok(PathRule {
        path: pattern,
        templated,
        permissions,
        expiration,
    })
}

fn decode_entries(entries: Vec<(String, Value)>) -> Result<Decoded, String> {
    let mut d = Decoded::default();
    for (key, value) in entries {
        match key.as_str() {
            "comment" => {}
            "policy" => {
                let Value::String(s) = value else {
                    return Err("policy must be a string".to_string());
                };
                d.legacy_policy = Some(s);
            }
            // A list or map given twice adds to the first, as OpenBao reads it; a scalar given
            // twice (`policy`, the TTLs) keeps the last.
            "capabilities" => d.capabilities.extend(string_list(&key, value)?),
            "required_parameters" => d.required.extend(string_list(&key, value)?),
            "allowed_parameters" => merge_params(&mut d.allowed, &key, value)?,
            "denied_parameters" => merge_params(&mut d.denied, &key, value)?,
            "min_wrapping_ttl" => d.min_wrapping_ttl = Some(value),
            "max_wrapping_ttl" => d.max_wrapping_ttl = Some(value),
            "expiration" => {
                d.expiration = Some(match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                });
            }
            // Ignoring these would grant more than the author meant, so they are refused.
            "mfa_methods"
            | "control_group"
            | "pagination_limit"
            | "list_scan_response_keys_filter_path" => {
                return Err(format!("{} is not supported by mainkey", go_quote(&key)));
            }
            _ => return Err(invalid_key(&key)),
        }
    }
    Ok(d)
}

/// A list of scalars as strings (`[1]` is the capability `"1"`, as HCL1 decodes it).
fn string_list(key: &str, value: Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err(format!("{key} must be a list"));
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(format!("{key} must be a list of strings")),
        })
        .collect()
}

/// Adds `{"name": [values]}` to `into`, lowercasing names as Vault does.
fn merge_params(into: &mut ParameterValues, key: &str, value: Value) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Err(format!("{key} must be a map of parameter names to lists"));
    };
    for (name, values) in map {
        let Value::Array(values) = values else {
            return Err(format!(
                "{key}: the values of {} must be a list",
                go_quote(&name)
            ));
        };
        into.entry(name.to_lowercase()).or_default().extend(values);
    }
    Ok(())
}

fn wrapping_ttl(value: &Option<Value>, key: &str) -> Result<i64, String> {
    match value {
        None => Ok(0),
        Some(v) => parse_duration_secs(v).map_err(|e| format!("error parsing {key}: {e}")),
    }
}

/// RFC 3339, or integer seconds since the epoch.
fn parse_expiration(s: &str) -> Result<SystemTime, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
    }
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| e.to_string())?;
    let nanos = t.timestamp_nanos_opt().ok_or("time out of range")?;
    let nanos = u64::try_from(nanos).map_err(|_| "time before 1970")?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
}
