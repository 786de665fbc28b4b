//! Where a device's lines go: a file (appended, created 0600, reopened for logrotate), the
//! process's stdout, or nowhere (`discard`, for tests and benchmarks of audit's cost).
//!
//! A line is written with one `write` call under the device's lock, so lines from concurrent
//! requests never interleave, and is in the kernel before the response leaves: a full disk
//! or a removed mount shows up as an error on this very request, which then fails closed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

/// mainkey's own files: its storage file, config file and TLS files. An audit file may not be
/// one of them under any name (a symlink or a hard link too): a holder of sudo on
/// `sys/audit` would otherwise append lines to the storage file, or give the TLS key the
/// audit file's `mode` and make it world-readable.
pub type OwnFiles = Arc<[PathBuf]>;

pub enum Sink {
    File(FileSink),
    Stdout,
    Discard,
}

pub struct FileSink {
    path: PathBuf,
    /// The mode to give the file; `None` keeps the file's own (Vault's `mode = "0000"`).
    mode: Option<u32>,
    own: OwnFiles,
    /// `None` after a reopen failed: every write fails until a reopen succeeds.
    file: Mutex<Option<File>>,
}

impl Sink {
    /// Opens the sink; a file that cannot be opened is an error now, not at the first line.
    pub fn file(path: PathBuf, mode: Option<u32>, own: OwnFiles) -> io::Result<Sink> {
        let file = open(&path, mode, &own)?;
        Ok(Sink::File(FileSink {
            path,
            mode,
            own,
            file: Mutex::new(Some(file)),
        }))
    }

    /// A file sink that is not open: it refuses lines until [`Sink::reopen`] works.
    pub fn closed_file(path: PathBuf, mode: Option<u32>, own: OwnFiles) -> Sink {
        Sink::File(FileSink {
            path,
            mode,
            own,
            file: Mutex::new(None),
        })
    }

    pub fn write_line(&self, line: &[u8]) -> io::Result<()> {
        match self {
            Sink::File(f) => match f.file.lock().as_mut() {
                Some(file) => file.write_all(line),
                None => Err(io::Error::other("the audit file could not be reopened")),
            },
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(line)?;
                out.flush()
            }
            Sink::Discard => Ok(()),
        }
    }

    /// Closes and opens the file again (after logrotate moved it). On failure the device
    /// refuses to write until the next reopen succeeds, so requests fail closed rather than
    /// go unrecorded.
    pub fn reopen(&self) -> io::Result<()> {
        let Sink::File(f) = self else { return Ok(()) };
        let mut slot = f.file.lock();
        *slot = None;
        *slot = Some(open(&f.path, f.mode, &f.own)?);
        Ok(())
    }
}

fn open(path: &PathBuf, mode: Option<u32>, own: &[PathBuf]) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode.unwrap_or(0o600))
        .open(path)?;
    // Compared by the open file's identity, not its name, and before anything is written
    // or its mode changed: opening for append alone changes nothing.
    let opened = file.metadata()?;
    let is_own = |p: &PathBuf| {
        std::fs::metadata(p).is_ok_and(|m| m.dev() == opened.dev() && m.ino() == opened.ino())
    };
    if own.iter().any(is_own) {
        return Err(io::Error::other(
            "it is one of mainkey's own files (storage, configuration or TLS)",
        ));
    }
    // `mode` applies only when the file is created; an existing file gets it too, as in
    // Vault. Only a regular file: `/dev/stdout` or `/dev/full` keep theirs.
    if let Some(mode) = mode {
        if file.metadata()?.is_file() {
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> OwnFiles {
        Arc::from(Vec::new())
    }

    #[test]
    fn a_file_is_created_0600_appended_to_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = Sink::file(path.clone(), Some(0o600), none()).unwrap();
        sink.write_line(b"one\n").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let rotated = dir.path().join("audit.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        sink.reopen().unwrap();
        sink.write_line(b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "one\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
    }

    #[test]
    fn a_full_disk_and_a_failed_reopen_are_errors() {
        let full = Sink::file(PathBuf::from("/dev/full"), Some(0o600), none()).unwrap();
        assert!(full.write_line(b"x\n").is_err());

        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let sink = Sink::file(sub.join("audit.log"), Some(0o600), none()).unwrap();
        std::fs::remove_dir_all(&sub).unwrap();
        assert!(sink.reopen().is_err());
        assert!(
            sink.write_line(b"x\n").is_err(),
            "no silent gap after a failed reopen"
        );
        std::fs::create_dir(&sub).unwrap();
        sink.reopen().unwrap();
        sink.write_line(b"y\n").unwrap();
    }

    #[test]
    fn mainkey_s_own_files_are_refused_by_any_name_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("mainkey.redb");
        std::fs::write(&storage, b"db").unwrap();
        std::fs::set_permissions(&storage, std::fs::Permissions::from_mode(0o600)).unwrap();
        let own: OwnFiles = Arc::from(vec![dir.path().join("no-such-file"), storage.clone()]);
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&storage, &link).unwrap();
        let hard = dir.path().join("hard.log");
        std::fs::hard_link(&storage, &hard).unwrap();
        // The storage file as the process has it open, by its /proc descriptor name.
        let open_storage = File::open(&storage).unwrap();
        let by_fd = PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&open_storage)
        ));
        for name in [&storage, &link, &hard, &by_fd] {
            let err = Sink::file(name.clone(), Some(0o644), own.clone()).err();
            assert!(
                err.is_some_and(|e| e.to_string().contains("mainkey's own files")),
                "{name:?}"
            );
        }
        // Not chmod'ed, not written.
        assert_eq!(std::fs::metadata(&storage).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&storage).unwrap(), b"db");

        // A reopen onto a protected file (a rename and a link) fails closed too.
        let path = dir.path().join("audit.log");
        let sink = Sink::file(path.clone(), None, own.clone()).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&storage, &path).unwrap();
        assert!(sink.reopen().is_err());
        assert!(sink.write_line(b"x\n").is_err());
        assert_eq!(std::fs::read(&storage).unwrap(), b"db");
    }
}
