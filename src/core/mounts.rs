//! The mount table and the longest-prefix router over it.
//!
//! The table is persisted through the barrier at `core/mounts`, so its contents are encrypted.
//! Each mount's data lives under `logical/<uuid>/`, which survives a rename of the mount path.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::logical::{fields, Backend, Error, LockoutConfig, Map};

/// The two mount tables: secrets engines at `<path>`, auth methods at `auth/<path>`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    #[default]
    Secrets,
    Auth,
}

impl Table {
    /// Where the table is persisted, through the barrier.
    pub fn storage_path(self) -> &'static str {
        match self {
            Table::Secrets => "core/mounts",
            Table::Auth => "core/auth",
        }
    }

    /// The request-path prefix of the table's mounts.
    pub fn prefix(self) -> &'static str {
        match self {
            Table::Secrets => "",
            Table::Auth => "auth/",
        }
    }
}

/// Path prefixes that users cannot mount over: the core serves them itself.
const RESERVED_PREFIXES: &[&str] = &["sys/", "auth/", "identity/", "cubbyhole/", "audit/"];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountConfig {
    /// Seconds; 0 means "the system default".
    pub default_lease_ttl: u64,
    /// Seconds; 0 means "the system default".
    pub max_lease_ttl: u64,
    #[serde(default)]
    pub force_no_cache: bool,
    /// Vault's `user_lockout_config`, set by `sys/auth/<path>/tune`. A field left unset (or
    /// tuned to `"system"`) falls back to the server's `user_lockout` block, then to Vault's
    /// defaults; see [`UserLockoutTune::over`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_lockout_config: Option<UserLockoutTune>,
}

/// A `sys/mounts/<path>/tune` (or `sys/auth/<path>/tune`) write: `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct MountTune {
    pub description: Option<String>,
    pub default_lease_ttl: Option<u64>,
    pub max_lease_ttl: Option<u64>,
    pub options: Option<BTreeMap<String, String>>,
    pub user_lockout: Option<UserLockoutTune>,
}

/// One layer of user lockout settings (a mount's tune, or one server `user_lockout` block):
/// each field set overrides the layer below it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserLockoutTune {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_reset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
}

impl UserLockoutTune {
    /// These settings over `base`. As in Vault, a zero threshold or duration counts as unset.
    pub fn over(&self, base: LockoutConfig) -> LockoutConfig {
        LockoutConfig {
            threshold: self.threshold.filter(|&t| t > 0).unwrap_or(base.threshold),
            duration: self
                .duration
                .filter(|&d| d > 0)
                .map(Duration::from_secs)
                .unwrap_or(base.duration),
            counter_reset: self
                .counter_reset
                .filter(|&d| d > 0)
                .map(Duration::from_secs)
                .unwrap_or(base.counter_reset),
            disabled: self.disable.unwrap_or(base.disabled),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountEntry {
    /// Relative to its table (`approle/` for `auth/approle/`); always ends in `/`.
    pub path: String,
    #[serde(default)]
    pub table: Table,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub uuid: String,
    pub accessor: String,
    pub config: MountConfig,
    /// Backend options; for `kv`, `{"version": "1"|"2"}`.
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub local: bool,
    #[serde(default)]
    pub seal_wrap: bool,
}

impl MountEntry {
    pub fn new(
        table: Table,
        path: &str,
        kind: &str,
        description: &str,
        options: Option<BTreeMap<String, String>>,
    ) -> Self {
        let uuid = uuid::Uuid::new_v4().to_string();
        let accessor = match table {
            Table::Secrets => format!("{kind}_{}", &uuid.replace('-', "")[..8]),
            Table::Auth => format!("auth_{kind}_{}", &uuid.replace('-', "")[..8]),
        };
        MountEntry {
            path: path.to_string(),
            table,
            kind: kind.to_string(),
            description: description.to_string(),
            uuid,
            accessor,
            config: MountConfig::default(),
            options,
            local: false,
            seal_wrap: false,
        }
    }

    /// The storage prefix of this mount's data.
    pub fn storage_prefix(&self) -> String {
        match self.table {
            Table::Secrets => format!("logical/{}/", self.uuid),
            Table::Auth => format!("auth/{}/", self.uuid),
        }
    }

    /// The path requests use to reach this mount: `secret/`, `auth/approle/`.
    pub fn router_path(&self) -> String {
        format!("{}{}", self.table.prefix(), self.path)
    }

    /// The mount as `sys/mounts` and `sys/internal/ui/mounts` show it.
    pub fn to_json(&self) -> Map {
        let mut map = fields::into_map(json!({
            "accessor": self.accessor,
            "config": {
                "default_lease_ttl": self.config.default_lease_ttl,
                "force_no_cache": self.config.force_no_cache,
                "max_lease_ttl": self.config.max_lease_ttl,
            },
            "description": self.description,
            "external_entropy_access": false,
            "local": self.local,
            "options": self.options,
            "plugin_version": "",
            "running_plugin_version": format!("v{}+builtin.mainkey", env!("CARGO_PKG_VERSION")),
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.kind,
            "uuid": self.uuid,
        }));
        if let (Some(l), Some(Value::Object(config))) =
            (&self.config.user_lockout_config, map.get_mut("config"))
        {
            // Vault's names in this listing differ from the tune GET's `user_lockout_*`.
            config.insert(
                "user_lockout_config".into(),
                json!({
                    "user_lockout_counter_reset_duration": l.counter_reset.unwrap_or(0),
                    "user_lockout_threshold": l.threshold.unwrap_or(0),
                    "user_lockout_duration": l.duration.unwrap_or(0),
                    "user_lockout_disable": l.disable.unwrap_or(false),
                }),
            );
        }
        // Vault reports a deprecation status for plugin backends, not for its own system ones.
        if !matches!(self.kind.as_str(), "system" | "identity") {
            map.insert("deprecation_status".into(), "supported".into());
        }
        map
    }
}

/// Normalizes a user-given mount path: no leading `/`, exactly one trailing `/`.
pub fn normalize_mount_path(path: &str) -> Result<String, Error> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::bad_request("path cannot be empty"));
    }
    Ok(format!("{trimmed}/"))
}

/// A mounted backend with its entry.
#[derive(Clone)]
pub struct Mounted {
    pub entry: MountEntry,
    pub backend: Arc<dyn Backend>,
}

/// Mounts keyed by path, searched by longest prefix.
#[derive(Clone, Default)]
pub struct Router {
    mounts: BTreeMap<String, Mounted>,
}

impl Router {
    /// The mount that owns `path`, with the path relative to it. `secret` (no slash) routes to
    /// `secret/` with an empty relative path, as Vault does.
    pub fn route(&self, path: &str) -> Option<(&Mounted, String)> {
        // Walk candidate prefixes from the longest down; a mount path always ends in `/`.
        let with_slash = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        let mut end = with_slash.len();
        loop {
            let candidate = &with_slash[..end];
            if let Some(m) = self.mounts.get(candidate) {
                let rel = path.get(candidate.len()..).unwrap_or("").to_string();
                return Some((m, rel));
            }
            // Next shorter prefix ending in `/`.
            match with_slash[..end - 1].rfind('/') {
                Some(i) => end = i + 1,
                None => return None,
            }
        }
    }

    pub fn get(&self, mount_path: &str) -> Option<&Mounted> {
        self.mounts.get(mount_path)
    }

    /// The entries of one table, sorted by path.
    pub fn entries(&self, table: Table) -> impl Iterator<Item = &MountEntry> {
        self.mounts
            .values()
            .map(|m| &m.entry)
            .filter(move |e| e.table == table)
    }

    /// Checks that `path` (a router path) may be mounted: a secrets mount not under a reserved
    /// prefix, and neither inside nor above an existing mount.
    pub fn check_free(&self, table: Table, path: &str) -> Result<(), Error> {
        if table == Table::Secrets && RESERVED_PREFIXES.iter().any(|r| path.starts_with(r)) {
            return Err(Error::bad_request(format!(
                "cannot mount under reserved path {path}"
            )));
        }
        for existing in self.mounts.keys() {
            if path.starts_with(existing.as_str()) || existing.starts_with(path) {
                let shown = existing.strip_prefix(table.prefix()).unwrap_or(existing);
                return Err(Error::bad_request(format!(
                    "path is already in use at {shown}"
                )));
            }
        }
        Ok(())
    }

    pub fn insert(&mut self, mounted: Mounted) {
        self.mounts.insert(mounted.entry.router_path(), mounted);
    }

    pub fn remove(&mut self, path: &str) -> Option<Mounted> {
        self.mounts.remove(path)
    }

    pub fn update_entry(&mut self, entry: MountEntry) {
        if let Some(m) = self.mounts.get_mut(&entry.router_path()) {
            m.entry = entry;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::{Request, Response, Storage};

    struct Nop;

    #[async_trait::async_trait]
    impl Backend for Nop {
        async fn handle(&self, _: &Request, _: &dyn Storage) -> Result<Response, Error> {
            Ok(Response::empty())
        }
    }

    fn router(paths: &[&str]) -> Router {
        let mut r = Router::default();
        for p in paths {
            r.insert(Mounted {
                entry: MountEntry::new(Table::Secrets, p, "kv", "", None),
                backend: Arc::new(Nop),
            });
        }
        r
    }

    #[test]
    fn longest_prefix_wins() {
        let r = router(&["secret/", "secret/team/", "kv/"]);
        let (m, rel) = r.route("secret/team/data/x").unwrap();
        assert_eq!(
            (m.entry.path.as_str(), rel.as_str()),
            ("secret/team/", "data/x")
        );
        let (m, rel) = r.route("secret/data/x").unwrap();
        assert_eq!((m.entry.path.as_str(), rel.as_str()), ("secret/", "data/x"));
        let (m, rel) = r.route("kv").unwrap();
        assert_eq!((m.entry.path.as_str(), rel.as_str()), ("kv/", ""));
        let (m, rel) = r.route("kv/").unwrap();
        assert_eq!((m.entry.path.as_str(), rel.as_str()), ("kv/", ""));
        assert!(r.route("secretive/x").is_none());
        assert!(r.route("nope").is_none());
    }

    #[test]
    fn nested_and_reserved_mounts_are_refused() {
        let r = router(&["secret/"]);
        assert!(r.check_free(Table::Secrets, "secret/sub/").is_err());
        assert!(r.check_free(Table::Secrets, "sys/x/").is_err());
        assert!(r.check_free(Table::Secrets, "auth/").is_err());
        assert!(r.check_free(Table::Secrets, "other/").is_ok());
        let r = router(&["a/b/"]);
        assert!(r.check_free(Table::Secrets, "a/").is_err());
    }

    #[test]
    fn mount_paths_are_normalized() {
        assert_eq!(normalize_mount_path("/glassdome").unwrap(), "glassdome/");
        assert_eq!(normalize_mount_path("glassdome/").unwrap(), "glassdome/");
        assert!(normalize_mount_path("/").is_err());
    }
}
