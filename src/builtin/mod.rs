//! Backends mounted by the router.
pub mod kv;
