//! Backends mounted by the router.

pub mod auth;
pub mod kv;
pub mod system;
