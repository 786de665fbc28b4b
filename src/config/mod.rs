//! Server configuration: HCL or JSON files -> typed structs. Every bad value is an error that
//! names the file, the block and the key.

mod types;

pub use types::{ListenerConfig, ServerConfig, StorageConfig, TlsFiles, DEFAULT_MAX_REQUEST_SIZE};
