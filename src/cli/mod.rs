//! Subcommands: thin HTTP clients of `/v1`, and `server`.

pub mod server;
