//! HTTP and pingora.
