//! `mainkey operator bootstrap [flags] FILE`: bring a server to what FILE describes, like a
//! small Terraform for mainkey, and do it again without changing anything.
//!
//! The run: read FILE ([`spec`]) and everything it refers to ([`inputs`]) before any
//! request; initialise and unseal the server if needed ([`seal`], keys in [`keys_file`]);
//! then each item in order ([`apply`]): read, compare ([`compare`]), plan ([`plan`]) and,
//! unless `-dry-run`, write only what differs; report each line as it goes ([`report`]).
//! Items on the server that FILE does not name are left alone.

mod apply;
pub mod compare;
pub mod inputs;
pub mod keys_file;
pub mod plan;
mod report;
mod seal;
pub mod spec;

use std::path::Path;

use super::args::BootstrapArgs;
use super::client::ClientSettings;
use super::{request_error, CliError, Outcome};
use plan::Planner;
use report::Report;
use seal::Prepared;

pub fn run(args: &BootstrapArgs) -> Result<Outcome, CliError> {
    let spec = spec::load(&args.file)?;
    let base = args.file.parent().unwrap_or(Path::new("."));
    let inputs = inputs::read(&spec, base, &|name| std::env::var(name).ok())?;
    let settings =
        ClientSettings::resolve(&args.client).map_err(request_error("Error connecting"))?;
    let keys_path = args.keys_file.as_deref();
    let mut report = Report::new(args.output.format, args.verbose, args.dry_run, &args.file);

    let mut initialised = None;
    let prepared = seal::prepare(
        &settings,
        spec.init.unwrap_or_default(),
        keys_path,
        args.output.format,
        args.dry_run,
        &mut initialised,
    );
    let result = match prepared {
        Ok(Prepared::WouldInitialise(init)) => {
            report.would_initialise(init, keys_path);
            return Ok(Outcome::Done);
        }
        Ok(Prepared::WouldUnseal) => {
            report.would_unseal(keys_path);
            return Ok(Outcome::Done);
        }
        Ok(Prepared::Ready(ready)) => {
            report.ready(&ready, initialised.as_ref(), keys_path);
            let mut planner =
                Planner::new(&ready.client, &inputs, args.reset_passwords, args.dry_run);
            apply::apply(&spec, &mut planner, &mut report)
        }
        Err(e) => Err(e),
    };
    // Without an init there is nothing a failed run must still hand over: the error alone
    // says it, as in every other command.
    if result.is_ok() || initialised.is_some() {
        let error = result.as_ref().err().map(ToString::to_string);
        report.finish(initialised.as_ref(), error.as_deref());
    }
    result.map(|()| Outcome::Done)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::args::OutputFormat;
    use crate::cli::argv::vault_style;
    use crate::cli::{Cli, Command, OperatorCommand};

    #[test]
    fn vault_style_bootstrap_flags_parse() {
        let argv = [
            "mainkey",
            "operator",
            "bootstrap",
            "-dry-run",
            "-keys-file=keys.json",
            "-reset-passwords=false",
            "-format=json",
            "-address=http://127.0.0.1:8200",
            "mainkey.hcl",
        ];
        let cli = Cli::try_parse_from(vault_style(argv)).expect("parses");
        let Command::Operator(OperatorCommand::Bootstrap(args)) = cli.command else {
            panic!("expected operator bootstrap");
        };
        assert_eq!(args.file, std::path::Path::new("mainkey.hcl"));
        assert_eq!(
            args.keys_file.as_deref(),
            Some(std::path::Path::new("keys.json"))
        );
        assert!(args.dry_run && !args.reset_passwords && !args.verbose);
        assert_eq!(args.output.format, OutputFormat::Json);
        assert_eq!(
            args.client.address.as_deref(),
            Some("http://127.0.0.1:8200")
        );
        assert!(Cli::try_parse_from(vault_style(["mainkey", "operator", "bootstrap"])).is_err());
    }
}
