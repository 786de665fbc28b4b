//! The durable backend: one redb table of `&str -> &[u8]` in a single file.
//!
//! Writes go through one dedicated writer thread that practises group commit: it takes every
//! request already queued (up to [`MAX_BATCH`]), applies them in order inside ONE write
//! transaction with immediate durability, and acknowledges each request only after that
//! transaction's commit (and so its fsync) returned `Ok`. An fsync costs about the same for one
//! write as for hundreds, so durable throughput grows with the number of concurrent writers.
//!
//! Reads run on tokio's blocking pool in their own read transactions; redb's MVCC lets them
//! proceed while the writer commits.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use ::redb::backends::FileBackend;
use ::redb::{
    Builder, CommitError, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable,
    SetDurabilityError, StorageBackend, StorageError, TableDefinition, TableError,
    TransactionError,
};
use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use super::{scan_children, Backend, PhysicalError, StorageOp};

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");

/// The most commit requests the writer folds into one transaction. Bounds the latency a batch
/// adds to its first request and the memory one transaction holds.
const MAX_BATCH: usize = 512;

/// redb's page cache. Its default (1 GiB) is far more than a secrets store needs, and hot reads
/// are served from the barrier's decrypted cache above us anyway.
const PAGE_CACHE_BYTES: usize = 64 * 1024 * 1024;

type Ack = oneshot::Sender<Result<(), PhysicalError>>;

struct WriteRequest {
    ops: Vec<StorageOp>,
    ack: Ack,
}

/// A redb database plus its group-commit writer thread.
pub struct RedbBackend {
    /// `None` once closed. Readers clone the `Arc` for the duration of one blocking read.
    db: RwLock<Option<Arc<Database>>>,
    /// `None` once closed; dropping the sender is what tells the writer to finish.
    requests: RwLock<Option<mpsc::Sender<WriteRequest>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<CommitCounters>,
}

/// How well group commit is batching: `requests / transactions` is the mean batch size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Commit requests answered (acknowledged or failed).
    pub requests: u64,
    /// Durable write transactions run for them.
    pub transactions: u64,
}

#[derive(Default)]
struct CommitCounters {
    requests: AtomicU64,
    transactions: AtomicU64,
}

impl RedbBackend {
    /// Opens (or creates) the database file at `path`. A new file is created `0600`, and an
    /// existing one readable by others is narrowed to `0600`, because it holds the barrier's
    /// encrypted keyring and the plaintext seal configuration.
    ///
    /// Missing parent directories are created `0700` (as Vault's file storage does), so that a
    /// first run needs no `mkdir`; existing ones are left as they are.
    pub fn open(path: &Path) -> Result<Self, PhysicalError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| io_error("create the database's directory", e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_error("open database file", e))?;
        let meta = file
            .metadata()
            .map_err(|e| io_error("stat database file", e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io_error("restrict database file mode", e))?;
        }
        let backend = FileBackend::new(file).map_err(|e| db_error("open database", e))?;
        Self::with_backend(backend)
    }

    /// Builds the database over any redb storage backend (tests wrap one to observe syncs).
    pub fn with_backend(backend: impl StorageBackend) -> Result<Self, PhysicalError> {
        let db = Builder::new()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create_with_backend(backend)
            .map_err(|e| db_error("open database", e))?;
        // Create the table up front so readers never meet a missing table.
        let txn = db.begin_write().map_err(|e| txn_error("create table", e))?;
        txn.open_table(ENTRIES)
            .map_err(|e| table_error("create table", e))?;
        txn.commit().map_err(|e| commit_error("create table", e))?;

        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let writer_db = Arc::clone(&db);
        let stats = Arc::new(CommitCounters::default());
        let writer_stats = Arc::clone(&stats);
        let writer = std::thread::Builder::new()
            .name("mainkey-redb-writer".into())
            .spawn(move || run_writer(&writer_db, &rx, &writer_stats))
            .map_err(|e| io_error("start writer thread", e))?;
        Ok(Self {
            db: RwLock::new(Some(db)),
            requests: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            stats,
        })
    }

    /// Counters of the writer thread, e.g. for metrics.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            requests: self.stats.requests.load(Ordering::Relaxed),
            transactions: self.stats.transactions.load(Ordering::Relaxed),
        }
    }

    fn database(&self) -> Result<Arc<Database>, PhysicalError> {
        self.db.read().clone().ok_or(PhysicalError::Closed)
    }

    fn shutdown(&self) {
        // Dropping the only sender lets the writer drain what is queued and then stop.
        drop(self.requests.write().take());
        if let Some(writer) = self.writer.lock().take() {
            if writer.join().is_err() {
                tracing::error!("redb writer thread panicked");
            }
        }
        drop(self.db.write().take());
    }
}

impl Drop for RedbBackend {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[async_trait]
impl Backend for RedbBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PhysicalError> {
        let db = self.database()?;
        let key = key.to_string();
        blocking(move || {
            let txn = db.begin_read().map_err(|e| txn_error("read", e))?;
            let table = txn
                .open_table(ENTRIES)
                .map_err(|e| table_error("read", e))?;
            let value = table
                .get(key.as_str())
                .map_err(|e| storage_error("read", e))?;
            Ok(value.map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PhysicalError> {
        let db = self.database()?;
        let prefix = prefix.to_string();
        blocking(move || {
            let txn = db.begin_read().map_err(|e| txn_error("list", e))?;
            let table = txn
                .open_table(ENTRIES)
                .map_err(|e| table_error("list", e))?;
            scan_children(&prefix, |from| {
                let range = table
                    .range::<&str>(from..)
                    .map_err(|e| storage_error("list", e))?;
                Ok(range.map(|entry| {
                    entry
                        .map(|(k, _)| k.value().to_string())
                        .map_err(|e| storage_error("list", e))
                }))
            })
        })
        .await
    }

    async fn snapshot(&self) -> Result<Vec<(String, Vec<u8>)>, PhysicalError> {
        let db = self.database()?;
        blocking(move || {
            // One read transaction: redb's MVCC keeps its view fixed while commits go on.
            let txn = db.begin_read().map_err(|e| txn_error("snapshot", e))?;
            let table = txn
                .open_table(ENTRIES)
                .map_err(|e| table_error("snapshot", e))?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(|e| storage_error("snapshot", e))? {
                let (k, v) = entry.map_err(|e| storage_error("snapshot", e))?;
                out.push((k.value().to_string(), v.value().to_vec()));
            }
            Ok(out)
        })
        .await
    }

    async fn restore(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), PhysicalError> {
        let db = self.database()?;
        // A write transaction of its own: redb runs one at a time, so the group-commit writer
        // waits for it, and its batches land before or after the whole restore.
        blocking(move || {
            let mut txn = db.begin_write().map_err(|e| txn_error("restore", e))?;
            txn.set_durability(Durability::Immediate)
                .map_err(|e| durability_error("restore", e))?;
            txn.delete_table(ENTRIES)
                .map_err(|e| table_error("restore", e))?;
            {
                let mut table = txn
                    .open_table(ENTRIES)
                    .map_err(|e| table_error("restore", e))?;
                for (key, value) in &entries {
                    table
                        .insert(key.as_str(), value.as_slice())
                        .map_err(|e| storage_error("restore", e))?;
                }
            }
            txn.commit().map_err(|e| commit_error("restore", e))
        })
        .await
    }

    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), PhysicalError> {
        if ops.is_empty() {
            return Ok(());
        }
        let (ack, acked) = oneshot::channel();
        {
            let requests = self.requests.read();
            let sender = requests.as_ref().ok_or(PhysicalError::Closed)?;
            sender
                .send(WriteRequest { ops, ack })
                .map_err(|_| PhysicalError::Closed)?;
        }
        // A writer that stops without answering never committed this request.
        acked.await.map_err(|_| PhysicalError::Closed)?
    }

    fn close(&self) {
        self.shutdown();
    }
}

/// Runs `f` on the blocking pool, so redb's page reads never stall an async worker.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PhysicalError> + Send + 'static,
) -> Result<T, PhysicalError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| PhysicalError::Io("storage read task failed".into()))?
}

/// The writer thread: one transaction per batch of queued requests, until every sender is gone
/// and the queue is empty.
fn run_writer(db: &Database, requests: &mpsc::Receiver<WriteRequest>, stats: &CommitCounters) {
    while let Ok(first) = requests.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let result = apply_batch(db, &batch);
        stats.transactions.fetch_add(1, Ordering::Relaxed);
        stats
            .requests
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Err(e) = &result {
            tracing::error!(requests = batch.len(), error = %e, "group commit failed");
        }
        for request in batch {
            // The caller may have stopped waiting; its write is committed (or not) regardless.
            let _ = request.ack.send(result.clone());
        }
    }
}

/// Applies every request of the batch, in arrival order, in one durable transaction. On any
/// error the transaction is dropped, which aborts it, so none of the batch is applied.
fn apply_batch(db: &Database, batch: &[WriteRequest]) -> Result<(), PhysicalError> {
    let started = std::time::Instant::now();
    let mut txn = db.begin_write().map_err(|e| txn_error("commit", e))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| durability_error("commit", e))?;
    {
        let mut table = txn
            .open_table(ENTRIES)
            .map_err(|e| table_error("commit", e))?;
        for op in batch.iter().flat_map(|request| &request.ops) {
            match op {
                StorageOp::Put(key, value) => {
                    table
                        .insert(key.as_str(), value.as_slice())
                        .map_err(|e| storage_error("commit", e))?;
                }
                StorageOp::Delete(key) => {
                    table
                        .remove(key.as_str())
                        .map_err(|e| storage_error("commit", e))?;
                }
            }
        }
    }
    let committed = txn.commit().map_err(|e| commit_error("commit", e));
    crate::metrics::metrics()
        .commit_duration
        .observe(started.elapsed().as_secs_f64());
    committed
}

// redb's error messages describe the failure (I/O, corruption, sizes), never a stored value, so
// they are safe to pass on; each is prefixed with the operation that failed.

fn io_error(op: &str, e: io::Error) -> PhysicalError {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            PhysicalError::Full(format!("{op}: {e}"))
        }
        _ => PhysicalError::Io(format!("{op}: {e}")),
    }
}

fn storage_error(op: &str, e: StorageError) -> PhysicalError {
    match e {
        StorageError::Io(e) => io_error(op, e),
        other => PhysicalError::Io(format!("{op}: {other}")),
    }
}

fn db_error(op: &str, e: DatabaseError) -> PhysicalError {
    match e {
        DatabaseError::Storage(e) => storage_error(op, e),
        other => PhysicalError::Io(format!("{op}: {other}")),
    }
}

fn txn_error(op: &str, e: TransactionError) -> PhysicalError {
    match e {
        TransactionError::Storage(e) => storage_error(op, e),
        other => PhysicalError::Io(format!("{op}: {other}")),
    }
}

fn table_error(op: &str, e: TableError) -> PhysicalError {
    match e {
        TableError::Storage(e) => storage_error(op, e),
        other => PhysicalError::Io(format!("{op}: {other}")),
    }
}

fn commit_error(op: &str, e: CommitError) -> PhysicalError {
    match e {
        CommitError::Storage(e) => storage_error(op, e),
        other => PhysicalError::Io(format!("{op}: {other}")),
    }
}

fn durability_error(op: &str, e: SetDurabilityError) -> PhysicalError {
    PhysicalError::Io(format!("{op}: {e}"))
}

#[cfg(test)]
mod tests;
