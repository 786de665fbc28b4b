//! Proxy mode: mainkey as the edge proxy itself (pingora's `ProxyHttp`), for users without
//! Traefik, Caddy or nginx. Each request runs the same route evaluation as the forward-auth
//! endpoint, then goes to the route's upstream with the caller's token removed and the
//! identity and credential headers set.
//!
//! The phases and their defaults:
//! - `request_filter`: the path check (400 for an ambiguous path), then
//!   [`Gateway::evaluate`]; a refusal is answered here and nothing reaches the upstream.
//! - `upstream_peer`: the route's upstream, resolved per request; pooled by pingora.
//! - `upstream_request_filter`: hop-by-hop headers (and those `Connection:` names) removed,
//!   the client's token, identity and injected headers removed, mainkey's set last, so a
//!   client can neither forge nor strip them. The path is forwarded unchanged.
//! - `fail_to_proxy`: a refused or reset upstream is 502, a timeout 504, with a clear body.
//!
//! Responses stream as they arrive (SSE included: pingora writes each chunk through), and
//! WebSocket upgrades pass through.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use super::decision::{Allowed, Forwarded, Gateway, Outcome};
use super::{api, forward_auth, path_check};
use crate::config::gateway::Upstream;

/// How long a connection to an upstream may take before the answer is 504.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Headers that belong to one hop (RFC 9110 §7.6.1, plus the legacy ones); never forwarded.
/// `Transfer-Encoding` is not here: pingora frames the forwarded body by it.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "upgrade",
];

/// Headers a client's `Connection:` may never remove: framing and routing.
const FRAMING: [&str; 3] = ["content-length", "transfer-encoding", "host"];

pub struct ProxyApp {
    gateway: Arc<Gateway>,
    /// The listener's `max_request_size`; `None` is unlimited.
    body_limit: Option<u64>,
}

impl ProxyApp {
    pub fn new(gateway: Arc<Gateway>, body_limit: Option<u64>) -> ProxyApp {
        ProxyApp {
            gateway,
            body_limit,
        }
    }
}

/// What `request_filter` decided, for the later phases.
#[derive(Default)]
pub struct ProxyCtx {
    allowed: Option<Arc<Allowed>>,
    upstream: Option<Upstream>,
    /// Request body bytes passed on so far.
    body_bytes: u64,
}

#[async_trait]
impl ProxyHttp for ProxyApp {
    type CTX = ProxyCtx;

    fn new_ctx(&self) -> ProxyCtx {
        ProxyCtx::default()
    }

    /// Default: refuse. Only an allowed request for a route with an upstream goes on.
    async fn request_filter(&self, session: &mut Session, ctx: &mut ProxyCtx) -> Result<bool> {
        let id = api::new_request_id();
        let header = session.req_header();
        let target = header
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let path = match path_check::check_forwarded(&target) {
            Ok(p) => p.path,
            Err(e) => {
                respond(session, forward_auth::ambiguous_path(&e, false)).await?;
                return Ok(true);
            }
        };
        let host = header
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| header.uri.authority().map(|a| a.as_str()))
            .unwrap_or("")
            .to_string();
        let method = header.method.as_str().to_string();
        let token = forward_auth::token_of(&header.headers);
        let settings = self.gateway.settings();
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        // Behind a trusted load balancer the client is named in X-Forwarded-For; otherwise
        // the peer is the client.
        let client = if settings.is_trusted(peer) {
            forward_auth::client_address(&session.req_header().headers, peer, &settings)
        } else {
            peer
        };
        let fwd = Forwarded {
            method: &method,
            host: &host,
            path: &path,
            route: None,
            token: token.as_deref(),
            client,
            request_id: &id,
        };
        let (outcome, route) = self.gateway.evaluate(&fwd).await;
        match outcome {
            Outcome::Allow(allowed) => {
                let upstream = route
                    .as_deref()
                    .and_then(|name| settings.routes.by_name(name))
                    .and_then(|r| r.config.upstream.clone());
                let Some(upstream) = upstream else {
                    respond(session, upstream_error(502, "the route has no upstream")).await?;
                    return Ok(true);
                };
                let declared = session
                    .req_header()
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if let (Some(declared), Some(limit)) = (declared, self.body_limit) {
                    if declared > limit {
                        respond(session, upstream_error(413, "http: request body too large"))
                            .await?;
                        return Ok(true);
                    }
                }
                ctx.allowed = Some(allowed);
                ctx.upstream = Some(upstream);
                Ok(false)
            }
            refused => {
                respond(session, forward_auth::refusal(&refused, false)).await?;
                Ok(true)
            }
        }
    }

    /// Default: pass every chunk on, until the listener's `max_request_size` is crossed (a
    /// chunked body declares no length): then 413, or a cut stream once the upstream answered.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut ProxyCtx,
    ) -> Result<()> {
        let chunk = body.as_ref().map_or(0, |b| b.len() as u64);
        ctx.body_bytes = ctx.body_bytes.saturating_add(chunk);
        match self.body_limit {
            Some(limit) if ctx.body_bytes > limit => {
                Error::e_explain(ErrorType::HTTPStatus(413), "request body too large")
            }
            _ => Ok(()),
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut ProxyCtx,
    ) -> Result<Box<HttpPeer>> {
        let upstream = ctx
            .upstream
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no upstream chosen"))?;
        // An address needs no resolver (which would cost a blocking-pool round trip per
        // request); a name is resolved per request, so a DNS change is followed.
        let literal = upstream
            .host
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| std::net::SocketAddr::new(ip, upstream.port));
        let resolved = match literal {
            Some(addr) => Some(addr),
            None => tokio::net::lookup_host((upstream.host.as_str(), upstream.port))
                .await
                .ok()
                .and_then(|mut addrs| addrs.next()),
        };
        let address = resolved.ok_or_else(|| {
            let mut e = Error::explain(
                ErrorType::ConnectNoRoute,
                format!("cannot resolve upstream {}", upstream.url),
            );
            e.esource = ErrorSource::Upstream;
            e
        })?;
        let mut peer = HttpPeer::new(address, upstream.tls, upstream.host.clone());
        peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut ProxyCtx,
    ) -> Result<()> {
        let Some(allowed) = ctx.allowed.as_ref() else {
            return Error::e_explain(ErrorType::InternalError, "no decision for the request");
        };
        clean_request(upstream_request, &self.gateway.settings().protected);
        for (name, value) in allowed.headers() {
            upstream_request.insert_header(name, value)?;
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        _ctx: &mut ProxyCtx,
    ) -> FailToProxy {
        let (code, message) = match e.etype() {
            ErrorType::HTTPStatus(413) => (413, "http: request body too large"),
            ErrorType::HTTPStatus(code) => (*code, "upstream error"),
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
                if e.esource() == &ErrorSource::Upstream =>
            {
                (504, "the upstream did not answer in time")
            }
            _ if e.esource() == &ErrorSource::Upstream => {
                (502, "the upstream refused or reset the connection")
            }
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                // The client is gone; there is nobody to answer.
                (0, "")
            }
            _ if e.esource() == &ErrorSource::Downstream => (400, "bad request"),
            _ => (500, "internal error"),
        };
        if code > 0 {
            tracing::warn!(code, error = %e, "proxy: request failed");
            let _ = respond(session, upstream_error(code, message)).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }
}

/// Removes what must not reach the upstream: the hop-by-hop headers and those the client's
/// `Connection:` names (except framing), the client's token, and every identity or injected
/// header name the client sent. A WebSocket upgrade keeps `Upgrade` and `Connection: upgrade`.
fn clean_request(req: &mut RequestHeader, protected: &[HeaderName]) {
    let named: Vec<String> = req
        .headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let upgrade = named.iter().any(|t| t == "upgrade") && req.headers.contains_key(UPGRADE);
    let upgrade_value = req.headers.get(UPGRADE).cloned();
    for name in &named {
        if !FRAMING.contains(&name.as_str()) {
            req.remove_header(name.as_str());
        }
    }
    for name in HOP_BY_HOP {
        req.remove_header(name);
    }
    let client_identity: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|n| n.as_str().starts_with("x-mainkey-"))
        .cloned()
        .collect();
    for name in client_identity
        .iter()
        .chain(protected)
        .map(HeaderName::as_str)
        .chain(["authorization", "x-vault-token"])
    {
        req.remove_header(name);
    }
    if let (true, Some(value)) = (upgrade, upgrade_value) {
        let _ = req.insert_header(UPGRADE, value);
        let _ = req.insert_header(CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

fn upstream_error(code: u16, message: &str) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::new(
        serde_json::json!({ "errors": [message] })
            .to_string()
            .into_bytes(),
    );
    *resp.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::BAD_GATEWAY);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Sends a whole answer that mainkey made itself.
async fn respond(session: &mut Session, resp: http::Response<Vec<u8>>) -> Result<()> {
    let (parts, body) = resp.into_parts();
    let mut header = ResponseHeader::build(parts.status, Some(parts.headers.len() + 1))?;
    for (name, value) in &parts.headers {
        header.append_header(name.clone(), value.clone())?;
    }
    header.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    session.set_keepalive(None);
    session
        .write_response_header(Box::new(header), body.is_empty())
        .await?;
    if !body.is_empty() {
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/t/acme/x", None).unwrap();
        for (n, v) in headers {
            req.append_header(n.to_string(), *v).unwrap();
        }
        req
    }

    fn names(req: &RequestHeader) -> Vec<String> {
        let mut n: Vec<String> = req.headers.keys().map(|k| k.to_string()).collect();
        n.sort();
        n
    }

    #[test]
    fn the_client_can_neither_forge_nor_strip_what_mainkey_sets() {
        let protected = [HeaderName::from_static("x-shopify-access-token")];
        let mut req = request(&[
            ("Host", "shop"),
            (
                "Connection",
                "X-Mainkey-Tenant, X-Shopify-Access-Token, Content-Length, X-Custom",
            ),
            ("X-Mainkey-Tenant", "globex"),
            ("X-Mainkey-Anything", "x"),
            ("X-Shopify-Access-Token", "forged"),
            ("Authorization", "Bearer hvs.x"),
            ("X-Vault-Token", "hvs.x"),
            ("Proxy-Authorization", "Basic x"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("X-Custom", "dropped: named by Connection"),
            ("Content-Length", "0"),
            ("Accept", "*/*"),
        ]);
        clean_request(&mut req, &protected);
        assert_eq!(names(&req), ["accept", "content-length", "host"]);
    }

    #[test]
    fn a_websocket_upgrade_keeps_its_upgrade() {
        let mut req = request(&[
            ("Connection", "keep-alive, Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        clean_request(&mut req, &[]);
        assert_eq!(req.headers.get("upgrade").unwrap(), "websocket");
        assert_eq!(req.headers.get("connection").unwrap(), "upgrade");
        assert!(req.headers.contains_key("sec-websocket-key"));
        let mut plain = request(&[("Upgrade", "websocket")]);
        clean_request(&mut plain, &[]);
        assert!(
            !plain.headers.contains_key("upgrade"),
            "no Connection: upgrade, no upgrade"
        );
    }
}
