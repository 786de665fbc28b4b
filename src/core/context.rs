//! The request context: what the core knows about one request as it goes through
//! `handle_request`, and the two stages where audit devices and metrics attach.
//!
//! `before` runs once the decision is made and before any backend runs, for allowed and
//! refused requests alike (with the [`Caller`] or the [`Denial`]); `after` runs once the
//! outcome is known. Both are fail-closed, as Vault's audit is: an observer that cannot
//! record a request makes it fail with 500, before the backend runs or before its response
//! (and any secret in it) leaves the core.

use std::sync::Arc;
use std::time::Instant;

use secrecy::SecretString;

use super::authorization::{Caller, Denial};
use crate::logical::{Error, Operation, Request, Response};

/// One request's facts, for observers. Holds no body; the token is kept only as a secret
/// (redacted in `Debug`), for audit to hash in the response entry.
#[derive(Debug)]
pub struct RequestContext {
    /// The request id the client sees as `request_id`.
    pub id: String,
    pub operation: Operation,
    /// The absolute request path, as the ACL saw it.
    pub path: String,
    /// The mount the request was routed to (`secret/`, `auth/userpass/`), if any.
    pub mount: Option<String>,
    pub remote_addr: Option<std::net::IpAddr>,
    /// Who called, once allowed.
    pub caller: Option<Arc<Caller>>,
    /// Why the request was refused, when it was.
    pub denial: Option<Denial>,
    /// When the core received the request.
    pub started: Instant,
    /// The token the request carried, as sent.
    pub client_token: Option<SecretString>,
}

impl RequestContext {
    pub(super) fn new(req: &Request) -> RequestContext {
        RequestContext {
            id: if req.id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                req.id.clone()
            },
            operation: req.operation,
            path: req.path.clone(),
            mount: None,
            remote_addr: req.remote_addr,
            caller: None,
            denial: None,
            started: Instant::now(),
            client_token: req.client_token.as_deref().map(SecretString::from),
        }
    }
}

/// An audit device or a metrics sink: sees every request at its two stages.
pub trait RequestObserver: Send + Sync {
    /// The decision is made; `req` is the request as the backend will get it. An error
    /// fails the request with 500, and the backend never runs.
    fn before(&self, ctx: &RequestContext, req: &Request) -> Result<(), Error>;

    /// The outcome is known. An error replaces the outcome with a 500.
    fn after(&self, ctx: &RequestContext, outcome: &Result<Response, Error>) -> Result<(), Error>;
}

/// The observers of a core, in the order they are asked.
#[derive(Clone, Default)]
pub struct Observers(Vec<Arc<dyn RequestObserver>>);

impl Observers {
    pub fn new(observers: Vec<Arc<dyn RequestObserver>>) -> Self {
        Observers(observers)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn RequestObserver>> {
        self.0.iter()
    }

    pub(super) fn before(&self, ctx: &RequestContext, req: &Request) -> Result<(), Error> {
        for o in &self.0 {
            o.before(ctx, req).map_err(fail_closed)?;
        }
        Ok(())
    }

    pub(super) fn after(
        &self,
        ctx: &RequestContext,
        outcome: Result<Response, Error>,
    ) -> Result<Response, Error> {
        for o in &self.0 {
            o.after(ctx, &outcome).map_err(fail_closed)?;
        }
        outcome
    }
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observers({})", self.0.len())
    }
}

/// Whatever an observer says, the client sees a bare 500: its message may name a file path
/// or a device, which is the operator's business.
fn fail_closed(e: Error) -> Error {
    tracing::error!(error = %e, "a request observer failed; the request fails closed");
    Error::internal("internal error")
}
