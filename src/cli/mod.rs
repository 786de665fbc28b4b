//! Subcommands: thin HTTP clients of `/v1`, and `server`.
//!
//! `args` holds the clap tree; `argv` turns Vault's `-flag` style into clap's `--flag`; each
//! command group has its own module that returns an [`Outcome`] or a [`CliError`], and
//! `main.rs` turns those into exit codes.

pub mod args;
pub mod args_kv;
pub mod argv;
pub mod auth;
pub mod bootstrap;
pub mod client;
pub mod data_args;
pub mod dotenv;
pub mod generate_root;
pub mod kv;
pub mod login;
pub mod operator;
pub mod output;
pub mod paths;
pub mod policy;
pub mod private_file;
pub mod rekey;
pub mod secrets;
pub mod server;
pub mod snapshot;
pub mod status;
pub mod token;
pub mod transit_seal;

pub use args::{AuthCommand, Cli, Command, OperatorCommand, PolicyCommand, TokenCommand};
pub use args_kv::{KvCommand, KvMetadataCommand, SecretsCommand};

/// How a command that ran to completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// `status` found the server sealed.
    Sealed,
    /// `operator init -status` found the server not initialised.
    NotInitialized,
    /// `policy lint` found warnings; `policy read` found no such policy.
    Warnings,
}

impl Outcome {
    /// Like the Vault CLI: 0, and 2 for the "no" answers of `status` and `init -status`.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Sealed | Outcome::NotInitialized | Outcome::Warnings => 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A problem on this side, before any request: bad input, unreadable standard input.
    #[error("{0}")]
    Local(String),
    /// The command reached the server but cannot do what was asked: nothing at the path
    /// (`No value found at secret/data/x`), a mount of the wrong kind, a bad `-method`. The
    /// Vault CLI exits 2 for these.
    #[error("{0}")]
    Failed(String),
    /// A request could not be made or the server refused it; `context` says what was being
    /// done, in the Vault CLI's words ("Error unsealing").
    #[error("{context}: {source}")]
    Request {
        context: &'static str,
        #[source]
        source: client::ClientError,
    },
}

/// For `map_err` on a request made while doing `context` ("Error unsealing").
pub(crate) fn request_error(
    context: &'static str,
) -> impl Fn(client::ClientError) -> CliError + Copy {
    move |source| CliError::Request { context, source }
}

impl CliError {
    /// Like the Vault CLI: 1 for local errors (including unusable settings), 2 for errors
    /// from or on the way to the server. `status` overrides this with 1 for every error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Local(_)
            | CliError::Request {
                source: client::ClientError::Settings(_),
                ..
            } => 1,
            CliError::Request { .. } | CliError::Failed(_) => 2,
        }
    }
}
