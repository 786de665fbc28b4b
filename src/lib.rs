//! mainkey: an edge forward-auth gateway with an embedded, sealed, Vault-compatible secrets core.
//! See DESIGN.md for the rooms; arrows point downwards in the order below.

pub mod audit;
pub mod barrier;
pub mod builtin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod gateway;
pub mod logical;
pub mod metrics;
pub mod physical;
pub mod policy;
