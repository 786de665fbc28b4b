//! The keys file: the JSON of `mainkey operator init -format=json` (`unseal_keys_b64`,
//! `unseal_keys_hex`, `root_token`, ...). Bootstrap writes it when it initialises a server
//! and reads it to unseal one and as the token of last resort.

use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::cli::{private_file, CliError};

/// What bootstrap reads from a keys file. No `Debug`: it holds unseal keys and a token.
pub struct Keys {
    pub unseal_keys: Vec<Zeroizing<String>>,
    pub root_token: Option<SecretString>,
}

/// The file as `operator init -format=json` writes it; the other fields are ignored.
#[derive(Deserialize)]
struct KeysJson {
    #[serde(default)]
    unseal_keys_b64: Vec<String>,
    #[serde(default)]
    unseal_keys_hex: Vec<String>,
    #[serde(default)]
    root_token: Option<String>,
}

pub fn read(path: &Path) -> Result<Keys, CliError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| CliError::Local(format!("Error reading {}: {e}", path.display())))?,
    );
    parse(&text, &path.display().to_string())
}

/// The keys of a keys JSON `text`; `source` names it in messages.
pub fn parse(text: &str, source: &str) -> Result<Keys, CliError> {
    // serde_json's message may quote the text it choked on, which is a key here: say where
    // only.
    let parsed: KeysJson = serde_json::from_str(text).map_err(|e| {
        CliError::Local(format!(
            "{source}: not the JSON of `operator init -format=json` (line {}, column {}; the \
             text is not shown)",
            e.line(),
            e.column()
        ))
    })?;
    let KeysJson {
        unseal_keys_b64,
        unseal_keys_hex,
        root_token,
    } = parsed;
    let unseal_keys = if unseal_keys_b64.is_empty() {
        unseal_keys_hex
    } else {
        // The hex copies are the same keys; let them go now.
        drop(Zeroizing::new(unseal_keys_hex));
        unseal_keys_b64
    };
    Ok(Keys {
        unseal_keys: unseal_keys.into_iter().map(Zeroizing::new).collect(),
        root_token: root_token.filter(|t| !t.is_empty()).map(SecretString::from),
    })
}

/// Creates the (empty, 0600) file before the server is initialised, so that a keys file
/// that cannot be written stops the run before there are keys to lose, and an existing one
/// is never replaced.
pub fn reserve(path: &Path) -> Result<(), CliError> {
    private_file::write(path, b"", false).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
            "it already exists; bootstrap writes the keys of a new server to a new file and \
             never replaces one"
                .to_string()
        } else {
            e.to_string()
        };
        CliError::Local(format!(
            "Error creating the keys file {}: {why}",
            path.display()
        ))
    })
}

/// Gives up a reserved file after the server could not be initialised.
pub fn release(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Fills the reserved file with the keys.
pub fn fill(path: &Path, json: &str) -> Result<(), CliError> {
    private_file::write(path, json.as_bytes(), true).map_err(|e| {
        CliError::Local(format!(
            "Error writing the keys file {}: {e}. The server IS initialised now, and its \
             keys are lost: start over with an empty storage directory",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_init_json_is_read_base64_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        std::fs::write(
            &path,
            r#"{"unseal_keys_b64":["qgE="],"unseal_keys_hex":["aa01"],"unseal_shares":1,"root_token":"s.root"}"#,
        )
        .expect("write");
        let keys = read(&path).expect("reads");
        assert_eq!(keys.unseal_keys.len(), 1);
        assert_eq!(keys.unseal_keys[0].as_str(), "qgE=");
        assert_eq!(
            keys.root_token.as_ref().map(|t| t.expose_secret()),
            Some("s.root")
        );

        std::fs::write(&path, r#"{"unseal_keys_hex":["aa01"]}"#).expect("write");
        let keys = read(&path).expect("reads");
        assert_eq!(keys.unseal_keys[0].as_str(), "aa01");
        assert!(keys.root_token.is_none());
    }

    #[test]
    fn a_bad_file_is_refused_without_showing_its_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        std::fs::write(&path, r#"{"unseal_keys_b64": "c2VjcmV0a2V5"}"#).expect("write");
        let err = read(&path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("not the JSON of `operator init -format=json`"),
            "{err}"
        );
        assert!(!err.contains("c2VjcmV0a2V5"), "{err}");
    }

    #[test]
    fn a_reserved_file_is_private_and_an_existing_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        reserve(&path).expect("reserves");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = reserve(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("it already exists"), "{err}");
        fill(&path, "{}").expect("fills");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{}");
        release(&path);
        assert!(!path.exists());
    }
}
