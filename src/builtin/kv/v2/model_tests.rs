//! A model test: random sequences of KV v2 operations against a plain in-memory model of
//! versions. Every answer, the final metadata, the listing and the stored version records
//! must agree with the model.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{json, Value};

use super::store::version_key;
use super::KvV2;
use crate::clock::{ManualClock, SharedClock};
use crate::logical::fields::into_map;
use crate::logical::{Backend, Error, InmemStorage, Map, Operation, Request, Storage};

const KEYS: [&str; 3] = ["a", "a/b", "b"];

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: usize,
        value: u8,
        cas: Option<u8>,
    },
    Patch {
        key: usize,
        field: u8,
        value: Option<u8>,
    },
    DeleteLatest {
        key: usize,
    },
    Delete {
        key: usize,
        versions: Vec<u8>,
    },
    Undelete {
        key: usize,
        versions: Vec<u8>,
    },
    Destroy {
        key: usize,
        versions: Vec<u8>,
    },
    Read {
        key: usize,
        version: Option<u8>,
    },
    DeleteMetadata {
        key: usize,
    },
    SetMaxVersions {
        key: usize,
        max: u8,
    },
    Tick,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let versions = prop::collection::vec(0u8..8, 0..3);
    prop_oneof![
        4 => (key.clone(), any::<u8>(), prop::option::weighted(0.3, 0u8..6))
            .prop_map(|(key, value, cas)| Op::Put { key, value, cas }),
        2 => (key.clone(), 0u8..3, prop::option::of(any::<u8>()))
            .prop_map(|(key, field, value)| Op::Patch { key, field, value }),
        1 => key.clone().prop_map(|key| Op::DeleteLatest { key }),
        1 => (key.clone(), versions.clone()).prop_map(|(key, versions)| Op::Delete { key, versions }),
        1 => (key.clone(), versions.clone()).prop_map(|(key, versions)| Op::Undelete { key, versions }),
        1 => (key.clone(), versions).prop_map(|(key, versions)| Op::Destroy { key, versions }),
        3 => (key.clone(), prop::option::of(0u8..8)).prop_map(|(key, version)| Op::Read { key, version }),
        1 => key.clone().prop_map(|key| Op::DeleteMetadata { key }),
        1 => (key, 0u8..4).prop_map(|(key, max)| Op::SetMaxVersions { key, max }),
        1 => Just(Op::Tick),
    ]
}

#[derive(Debug, Clone)]
struct ModelVersion {
    data: Map,
    deleted: bool,
    destroyed: bool,
}

impl ModelVersion {
    fn live(&self) -> bool {
        !self.deleted && !self.destroyed
    }
}

#[derive(Debug, Clone, Default)]
struct ModelKey {
    versions: BTreeMap<u64, ModelVersion>,
    current: u64,
    oldest: u64,
    max_versions: u32,
}

impl ModelKey {
    fn prune(&mut self) {
        let max = if self.max_versions == 0 {
            10
        } else {
            u64::from(self.max_versions)
        };
        if self.versions.len() as u64 > max {
            let last = self.current - max;
            self.versions.retain(|n, _| *n > last);
            self.oldest = last + 1;
        }
    }
}

/// What a request should answer.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// 200 (or 204) with this data, when it matters.
    Ok(Option<Value>),
    /// A 404 response that still carries a body.
    Gone,
    NotFound,
    BadRequest,
}

struct Run {
    kv: KvV2,
    storage: InmemStorage,
    clock: Arc<ManualClock>,
    model: BTreeMap<&'static str, ModelKey>,
    /// The highest version each key ever reached, to check no stale record survives.
    ever: BTreeMap<&'static str, u64>,
}

impl Run {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_795_613_361),
        ));
        let shared: SharedClock = clock.clone();
        Run {
            kv: KvV2::new(shared),
            storage: InmemStorage::new(),
            clock,
            model: BTreeMap::new(),
            ever: BTreeMap::new(),
        }
    }

    async fn send(&self, op: Operation, path: String, data: Value) -> Outcome {
        let req = Request::new(op, path).with_data(into_map(data));
        match self.kv.handle(&req, &self.storage).await {
            // A PATCH of something missing: Vault's bodiless 404.
            Ok(r) if r.raw.as_ref().is_some_and(|raw| raw.status == 404) => Outcome::NotFound,
            Ok(r) if r.status == Some(404) => Outcome::Gone,
            Ok(r) => Outcome::Ok(r.data.map(Value::Object)),
            Err(Error::NotFound) => Outcome::NotFound,
            Err(Error::BadRequest(_)) => Outcome::BadRequest,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }

    fn versions_body(versions: &[u8]) -> Value {
        json!({ "versions": versions })
    }

    /// Applies `op` to both and checks the answer.
    async fn step(&mut self, op: &Op) {
        match op {
            Op::Put { key, value, cas } => {
                let k = KEYS[*key];
                let current = self.model.get(k).map_or(0, |m| m.current);
                let mut body = json!({"data": {"v": value}});
                if let Some(c) = cas {
                    body["options"] = json!({"cas": c});
                }
                let got = self
                    .send(Operation::Update, format!("data/{k}"), body)
                    .await;
                if cas.is_some_and(|c| u64::from(c) != current) {
                    assert_eq!(got, Outcome::BadRequest, "{op:?}");
                    return;
                }
                let m = self.model.entry(k).or_default();
                m.current += 1;
                m.versions.insert(
                    m.current,
                    ModelVersion {
                        data: into_map(json!({"v": value})),
                        deleted: false,
                        destroyed: false,
                    },
                );
                m.prune();
                self.ever.insert(k, m.current);
                let Outcome::Ok(Some(body)) = got else {
                    panic!("{op:?}: {got:?}");
                };
                assert_eq!(body["version"], json!(m.current));
            }
            Op::Patch { key, field, value } => {
                let k = KEYS[*key];
                let field_name = format!("f{field}");
                let body = json!({"data": {field_name.clone(): value}});
                let got = self.send(Operation::Patch, format!("data/{k}"), body).await;
                let Some(m) = self.model.get_mut(k) else {
                    assert_eq!(got, Outcome::NotFound, "{op:?}");
                    return;
                };
                let Some(latest) = m.versions.get(&m.current).cloned() else {
                    assert_eq!(got, Outcome::NotFound, "{op:?}");
                    return;
                };
                if !latest.live() {
                    assert_eq!(got, Outcome::Gone, "{op:?}");
                    return;
                }
                let mut data = latest.data;
                match value {
                    Some(v) => data.insert(field_name, json!(v)),
                    None => data.remove(&field_name),
                };
                m.current += 1;
                m.versions.insert(
                    m.current,
                    ModelVersion {
                        data,
                        deleted: false,
                        destroyed: false,
                    },
                );
                m.prune();
                self.ever.insert(k, m.current);
                assert!(matches!(got, Outcome::Ok(Some(_))), "{op:?}: {got:?}");
            }
            Op::DeleteLatest { key } => {
                let k = KEYS[*key];
                let got = self
                    .send(Operation::Delete, format!("data/{k}"), json!({}))
                    .await;
                assert_eq!(got, Outcome::Ok(None));
                if let Some(m) = self.model.get_mut(k) {
                    let current = m.current;
                    if let Some(v) = m.versions.get_mut(&current) {
                        if !v.destroyed {
                            v.deleted = true;
                        }
                    }
                }
            }
            Op::Delete { key, versions }
            | Op::Undelete { key, versions }
            | Op::Destroy { key, versions } => {
                let k = KEYS[*key];
                let verb = match op {
                    Op::Delete { .. } => "delete",
                    Op::Undelete { .. } => "undelete",
                    _ => "destroy",
                };
                let got = self
                    .send(
                        Operation::Update,
                        format!("{verb}/{k}"),
                        Self::versions_body(versions),
                    )
                    .await;
                if versions.is_empty() {
                    assert_eq!(got, Outcome::BadRequest);
                    return;
                }
                assert_eq!(got, Outcome::Ok(None));
                let Some(m) = self.model.get_mut(k) else {
                    return;
                };
                for n in versions {
                    let Some(v) = m.versions.get_mut(&u64::from(*n)) else {
                        continue;
                    };
                    if v.destroyed {
                        continue;
                    }
                    match verb {
                        "delete" => v.deleted = true,
                        "undelete" => v.deleted = false,
                        _ => v.destroyed = true,
                    }
                }
            }
            Op::Read { key, version } => {
                let k = KEYS[*key];
                let body = match version {
                    Some(n) => json!({"version": n.to_string()}),
                    None => json!({}),
                };
                let got = self.send(Operation::Read, format!("data/{k}"), body).await;
                let want = match self.model.get(k) {
                    None => Outcome::NotFound,
                    Some(m) => {
                        let n = version
                            .map(u64::from)
                            .filter(|n| *n > 0)
                            .unwrap_or(m.current);
                        match m.versions.get(&n) {
                            None => Outcome::NotFound,
                            Some(v) if !v.live() => Outcome::Gone,
                            Some(v) => Outcome::Ok(Some(Value::Object(v.data.clone()))),
                        }
                    }
                };
                let got = match got {
                    Outcome::Ok(Some(body)) => Outcome::Ok(Some(body["data"].clone())),
                    other => other,
                };
                assert_eq!(got, want, "{op:?}");
            }
            Op::DeleteMetadata { key } => {
                let k = KEYS[*key];
                let got = self
                    .send(Operation::Delete, format!("metadata/{k}"), json!({}))
                    .await;
                assert_eq!(got, Outcome::Ok(None));
                self.model.remove(k);
            }
            Op::SetMaxVersions { key, max } => {
                let k = KEYS[*key];
                let got = self
                    .send(
                        Operation::Update,
                        format!("metadata/{k}"),
                        json!({"max_versions": max}),
                    )
                    .await;
                assert_eq!(got, Outcome::Ok(None));
                self.model.entry(k).or_default().max_versions = u32::from(*max);
            }
            Op::Tick => self.clock.advance(Duration::from_secs(1)),
        }
    }

    /// The final state: metadata of every key, the listing and the stored records.
    async fn check_final(&self) {
        for k in KEYS {
            let got = self
                .send(Operation::Read, format!("metadata/{k}"), json!({}))
                .await;
            let Some(m) = self.model.get(k) else {
                assert_eq!(got, Outcome::NotFound, "metadata/{k}");
                continue;
            };
            let Outcome::Ok(Some(meta)) = got else {
                panic!("metadata/{k}: {got:?}");
            };
            assert_eq!(meta["current_version"], json!(m.current), "{k}");
            assert_eq!(meta["oldest_version"], json!(m.oldest), "{k}");
            let mut want: Vec<String> = m.versions.keys().map(u64::to_string).collect();
            want.sort();
            let got: Vec<String> = meta["versions"]
                .as_object()
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default();
            assert_eq!(got, want, "{k}");
            for (n, v) in &m.versions {
                assert_eq!(
                    meta["versions"][n.to_string()]["destroyed"],
                    json!(v.destroyed)
                );
                // A destroyed version keeps whatever deletion time it had.
                if !v.destroyed {
                    let deleted = meta["versions"][n.to_string()]["deletion_time"] != json!("");
                    assert_eq!(deleted, v.deleted, "{k} v{n}");
                }
            }
        }
        // Only live-or-deleted (not destroyed, not pruned) versions of existing keys are stored.
        for (k, last) in &self.ever {
            for n in 1..=*last {
                let stored = self
                    .storage
                    .get(&version_key(k, n))
                    .await
                    .unwrap_or(None)
                    .is_some();
                let want = self
                    .model
                    .get(k)
                    .and_then(|m| m.versions.get(&n))
                    .is_some_and(|v| !v.destroyed);
                assert_eq!(stored, want, "record of {k} v{n}");
            }
        }
        let got = self
            .send(Operation::List, "metadata/".into(), json!({}))
            .await;
        let mut want: Vec<String> = Vec::new();
        for k in self.model.keys() {
            let top = match k.split_once('/') {
                Some((dir, _)) => format!("{dir}/"),
                None => k.to_string(),
            };
            if !want.contains(&top) {
                want.push(top);
            }
        }
        want.sort();
        if want.is_empty() {
            assert_eq!(got, Outcome::NotFound);
        } else {
            assert_eq!(got, Outcome::Ok(Some(json!({ "keys": want }))));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn kv_v2_agrees_with_a_model_of_versions(ops in prop::collection::vec(op_strategy(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(async {
            let mut run = Run::new();
            for op in &ops {
                run.step(op).await;
            }
            run.check_final().await;
        });
    }
}
