//! The clap structs of the data commands: `kv ...`, `secrets ...` and the path commands
//! `read|write|list|delete`, in the Vault CLI's flag names. Kept beside `args.rs` so that
//! file stays about the server, operator, token and auth groups.

use clap::{Args, Subcommand};

use super::args::{BoolFlag, ClientArgs, FormatArgs};

#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Read a secret: `kv get [-mount=M] [-version=N] [-field=F] PATH`.
    Get(KvGetArgs),
    /// Write a new version of a secret from K=V pairs (`K=@file`, `K=-`, or `-` for JSON).
    Put(KvWriteArgs),
    /// Change some keys of a KV v2 secret and keep the others.
    Patch(KvPatchArgs),
    /// List the keys under a folder.
    List(KvPathArgs),
    /// Delete the latest version, or the versions given with `-versions`.
    Delete(KvVersionsArgs),
    /// Restore deleted versions of a KV v2 secret.
    Undelete(KvVersionsArgs),
    /// Permanently remove versions of a KV v2 secret.
    Destroy(KvVersionsArgs),
    /// Read, write and delete the metadata of a KV v2 secret.
    #[command(subcommand)]
    Metadata(KvMetadataCommand),
    /// Write the variables of a `.env` file as one secret: `kv import PATH FILE.env`.
    Import(KvImportArgs),
    /// Write a secret as a `.env` file (created 0600): `kv export PATH FILE.env`, or `-`.
    Export(KvExportArgs),
}

/// The `-mount` flag and the secret's path, which every kv command takes.
#[derive(Debug, Clone, Args)]
pub struct KvTarget {
    /// The KV mount; PATH is then the secret's path inside it.
    #[arg(long)]
    pub mount: Option<String>,
    /// `MOUNT/PATH`, or PATH inside `-mount`.
    #[arg(name = "PATH")]
    pub path: String,
}

#[derive(Debug, Clone, Args)]
pub struct KvPathArgs {
    #[command(flatten)]
    pub target: KvTarget,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KvGetArgs {
    /// Read this version (KV v2); the latest when left out or 0.
    #[arg(long, default_value_t = 0)]
    pub version: u64,
    /// Print only this key of the secret.
    #[arg(long)]
    pub field: Option<String>,
    #[command(flatten)]
    pub target: KvTarget,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KvWriteArgs {
    /// Check-and-set (KV v2): 0 writes only if the secret does not exist, N only if the
    /// current version is N.
    #[arg(long)]
    pub cas: Option<u64>,
    /// Print only this field of the answer.
    #[arg(long)]
    pub field: Option<String>,
    #[command(flatten)]
    pub target: KvTarget,
    /// The data: K=V, K=@FILE, K=- (standard input), or `-` / `@FILE` for a JSON object.
    #[arg(name = "DATA", allow_hyphen_values = true)]
    pub data: Vec<String>,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KvPatchArgs {
    /// `patch` (HTTP PATCH) or `rw` (read, then write with check-and-set); by default PATCH,
    /// falling back to `rw` where PATCH is not allowed.
    #[arg(long)]
    pub method: Option<String>,
    /// Remove this key; repeat for more.
    #[arg(long = "remove-data", value_name = "KEY")]
    pub remove_data: Vec<String>,
    #[command(flatten)]
    pub write: KvWriteArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KvVersionsArgs {
    /// The versions, separated by commas or given with the flag repeated.
    #[arg(long, value_delimiter = ',')]
    pub versions: Vec<String>,
    #[command(flatten)]
    pub target: KvTarget,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum KvMetadataCommand {
    /// Show a secret's settings and the state of each version.
    Get(KvPathArgs),
    /// Change a secret's settings, creating the metadata if needed.
    Put(KvMetadataPutArgs),
    /// Delete the metadata and every version of a secret.
    Delete(KvMetadataDeleteArgs),
}

#[derive(Debug, Clone, Args)]
pub struct KvMetadataPutArgs {
    /// Versions to keep (0: the mount's setting).
    #[arg(long)]
    pub max_versions: Option<u64>,
    /// Require check-and-set on every write.
    #[arg(long, bool_flag = None)]
    pub cas_required: Option<bool>,
    /// Delete each version this long after it is written (e.g. 720h; 0s: never).
    #[arg(long)]
    pub delete_version_after: Option<String>,
    /// Custom metadata as K=V; repeat for more.
    #[arg(long = "custom-metadata", value_name = "K=V")]
    pub custom_metadata: Vec<String>,
    #[command(flatten)]
    pub target: KvTarget,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KvMetadataDeleteArgs {
    #[command(flatten)]
    pub target: KvTarget,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KvImportArgs {
    /// Check-and-set: 0 writes only a new secret, N only over version N.
    #[arg(long)]
    pub cas: Option<u64>,
    /// Overwrite an existing secret.
    #[arg(long, bool_flag = false)]
    pub force: bool,
    #[command(flatten)]
    pub target: KvTarget,
    /// The `.env` file, or `-` for standard input.
    #[arg(name = "FILE", allow_hyphen_values = true)]
    pub file: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KvExportArgs {
    /// Read this version (KV v2); the latest when left out or 0.
    #[arg(long, default_value_t = 0)]
    pub version: u64,
    /// Replace FILE if it exists.
    #[arg(long, bool_flag = false)]
    pub force: bool,
    #[command(flatten)]
    pub target: KvTarget,
    /// The `.env` file to create, or `-` for standard output.
    #[arg(name = "FILE", allow_hyphen_values = true)]
    pub file: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Enable a secrets engine: `secrets enable [-path=P] [-version=2] TYPE`.
    Enable(SecretsEnableArgs),
    /// Disable the secrets engine at PATH, deleting its data.
    Disable(SecretsDisableArgs),
    /// List the enabled secrets engines.
    List(SecretsListArgs),
    /// Change a secrets engine's settings.
    Tune(SecretsTuneArgs),
}

/// The mount settings that `secrets enable` and `secrets tune` share.
#[derive(Debug, Clone, Args)]
pub struct MountSettingsArgs {
    /// Human-readable description.
    #[arg(long)]
    pub description: Option<String>,
    /// Default lease TTL (e.g. 1h).
    #[arg(long)]
    pub default_lease_ttl: Option<String>,
    /// Maximum lease TTL (e.g. 768h).
    #[arg(long)]
    pub max_lease_ttl: Option<String>,
    /// An engine option as K=V; repeat for more.
    #[arg(long = "options", value_name = "K=V")]
    pub options: Vec<String>,
    /// The KV version: shorthand for `-options=version=N`.
    #[arg(long)]
    pub version: Option<u32>,
}

#[derive(Debug, Clone, Args)]
pub struct SecretsEnableArgs {
    /// Where to mount it (default: the type).
    #[arg(long)]
    pub path: Option<String>,
    #[command(flatten)]
    pub settings: MountSettingsArgs,
    /// The engine type: kv, kv-v2.
    #[arg(name = "TYPE")]
    pub engine_type: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SecretsDisableArgs {
    pub path: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SecretsListArgs {
    /// Also show each mount's TTLs, options and seal settings.
    #[arg(long, bool_flag = false)]
    pub detailed: bool,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SecretsTuneArgs {
    #[command(flatten)]
    pub settings: MountSettingsArgs,
    pub path: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `read PATH [K=V...]`: the pairs are sent as query parameters.
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// Print only this field of the answer.
    #[arg(long)]
    pub field: Option<String>,
    pub path: String,
    #[arg(name = "DATA")]
    pub data: Vec<String>,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// Write even with no data.
    #[arg(long, short = 'f', bool_flag = false)]
    pub force: bool,
    /// Print only this field of the answer.
    #[arg(long)]
    pub field: Option<String>,
    pub path: String,
    /// K=V, K=@FILE, K=- (standard input), or `-` / `@FILE` for a JSON object.
    #[arg(name = "DATA", allow_hyphen_values = true)]
    pub data: Vec<String>,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PathArgs {
    pub path: String,
    #[command(flatten)]
    pub output: FormatArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}
