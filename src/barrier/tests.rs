use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rand::Rng;

use super::*;
use crate::logical::Storage;
use crate::physical::{Backend, InmemBackend, RedbBackend};

const ROOT: [u8; KEY_LEN] = [7u8; KEY_LEN];

async fn unsealed_over(backend: Arc<dyn Backend>, cache_capacity: u64) -> Arc<Barrier> {
    let barrier = Arc::new(Barrier::new(backend, cache_capacity));
    barrier.initialize(&ROOT).await.unwrap();
    assert!(
        barrier.is_sealed(),
        "initialize must leave the barrier sealed"
    );
    barrier.unseal(&ROOT).await.unwrap();
    barrier
}

async fn unsealed() -> (Arc<Barrier>, Arc<InmemBackend>) {
    let backend = Arc::new(InmemBackend::new());
    (unsealed_over(backend.clone(), 1000).await, backend)
}

impl Barrier {
    /// The physical key `path` is stored under.
    fn stored(&self, path: &str) -> String {
        self.state
            .read()
            .as_ref()
            .expect("unsealed")
            .keyring
            .names()
            .encode_path(path)
            .unwrap()
    }
}

/// Every physical key with its bytes, sorted: the whole content of the backend.
async fn dump(backend: &dyn Backend) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for key in migrate::all_keys(backend).await.unwrap() {
        if let Some(value) = backend.get(&key).await.unwrap() {
            out.push((key, value));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn roundtrip_and_nothing_stored_in_plaintext() {
    let (barrier, backend) = unsealed().await;
    barrier
        .put("secret/a", b"plain value".to_vec())
        .await
        .unwrap();
    assert_eq!(
        barrier.get("secret/a").await.unwrap(),
        Some(b"plain value".to_vec())
    );
    assert_eq!(backend.get("secret/a").await.unwrap(), None);
    let raw = backend
        .get(&barrier.stored("secret/a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&raw[..4], &1u32.to_be_bytes());
    assert!(!raw.windows(11).any(|w| w == b"plain value"));
    assert_eq!(barrier.list("secret/").await.unwrap(), vec!["a"]);
    assert_eq!(barrier.get("secret/missing").await.unwrap(), None);
    // Nothing but the keyring has a plaintext key.
    let keys: Vec<String> = dump(backend.as_ref())
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&KEYRING_PATH.to_string()));
    assert!(keys.iter().all(|k| !k.contains("secret")), "{keys:?}");
}

#[tokio::test]
async fn an_entry_copied_to_another_path_fails_to_decrypt() {
    let (barrier, backend) = unsealed().await;
    barrier.put("secret/a", b"v".to_vec()).await.unwrap();
    let raw = backend
        .get(&barrier.stored("secret/a"))
        .await
        .unwrap()
        .unwrap();
    backend
        .commit(vec![StorageOp::Put(barrier.stored("secret/b"), raw)])
        .await
        .unwrap();
    let err = barrier.get("secret/b").await.unwrap_err();
    assert!(matches!(err, logical::Error::Internal(_)), "{err:?}");
    assert!(err.to_string().contains("decrypt"), "{err}");
}

#[tokio::test]
async fn initialize_once_and_unseal_only_with_the_root_key() {
    let backend = Arc::new(InmemBackend::new());
    let barrier = Barrier::new(backend, 10);
    assert!(!barrier.is_initialized().await.unwrap());
    let err = barrier.unseal(&ROOT).await.unwrap_err();
    assert!(matches!(err, logical::Error::BadRequest(_)), "{err:?}");

    barrier.initialize(&ROOT).await.unwrap();
    assert!(barrier.is_initialized().await.unwrap());
    assert!(matches!(
        barrier.initialize(&ROOT).await,
        Err(logical::Error::BadRequest(_))
    ));

    for wrong in [&[8u8; KEY_LEN][..], &[7u8; 31][..], &[][..]] {
        let err = barrier.unseal(wrong).await.unwrap_err();
        match err {
            logical::Error::BadRequest(msg) => assert!(msg.starts_with("unseal failed: "), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(barrier.is_sealed());
        assert!(matches!(
            barrier.get("x").await,
            Err(logical::Error::Sealed)
        ));
    }
    barrier.unseal(&ROOT).await.unwrap();
    assert!(!barrier.is_sealed());
    // Already unsealed: the key is still checked.
    assert!(barrier.unseal(&[8u8; KEY_LEN]).await.is_err());
    assert!(!barrier.is_sealed());
}

#[tokio::test]
async fn rotate_keeps_old_entries_and_writes_with_the_new_term() {
    let (barrier, backend) = unsealed().await;
    barrier.put("old", b"1".to_vec()).await.unwrap();
    let before = barrier.key_status().unwrap();
    assert_eq!((before.term, before.encryptions), (1, 1));

    let status = barrier.rotate().await.unwrap();
    assert_eq!((status.term, status.encryptions), (2, 0));
    assert!(status.install_time >= before.install_time);

    barrier.put("new", b"2".to_vec()).await.unwrap();
    let raw_new = backend.get(&barrier.stored("new")).await.unwrap().unwrap();
    assert_eq!(&raw_new[..4], &2u32.to_be_bytes());
    let raw_old = backend.get(&barrier.stored("old")).await.unwrap().unwrap();
    assert_eq!(&raw_old[..4], &1u32.to_be_bytes());
    assert_eq!(barrier.key_status().unwrap().encryptions, 1);

    // The rotated keyring was persisted: after a seal both terms still decrypt.
    barrier.seal();
    barrier.unseal(&ROOT).await.unwrap();
    assert_eq!(barrier.key_status().unwrap().term, 2);
    assert_eq!(barrier.get("old").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(barrier.get("new").await.unwrap(), Some(b"2".to_vec()));
    assert!(matches!(
        Barrier::new(backend, 1).rotate().await,
        Err(logical::Error::Sealed)
    ));
}

#[tokio::test]
async fn rekey_changes_the_root_key_and_keeps_every_entry() {
    let (barrier, backend) = unsealed().await;
    barrier.put("old", b"1".to_vec()).await.unwrap();
    assert!(barrier.verify_root_key(&ROOT).unwrap());
    let next = [9u8; KEY_LEN];
    assert!(!barrier.verify_root_key(&next).unwrap());
    let extra = StorageOp::Put("core/extra".into(), b"x".to_vec());
    barrier.rekey(&next, vec![extra]).await.unwrap();
    assert!(barrier.verify_root_key(&next).unwrap() && !barrier.verify_root_key(&ROOT).unwrap());
    // Committed together with the keyring.
    assert_eq!(
        backend.get("core/extra").await.unwrap(),
        Some(b"x".to_vec())
    );
    assert_eq!(barrier.get("old").await.unwrap(), Some(b"1".to_vec()));

    barrier.seal();
    assert!(
        barrier.unseal(&ROOT).await.is_err(),
        "the old root key still opens it"
    );
    assert!(barrier.is_sealed());
    barrier.unseal(&next).await.unwrap();
    assert_eq!(barrier.get("old").await.unwrap(), Some(b"1".to_vec()));
    barrier.seal();
    assert!(matches!(
        barrier.verify_root_key(&next),
        Err(logical::Error::Sealed)
    ));
    assert!(matches!(
        barrier.rekey(&ROOT, Vec::new()).await,
        Err(logical::Error::Sealed)
    ));
}

#[tokio::test]
async fn seal_drops_the_keyring_and_the_cache() {
    let (barrier, _backend) = unsealed().await;
    barrier.put("a", b"cached secret".to_vec()).await.unwrap();
    barrier.get("a").await.unwrap();
    barrier.get("absent").await.unwrap();
    assert_eq!(barrier.cache_len(), 2);
    let cached = barrier.cached("a").unwrap().unwrap();
    let weak = Arc::downgrade(&cached);
    drop(cached);
    assert!(!barrier.term_keys().is_empty());

    barrier.seal();

    assert!(barrier.is_sealed());
    assert!(barrier.term_keys().is_empty(), "keyring survived seal");
    // The cached plaintext was dropped (its `Zeroizing` wiped it) before seal returned.
    assert!(weak.upgrade().is_none(), "cached value survived seal");
    assert_eq!(barrier.cache_len(), 0);
    assert!(matches!(
        barrier.get("a").await,
        Err(logical::Error::Sealed)
    ));
    assert!(matches!(
        barrier.list("").await,
        Err(logical::Error::Sealed)
    ));
    assert!(matches!(
        barrier.put("a", vec![1]).await,
        Err(logical::Error::Sealed)
    ));
    assert!(matches!(barrier.key_status(), Err(logical::Error::Sealed)));

    // A fresh unseal starts with an empty cache and reads the stored value.
    barrier.unseal(&ROOT).await.unwrap();
    assert_eq!(barrier.cache_len(), 0);
    assert_eq!(
        barrier.get("a").await.unwrap(),
        Some(b"cached secret".to_vec())
    );
}

#[tokio::test]
async fn cache_serves_reads_and_is_invalidated_by_writes_and_deletes() {
    let (barrier, backend) = unsealed().await;
    assert_eq!(barrier.get("k").await.unwrap(), None);
    assert_eq!(barrier.cached("k"), Some(None), "negative entry is cached");

    barrier.put("k", b"1".to_vec()).await.unwrap();
    assert!(barrier.cached("k").is_none(), "write invalidates");
    assert_eq!(barrier.get("k").await.unwrap(), Some(b"1".to_vec()));
    assert!(barrier.cached("k").is_some());

    // A hit does not touch storage: change the stored bytes behind the barrier's back.
    backend
        .commit(vec![StorageOp::Delete(barrier.stored("k"))])
        .await
        .unwrap();
    assert_eq!(barrier.get("k").await.unwrap(), Some(b"1".to_vec()));

    barrier.put("k", b"2".to_vec()).await.unwrap();
    assert_eq!(barrier.get("k").await.unwrap(), Some(b"2".to_vec()));
    barrier.delete("k").await.unwrap();
    assert!(barrier.cached("k").is_none(), "delete invalidates");
    assert_eq!(barrier.get("k").await.unwrap(), None);

    // Every op of a multi-op commit is invalidated.
    barrier.put("x", b"x1".to_vec()).await.unwrap();
    barrier.put("y", b"y1".to_vec()).await.unwrap();
    barrier.get("x").await.unwrap();
    barrier.get("y").await.unwrap();
    barrier
        .commit(vec![
            StorageOp::Put("x".into(), b"x2".to_vec()),
            StorageOp::Delete("y".into()),
        ])
        .await
        .unwrap();
    assert_eq!(barrier.get("x").await.unwrap(), Some(b"x2".to_vec()));
    assert_eq!(barrier.get("y").await.unwrap(), None);
}

#[tokio::test]
async fn cache_is_bounded() {
    let backend = Arc::new(InmemBackend::new());
    let barrier = unsealed_over(backend, 16).await;
    for i in 0..200 {
        barrier.get(&format!("k{i}")).await.unwrap();
    }
    assert!(barrier.cache_len() <= 16, "{}", barrier.cache_len());
}

/// Delays reads after they have read, widening the window in which a reader holds a value
/// that a concurrent writer is about to replace.
struct SlowReads(InmemBackend);

#[async_trait]
impl Backend for SlowReads {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PhysicalError> {
        let value = self.0.get(key).await;
        let pause = rand::thread_rng().gen_range(0..3);
        for _ in 0..pause {
            tokio::task::yield_now().await;
        }
        if rand::thread_rng().gen_bool(0.05) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        value
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PhysicalError> {
        self.0.list(prefix).await
    }

    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), PhysicalError> {
        tokio::task::yield_now().await;
        self.0.commit(ops).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_stale_value_survives_a_write_under_concurrency() {
    const KEYS: usize = 4;
    const WRITES: u64 = 300;
    let barrier = unsealed_over(Arc::new(SlowReads(InmemBackend::new())), 1000).await;
    // acked[k] = the last value whose commit was acknowledged for key k. Every read that
    // starts after an acknowledgement must see that value or a later one.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));

    let mut writers = Vec::new();
    for k in 0..KEYS {
        let (barrier, acked) = (Arc::clone(&barrier), Arc::clone(&acked));
        writers.push(tokio::spawn(async move {
            for v in 1..=WRITES {
                barrier
                    .put(&format!("k{k}"), v.to_be_bytes().to_vec())
                    .await
                    .unwrap();
                acked[k].store(v, Ordering::SeqCst);
            }
        }));
    }
    let mut readers = Vec::new();
    for r in 0..6 {
        let (barrier, acked, done) = (Arc::clone(&barrier), Arc::clone(&acked), Arc::clone(&done));
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !done.load(Ordering::SeqCst) {
                let k = (r + reads as usize) % KEYS;
                let floor = acked[k].load(Ordering::SeqCst);
                let seen = barrier
                    .get(&format!("k{k}"))
                    .await
                    .unwrap()
                    .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()));
                assert!(
                    seen >= floor,
                    "k{k}: read {seen} after {floor} was acknowledged"
                );
                reads += 1;
                // A cache hit completes without awaiting anything; yield so the writers run.
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap();
    }
    assert!(reads > 100, "readers barely ran: {reads}");
    // Quiescent: every key, cached or not, reads its final value.
    for k in 0..KEYS {
        for _ in 0..2 {
            let v = barrier.get(&format!("k{k}")).await.unwrap().unwrap();
            assert_eq!(u64::from_be_bytes(v.try_into().unwrap()), WRITES);
        }
    }
}

#[tokio::test]
async fn the_keyring_path_is_reserved() {
    let (barrier, _backend) = unsealed().await;
    assert!(barrier.get(KEYRING_PATH).await.is_err());
    assert!(barrier.put(KEYRING_PATH, vec![1]).await.is_err());
    assert!(barrier
        .commit(vec![
            StorageOp::Put("fine".into(), vec![1]),
            StorageOp::Delete(KEYRING_PATH.into()),
        ])
        .await
        .is_err());
    assert_eq!(barrier.get("fine").await.unwrap(), None, "nothing applied");
    barrier.seal();
    barrier.unseal(&ROOT).await.unwrap();
}

#[tokio::test]
async fn views_are_rooted_at_their_prefix() {
    let (barrier, _backend) = unsealed().await;
    let view = barrier.view("logical/abc/");
    view.put("data/x", b"1".to_vec()).await.unwrap();
    view.put("data/y/z", b"2".to_vec()).await.unwrap();
    assert_eq!(
        barrier.get("logical/abc/data/x").await.unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(view.get("data/x").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(view.list("data/").await.unwrap(), vec!["x", "y/"]);
    assert_eq!(
        view.sub_view("data/").get("y/z").await.unwrap(),
        Some(b"2".to_vec())
    );
    view.delete("data/x").await.unwrap();
    assert_eq!(barrier.get("logical/abc/data/x").await.unwrap(), None);
    // The AAD is the full path, so the same relative key under another view is another entry.
    assert_eq!(
        barrier
            .view("logical/other/")
            .get("data/y/z")
            .await
            .unwrap(),
        None
    );
}

struct BrokenDisk;

#[async_trait]
impl Backend for BrokenDisk {
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, PhysicalError> {
        Err(PhysicalError::Io("read: injected".into()))
    }
    async fn list(&self, _: &str) -> Result<Vec<String>, PhysicalError> {
        Err(PhysicalError::Io("list: injected".into()))
    }
    async fn commit(&self, _: Vec<StorageOp>) -> Result<(), PhysicalError> {
        Err(PhysicalError::Full("commit: injected".into()))
    }
}

#[tokio::test]
async fn storage_errors_are_internal_and_name_the_operation() {
    let barrier = Barrier::new(Arc::new(BrokenDisk), 10);
    let err = barrier.is_initialized().await.unwrap_err();
    assert!(matches!(err, logical::Error::Internal(_)));
    assert!(err.to_string().contains("read keyring"), "{err}");
    let err = barrier.initialize(&ROOT).await.unwrap_err();
    assert!(matches!(err, logical::Error::Internal(_)));
}

#[tokio::test]
async fn a_failed_commit_is_an_error_and_not_cached() {
    // Unseal over a working store, then fail its writes by swapping in a sealed-off view:
    // simplest is a backend whose commits fail after initialization.
    struct FailCommits {
        inner: InmemBackend,
        fail: AtomicBool,
    }
    #[async_trait]
    impl Backend for FailCommits {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PhysicalError> {
            self.inner.get(key).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, PhysicalError> {
            self.inner.list(prefix).await
        }
        async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), PhysicalError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(PhysicalError::Full("commit: disk full".into()));
            }
            self.inner.commit(ops).await
        }
    }
    let backend = Arc::new(FailCommits {
        inner: InmemBackend::new(),
        fail: AtomicBool::new(false),
    });
    let barrier = unsealed_over(backend.clone(), 100).await;
    barrier.put("k", b"1".to_vec()).await.unwrap();
    assert_eq!(barrier.get("k").await.unwrap(), Some(b"1".to_vec()));
    backend.fail.store(true, Ordering::SeqCst);
    let err = barrier.put("k", b"2".to_vec()).await.unwrap_err();
    assert!(matches!(err, logical::Error::Internal(_)));
    assert!(!err.to_string().contains('2'), "error names a value: {err}");
    assert_eq!(barrier.get("k").await.unwrap(), Some(b"1".to_vec()));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_plaintext_value_or_key_reaches_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mainkey.db");
    let mut root = [0u8; KEY_LEN];
    rand::thread_rng().fill(&mut root);

    let markers: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("MAINKEY-PLAINTEXT-MARKER-{i:02}-a8f3c1").into_bytes())
        .collect();
    // A value that spans several pages, so redb's overflow pages are covered too.
    let big_marker = b"MAINKEY-BIG-MARKER-77e2".repeat(2000);

    let (term_keys, name_key, stored_key) = {
        let backend = Arc::new(RedbBackend::open(&path).unwrap());
        let barrier = Arc::new(Barrier::new(backend.clone(), 100));
        barrier.initialize(&root).await.unwrap();
        barrier.unseal(&root).await.unwrap();
        let mut expected = BTreeMap::new();
        for (i, marker) in markers.iter().enumerate() {
            if i == markers.len() / 2 {
                barrier.rotate().await.unwrap();
            }
            let key = format!("secret/data/tenant/{i}");
            barrier.put(&key, marker.clone()).await.unwrap();
            expected.insert(key, marker.clone());
        }
        barrier.put("secret/big", big_marker.clone()).await.unwrap();
        // Overwrite and delete some, so freed pages are on disk too.
        barrier
            .put("secret/data/tenant/0", markers[1].clone())
            .await
            .unwrap();
        barrier.delete("secret/data/tenant/3").await.unwrap();
        for (key, value) in &expected {
            if key != "secret/data/tenant/0" && key != "secret/data/tenant/3" {
                assert_eq!(barrier.get(key).await.unwrap().as_ref(), Some(value));
            }
        }
        let term_keys = barrier.term_keys();
        assert_eq!(term_keys.len(), 2);
        let name_key = barrier.name_key().unwrap();
        let stored_key = barrier.stored("secret/data/tenant/1");
        barrier.seal();
        drop(barrier);
        backend.close();
        (term_keys, name_key, stored_key)
    };

    let file = std::fs::read(&path).unwrap();
    assert!(
        contains(&file, stored_key.as_bytes()),
        "sanity: keys are stored"
    );
    for name in ["secret", "tenant", "data/"] {
        assert!(
            !contains(&file, name.as_bytes()),
            "name {name} in the db file"
        );
    }
    assert!(!contains(&file, &name_key), "name key in the db file");
    for marker in &markers {
        assert!(!contains(&file, marker), "plaintext value in the db file");
    }
    assert!(
        !contains(&file, b"MAINKEY-BIG-MARKER"),
        "plaintext value in the db file"
    );
    assert!(!contains(&file, &root), "root key in the db file");
    for key in &term_keys {
        assert!(!contains(&file, key), "term key in the db file");
    }
}

/// Holds every read, after it has read, until the test releases it: a deterministic version of
/// the race between a reader and a writer (or a seal).
struct GatedReads {
    inner: InmemBackend,
    armed: AtomicBool,
    reached: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[async_trait]
impl Backend for GatedReads {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PhysicalError> {
        let value = self.inner.get(key).await;
        if self.armed.swap(false, Ordering::SeqCst) {
            self.reached.notify_one();
            self.release.notified().await;
        }
        value
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PhysicalError> {
        self.inner.list(prefix).await
    }

    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), PhysicalError> {
        self.inner.commit(ops).await
    }
}

async fn gated() -> (Arc<Barrier>, Arc<GatedReads>) {
    let backend = Arc::new(GatedReads {
        inner: InmemBackend::new(),
        armed: AtomicBool::new(false),
        reached: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
    });
    (unsealed_over(backend.clone(), 100).await, backend)
}

#[tokio::test]
async fn a_reader_that_raced_a_write_does_not_cache_the_old_value() {
    let (barrier, gate) = gated().await;
    barrier.put("k", b"old".to_vec()).await.unwrap();

    gate.armed.store(true, Ordering::SeqCst);
    let reader = tokio::spawn({
        let barrier = Arc::clone(&barrier);
        async move { barrier.get("k").await }
    });
    gate.reached.notified().await; // the reader holds "old", read before the write
    barrier.put("k", b"new".to_vec()).await.unwrap();
    gate.release.notify_one();

    // The overlapping read may return either value, but must not leave "old" in the cache.
    let raced = reader.await.unwrap().unwrap();
    assert_eq!(raced, Some(b"old".to_vec()));
    assert!(barrier.cached("k").is_none(), "stale value cached");
    assert_eq!(barrier.get("k").await.unwrap(), Some(b"new".to_vec()));
}

#[tokio::test]
async fn a_reader_that_raced_a_seal_does_not_fill_the_next_cache() {
    let (barrier, gate) = gated().await;
    barrier.put("k", b"v".to_vec()).await.unwrap();

    gate.armed.store(true, Ordering::SeqCst);
    let reader = tokio::spawn({
        let barrier = Arc::clone(&barrier);
        async move { barrier.get("k").await }
    });
    gate.reached.notified().await;
    barrier.seal();
    barrier.unseal(&ROOT).await.unwrap();
    gate.release.notify_one();

    // The read finishes against the new unsealed state, but its epoch is from before the seal.
    let _ = reader.await.unwrap();
    assert!(
        barrier.cached("k").is_none(),
        "pre-seal read reached the new cache"
    );
}

// Hidden names.

#[tokio::test]
async fn list_get_put_delete_round_trip_with_hidden_names() {
    let (barrier, backend) = unsealed().await;
    let keys = [
        "secret/tenant/acme-corp-7731/shopify",
        "secret/tenant/acme-corp-7731/stripe",
        "secret/tenant/globex/shopify",
        "secret/tenant/globex/deep/er/still",
        "secret/top",
        "other/x",
    ];
    for (i, key) in keys.iter().enumerate() {
        barrier.put(key, vec![i as u8]).await.unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            barrier.get(key).await.unwrap(),
            Some(vec![i as u8]),
            "{key}"
        );
    }
    assert_eq!(barrier.list("").await.unwrap(), vec!["other/", "secret/"]);
    assert_eq!(
        barrier.list("secret/").await.unwrap(),
        vec!["tenant/", "top"]
    );
    assert_eq!(
        barrier.list("secret/tenant/").await.unwrap(),
        vec!["acme-corp-7731/", "globex/"]
    );
    assert_eq!(
        barrier.list("secret/tenant/globex/").await.unwrap(),
        vec!["deep/", "shopify"]
    );
    // Empty lists: an absent directory, and a leaf listed as a directory.
    assert!(barrier.list("secret/nothing/").await.unwrap().is_empty());
    assert!(barrier.list("secret/top/").await.unwrap().is_empty());
    assert!(barrier.list("nope/").await.unwrap().is_empty());

    barrier
        .delete("secret/tenant/acme-corp-7731/stripe")
        .await
        .unwrap();
    barrier
        .delete("secret/tenant/acme-corp-7731/shopify")
        .await
        .unwrap();
    assert_eq!(
        barrier
            .get("secret/tenant/acme-corp-7731/shopify")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        barrier.list("secret/tenant/").await.unwrap(),
        vec!["globex/"]
    );
    assert!(barrier
        .list("secret/tenant/acme-corp-7731/")
        .await
        .unwrap()
        .is_empty());

    // No physical key holds a name.
    let raw = dump(backend.as_ref()).await;
    for (key, _) in &raw {
        if key == KEYRING_PATH {
            continue;
        }
        for name in [
            "secret", "tenant", "acme", "globex", "shopify", "other", "top",
        ] {
            assert!(!key.contains(name), "{name} in {key}");
        }
        for segment in key.split('/') {
            assert!(segment.len() >= 43, "{key}");
        }
    }
}

#[tokio::test]
async fn odd_segments_and_trailing_slashes() {
    let (barrier, _backend) = unsealed().await;
    let odd = [
        "p/ümlaut ☃",
        "p/with space/x",
        "p/nul\0byte",
        "p/dot.dot..",
        "p/a-b_c~d",
        "p/trailing/",
        "p/trailing/inner",
        "p//empty-middle",
        "p/%2F",
        "p/0",
        "p/-",
    ];
    for (i, key) in odd.iter().enumerate() {
        barrier.put(key, vec![i as u8]).await.unwrap();
    }
    for (i, key) in odd.iter().enumerate() {
        assert_eq!(
            barrier.get(key).await.unwrap(),
            Some(vec![i as u8]),
            "{key:?}"
        );
    }
    // `p/trailing/` is a key of its own, distinct from `p/trailing` (absent).
    assert_eq!(barrier.get("p/trailing").await.unwrap(), None);
    assert_eq!(
        barrier.list("p/").await.unwrap(),
        vec![
            "%2F",
            "-",
            "/",
            "0",
            "a-b_c~d",
            "dot.dot..",
            "nul\0byte",
            "trailing/",
            "with space/",
            "ümlaut ☃"
        ]
    );
    // Listing the directory `p/trailing/` shows its child, not the key named like it.
    assert_eq!(barrier.list("p/trailing/").await.unwrap(), vec!["inner"]);
    assert_eq!(barrier.list("p//").await.unwrap(), vec!["empty-middle"]);
    assert_eq!(barrier.get("").await.unwrap(), None);
}

#[tokio::test]
async fn a_prefix_inside_a_segment_lists_as_over_plaintext_keys() {
    let (barrier, _backend) = unsealed().await;
    let plain = crate::logical::InmemStorage::new();
    for key in ["a/b", "a/bc", "a/b/c", "a/bd/e", "a/x", "ab", "b"] {
        barrier.put(key, vec![1]).await.unwrap();
        plain.put(key, vec![1]).await.unwrap();
    }
    for prefix in ["a/b", "a/", "a", "a/bc", "a/z", "", "b", "a/b/", "a/b/c"] {
        assert_eq!(
            barrier.list(prefix).await.unwrap(),
            plain.list(prefix).await.unwrap(),
            "prefix {prefix:?}"
        );
    }
}

mod list_property {
    use proptest::prelude::*;

    use super::*;

    fn key() -> impl Strategy<Value = String> {
        // A small alphabet with the separator, so keys share parents and hit every edge:
        // empty segments, trailing '/', names that are prefixes of others.
        proptest::collection::vec(prop_oneof!["a", "b", "ab", "/", "é", "\0"], 0..7)
            .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The barrier's LIST and GET, over hidden names, answer exactly what a plaintext
        /// storage answers, for every prefix of every key.
        #[test]
        fn hidden_names_are_invisible_to_callers(
            keys in proptest::collection::vec(key(), 1..12),
            deleted in proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let (barrier, _backend) = unsealed().await;
                let plain = crate::logical::InmemStorage::new();
                for (i, key) in keys.iter().enumerate() {
                    barrier.put(key, vec![i as u8]).await.unwrap();
                    plain.put(key, vec![i as u8]).await.unwrap();
                }
                for index in &deleted {
                    let key = index.get(&keys);
                    barrier.delete(key).await.unwrap();
                    plain.delete(key).await.unwrap();
                }
                let mut prefixes: Vec<String> = vec![String::new()];
                for key in &keys {
                    for (i, _) in key.char_indices() {
                        prefixes.push(key[..i].to_string());
                    }
                    prefixes.push(key.clone());
                }
                for prefix in &prefixes {
                    assert_eq!(
                        barrier.list(prefix).await.unwrap(),
                        plain.list(prefix).await.unwrap(),
                        "list {prefix:?} of {keys:?}"
                    );
                    assert_eq!(
                        barrier.get(prefix).await.unwrap(),
                        plain.get(prefix).await.unwrap(),
                        "get {prefix:?}"
                    );
                }
            });
        }
    }
}

#[tokio::test]
async fn rotate_keeps_names_findable() {
    let (barrier, backend) = unsealed().await;
    barrier.put("tenant/acme/a", b"1".to_vec()).await.unwrap();
    let name_key = barrier.name_key().unwrap();
    let stored = barrier.stored("tenant/acme/a");

    barrier.rotate().await.unwrap();
    assert_eq!(
        barrier.name_key().unwrap(),
        name_key,
        "rotate changed the name key"
    );
    assert_eq!(barrier.stored("tenant/acme/a"), stored);
    barrier.put("tenant/acme/b", b"2".to_vec()).await.unwrap();
    assert_eq!(barrier.list("tenant/acme/").await.unwrap(), vec!["a", "b"]);

    // And durably: the stored keyring carries the same name key.
    barrier.seal();
    barrier.unseal(&ROOT).await.unwrap();
    assert_eq!(barrier.key_status().unwrap().term, 2);
    assert_eq!(barrier.name_key().unwrap(), name_key);
    assert_eq!(
        barrier.get("tenant/acme/a").await.unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(
        barrier.get("tenant/acme/b").await.unwrap(),
        Some(b"2".to_vec())
    );
    assert_eq!(barrier.list("tenant/").await.unwrap(), vec!["acme/"]);
    assert!(backend.get(&stored).await.unwrap().is_some());
}

#[tokio::test]
async fn seal_drops_the_name_key() {
    let (barrier, _backend) = unsealed().await;
    assert!(barrier.name_key().is_some());
    barrier.put("a/b/c", vec![1]).await.unwrap();
    let dirs = |barrier: &Barrier| {
        let state = barrier.state.read();
        let dirs = &state.as_ref().unwrap().dirs;
        dirs.run_pending_tasks();
        dirs.entry_count()
    };
    assert_eq!(dirs(&barrier), 1, "the directory's encoding is cached");
    barrier.seal();
    assert!(barrier.name_key().is_none(), "name key survived seal");
    assert!(matches!(
        barrier.list("x/").await,
        Err(logical::Error::Sealed)
    ));
    assert!(matches!(
        barrier.delete("x").await,
        Err(logical::Error::Sealed)
    ));
    barrier.unseal(&ROOT).await.unwrap();
    assert_eq!(dirs(&barrier), 0, "encoded directories survived seal");
    assert_eq!(barrier.get("a/b/c").await.unwrap(), Some(vec![1]));
}

#[tokio::test]
async fn a_tampered_stored_name_fails_the_list() {
    let (barrier, backend) = unsealed().await;
    barrier.put("d/good", vec![1]).await.unwrap();
    let (dir, _) = barrier
        .state
        .read()
        .as_ref()
        .unwrap()
        .keyring
        .names()
        .encode_dir("d/")
        .unwrap();
    // A name encrypted under another parent, moved here.
    let foreign = barrier.stored("e/evil");
    let foreign_name = foreign.split('/').nth(1).unwrap();
    backend
        .commit(vec![StorageOp::Put(
            format!("{dir}{foreign_name}"),
            vec![1],
        )])
        .await
        .unwrap();
    let err = barrier.list("d/").await.unwrap_err();
    assert!(matches!(err, logical::Error::Internal(_)), "{err:?}");
    assert!(err.to_string().contains("decode names"), "{err}");
}

// Migration of a database from before hidden names.

const SEAL_CONFIG: (&str, &[u8]) = ("core/seal-config", br#"{"secret_shares":1}"#);

/// A backend as the previous format left it: a format-1 keyring, every barrier entry under
/// its plaintext path, and the plaintext seal configuration.
async fn legacy_backend(backend: &dyn Backend, entries: &[(&str, &[u8])]) {
    let keyring = Keyring::generate(&ROOT).unwrap().rotated().unwrap();
    let mut ops = vec![
        StorageOp::Put(
            KEYRING_PATH.into(),
            keyring.to_legacy_sealed_blob(KEYRING_PATH).unwrap(),
        ),
        StorageOp::Put(SEAL_CONFIG.0.into(), SEAL_CONFIG.1.to_vec()),
    ];
    for (path, value) in entries {
        ops.push(StorageOp::Put(
            path.to_string(),
            keyring.encrypt(path, value).unwrap(),
        ));
    }
    backend.commit(ops).await.unwrap();
}

const LEGACY: &[(&str, &[u8])] = &[
    ("core/mounts", b"mount table"),
    ("logical/abc/data/tenant/acme-corp-7731/shopify", b"v1"),
    ("logical/abc/meta/tenant/acme-corp-7731/shopify", b"m1"),
    ("sys/identity/alias-key/approle/8f14e45f-role-id", b"alias"),
    ("sys/token/id/h1", b"tok"),
    ("dir/", b"a key that ends in a slash"),
];

#[tokio::test]
async fn a_legacy_database_is_migrated_on_first_unseal() {
    let backend = Arc::new(InmemBackend::new());
    legacy_backend(backend.as_ref(), LEGACY).await;
    let barrier = Arc::new(Barrier::new(backend.clone(), 100));
    barrier.unseal(&ROOT).await.unwrap();

    for (path, value) in LEGACY {
        assert_eq!(
            barrier.get(path).await.unwrap().as_deref(),
            Some(*value),
            "{path}"
        );
    }
    assert_eq!(
        barrier.list("").await.unwrap(),
        vec!["core/", "dir/", "logical/", "sys/"]
    );
    assert_eq!(
        barrier.list("logical/abc/data/tenant/").await.unwrap(),
        vec!["acme-corp-7731/"]
    );
    assert_eq!(barrier.key_status().unwrap().term, 2, "terms kept");

    // Physically, only the keyring and the seal configuration keep plaintext keys.
    let after = dump(backend.as_ref()).await;
    assert_eq!(after.len(), LEGACY.len() + 2);
    let plaintext: Vec<&str> = after
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with(RAW_DIR))
        .collect();
    assert_eq!(plaintext, vec![KEYRING_PATH, SEAL_CONFIG.0]);
    for (key, _) in &after {
        for name in ["acme", "role-id", "logical", "sys/", "mounts", "dir"] {
            assert!(!key.contains(name), "{name} in {key}");
        }
    }
    assert!(after.contains(&(SEAL_CONFIG.0.to_string(), SEAL_CONFIG.1.to_vec())));

    // Once migrated, it stays: the next unseal changes nothing, and writes keep working.
    let name_key = barrier.name_key().unwrap();
    barrier.seal();
    barrier.unseal(&ROOT).await.unwrap();
    assert_eq!(dump(backend.as_ref()).await, after);
    assert_eq!(barrier.name_key().unwrap(), name_key);
    barrier
        .put("core/mounts", b"new table".to_vec())
        .await
        .unwrap();
    assert_eq!(
        barrier.get("core/mounts").await.unwrap(),
        Some(b"new table".to_vec())
    );
}

/// Fails the first `fail` commits, to stand for a process that died before its commit.
struct FailingCommits {
    inner: InmemBackend,
    fail: AtomicU64,
}

#[async_trait]
impl Backend for FailingCommits {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PhysicalError> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, PhysicalError> {
        self.inner.list(prefix).await
    }
    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), PhysicalError> {
        if self.fail.load(Ordering::SeqCst) > 0 {
            self.fail.fetch_sub(1, Ordering::SeqCst);
            return Err(PhysicalError::Io("commit: injected crash".into()));
        }
        self.inner.commit(ops).await
    }
}

#[tokio::test]
async fn a_failed_migration_changes_nothing_and_the_next_unseal_retries() {
    let backend = Arc::new(FailingCommits {
        inner: InmemBackend::new(),
        fail: AtomicU64::new(0),
    });
    legacy_backend(backend.as_ref(), LEGACY).await;
    let before = dump(backend.as_ref()).await;
    backend.fail.store(1, Ordering::SeqCst);

    let barrier = Arc::new(Barrier::new(backend.clone(), 100));
    let err = barrier.unseal(&ROOT).await.unwrap_err();
    assert!(matches!(err, logical::Error::Internal(_)), "{err:?}");
    assert!(err.to_string().contains("migration"), "{err}");
    assert!(barrier.is_sealed());
    assert_eq!(
        dump(backend.as_ref()).await,
        before,
        "a failed migration changed the file"
    );

    barrier.unseal(&ROOT).await.unwrap();
    for (path, value) in LEGACY {
        assert_eq!(
            barrier.get(path).await.unwrap().as_deref(),
            Some(*value),
            "{path}"
        );
    }
    assert_ne!(dump(backend.as_ref()).await, before);
}

#[tokio::test]
async fn a_legacy_database_with_an_entry_that_does_not_decrypt_is_refused() {
    let backend = Arc::new(InmemBackend::new());
    legacy_backend(backend.as_ref(), LEGACY).await;
    backend
        .commit(vec![StorageOp::Put(
            "logical/abc/data/garbage".into(),
            b"not barrier ciphertext".to_vec(),
        )])
        .await
        .unwrap();
    let before = dump(backend.as_ref()).await;
    let barrier = Arc::new(Barrier::new(backend.clone(), 100));
    let err = barrier.unseal(&ROOT).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot migrate") && msg.contains("1 entries"),
        "{msg}"
    );
    assert!(!msg.contains("garbage"), "the error names a path: {msg}");
    assert!(barrier.is_sealed());
    assert_eq!(dump(backend.as_ref()).await, before);
    // A wrong root key is still just a failed unseal, with nothing touched.
    let fresh = Barrier::new(backend.clone(), 1);
    assert!(fresh.unseal(&[8u8; KEY_LEN]).await.is_err());
    assert_eq!(dump(backend.as_ref()).await, before);
}

#[tokio::test]
async fn a_legacy_redb_file_is_migrated_and_its_live_keys_hide_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mainkey.db");
    {
        let backend = Arc::new(RedbBackend::open(&path).unwrap());
        legacy_backend(backend.as_ref(), LEGACY).await;
        backend.close();
    }
    let backend = Arc::new(RedbBackend::open(&path).unwrap());
    let barrier = Arc::new(Barrier::new(backend.clone(), 100));
    barrier.unseal(&ROOT).await.unwrap();
    for (path, value) in LEGACY {
        assert_eq!(
            barrier.get(path).await.unwrap().as_deref(),
            Some(*value),
            "{path}"
        );
    }
    for (key, _) in dump(backend.as_ref()).await {
        assert!(key.starts_with(RAW_DIR) || !key.contains("acme"), "{key}");
    }
    barrier.seal();
    backend.close();
}

/// Cost of hidden names, for the report: `cargo test --release --lib barrier::tests::bench
/// -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn bench_name_encoding() {
    let (barrier, _backend) = unsealed().await;
    let path = "logical/5c1d9a2e-8f7b-4c3d-9e1a-2b3c4d5e6f70/data/tenant/acme-corp-7731/shopify";
    let names = Keyring::generate(&ROOT).unwrap();
    let names = names.names();
    const N: u32 = 100_000;
    let start = std::time::Instant::now();
    for _ in 0..N {
        std::hint::black_box(names.encode_path(std::hint::black_box(path)).unwrap());
    }
    let encode = start.elapsed() / N;
    let (dir, parent) = names.encode_dir("logical/x/data/tenant/").unwrap();
    let child = names
        .encode_path("logical/x/data/tenant/acme-corp-7731")
        .unwrap();
    let child = child.strip_prefix(&dir).unwrap().to_string();
    let start = std::time::Instant::now();
    for _ in 0..N {
        std::hint::black_box(
            names
                .decode_children(parent.as_ref(), [child.as_str()])
                .unwrap(),
        );
    }
    let decode = start.elapsed() / N;

    let start = std::time::Instant::now();
    for _ in 0..N {
        let state = barrier.state.read();
        let unsealed = state.as_ref().unwrap();
        std::hint::black_box(unsealed.encode_path(std::hint::black_box(path)).unwrap());
    }
    let cached_dir = start.elapsed() / N;

    barrier.put(path, vec![7; 200]).await.unwrap();
    let start = std::time::Instant::now();
    for _ in 0..N {
        std::hint::black_box(barrier.get(path).await.unwrap());
    }
    let hit = start.elapsed() / N;
    let keyring = Keyring::generate(&ROOT).unwrap();
    let blob = keyring.encrypt(path, &[7; 200]).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..N {
        std::hint::black_box(keyring.decrypt(path, &blob).unwrap());
    }
    let value_decrypt = start.elapsed() / N;
    println!(
        "encode 7-segment path: {encode:?}; with its directory cached: {cached_dir:?}; \
         decode one name: {decode:?}; cache hit: {hit:?}; \
         decrypt a 200-byte value (for scale): {value_decrypt:?}"
    );
}
