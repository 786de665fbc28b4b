//! Server configuration: HCL or JSON files -> typed structs. Every bad value is an error that
//! names the file, the block and the key.
//!
//! Both formats are first walked into one normalized tree (`tree`), then one typed extraction
//! (`extract`) turns that tree into a [`ServerConfig`], so HCL and JSON cannot drift apart.

mod error;
mod extract;
mod extract_gateway;
mod extract_seal;
mod extract_telemetry;
pub mod gateway;
mod tree;
mod types;
mod values;

use std::path::Path;

pub use error::ConfigError;
pub use extract::{IGNORED_LISTENER_KEYS, IGNORED_TOP_LEVEL_KEYS, UNSUPPORTED_TOP_LEVEL_KEYS};
pub use types::{
    JsonLimits, ListenerConfig, ListenerLimits, LogFormat, LogLevel, ServerConfig, StorageConfig,
    TelemetryConfig, TlsFiles, TransitSealBlock, UserLockoutBlock, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_LEASE_TTL, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_REQUEST_SIZE,
    DEFAULT_READ_HEADER_TIMEOUT,
};

/// The syntax of a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Hcl,
    Json,
}

impl Format {
    /// Like Vault: `.json` files are JSON, anything else is HCL.
    pub fn of_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Hcl,
        }
    }
}

/// Reads and validates a config file. Relative paths inside it (database, TLS files) are taken
/// relative to the working directory, as Vault does.
pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file, Format::of_path(path))
}

/// Validates config text; `file` is the name used in error messages.
pub fn parse(text: &str, file: &str, format: Format) -> Result<ServerConfig, ConfigError> {
    let body = match format {
        Format::Hcl => {
            let body: hcl::Body = hcl::parse(text).map_err(|e| ConfigError::Syntax {
                file: file.to_string(),
                format: "HCL",
                message: e.to_string(),
            })?;
            tree::from_hcl(&body)
        }
        Format::Json => {
            let json: serde_json::Value =
                serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
                    file: file.to_string(),
                    format: "JSON",
                    message: e.to_string(),
                })?;
            tree::from_json(&json).map_err(|e| ConfigError::Invalid {
                file: file.to_string(),
                block: e.block,
                key: Some(e.key),
                problem: e.problem,
            })?
        }
    };
    extract::server_config(file, &body)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_gateway;
