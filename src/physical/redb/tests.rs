use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ::redb::backends::InMemoryBackend;

use super::*;

/// What survives a power cut: `write`/`set_len` change only the volatile image (the page
/// cache), and `sync_data` copies it to the durable image (the platter).
#[derive(Default)]
struct Images {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    syncs: u64,
}

/// A redb storage backend that simulates a crash at any moment: the durable image is exactly
/// what a machine that lost power right now would find on disk.
#[derive(Clone, Default)]
struct CrashBackend {
    images: Arc<Mutex<Images>>,
    fail_sync: Arc<AtomicBool>,
    disk_full: Arc<AtomicBool>,
}

impl fmt::Debug for CrashBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CrashBackend")
    }
}

impl CrashBackend {
    fn syncs(&self) -> u64 {
        self.images.lock().syncs
    }

    fn durable_image(&self) -> Vec<u8> {
        self.images.lock().durable.clone()
    }
}

fn out_of_range() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "out of range")
}

impl StorageBackend for CrashBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.images.lock().volatile.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let images = self.images.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let source = images
            .volatile
            .get(start..start + out.len())
            .ok_or_else(out_of_range)?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        if self.disk_full.load(Ordering::SeqCst) {
            return Err(io::ErrorKind::StorageFull.into());
        }
        let len = usize::try_from(len).map_err(|_| out_of_range())?;
        self.images.lock().volatile.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        let mut images = self.images.lock();
        images.durable = images.volatile.clone();
        images.syncs += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if self.disk_full.load(Ordering::SeqCst) {
            return Err(io::ErrorKind::StorageFull.into());
        }
        let mut images = self.images.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let target = images
            .volatile
            .get_mut(start..start + data.len())
            .ok_or_else(out_of_range)?;
        target.copy_from_slice(data);
        Ok(())
    }
}

/// Opens what a crash would have left: a fresh database over a copy of the durable image
/// (redb runs its crash recovery on it), and reads every entry.
fn entries_after_crash(durable: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let memory = InMemoryBackend::new();
    memory.set_len(durable.len() as u64).unwrap();
    memory.write(0, durable).unwrap();
    let db = Builder::new().create_with_backend(memory).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(ENTRIES).unwrap();
    table
        .range::<&str>(..)
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value().to_string(), v.value().to_vec())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_was_synced_first() {
    const WRITERS: usize = 64;
    const COMMITS_PER_WRITER: usize = 6;

    let disk = CrashBackend::default();
    let backend = Arc::new(RedbBackend::with_backend(disk.clone()).unwrap());
    let syncs_before = disk.syncs();

    // Each writer snapshots the durable image the moment its commit is acknowledged; a crash
    // at that moment would leave exactly that image.
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let backend = Arc::clone(&backend);
        let disk = disk.clone();
        tasks.push(tokio::spawn(async move {
            let mut proofs = Vec::new();
            for c in 0..COMMITS_PER_WRITER {
                let key = format!("w{w}/c{c}");
                let value = format!("value {w} {c}").into_bytes();
                backend
                    .commit(vec![StorageOp::Put(key.clone(), value.clone())])
                    .await
                    .unwrap();
                proofs.push((key, value, disk.durable_image()));
            }
            proofs
        }));
    }
    let mut proofs = Vec::new();
    for task in tasks {
        proofs.extend(task.await.unwrap());
    }
    let commits = (WRITERS * COMMITS_PER_WRITER) as u64;
    let syncs = disk.syncs() - syncs_before;

    for (key, value, durable) in &proofs {
        let entries = entries_after_crash(durable);
        assert_eq!(
            entries.get(key),
            Some(value),
            "acknowledged {key} is missing from the durable image"
        );
    }
    eprintln!("group commit: {commits} acknowledged commits took {syncs} syncs");
    assert!(
        syncs < commits,
        "no batching: {syncs} syncs for {commits} commits"
    );
}

#[tokio::test]
async fn a_failed_fsync_is_not_acknowledged_and_not_durable() {
    let disk = CrashBackend::default();
    let backend = RedbBackend::with_backend(disk.clone()).unwrap();
    backend
        .commit(vec![StorageOp::Put("before".into(), b"1".to_vec())])
        .await
        .unwrap();

    disk.fail_sync.store(true, Ordering::SeqCst);
    let err = backend
        .commit(vec![StorageOp::Put("lost".into(), b"2".to_vec())])
        .await
        .unwrap_err();
    assert!(matches!(err, PhysicalError::Io(_)), "{err:?}");

    let entries = entries_after_crash(&disk.durable_image());
    assert!(entries.contains_key("before"));
    assert!(!entries.contains_key("lost"));
}

#[tokio::test]
async fn a_full_disk_is_reported_as_full() {
    let disk = CrashBackend::default();
    let backend = RedbBackend::with_backend(disk.clone()).unwrap();
    disk.disk_full.store(true, Ordering::SeqCst);
    // Large enough that redb must grow the file or write pages during the commit.
    let big = vec![7u8; 4 * 1024 * 1024];
    let err = backend
        .commit(vec![StorageOp::Put("big".into(), big)])
        .await
        .unwrap_err();
    assert!(matches!(err, PhysicalError::Full(_)), "{err:?}");
    assert!(!entries_after_crash(&disk.durable_image()).contains_key("big"));
}

#[tokio::test]
async fn database_file_is_created_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mainkey.db");
    let backend = RedbBackend::open(&path).unwrap();
    backend
        .commit(vec![StorageOp::Put("k".into(), b"v".to_vec())])
        .await
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode is {mode:o}");
}

#[tokio::test]
async fn an_existing_world_readable_file_is_narrowed_to_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mainkey.db");
    std::fs::File::create(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _backend = RedbBackend::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode is {mode:o}");
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mainkey.db");
    let backend = RedbBackend::open(&path).unwrap();
    backend
        .commit(vec![
            StorageOp::Put("a/b".into(), b"1".to_vec()),
            StorageOp::Put("a/c/d".into(), b"2".to_vec()),
        ])
        .await
        .unwrap();
    backend.close();
    assert!(matches!(
        backend.get("a/b").await,
        Err(PhysicalError::Closed)
    ));
    assert!(matches!(
        backend.commit(vec![StorageOp::Delete("a/b".into())]).await,
        Err(PhysicalError::Closed)
    ));
    drop(backend);

    let backend = RedbBackend::open(&path).unwrap();
    assert_eq!(backend.get("a/b").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(backend.list("a/").await.unwrap(), vec!["b", "c/"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_finishes_every_queued_commit() {
    let disk = CrashBackend::default();
    let backend = Arc::new(RedbBackend::with_backend(disk.clone()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..100 {
        let backend = Arc::clone(&backend);
        tasks.push(tokio::spawn(async move {
            backend
                .commit(vec![StorageOp::Put(format!("k{i:03}"), vec![1])])
                .await
                .map(|()| format!("k{i:03}"))
        }));
    }
    tokio::task::yield_now().await;
    let closer = Arc::clone(&backend);
    tokio::task::spawn_blocking(move || closer.close())
        .await
        .unwrap();
    let entries = entries_after_crash(&disk.durable_image());
    // A commit either raced the close and was refused, or it is durable: never acknowledged
    // and lost.
    for task in tasks {
        match task.await.unwrap() {
            Ok(key) => assert!(entries.contains_key(&key), "{key} acknowledged but lost"),
            Err(e) => assert!(matches!(e, PhysicalError::Closed), "{e:?}"),
        }
    }
}

/// Durable write throughput against the real disk, by number of concurrent writers.
/// `cargo test -j2 --lib group_commit_throughput -- --ignored --nocapture`
#[test]
#[ignore = "benchmark; run by hand"]
fn group_commit_throughput() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Check that the temp dir is a real disk, not a tmpfs, or the fsyncs cost nothing.
    let dir = tempfile::tempdir().unwrap();
    for writers in [1usize, 8, 64, 256] {
        let path = dir.path().join(format!("bench-{writers}.db"));
        let backend = Arc::new(RedbBackend::open(&path).unwrap());
        let per_writer = (2000 / writers).max(20);
        let started = Instant::now();
        runtime.block_on(async {
            let mut tasks = Vec::new();
            for w in 0..writers {
                let backend = Arc::clone(&backend);
                tasks.push(tokio::spawn(async move {
                    for c in 0..per_writer {
                        backend
                            .commit(vec![StorageOp::Put(format!("w{w}/c{c}"), vec![42; 200])])
                            .await
                            .unwrap();
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        });
        let elapsed = started.elapsed();
        let total = writers * per_writer;
        let stats = backend.group_commit_stats();
        eprintln!(
            "{writers:>4} writers: {total} durable writes in {:.2?} = {:.0} writes/s, \
             {} transactions (mean batch {:.1})",
            elapsed,
            total as f64 / elapsed.as_secs_f64(),
            stats.transactions,
            stats.requests as f64 / stats.transactions as f64
        );
    }
}
