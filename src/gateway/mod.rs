//! HTTP and pingora: listeners, TLS, the `/v1` API and the edge gateway.
//!
//! A `/v1` request flows: pingora (`server::ApiApp`) -> body read under the listener's limit
//! (`body`) -> `api::decode_head` (with the one path check, `path_check`) -> [`Handler`]
//! (the core) -> `api::encode`.
//!
//! A gateway check (`forward_auth` on the API listeners, `proxy` on the proxy listeners)
//! flows: the forwarded path's check (`path_check::check_forwarded`) -> the one route
//! evaluation (`decision`: `routes`, `rate_limit`, the core's pipeline, the decision cache)
//! -> the answer, or the upstream with the identity and credential headers set.
//!
//! The web UI (`ui`, when `ui = true`) is static files beside `/v1`; it calls only `/v1`.
//!
//! Entry point: [`run`], called by `cli::server` once the core is built.

pub mod api;
pub mod body;
pub mod conn;
pub mod decision;
pub mod forward_auth;
pub mod json_limits;
pub mod path_check;
pub mod proxy;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod tls;
pub mod ui;

#[cfg(test)]
mod tests_decision;
#[cfg(test)]
mod tests_fuzz;

use std::path::PathBuf;

use async_trait::async_trait;
use thiserror::Error as ThisError;

use crate::core::Core;
use crate::logical::{Error, Request, Response};

pub use server::{run, serve, stop_trigger, Edge, Reload, StopSignal, StopTrigger};

/// What serves logical requests behind the HTTP layer: the [`Core`] in production, a fake in
/// tests (which is how the tests show that a rejected path reaches no backend).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, req: Request) -> Result<Response, Error>;

    /// Asked once the head is decoded, before the body is read: an error answers at once and
    /// the body is never read, so a request without a live token cannot make the server
    /// buffer or parse a large body.
    async fn admits(&self, _head: &api::DecodedHead) -> Result<(), Error> {
        Ok(())
    }
}

#[async_trait]
impl Handler for Core {
    async fn handle(&self, req: Request) -> Result<Response, Error> {
        self.handle_request(req).await
    }

    async fn admits(&self, head: &api::DecodedHead) -> Result<(), Error> {
        Core::admits(self, head.token(), head.remote_addr(), head.path())
            .await
            .map_err(Error::from)
    }
}

/// Why the gateway could not start. Each variant names what to fix.
#[derive(Debug, ThisError)]
pub enum GatewayError {
    #[error("no listener is configured")]
    NoListeners,
    #[error("listener address {address:?} is invalid: {reason}")]
    InvalidAddress { address: String, reason: String },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS file {}: {reason}", file.display())]
    Tls { file: PathBuf, reason: String },
}
