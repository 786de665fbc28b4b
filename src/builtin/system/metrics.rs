//! `sys/metrics`: mainkey's metrics. `format=prometheus` gives the text exposition format
//! (what seed 001's Prometheus scrapes); without it, the same families as JSON.
//!
//! Reached through the pipeline, so it needs a token that may `read` `sys/metrics`, as in
//! Vault; a listener with `telemetry { unauthenticated_metrics_access = true }` answers it
//! itself, without a token (see `gateway::server`).

use crate::logical::{fields, Error, Operation, Request, Response};
use crate::metrics;

pub fn handle(req: &Request) -> Result<Response, Error> {
    if req.operation != Operation::Read {
        return Err(Error::UnsupportedOperation);
    }
    metrics::answer(fields::string(&req.data, "format")?.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats() {
        let mut req = Request::new(Operation::Read, "metrics");
        req.data = fields::into_map(json!({"format": "prometheus"}));
        let resp = handle(&req).unwrap();
        assert_eq!(resp.status_code(), 200);
        req.data = fields::into_map(json!({"format": "xml"}));
        assert!(matches!(handle(&req), Err(Error::BadRequest(_))));
        req.operation = Operation::Update;
        assert!(matches!(handle(&req), Err(Error::UnsupportedOperation)));
    }
}
