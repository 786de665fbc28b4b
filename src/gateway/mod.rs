//! HTTP and pingora: listeners, TLS, and the `/v1` API.
//!
//! A `/v1` request flows: body read under the listener's limit (`body`) -> `api::decode_head`
//! (with the one path check, `path_check`) -> [`Handler`] (the core) -> `api::encode`.

pub mod api;
pub mod body;
pub mod path_check;

use async_trait::async_trait;

use crate::core::Core;
use crate::logical::{Error, Request, Response};

/// What serves logical requests behind the HTTP layer: the [`Core`] in production, a fake in
/// tests (which is how the tests show that a rejected path reaches no backend).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, req: Request) -> Result<Response, Error>;
}

#[async_trait]
impl Handler for Core {
    async fn handle(&self, req: Request) -> Result<Response, Error> {
        self.handle_request(req).await
    }
}
