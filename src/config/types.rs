use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Vault's default `max_request_size`: 32 MiB.
pub const DEFAULT_MAX_REQUEST_SIZE: u64 = 32 * 1024 * 1024;

/// A whole server configuration, after validation.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub storage: StorageConfig,
    pub listeners: Vec<ListenerConfig>,
    pub api_addr: Option<String>,
    pub ui: bool,
    pub disable_mlock: bool,
    pub default_lease_ttl: Duration,
    pub max_lease_ttl: Duration,
    /// The `user_lockout "<type>"` blocks, keyed `all`, `userpass` or `approle`.
    pub user_lockout: BTreeMap<String, UserLockoutBlock>,
    /// The `gateway` block, with its defaults when absent.
    pub gateway: super::gateway::GatewayConfig,
    /// The `route "<name>"` blocks, in file order.
    pub routes: Vec<super::gateway::RouteConfig>,
    /// `log_level`; `None` leaves it to `MAINKEY_LOG`, else `info`.
    pub log_level: Option<LogLevel>,
    /// `log_format`: `standard` (the default) or `json`.
    pub log_format: LogFormat,
    /// The `telemetry` block.
    pub telemetry: TelemetryConfig,
    /// A `seal "transit"` block; `None` seals with Shamir unseal keys.
    pub seal: Option<TransitSealBlock>,
}

/// A `seal "transit"` block as written. Vault's environment variables (`VAULT_ADDR`,
/// `VAULT_TOKEN`, `VAULT_TRANSIT_SEAL_*`) fill in or override it when the server starts, so a
/// value missing here is not yet an error.
#[derive(Debug, Clone, Default)]
pub struct TransitSealBlock {
    pub address: Option<String>,
    /// `SecretString`, so `Debug` of the config never shows it.
    pub token: Option<secrecy::SecretString>,
    pub key_name: Option<String>,
    pub mount_path: Option<String>,
    pub disable_renewal: Option<bool>,
    pub tls_ca_cert: Option<PathBuf>,
    pub tls_skip_verify: Option<bool>,
}

/// Vault's log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Vault's `log_format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Standard,
    /// One JSON object per line.
    Json,
}

/// The top-level `telemetry` block. Vault's sink settings (statsd, circonus, ...) are
/// accepted and ignored; mainkey serves Prometheus only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `metrics_address`: where to serve `/metrics` without a token, apart from the API.
    pub metrics_address: Option<String>,
}

/// One `user_lockout "<type>" { ... }` block, as Vault's: a field left out falls back to the
/// `all` block, then to Vault's defaults (a mount's tune overrides all of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserLockoutBlock {
    pub lockout_threshold: Option<u32>,
    pub lockout_duration: Option<Duration>,
    pub lockout_counter_reset: Option<Duration>,
    pub disable_lockout: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// `storage "redb" { path = "..." }`: `path` is the database file itself.
    Redb { path: PathBuf },
    /// Dev mode: nothing survives a restart.
    Inmem,
}

/// One `listener "tcp"` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// `host:port`, e.g. `127.0.0.1:8200`.
    pub address: String,
    /// `None` when `tls_disable` is set; both files otherwise.
    pub tls: Option<TlsFiles>,
    /// The body limit in bytes; `None` turns limiting off (a negative `max_request_size`).
    pub max_request_size: Option<u64>,
    /// Timeouts, the connection cap and the JSON complexity limits of this listener.
    pub limits: ListenerLimits,
    /// `telemetry { unauthenticated_metrics_access = true }`: `sys/metrics` on this listener
    /// answers without a token, as in Vault.
    pub unauthenticated_metrics_access: bool,
}

/// Vault's default `http_read_header_timeout`.
pub const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Vault's default `http_idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// mainkey's default `max_connections` (Vault has no such cap): enough for any ordinary
/// client fleet, small enough that the worst case (each connection holding a 1 MiB head and a
/// body at `max_request_size`) is bounded.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The denial-of-service limits of one listener. Each field is a listener key of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerLimits {
    /// The whole request head (request line and headers) must arrive within this; Vault's
    /// `http_read_header_timeout`.
    pub http_read_header_timeout: Duration,
    /// A kept-alive connection with no new request for this long is closed;
    /// `http_idle_timeout`.
    pub http_idle_timeout: Duration,
    /// Connections open at once on this listener; one more is closed at once.
    pub max_connections: usize,
    pub json: JsonLimits,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            http_read_header_timeout: DEFAULT_READ_HEADER_TIMEOUT,
            http_idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            json: JsonLimits::default(),
        }
    }
}

/// The JSON complexity limits of a request body, checked while the body is read, before any
/// value is built. Vault's four (`max_json_*`, Vault's defaults) and OpenBao's two
/// (`max_request_json_*`, OpenBao's defaults); `None` turns one off (a negative value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLimits {
    pub max_json_depth: Option<u64>,
    pub max_json_string_value_length: Option<u64>,
    pub max_json_object_entry_count: Option<u64>,
    pub max_json_array_element_count: Option<u64>,
    /// OpenBao's estimate of the memory the decoded body would take.
    pub max_request_json_memory: Option<u64>,
    /// OpenBao's count of strings (keys included) in the body.
    pub max_request_json_strings: Option<u64>,
}

impl Default for JsonLimits {
    fn default() -> Self {
        JsonLimits {
            max_json_depth: Some(300),
            max_json_string_value_length: Some(1024 * 1024),
            max_json_object_entry_count: Some(10_000),
            max_json_array_element_count: Some(10_000),
            max_request_json_memory: Some(32 * 1024 * 1024 + 512 * 1024),
            max_request_json_strings: Some(1000),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Vault's default for both `default_lease_ttl` and `max_lease_ttl`: 768 hours (32 days).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(768 * 3600);

impl ServerConfig {
    /// The files the server itself reads and writes (storage, every listener's TLS files,
    /// the gateway's too), which an audit device may not write to.
    pub fn own_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let StorageConfig::Redb { path } = &self.storage {
            files.push(path.clone());
        }
        for l in self.listeners.iter().chain(&self.gateway.listeners) {
            if let Some(tls) = &l.tls {
                files.extend([tls.cert_file.clone(), tls.key_file.clone()]);
            }
        }
        files
    }

    /// The configuration of `server -dev`: in-memory storage and one plain-HTTP listener,
    /// everything else at Vault's defaults.
    pub fn dev(listen_address: &str) -> Self {
        ServerConfig {
            storage: StorageConfig::Inmem,
            listeners: vec![ListenerConfig {
                address: listen_address.to_string(),
                tls: None,
                max_request_size: Some(DEFAULT_MAX_REQUEST_SIZE),
                limits: ListenerLimits::default(),
                unauthenticated_metrics_access: false,
            }],
            api_addr: None,
            // As Vault's dev server: the UI is on.
            ui: true,
            disable_mlock: true,
            default_lease_ttl: DEFAULT_LEASE_TTL,
            max_lease_ttl: DEFAULT_LEASE_TTL,
            user_lockout: BTreeMap::new(),
            gateway: super::gateway::GatewayConfig::default(),
            routes: Vec::new(),
            log_level: None,
            log_format: LogFormat::Standard,
            telemetry: TelemetryConfig::default(),
            seal: None,
        }
    }
}
