//! Migration of a database from before hidden names (keyring format 1, plaintext storage keys)
//! to hidden names, on its first unseal.
//!
//! Crash safety: the whole migration is ONE physical commit, which moves every entry to its
//! encoded key and replaces the keyring with one that holds the new name key. The backend
//! applies a commit in one transaction, so after a crash the file is either entirely in the
//! old format (format-1 keyring, plaintext names: the next unseal simply migrates again, with
//! a new name key, since the one generated here was never stored) or entirely in the new one.
//! There is no state in between to recover from. The price is that the transaction holds
//! every stored value once (ciphertext), which for a secrets store is megabytes, not more.
//!
//! Values are not re-encrypted: their associated data is the plaintext path, which does not
//! change, so each ciphertext is moved byte for byte.
//!
//! What is moved: every entry whose value authenticates under the keyring with its own path
//! as associated data, which is exactly what the barrier wrote. The keyring itself stays, and
//! so do the records under `core/` that the seal keeps outside the barrier (they are not
//! barrier ciphertext). Any other entry that does not decrypt means the file is damaged or not
//! ours: the migration is refused and nothing is changed, rather than leave an entry behind
//! under its plaintext name where no read would ever find it.
//!
//! Caveat: redb does not overwrite freed pages, so the old plaintext keys can remain in the
//! file's free space until it is reused; a fresh database never has them.

use crate::logical::{self, StorageOp};
use crate::physical::{self, PhysicalError};

use super::keyring::Keyring;
use super::{crypto_error, storage_error, KEYRING_PATH, RAW_DIR};

/// The physical ops that migrate every entry of `backend`, then store `keyring` (which holds
/// the new name key) in the current format. Reads only; the caller commits.
pub(super) async fn plan(
    backend: &dyn physical::Backend,
    keyring: &Keyring,
) -> Result<Vec<StorageOp>, logical::Error> {
    let keys = all_keys(backend)
        .await
        .map_err(|e| storage_error("list for migration", &e))?;
    let mut deletes = Vec::new();
    let mut puts = Vec::new();
    let mut refused = 0usize;
    for key in keys {
        if key == KEYRING_PATH {
            continue;
        }
        let Some(blob) = backend
            .get(&key)
            .await
            .map_err(|e| storage_error("read for migration", &e))?
        else {
            continue;
        };
        if keyring.decrypt(&key, &blob).is_err() {
            if key.starts_with(RAW_DIR) {
                continue; // a plaintext record the seal needs before unseal
            }
            refused += 1;
            continue;
        }
        let encoded = keyring
            .names()
            .encode_path(&key)
            .map_err(|e| crypto_error("migrate", &e))?;
        deletes.push(StorageOp::Delete(key));
        puts.push(StorageOp::Put(encoded, blob));
    }
    if refused > 0 {
        return Err(logical::Error::internal(format!(
            "barrier: cannot migrate this database to hidden names: {refused} entries do not \
             decrypt with its keyring (damaged, or not written by this barrier); nothing was \
             changed"
        )));
    }
    let blob = keyring
        .to_sealed_blob(KEYRING_PATH)
        .map_err(|e| crypto_error("migrate", &e))?;
    // Deletes first: within one transaction the order only matters if an encoded key equalled
    // some plaintext key, and then the moved entry must win.
    let mut ops = deletes;
    ops.append(&mut puts);
    ops.push(StorageOp::Put(KEYRING_PATH.to_string(), blob));
    Ok(ops)
}

/// Every key in the backend, found by walking [`physical::Backend::list`] from the root, plus
/// every directory itself: LIST never shows a key that ends in `/` (or the empty key), so
/// those are candidates too, and [`plan`] skips the ones that do not exist.
pub(super) async fn all_keys(
    backend: &dyn physical::Backend,
) -> Result<Vec<String>, PhysicalError> {
    let mut keys = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(dir) = dirs.pop() {
        keys.push(dir.clone());
        for child in backend.list(&dir).await? {
            let path = format!("{dir}{child}");
            if child.ends_with('/') {
                dirs.push(path);
            } else {
                keys.push(path);
            }
        }
    }
    Ok(keys)
}
