//! KV version 1: one unversioned JSON object per path.
//!
//! Each secret is stored as JSON at its own path in the mount's storage, so LIST is the
//! storage's own listing.

use async_trait::async_trait;
use serde_json::Value;

use crate::logical::{Backend, Error, Map, Operation, Request, Response, Storage};

use crate::logical::duration::parse_duration_secs;
use crate::logical::fields::{sorted, warn_unknown};

/// The KV v1 secrets engine.
#[derive(Debug, Default)]
pub struct KvV1;

impl KvV1 {
    pub fn new() -> Self {
        KvV1
    }
}

/// The lease a read reports: the secret's own `ttl` (or legacy `lease`) key when it is a
/// valid duration, else the mount's default. Vault does not cap it at the mount's maximum.
/// A negative `ttl` is reported by Vault as a negative lease; the envelope's lease is
/// unsigned here, so it becomes 0.
fn lease_duration(data: &Map, default_lease_ttl: u64) -> u64 {
    let raw = data.get("ttl").or_else(|| data.get("lease"));
    match raw.map(parse_duration_secs) {
        Some(Ok(secs)) => u64::try_from(secs).unwrap_or(0),
        Some(Err(_)) | None => default_lease_ttl,
    }
}

fn decode(bytes: &[u8]) -> Result<Map, Error> {
    // Never echo the stored bytes: they are the secret.
    serde_json::from_slice(bytes).map_err(|_| Error::internal("kv: stored secret is corrupt"))
}

#[async_trait]
impl Backend for KvV1 {
    /// Every path has one, as Vault's passthrough backend: whether a secret is stored there.
    async fn exists(&self, path: &str, storage: &dyn Storage) -> Result<Option<bool>, Error> {
        Ok(Some(storage.get(path).await?.is_some()))
    }

    async fn handle(&self, req: &Request, storage: &dyn Storage) -> Result<Response, Error> {
        let path = req.path.as_str();
        match req.operation {
            Operation::Read => {
                if path.is_empty() {
                    return Err(Error::NotFound);
                }
                let Some(bytes) = storage.get(path).await? else {
                    return Err(Error::NotFound);
                };
                let data = decode(&bytes)?;
                let mut resp = Response::data(data);
                resp.lease_duration = lease_duration(
                    resp.data.as_ref().unwrap_or(&Map::new()),
                    req.default_lease_ttl,
                );
                // Every query parameter is unknown to a v1 read.
                warn_unknown(&mut resp, &req.data, &[]);
                Ok(resp)
            }
            Operation::Update => {
                if path.is_empty() {
                    return Err(Error::bad_request("missing path"));
                }
                if path.ends_with('/') {
                    return Err(Error::bad_request("cannot write to a path ending in '/'"));
                }
                if req.data.is_empty() {
                    return Err(Error::bad_request("missing data fields"));
                }
                let data = sorted(Value::Object(req.data.clone()));
                let bytes = serde_json::to_vec(&data)
                    .map_err(|_| Error::internal("kv: cannot encode secret"))?;
                storage.put(path, bytes).await?;
                Ok(Response::empty())
            }
            Operation::Delete => {
                if !path.is_empty() {
                    storage.delete(path).await?;
                }
                Ok(Response::empty())
            }
            Operation::List => {
                let prefix = if path.is_empty() || path.ends_with('/') {
                    path.to_string()
                } else {
                    format!("{path}/")
                };
                let mut resp = Response::list(storage.list(&prefix).await?)?;
                warn_unknown(&mut resp, &req.data, &[]);
                Ok(resp)
            }
            Operation::Patch => Err(Error::UnsupportedOperation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::fields::into_map;
    use crate::logical::InmemStorage;
    use serde_json::json;

    async fn call(
        s: &InmemStorage,
        op: Operation,
        path: &str,
        data: Value,
    ) -> Result<Response, Error> {
        let mut req = Request::new(op, path).with_data(into_map(data));
        req.default_lease_ttl = 2_764_800;
        KvV1.handle(&req, s).await
    }

    #[tokio::test]
    async fn put_get_list_delete() {
        let s = InmemStorage::new();
        let r = call(&s, Operation::Update, "k", json!({"b": 2, "a": "1"}))
            .await
            .unwrap();
        assert!(r.data.is_none() && r.status.is_none());
        let r = call(&s, Operation::Read, "k", json!({})).await.unwrap();
        let data = r.data.unwrap();
        assert_eq!(Value::Object(data.clone()), json!({"a": "1", "b": 2}));
        // Go prints keys sorted.
        assert_eq!(data.keys().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(r.lease_duration, 2_764_800);
        assert!(r.warnings.is_empty());

        call(&s, Operation::Update, "dir/sub/x", json!({"a": "b"}))
            .await
            .unwrap();
        let r = call(&s, Operation::List, "", json!({})).await.unwrap();
        assert_eq!(r.data.unwrap()["keys"], json!(["dir/", "k"]));
        let r = call(&s, Operation::List, "dir", json!({})).await.unwrap();
        assert_eq!(r.data.unwrap()["keys"], json!(["sub/"]));
        let r = call(&s, Operation::List, "dir/", json!({})).await.unwrap();
        assert_eq!(r.data.unwrap()["keys"], json!(["sub/"]));
        assert!(matches!(
            call(&s, Operation::List, "nodir", json!({})).await,
            Err(Error::NotFound)
        ));

        call(&s, Operation::Delete, "k", json!({})).await.unwrap();
        assert!(matches!(
            call(&s, Operation::Read, "k", json!({})).await,
            Err(Error::NotFound)
        ));
        // Deleting what is not there is fine.
        call(&s, Operation::Delete, "k", json!({})).await.unwrap();
        call(&s, Operation::Delete, "", json!({})).await.unwrap();
    }

    #[tokio::test]
    async fn ttl_sets_the_lease() {
        let s = InmemStorage::new();
        let cases = [
            (json!({"x": 1, "ttl": "1h"}), 3600),
            (json!({"x": 1, "ttl": 90}), 90),
            (json!({"x": 1, "ttl": "1d"}), 86_400),
            (json!({"x": 1, "ttl": "10000h"}), 36_000_000),
            (json!({"x": 1, "ttl": "abc"}), 2_764_800),
            (json!({"x": 1, "ttl": true}), 2_764_800),
            (json!({"x": 1, "ttl": 0}), 0),
            (json!({"x": 1, "ttl": null}), 0),
            (json!({"x": 1, "ttl": "-5s"}), 0),
            (json!({"x": 1, "lease": "2h"}), 7200),
            (json!({"x": 1, "ttl": "1h", "lease": "2h"}), 3600),
            (json!({"x": 1, "ttl": "abc", "lease": "2h"}), 2_764_800),
        ];
        for (data, want) in cases {
            call(&s, Operation::Update, "t", data.clone())
                .await
                .unwrap();
            let r = call(&s, Operation::Read, "t", json!({})).await.unwrap();
            assert_eq!(r.lease_duration, want, "{data}");
        }
    }

    #[tokio::test]
    async fn bad_input() {
        let s = InmemStorage::new();
        let e = call(&s, Operation::Update, "k", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "missing data fields");
        let e = call(&s, Operation::Update, "", json!({"a": 1}))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "missing path");
        let e = call(&s, Operation::Update, "d/", json!({"a": 1}))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "cannot write to a path ending in '/'");
        assert!(matches!(
            call(&s, Operation::Patch, "k", json!({"a": 1})).await,
            Err(Error::UnsupportedOperation)
        ));
        assert!(matches!(
            call(&s, Operation::Read, "", json!({})).await,
            Err(Error::NotFound)
        ));
    }

    #[tokio::test]
    async fn unknown_query_parameters_warn() {
        let s = InmemStorage::new();
        call(&s, Operation::Update, "k", json!({"a": "b"}))
            .await
            .unwrap();
        let r = call(&s, Operation::Read, "k", json!({"zz": "1"}))
            .await
            .unwrap();
        assert_eq!(
            r.warnings,
            vec!["Endpoint ignored these unrecognized parameters: [zz]"]
        );
        let r = call(
            &s,
            Operation::List,
            "",
            json!({"after": "x", "list": "true"}),
        )
        .await
        .unwrap();
        assert_eq!(
            r.warnings,
            vec!["Endpoint ignored these unrecognized parameters: [after]"]
        );
        // A missing secret stays a plain 404.
        assert!(matches!(
            call(&s, Operation::Read, "nokey", json!({"zz": "1"})).await,
            Err(Error::NotFound)
        ));
    }
}
