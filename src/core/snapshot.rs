//! Snapshots: the whole store as one file, and back.
//!
//! A snapshot is the physical entries as they are stored, so it stays encrypted by the barrier
//! (values under the keyring, names hidden, the keyring sealed by the root key); only the
//! seal configuration (shares, threshold) is plaintext, as it is on disk. The file:
//!
//! ```text
//! "MAINKEY-SNAPSHOT\n"                          magic, with the format version in the header
//! u32 BE length, then the header as JSON        {"format":1,"created":...,"entries":N}
//! per entry: u32 BE key length, key, u32 BE value length, value
//! 32 bytes: SHA-256 of everything above
//! ```
//!
//! It is taken from one read transaction while writes go on, and restored in one write
//! transaction after every check passed, so a bad file changes nothing.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{storage_error, Core, SealState, SEAL_CONFIG_PATH};
use crate::barrier::KEYRING_PATH;
use crate::logical::Error;

const MAGIC: &[u8] = b"MAINKEY-SNAPSHOT\n";
const FORMAT: u32 = 1;
const CHECKSUM_LEN: usize = 32;

/// What a snapshot's header says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub format: u32,
    /// RFC 3339, when it was taken.
    pub created: String,
    pub entries: u64,
}

/// A decoded, checked snapshot.
pub struct Snapshot {
    pub info: SnapshotInfo,
    pub entries: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Encodes `entries` (in key order) as a snapshot file.
pub fn encode(entries: &[(String, Vec<u8>)], created: String) -> Result<Vec<u8>, Error> {
    let info = SnapshotInfo {
        format: FORMAT,
        created,
        entries: entries.len() as u64,
    };
    let header =
        serde_json::to_vec(&info).map_err(|e| Error::internal(format!("snapshot: {e}")))?;
    let size: usize = entries.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + size + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    put_chunk(&mut out, &header)?;
    for (key, value) in entries {
        put_chunk(&mut out, key.as_bytes())?;
        put_chunk(&mut out, value)?;
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), Error> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| Error::internal("snapshot: an entry is larger than 4 GiB"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn invalid(why: &str) -> Error {
    Error::bad_request(format!("invalid snapshot: {why}"))
}

/// Checks and decodes a snapshot file: magic, checksum, header, then every entry.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, Error> {
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| invalid("not a mainkey snapshot"))?;
    if body.len() < CHECKSUM_LEN {
        return Err(invalid("truncated"));
    }
    let (content, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Sha256::digest(content).as_slice() != sum {
        return Err(invalid(
            "checksum mismatch (the file is corrupted or truncated)",
        ));
    }
    let mut rest = &content[MAGIC.len()..];
    let header = take_chunk(&mut rest)?;
    let info: SnapshotInfo =
        serde_json::from_slice(header).map_err(|_| invalid("unreadable header"))?;
    if info.format != FORMAT {
        return Err(invalid(&format!(
            "format {} is not known to this version (it reads format {FORMAT})",
            info.format
        )));
    }
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let key = take_chunk(&mut rest)?;
        let value = take_chunk(&mut rest)?;
        let key = std::str::from_utf8(key).map_err(|_| invalid("an entry's name is not UTF-8"))?;
        entries.push((key.to_string(), value.to_vec()));
    }
    if entries.len() as u64 != info.entries {
        return Err(invalid("the entry count does not match the header"));
    }
    Ok(Snapshot { info, entries })
}

fn take_chunk<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], Error> {
    if rest.len() < 4 {
        return Err(invalid("truncated"));
    }
    let (len, tail) = rest.split_at(4);
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if tail.len() < len {
        return Err(invalid("truncated"));
    }
    let (chunk, tail) = tail.split_at(len);
    *rest = tail;
    Ok(chunk)
}

impl Core {
    /// `GET sys/storage/raft/snapshot`: the whole store, consistent, still encrypted.
    pub async fn take_snapshot(&self) -> Result<Vec<u8>, Error> {
        if !matches!(*self.state.read(), SealState::Unsealed(_)) {
            return Err(Error::Sealed);
        }
        let entries = self
            .barrier
            .backend()
            .snapshot()
            .await
            .map_err(storage_error)?;
        encode(&entries, crate::clock::rfc3339(self.clock.now()))
    }

    /// `POST sys/storage/raft/snapshot[-force]`: replaces the whole store by the snapshot and
    /// seals, so the next unseal takes the snapshot's keys and nothing derived from the old
    /// data stays in memory. Without `force`, a snapshot whose keyring this server's root key
    /// cannot open (another server's) is refused, as Vault refuses one of another cluster.
    pub async fn restore_snapshot(&self, bytes: &[u8], force: bool) -> Result<(), Error> {
        let snapshot = decode(bytes)?;
        let keyring = snapshot
            .entries
            .iter()
            .find(|(k, _)| k == KEYRING_PATH)
            .map(|(_, v)| v.as_slice())
            .ok_or_else(|| invalid("it holds no keyring"))?;
        let seal_config = snapshot
            .entries
            .iter()
            .find(|(k, _)| k == SEAL_CONFIG_PATH)
            .map(|(_, v)| serde_json::from_slice::<super::SealConfig>(v))
            .ok_or_else(|| invalid("it holds no seal configuration"))?
            .map_err(|_| invalid("its seal configuration is unreadable"))?;
        super::check_seal_kind(&seal_config, self.config.auto_seal.as_deref()).map_err(|e| {
            Error::bad_request(format!("the snapshot cannot be restored here: {e}"))
        })?;
        if !force && !self.barrier.opens_keyring(keyring)? {
            return Err(Error::bad_request(
                "the snapshot is sealed by other keys than this server's: restore it with \
                 snapshot-force (mainkey operator snapshot restore -force), then unseal with \
                 the snapshot's unseal keys",
            ));
        }
        self.seal().await?;
        let _guard = self.transition.lock().await;
        self.barrier
            .backend()
            .restore(snapshot.entries)
            .await
            .map_err(storage_error)?;
        *self.seal_config.write() = Some(seal_config);
        tracing::info!(
            entries = snapshot.info.entries,
            created = %snapshot.info.created,
            "snapshot restored; sealed until unsealed with the snapshot's keys"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(String, Vec<u8>)> {
        vec![
            ("core/keyring".into(), vec![1, 2, 3]),
            ("core/seal-config".into(), b"{}".to_vec()),
            ("x".into(), Vec::new()),
        ]
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&sample(), "2026-12-03T00:00:00Z".into()).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(back.entries, sample());
        assert_eq!(back.info.entries, 3);
        assert_eq!(back.info.created, "2026-12-03T00:00:00Z");
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let bytes = encode(&sample(), "t".into()).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "byte {i} flipped");
        }
        for len in 0..bytes.len() {
            let err = decode(&bytes[..len]).unwrap_err().to_string();
            assert!(err.contains("invalid snapshot"), "{len}: {err}");
        }
        let err = decode(b"PK\x03\x04 a zip file").unwrap_err().to_string();
        assert!(err.contains("not a mainkey snapshot"), "{err}");
    }

    #[test]
    fn a_checksummed_file_with_a_lying_header_is_refused() {
        // A well-formed file whose checksum is right but whose count is wrong: made by hand.
        let mut out = MAGIC.to_vec();
        put_chunk(&mut out, br#"{"format":1,"created":"t","entries":5}"#).unwrap();
        put_chunk(&mut out, b"k").unwrap();
        put_chunk(&mut out, b"v").unwrap();
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        let err = decode(&out).unwrap_err().to_string();
        assert!(err.contains("entry count"), "{err}");
    }
}
