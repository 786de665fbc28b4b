//! The core's vocabulary: requests, responses, errors and the storage view that backends see.
//!
//! Nothing here knows about HTTP, pingora or redb. The gateway turns HTTP into a [`Request`],
//! the core routes it to a backend, and the gateway turns the [`Response`] back into Vault's wire
//! format.

mod auth;
mod backend;
mod caller;
pub mod duration;
mod error;
pub mod fields;
mod lockout;
mod request;
mod response;
mod storage;

pub use auth::{Alias, Auth, IpNet, Renewal};
pub use backend::Backend;
pub use caller::CallerInfo;
pub use error::Error;
pub use lockout::LockoutConfig;
pub use request::{Operation, Request};
pub use response::{Raw, RawBody, Response};
pub use storage::{InmemStorage, Storage, StorageOp};

/// JSON object used for request and response bodies, as in Vault's `map[string]interface{}`.
pub type Map = serde_json::Map<String, serde_json::Value>;
