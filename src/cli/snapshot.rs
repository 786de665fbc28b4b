//! `mainkey operator snapshot save|restore|inspect`: the whole store to a file and back,
//! through `sys/storage/raft/snapshot[-force]` (Vault's paths; the file is mainkey's own
//! format, see `core::snapshot`).

use serde_json::json;

use super::args::{OutputFormat, SnapshotCommand};
use super::status::connect;
use super::{output, private_file, request_error, CliError, Outcome};
use crate::core::decode_snapshot;

pub fn run(cmd: &SnapshotCommand) -> Result<Outcome, CliError> {
    match cmd {
        SnapshotCommand::Save(args) => {
            const CONTEXT: &str = "Error taking the snapshot";
            let client = connect(&args.client, CONTEXT)?;
            let bytes = client
                .get_bytes("sys/storage/raft/snapshot")
                .map_err(request_error(CONTEXT))?;
            // Checked before it is written, so a file that is there is one that restores.
            decode_snapshot(&bytes).map_err(|e| CliError::Local(format!("{CONTEXT}: {e}")))?;
            // Replaced if it exists, as `bao operator raft snapshot save` does: backups by cron.
            private_file::write(std::path::Path::new(&args.file), &bytes, true)
                .map_err(|e| CliError::Local(format!("Error writing {}: {e}", args.file)))?;
            Ok(Outcome::Done)
        }
        SnapshotCommand::Restore(args) => {
            const CONTEXT: &str = "Error installing the snapshot";
            let bytes = read(&args.file)?;
            // A file that is not a snapshot is refused here, without a round trip; the
            // server checks it again.
            decode_snapshot(&bytes).map_err(|e| CliError::Local(format!("{CONTEXT}: {e}")))?;
            let client = connect(&args.client, CONTEXT)?;
            let path = if args.force {
                "sys/storage/raft/snapshot-force"
            } else {
                "sys/storage/raft/snapshot"
            };
            client
                .put_bytes(path, &bytes)
                .map_err(request_error(CONTEXT))?;
            println!(
                "Success! The snapshot is restored and the server is sealed: unseal it with \
                 the unseal keys it had when the snapshot was taken."
            );
            Ok(Outcome::Done)
        }
        SnapshotCommand::Inspect(args) => {
            let bytes = read(&args.file)?;
            let snapshot = decode_snapshot(&bytes)
                .map_err(|e| CliError::Failed(format!("Error inspecting {}: {e}", args.file)))?;
            let info = &snapshot.info;
            match args.output.format {
                OutputFormat::Json => println!(
                    "{}",
                    json!({
                        "format": info.format,
                        "created": info.created,
                        "entries": info.entries,
                        "size": bytes.len(),
                    })
                ),
                OutputFormat::Table => print!(
                    "{}",
                    output::columns(&[
                        ("Created".into(), info.created.clone()),
                        ("Entries".into(), info.entries.to_string()),
                        ("Format".into(), info.format.to_string()),
                        ("Size".into(), bytes.len().to_string()),
                    ])
                ),
            }
            Ok(Outcome::Done)
        }
    }
}

fn read(file: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(file).map_err(|e| CliError::Local(format!("Error reading {file}: {e}")))
}
