use thiserror::Error as ThisError;

/// Every error a request can end in. The gateway maps each variant to one HTTP status
/// (`gateway::api`), so backends never choose status codes themselves.
#[derive(Debug, ThisError)]
pub enum Error {
    /// 400 with the message.
    #[error("{0}")]
    BadRequest(String),
    /// 403 `permission denied` (also for a missing or invalid token).
    #[error("permission denied")]
    PermissionDenied,
    /// 403 with a specific message (Vault uses this for preflight checks).
    #[error("{0}")]
    Forbidden(String),
    /// 404 with `{"errors":[]}`, as Vault answers a missing secret or an empty LIST.
    #[error("not found")]
    NotFound,
    /// 404 with a message, e.g. `no handler for route "x". route entry not found.`
    #[error("{0}")]
    NoHandler(String),
    /// 405: the path exists but does not support the operation.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// 413: the body exceeded `max_request_size`.
    #[error("http: request body too large")]
    TooLarge,
    /// 415: PATCH without `application/merge-patch+json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429.
    #[error("rate limit quota exceeded")]
    RateLimited,
    /// 503 `Vault is sealed`.
    #[error("Vault is sealed")]
    Sealed,
    /// 500. The message must never contain secret material.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }

    /// The HTTP status of this error: the one place where the mapping lives, for the
    /// response, the metrics and the audit log alike.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::PermissionDenied | Error::Forbidden(_) => 403,
            Error::NotFound | Error::NoHandler(_) => 404,
            Error::UnsupportedOperation => 405,
            Error::TooLarge => 413,
            Error::UnsupportedMediaType(_) => 415,
            Error::RateLimited => 429,
            Error::Sealed => 503,
            Error::Internal(_) => 500,
        }
    }
}
