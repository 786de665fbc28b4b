//! The pingora server: one `/v1` app on every configured listener, and how it stops.
//!
//! Stopping. pingora's `Server::run` returns once its runtimes are shut down (only
//! `run_forever` ends in `process::exit`), so [`serve`] calls `run` and then `on_shutdown` on the
//! calling thread, after every request task is gone: nothing can race the hook that zeroizes
//! keys and closes the database.
//! - SIGTERM (and SIGQUIT): graceful. Listeners stop accepting, requests in flight get
//!   [`GRACE_PERIOD_SECS`] to finish, then the runtimes get [`SHUTDOWN_TIMEOUT_SECS`] to wind
//!   down blocking work (e.g. a storage commit). About 1 s in total, 2 s at worst.
//! - SIGINT: fast. The runtimes are dropped at once.
//!
//! pingora's own signal watcher treats SIGQUIT as a zero-downtime upgrade that hands the
//! listening sockets to whatever listens on a fixed path in `/tmp`; mainkey never upgrades that
//! way, so it watches signals itself ([`StopSignal::unix_signals`]).

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, EXPECT};
use http::Method;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use tokio::sync::watch;

use super::body::{self, BodySource, BodyUse};
use super::conn::{Api, Connections};
use super::decision::Gateway;
use super::forward_auth;
use super::json_limits::JsonScanner;
use super::proxy::ProxyApp;
use super::{api, tls, ui, GatewayError, Handler};
use crate::config::{JsonLimits, ListenerConfig, ServerConfig};
use crate::core::Core;
use crate::logical::{Error, Response};
use pingora::proxy::HttpProxy;

/// How long requests in flight may still run after SIGTERM.
pub const GRACE_PERIOD_SECS: u64 = 1;
/// How long the runtimes then wait for blocking work before they are dropped.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 1;
/// A client that stalls while sending its body is cut off after this long (Vault's
/// `http_read_timeout` default).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the `/v1` API on every listener until SIGTERM, SIGQUIT or SIGINT, then runs
/// `on_shutdown` and returns.
///
/// Blocks the calling thread. Call it outside any tokio runtime: pingora builds its own, one
/// per service, with as many worker threads as the machine has cores. The core may have been
/// built in another (now finished) runtime as long as it keeps no handle to that runtime or
/// tasks spawned on it: its `handle_request` runs on pingora's runtimes, and a
/// `spawn_blocking` there uses pingora's blocking pool.
///
/// `on_shutdown` runs exactly once, on this thread, before `run` returns, whether the server
/// ran and was stopped or failed to start: it is the place to zeroize keys and close storage.
/// When it runs, no request task is left; a blocking task (such as a storage commit) may still
/// be finishing only after SIGINT or when it outlived the shutdown timeout.
pub fn run(
    core: Arc<Core>,
    config: &ServerConfig,
    config_file: Option<PathBuf>,
    on_shutdown: Box<dyn FnOnce() + Send>,
) -> Result<(), GatewayError> {
    let gateway = Arc::new(Gateway::new(
        core.clone(),
        &config.gateway,
        config.routes.clone(),
    ));
    let edge = Edge {
        reload: Reload {
            file: config_file,
            gateway: gateway.clone(),
            core: core.clone(),
        },
        gateway,
        proxy_listeners: config.gateway.listeners.clone(),
        metrics_address: config.telemetry.metrics_address.clone(),
        ui: config.ui,
    };
    serve(
        core,
        &config.listeners,
        Some(edge),
        on_shutdown,
        StopSignal::unix_signals(),
    )
}

/// What a full server adds to the API: the forward-auth path on every API listener, the
/// proxy mode listeners, SIGHUP reload, and the metrics address.
pub struct Edge {
    pub gateway: Arc<Gateway>,
    pub proxy_listeners: Vec<ListenerConfig>,
    pub reload: Reload,
    /// `telemetry { metrics_address }`: `/metrics` without a token.
    pub metrics_address: Option<String>,
    /// `ui = true`: the web UI's files at `/ui/` on every API listener (see [`ui`]).
    pub ui: bool,
}

/// [`run`] for any [`Handler`], stopped by `stop`. Tests use it with a [`StopTrigger`].
/// `edge`, when given, adds the gateway (see [`Edge`]).
pub fn serve<H: Handler>(
    handler: Arc<H>,
    listeners: &[ListenerConfig],
    edge: Option<Edge>,
    on_shutdown: Box<dyn FnOnce() + Send>,
    stop: StopSignal,
) -> Result<(), GatewayError> {
    let result = build_server(handler, listeners, edge).map(|server| {
        server.run(RunArgs {
            shutdown_signal: stop.into_watch(),
        });
        tracing::info!("server stopped");
    });
    on_shutdown();
    result
}

fn server_conf() -> ServerConf {
    ServerConf {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        // pingora's defaults (300 s and 5 s) would make SIGTERM take minutes.
        grace_period_seconds: Some(GRACE_PERIOD_SECS),
        graceful_shutdown_timeout_seconds: Some(SHUTDOWN_TIMEOUT_SECS),
        daemon: false,
        ..ServerConf::default()
    }
}

/// Checks every listener (address, port free, TLS files) and builds the server. These checks
/// happen here, before pingora starts, because the same failure inside pingora's service
/// startup panics in a runtime task and leaves a running server that listens on nothing.
fn build_server<H: Handler>(
    handler: Arc<H>,
    listeners: &[ListenerConfig],
    edge: Option<Edge>,
) -> Result<Server, GatewayError> {
    if listeners.is_empty() {
        return Err(GatewayError::NoListeners);
    }
    tls::install_crypto_provider();

    let proxy_listeners = edge.as_ref().map_or(&[][..], |e| &e.proxy_listeners[..]);
    let addresses = listeners
        .iter()
        .map(|l| resolve(&l.address))
        .collect::<Result<Vec<_>, _>>()?;
    let proxy_addresses = proxy_listeners
        .iter()
        .map(|l| resolve(&l.address))
        .collect::<Result<Vec<_>, _>>()?;
    let metrics_address = edge
        .as_ref()
        .and_then(|e| e.metrics_address.as_deref())
        .map(resolve)
        .transpose()?;
    probe_bind(
        &[
            &addresses[..],
            &proxy_addresses[..],
            metrics_address.as_slice(),
        ]
        .concat(),
    )?;
    let gateway = edge.as_ref().map(|e| e.gateway.clone());
    let ui = edge.as_ref().is_some_and(|e| e.ui);

    // One service per listener: each has its own limits, and its own connection cap.
    let mut server = Server::new_with_opt_and_conf(None, server_conf());
    server.bootstrap();
    for (listener, address) in listeners.iter().zip(addresses) {
        let tls = listener.tls.as_ref().map(tls::settings).transpose()?;
        let app = ApiApp {
            handler: handler.clone(),
            limit: body::effective_limit(listener.max_request_size),
            json: listener.limits.json.clone(),
            gateway: gateway.clone(),
            unauthenticated_metrics: listener.unauthenticated_metrics_access,
            ui,
        };
        let connections = Connections::new(Api(app), listener.limits.clone());
        let mut service = Service::new(format!("mainkey api {address}"), connections);
        let address = address.to_string();
        match tls {
            Some(settings) => {
                service.add_tls_with_settings(&address, None, settings);
                tracing::info!(%address, tls = true, "listener configured");
            }
            None => {
                service.add_tcp(&address);
                tracing::info!(%address, tls = false, "listener configured");
            }
        }
        server.add_service(service);
    }
    if let Some(edge) = edge {
        for (listener, address) in edge.proxy_listeners.iter().zip(proxy_addresses) {
            let tls = listener.tls.as_ref().map(tls::settings).transpose()?;
            // pingora's proxy behind mainkey's head reader, so a proxy listener keeps the
            // same head deadline, idle timeout, connection cap and 414/431 answers as the API.
            let mut proxy = HttpProxy::new(
                ProxyApp::new(
                    edge.gateway.clone(),
                    body::effective_limit(listener.max_request_size),
                ),
                server.configuration.clone(),
            );
            proxy.handle_init_modules();
            let connections = Connections::new(Arc::new(proxy), listener.limits.clone());
            let mut service = Service::new(format!("mainkey proxy {address}"), connections);
            let address = address.to_string();
            match tls {
                Some(settings) => service.add_tls_with_settings(&address, None, settings),
                None => service.add_tcp(&address),
            }
            tracing::info!(%address, tls = listener.tls.is_some(), "proxy listener configured");
            server.add_service(service);
        }
        server.add_service(background_service("mainkey config reload", edge.reload));
    }
    if let Some(address) = metrics_address {
        // pingora-prometheus serves the default registry, where src/metrics registers.
        let mut service = pingora_prometheus::prometheus_http_service();
        service.add_tcp(&address.to_string());
        tracing::info!(%address, "metrics listener configured");
        server.add_service(service);
    }
    Ok(server)
}

/// `host:port` to one socket address, as pingora would pick it (the first one resolved).
fn resolve(address: &str) -> Result<SocketAddr, GatewayError> {
    let invalid = |reason: String| GatewayError::InvalidAddress {
        address: address.to_string(),
        reason,
    };
    address
        .to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .next()
        .ok_or_else(|| invalid("resolves to no address".into()))
}

/// Binds every address once, all at the same time (so two listeners on one port are caught),
/// and releases them. A port taken in between is still possible, but rare; the common
/// mistakes (port in use, address not local, no permission) become a clear error here.
fn probe_bind(addresses: &[SocketAddr]) -> Result<(), GatewayError> {
    let mut held = Vec::with_capacity(addresses.len());
    for address in addresses {
        let listener = TcpListener::bind(address).map_err(|source| GatewayError::Bind {
            address: address.to_string(),
            source,
        })?;
        held.push(listener);
    }
    Ok(())
}

/// The pingora app that serves `/v1` on one group of listeners.
struct ApiApp<H> {
    handler: Arc<H>,
    /// The body limit of this listener; `None` is unlimited.
    limit: Option<u64>,
    /// The JSON complexity limits of this listener's bodies.
    json: JsonLimits,
    /// Serves the forward-auth path, when present.
    gateway: Option<Arc<Gateway>>,
    /// `sys/metrics` answers here without a token (the listener's `telemetry` block).
    unauthenticated_metrics: bool,
    /// Serves the web UI's files at `/ui/`, and redirects `/` there.
    ui: bool,
}

impl<H: Handler> ApiApp<H> {
    async fn serve(&self, session: &mut ServerSession, id: &str) -> Result<Response, Error> {
        let header = session.req_header();
        if !header.raw_path_is_utf8() {
            return Err(Error::bad_request(
                "invalid request path: non-printable character",
            ));
        }
        let remote_addr = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let head = api::decode_head(&header.method, &header.uri, &header.headers, remote_addr)?;

        let declared = header
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        body::check_declared_length(declared, self.limit)?;
        // Only a body that is kept needs a live token first; any other body is counted and
        // dropped as it arrives, so reads are authenticated once, in the core's pipeline.
        if head.takes_body() {
            match self.handler.admits(&head).await {
                Ok(()) => {}
                // Refused before its body is read: the core decides again on the head alone
                // (the same token, so the same denial), so that the refusal is audited and
                // counted like every other. The unread body closes the connection.
                Err(Error::PermissionDenied) => return self.handle(head, b"", id).await,
                Err(e) => return Err(e),
            }
        }
        let expects_continue = header
            .headers
            .get(EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        // pingora does not answer `Expect: 100-continue` by itself; curl waits a second for it
        // on every body over 1 MiB. Sent only once the head has passed every check, so a
        // rejected client never uploads its body.
        if expects_continue && !session.is_body_done() {
            session
                .write_continue_response()
                .await
                .map_err(|_| Error::bad_request("error reading data"))?;
        }
        session.set_read_timeout(Some(BODY_READ_TIMEOUT));
        // Only a write carries data; other bodies are counted against the limit and dropped.
        // A write's body passes the JSON limits chunk by chunk as it arrives.
        let mut scanner = JsonScanner::new(&self.json);
        let usage = if head.takes_raw_body() {
            BodyUse::Keep(None)
        } else if head.takes_body() {
            BodyUse::Keep(Some(&mut scanner))
        } else {
            BodyUse::Discard
        };
        let body = body::read_body(&mut SessionBody(session), self.limit, usage).await?;
        self.handle(head, &body, id).await
    }
}

#[async_trait]
impl<H: Handler> ServeHttp for ApiApp<H> {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let id = api::new_request_id();
        let resp = if let Some(resp) = self.ui_file(session) {
            resp
        } else if let Some(gateway) = self.forward_auth_here(session) {
            // Boxed: a gateway decision's future is kilobytes, which every `/v1` request's
            // future would otherwise carry and copy.
            Box::pin(self.forward_auth(gateway, session, &id)).await
        } else if let Some(resp) = self.unauthenticated_metrics(session, &id) {
            resp
        } else {
            api::encode(self.serve(session, &id).await, &id)
        };
        finish(session, resp)
    }
}

/// What every answer on an API listener gets last. After an early answer (413, 400, 404, a
/// forward-auth check, whose body is never read) the rest of the body is still on the wire;
/// pingora would drain it to reuse the connection, which is unbounded work for a body we
/// never wanted, so the connection is closed instead. A HEAD answer keeps the headers of the
/// GET (Content-Length included), as HTTP wants, without the body.
fn finish(
    session: &mut ServerSession,
    mut resp: http::Response<Vec<u8>>,
) -> http::Response<Vec<u8>> {
    if !session.is_body_done() {
        session.set_keepalive(None);
    }
    if session.req_header().method == Method::HEAD {
        resp.body_mut().clear();
    }
    resp
}

impl<H: Handler> ApiApp<H> {
    /// `GET /v1/sys/metrics` on a listener that allows it without a token, as Vault's
    /// `unauthenticated_metrics_access`. Any other spelling of the path goes to the core,
    /// which asks for a token.
    fn unauthenticated_metrics(
        &self,
        session: &ServerSession,
        id: &str,
    ) -> Option<http::Response<Vec<u8>>> {
        let header = session.req_header();
        if !self.unauthenticated_metrics
            || header.uri.path() != "/v1/sys/metrics"
            || !matches!(header.method, Method::GET | Method::HEAD)
        {
            return None;
        }
        let format = forward_auth::query_param(header.uri.query(), "format");
        Some(api::encode(crate::metrics::answer(format.as_deref()), id))
    }

    /// A file of the web UI, when it is on and the path is the UI's. It never reaches the core:
    /// the UI's files are public, and the UI reads data only through `/v1`.
    fn ui_file(&self, session: &ServerSession) -> Option<http::Response<Vec<u8>>> {
        if !self.ui {
            return None;
        }
        let header = session.req_header();
        ui::answer(&header.method, header.uri.path())
    }

    /// The gateway, when the request is for its forward-auth path.
    fn forward_auth_here(&self, session: &ServerSession) -> Option<&Gateway> {
        let gateway = self.gateway.as_deref()?;
        (session.req_header().uri.path() == gateway.settings().forward_auth_path).then_some(gateway)
    }

    /// The forward-auth answer.
    async fn forward_auth(
        &self,
        gateway: &Gateway,
        session: &ServerSession,
        id: &str,
    ) -> http::Response<Vec<u8>> {
        let header = session.req_header();
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        forward_auth::respond(
            gateway,
            header.method.as_str(),
            header.uri.query(),
            &header.headers,
            peer,
            id,
        )
        .await
    }

    /// The core's answer to the decoded request with `body`, under the answer's request id.
    async fn handle(
        &self,
        head: api::DecodedHead,
        body: &[u8],
        id: &str,
    ) -> Result<Response, Error> {
        let mut req = head.into_request(body)?;
        req.id = id.to_string();
        self.handler.handle(req).await
    }
}

/// Re-reads the config file on SIGHUP and swaps in its routes and trusted proxies. A file
/// that does not load keeps the running routes; the error names the key.
/// Without a file (dev mode) SIGHUP is only logged, rather than ending the process as its
/// default action would.
pub struct Reload {
    pub file: Option<PathBuf>,
    pub gateway: Arc<Gateway>,
    /// Its audit files are reopened, for logrotate.
    pub core: Arc<Core>,
}

#[async_trait]
impl BackgroundService for Reload {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::error!("cannot watch SIGHUP: routes will not reload");
            return;
        };
        loop {
            tokio::select! {
                _ = hangups.recv() => self.reload(),
                _ = shutdown.changed() => return,
            }
        }
    }
}

impl Reload {
    fn reload(&self) {
        self.core.reopen_audit();
        let Some(file) = &self.file else {
            tracing::info!("SIGHUP: no config file to reload (dev mode)");
            return;
        };
        match crate::config::load(file) {
            Ok(config) => {
                let routes = config.routes.len();
                self.gateway.reload(&config.gateway, config.routes);
                tracing::info!(routes, file = %file.display(), "SIGHUP: routes reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: the config file did not load; keeping the running routes");
            }
        }
    }
}

/// The session as a [`BodySource`].
struct SessionBody<'a>(&'a mut ServerSession);

#[async_trait]
impl BodySource for SessionBody<'_> {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, String> {
        self.0.read_request_body().await.map_err(|e| e.to_string())
    }
}

/// What stops the server: Unix signals, or a [`StopTrigger`].
pub struct StopSignal(StopSource);

enum StopSource {
    UnixSignals,
    Trigger(watch::Receiver<Option<StopKind>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopKind {
    Graceful,
    Fast,
}

impl StopSignal {
    /// SIGTERM and SIGQUIT stop gracefully, SIGINT at once.
    pub fn unix_signals() -> Self {
        StopSignal(StopSource::UnixSignals)
    }

    fn into_watch(self) -> Box<dyn ShutdownSignalWatch> {
        match self.0 {
            StopSource::UnixSignals => Box::new(UnixSignals),
            StopSource::Trigger(rx) => Box::new(TriggerWatch(rx)),
        }
    }
}

/// Stops a server started with the paired [`StopSignal`], from any thread. Dropping it stops
/// the server at once, so a test that panics does not leave a server behind.
pub struct StopTrigger(watch::Sender<Option<StopKind>>);

impl StopTrigger {
    /// As SIGTERM.
    pub fn graceful(&self) {
        self.0.send_replace(Some(StopKind::Graceful));
    }

    /// As SIGINT.
    pub fn fast(&self) {
        self.0.send_replace(Some(StopKind::Fast));
    }
}

/// A trigger and the signal it fires.
pub fn stop_trigger() -> (StopTrigger, StopSignal) {
    let (tx, rx) = watch::channel(None);
    (StopTrigger(tx), StopSignal(StopSource::Trigger(rx)))
}

struct TriggerWatch(watch::Receiver<Option<StopKind>>);

#[async_trait]
impl ShutdownSignalWatch for TriggerWatch {
    async fn recv(&self) -> ShutdownSignal {
        let mut rx = self.0.clone();
        // The borrow is copied out at once: it must not live across an await.
        let kind = match rx.wait_for(Option::is_some).await {
            Ok(kind) => *kind,
            Err(_) => None,
        };
        match kind {
            Some(StopKind::Graceful) => ShutdownSignal::GracefulTerminate,
            _ => ShutdownSignal::FastShutdown,
        }
    }
}

struct UnixSignals;

#[async_trait]
impl ShutdownSignalWatch for UnixSignals {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{signal, SignalKind};
        let (term, quit, int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::quit()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(quit), Ok(int)) => (term, quit, int),
            _ => {
                // Without handlers the server could not be stopped cleanly; stopping now is
                // louder than running unstoppable.
                tracing::error!("cannot install signal handlers; stopping");
                return ShutdownSignal::FastShutdown;
            }
        };
        let (mut term, mut quit, mut int) = (term, quit, int);
        tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM: stopping gracefully");
                ShutdownSignal::GracefulTerminate
            }
            _ = quit.recv() => {
                tracing::info!("SIGQUIT: stopping gracefully");
                ShutdownSignal::GracefulTerminate
            }
            _ = int.recv() => {
                tracing::info!("SIGINT: stopping now");
                ShutdownSignal::FastShutdown
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The real pingora server, in this process, on free ports, stopped by a [`StopTrigger`].
    //! Requests are written by hand so that framing (Content-Length, chunked, Expect) is exact.

    use std::io::{ErrorKind, Read, Write};
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::JoinHandle;
    use std::time::Instant;

    use parking_lot::Mutex;
    use serde_json::{json, Value};

    use super::*;
    use crate::config::TlsFiles;
    use crate::logical::{Map, Request};

    /// Records what reached it; answers by path.
    #[derive(Default)]
    struct Fake {
        seen: Mutex<Vec<Request>>,
    }

    #[async_trait]
    impl Handler for Fake {
        async fn handle(&self, req: Request) -> Result<Response, Error> {
            self.seen.lock().push(req.clone());
            match req.path.as_str() {
                "sys/sealed" => Err(Error::Sealed),
                "empty" => Ok(Response::empty()),
                "slow" => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(Response::empty())
                }
                _ => {
                    let mut data = Map::new();
                    data.insert("path".into(), json!(req.path));
                    data.insert("op".into(), json!(format!("{:?}", req.operation)));
                    data.insert("data".into(), Value::Object(req.data.clone()));
                    data.insert("has_token".into(), json!(req.client_token.is_some()));
                    Ok(Response::data(data))
                }
            }
        }
    }

    struct Running {
        fake: Arc<Fake>,
        trigger: StopTrigger,
        thread: Option<JoinHandle<Result<(), GatewayError>>>,
        stopped: Arc<AtomicBool>,
        addr: String,
    }

    impl Running {
        fn requests(&self) -> usize {
            self.fake.seen.lock().len()
        }

        fn join(&mut self) -> Duration {
            let start = Instant::now();
            let thread = self.thread.take().expect("joined once");
            thread
                .join()
                .expect("server thread")
                .expect("server result");
            start.elapsed()
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port")
    }

    fn start(limit: Option<u64>, tls: Option<TlsFiles>) -> Running {
        start_with(limit, tls, crate::config::ListenerLimits::default())
    }

    fn start_with(
        limit: Option<u64>,
        tls: Option<TlsFiles>,
        limits: crate::config::ListenerLimits,
    ) -> Running {
        let addr = format!("127.0.0.1:{}", free_port());
        let listeners = vec![ListenerConfig {
            address: addr.clone(),
            tls,
            max_request_size: limit,
            limits,
            unauthenticated_metrics_access: false,
        }];
        let fake = Arc::new(Fake::default());
        let (trigger, signal) = stop_trigger();
        let stopped = Arc::new(AtomicBool::new(false));
        let thread = {
            let (fake, stopped) = (fake.clone(), stopped.clone());
            std::thread::spawn(move || {
                let hook = Box::new(move || stopped.store(true, Ordering::SeqCst));
                serve(fake, &listeners, None, hook, signal)
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Running {
            fake,
            trigger,
            thread: Some(thread),
            stopped,
            addr,
        }
    }

    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).expect("JSON body")
        }
    }

    /// Reads until the server closes; a reset after a complete response (the server closed with
    /// our unread upload in its buffer) still counts as the end.
    fn read_reply(stream: &mut TcpStream) -> Reply {
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        parse_reply(&raw)
    }

    fn parse_reply(raw: &[u8]) -> Reply {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of head");
        let head = std::str::from_utf8(&raw[..end]).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Reply {
            status,
            headers,
            body: raw[end + 4..].to_vec(),
        }
    }

    fn send(addr: &str, request: &[u8]) -> Reply {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(request).expect("write");
        read_reply(&mut stream)
    }

    fn request(addr: &str, method: &str, target: &str, headers: &str, body: &str) -> Reply {
        let raw = format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        send(addr, raw.as_bytes())
    }

    #[test]
    fn serves_v1_over_http() {
        let mut s = start(Some(1024), None);
        let a = s.addr.clone();

        let r = request(
            &a,
            "GET",
            "/v1/secret/data/a%20b?version=2",
            "X-Vault-Token: t\r\n",
            "",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let body = r.json();
        assert_eq!(body["data"]["path"], "secret/data/a b");
        assert_eq!(body["data"]["op"], "Read");
        assert_eq!(body["data"]["data"], json!({"version": "2"}));
        assert_eq!(body["data"]["has_token"], true);
        assert_eq!(body.as_object().map(|o| o.len()), Some(8));

        let r = request(&a, "LIST", "/v1/secret/metadata", "", "");
        assert_eq!(r.json()["data"]["op"], "List");
        assert_eq!(r.json()["data"]["path"], "secret/metadata/");

        let r = request(&a, "POST", "/v1/secret/data/x", "", r#"{"data":{"k":"v"}}"#);
        assert_eq!(r.json()["data"]["data"], json!({"data": {"k": "v"}}));

        let r = request(&a, "PUT", "/v1/empty", "", "");
        assert_eq!(r.status, 204);
        assert!(r.body.is_empty());

        let r = request(&a, "GET", "/v1/sys/sealed", "", "");
        assert_eq!(
            (r.status, r.json()),
            (503, json!({"errors": ["Vault is sealed"]}))
        );

        // HEAD: the GET's headers, no body.
        let r = request(&a, "HEAD", "/v1/secret/data/a", "", "");
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        assert_ne!(r.header("content-length"), Some("0"));

        let seen = s.requests();
        // Every one of these is refused before the backend.
        for target in [
            "/v1/secret/../sys/seal",
            "/v1/secret/%2e%2e/sys/seal",
            "/v1/secret/%2E./x",
            "/v1/secret//x",
            "/v1/secret/a%2Fb",
            "/v1/secret/a%00b",
        ] {
            let r = request(&a, "GET", target, "", "");
            assert_eq!(r.status, 400, "{target}");
            assert_eq!(r.json()["errors"].as_array().map(Vec::len), Some(1));
        }
        let r = request(&a, "GET", "/v2/x", "", "");
        assert_eq!((r.status, r.json()), (404, json!({"errors": []})));
        let r = request(&a, "OPTIONS", "/v1/x", "", "");
        assert_eq!(r.status, 405);
        let r = request(
            &a,
            "PATCH",
            "/v1/secret/data/x",
            "Content-Type: application/json\r\n",
            "{}",
        );
        assert_eq!(r.status, 415);
        let r = request(&a, "POST", "/v1/secret/data/x", "", "{not json");
        assert_eq!(r.status, 400);
        assert_eq!(s.requests(), seen, "a rejected request reached the backend");

        // The token is never taken from the query string.
        let r = request(
            &a,
            "GET",
            "/v1/secret/data/a?X-Vault-Token=t&token=t",
            "",
            "",
        );
        assert_eq!(r.json()["data"]["has_token"], false);

        s.trigger.fast();
        s.join();
        assert!(s.stopped.load(Ordering::SeqCst), "on_shutdown did not run");
    }

    #[test]
    fn keeps_connections_alive() {
        let mut s = start(Some(1024), None);
        let mut stream = TcpStream::connect(&s.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        for _ in 0..3 {
            stream
                .write_all(b"GET /v1/a HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("write");
            // Read exactly one response, framed by its Content-Length.
            let mut raw = Vec::new();
            let mut byte = [0u8; 1];
            while !raw.ends_with(b"\r\n\r\n") {
                stream.read_exact(&mut byte).expect("head");
                raw.push(byte[0]);
            }
            let reply = parse_reply(&raw);
            assert_eq!(reply.status, 200);
            let len: usize = reply
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .expect("content-length");
            let mut body = vec![0u8; len];
            stream.read_exact(&mut body).expect("body");
        }
        s.trigger.fast();
        s.join();
    }

    #[test]
    fn enforces_the_body_limit() {
        let mut s = start(Some(1024), None);
        let a = s.addr.clone();
        let seen = s.requests();

        // A declared length over the limit: refused before any body byte is sent.
        let r = send(
            &a,
            b"POST /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
        );
        assert_eq!(r.status, 413);
        assert_eq!(
            r.json(),
            json!({"errors": ["http: request body too large"]})
        );

        // A chunked body that crosses the limit while it is read.
        let mut raw =
            b"POST /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        for _ in 0..4 {
            raw.extend_from_slice(b"200\r\n");
            raw.extend_from_slice(&[b' '; 0x200]);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        let r = send(&a, &raw);
        assert_eq!(r.status, 413);
        assert_eq!(s.requests(), seen);

        // Within the limit, chunked is fine.
        let r = send(
            &a,
            b"POST /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["data"]["data"], json!({"a": 1}));

        // `Expect: 100-continue` gets its interim answer, then the final one.
        let mut stream = TcpStream::connect(&a).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
            .write_all(b"PUT /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 7\r\n\r\n")
            .expect("write");
        let mut interim = Vec::new();
        let mut byte = [0u8; 1];
        while !interim.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("interim head");
            interim.push(byte[0]);
        }
        assert_eq!(parse_reply(&interim).status, 100);
        stream.write_all(b"{\"a\":2}").expect("body");
        let r = read_reply(&mut stream);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["data"]["data"], json!({"a": 2}));

        s.trigger.fast();
        s.join();
    }

    #[test]
    fn odd_heads_get_an_answer_not_a_dropped_connection() {
        let mut s = start(None, None);
        let a = s.addr.clone();
        let seen = s.requests();

        let long = format!(
            "GET /v1/{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(70 * 1024)
        );
        let r = send(&a, long.as_bytes());
        assert_eq!(r.status, 414);
        assert_eq!(r.json(), json!({"errors": ["request URI too long"]}));

        let big = format!(
            "GET /v1/x HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "b".repeat(2 * 1024 * 1024)
        );
        let r = send(&a, big.as_bytes());
        assert_eq!(r.status, 431);

        let mut many = String::from("GET /v1/x HTTP/1.1\r\nHost: x\r\n");
        for i in 0..300 {
            many.push_str(&format!("X-H{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(send(&a, many.as_bytes()).status, 431);

        let r = send(
            &a,
            b"GET /v1/x HTTP/1.1\r\nHost: x\r\nX-Vault-Token: \x1b\r\n\r\n",
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.json(), json!({"errors": ["invalid header value"]}));
        assert_eq!(s.requests(), seen, "a refused head reached the backend");

        // The server still serves.
        assert_eq!(request(&a, "GET", "/v1/ok", "", "").status, 200);
        s.trigger.fast();
        s.join();
    }

    #[test]
    fn a_slow_head_is_cut_off_at_the_total_deadline() {
        let limits = crate::config::ListenerLimits {
            http_read_header_timeout: Duration::from_millis(800),
            ..Default::default()
        };
        let mut s = start_with(None, None, limits);
        let mut stream = TcpStream::connect(&s.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let start = Instant::now();
        stream
            .write_all(b"GET /v1/x HTTP/1.1\r\nHost: x\r\n")
            .expect("write");
        // A header line every 300 ms: each read is quick, the head is never done.
        let mut cut = false;
        for i in 0..20 {
            std::thread::sleep(Duration::from_millis(300));
            if stream
                .write_all(format!("X-{i}: v\r\n").as_bytes())
                .is_err()
            {
                cut = true;
                break;
            }
            let mut probe = [0u8; 1];
            stream.set_nonblocking(true).expect("nonblocking");
            let closed = matches!(stream.read(&mut probe), Ok(0));
            stream.set_nonblocking(false).expect("blocking");
            if closed {
                cut = true;
                break;
            }
        }
        assert!(cut, "a head trickled for 6 s was still being read");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(3), "cut off after {took:?}");
        assert_eq!(s.requests(), 0);
        s.trigger.fast();
        s.join();
    }

    #[test]
    fn idle_connections_close_and_the_connection_cap_holds() {
        let limits = crate::config::ListenerLimits {
            http_idle_timeout: Duration::from_millis(500),
            max_connections: 2,
            ..Default::default()
        };
        let mut s = start_with(None, None, limits);
        let a = s.addr.clone();

        // Idle after one request: closed by the server.
        let mut idle = TcpStream::connect(&a).expect("connect");
        idle.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        idle.write_all(b"GET /v1/a HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let start = Instant::now();
        let mut raw = Vec::new();
        let _ = idle.read_to_end(&mut raw);
        assert!(raw.starts_with(b"HTTP/1.1 200"));
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "idle connection kept {took:?}"
        );

        // Two connections held open; a third is closed without an answer.
        let held: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(&a).expect("connect"))
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut third = TcpStream::connect(&a).expect("connect");
        third
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = third.write_all(b"GET /v1/a HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = Vec::new();
        let _ = third.read_to_end(&mut buf);
        assert!(buf.is_empty(), "a connection over the cap was served");
        drop(held);
        // Once they are gone (the header deadline ends them at worst), a new one is served.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut c = TcpStream::connect(&a).expect("connect");
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let _ = c.write_all(b"GET /v1/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = Vec::new();
            let _ = c.read_to_end(&mut buf);
            if buf.starts_with(b"HTTP/1.1 200") {
                break;
            }
            assert!(Instant::now() < deadline, "the cap was never released");
            std::thread::sleep(Duration::from_millis(100));
        }
        s.trigger.fast();
        s.join();
    }

    #[test]
    fn a_hostile_json_body_is_refused_while_it_is_read() {
        let mut s = start(None, None);
        let a = s.addr.clone();
        let mut stream = TcpStream::connect(&a).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        // A 30 MiB array, announced in full: refused after its first chunks, not buffered.
        let len = 30 * 1024 * 1024;
        stream
            .write_all(
                format!("POST /v1/secret/x HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n[")
                    .as_bytes(),
            )
            .expect("write");
        let chunk = b"1,".repeat(32 * 1024);
        let mut sent = 1;
        while sent < len {
            if stream.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        let r = read_reply(&mut stream);
        assert_eq!(r.status, 400);
        assert!(r.json()["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("high complexity")));
        assert!(sent < len, "the whole 30 MiB body was accepted");
        assert_eq!(s.requests(), 0);
        s.trigger.fast();
        s.join();
    }

    #[test]
    fn graceful_stop_finishes_requests_in_flight_and_is_quick() {
        let mut s = start(Some(1024), None);
        let addr = s.addr.clone();
        let in_flight = std::thread::spawn(move || request(&addr, "GET", "/v1/slow", "", ""));
        std::thread::sleep(Duration::from_millis(100));
        s.trigger.graceful();
        let took = s.join();
        assert_eq!(in_flight.join().expect("client").status, 204);
        assert!(took < Duration::from_secs(2), "graceful stop took {took:?}");
        assert!(s.stopped.load(Ordering::SeqCst));
    }

    #[test]
    fn serves_tls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files =
            tls::tests::write_files(dir.path(), tls::tests::TEST_CERT, tls::tests::TEST_KEY);
        let mut s = start(None, Some(files));
        let port = s.addr.rsplit(':').next().expect("port").to_string();

        let root =
            ureq::tls::Certificate::from_pem(tls::tests::TEST_CERT.as_bytes()).expect("cert");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
                    .build(),
            )
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .get(format!("https://localhost:{port}/v1/secret/data/a"))
            .call()
            .expect("https request");
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value =
            serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
        assert_eq!(body["data"]["path"], "secret/data/a");

        // Plain HTTP on the TLS port gets nowhere near the backend.
        let seen = s.requests();
        let mut stream = TcpStream::connect(&s.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = stream.write_all(b"GET /v1/a HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        assert!(!buf.starts_with(b"HTTP/1.1 200"));
        assert_eq!(s.requests(), seen);

        s.trigger.fast();
        s.join();
    }

    #[test]
    fn startup_errors_are_reported_and_still_run_the_hook() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = taken.local_addr().expect("addr").to_string();
        let cases = vec![
            (vec![], "no listener"),
            (
                vec![ListenerConfig {
                    address: address.clone(),
                    tls: None,
                    max_request_size: None,
                    limits: crate::config::ListenerLimits::default(),
                    unauthenticated_metrics_access: false,
                }],
                "cannot listen",
            ),
            (
                vec![ListenerConfig {
                    address: "not an address".into(),
                    tls: None,
                    max_request_size: None,
                    limits: crate::config::ListenerLimits::default(),
                    unauthenticated_metrics_access: false,
                }],
                "invalid",
            ),
            (
                vec![ListenerConfig {
                    address: "127.0.0.1:0".into(),
                    tls: Some(TlsFiles {
                        cert_file: "/nonexistent/c.pem".into(),
                        key_file: "/nonexistent/k.pem".into(),
                    }),
                    max_request_size: None,
                    limits: crate::config::ListenerLimits::default(),
                    unauthenticated_metrics_access: false,
                }],
                "/nonexistent/c.pem",
            ),
        ];
        for (listeners, expected) in cases {
            let ran = Arc::new(AtomicBool::new(false));
            let hook = {
                let ran = ran.clone();
                Box::new(move || ran.store(true, Ordering::SeqCst))
            };
            let (_trigger, signal) = stop_trigger();
            let err = serve(Arc::new(Fake::default()), &listeners, None, hook, signal)
                .expect_err("startup must fail");
            assert!(err.to_string().contains(expected), "{err}");
            assert!(ran.load(Ordering::SeqCst));
        }
    }
}
