//! KV version 2: versioned secrets with metadata, check-and-set, soft delete and destroy.
//!
//! Endpoints, relative to the mount: `config`, `data/<path>`, `metadata/<path>`,
//! `delete/<path>`, `undelete/<path>`, `destroy/<path>` and `subkeys/<path>`. Storage is
//! described in [`store`].

mod data;
mod metadata;
mod store;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use tokio::sync::{Mutex, MutexGuard};

use crate::clock::SharedClock;
use crate::logical::{Backend, Error, Operation, Request, Response, Storage};

use store::Timestamp;

/// Read-modify-write of one key's metadata must not interleave, or two writers could both
/// claim the same version and check-and-set would be meaningless. Keys are spread over a
/// fixed set of async mutexes, so writes to different keys still commit (and group-commit)
/// concurrently. These are `tokio` mutexes because they are held across the storage commit;
/// no synchronous lock is ever held across an `.await`.
const LOCK_STRIPES: usize = 64;

/// The KV v2 secrets engine. One instance serves one mount.
pub struct KvV2 {
    clock: SharedClock,
    key_locks: Vec<Mutex<()>>,
    config_lock: Mutex<()>,
}

/// The endpoint a request path names.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Config,
    Data(&'a str),
    Metadata(&'a str),
    Delete(&'a str),
    Undelete(&'a str),
    Destroy(&'a str),
    Subkeys(&'a str),
    /// `data`, `metadata`, `delete`, `undelete` or `destroy` without a key, for anything but
    /// LIST.
    MountRoot,
    Invalid,
}

const ROOT_WARNING: &str =
    "Non-listing operations on the root of a K/V v2 mount are not supported.";

fn route(op: Operation, path: &str) -> Route<'_> {
    if op != Operation::List
        && matches!(
            path,
            "data" | "metadata" | "delete" | "undelete" | "destroy"
        )
    {
        return Route::MountRoot;
    }
    if path == "config" {
        return Route::Config;
    }
    let Some((head, key)) = path.split_once('/') else {
        return Route::Invalid;
    };
    match head {
        "data" => Route::Data(key),
        "metadata" => Route::Metadata(key),
        "delete" => Route::Delete(key),
        "undelete" => Route::Undelete(key),
        "destroy" => Route::Destroy(key),
        "subkeys" => Route::Subkeys(key),
        _ => Route::Invalid,
    }
}

/// Vault's 404 with a warning and no data, for paths that are not KV v2 endpoints.
fn warning_404(warning: String) -> Response {
    Response {
        warnings: vec![warning],
        status: Some(404),
        ..Default::default()
    }
}

fn invalid_path(op: Operation) -> Response {
    let verb = match op {
        Operation::Read => "get",
        Operation::List => "list",
        Operation::Delete => "delete",
        Operation::Update => "put",
        Operation::Patch => "patch",
    };
    warning_404(format!(
        "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate \
         API endpoints to use. If using the OpenBao CLI, use 'bao kv {verb}' for this operation."
    ))
}

impl KvV2 {
    pub fn new(clock: SharedClock) -> Self {
        KvV2 {
            clock,
            key_locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            config_lock: Mutex::new(()),
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_system(self.clock.now())
    }

    async fn lock_key(&self, path: &str) -> MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        path.hash(&mut h);
        let stripe = (h.finish() % LOCK_STRIPES as u64) as usize;
        self.key_locks[stripe].lock().await
    }
}

#[async_trait]
impl Backend for KvV2 {
    /// `data/` and `metadata/` have one, as in Vault's KV v2: a key exists while its metadata
    /// does, even with every version deleted or destroyed. The other paths write as updates.
    async fn exists(&self, path: &str, storage: &dyn Storage) -> Result<Option<bool>, Error> {
        match route(Operation::Update, path) {
            Route::Data(key) | Route::Metadata(key) => {
                Ok(Some(store::load_meta(storage, key).await?.is_some()))
            }
            _ => Ok(None),
        }
    }

    async fn handle(&self, req: &Request, storage: &dyn Storage) -> Result<Response, Error> {
        let op = req.operation;
        // Vault's core refuses these before any backend; repeated here so the engine is safe
        // on its own. (The mount root itself arrives as "" and is an invalid path below.)
        if matches!(op, Operation::Update | Operation::Patch) && req.path.ends_with('/') {
            return Err(Error::bad_request("cannot write to a path ending in '/'"));
        }
        // Vault lists with a trailing slash, so `LIST metadata` is `metadata/` and
        // `LIST data` reaches the data endpoint (which cannot list).
        let list_path;
        let path = if op == Operation::List && !req.path.ends_with('/') {
            list_path = format!("{}/", req.path);
            list_path.as_str()
        } else {
            req.path.as_str()
        };
        match (route(op, path), op) {
            (Route::MountRoot, _) => Ok(warning_404(ROOT_WARNING.to_string())),
            (Route::Invalid, _) => Ok(invalid_path(op)),

            (Route::Config, Operation::Read) => self.read_config(req, storage).await,
            (Route::Config, Operation::Update) => self.write_config(req, storage).await,

            (Route::Data(key), Operation::Read) => self.read_data(req, storage, key).await,
            (Route::Data(key), Operation::Update) => self.write_data(req, storage, key).await,
            (Route::Data(key), Operation::Patch) => self.patch_data(req, storage, key).await,
            (Route::Data(key), Operation::Delete) => self.delete_latest(storage, key).await,

            (Route::Metadata(key), Operation::Read) => self.read_metadata(req, storage, key).await,
            (Route::Metadata(key), Operation::Update) => {
                self.write_metadata(req, storage, key).await
            }
            (Route::Metadata(key), Operation::Patch) => {
                self.patch_metadata(req, storage, key).await
            }
            (Route::Metadata(key), Operation::Delete) => self.delete_metadata(storage, key).await,
            (Route::Metadata(prefix), Operation::List) => {
                self.list_metadata(req, storage, prefix).await
            }

            (Route::Delete(key), Operation::Update) => {
                self.change_versions(req, storage, key, data::VersionChange::Delete)
                    .await
            }
            (Route::Undelete(key), Operation::Update) => {
                self.change_versions(req, storage, key, data::VersionChange::Undelete)
                    .await
            }
            (Route::Destroy(key), Operation::Update) => {
                self.change_versions(req, storage, key, data::VersionChange::Destroy)
                    .await
            }

            (Route::Subkeys(key), Operation::Read) => self.read_subkeys(req, storage, key).await,

            _ => Err(Error::UnsupportedOperation),
        }
    }
}
