//! Files that hold secrets (a token, a `.env` export, a snapshot): only their owner may
//! read them.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `bytes` to a file created 0600. An existing file is an `AlreadyExists` error unless
/// `replace`; a replaced one is made 0600 before the secrets go in (open keeps a file's mode).
pub fn write(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut out = options.open(path)?;
    out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    out.write_all(bytes)?;
    out.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_private_and_replaced_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.env");
        write(&file, b"A='1'\n", false).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write(&file, b"A='2'\n", false).is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"A='1'\n");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&file, b"A='3'\n", true).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"A='3'\n");
    }
}
