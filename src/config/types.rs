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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Vault's default for both `default_lease_ttl` and `max_lease_ttl`: 768 hours (32 days).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(768 * 3600);

impl ServerConfig {
    /// The configuration of `server -dev`: in-memory storage and one plain-HTTP listener,
    /// everything else at Vault's defaults.
    pub fn dev(listen_address: &str) -> Self {
        ServerConfig {
            storage: StorageConfig::Inmem,
            listeners: vec![ListenerConfig {
                address: listen_address.to_string(),
                tls: None,
                max_request_size: Some(DEFAULT_MAX_REQUEST_SIZE),
            }],
            api_addr: None,
            ui: false,
            disable_mlock: true,
            default_lease_ttl: DEFAULT_LEASE_TTL,
            max_lease_ttl: DEFAULT_LEASE_TTL,
        }
    }
}
