//! Both backends against a `BTreeMap` model, plus the shared child scan.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

/// The obvious, slow definition of a listing that `scan_children` must agree with.
fn model_list(model: &BTreeMap<String, Vec<u8>>, prefix: &str) -> Vec<String> {
    let children: BTreeSet<String> = model
        .keys()
        .filter_map(|k| k.strip_prefix(prefix))
        .filter(|rest| !rest.is_empty())
        .map(|rest| match rest.find('/') {
            Some(i) => rest[..=i].to_string(),
            None => rest.to_string(),
        })
        .collect();
    children.into_iter().collect()
}

#[derive(Debug, Clone)]
enum Step {
    Commit(Vec<StorageOp>),
    Get(String),
    List(String),
}

/// Segments chosen around '/' in byte order ('!' and '.' sort before it, '0' right after), so
/// the subtree skip of `scan_children` meets its edge cases.
fn segment() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "a0", "a!", "a.b", "ab", "é"]).prop_map(String::from)
}

fn key() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..4).prop_map(|segments| segments.join("/"))
}

/// Directory prefixes (`""`, `a/`, `a/b/`) and a few that do not end in '/'.
fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(segment(), 0..3)
            .prop_map(|s| { s.iter().map(|seg| format!("{seg}/")).collect::<String>() }),
        key(),
    ]
}

fn op() -> impl Strategy<Value = StorageOp> {
    prop_oneof![
        (key(), prop::collection::vec(any::<u8>(), 0..16)).prop_map(|(k, v)| StorageOp::Put(k, v)),
        key().prop_map(StorageOp::Delete),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        prop::collection::vec(op(), 0..6).prop_map(Step::Commit),
        key().prop_map(Step::Get),
        prefix().prop_map(Step::List),
    ]
}

fn check_against_model(backend: &dyn Backend, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    runtime.block_on(async {
        let mut model = BTreeMap::new();
        for step in steps {
            match step {
                Step::Commit(ops) => {
                    backend.commit(ops.clone()).await.unwrap();
                    for op in ops {
                        match op {
                            StorageOp::Put(k, v) => {
                                model.insert(k, v);
                            }
                            StorageOp::Delete(k) => {
                                model.remove(&k);
                            }
                        }
                    }
                }
                Step::Get(key) => {
                    prop_assert_eq!(backend.get(&key).await.unwrap(), model.get(&key).cloned());
                }
                Step::List(prefix) => {
                    prop_assert_eq!(
                        backend.list(&prefix).await.unwrap(),
                        model_list(&model, &prefix),
                        "list {:?}",
                        prefix
                    );
                }
            }
        }
        // Finally every directory of the final state, so lists are checked on full trees too.
        for prefix in ["", "a/", "a!/", "a/a/", "é/"] {
            prop_assert_eq!(
                backend.list(prefix).await.unwrap(),
                model_list(&model, prefix)
            );
        }
        Ok(())
    })
}

proptest! {
    #[test]
    fn inmem_matches_model(steps in prop::collection::vec(step(), 0..60)) {
        check_against_model(&InmemBackend::new(), steps)?;
    }
}

proptest! {
    // Every commit of the redb backend is an fsync, so fewer, shorter cases.
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn redb_matches_model(steps in prop::collection::vec(step(), 0..40)) {
        let dir = tempfile::tempdir().unwrap();
        let backend = RedbBackend::open(&dir.path().join("db")).unwrap();
        check_against_model(&backend, steps)?;
    }
}

#[test]
fn scan_children_skips_subtrees_and_keeps_order() {
    let keys = ["a", "a!", "a/x", "a/y/z", "a0", "b/c", "b/c/d", "ba", "c"];
    let mut seeks = 0;
    let children = scan_children("", |from| {
        seeks += 1;
        Ok::<_, ()>(
            keys.iter()
                .filter(move |k| **k >= from)
                .map(|k| Ok(*k))
                .collect::<Vec<_>>()
                .into_iter(),
        )
    })
    .unwrap();
    assert_eq!(children, vec!["a", "a!", "a/", "a0", "b/", "ba", "c"]);
    // One initial seek plus one per subtree skipped (a/ and b/).
    assert_eq!(seeks, 3);

    let nested = scan_children("b/", |from| {
        Ok::<_, ()>(
            keys.iter()
                .filter(move |k| **k >= from)
                .map(|k| Ok(*k))
                .collect::<Vec<_>>()
                .into_iter(),
        )
    })
    .unwrap();
    assert_eq!(nested, vec!["c", "c/"]);
}

#[test]
fn a_missing_storage_directory_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("data/mainkey");
    let backend = RedbBackend::open(&nested.join("mainkey.redb")).unwrap();
    drop(backend);
    for d in [dir.path().join("data"), nested.clone()] {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    // A directory that exists keeps its mode.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(RedbBackend::open(&open.join("db")).unwrap());
    let mode = std::fs::metadata(&open).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
}

/// Both backends: a snapshot is every entry in key order, and a restore replaces everything,
/// so keys written after the snapshot are gone again.
#[tokio::test]
async fn snapshot_then_restore_gives_back_exactly_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let redb = RedbBackend::open(&dir.path().join("db")).unwrap();
    let inmem = InmemBackend::new();
    for backend in [&redb as &dyn Backend, &inmem] {
        backend
            .commit(vec![
                StorageOp::Put("b".into(), b"2".to_vec()),
                StorageOp::Put("a/x".into(), b"1".to_vec()),
            ])
            .await
            .unwrap();
        let snapshot = backend.snapshot().await.unwrap();
        assert_eq!(
            snapshot,
            vec![
                ("a/x".to_string(), b"1".to_vec()),
                ("b".into(), b"2".to_vec())
            ]
        );
        backend
            .commit(vec![
                StorageOp::Put("c".into(), b"3".to_vec()),
                StorageOp::Put("b".into(), b"changed".to_vec()),
            ])
            .await
            .unwrap();
        backend.restore(snapshot.clone()).await.unwrap();
        assert_eq!(backend.snapshot().await.unwrap(), snapshot);
        assert_eq!(backend.get("c").await.unwrap(), None);
        assert_eq!(backend.list("").await.unwrap(), vec!["a/", "b"]);
        // The group-commit writer still works after a restore took the write lock.
        backend
            .commit(vec![StorageOp::Put("d".into(), b"4".to_vec())])
            .await
            .unwrap();
        assert_eq!(backend.get("d").await.unwrap(), Some(b"4".to_vec()));
    }
}
