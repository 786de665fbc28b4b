//! The request context's two stages, where audit and metrics attach: every request to a
//! routed path is seen once decided and once answered, with its caller or its denial, and an
//! observer that fails makes the request fail closed.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::json;

use super::test_support::ROOT;
use super::*;
use crate::clock::SystemClock;
use crate::logical::fields::into_map;
use crate::physical::InmemBackend;

/// Records each stage as one line.
#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<String>>,
    /// Fail this stage ("before" or "after") of requests to this path.
    fail: Option<(&'static str, &'static str)>,
}

impl Recorder {
    fn failing(stage: &'static str, path: &'static str) -> Self {
        Recorder {
            fail: Some((stage, path)),
            ..Recorder::default()
        }
    }

    fn check(&self, stage: &str, ctx: &RequestContext) -> Result<(), Error> {
        match self.fail {
            Some((s, p)) if s == stage && p == ctx.path => {
                Err(Error::internal("disk full: /var/log/x"))
            }
            _ => Ok(()),
        }
    }
}

impl RequestObserver for Recorder {
    fn before(&self, ctx: &RequestContext, req: &Request) -> Result<(), Error> {
        self.lines.lock().push(format!(
            "before {} {:?} {} mount={:?} caller={:?} denial={:?} token_seen={}",
            ctx.id,
            ctx.operation,
            ctx.path,
            ctx.mount,
            ctx.caller.as_ref().map(|c| c.display_name().to_string()),
            ctx.denial,
            req.client_token.is_some(),
        ));
        self.check("before", ctx)
    }

    fn after(&self, ctx: &RequestContext, outcome: &Result<Response, Error>) -> Result<(), Error> {
        let status = match outcome {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("err {e}"),
        };
        self.lines
            .lock()
            .push(format!("after {} {} {status}", ctx.id, ctx.path));
        self.check("after", ctx)
    }
}

async fn core_with(observer: Arc<Recorder>) -> Arc<Core> {
    let config = CoreConfig {
        observers: Observers::new(vec![observer.clone()]),
        ..CoreConfig::default()
    };
    let core = Core::new(Arc::new(InmemBackend::new()), Arc::new(SystemClock), config)
        .await
        .unwrap();
    let init = core.initialize(1, 1, Some(ROOT)).await.unwrap();
    use base64::Engine as _;
    core.unseal(&base64::engine::general_purpose::STANDARD.encode(&init.keys[0]))
        .await
        .unwrap();
    core.handle_request(request(
        Operation::Update,
        "sys/mounts/secret",
        Some(ROOT),
        json!({"type": "kv-v2"}),
    ))
    .await
    .unwrap();
    observer.lines.lock().clear();
    core
}

fn request(op: Operation, path: &str, token: Option<&str>, body: serde_json::Value) -> Request {
    let mut req = Request::new(op, path).with_data(into_map(body));
    req.client_token = token.map(str::to_string);
    req
}

#[tokio::test]
async fn each_request_is_seen_decided_and_answered_with_its_id() {
    let rec = Arc::new(Recorder::default());
    let core = core_with(rec.clone()).await;

    let mut write = request(
        Operation::Update,
        "secret/data/a",
        Some(ROOT),
        json!({"data": {"k": "v"}}),
    );
    write.id = "req-1".into();
    core.handle_request(write).await.unwrap();
    let denied = core
        .handle_request(request(Operation::Read, "secret/data/a", None, json!({})))
        .await;
    assert!(matches!(denied, Err(Error::PermissionDenied)));
    // Not observed: the seal and health endpoints.
    core.handle_request(request(Operation::Read, "sys/health", None, json!({})))
        .await
        .unwrap();

    let lines = rec.lines.lock().clone();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(
        lines[0],
        "before req-1 Update secret/data/a mount=Some(\"secret/\") caller=Some(\"root\") denial=None token_seen=true"
    );
    assert_eq!(lines[1], "after req-1 secret/data/a ok");
    // A request without an id gets one, the same at both stages.
    let id = lines[2].split(' ').nth(1).unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert!(
        lines[2].ends_with("caller=None denial=Some(NoToken) token_seen=false"),
        "{}",
        lines[2]
    );
    assert_eq!(
        lines[3],
        format!("after {id} secret/data/a err permission denied")
    );
}

#[tokio::test]
async fn a_failing_observer_stops_the_request_before_the_backend_runs() {
    let rec = Arc::new(Recorder::failing("before", "secret/data/a"));
    let core = core_with(rec.clone()).await;
    let write = core
        .handle_request(request(
            Operation::Update,
            "secret/data/a",
            Some(ROOT),
            json!({"data": {"k": "v"}}),
        ))
        .await;
    match write {
        Err(Error::Internal(m)) => {
            assert_eq!(m, "internal error", "the observer's words stay in the log")
        }
        other => panic!("expected 500, got {:?}", other.map(|_| ())),
    }
    // The write never reached the engine.
    let read = core
        .handle_request(request(
            Operation::Read,
            "secret/data/a",
            Some(ROOT),
            json!({}),
        ))
        .await;
    assert!(
        matches!(read, Err(Error::Internal(_))),
        "the read fails too, at the same stage"
    );
    let unsealed = core.unsealed().unwrap();
    assert!(unsealed.router.read().route("secret/data/a").is_some());
    let list = core
        .handle_request(request(
            Operation::List,
            "secret/metadata/",
            Some(ROOT),
            json!({}),
        ))
        .await;
    assert!(matches!(list, Err(Error::NotFound)), "nothing was written");
}

/// As Vault's audit: when the answer cannot be recorded, no secret is returned.
#[tokio::test]
async fn a_failing_observer_after_the_backend_returns_no_secret() {
    let rec = Arc::new(Recorder::failing("after", "secret/data/a"));
    let core = core_with(rec).await;
    // The write itself fails closed too (at its after stage), but it is stored.
    let _ = core
        .handle_request(request(
            Operation::Update,
            "secret/data/a",
            Some(ROOT),
            json!({"data": {"k": "the-secret"}}),
        ))
        .await;
    let read = core
        .handle_request(request(
            Operation::Read,
            "secret/data/a",
            Some(ROOT),
            json!({}),
        ))
        .await;
    match read {
        Err(Error::Internal(m)) => assert!(!m.contains("the-secret")),
        other => panic!("expected 500, got {:?}", other.map(|r| r.data)),
    }
}
