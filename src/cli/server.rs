//! `mainkey server`: builds the core from the config (or dev mode) and runs the listeners.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;

use super::transit_seal::TransitSeal;
use crate::clock::SystemClock;
use crate::config::{self, ListenerConfig, ServerConfig, StorageConfig};
use crate::core::{Core, CoreConfig};
use crate::gateway;
use crate::physical::{self, Backend};

/// The flags of `mainkey server`, named as Vault names them.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// An HCL or JSON config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// In-memory storage, initialised and unsealed on start, KV v2 at `secret/`.
    #[arg(long)]
    pub dev: bool,
    /// The root token id to use in dev mode instead of a generated one.
    #[arg(long)]
    pub dev_root_token_id: Option<String>,
    /// The address of the dev listener.
    #[arg(long, default_value = "127.0.0.1:8200")]
    pub dev_listen_address: String,
}

/// Runs the server until a signal stops it.
pub fn run(args: ServerArgs) -> Result<(), String> {
    let config = if args.dev {
        ServerConfig::dev(&args.dev_listen_address)
    } else {
        let path = args
            .config
            .as_deref()
            .ok_or("a configuration file must be given with -config, or use -dev")?;
        config::load(path).map_err(|e| e.to_string())?
    };
    init_logging(&config);

    // The core is built on a runtime of its own; pingora starts its runtimes later, and
    // nothing in the core is tied to the runtime that created it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting runtime: {e}"))?;
    let auto_seal = match &config.seal {
        Some(block) if !args.dev => Some(Arc::new(TransitSeal::from_block(block)?)),
        _ => None,
    };
    let core = runtime.block_on(build_core(
        &config,
        args.config.as_deref(),
        auto_seal.clone(),
    ))?;
    if args.dev {
        runtime.block_on(dev_setup(
            &core,
            args.dev_root_token_id.as_deref(),
            &config.listeners,
        ))?;
    }
    drop(runtime);
    if let Some(seal) = &auto_seal {
        crate::core::start_unseal_loop(&core);
        seal.start_token_renewal();
    }

    for listener in &config.listeners {
        tracing::info!(address = %listener.address, tls = listener.tls.is_some(), "listening");
    }
    let shutdown_core = core.clone();
    gateway::run(
        core,
        &config,
        args.config.clone(),
        Box::new(move || shutdown_core.shutdown()),
    )
    .map_err(|e| e.to_string())
}

/// Logs go to stderr. `MAINKEY_LOG` (a tracing filter such as `debug` or
/// `mainkey=debug,pingora=warn`) and `MAINKEY_LOG_FORMAT` override the config's `log_level`
/// and `log_format`, as `VAULT_LOG_LEVEL` and `VAULT_LOG_FORMAT` do for Vault.
fn init_logging(config: &ServerConfig) {
    use tracing_subscriber::prelude::*;

    let level = config.log_level.map_or("info", |l| l.as_str());
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAINKEY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let json = match std::env::var("MAINKEY_LOG_FORMAT") {
        Ok(f) => f.eq_ignore_ascii_case("json"),
        Err(_) => config.log_format == config::LogFormat::Json,
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().with_current_span(false).boxed()
    } else {
        fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(
            fmt.with_filter(filter)
                .with_filter(no_secrets_from_dependencies()),
        )
        .try_init();
}

/// Below info, the crates mainkey is built on print whole requests: pingora's proxy logs
/// every header it sends upstream at debug (the injected tenant credentials) and every
/// header it reads at trace (the caller's token). No `log_level` and no `MAINKEY_LOG` may
/// put those in the log, so only mainkey's own events pass below info; its own never carry
/// a secret.
fn no_secrets_from_dependencies(
) -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|meta: &tracing::Metadata<'_>| {
        *meta.level() <= tracing::Level::INFO || meta.target().starts_with("mainkey")
    })
}

/// Builds the core over the configured storage. A storage that cannot be opened is reported
/// against the config file's `storage` block, like every other bad config value.
async fn build_core(
    config: &ServerConfig,
    config_file: Option<&Path>,
    auto_seal: Option<Arc<TransitSeal>>,
) -> Result<Arc<Core>, String> {
    let (backend, storage_type): (Arc<dyn Backend>, &str) = match &config.storage {
        StorageConfig::Redb { path } => (
            Arc::new(physical::RedbBackend::open(path).map_err(|e| {
                let file = config_file
                    .map(|f| format!("{}: ", f.display()))
                    .unwrap_or_default();
                format!(
                    "{file}storage \"redb\": path: cannot open {}: {e}",
                    path.display()
                )
            })?),
            "redb",
        ),
        StorageConfig::Inmem => (Arc::new(physical::InmemBackend::new()), "inmem"),
    };
    let core_config = CoreConfig {
        default_lease_ttl: config.default_lease_ttl,
        max_lease_ttl: config.max_lease_ttl,
        storage_type: storage_type.to_string(),
        user_lockout: config
            .user_lockout
            .iter()
            .map(|(kind, b)| (kind.clone(), lockout_layer(b)))
            .collect(),
        own_files: config
            .own_files()
            .into_iter()
            .chain(config_file.map(Path::to_path_buf))
            .collect(),
        auto_seal: auto_seal.map(|s| s as Arc<dyn crate::core::AutoSeal>),
        ..CoreConfig::default()
    };
    Core::new(backend, Arc::new(SystemClock), core_config)
        .await
        .map_err(|e| e.to_string())
}

/// Dev mode: one unseal key, unsealed at once, KV v2 at `secret/`, and the credentials printed
/// so the operator can use them.
async fn dev_setup(
    core: &Core,
    root_token_id: Option<&str>,
    listeners: &[ListenerConfig],
) -> Result<(), String> {
    let init = core
        .initialize(1, 1, root_token_id)
        .await
        .map_err(|e| e.to_string())?;
    let key = init.keys.first().ok_or("no unseal key generated")?;
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(key.as_slice());
    core.unseal(&key_b64).await.map_err(|e| e.to_string())?;
    let mut options = std::collections::BTreeMap::new();
    options.insert("version".to_string(), "2".to_string());
    core.mount(
        crate::core::Table::Secrets,
        "secret/",
        "kv",
        "key/value secret storage",
        Some(options),
        Default::default(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let address = listeners
        .first()
        .map(|l| l.address.as_str())
        .unwrap_or("127.0.0.1:8200");
    println!(
        "WARNING! dev mode is enabled! In this mode, mainkey runs entirely in-memory\n\
         and starts unsealed with a single unseal key. Do not run dev mode in production.\n\n\
         You may need to set the following environment variables:\n\n    \
         $ export VAULT_ADDR='http://{address}'\n\n\
         The unseal key and root token are displayed below in case you want to\n\
         seal/unseal mainkey or re-authenticate.\n\n\
         Unseal Key: {key_b64}\n\
         Root Token: {}\n",
        init.root_token.as_str()
    );
    Ok(())
}

/// A server `user_lockout` block as the core's lockout layer (whole seconds, as the tune's).
fn lockout_layer(b: &crate::config::UserLockoutBlock) -> crate::core::UserLockoutTune {
    crate::core::UserLockoutTune {
        threshold: b.lockout_threshold,
        duration: b.lockout_duration.map(|d| d.as_secs()),
        counter_reset: b.lockout_counter_reset.map(|d| d.as_secs()),
        disable: b.disable_lockout,
    }
}
