//! The unsealed core that the core's tests start from: in memory, one unseal key, the root
//! token `root`, and a clock the test moves.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::Value;

use super::*;
use crate::clock::ManualClock;
use crate::logical::fields::into_map;
use crate::physical::InmemBackend;

pub const ROOT: &str = "root";

pub struct TestCore {
    pub core: Arc<Core>,
    pub clock: Arc<ManualClock>,
    pub backend: Arc<InmemBackend>,
    /// The unseal key, base64.
    pub keys: Vec<String>,
}

/// An initialized, unsealed core at a fixed time.
pub async fn unsealed_core() -> TestCore {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let backend = Arc::new(InmemBackend::new());
    let core = Core::new(backend.clone(), clock.clone(), CoreConfig::default())
        .await
        .unwrap();
    let init = core.initialize(1, 1, Some(ROOT)).await.unwrap();
    let keys: Vec<String> = init
        .keys
        .iter()
        .map(|k| base64::engine::general_purpose::STANDARD.encode(k))
        .collect();
    core.unseal(&keys[0]).await.unwrap();
    TestCore {
        core,
        clock,
        backend,
        keys,
    }
}

impl TestCore {
    pub async fn call(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Response, Error> {
        self.core
            .handle_request(
                Request::new(op, path)
                    .with_token(token)
                    .with_data(into_map(body)),
            )
            .await
    }

    pub async fn write(&self, token: &str, path: &str, body: Value) -> Result<Response, Error> {
        self.call(token, Operation::Update, path, body).await
    }

    /// A root request that must succeed.
    pub async fn root(&self, op: Operation, path: &str, body: Value) -> Response {
        self.call(ROOT, op, path, body)
            .await
            .unwrap_or_else(|e| panic!("root {op:?} {path}: {e:?}"))
    }

    /// The client token of a successful `auth/token/create` by `parent`.
    pub async fn token(&self, parent: &str, body: Value) -> String {
        let resp = self
            .write(parent, "auth/token/create", body)
            .await
            .unwrap_or_else(|e| panic!("token create: {e:?}"));
        resp.auth.unwrap()["client_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}
