//! Backends mounted by the router.
