//! `sys/storage/raft/snapshot[-force]`: the whole store out as one file, and back. Both
//! paths are sudo (see the core's root-protected paths); the file format and the checks are
//! in `core::snapshot`.

use crate::core::Core;
use crate::logical::{Error, Request, Response};

/// The snapshot's media type: a mainkey snapshot, not Vault's gzip tarball.
const CONTENT_TYPE: &str = "application/octet-stream";

/// `GET`: the snapshot file as the body.
pub async fn save(core: &Core) -> Result<Response, Error> {
    Ok(Response::bytes(CONTENT_TYPE, core.take_snapshot().await?))
}

/// `POST` with the file as the body: replaces the store and seals. `force` also takes a
/// snapshot sealed by other keys (another server's, or from before a rekey).
pub async fn restore(core: &Core, req: &Request, force: bool) -> Result<Response, Error> {
    let body = req
        .raw_body
        .as_deref()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| {
            Error::bad_request("missing snapshot: send the snapshot file as the body")
        })?;
    core.restore_snapshot(body, force).await?;
    Ok(Response::empty())
}
