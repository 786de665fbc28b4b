//! The `mainkey` binary: parse the command line, dispatch to `cli::*`, map the result to an
//! exit code. Nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use mainkey::cli::{
    self, AuthCommand, Cli, Command, KvCommand, KvMetadataCommand, OperatorCommand, PolicyCommand,
    SecretsCommand, TokenCommand,
};

fn main() -> ExitCode {
    let argv = cli::argv::vault_style(std::env::args_os());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let code = match cli.command {
        Command::Server(args) => match cli::server::run(args) {
            Ok(()) => 0,
            Err(message) => {
                eprintln!("Error: {message}");
                1
            }
        },
        // `status` is the one command whose errors exit 1, so that scripts can tell
        // "sealed" (2) from "could not ask" (1), as with `bao status`.
        Command::Status(args) => match cli::status::run(&args) {
            Ok(outcome) => outcome.exit_code(),
            Err(e) => {
                eprintln!("{e}");
                1
            }
        },
        Command::Operator(op) => report(match op {
            OperatorCommand::Init(args) => cli::operator::init(&args),
            OperatorCommand::Unseal(args) => cli::operator::unseal(&args),
            OperatorCommand::Seal(args) => cli::operator::seal(&args),
            OperatorCommand::Rotate(args) => cli::operator::rotate(&args),
            OperatorCommand::Snapshot(cmd) => cli::snapshot::run(&cmd),
            OperatorCommand::Rekey(args) => cli::rekey::run(&args),
            OperatorCommand::GenerateRoot(args) => cli::generate_root::run(&args),
            OperatorCommand::Bootstrap(args) => cli::bootstrap::run(&args),
        }),
        Command::Login(args) => report(cli::login::run(&args)),
        Command::Token(cmd) => report(match cmd {
            TokenCommand::Create(args) => cli::token::create(&args),
            TokenCommand::Lookup(args) => cli::token::lookup(&args),
            TokenCommand::Revoke(args) => cli::token::revoke(&args),
            TokenCommand::Capabilities(args) => cli::token::capabilities(&args),
        }),
        Command::Policy(cmd) => report(match cmd {
            PolicyCommand::Write(args) => cli::policy::write(&args),
            PolicyCommand::Read(args) => cli::policy::read(&args),
            PolicyCommand::List(args) => cli::policy::list(&args),
            PolicyCommand::Delete(args) => cli::policy::delete(&args),
            PolicyCommand::Lint(args) => cli::policy::lint(&args),
        }),
        Command::Auth(cmd) => report(match cmd {
            AuthCommand::Enable(args) => cli::auth::enable(&args),
            AuthCommand::Disable(args) => cli::auth::disable(&args),
            AuthCommand::List(args) => cli::auth::list(&args),
        }),
        Command::Kv(cmd) => report(match cmd {
            KvCommand::Get(args) => cli::kv::get(&args),
            KvCommand::Put(args) => cli::kv::put(&args),
            KvCommand::Patch(args) => cli::kv::patch(&args),
            KvCommand::List(args) => cli::kv::list(&args),
            KvCommand::Delete(args) => cli::kv::delete(&args),
            KvCommand::Undelete(args) => cli::kv::undelete(&args),
            KvCommand::Destroy(args) => cli::kv::destroy(&args),
            KvCommand::Metadata(KvMetadataCommand::Get(args)) => cli::kv::metadata_get(&args),
            KvCommand::Metadata(KvMetadataCommand::Put(args)) => cli::kv::metadata_put(&args),
            KvCommand::Metadata(KvMetadataCommand::Delete(args)) => cli::kv::metadata_delete(&args),
            KvCommand::Import(args) => cli::dotenv::import(&args),
            KvCommand::Export(args) => cli::dotenv::export(&args),
        }),
        Command::Secrets(cmd) => report(match cmd {
            SecretsCommand::Enable(args) => cli::secrets::enable(&args),
            SecretsCommand::Disable(args) => cli::secrets::disable(&args),
            SecretsCommand::List(args) => cli::secrets::list(&args),
            SecretsCommand::Tune(args) => cli::secrets::tune(&args),
        }),
        Command::Read(args) => report(cli::paths::read(&args)),
        Command::Write(args) => report(cli::paths::write(&args)),
        Command::List(args) => report(cli::paths::list(&args)),
        Command::Delete(args) => report(cli::paths::delete(&args)),
    };
    ExitCode::from(code)
}

fn report(result: Result<cli::Outcome, cli::CliError>) -> u8 {
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

/// Help and version exit 0; an unknown command 127 and any other usage error 1, as in the
/// Vault CLI.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let _ = e.print();
    ExitCode::from(match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
        ErrorKind::InvalidSubcommand => 127,
        _ => 1,
    })
}
