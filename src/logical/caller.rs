use std::any::Any;

/// Who is calling, as a backend sees it: set by the core on [`super::Request::caller`] once
/// the request is allowed, never by whoever built the request. The core's own backends
/// downcast it (through [`CallerInfo::as_any`]) to the core's caller type to reach what only
/// the core knows, such as the token entry; the others read these facts.
///
/// An implementation must not print the accessor (or anything else audit would HMAC) in its
/// `Debug`, so a `{:?}` in a log line gives nothing away.
pub trait CallerInfo: Send + Sync {
    /// The token's accessor. Audit HMACs it; it is no credential, but still not for logs.
    fn accessor(&self) -> &str;

    /// The token's own policies.
    fn policies(&self) -> &[String];

    /// The policies the token's entity and its groups add.
    fn identity_policies(&self) -> &[String];

    /// Empty for a token without an entity.
    fn entity_id(&self) -> &str;

    fn display_name(&self) -> &str;

    fn is_root(&self) -> bool;

    /// The concrete caller, for the backend that knows its type.
    fn as_any(&self) -> &dyn Any;
}
