//! One HTTP/1 connection, from accept to close: the connection cap, the idle timeout, the total
//! deadline for a request head, and answers to heads pingora would drop.
//!
//! pingora's own HTTP app reads the head with a timeout on each read, so a client that sends
//! one header line every few seconds keeps a connection (and its task) forever; and a head it
//! cannot parse (a request target over the `http::Uri` limit, more than 256 headers, more than
//! 1 MiB, a control character in a value) ends in a dropped connection with no answer. So
//! mainkey reads the head itself, under one deadline for the whole head (Vault's
//! `http_read_header_timeout`), answers what it must refuse (414, 431, 400), and hands the
//! complete head to pingora's parser as a pipelined prefix, so the rest of the exchange (body,
//! keep-alive, response framing) is pingora's.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::http_app::ServeHttp;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::{timeout, Instant};

use crate::config::ListenerLimits;

/// The largest request head (request line and headers) read: Go's `DefaultMaxHeaderBytes`, which
/// Vault uses, and pingora's own limit.
pub const MAX_HEAD_BYTES: usize = 1024 * 1024;
/// pingora's header count limit; more is answered 431 rather than dropped.
pub const MAX_HEADERS: usize = 256;
/// The longest request target `http::Uri` holds; a longer one is answered 414.
pub const MAX_TARGET_BYTES: usize = u16::MAX as usize - 1;
/// After an error answer, how long the unread rest of the request is drained before closing,
/// so the client reads the answer instead of a reset (what Go's server does, for 500 ms).
const LINGER: Duration = Duration::from_millis(500);
/// The most that is drained in that time.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// Why a head is refused before pingora sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadRefusal {
    /// 414: the request line's target is longer than [`MAX_TARGET_BYTES`].
    UriTooLong,
    /// 431: the head is over [`MAX_HEAD_BYTES`] or has more than [`MAX_HEADERS`] headers.
    HeadersTooLarge,
    /// 400: a header value holds a control character.
    InvalidHeaderValue,
    /// 400: a header name is not a token.
    InvalidHeaderName,
}

impl HeadRefusal {
    fn status(self) -> (u16, &'static str) {
        match self {
            HeadRefusal::UriTooLong => (414, "URI Too Long"),
            HeadRefusal::HeadersTooLarge => (431, "Request Header Fields Too Large"),
            HeadRefusal::InvalidHeaderValue | HeadRefusal::InvalidHeaderName => {
                (400, "Bad Request")
            }
        }
    }

    fn message(self) -> &'static str {
        match self {
            HeadRefusal::UriTooLong => "request URI too long",
            HeadRefusal::HeadersTooLarge => "request header fields too large",
            HeadRefusal::InvalidHeaderValue => "invalid header value",
            HeadRefusal::InvalidHeaderName => "invalid header name",
        }
    }

    /// The whole answer, Vault's error envelope, closing the connection.
    pub fn response_bytes(self) -> Vec<u8> {
        let (code, reason) = self.status();
        let body = serde_json::json!({ "errors": [self.message()] }).to_string();
        format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// What the bytes read so far say about the head.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadState {
    /// More bytes are needed.
    Partial,
    /// The head is complete and fit to hand to pingora (which may still reject it, as before).
    Complete,
    Refused(HeadRefusal),
}

/// Classifies the head at the start of `buf`. `scanned` is where the search for the end of the
/// head may resume (it is updated), so that a head read in many small pieces is not re-scanned.
pub fn check_head(buf: &[u8], scanned: &mut usize) -> HeadState {
    // Only the start of the buffer can hold a request line that fits: searching no further
    // keeps the cost of each read small however the head is sliced.
    let window = &buf[..buf.len().min(MAX_TARGET_BYTES + 64)];
    let line_len = window
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(window.len());
    // "METHOD SP target SP HTTP/1.1": the target is bounded by the line, so a line within the
    // limit never needs the split.
    if line_len > MAX_TARGET_BYTES {
        let line = &buf[..line_len];
        let target_len = match line.iter().position(|&b| b == b' ') {
            Some(sp) => {
                let rest = &line[sp + 1..];
                rest.iter().position(|&b| b == b' ').unwrap_or(rest.len())
            }
            None => line.len(),
        };
        if target_len > MAX_TARGET_BYTES {
            return HeadState::Refused(HeadRefusal::UriTooLong);
        }
    }
    let Some(end) = head_end(buf, scanned) else {
        if buf.len() > MAX_HEAD_BYTES {
            return HeadState::Refused(HeadRefusal::HeadersTooLarge);
        }
        return HeadState::Partial;
    };
    if end > MAX_HEAD_BYTES {
        return HeadState::Refused(HeadRefusal::HeadersTooLarge);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf[..end]) {
        Err(httparse::Error::TooManyHeaders) => HeadState::Refused(HeadRefusal::HeadersTooLarge),
        Err(httparse::Error::HeaderValue) => HeadState::Refused(HeadRefusal::InvalidHeaderValue),
        Err(httparse::Error::HeaderName) => HeadState::Refused(HeadRefusal::InvalidHeaderName),
        // Everything else (a complete head, or one pingora handles in its own way, such as a
        // target with characters it escapes) is pingora's to parse.
        _ => HeadState::Complete,
    }
}

/// The end of the head (just past its blank line, `\r\n\r\n` or a bare `\n\n`), if present.
fn head_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    // Resume three bytes back, so a terminator split across reads is still found.
    let start = scanned.saturating_sub(3);
    let found = buf[start..].iter().enumerate().find_map(|(i, &b)| {
        let at = start + i;
        if b != b'\n' {
            return None;
        }
        if at >= 1 && buf[at - 1] == b'\n' {
            return Some(at + 1);
        }
        if at >= 2 && buf[at - 1] == b'\r' && buf[at - 2] == b'\n' {
            return Some(at + 1);
        }
        None
    });
    *scanned = buf.len();
    found
}

/// What answers a request once its whole head is buffered: the `/v1` app ([`Api`]), or
/// pingora's proxy (proxy mode), behind the same per-connection limits.
#[async_trait]
pub trait Served: Send + Sync + 'static {
    /// Serves one request. `session` holds the complete head as a pipelined prefix, not yet
    /// parsed; `keepalive` is the listener's (`None` while stopping); the deadline bounds the
    /// parse. Returns the stream when the connection may carry another request.
    async fn serve(
        &self,
        session: ServerSession,
        keepalive: Option<u64>,
        deadline: Instant,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream>;
}

/// A [`ServeHttp`] app (the `/v1` API and forward-auth): parse, answer, write, finish.
pub struct Api<A>(pub A);

#[async_trait]
impl<A: ServeHttp + Send + Sync + 'static> Served for Api<A> {
    async fn serve(
        &self,
        mut session: ServerSession,
        keepalive: Option<u64>,
        deadline: Instant,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // The head is already buffered, so this parses without reading.
        match tokio::time::timeout_at(deadline, session.read_request()).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) | Err(_) => return None,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "request head refused by the HTTP parser");
                return None;
            }
        }
        session.set_keepalive(keepalive);
        let response = self.0.response(&mut session).await;
        let (parts, body) = response.into_parts();
        let header: ResponseHeader = parts.into();
        if let Err(e) = session.write_response_header(Box::new(header)).await {
            tracing::debug!(error = %e, "writing the response head failed");
            return None;
        }
        if !body.is_empty() {
            if let Err(e) = session.write_response_body(body.into(), true).await {
                tracing::debug!(error = %e, "writing the response body failed");
                return None;
            }
        }
        match session.finish().await {
            // Pipelining is off, so there are no bytes read past this request: a client that
            // sent some has its connection closed by pingora instead.
            Ok(Some(reusable)) if !*shutdown.borrow() => Some(reusable.into_parts().0),
            _ => None,
        }
    }
}

/// pingora's proxy, which parses the buffered head and runs the whole exchange itself.
#[async_trait]
impl<P: HttpServerApp + Send + Sync + 'static> Served for Arc<P> {
    async fn serve(
        &self,
        mut session: ServerSession,
        keepalive: Option<u64>,
        _deadline: Instant,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // pingora's parse then adjusts it to the client's `Connection` header.
        session.set_keepalive(keepalive);
        let reused = self.process_new_http(session, shutdown).await?;
        (!*shutdown.borrow()).then(|| reused.consume().0)
    }
}

/// A listener's app behind the per-connection limits.
pub struct Connections<A> {
    app: Arc<A>,
    limits: ListenerLimits,
    open: Arc<Semaphore>,
}

impl<A> Connections<A> {
    pub fn new(app: A, limits: ListenerLimits) -> Self {
        Connections {
            app: Arc::new(app),
            open: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
        }
    }
}

/// How reading a head ended, when it did not produce one.
enum HeadEnd {
    /// The client closed, stalled past the deadline, or the read failed: close silently.
    Gone,
    Refused(HeadRefusal),
    /// The bytes are a TLS handshake: an `https://` client at a plain-HTTP listener.
    TlsHandshake,
}

/// A TLS record header of a handshake (content type 22, protocol major version 3). No HTTP
/// method starts with byte 0x16, so this cannot be a request.
pub fn looks_like_tls(buf: &[u8]) -> bool {
    buf.len() >= 2 && buf[0] == 0x16 && buf[1] == 0x03
}

#[async_trait]
impl<A: Served> ServerApp for Connections<A> {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Over the cap the connection is closed at once: holding it open to wait would spend
        // the very resource the cap protects.
        let Ok(_permit) = self.open.clone().try_acquire_owned() else {
            tracing::warn!(
                max_connections = self.limits.max_connections,
                "connection refused: listener at its connection limit"
            );
            return None;
        };
        // Only HTTP/1 is read here; the TLS settings offer no ALPN, so h2 is never negotiated,
        // and if it ever were, closing is safer than parsing h2 frames as a head.
        if matches!(
            stream.selected_alpn_proto(),
            Some(pingora::protocols::ALPN::H2)
        ) {
            return None;
        }
        let mut first = true;
        loop {
            let mut buf = BytesMut::with_capacity(4096);
            if !first {
                // Between requests: the idle timeout, cut short by shutdown.
                let mut shutdown = shutdown.clone();
                let idle = self.limits.http_idle_timeout;
                tokio::select! {
                    read = timeout(idle, stream.read_buf(&mut buf)) => match read {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return None,
                    },
                    _ = shutdown.changed() => return None,
                }
            }
            let deadline = Instant::now() + self.limits.http_read_header_timeout;
            match tokio::time::timeout_at(deadline, read_head(&mut stream, &mut buf)).await {
                Ok(Ok(())) => {}
                Ok(Err(HeadEnd::Refused(refusal))) => {
                    refuse(stream, refusal).await;
                    return None;
                }
                Ok(Err(HeadEnd::Gone)) => return None,
                Ok(Err(HeadEnd::TlsHandshake)) => {
                    // One short line instead of pingora's dump of the raw handshake bytes.
                    tracing::warn!(
                        peer = ?stream.get_socket_digest().and_then(|d| d.peer_addr().cloned()),
                        "a TLS handshake arrived at a plain-HTTP listener (tls_disable): the \
                         client should use an http:// address"
                    );
                    return None;
                }
                Err(_) => {
                    tracing::debug!("request head not complete within http_read_header_timeout");
                    return None;
                }
            }
            let mut session = ServerSession::new_http1(stream);
            session.set_pipelined_prefix(buf);
            let keepalive =
                (!*shutdown.borrow()).then(|| self.limits.http_idle_timeout.as_secs().max(1));
            stream = self
                .app
                .serve(session, keepalive, deadline, shutdown)
                .await?;
            first = false;
        }
    }
}

/// Reads until `buf` holds a whole head, or the head is refused.
async fn read_head(stream: &mut Stream, buf: &mut BytesMut) -> Result<(), HeadEnd> {
    let mut scanned = 0;
    loop {
        if looks_like_tls(buf) {
            return Err(HeadEnd::TlsHandshake);
        }
        match check_head(buf, &mut scanned) {
            HeadState::Complete => return Ok(()),
            HeadState::Refused(r) => return Err(HeadEnd::Refused(r)),
            HeadState::Partial => {}
        }
        // Never more than the limit plus one read's worth.
        buf.reserve(
            8192.min(MAX_HEAD_BYTES + 1 - buf.len().min(MAX_HEAD_BYTES))
                .max(1),
        );
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(HeadEnd::Gone),
            Ok(_) => {}
        }
    }
}

/// Writes the refusal, then drains what the client is still sending for a moment, so that it
/// reads the answer rather than a reset.
async fn refuse(mut stream: Stream, refusal: HeadRefusal) {
    tracing::debug!(?refusal, "request head refused");
    let answer = refusal.response_bytes();
    let written = timeout(LINGER, async {
        stream.write_all(&answer).await?;
        stream.flush().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    let _ = timeout(LINGER, async {
        let mut sink = vec![0u8; 16 * 1024];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
    let _ = timeout(LINGER, stream.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(buf: &[u8]) -> HeadState {
        check_head(buf, &mut 0)
    }

    #[test]
    fn a_tls_client_hello_is_told_apart_from_a_request() {
        assert!(looks_like_tls(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!looks_like_tls(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_tls(&[0x16]), "one byte is not enough to tell");
    }

    #[test]
    fn complete_and_partial_heads() {
        assert_eq!(
            state(b"GET /v1/x HTTP/1.1\r\nHost: a\r\n\r\n"),
            HeadState::Complete
        );
        assert_eq!(
            state(b"GET /v1/x HTTP/1.1\nHost: a\n\n"),
            HeadState::Complete
        );
        assert_eq!(
            state(b"GET /v1/x HTTP/1.1\r\nHost: a\r\n"),
            HeadState::Partial
        );
        assert_eq!(state(b""), HeadState::Partial);
        // A terminator split across reads is found on resumption.
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut scanned = 0;
        for n in 1..head.len() {
            assert_eq!(
                check_head(&head[..n], &mut scanned),
                HeadState::Partial,
                "{n}"
            );
        }
        assert_eq!(check_head(head, &mut scanned), HeadState::Complete);
    }

    #[test]
    fn a_long_target_is_414_even_before_the_head_is_complete() {
        let target = format!("/v1/{}", "a".repeat(70 * 1024));
        let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            state(head.as_bytes()),
            HeadState::Refused(HeadRefusal::UriTooLong)
        );
        let start = format!("GET {target}");
        assert_eq!(
            state(start.as_bytes()),
            HeadState::Refused(HeadRefusal::UriTooLong)
        );
        // Just within the limit, pingora gets it.
        let target = format!("/{}", "a".repeat(MAX_TARGET_BYTES - 1));
        let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(state(head.as_bytes()), HeadState::Complete);
    }

    #[test]
    fn large_or_many_headers_are_431() {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
            "b".repeat(MAX_HEAD_BYTES)
        );
        assert_eq!(
            state(big.as_bytes()),
            HeadState::Refused(HeadRefusal::HeadersTooLarge)
        );
        // Before the end arrives, too.
        assert_eq!(
            state(&big.as_bytes()[..MAX_HEAD_BYTES + 10]),
            HeadState::Refused(HeadRefusal::HeadersTooLarge)
        );
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("X-H{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(
            state(many.as_bytes()),
            HeadState::Refused(HeadRefusal::HeadersTooLarge)
        );
    }

    #[test]
    fn a_control_character_in_a_value_is_400() {
        assert_eq!(
            state(b"GET /v1/x HTTP/1.1\r\nX-Vault-Token: \x1b\r\n\r\n"),
            HeadState::Refused(HeadRefusal::InvalidHeaderValue)
        );
        assert_eq!(
            state(b"GET /v1/x HTTP/1.1\r\nX Bad: v\r\n\r\n"),
            HeadState::Refused(HeadRefusal::InvalidHeaderName)
        );
        // A tab and obs-text are allowed in values.
        assert_eq!(
            state(b"GET /v1/x HTTP/1.1\r\nX-A: a\tb\xe9\r\n\r\n"),
            HeadState::Complete
        );
    }

    #[test]
    fn refusals_are_vault_error_envelopes_that_close() {
        let bytes = HeadRefusal::InvalidHeaderValue.response_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with(r#"{"errors":["invalid header value"]}"#));
        let text = String::from_utf8(HeadRefusal::UriTooLong.response_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 "));
        let text = String::from_utf8(HeadRefusal::HeadersTooLarge.response_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "));
    }
}
