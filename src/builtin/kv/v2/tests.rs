//! Unit tests of every KV v2 endpoint over `InmemStorage` and a `ManualClock`. Expected
//! bodies and messages come from OpenBao 2.7.2's answers to the same requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::store::{meta_key, version_key};
use super::KvV2;
use crate::clock::{rfc3339, Clock, ManualClock, SharedClock};
use crate::logical::fields::into_map;
use crate::logical::{
    Backend, Error, InmemStorage, Map, Operation, Request, Response, Storage, StorageOp,
};

use Operation::{Delete, List, Patch, Read, Update};

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_795_613_361, 410_178_030)
}

struct Harness {
    kv: KvV2,
    storage: InmemStorage,
    clock: Arc<ManualClock>,
}

impl Harness {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let shared: SharedClock = clock.clone();
        Harness {
            kv: KvV2::new(shared),
            storage: InmemStorage::new(),
            clock,
        }
    }

    async fn call(&self, op: Operation, path: &str, data: Value) -> Result<Response, Error> {
        self.kv
            .handle(
                &Request::new(op, path).with_data(into_map(data)),
                &self.storage,
            )
            .await
    }

    /// A request that must succeed; returns its data (or `null`) and status.
    async fn ok(&self, op: Operation, path: &str, data: Value) -> (Value, u16) {
        match self.call(op, path, data).await {
            Ok(r) => {
                let status = r
                    .status
                    .unwrap_or(if r.warnings.is_empty() && r.data.is_none() {
                        204
                    } else {
                        200
                    });
                (r.data.map_or(Value::Null, Value::Object), status)
            }
            Err(e) => panic!("{op:?} {path}: {e}"),
        }
    }

    /// A request answered with Vault's bodiless 404 (a PATCH of something missing).
    async fn empty_404(&self, op: Operation, path: &str, data: Value) -> bool {
        match self.call(op, path, data).await {
            Ok(r) => r
                .raw
                .is_some_and(|raw| raw.status == 404 && raw.body.is_empty()),
            Err(_) => false,
        }
    }

    async fn err(&self, op: Operation, path: &str, data: Value) -> Error {
        match self.call(op, path, data).await {
            Ok(r) => panic!("{op:?} {path}: expected an error, got {r:?}"),
            Err(e) => e,
        }
    }

    async fn bad(&self, op: Operation, path: &str, data: Value) -> String {
        match self.err(op, path, data).await {
            Error::BadRequest(m) => m,
            e => panic!("{op:?} {path}: expected 400, got {e:?}"),
        }
    }

    fn now(&self) -> String {
        rfc3339(self.clock.now())
    }

    fn tick(&self) {
        self.clock.advance(Duration::from_millis(10));
    }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

const VERSION_KEYS: [&str; 5] = [
    "created_time",
    "custom_metadata",
    "deletion_time",
    "destroyed",
    "version",
];

#[tokio::test]
async fn write_then_read_latest_and_by_version() {
    let h = Harness::new();
    let t1 = h.now();
    let (body, status) = h
        .ok(
            Update,
            "data/foo",
            json!({"data": {"b": "2", "a": 1, "n": {"x": null}}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"created_time": t1, "custom_metadata": null, "deletion_time": "", "destroyed": false, "version": 1})
    );
    assert_eq!(keys(&body), VERSION_KEYS);

    h.tick();
    let t2 = h.now();
    h.ok(Update, "data/foo", json!({"data": {"x": "2"}})).await;

    let (body, status) = h.ok(Read, "data/foo", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"data": {"x": "2"}, "metadata": {"created_time": t2, "custom_metadata": null, "deletion_time": "", "destroyed": false, "version": 2}})
    );
    // Keys of the secret come back sorted, as Go prints maps.
    let (body, _) = h.ok(Read, "data/foo", json!({"version": "1"})).await;
    assert_eq!(keys(&body["data"]), vec!["a", "b", "n"]);
    assert_eq!(body["metadata"]["created_time"], json!(t1));
    for latest in ["0", "-1", ""] {
        let (body, _) = h.ok(Read, "data/foo", json!({"version": latest})).await;
        assert_eq!(body["metadata"]["version"], json!(2), "version={latest:?}");
    }
    assert!(matches!(
        h.err(Read, "data/foo", json!({"version": "3"})).await,
        Error::NotFound
    ));
    assert!(matches!(
        h.err(Read, "data/missing", json!({})).await,
        Error::NotFound
    ));
    assert_eq!(
        h.bad(Read, "data/foo", json!({"version": "abc"})).await,
        "Field validation failed: error converting input for field \"version\": '' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
    );
    // The metadata record of a new key shares the first version's timestamp.
    let (meta, _) = h.ok(Read, "metadata/foo", json!({})).await;
    assert_eq!(meta["created_time"], json!(t1));
    assert_eq!(meta["updated_time"], json!(t2));
}

#[tokio::test]
async fn data_bodies_are_decoded_like_vault() {
    let h = Harness::new();
    assert_eq!(h.bad(Update, "data/k", json!({})).await, "no data provided");
    assert_eq!(
        h.bad(Update, "data/k", json!({"options": {"cas": 1}}))
            .await,
        "no data provided"
    );
    assert_eq!(
        h.bad(Update, "data/k", json!({"data": "str"})).await,
        "error converting input for field \"data\": '' expected type 'map[string]interface {}', got unconvertible type 'string'"
    );
    assert_eq!(
        h.bad(Update, "data/k", json!({"data": [1]})).await,
        "error converting input for field \"data\": '[0]' expected type 'map[string]interface {}', got unconvertible type 'json.Number'"
    );
    assert_eq!(
        h.bad(Update, "data/k", json!({"data": {}, "options": "x"})).await,
        "error converting input for field \"options\": '' expected type 'map[string]interface {}', got unconvertible type 'string'"
    );
    // A data conversion error wins over a bad cas.
    assert!(h
        .bad(
            Update,
            "data/k",
            json!({"data": 5, "options": {"cas": "q"}})
        )
        .await
        .contains("field \"data\""));

    // `null` data is a valid version whose data is null; a list of objects is merged.
    h.ok(Update, "data/n", json!({"data": null})).await;
    let (body, status) = h.ok(Read, "data/n", json!({})).await;
    assert_eq!((body["data"].clone(), status), (Value::Null, 200));
    h.ok(Update, "data/l", json!({"data": [{"a": "1"}, {"b": 2}]}))
        .await;
    let (body, _) = h.ok(Read, "data/l", json!({})).await;
    assert_eq!(body["data"], json!({"a": "1", "b": 2}));
    h.ok(Update, "data/e", json!({"data": {}})).await;
    let (body, _) = h.ok(Read, "data/e", json!({})).await;
    assert_eq!(body["data"], json!({}));
}

#[tokio::test]
async fn check_and_set() {
    let h = Harness::new();
    const MISMATCH: &str = "check-and-set parameter did not match the current version";
    const REQUIRED: &str = "check-and-set parameter required for this call";
    const PARSE: &str = "error parsing check-and-set parameter";

    assert_eq!(
        h.bad(
            Update,
            "data/k",
            json!({"data": {"a": 1}, "options": {"cas": 1}})
        )
        .await,
        MISMATCH
    );
    h.ok(
        Update,
        "data/k",
        json!({"data": {"a": 1}, "options": {"cas": 0}}),
    )
    .await;
    assert_eq!(
        h.bad(
            Update,
            "data/k",
            json!({"data": {"a": 1}, "options": {"cas": 0}})
        )
        .await,
        MISMATCH
    );
    // Strings, booleans and "" decode weakly; null means no cas.
    h.ok(
        Update,
        "data/k",
        json!({"data": {"a": 2}, "options": {"cas": "1"}}),
    )
    .await;
    assert_eq!(
        h.bad(
            Update,
            "data/k",
            json!({"data": {}, "options": {"cas": true}})
        )
        .await,
        MISMATCH
    );
    assert_eq!(
        h.bad(
            Update,
            "data/k",
            json!({"data": {}, "options": {"cas": ""}})
        )
        .await,
        MISMATCH
    );
    assert_eq!(
        h.bad(
            Update,
            "data/k",
            json!({"data": {}, "options": {"cas": -1}})
        )
        .await,
        MISMATCH
    );
    for bad in [json!("x"), json!(1.5), json!(2.0), json!([1]), json!({})] {
        assert_eq!(
            h.bad(
                Update,
                "data/k",
                json!({"data": {}, "options": {"cas": bad}})
            )
            .await,
            PARSE
        );
    }
    h.ok(
        Update,
        "data/k",
        json!({"data": {"a": 3}, "options": {"cas": null}}),
    )
    .await;
    h.ok(Update, "data/k", json!({"data": {"a": 4}, "options": null}))
        .await;

    // Required by the key's metadata.
    h.ok(Update, "metadata/k", json!({"cas_required": true}))
        .await;
    assert_eq!(h.bad(Update, "data/k", json!({"data": {}})).await, REQUIRED);
    assert_eq!(h.bad(Patch, "data/k", json!({"data": {}})).await, REQUIRED);
    h.ok(
        Update,
        "data/k",
        json!({"data": {"a": 5}, "options": {"cas": 4}}),
    )
    .await;
    assert_eq!(
        h.bad(
            Patch,
            "data/k",
            json!({"data": {"b": 1}, "options": {"cas": 4}})
        )
        .await,
        MISMATCH
    );
    h.ok(
        Patch,
        "data/k",
        json!({"data": {"b": 1}, "options": {"cas": 5}}),
    )
    .await;

    // Required by the mount's config, also for keys that do not exist yet.
    h.ok(Update, "config", json!({"cas_required": true})).await;
    assert_eq!(
        h.bad(Update, "data/new", json!({"data": {}})).await,
        REQUIRED
    );
    h.ok(
        Update,
        "data/new",
        json!({"data": {}, "options": {"cas": 0}}),
    )
    .await;

    // A key created through its metadata has version 0, so cas 0 writes its first version.
    h.ok(Update, "config", json!({"cas_required": false})).await;
    h.ok(Update, "metadata/pre", json!({"max_versions": 3}))
        .await;
    h.ok(
        Update,
        "data/pre",
        json!({"data": {}, "options": {"cas": 0}}),
    )
    .await;
}

#[tokio::test]
async fn patch_merges_into_the_latest_version() {
    let h = Harness::new();
    h.ok(
        Update,
        "data/p",
        json!({"data": {"a": {"x": 1, "y": 2}, "b": "2", "c": [1, 2]}}),
    )
    .await;
    let (body, status) = h
        .ok(
            Patch,
            "data/p",
            json!({"data": {"a": {"x": null, "z": 3}, "b": null, "c": [3], "d": "4"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(keys(&body), VERSION_KEYS);
    assert_eq!(body["version"], json!(2));
    let (body, _) = h.ok(Read, "data/p", json!({})).await;
    assert_eq!(
        body["data"],
        json!({"a": {"y": 2, "z": 3}, "c": [3], "d": "4"})
    );

    assert_eq!(h.bad(Patch, "data/p", json!({})).await, "no data provided");
    assert_eq!(
        h.bad(Patch, "data/p", json!({"data": "x"})).await,
        "Field validation failed: error converting input for field \"data\": '' expected type 'map[string]interface {}', got unconvertible type 'string'"
    );
    assert_eq!(
        h.bad(Patch, "data/p", json!({"data": {}, "options": "x"})).await,
        "Field validation failed: error converting input for field \"options\": '' expected type 'map[string]interface {}', got unconvertible type 'string'"
    );
    // A missing key is a 404 without a body.
    assert!(
        h.empty_404(Patch, "data/none", json!({"data": {"a": 1}}))
            .await
    );

    // A deleted latest version: 404 whose data is the version's metadata itself.
    h.ok(Delete, "data/p", json!({})).await;
    let (body, status) = h.ok(Patch, "data/p", json!({"data": {"q": 1}})).await;
    assert_eq!(status, 404);
    assert_eq!(keys(&body), VERSION_KEYS);
    assert_eq!(body["version"], json!(2));

    // Vault cannot patch a version whose data is null.
    h.ok(Update, "data/n", json!({"data": null})).await;
    match h.err(Patch, "data/n", json!({"data": {"a": 1}})).await {
        Error::Internal(m) => assert_eq!(m, "1 error occurred:\n\t* resource does not exist\n\n"),
        e => panic!("{e:?}"),
    }
    // Patching with `null` makes the data null, as RFC 7386 says.
    h.ok(Update, "data/m", json!({"data": {"a": 1}})).await;
    h.ok(Patch, "data/m", json!({"data": null})).await;
    let (body, _) = h.ok(Read, "data/m", json!({})).await;
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn soft_delete_undelete_and_destroy() {
    let h = Harness::new();
    for i in 1..=4 {
        h.ok(Update, "data/foo", json!({"data": {"i": i}})).await;
        h.tick();
    }
    // delete/ with versions
    let t_del = h.now();
    let (_, status) = h.ok(Update, "delete/foo", json!({"versions": [1]})).await;
    assert_eq!(status, 204);
    let (body, status) = h.ok(Read, "data/foo", json!({"version": "1"})).await;
    assert_eq!(status, 404);
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["metadata"]["deletion_time"], json!(t_del));
    assert_eq!(body["metadata"]["version"], json!(1));
    assert_eq!(keys(&body["metadata"]), VERSION_KEYS);

    // Deleting again keeps the first deletion time.
    h.tick();
    h.ok(Update, "delete/foo", json!({"versions": "1,2"})).await;
    let (body, _) = h.ok(Read, "data/foo", json!({"version": "1"})).await;
    assert_eq!(body["metadata"]["deletion_time"], json!(t_del));

    // DELETE data/ soft-deletes the latest.
    h.ok(Delete, "data/foo", json!({})).await;
    let (body, status) = h.ok(Read, "data/foo", json!({})).await;
    assert_eq!(
        (status, body["metadata"]["version"].clone()),
        (404, json!(4))
    );

    h.ok(Update, "undelete/foo", json!({"versions": [1, 4]}))
        .await;
    let (body, status) = h.ok(Read, "data/foo", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!({"i": 4}));
    assert_eq!(body["metadata"]["deletion_time"], json!(""));

    // destroy/ removes the data for good, even from storage.
    assert!(h
        .storage
        .get(&version_key("foo", 2))
        .await
        .unwrap()
        .is_some());
    h.ok(Update, "destroy/foo", json!({"versions": [2]})).await;
    assert!(h
        .storage
        .get(&version_key("foo", 2))
        .await
        .unwrap()
        .is_none());
    let (body, status) = h.ok(Read, "data/foo", json!({"version": "2"})).await;
    assert_eq!(status, 404);
    assert_eq!(body["metadata"]["destroyed"], json!(true));
    // Destroying keeps the deletion time it had, as Vault does.
    assert_ne!(body["metadata"]["deletion_time"], json!(""));
    h.ok(Update, "destroy/foo", json!({"versions": [3]})).await;
    let (body, _) = h.ok(Read, "data/foo", json!({"version": "3"})).await;
    assert_eq!(body["metadata"]["deletion_time"], json!(""));
    // Undelete and delete do not touch a destroyed version.
    h.ok(Update, "undelete/foo", json!({"versions": [2]})).await;
    h.ok(Update, "delete/foo", json!({"versions": [2]})).await;
    let (body, _) = h.ok(Read, "data/foo", json!({"version": "2"})).await;
    assert_eq!(body["metadata"]["destroyed"], json!(true));

    // Unknown keys and versions are ignored.
    h.ok(Update, "delete/nokey", json!({"versions": [1]})).await;
    h.ok(Update, "undelete/foo", json!({"versions": [0, -1, 99]}))
        .await;
    h.ok(Delete, "data/nokey", json!({})).await;

    // Vault's messages for missing or malformed versions.
    for body in [
        json!({}),
        json!({"versions": []}),
        json!({"versions": null}),
    ] {
        assert_eq!(
            h.bad(Update, "delete/foo", body.clone()).await,
            "No version number provided"
        );
        assert_eq!(
            h.bad(Update, "undelete/foo", body.clone()).await,
            "No version number provided"
        );
        assert_eq!(
            h.bad(Update, "destroy/foo", body).await,
            "no version number provided"
        );
    }
    assert_eq!(
        h.bad(Update, "delete/foo", json!({"versions": ["x"]})).await,
        "Field validation failed: error converting input for field \"versions\": decoding failed due to the following error(s):\n\n'[0]' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
    );
    // The ops only accept writes.
    for path in ["delete/foo", "undelete/foo", "destroy/foo"] {
        assert!(matches!(
            h.err(Read, path, json!({})).await,
            Error::UnsupportedOperation
        ));
        assert!(matches!(
            h.err(Delete, path, json!({})).await,
            Error::UnsupportedOperation
        ));
    }
}

#[tokio::test]
async fn metadata_read_write_and_patch() {
    let h = Harness::new();
    let t0 = h.now();
    h.ok(Update, "data/foo", json!({"data": {"a": 1}})).await;
    let (meta, status) = h.ok(Read, "metadata/foo", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        meta,
        json!({
            "cas_required": false, "created_time": t0, "current_metadata_version": 0,
            "current_version": 1, "custom_metadata": null, "delete_version_after": "0s",
            "max_versions": 0, "metadata_cas_required": false, "oldest_version": 0,
            "updated_time": t0,
            "versions": {"1": {"created_time": t0, "deletion_time": "", "destroyed": false}}
        })
    );

    h.tick();
    let t1 = h.now();
    let (_, status) = h
        .ok(Update, "metadata/foo", json!({"max_versions": 5, "custom_metadata": {"owner": "me"}, "delete_version_after": "1h"}))
        .await;
    assert_eq!(status, 204);
    let (meta, _) = h.ok(Read, "metadata/foo", json!({})).await;
    assert_eq!(meta["current_metadata_version"], json!(1));
    assert_eq!(meta["max_versions"], json!(5));
    assert_eq!(meta["custom_metadata"], json!({"owner": "me"}));
    assert_eq!(meta["delete_version_after"], json!("1h0m0s"));
    assert_eq!(meta["updated_time"], json!(t1));
    assert_eq!(meta["created_time"], json!(t0));

    // Version responses carry the key's custom_metadata.
    let (body, _) = h.ok(Read, "data/foo", json!({})).await;
    assert_eq!(body["metadata"]["custom_metadata"], json!({"owner": "me"}));

    // PATCH merges custom_metadata; null removes a key.
    h.ok(
        Patch,
        "metadata/foo",
        json!({"custom_metadata": {"team": "x"}}),
    )
    .await;
    h.ok(
        Patch,
        "metadata/foo",
        json!({"custom_metadata": {"owner": null, "z": 1}}),
    )
    .await;
    let (meta, _) = h.ok(Read, "metadata/foo", json!({})).await;
    assert_eq!(meta["custom_metadata"], json!({"team": "x", "z": "1"}));
    assert_eq!(meta["current_metadata_version"], json!(3));
    // null on the other fields resets them, except delete_version_after.
    h.ok(
        Patch,
        "metadata/foo",
        json!({"max_versions": null, "cas_required": null, "delete_version_after": null}),
    )
    .await;
    let (meta, _) = h.ok(Read, "metadata/foo", json!({})).await;
    assert_eq!(meta["max_versions"], json!(0));
    assert_eq!(meta["delete_version_after"], json!("1h0m0s"));
    h.ok(Patch, "metadata/foo", json!({"custom_metadata": null}))
        .await;
    let (meta, _) = h.ok(Read, "metadata/foo", json!({})).await;
    assert_eq!(meta["custom_metadata"], Value::Null);
    assert_eq!(meta["current_metadata_version"], json!(5));

    // Writes that change nothing are no-ops and create nothing.
    h.ok(Patch, "metadata/foo", json!({})).await;
    h.ok(Update, "metadata/foo", json!({"zz": 1})).await;
    let (meta, _) = h.ok(Read, "metadata/foo", json!({})).await;
    assert_eq!(meta["current_metadata_version"], json!(5));
    h.ok(Update, "metadata/empty", json!({})).await;
    assert!(matches!(
        h.err(Read, "metadata/empty", json!({})).await,
        Error::NotFound
    ));
    h.ok(Patch, "metadata/empty", json!({})).await;
    assert!(
        h.empty_404(Patch, "metadata/empty", json!({"max_versions": 1}))
            .await
    );

    // Metadata can exist before any version.
    let tn = h.now();
    h.ok(Update, "metadata/pre", json!({"custom_metadata": null}))
        .await;
    let (meta, _) = h.ok(Read, "metadata/pre", json!({})).await;
    assert_eq!(meta["current_version"], json!(0));
    assert_eq!(meta["versions"], json!({}));
    assert_eq!(meta["created_time"], json!(tn));
    assert!(matches!(
        h.err(Read, "data/pre", json!({})).await,
        Error::NotFound
    ));

    // Weak decoding of the fields.
    h.ok(
        Update,
        "metadata/w",
        json!({"max_versions": "3", "cas_required": "true", "delete_version_after": 90}),
    )
    .await;
    let (meta, _) = h.ok(Read, "metadata/w", json!({})).await;
    assert_eq!(
        (
            meta["max_versions"].clone(),
            meta["cas_required"].clone(),
            meta["delete_version_after"].clone()
        ),
        (json!(3), json!(true), json!("1m30s"))
    );
    h.ok(
        Update,
        "metadata/w",
        json!({"max_versions": -1, "delete_version_after": "1d"}),
    )
    .await;
    let (meta, _) = h.ok(Read, "metadata/w", json!({})).await;
    assert_eq!(meta["max_versions"], json!(4_294_967_295u32));
    assert_eq!(meta["delete_version_after"], json!("24h0m0s"));
    h.ok(Update, "metadata/w", json!({"custom_metadata": {}}))
        .await;
    let (meta, _) = h.ok(Read, "metadata/w", json!({})).await;
    assert_eq!(meta["custom_metadata"], Value::Null);
    h.ok(
        Update,
        "metadata/w",
        json!({"custom_metadata": {"x": true, "y": 1.5}}),
    )
    .await;
    let (meta, _) = h.ok(Read, "metadata/w", json!({})).await;
    assert_eq!(meta["custom_metadata"], json!({"x": "1", "y": "1.5"}));
}

#[tokio::test]
async fn metadata_errors_read_like_vault() {
    let h = Harness::new();
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"delete_version_after": "-1s"})).await,
        "error converting input for field \"delete_version_after\": cannot provide negative value '-1'"
    );
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"delete_version_after": "abc"}))
            .await,
        "error converting input for field \"delete_version_after\": time: invalid duration \"abc\""
    );
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"max_versions": "x"})).await,
        "error converting input for field \"max_versions\": '' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
    );
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"cas_required": "yes"})).await,
        "error converting input for field \"cas_required\": '' cannot parse value as 'bool': strconv.ParseBool: invalid syntax"
    );
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"custom_metadata": "str"})).await,
        "error converting input for field \"custom_metadata\": '' expected type 'map[string]interface {}', got unconvertible type 'string'"
    );
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"custom_metadata": {"x": {"y": "z"}}})).await,
        "custom_metadata validation failed: '' expected type 'string', got unconvertible type 'map[string]interface {}'"
    );
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"custom_metadata": {"z": null}})).await,
        "1 error occurred:\n\t* custom_metadata validation failed: length of value for key \"z\" is 0 but must be 0 < len(value) <= 512\n\n"
    );
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(513);
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"custom_metadata": {long_key.clone(): long_value}})).await,
        format!("2 errors occurred:\n\t* custom_metadata validation failed: length of key \"{long_key}\" is 129 but must be 0 < len(key) <= 128\n\t* custom_metadata validation failed: length of value for key \"{long_key}\" is 513 but must be 0 < len(value) <= 512\n\n")
    );
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"custom_metadata": {"a\u{1}": "\u{2}"}})).await,
        "2 errors occurred:\n\t* custom_metadata validation failed: key \"a\\x01\" (a\u{1}) contains unprintable characters\n\t* custom_metadata validation failed: value for key \"a\\x01\" contains unprintable characters\n\n"
    );
    let many: Map = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"custom_metadata": many})).await,
        "1 error occurred:\n\t* custom_metadata validation failed: payload must contain at most 64 keys, provided 65\n\n"
    );
    let enough: Map = (0..64).map(|i| (format!("k{i}"), json!("v"))).collect();
    h.ok(Update, "metadata/k", json!({"custom_metadata": enough}))
        .await;

    // PATCH validates before the handler, so its messages carry Vault's prefix.
    assert_eq!(
        h.bad(Patch, "metadata/k", json!({"max_versions": "x"})).await,
        "Field validation failed: error converting input for field \"max_versions\": '' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
    );
    assert_eq!(
        h.bad(Patch, "metadata/k", json!({"delete_version_after": "-1s"})).await,
        "Field validation failed: error converting input for field \"delete_version_after\": cannot provide negative value '-1'"
    );
    assert!(h
        .bad(Patch, "metadata/k", json!({"max_versions": -1}))
        .await
        .starts_with("max_versions must be between 0 and"));
    // Nothing was changed by the failed requests.
    let (meta, _) = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["current_metadata_version"], json!(1));
}

#[tokio::test]
async fn metadata_check_and_set() {
    let h = Harness::new();
    const REQUIRED: &str = "metadata check-and-set parameter required for this call";
    const MISMATCH: &str = "metadata check-and-set parameter does not match the current version";

    // Optional unless required; a new key needs 0.
    assert_eq!(
        h.bad(
            Update,
            "metadata/k",
            json!({"max_versions": 5, "metadata_cas": 1})
        )
        .await,
        "metadata_cas must be 0 when creating new metadata"
    );
    h.ok(
        Update,
        "metadata/k",
        json!({"max_versions": 5, "metadata_cas": 0}),
    )
    .await;
    assert_eq!(
        h.bad(
            Update,
            "metadata/k",
            json!({"max_versions": 5, "metadata_cas": 0})
        )
        .await,
        MISMATCH
    );
    h.ok(
        Update,
        "metadata/k",
        json!({"max_versions": 6, "metadata_cas": "1"}),
    )
    .await;
    h.ok(Update, "metadata/k", json!({"max_versions": 7})).await;
    // An explicit null is 0.
    assert_eq!(
        h.bad(
            Update,
            "metadata/k",
            json!({"max_versions": 5, "metadata_cas": null})
        )
        .await,
        MISMATCH
    );

    // Required by the key.
    h.ok(Patch, "metadata/k", json!({"metadata_cas_required": true}))
        .await;
    assert_eq!(
        h.bad(Update, "metadata/k", json!({"max_versions": 1}))
            .await,
        REQUIRED
    );
    assert_eq!(
        h.bad(Patch, "metadata/k", json!({"max_versions": 1})).await,
        REQUIRED
    );
    assert_eq!(
        h.bad(
            Patch,
            "metadata/k",
            json!({"max_versions": 1, "metadata_cas": 3})
        )
        .await,
        MISMATCH
    );
    h.ok(
        Patch,
        "metadata/k",
        json!({"max_versions": 1, "metadata_cas": 4}),
    )
    .await;
    // Data writes are not affected, and do not move the metadata version.
    h.ok(Update, "data/k", json!({"data": {"a": 1}})).await;
    let (meta, _) = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["current_metadata_version"], json!(5));
    assert_eq!(meta["metadata_cas_required"], json!(true));
    // Deleting metadata needs no cas.
    h.ok(Delete, "metadata/k", json!({})).await;

    // Required by the mount.
    h.ok(Update, "config", json!({"metadata_cas_required": true}))
        .await;
    assert_eq!(
        h.bad(Update, "metadata/n", json!({"max_versions": 1}))
            .await,
        REQUIRED
    );
    h.ok(
        Update,
        "metadata/n",
        json!({"max_versions": 1, "metadata_cas": 0}),
    )
    .await;
}

#[tokio::test]
async fn max_versions_prunes_oldest_versions() {
    let h = Harness::new();
    h.ok(Update, "metadata/m", json!({"max_versions": 2})).await;
    for i in 1..=4 {
        h.ok(Update, "data/m", json!({"data": {"i": i}})).await;
    }
    let (meta, _) = h.ok(Read, "metadata/m", json!({})).await;
    assert_eq!(meta["oldest_version"], json!(3));
    assert_eq!(keys(&meta["versions"]), vec!["3", "4"]);
    for v in [1, 2] {
        assert!(matches!(
            h.err(Read, "data/m", json!({"version": v.to_string()}))
                .await,
            Error::NotFound
        ));
        assert!(h.storage.get(&version_key("m", v)).await.unwrap().is_none());
    }
    // Shrinking max_versions prunes on the next data write only.
    h.ok(Update, "metadata/m", json!({"max_versions": 1})).await;
    let (meta, _) = h.ok(Read, "metadata/m", json!({})).await;
    assert_eq!(keys(&meta["versions"]), vec!["3", "4"]);
    h.ok(Update, "data/m", json!({"data": {"i": 5}})).await;
    let (meta, _) = h.ok(Read, "metadata/m", json!({})).await;
    assert_eq!(meta["oldest_version"], json!(5));
    assert_eq!(keys(&meta["versions"]), vec!["5"]);

    // The mount's max_versions applies when the key sets none; Vault's default is 10.
    h.ok(Update, "config", json!({"max_versions": 3})).await;
    for i in 1..=5 {
        h.ok(Update, "data/c", json!({"data": {"i": i}})).await;
    }
    let (meta, _) = h.ok(Read, "metadata/c", json!({})).await;
    assert_eq!(keys(&meta["versions"]), vec!["3", "4", "5"]);
    h.ok(Update, "config", json!({"max_versions": 0})).await;
    for i in 1..=12 {
        h.ok(Update, "data/d", json!({"data": {"i": i}})).await;
    }
    let (meta, _) = h.ok(Read, "metadata/d", json!({})).await;
    assert_eq!(meta["oldest_version"], json!(3));
    // String order, as Go prints map keys.
    assert_eq!(
        keys(&meta["versions"]),
        vec!["10", "11", "12", "3", "4", "5", "6", "7", "8", "9"]
    );
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let h = Harness::new();
    h.ok(Update, "metadata/d", json!({"delete_version_after": "3s"}))
        .await;
    let (body, _) = h.ok(Update, "data/d", json!({"data": {"i": 1}})).await;
    let expiry = rfc3339(start() + Duration::from_secs(3));
    assert_eq!(body["deletion_time"], json!(expiry));
    // Not yet deleted: readable, with the future deletion time shown.
    let (body, status) = h.ok(Read, "data/d", json!({})).await;
    assert_eq!(
        (status, body["metadata"]["deletion_time"].clone()),
        (200, json!(expiry))
    );
    h.clock.advance(Duration::from_secs(3));
    let (body, status) = h.ok(Read, "data/d", json!({})).await;
    assert_eq!((status, body["data"].clone()), (404, Value::Null));
    let (body, status) = h.ok(Read, "subkeys/d", json!({})).await;
    assert_eq!((status, body["subkeys"].clone()), (404, Value::Null));
    // Undelete restarts the clock from now.
    h.ok(Update, "undelete/d", json!({"versions": [1]})).await;
    let (body, status) = h.ok(Read, "data/d", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["metadata"]["deletion_time"],
        json!(rfc3339(start() + Duration::from_secs(6)))
    );

    // The smaller of the key's and the mount's applies; a negative mount value disables it.
    h.ok(Update, "config", json!({"delete_version_after": "10s"}))
        .await;
    h.ok(Update, "data/plain", json!({"data": {}})).await;
    let (body, _) = h.ok(Read, "data/plain", json!({})).await;
    let now = h.clock.now();
    assert_eq!(
        body["metadata"]["deletion_time"],
        json!(rfc3339(now + Duration::from_secs(10)))
    );
    h.ok(
        Update,
        "metadata/long",
        json!({"delete_version_after": "1h"}),
    )
    .await;
    let (body, _) = h.ok(Update, "data/long", json!({"data": {}})).await;
    assert_eq!(
        body["deletion_time"],
        json!(rfc3339(now + Duration::from_secs(10)))
    );
    let (body, _) = h.ok(Update, "data/d", json!({"data": {}})).await;
    assert_eq!(
        body["deletion_time"],
        json!(rfc3339(now + Duration::from_secs(3)))
    );
    h.ok(Update, "config", json!({"delete_version_after": "-5s"}))
        .await;
    let (cfg, _) = h.ok(Read, "config", json!({})).await;
    assert_eq!(cfg["delete_version_after"], json!("-1s"));
    let (body, _) = h.ok(Update, "data/d", json!({"data": {}})).await;
    assert_eq!(body["deletion_time"], json!(""));

    // Clearing the key's setting does not touch existing deadlines; undelete clears them.
    h.ok(Update, "config", json!({"delete_version_after": 0}))
        .await;
    h.ok(
        Update,
        "metadata/long",
        json!({"delete_version_after": "0s"}),
    )
    .await;
    h.ok(Update, "undelete/long", json!({"versions": [1]}))
        .await;
    let (body, _) = h.ok(Read, "data/long", json!({})).await;
    assert_eq!(body["metadata"]["deletion_time"], json!(""));
}

#[tokio::test]
async fn metadata_delete_removes_every_record() {
    let h = Harness::new();
    for i in 1..=3 {
        h.ok(Update, "data/dir/k", json!({"data": {"i": i}})).await;
    }
    h.ok(Update, "destroy/dir/k", json!({"versions": [2]}))
        .await;
    h.ok(Update, "data/other", json!({"data": {"i": 1}})).await;
    h.ok(Delete, "metadata/dir/k", json!({})).await;
    assert!(h.storage.get(&meta_key("dir/k")).await.unwrap().is_none());
    for v in 1..=3 {
        assert!(h
            .storage
            .get(&version_key("dir/k", v))
            .await
            .unwrap()
            .is_none());
    }
    assert!(matches!(
        h.err(Read, "metadata/dir/k", json!({})).await,
        Error::NotFound
    ));
    assert!(matches!(
        h.err(Read, "data/dir/k", json!({})).await,
        Error::NotFound
    ));
    assert_eq!(h.storage.list("meta/").await.unwrap(), vec!["other"]);
    // Only the other key's two records are left.
    assert_eq!(
        h.storage.list("").await.unwrap(),
        vec!["meta/", "versions/"]
    );
    assert_eq!(h.storage.list("versions/").await.unwrap().len(), 1);
    // Deleting what is not there is fine; the key starts over at version 1.
    h.ok(Delete, "metadata/dir/k", json!({})).await;
    let (body, _) = h.ok(Update, "data/dir/k", json!({"data": {}})).await;
    assert_eq!(body["version"], json!(1));
}

#[tokio::test]
async fn list_keys_and_folders() {
    let h = Harness::new();
    for k in ["z/a", "z/a/b", "z/a-b", "z/a0", "z/b/c/d", "z/A", "top"] {
        h.ok(Update, &format!("data/{k}"), json!({"data": {"x": 1}}))
            .await;
    }
    let list = |v: Value| v["keys"].clone();
    let (body, _) = h.ok(List, "metadata/z", json!({})).await;
    assert_eq!(list(body), json!(["A", "a", "a-b", "a/", "a0", "b/"]));
    let (body, _) = h.ok(List, "metadata/z/", json!({})).await;
    assert_eq!(list(body), json!(["A", "a", "a-b", "a/", "a0", "b/"]));
    // The mount root, with and without the slash.
    for root in ["metadata", "metadata/"] {
        let (body, _) = h.ok(List, root, json!({})).await;
        assert_eq!(list(body), json!(["top", "z/"]));
    }
    // OpenBao's paging.
    let (body, _) = h.ok(List, "metadata/z", json!({"after": "a"})).await;
    assert_eq!(list(body), json!(["a-b", "a/", "a0", "b/"]));
    let (body, _) = h
        .ok(List, "metadata/z", json!({"after": "a/", "limit": "1"}))
        .await;
    assert_eq!(list(body), json!(["a0"]));
    for limit in ["0", "-1"] {
        let (body, _) = h.ok(List, "metadata/z", json!({"limit": limit})).await;
        assert_eq!(list(body).as_array().map(Vec::len), Some(6));
    }
    assert!(matches!(
        h.err(List, "metadata/z", json!({"after": "zzz"})).await,
        Error::NotFound
    ));
    assert_eq!(
        h.bad(List, "metadata/z", json!({"limit": "x"})).await,
        "Field validation failed: error converting input for field \"limit\": '' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
    );
    // A key is not a folder; a folder disappears with its last key.
    assert!(matches!(
        h.err(List, "metadata/top", json!({})).await,
        Error::NotFound
    ));
    assert!(matches!(
        h.err(List, "metadata/nothing", json!({})).await,
        Error::NotFound
    ));
    h.ok(Delete, "metadata/z/b/c/d", json!({})).await;
    assert!(matches!(
        h.err(List, "metadata/z/b", json!({})).await,
        Error::NotFound
    ));
    // Destroyed or deleted keys still list: their metadata exists.
    h.ok(Delete, "data/top", json!({})).await;
    let (body, _) = h.ok(List, "metadata", json!({})).await;
    assert_eq!(list(body), json!(["top", "z/"]));
    // Only metadata lists.
    assert!(matches!(
        h.err(List, "data/", json!({})).await,
        Error::UnsupportedOperation
    ));
    assert!(matches!(
        h.err(List, "data/z", json!({})).await,
        Error::UnsupportedOperation
    ));
    assert!(matches!(
        h.err(List, "subkeys", json!({})).await,
        Error::UnsupportedOperation
    ));
}

#[tokio::test]
async fn subkeys_show_structure_without_values() {
    let h = Harness::new();
    h.ok(
        Update,
        "data/s",
        json!({"data": {"a": {"b": {"c": {"d": {"e": 1}}}}, "l": [{"x": 1}], "g": {}, "f": null}}),
    )
    .await;
    let cases = [
        (
            "0",
            json!({"a": {"b": {"c": {"d": {"e": null}}}}, "f": null, "g": null, "l": null}),
        ),
        ("1", json!({"a": null, "f": null, "g": null, "l": null})),
        ("-3", json!({"a": null, "f": null, "g": null, "l": null})),
        (
            "2",
            json!({"a": {"b": null}, "f": null, "g": null, "l": null}),
        ),
        (
            "4",
            json!({"a": {"b": {"c": {"d": null}}}, "f": null, "g": null, "l": null}),
        ),
        (
            "99",
            json!({"a": {"b": {"c": {"d": {"e": null}}}}, "f": null, "g": null, "l": null}),
        ),
    ];
    for (depth, want) in cases {
        let (body, status) = h.ok(Read, "subkeys/s", json!({"depth": depth})).await;
        assert_eq!(status, 200);
        assert_eq!(body["subkeys"], want, "depth={depth}");
        assert_eq!(keys(&body), vec!["metadata", "subkeys"]);
        assert_eq!(keys(&body["metadata"]), VERSION_KEYS);
    }
    // Empty and null data.
    h.ok(Update, "data/e", json!({"data": {}})).await;
    let (body, _) = h.ok(Read, "subkeys/e", json!({})).await;
    assert_eq!(body["subkeys"], json!({}));
    h.ok(Update, "data/n", json!({"data": null})).await;
    let (body, status) = h.ok(Read, "subkeys/n", json!({})).await;
    assert_eq!((status, body["subkeys"].clone()), (200, Value::Null));
    // Versions.
    h.ok(Update, "data/s", json!({"data": {"only": 1}})).await;
    let (body, _) = h
        .ok(Read, "subkeys/s", json!({"version": "1", "depth": "1"}))
        .await;
    assert_eq!(body["metadata"]["version"], json!(1));
    assert_eq!(body["subkeys"]["a"], Value::Null);
    assert!(matches!(
        h.err(Read, "subkeys/s", json!({"version": "9"})).await,
        Error::NotFound
    ));
    assert!(matches!(
        h.err(Read, "subkeys/none", json!({})).await,
        Error::NotFound
    ));
    assert!(h
        .bad(Read, "subkeys/s", json!({"depth": "x"}))
        .await
        .starts_with("Field validation failed: error converting input for field \"depth\""));
    // A deleted version is a 404 carrying its metadata.
    h.ok(Delete, "data/s", json!({})).await;
    let (body, status) = h.ok(Read, "subkeys/s", json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(body["subkeys"], Value::Null);
    assert_eq!(body["metadata"]["version"], json!(2));
}

#[tokio::test]
async fn config_read_and_write() {
    let h = Harness::new();
    let (cfg, _) = h.ok(Read, "config", json!({})).await;
    assert_eq!(
        cfg,
        json!({"cas_required": false, "delete_version_after": "0s", "max_versions": 0, "metadata_cas_required": false})
    );
    let (_, status) = h
        .ok(
            Update,
            "config",
            json!({"max_versions": 7, "cas_required": "1", "delete_version_after": "1h30m"}),
        )
        .await;
    assert_eq!(status, 204);
    let (cfg, _) = h.ok(Read, "config", json!({})).await;
    assert_eq!(
        cfg,
        json!({"cas_required": true, "delete_version_after": "1h30m0s", "max_versions": 7, "metadata_cas_required": false})
    );
    // Only given fields change; null resets; unknown fields are ignored without a warning.
    h.ok(Update, "config", json!({"max_versions": null, "zz": 1}))
        .await;
    let (cfg, _) = h.ok(Read, "config", json!({})).await;
    assert_eq!(cfg["max_versions"], json!(0));
    assert_eq!(cfg["cas_required"], json!(true));
    // Go's unchecked uint32 conversion.
    h.ok(Update, "config", json!({"max_versions": -1})).await;
    let (cfg, _) = h.ok(Read, "config", json!({})).await;
    assert_eq!(cfg["max_versions"], json!(4_294_967_295u32));
    h.ok(Update, "config", json!({"max_versions": 4_294_967_297u64}))
        .await;
    let (cfg, _) = h.ok(Read, "config", json!({})).await;
    assert_eq!(cfg["max_versions"], json!(1));

    assert_eq!(
        h.bad(Update, "config", json!({"max_versions": "x"})).await,
        "Field validation failed: error converting input for field \"max_versions\": '' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
    );
    assert_eq!(
        h.bad(Update, "config", json!({"delete_version_after": "abc"})).await,
        "Field validation failed: error converting input for field \"delete_version_after\": time: invalid duration \"abc\""
    );
    assert_eq!(
        h.bad(Update, "config", json!({"delete_version_after": true})).await,
        "Field validation failed: error converting input for field \"delete_version_after\": could not parse duration from input"
    );
    assert_eq!(
        h.bad(Update, "config", json!({"cas_required": "yes"})).await,
        "Field validation failed: error converting input for field \"cas_required\": '' cannot parse value as 'bool': strconv.ParseBool: invalid syntax"
    );
    for op in [Delete, Patch] {
        assert!(matches!(
            h.err(op, "config", json!({})).await,
            Error::UnsupportedOperation
        ));
    }
}

/// The status and warning of a response that Vault sends as a 404 envelope without data.
async fn warning_of(h: &Harness, op: Operation, path: &str) -> (u16, Vec<String>) {
    let r = h
        .call(op, path, json!({}))
        .await
        .unwrap_or_else(|e| panic!("{op:?} {path}: {e}"));
    assert!(r.data.is_none());
    (r.status.unwrap_or(0), r.warnings)
}

#[tokio::test]
async fn paths_outside_the_endpoints() {
    let h = Harness::new();
    let root = "Non-listing operations on the root of a K/V v2 mount are not supported.";
    for path in ["data", "metadata", "delete", "undelete", "destroy"] {
        for op in [Read, Update, Patch, Delete] {
            assert_eq!(
                warning_of(&h, op, path).await,
                (404, vec![root.to_string()]),
                "{op:?} {path}"
            );
        }
    }
    let invalid = |verb: &str| {
        vec![format!("Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the OpenBao CLI, use 'bao kv {verb}' for this operation.")]
    };
    let cases = [
        (Read, "", "get"),
        (List, "", "list"),
        (Delete, "", "delete"),
        (Update, "", "put"),
        (Patch, "", "patch"),
        (Read, "subkeys", "get"),
        (Delete, "subkeys", "delete"),
        (Read, "config/", "get"),
        (List, "config", "list"),
        (Read, "foo", "get"),
        (List, "foo/bar", "list"),
        (Update, "foo/bar", "put"),
    ];
    for (op, path, verb) in cases {
        assert_eq!(
            warning_of(&h, op, path).await,
            (404, invalid(verb)),
            "{op:?} {path:?}"
        );
    }
    // Writes to a folder are refused as the core refuses them.
    for path in ["data/", "metadata/", "delete/", "data/a/", "config/"] {
        for op in [Update, Patch] {
            assert_eq!(
                h.bad(op, path, json!({"data": {}})).await,
                "cannot write to a path ending in '/'"
            );
        }
    }
    // The empty key is never found, and deleting it is a no-op.
    assert!(matches!(
        h.err(Read, "data/", json!({})).await,
        Error::NotFound
    ));
    assert!(matches!(
        h.err(Read, "metadata/", json!({})).await,
        Error::NotFound
    ));
    assert!(matches!(
        h.err(Read, "subkeys/", json!({})).await,
        Error::NotFound
    ));
    h.ok(Delete, "data/", json!({})).await;
    h.ok(Delete, "metadata/", json!({})).await;
    for path in ["delete/", "undelete/", "destroy/"] {
        assert!(matches!(
            h.err(Read, path, json!({})).await,
            Error::UnsupportedOperation
        ));
    }
    for path in ["data", "delete", "undelete", "destroy"] {
        assert!(matches!(
            h.err(List, path, json!({})).await,
            Error::UnsupportedOperation
        ));
    }
    assert!(matches!(
        h.err(Patch, "subkeys/a", json!({})).await,
        Error::UnsupportedOperation
    ));
}

#[tokio::test]
async fn unknown_fields_warn_only_on_responses_with_data() {
    let h = Harness::new();
    let warn = |f: &str| {
        vec![format!(
            "Endpoint ignored these unrecognized parameters: [{f}]"
        )]
    };
    let r = h
        .call(
            Update,
            "data/k",
            json!({"data": {"a": 1}, "zz": 1, "extra": 1, "version": 3}),
        )
        .await
        .unwrap();
    assert_eq!(r.warnings, warn("extra zz"));
    let r = h
        .call(Patch, "data/k", json!({"data": {"b": 1}, "zz": 1}))
        .await
        .unwrap();
    assert_eq!(r.warnings, warn("zz"));
    for path in ["data/k", "metadata/k", "subkeys/k", "config"] {
        let r = h
            .call(Read, path, json!({"zz": "1", "list": "true"}))
            .await
            .unwrap();
        assert_eq!(r.warnings, warn("zz"), "{path}");
    }
    let r = h
        .call(List, "metadata/", json!({"foo": "1"}))
        .await
        .unwrap();
    assert_eq!(r.warnings, warn("foo"));
    // Known fields don't warn.
    let r = h
        .call(Read, "subkeys/k", json!({"depth": "1", "version": "1"}))
        .await
        .unwrap();
    assert!(r.warnings.is_empty());
    // 204s and 404 bodies carry no warning.
    for (op, path, body) in [
        (Update, "metadata/k", json!({"max_versions": 3, "zz": 1})),
        (Update, "delete/k", json!({"versions": [2], "zz": 1})),
        (Update, "config", json!({"zz": 1})),
    ] {
        let r = h.call(op, path, body).await.unwrap();
        assert!(r.warnings.is_empty() && r.data.is_none(), "{op:?} {path}");
    }
    let r = h.call(Read, "data/k", json!({"zz": "1"})).await.unwrap();
    assert_eq!(r.status, Some(404));
    assert!(r.warnings.is_empty());
}

#[tokio::test]
async fn key_paths_never_collide() {
    let h = Harness::new();
    h.ok(Update, "data/a", json!({"data": {"who": "a"}})).await;
    h.ok(Update, "data/a/1", json!({"data": {"who": "a/1"}}))
        .await;
    h.ok(Update, "data/a1", json!({"data": {"who": "a1"}}))
        .await;
    for k in ["a", "a/1", "a1"] {
        let (body, _) = h.ok(Read, &format!("data/{k}"), json!({})).await;
        assert_eq!(body["data"]["who"], json!(k));
        assert_eq!(body["metadata"]["version"], json!(1));
    }
    let (body, _) = h.ok(List, "metadata/", json!({})).await;
    assert_eq!(body["keys"], json!(["a", "a/", "a1"]));
    h.ok(Delete, "metadata/a", json!({})).await;
    let (body, _) = h.ok(Read, "data/a/1", json!({})).await;
    assert_eq!(body["data"]["who"], json!("a/1"));
}

/// Counts commits and can be told to fail them, to show a write is one atomic commit.
struct FlakyStorage {
    inner: InmemStorage,
    commits: AtomicUsize,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Storage for FlakyStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        self.inner.list(prefix).await
    }
    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::internal("injected failure"));
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.inner.commit(ops).await
    }
}

#[tokio::test]
async fn each_write_is_one_commit_and_a_failed_commit_changes_nothing() {
    let clock: SharedClock = Arc::new(ManualClock::new(start()));
    let kv = KvV2::new(clock);
    let s = FlakyStorage {
        inner: InmemStorage::new(),
        commits: AtomicUsize::new(0),
        fail: false.into(),
    };
    let req = |op, path: &str, v: Value| Request::new(op, path).with_data(into_map(v));
    kv.handle(&req(Update, "metadata/k", json!({"max_versions": 1})), &s)
        .await
        .unwrap();
    kv.handle(&req(Update, "data/k", json!({"data": {"v": 1}})), &s)
        .await
        .unwrap();
    let before = s.commits.load(Ordering::SeqCst);
    // This write also prunes version 1: still one commit.
    kv.handle(&req(Update, "data/k", json!({"data": {"v": 2}})), &s)
        .await
        .unwrap();
    assert_eq!(s.commits.load(Ordering::SeqCst), before + 1);
    assert!(s.get(&version_key("k", 1)).await.unwrap().is_none());

    let meta_before = s.get(&meta_key("k")).await.unwrap();
    s.fail.store(true, Ordering::SeqCst);
    for (op, path, body) in [
        (Update, "data/k", json!({"data": {"v": 3}})),
        (Patch, "data/k", json!({"data": {"w": 3}})),
        (Update, "delete/k", json!({"versions": [2]})),
        (Update, "destroy/k", json!({"versions": [2]})),
        (Update, "metadata/k", json!({"max_versions": 5})),
        (Delete, "metadata/k", json!({})),
    ] {
        assert!(
            kv.handle(&req(op, path, body), &s).await.is_err(),
            "{op:?} {path}"
        );
    }
    s.fail.store(false, Ordering::SeqCst);
    assert_eq!(s.get(&meta_key("k")).await.unwrap(), meta_before);
    assert!(s.get(&version_key("k", 3)).await.unwrap().is_none());
    let r = kv
        .handle(&req(Read, "data/k", json!({})), &s)
        .await
        .unwrap();
    assert_eq!(r.data.unwrap()["data"], json!({"v": 2}));
}

#[tokio::test]
async fn concurrent_writes_get_distinct_versions() {
    let h = Arc::new(Harness::new());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            h.call(
                Update,
                "data/race",
                json!({"data": {"i": i}, "options": {"cas": null}}),
            )
            .await
            .map(|r| r.data.map(|d| d["version"].clone()))
        }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap().unwrap().unwrap());
    }
    versions.sort_by_key(|v| v.as_u64());
    assert_eq!(versions, (1..=16).map(|n| json!(n)).collect::<Vec<_>>());
}
