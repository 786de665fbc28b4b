//! The core: seal state, mount table and router, token store, and the one entry point that
//! both `/v1` and the gateway call.

use crate::logical::{Error, Request, Response};

/// The secrets core. Built by `cli::server`, shared by every listener as `Arc<Core>`.
pub struct Core {}

impl Core {
    /// Handles one logical request: token lookup, ACL, routing, backend, barrier.
    pub async fn handle_request(&self, req: Request) -> Result<Response, Error> {
        Err(Error::NoHandler(format!(
            "no handler for route \"{}\". route entry not found.",
            req.path
        )))
    }
}
