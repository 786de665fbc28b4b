//! Typed extraction: the one path from the normalized tree (whatever the file format was) to a
//! validated [`ServerConfig`]. Every error names the file, the block and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::ConfigError;
use super::extract_gateway;
use super::extract_seal;
use super::extract_telemetry;
use super::gateway::GatewayConfig;
use super::tree::{Body, Content, Item, Value};
use super::types::{
    ListenerConfig, ListenerLimits, LogFormat, ServerConfig, StorageConfig, TelemetryConfig,
    TlsFiles, UserLockoutBlock, DEFAULT_LEASE_TTL, DEFAULT_MAX_REQUEST_SIZE,
};
use super::values;

/// Top-level keys that Vault/OpenBao accept and that have no meaning for mainkey. They are
/// accepted and ignored so that an existing config file keeps working; none of them weakens
/// security when ignored.
pub const IGNORED_TOP_LEVEL_KEYS: &[&str] = &[
    "administrative_namespace_path",
    "cache_size",
    "cluster_addr",
    "cluster_cipher_suites",
    "cluster_name",
    "default_max_request_duration",
    "detect_deadlocks",
    "disable_cache",
    "disable_clustering",
    "disable_performance_standby",
    "disable_printable_check",
    "disable_sealwrap",
    "disable_sentinel_trace",
    "enable_post_unseal_trace",
    "enable_response_header_hostname",
    "enable_response_header_raft_node_id",
    "experiments",
    "imprecise_lease_role_tracking",
    "introspection_endpoint",
    "license_path",
    "log_file",
    "log_requests_level",
    "log_rotate_bytes",
    "log_rotate_duration",
    "log_rotate_max_files",
    "pid_file",
    "plugin_directory",
    "plugin_file_permissions",
    "plugin_file_uid",
    "plugin_tmpdir",
    "post_unseal_trace_directory",
    "raw_storage_endpoint",
    "service_registration",
];

/// Vault/OpenBao top-level keys that mainkey refuses rather than ignores: ignoring them would
/// silently change how secrets are sealed, stored, audited or protected.
pub const UNSUPPORTED_TOP_LEVEL_KEYS: &[&str] =
    &["audit", "entropy", "ha_storage", "kms_library", "plugin"];

/// `listener "tcp"` keys that Vault accepts and mainkey ignores (timeouts, forwarded-for
/// handling, telemetry and response-header tweaks); none weakens security when ignored.
pub const IGNORED_LISTENER_KEYS: &[&str] = &[
    "cluster_address",
    "custom_response_headers",
    "disable_replication_status_endpoints",
    "http_read_timeout",
    "http_write_timeout",
    "inflight_requests_logging",
    "max_request_duration",
    "profiling",
    "redact_addresses",
    "redact_cluster_name",
    "redact_version",
    "tls_disable_client_certs",
    "tls_prefer_server_cipher_suites",
    "unauthenticated_pprof_access",
    "x_forwarded_for_authorized_addrs",
    "x_forwarded_for_client_cert_header",
    "x_forwarded_for_client_cert_header_decoder",
    "x_forwarded_for_hop_skips",
    "x_forwarded_for_reject_not_authorized",
    "x_forwarded_for_reject_not_present",
];

/// `listener "tcp"` keys that mainkey refuses: they ask for TLS or proxy behaviour that mainkey
/// does not implement, so ignoring them would be less safe than what the operator asked for.
const UNSUPPORTED_LISTENER_KEYS: &[&str] = &[
    "chroot_namespace",
    "proxy_protocol_authorized_addrs",
    "proxy_protocol_behavior",
    "tls_cipher_suites",
    "tls_client_ca_file",
    "tls_require_and_verify_client_cert",
];

/// Where an error is: the file being read and the block being walked.
pub(super) struct At<'a> {
    pub(super) file: &'a str,
    pub(super) block: Option<String>,
}

impl<'a> At<'a> {
    /// The location of a block nested in this one: `route "shop" > require`.
    pub(super) fn child(&self, name: &str) -> At<'a> {
        let block = match &self.block {
            Some(outer) => format!("{outer} > {name}"),
            None => name.to_string(),
        };
        At {
            file: self.file,
            block: Some(block),
        }
    }

    pub(super) fn error(&self, key: Option<&str>, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            block: self.block.clone(),
            key: key.map(str::to_string),
            problem: problem.into(),
        }
    }

    /// The value of an item that must be a plain value, not a block.
    pub(super) fn value<'v>(&self, item: &'v Item) -> Result<&'v Value, ConfigError> {
        match &item.content {
            Content::Value(v) => Ok(v),
            Content::Block(_) => Err(self.error(
                Some(&item.key),
                "expected a value (key = value), got a block",
            )),
        }
    }

    pub(super) fn convert<T>(
        &self,
        item: &Item,
        convert: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let value = self.value(item)?;
        convert(value).map_err(|problem| self.error(Some(&item.key), problem))
    }
}

/// Builds a `ServerConfig` from a normalized top-level body.
pub(crate) fn server_config(file: &str, body: &Body) -> Result<ServerConfig, ConfigError> {
    let top = At { file, block: None };

    let mut storage: Option<StorageConfig> = None;
    let mut listeners = Vec::new();
    let mut api_addr = None;
    let mut ui = false;
    let mut disable_mlock = false;
    let mut default_lease_ttl = None;
    let mut max_lease_ttl = None;
    let mut user_lockout = BTreeMap::new();
    let mut gateway: Option<GatewayConfig> = None;
    let mut routes = Vec::new();
    let mut log_level = None;
    let mut log_format = LogFormat::Standard;
    let mut telemetry: Option<TelemetryConfig> = None;
    let mut seal = None;
    let mut seal_blocks = 0;

    let listener_blocks = body
        .items
        .iter()
        .filter(|i| i.key == "listener" && matches!(i.content, Content::Block(_)))
        .count();

    for item in &body.items {
        match item.key.as_str() {
            "storage" | "backend" => {
                let (at, body) = block_with_label(file, item)?;
                if storage.is_some() {
                    return Err(at.error(None, "only one storage block is allowed"));
                }
                storage = Some(storage_config(&at, &item.labels[0], body)?);
            }
            "listener" => {
                let (mut at, body) = block_with_label(file, item)?;
                if listener_blocks > 1 {
                    // With several listeners, "listener \"tcp\"" alone would not say which.
                    let number = listeners.len() + 1;
                    at.block = at.block.map(|b| format!("{b} #{number}"));
                }
                listeners.push(listener_config(&at, &item.labels[0], body)?);
            }
            "user_lockout" => {
                let (at, body) = block_with_label(file, item)?;
                let kind = item.labels[0].to_lowercase();
                let block = user_lockout_block(&at, &kind, body)?;
                if user_lockout.insert(kind, block).is_some() {
                    return Err(at.error(None, "only one user_lockout block per type is allowed"));
                }
            }
            "gateway" => {
                if gateway.is_some() {
                    return Err(top
                        .child("gateway")
                        .error(None, "only one gateway block is allowed"));
                }
                gateway = Some(extract_gateway::gateway_config(file, item)?);
            }
            "route" => {
                let route = extract_gateway::route_config(file, item, &routes)?;
                routes.push(route);
            }
            "api_addr" => {
                let addr = top.convert(item, values::string)?;
                api_addr = (!addr.is_empty()).then_some(addr);
            }
            "ui" => {
                ui = top.convert(item, values::boolean)?;
            }
            "disable_mlock" => {
                // Accepted for compatibility: mainkey never swaps keys out through mlock
                // because it keeps them zeroized in memory instead; the flag has no effect.
                disable_mlock = top.convert(item, values::boolean)?;
            }
            "default_lease_ttl" => {
                default_lease_ttl = Some(top.convert(item, values::duration)?);
            }
            "max_lease_ttl" => {
                max_lease_ttl = Some(top.convert(item, values::duration)?);
            }
            "log_level" => log_level = Some(top.convert(item, extract_telemetry::log_level)?),
            "log_format" => log_format = top.convert(item, extract_telemetry::log_format)?,
            "telemetry" => {
                if telemetry.is_some() {
                    return Err(top
                        .child("telemetry")
                        .error(None, "only one telemetry block is allowed"));
                }
                telemetry = Some(extract_telemetry::telemetry(&top, item)?);
            }
            "seal" => {
                let (at, body) = block_with_label(file, item)?;
                seal_blocks += 1;
                if seal_blocks > 1 {
                    // Vault's several-seal forms are for migration, which mainkey lacks.
                    return Err(at.error(None, "only one seal block is allowed"));
                }
                seal = extract_seal::seal_block(&at, &item.labels[0], body)?;
            }
            key if IGNORED_TOP_LEVEL_KEYS.contains(&key) => {}
            key if UNSUPPORTED_TOP_LEVEL_KEYS.contains(&key) => {
                return Err(top.error(Some(key), "not supported by mainkey"));
            }
            key => return Err(top.error(Some(key), "unknown key")),
        }
    }

    let storage = storage.ok_or_else(|| {
        top.error(
            Some("storage"),
            "missing: a storage \"redb\" { path = \"...\" } block is required",
        )
    })?;
    if listeners.is_empty() {
        return Err(top.error(
            Some("listener"),
            "missing: at least one listener \"tcp\" { ... } block is required",
        ));
    }
    let (default_lease_ttl, max_lease_ttl) = lease_ttls(&top, default_lease_ttl, max_lease_ttl)?;
    let gateway = gateway.unwrap_or_default();
    extract_gateway::check_listener_addresses(file, &listeners, &gateway)?;

    Ok(ServerConfig {
        storage,
        listeners,
        api_addr,
        ui,
        disable_mlock,
        default_lease_ttl,
        max_lease_ttl,
        user_lockout,
        gateway,
        routes,
        log_level,
        log_format,
        telemetry: telemetry.unwrap_or_default(),
        seal,
    })
}

/// `user_lockout "all"|"userpass"|"approle" { ... }` with Vault's four keys.
fn user_lockout_block(
    at: &At<'_>,
    kind: &str,
    body: &Body,
) -> Result<UserLockoutBlock, ConfigError> {
    match kind {
        "all" | "userpass" | "approle" => {}
        // Vault also takes "ldap"; mainkey has no LDAP method, so the block would do nothing.
        other => {
            return Err(at.error(
                None,
                format!(
                    "unsupported auth type {other:?}; user_lockout applies to \"all\", \"userpass\" or \"approle\""
                ),
            ))
        }
    }
    let mut block = UserLockoutBlock::default();
    for item in &body.items {
        match item.key.as_str() {
            "lockout_threshold" => {
                let n = at.convert(item, values::integer)?;
                block.lockout_threshold = Some(u32::try_from(n).map_err(|_| {
                    at.error(
                        Some(&item.key),
                        format!("must be between 0 and {}, got {n}", u32::MAX),
                    )
                })?);
            }
            "lockout_duration" => {
                block.lockout_duration = Some(at.convert(item, values::duration)?);
            }
            "lockout_counter_reset" => {
                block.lockout_counter_reset = Some(at.convert(item, values::duration)?);
            }
            "disable_lockout" => {
                block.disable_lockout = Some(at.convert(item, values::boolean)?);
            }
            key => return Err(at.error(Some(key), "unknown key")),
        }
    }
    Ok(block)
}

/// Zero or unset means Vault's default (768h). An explicit default longer than the maximum is
/// an error; an unset default is lowered to an explicit, shorter maximum, since the operator
/// asked only for the cap.
fn lease_ttls(
    top: &At<'_>,
    default: Option<Duration>,
    max: Option<Duration>,
) -> Result<(Duration, Duration), ConfigError> {
    let set = |d: Option<Duration>| d.filter(|d| !d.is_zero());
    let max = set(max).unwrap_or(DEFAULT_LEASE_TTL);
    match set(default) {
        Some(default) if default > max => Err(top.error(
            Some("default_lease_ttl"),
            format!(
                "{} is longer than max_lease_ttl ({})",
                values::format_duration(default),
                values::format_duration(max)
            ),
        )),
        Some(default) => Ok((default, max)),
        None => Ok((DEFAULT_LEASE_TTL.min(max), max)),
    }
}

/// A block that must have exactly one label (`storage "redb"`, `listener "tcp"`); returns the
/// location for errors inside it and its body.
fn block_with_label<'f, 'b>(
    file: &'f str,
    item: &'b Item,
) -> Result<(At<'f>, &'b Body), ConfigError> {
    let Content::Block(body) = &item.content else {
        return Err(At { file, block: None }.error(
            Some(&item.key),
            format!(
                "expected a block such as {} \"<type>\" {{ ... }}, got a value",
                item.key
            ),
        ));
    };
    match item.labels.as_slice() {
        [label] => Ok((
            At {
                file,
                block: Some(format!("{} {label:?}", item.key)),
            },
            body,
        )),
        labels => Err(At {
            file,
            block: Some(item.key.clone()),
        }
        .error(
            None,
            format!(
                "expected exactly one label, the type, as in {} \"<type>\" {{ ... }}; got {}",
                item.key,
                labels.len()
            ),
        )),
    }
}

fn storage_config(at: &At<'_>, kind: &str, body: &Body) -> Result<StorageConfig, ConfigError> {
    match kind {
        "redb" => {
            let mut path = None;
            for item in &body.items {
                match item.key.as_str() {
                    "path" => {
                        path = Some(at.convert(item, values::string)?);
                    }
                    key => return Err(at.error(Some(key), "unknown key")),
                }
            }
            match path {
                Some(p) if !p.is_empty() => Ok(StorageConfig::Redb {
                    path: PathBuf::from(p),
                }),
                Some(_) => Err(at.error(Some("path"), "must not be empty")),
                None => Err(at.error(
                    Some("path"),
                    "missing: the path of the database file is required",
                )),
            }
        }
        "inmem" => match body.items.first() {
            Some(item) => Err(at.error(Some(&item.key), "unknown key")),
            None => Ok(StorageConfig::Inmem),
        },
        other => Err(at.error(
            None,
            format!("unknown storage type {other:?}; mainkey supports \"redb\" and \"inmem\""),
        )),
    }
}

pub(super) fn listener_config(
    at: &At<'_>,
    kind: &str,
    body: &Body,
) -> Result<ListenerConfig, ConfigError> {
    if kind != "tcp" {
        return Err(at.error(
            None,
            format!("unsupported listener type {kind:?}; mainkey supports \"tcp\""),
        ));
    }
    let mut address = None;
    let mut tls_disable = false;
    let mut cert_file = None;
    let mut key_file = None;
    let mut max_request_size = None;
    let mut limits = ListenerLimits::default();
    let mut unauthenticated_metrics_access = false;
    for item in &body.items {
        let key = item.key.as_str();
        // A negative JSON limit turns it off, zero means the default, as Vault reads them.
        let json_limit = |default: Option<u64>| -> Result<Option<u64>, ConfigError> {
            Ok(match at.convert(item, values::integer)? {
                0 => default,
                n if n < 0 => None,
                n => Some(n.unsigned_abs()),
            })
        };
        let json_defaults = super::types::JsonLimits::default();
        match key {
            // Zero keeps the default, as in Vault (Go's server only takes a positive value).
            "http_read_header_timeout" => {
                let d = at.convert(item, values::duration)?;
                if !d.is_zero() {
                    limits.http_read_header_timeout = d;
                }
            }
            "http_idle_timeout" => {
                let d = at.convert(item, values::duration)?;
                if !d.is_zero() {
                    limits.http_idle_timeout = d;
                }
            }
            "max_connections" => {
                let n = at.convert(item, values::integer)?;
                limits.max_connections = match usize::try_from(n) {
                    Ok(0) => limits.max_connections,
                    Ok(n) => n,
                    Err(_) => {
                        return Err(at.error(Some(key), format!("must not be negative, got {n}")))
                    }
                };
            }
            "max_json_depth" => {
                limits.json.max_json_depth = json_limit(json_defaults.max_json_depth)?
            }
            "max_json_string_value_length" => {
                limits.json.max_json_string_value_length =
                    json_limit(json_defaults.max_json_string_value_length)?
            }
            "max_json_object_entry_count" => {
                limits.json.max_json_object_entry_count =
                    json_limit(json_defaults.max_json_object_entry_count)?
            }
            "max_json_array_element_count" => {
                limits.json.max_json_array_element_count =
                    json_limit(json_defaults.max_json_array_element_count)?
            }
            "max_request_json_memory" => {
                limits.json.max_request_json_memory =
                    json_limit(json_defaults.max_request_json_memory)?
            }
            "max_request_json_strings" => {
                limits.json.max_request_json_strings =
                    json_limit(json_defaults.max_request_json_strings)?
            }
            "address" => address = Some(at.convert(item, listen_address)?),
            "telemetry" => {
                unauthenticated_metrics_access = extract_telemetry::listener_telemetry(at, item)?
            }
            "tls_disable" => tls_disable = at.convert(item, values::boolean)?,
            "tls_cert_file" => cert_file = Some(at.convert(item, values::string)?),
            "tls_key_file" => key_file = Some(at.convert(item, values::string)?),
            "max_request_size" => max_request_size = Some(at.convert(item, values::integer)?),
            // rustls never negotiates below TLS 1.2, so only that minimum can be honoured.
            "tls_min_version" => {
                let version = at.convert(item, values::string)?;
                if version != "tls12" {
                    return Err(at.error(
                        Some(key),
                        format!("only \"tls12\" is supported, got {version:?}"),
                    ));
                }
            }
            "tls_max_version" => {
                let version = at.convert(item, values::string)?;
                if version != "tls13" {
                    return Err(at.error(
                        Some(key),
                        format!("only \"tls13\" is supported, got {version:?}"),
                    ));
                }
            }
            key if IGNORED_LISTENER_KEYS.contains(&key) => {}
            key if UNSUPPORTED_LISTENER_KEYS.contains(&key) => {
                return Err(at.error(Some(key), "not supported by mainkey"));
            }
            key => return Err(at.error(Some(key), "unknown key")),
        }
    }

    let tls = if tls_disable {
        None
    } else {
        let cert_file = tls_file(at, "tls_cert_file", cert_file)?;
        let key_file = tls_file(at, "tls_key_file", key_file)?;
        Some(TlsFiles {
            cert_file,
            key_file,
        })
    };
    let max_request_size = match max_request_size {
        None | Some(0) => Some(DEFAULT_MAX_REQUEST_SIZE),
        Some(n) if n < 0 => None,
        Some(n) => Some(n.unsigned_abs()),
    };
    Ok(ListenerConfig {
        address: address.unwrap_or_else(|| "127.0.0.1:8200".to_string()),
        tls,
        max_request_size,
        limits,
        unauthenticated_metrics_access,
    })
}

/// A TLS file is required when TLS is on; checking that it exists here gives a message that
/// names the key, instead of a TLS setup error at start-up.
fn tls_file(at: &At<'_>, key: &str, value: Option<String>) -> Result<PathBuf, ConfigError> {
    let path = match value {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => return Err(at.error(Some(key), "missing: required unless tls_disable is true")),
    };
    match Path::new(&path).metadata() {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(at.error(Some(key), format!("{:?} is not a file", path.display()))),
        Err(e) => Err(at.error(Some(key), format!("{:?}: {e}", path.display()))),
    }
}

/// `host:port`, with an IPv6 host in brackets. Like Go's listener, an empty host means every
/// interface; it is written out as `0.0.0.0` so later layers need no special case.
pub(super) fn listen_address(value: &Value) -> Result<String, String> {
    let text = values::string(value)?;
    let bad = || {
        format!(
            "expected host:port, such as \"127.0.0.1:8200\" or \"[::1]:8200\", got {}",
            value.describe()
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
    if host.contains(':') && !bracketed {
        return Err(bad());
    }
    if host.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    if host.is_empty() {
        return Ok(format!("0.0.0.0:{port}"));
    }
    Ok(text)
}
