//! One audit device: its settings (Vault's `sys/audit` options), its salt and its sink.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::hash::Salt;
use super::sink::{OwnFiles, Sink};
use crate::logical::Error;

/// A device as the audit table keeps it in the barrier: what `sys/audit` was given, plus the
/// salt made when it was enabled.
#[derive(Clone, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// Where it is enabled, with a trailing `/` (`file/`).
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub local: bool,
    /// Hex of the HMAC salt.
    pub salt: String,
}

impl std::fmt::Debug for DeviceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceEntry")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A device ready to write.
pub struct Device {
    pub path: String,
    pub salt: Salt,
    /// Write values as they are, unhashed (`log_raw`).
    pub log_raw: bool,
    /// Hash accessors too (`hmac_accessor`, on by default).
    pub hmac_accessor: bool,
    pub sink: Sink,
}

/// The options Vault's file device reads; any other is refused, so a typo is not silently
/// an unhashed or misplaced log.
const FILE_OPTIONS: &[&str] = &[
    "file_path",
    "path",
    "mode",
    "log_raw",
    "hmac_accessor",
    "format",
    "elide_list_responses",
];

impl Device {
    /// Checks `entry` and opens its sink. Every refusal is a 400 naming the option. `strict`
    /// (enabling) refuses a file that cannot be opened; otherwise (unsealing) such a device
    /// is kept, closed, and refuses every entry until a reopen works. A file may not be one
    /// of `own`, mainkey's own files.
    pub fn open(entry: &DeviceEntry, strict: bool, own: &OwnFiles) -> Result<Device, Error> {
        match entry.kind.as_str() {
            "file" => {}
            "socket" | "syslog" => {
                return Err(Error::bad_request(format!(
                    "audit device type \"{}\" is not supported; use \"file\" (file_path may be \"stdout\")",
                    entry.kind
                )))
            }
            other => return Err(Error::bad_request(format!("unknown backend type: \"{other}\""))),
        }
        let opts = &entry.options;
        if let Some(unknown) = opts.keys().find(|k| !FILE_OPTIONS.contains(&k.as_str())) {
            let hint = if unknown == "prefix" {
                ": a prefix would let a caller choose the start of every line of a file"
            } else {
                ""
            };
            return Err(Error::bad_request(format!(
                "unsupported audit option \"{unknown}\"{hint}"
            )));
        }
        let file_path = opts
            .get("file_path")
            .or_else(|| opts.get("path"))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::bad_request("file_path is required"))?;
        if let Some(format) = opts.get("format").filter(|f| f.as_str() != "json") {
            return Err(Error::bad_request(format!(
                "unsupported audit format \"{format}\"; only \"json\" is supported"
            )));
        }
        let log_raw = flag(opts, "log_raw", false)?;
        let hmac_accessor = flag(opts, "hmac_accessor", true)?;
        flag(opts, "elide_list_responses", false)?;
        let mode = mode(opts.get("mode").map(String::as_str))?;
        let sink = match file_path.as_str() {
            "stdout" => Sink::Stdout,
            "discard" => Sink::Discard,
            path if !path.starts_with('/') => {
                return Err(Error::bad_request(format!(
                    "file_path must be absolute, \"stdout\" or \"discard\": \"{path}\""
                )))
            }
            path => match Sink::file(PathBuf::from(path), mode, own.clone()) {
                Ok(sink) => sink,
                Err(e) if strict => {
                    return Err(Error::bad_request(format!(
                        "sanity check failed; unable to open \"{path}\" for writing: {e}"
                    )))
                }
                Err(e) => {
                    tracing::error!(device = %entry.path, error = %e, "audit file could not be opened; the device refuses entries until a reopen (SIGHUP) works");
                    Sink::closed_file(PathBuf::from(path), mode, own.clone())
                }
            },
        };
        let salt = hex::decode(&entry.salt)
            .ok()
            .filter(|s| s.len() == Salt::LEN)
            .ok_or_else(|| Error::internal("corrupt audit table: bad salt"))?;
        Ok(Device {
            path: entry.path.clone(),
            salt: Salt::from_bytes(salt),
            log_raw,
            hmac_accessor,
            sink,
        })
    }
}

fn flag(opts: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool, Error> {
    match opts.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) if ["true", "1", "t"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["false", "0", "f"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(Error::bad_request(format!(
            "unable to parse {key} as a boolean: \"{v}\""
        ))),
    }
}

/// Vault's `mode`: octal, `0000` keeps the file's own mode. An executable mode is refused,
/// as Vault refuses it since its audit-file code-execution advisory: together with a caller-
/// chosen path it would let `sys/audit` plant a script.
fn mode(value: Option<&str>) -> Result<Option<u32>, Error> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Some(0o600));
    };
    let mode = u32::from_str_radix(value, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| Error::bad_request(format!("invalid file mode \"{value}\"")))?;
    if mode == 0 {
        return Ok(None);
    }
    if mode & 0o111 != 0 {
        return Err(Error::bad_request(format!(
            "file mode \"{value}\" is executable; audit files may not be"
        )));
    }
    Ok(Some(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(options: &[(&str, &str)]) -> DeviceEntry {
        DeviceEntry {
            path: "file/".into(),
            kind: "file".into(),
            description: String::new(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            local: false,
            salt: hex::encode(Salt::generate().as_bytes()),
        }
    }

    fn no_own() -> OwnFiles {
        std::sync::Arc::from(Vec::new())
    }

    fn refused(options: &[(&str, &str)]) -> String {
        match Device::open(&entry(options), true, &no_own()) {
            Err(Error::BadRequest(m)) => m,
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("accepted {options:?}"),
        }
    }

    #[test]
    fn hostile_and_wrong_options_are_refused_with_the_option_named() {
        assert!(refused(&[]).contains("file_path is required"));
        assert!(refused(&[("file_path", "relative.log")]).contains("must be absolute"));
        assert!(refused(&[("file_path", "stdout"), ("mode", "0755")]).contains("executable"));
        assert!(refused(&[("file_path", "stdout"), ("mode", "0601")]).contains("executable"));
        assert!(refused(&[("file_path", "stdout"), ("mode", "999")]).contains("invalid file mode"));
        assert!(refused(&[("file_path", "stdout"), ("prefix", "#!/bin/sh\n")]).contains("prefix"));
        assert!(refused(&[("file_path", "stdout"), ("format", "jsonx")]).contains("jsonx"));
        assert!(refused(&[("file_path", "stdout"), ("log_raw", "maybe")]).contains("log_raw"));
        assert!(refused(&[("file_path", "/nonexistent-dir/a.log")]).contains("sanity check failed"));
        let mut socket = entry(&[("address", "127.0.0.1:9")]);
        socket.kind = "socket".into();
        assert!(
            matches!(Device::open(&socket, true, &no_own()), Err(Error::BadRequest(m)) if m.contains("not supported"))
        );
    }

    #[test]
    fn defaults_are_vaults() {
        let d = Device::open(&entry(&[("file_path", "discard")]), true, &no_own()).unwrap();
        assert!(!d.log_raw);
        assert!(d.hmac_accessor);
        let d = Device::open(
            &entry(&[
                ("file_path", "stdout"),
                ("log_raw", "true"),
                ("hmac_accessor", "false"),
            ]),
            true,
            &no_own(),
        )
        .unwrap();
        assert!(d.log_raw && !d.hmac_accessor);
        assert_eq!(mode(Some("0000")).unwrap(), None);
        assert_eq!(mode(None).unwrap(), Some(0o600));
        assert_eq!(mode(Some("0640")).unwrap(), Some(0o640));
    }
}
