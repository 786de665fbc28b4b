//! mainkey: an edge forward-auth gateway with an embedded, sealed, Vault-compatible secrets core.
//! See DESIGN.md for the rooms; arrows point downwards in the order below.

pub mod cli;
pub mod config;
pub mod gateway;
pub mod core;
pub mod builtin;
pub mod barrier;
pub mod physical;
pub mod logical;
pub mod clock;
