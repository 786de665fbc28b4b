//! The clap tree of the `mainkey` binary. New command groups plug in as new `Command` variants
//! with their own `Args` structs here (the data commands' in `args_kv`) and a module beside
//! this one.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::args_kv::{KvCommand, PathArgs, ReadArgs, SecretsCommand, WriteArgs};
use super::server::ServerArgs;

#[derive(Debug, Parser)]
#[command(
    name = "mainkey",
    version,
    about = "A sealed, Vault-compatible secrets server and edge gateway",
    after_help = "Flags may also be written Vault-style with one dash: -dev, -config=FILE, -format=json."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a mainkey server.
    Server(ServerArgs),
    /// Initialise, unseal, seal and rotate the server.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Print the seal status. Exits 0 when unsealed, 2 when sealed, 1 on error.
    Status(StatusArgs),
    /// Authenticate and store the token in ~/.vault-token.
    Login(LoginArgs),
    /// Create, look up, revoke tokens and ask their capabilities.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Write, read, list, delete and lint ACL policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Enable, disable and list auth methods.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Read and write secrets in KV v1 and v2 mounts.
    #[command(subcommand)]
    Kv(KvCommand),
    /// Enable, disable, list and tune secrets engines.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Read any path: `read PATH [K=V...]`.
    Read(ReadArgs),
    /// Write K=V data to any path.
    Write(WriteArgs),
    /// List the keys at any path.
    List(PathArgs),
    /// Delete any path.
    Delete(PathArgs),
}

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Auth method: token, userpass, approle or jwt.
    #[arg(long, default_value = "token")]
    pub method: String,
    /// Mount path of the auth method (default: the method's name).
    #[arg(long)]
    pub path: Option<String>,
    /// Do not store the token in ~/.vault-token.
    #[arg(long, bool_flag = false)]
    pub no_store: bool,
    /// The token (token method; read from standard input when left out or "-"), or
    /// key=value pairs for the other methods.
    pub args: Vec<String>,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a child token (or an orphan) of the current token.
    Create(Box<TokenCreateArgs>),
    /// Show a token's properties: the current token, another by id, or by accessor.
    Lookup(TokenLookupArgs),
    /// Revoke a token and its children.
    Revoke(TokenRevokeArgs),
    /// Show a token's capabilities on a path: `capabilities [TOKEN] PATH`.
    Capabilities(TokenCapabilitiesArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TokenCreateArgs {
    /// Create the token through this token role (`auth/token/create/ROLE`).
    #[arg(long)]
    pub role: Option<String>,
    /// The token's id instead of a generated one; only root may choose it.
    #[arg(long)]
    pub id: Option<String>,
    /// A policy for the token; repeat or separate with commas.
    #[arg(long = "policy", value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Initial TTL (e.g. 1h, 30m, 3600).
    #[arg(long)]
    pub ttl: Option<String>,
    /// Hard maximum lifetime, beyond which the token cannot be renewed.
    #[arg(long)]
    pub explicit_max_ttl: Option<String>,
    /// Make a periodic token renewed for this period each time.
    #[arg(long)]
    pub period: Option<String>,
    /// Create a token with no parent.
    #[arg(long, bool_flag = false)]
    pub orphan: bool,
    /// Do not attach the "default" policy.
    #[arg(long, bool_flag = false)]
    pub no_default_policy: bool,
    /// Number of uses before the token is revoked (0: unlimited).
    #[arg(long)]
    pub use_limit: Option<i64>,
    /// Display name.
    #[arg(long)]
    pub display_name: Option<String>,
    /// Metadata as key=value; repeat for more.
    #[arg(long = "metadata", value_name = "K=V")]
    pub metadata: Vec<String>,
    /// Whether the token may be renewed (default true); `-renewable=false` makes it not.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_bool_flag
    )]
    pub renewable: Option<bool>,
    /// Print only this field of the answer (`token`, `token_accessor`, ...), without a
    /// newline when standard output is not a terminal.
    #[arg(long)]
    pub field: Option<String>,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TokenLookupArgs {
    /// Treat the argument as an accessor.
    #[arg(long, bool_flag = false)]
    pub accessor: bool,
    /// The token (or accessor); the current token when left out.
    pub token: Option<String>,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TokenRevokeArgs {
    /// Treat the argument as an accessor.
    #[arg(long, bool_flag = false)]
    pub accessor: bool,
    /// Revoke the current token.
    #[arg(long = "self", bool_flag = false)]
    pub self_: bool,
    /// The token (or accessor).
    pub token: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TokenCapabilitiesArgs {
    /// `[TOKEN] PATH`: without a token, the current token's capabilities.
    #[arg(num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Upload a policy from a file, or from standard input with "-".
    Write(PolicyWriteArgs),
    /// Print a policy's rules.
    Read(PolicyNameArgs),
    /// List the policy names.
    List(PolicyListArgs),
    /// Delete a policy.
    Delete(PolicyNameArgs),
    /// Check a policy file offline. Exits 0 when clean, 2 with warnings, 1 when it does not parse.
    Lint(PolicyLintArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PolicyWriteArgs {
    pub name: String,
    /// Policy file, or "-" for standard input.
    pub file: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PolicyNameArgs {
    pub name: String,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PolicyListArgs {
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PolicyLintArgs {
    /// Policy file, or "-" for standard input.
    pub file: String,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Enable an auth method: `auth enable [-path=P] TYPE`.
    Enable(AuthEnableArgs),
    /// Disable the auth method at PATH, revoking its tokens.
    Disable(AuthDisableArgs),
    /// List the enabled auth methods.
    List(AuthListArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AuthEnableArgs {
    /// Where to mount it (default: the type).
    #[arg(long)]
    pub path: Option<String>,
    /// Human-readable description.
    #[arg(long)]
    pub description: Option<String>,
    /// The method type: token, userpass, approle, jwt, kubernetes.
    #[arg(name = "TYPE")]
    pub method_type: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AuthDisableArgs {
    pub path: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AuthListArgs {
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Initialise a new server: create the unseal key shares and the root token.
    Init(InitArgs),
    /// Give one unseal key share; prints the seal status.
    Unseal(UnsealArgs),
    /// Seal the server: drop the keys from memory until it is unsealed again.
    Seal(SealArgs),
    /// Add a new encryption key term; older entries stay readable.
    Rotate(RotateArgs),
    /// Save the whole store to a file, restore it, or inspect a saved file.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Replace the unseal keys (new shares and threshold) with a quorum of the current ones.
    Rekey(RekeyArgs),
    /// Make a new root token with a quorum of unseal keys, encoded with a one-time password.
    GenerateRoot(GenerateRootArgs),
    /// Bring the server to what an HCL or YAML file describes (mounts, auth methods,
    /// policies, audit, roles, users, entities, KV data), initialising and unsealing it if
    /// needed; writes only what differs.
    Bootstrap(BootstrapArgs),
}

/// How to reach the server. Each flag overrides its environment variable.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "HTTP Options")]
pub struct ClientArgs {
    /// Address of the server [env: VAULT_ADDR, default https://127.0.0.1:8200].
    #[arg(long, value_name = "URL")]
    pub address: Option<String>,
    /// PEM file of the CA certificate(s) to trust [env: VAULT_CACERT].
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate. Insecure [env: VAULT_SKIP_VERIFY].
    #[arg(long, bool_flag = None)]
    pub tls_skip_verify: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct FormatArgs {
    /// Output format.
    #[arg(long, value_enum, env = "VAULT_FORMAT", default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Number of unseal key shares to create.
    #[arg(long, default_value_t = 5)]
    pub key_shares: u32,
    /// Number of shares needed to unseal.
    #[arg(long, default_value_t = 3)]
    pub key_threshold: u32,
    /// With an auto seal (`seal "transit"`): number of recovery key shares to create.
    #[arg(long, default_value_t = 5)]
    pub recovery_shares: u32,
    /// With an auto seal: number of recovery shares needed for quorum operations.
    #[arg(long, default_value_t = 3)]
    pub recovery_threshold: u32,
    /// Only report whether the server is initialised: exit 0 if it is, 2 if not.
    #[arg(long, bool_flag = false)]
    pub status: bool,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UnsealArgs {
    /// One unseal key share (hex or base64). Read from standard input when left out.
    pub key: Option<String>,
    /// Discard the key shares given so far.
    #[arg(long, bool_flag = false)]
    pub reset: bool,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SealArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SnapshotCommand {
    /// Write a snapshot of the whole store to FILE (created 0600). Needs sudo on
    /// `sys/storage/raft/snapshot`.
    Save(SnapshotSaveArgs),
    /// Replace the whole store by the snapshot in FILE; the server seals, and is unsealed
    /// with the unseal keys it had when the snapshot was taken.
    Restore(SnapshotRestoreArgs),
    /// Check FILE and print what its header says, without a server.
    Inspect(SnapshotInspectArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SnapshotSaveArgs {
    pub file: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SnapshotRestoreArgs {
    pub file: String,
    /// Also restore a snapshot sealed by other keys than the server's (another server's, or
    /// one from before a rekey).
    #[arg(long, bool_flag = false)]
    pub force: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SnapshotInspectArgs {
    pub file: String,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RekeyArgs {
    /// One current unseal key share (hex or base64); `-` reads it from standard input, and
    /// leaving it out asks for it.
    pub key: Option<String>,
    /// Start a rekey, with `-key-shares` and `-key-threshold`.
    #[arg(long, bool_flag = false)]
    pub init: bool,
    /// Cancel the rekey in progress, forgetting the keys given for it.
    #[arg(long, bool_flag = false)]
    pub cancel: bool,
    /// Print the rekey's progress without giving a key.
    #[arg(long, bool_flag = false)]
    pub status: bool,
    /// Number of new key shares (with `-init`).
    #[arg(long, default_value_t = 5)]
    pub key_shares: u32,
    /// Number of new shares needed to unseal (with `-init`).
    #[arg(long, default_value_t = 3)]
    pub key_threshold: u32,
    /// The nonce shown by `-init`, given with each key.
    #[arg(long, default_value = "")]
    pub nonce: String,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct GenerateRootArgs {
    /// One unseal key share (hex or base64); `-` reads it from standard input, and leaving
    /// it out asks for it.
    pub key: Option<String>,
    /// Start a root token generation; the server makes the one-time password unless `-otp`.
    #[arg(long, bool_flag = false)]
    pub init: bool,
    /// Cancel the generation in progress, forgetting the keys given for it.
    #[arg(long, bool_flag = false)]
    pub cancel: bool,
    /// Print the generation's progress without giving a key.
    #[arg(long, bool_flag = false)]
    pub status: bool,
    /// Decode this encoded token (`-` reads it from standard input) with `-otp`.
    #[arg(long, value_name = "ENCODED", default_value = "")]
    pub decode: String,
    /// The one-time password, for `-decode` or `-init`.
    #[arg(long, default_value = "")]
    pub otp: String,
    /// Print a new one-time password that `-init -otp=...` accepts.
    #[arg(long, bool_flag = false)]
    pub generate_otp: bool,
    /// The nonce shown by `-init`, given with each key.
    #[arg(long, default_value = "")]
    pub nonce: String,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct BootstrapArgs {
    /// The description of the server: HCL (.hcl) or YAML (.yaml, .yml).
    pub file: PathBuf,
    /// A server that is not initialised: the new file (0600) its unseal keys and root token
    /// go to, as `operator init -format=json` prints them. A sealed one: the file to unseal
    /// it with. Its root token is used when there is no VAULT_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub keys_file: Option<PathBuf>,
    /// Show what would change and write nothing.
    #[arg(long, bool_flag = false)]
    pub dry_run: bool,
    /// Also set the passwords of userpass users that exist (they cannot be compared).
    #[arg(long, bool_flag = false)]
    pub reset_passwords: bool,
    /// Also list the items that are unchanged.
    #[arg(long, bool_flag = false)]
    pub verbose: bool,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Boolean flags take an optional `=value` as in Vault (`-reset`, `-tls-skip-verify=false`),
/// in Go's spellings.
pub(super) fn parse_bool_flag(text: &str) -> Result<bool, String> {
    crate::logical::fields::parse_go_bool(text)
        .ok_or_else(|| format!("expected true, false, 1 or 0, got {text:?}"))
}

/// Makes an `Arg` one of Vault's boolean flags: `-flag` alone is true, `-flag=<bool>` sets it
/// (never `-flag <bool>`, so a bare flag does not swallow the next word). Written
/// `#[arg(long, bool_flag = false)]` for a `bool` with that default, or `bool_flag = None` for
/// an `Option<bool>` that stays `None` when the flag is absent: clap's derive calls a method
/// named in `#[arg]` on the `Arg` after its own defaults, so these settings win.
pub(super) trait BoolFlag {
    fn bool_flag(self, default: impl Into<Option<bool>>) -> Self;
}

impl BoolFlag for clap::Arg {
    fn bool_flag(self, default: impl Into<Option<bool>>) -> Self {
        let arg = self
            .value_name("BOOL")
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_parser(parse_bool_flag)
            .action(clap::ArgAction::Set);
        match default.into() {
            Some(default) => arg.default_value(if default { "true" } else { "false" }),
            None => arg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::argv::vault_style;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(vault_style(args.iter().copied()))
    }

    #[test]
    fn the_tree_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn vault_style_server_flags_parse() {
        let cli = parse(&[
            "mainkey",
            "server",
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:8399",
        ])
        .expect("parses");
        let Command::Server(args) = cli.command else {
            panic!("expected server");
        };
        assert!(args.dev);
        assert_eq!(args.dev_root_token_id.as_deref(), Some("root"));
        assert_eq!(args.dev_listen_address, "127.0.0.1:8399");

        let cli = parse(&["mainkey", "server", "-config=/etc/mainkey.hcl"]).expect("parses");
        let Command::Server(args) = cli.command else {
            panic!("expected server");
        };
        assert_eq!(args.config, Some(PathBuf::from("/etc/mainkey.hcl")));
    }

    #[test]
    fn vault_style_init_flags_parse() {
        let cli = parse(&[
            "mainkey",
            "operator",
            "init",
            "-key-shares=1",
            "-key-threshold=1",
            "-format=json",
        ])
        .expect("parses");
        let Command::Operator(OperatorCommand::Init(args)) = cli.command else {
            panic!("expected operator init");
        };
        assert_eq!((args.key_shares, args.key_threshold), (1, 1));
        assert_eq!(args.output.format, OutputFormat::Json);
        assert!(!args.status);
    }

    #[test]
    fn init_defaults_are_five_and_three() {
        let cli = parse(&["mainkey", "operator", "init"]).expect("parses");
        let Command::Operator(OperatorCommand::Init(args)) = cli.command else {
            panic!("expected operator init");
        };
        assert_eq!((args.key_shares, args.key_threshold), (5, 3));
    }

    #[test]
    fn boolean_flags_take_an_optional_value() {
        for (flag, want) in [
            ("-reset", true),
            ("-reset=true", true),
            ("-reset=1", true),
            ("-reset=false", false),
            ("--reset=0", false),
        ] {
            let cli = parse(&["mainkey", "operator", "unseal", flag]).expect("parses");
            let Command::Operator(OperatorCommand::Unseal(args)) = cli.command else {
                panic!("expected operator unseal");
            };
            assert_eq!(args.reset, want, "{flag}");
            assert_eq!(args.key, None);
        }
        assert!(parse(&["mainkey", "operator", "unseal", "-reset=maybe"]).is_err());
    }

    #[test]
    fn a_bare_boolean_flag_does_not_swallow_the_next_word() {
        let cli =
            parse(&["mainkey", "operator", "unseal", "-tls-skip-verify", "abcd"]).expect("parses");
        let Command::Operator(OperatorCommand::Unseal(args)) = cli.command else {
            panic!("expected operator unseal");
        };
        assert_eq!(args.client.tls_skip_verify, Some(true));
        assert_eq!(args.key.as_deref(), Some("abcd"));
    }

    #[test]
    fn client_flags_parse_on_every_client_command() {
        for cmd in [
            vec!["mainkey", "status"],
            vec!["mainkey", "operator", "seal"],
            vec!["mainkey", "operator", "rotate"],
            vec!["mainkey", "operator", "unseal", "k"],
            vec!["mainkey", "operator", "init"],
        ] {
            let mut argv = cmd.clone();
            argv.extend([
                "-address=https://vault.example:8200",
                "-ca-cert=/etc/ca.pem",
                "-tls-skip-verify=false",
            ]);
            parse(&argv).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        }
    }

    #[test]
    fn unknown_flags_and_formats_are_usage_errors() {
        assert!(parse(&["mainkey", "status", "-bogus"]).is_err());
        assert!(parse(&["mainkey", "status", "-format=yaml"]).is_err());
        assert!(parse(&["mainkey", "operator", "init", "-key-shares=abc"]).is_err());
        assert!(parse(&["mainkey", "operator", "unseal", "a", "b"]).is_err());
    }
}
