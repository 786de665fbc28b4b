//! Kubernetes auth against `InmemStorage` and a fake API server that answers TokenReview
//! the way Kubernetes does (201 with `status.authenticated`), over HTTP and HTTPS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::*;
use crate::logical::fields::into_map;
use crate::logical::{Error, InmemStorage};

const REVIEWER: &str = "reviewer-jwt-secret";
const APP_JWT: &str = "jwt-default-app";
/// A legacy secret-based token's shape (unsigned; only the API server judges it).
const LEGACY_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJrdWJlcm5ldGVzLmlvL3NlcnZpY2VhY2NvdW50L3NlY3JldC5uYW1lIjoiYXBwLXRva2VuIn0.c2ln";

/// One TokenReview the fake API server received.
#[derive(Clone, Debug)]
struct Seen {
    authorization: String,
    body: Value,
}

/// The fake API server's verdict on a token: `(namespace, name, uid)` when it is valid.
fn identity(token: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match token {
        APP_JWT | LEGACY_JWT => Some(("default", "app", "uid-app")),
        "jwt-kube-system-app" => Some(("kube-system", "app", "uid-ks-app")),
        "jwt-default-web" => Some(("default", "web", "uid-web")),
        _ => None,
    }
}

fn answer(authorization: &str, body: &Value) -> (u16, Value) {
    if authorization == "Bearer bad-reviewer" {
        return (
            401,
            json!({"kind": "Status", "status": "Failure", "code": 401}),
        );
    }
    let token = body["spec"]["token"].as_str().unwrap_or_default();
    if token == "jwt-boom" {
        return (
            500,
            json!({"kind": "Status", "status": "Failure", "code": 500}),
        );
    }
    let audiences = body["spec"]["audiences"].clone();
    let status = match identity(token) {
        Some((ns, name, uid)) => json!({
            "authenticated": true,
            "user": {
                "username": format!("system:serviceaccount:{ns}:{name}"),
                "uid": uid,
                "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}")],
            },
            "audiences": if audiences.is_null() { json!(["https://kubernetes.default.svc"]) } else { audiences },
        }),
        None => json!({"user": {}, "error": "invalid bearer token"}),
    };
    let mut reply = body.clone();
    reply["status"] = status;
    (201, reply)
}

/// Reads one HTTP request from `stream`, answers it and returns what it saw.
fn serve_one<S: Read + Write>(stream: S) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if !line.starts_with("POST /apis/authentication.k8s.io/v1/tokenreviews ") {
        return None;
    }
    let (mut length, mut authorization) = (0usize, String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (k, v) = header.split_once(':')?;
        match k.to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse().ok()?,
            "authorization" => authorization = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body: Value = serde_json::from_slice(&body).ok()?;
    let (status, reply) = answer(&authorization, &body);
    let reply = reply.to_string();
    let stream = reader.get_mut();
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )
    .ok()?;
    stream.flush().ok()?;
    Some(Seen {
        authorization,
        body,
    })
}

struct FakeApi {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeApi {
    /// Serves plain HTTP, or HTTPS with `tls`.
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                let got = match &tls {
                    None => serve_one(tcp),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                            continue;
                        };
                        let mut tls_stream = rustls::StreamOwned::new(conn, tcp);
                        let got = serve_one(&mut tls_stream);
                        tls_stream.conn.send_close_notify();
                        let _ = tls_stream.flush();
                        got
                    }
                };
                if let Some(s) = got {
                    log.lock().unwrap().push(s);
                }
            }
        });
        FakeApi { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A test CA and a leaf certificate for 127.0.0.1 signed by it.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fake kubernetes CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

struct Env {
    b: Kubernetes,
    s: InmemStorage,
}

fn env() -> Env {
    Env {
        b: Kubernetes::new(),
        s: InmemStorage::new(),
    }
}

impl Env {
    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, Error> {
        let req = super::super::test_request("auth/kubernetes/", op, path, body, Some("127.0.0.1"));
        self.b.handle(&req, &self.s).await
    }

    async fn write(&self, path: &str, body: Value) -> Response {
        self.call(Operation::Update, path, body).await.unwrap()
    }

    async fn read(&self, path: &str) -> Value {
        let r = self.call(Operation::Read, path, json!({})).await.unwrap();
        Value::Object(r.data.unwrap())
    }

    async fn login(&self, role: &str, jwt: &str) -> Result<Response, Error> {
        self.call(
            Operation::Update,
            "login",
            json!({"role": role, "jwt": jwt}),
        )
        .await
    }

    /// Config pointing at `api` (with the reviewer JWT) and the role `app`.
    async fn setup(&self, host: &str, extra: Value) {
        let mut config = json!({"kubernetes_host": host, "token_reviewer_jwt": REVIEWER});
        for (k, v) in into_map(extra) {
            config[k] = v;
        }
        self.write("config", config).await;
        self.write(
            "role/app",
            json!({
                "bound_service_account_names": "app",
                "bound_service_account_namespaces": ["default"],
                "token_policies": "tenant-a,Shared",
                "token_ttl": "1h",
            }),
        )
        .await;
    }
}

fn err(r: Result<Response, Error>) -> Error {
    match r {
        Ok(resp) => panic!("expected an error, got {resp:?}"),
        Err(e) => e,
    }
}

fn http(api: &FakeApi) -> String {
    format!("http://{}", api.addr)
}

fn https(api: &FakeApi) -> String {
    format!("https://{}", api.addr)
}

#[test]
fn mounts_as_kubernetes() {
    let clock: crate::clock::SharedClock = Arc::new(crate::clock::SystemClock);
    let entry =
        crate::core::MountEntry::new(crate::core::Table::Auth, "k/", "kubernetes", "", None);
    let b = crate::builtin::catalog().build(&entry, &clock).unwrap();
    assert_eq!(b.unauthenticated_paths(), &["login"]);
}

#[tokio::test]
async fn config_hides_the_reviewer_jwt() {
    let e = env();
    assert!(matches!(
        err(e.call(Operation::Read, "config", json!({})).await),
        Error::NotFound
    ));
    let pki = pki();
    let r = e
        .write(
            "config",
            json!({
                "kubernetes_host": "https://10.0.0.1:6443/",
                "kubernetes_ca_cert": pki.ca_pem,
                "token_reviewer_jwt": REVIEWER,
                "disable_local_ca_jwt": true,
            }),
        )
        .await;
    assert!(r.data.is_none());
    let got = e.read("config").await;
    // OpenBao 2.x answers the same keys.
    assert_eq!(
        got,
        json!({
            "disable_iss_validation": true,
            "disable_local_ca_jwt": true,
            "issuer": "",
            "kubernetes_ca_cert": pki.ca_pem,
            "kubernetes_host": "https://10.0.0.1:6443",
            "pem_keys": [],
            "token_reviewer_jwt_set": true,
        })
    );
    assert!(!got.to_string().contains(REVIEWER));

    // A config write replaces the whole config.
    e.write("config", json!({"kubernetes_host": "http://127.0.0.1:1"}))
        .await;
    let got = e.read("config").await;
    assert_eq!(got["token_reviewer_jwt_set"], json!(false));
    assert_eq!(got["kubernetes_ca_cert"], json!(""));

    for (body, want) in [
        (json!({}), "no host provided"),
        (
            json!({"kubernetes_host": "ftp://x"}),
            "kubernetes_host must be an http:// or https:// URL",
        ),
        (
            json!({"kubernetes_host": "https:///v1"}),
            "kubernetes_host must be an http:// or https:// URL with a host",
        ),
        (
            json!({"kubernetes_host": "https://x", "kubernetes_ca_cert": "garbage"}),
            "kubernetes_ca_cert holds no PEM certificate",
        ),
    ] {
        let e2 = err(e.call(Operation::Update, "config", body.clone()).await);
        assert!(matches!(e2, Error::BadRequest(_)), "{body}");
        assert_eq!(e2.to_string(), want, "{body}");
    }
}

#[tokio::test]
async fn role_crud_matches_openbao() {
    let e = env();
    e.write(
        "role/Demo",
        json!({
            "bound_service_account_names": "app",
            "bound_service_account_namespaces": "default",
            "token_policies": "a,b",
            "ttl": "1h",
            "audience": "vault",
        }),
    )
    .await;
    // What OpenBao 2.x answered for the same write.
    let want = json!({"alias_name_source": "serviceaccount_uid", "audience": "vault", "bound_service_account_names": ["app"], "bound_service_account_namespace_selector": "", "bound_service_account_namespaces": ["default"], "token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 0, "token_no_default_policy": false, "token_num_uses": 0, "token_period": 0, "token_policies": ["a", "b"], "token_strictly_bind_ip": false, "token_ttl": 3600, "token_type": "default", "ttl": 3600});
    assert_eq!(e.read("role/demo").await, want);
    assert_eq!(e.read("role/Demo").await, want);
    let listed = e.call(Operation::List, "role/", json!({})).await.unwrap();
    assert_eq!(listed.data.unwrap()["keys"], json!(["demo"]));

    // An update keeps what it does not name.
    e.write(
        "role/demo",
        json!({"alias_name_source": "serviceaccount_name"}),
    )
    .await;
    let got = e.read("role/demo").await;
    assert_eq!(got["alias_name_source"], json!("serviceaccount_name"));
    assert_eq!(got["bound_service_account_names"], json!(["app"]));

    for (body, want) in [
        (
            json!({"bound_service_account_names": "app"}),
            "\"bound_service_account_namespaces\" can not be empty if \"bound_service_account_namespace_selector\" is not set",
        ),
        (
            json!({"bound_service_account_namespaces": "app"}),
            "\"bound_service_account_names\" can not be empty",
        ),
        (
            json!({"bound_service_account_names": "*,app", "bound_service_account_namespaces": "x"}),
            "can not mix \"*\" with values",
        ),
        (
            json!({"bound_service_account_names": "a", "bound_service_account_namespaces": "x", "alias_name_source": "x"}),
            "invalid alias_name_source, must be one of: serviceaccount_uid, serviceaccount_name",
        ),
        (
            json!({"bound_service_account_names": "a", "bound_service_account_namespaces": "x", "token_policies": "root"}),
            "the \"root\" policy cannot be granted by an auth method",
        ),
    ] {
        let e2 = err(e.call(Operation::Update, "role/x", body.clone()).await);
        assert!(matches!(e2, Error::BadRequest(_)), "{body}");
        assert_eq!(e2.to_string(), want, "{body}");
    }
    assert!(matches!(
        err(e.call(Operation::Read, "role/x", json!({})).await),
        Error::NotFound
    ));

    e.call(Operation::Delete, "role/demo", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        err(e.call(Operation::Read, "role/demo", json!({})).await),
        Error::NotFound
    ));
    assert!(matches!(
        err(e.call(Operation::List, "role", json!({})).await),
        Error::NotFound
    ));
    assert!(matches!(
        err(e.call(Operation::Read, "role/a@b", json!({})).await),
        Error::NoHandler(_)
    ));
}

#[tokio::test]
async fn login_over_http() {
    let api = FakeApi::start(None);
    let e = env();
    e.setup(&http(&api), json!({})).await;

    let r = e.login("app", APP_JWT).await.unwrap();
    let auth = r.login.unwrap();
    assert_eq!(auth.policies, vec!["shared", "tenant-a"]);
    assert_eq!(auth.ttl, 3600);
    assert!(auth.renewable);
    assert_eq!(auth.display_name, "default-app");
    let meta: Vec<(&str, &str)> = auth
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        meta,
        vec![
            ("role", "app"),
            ("service_account_name", "app"),
            ("service_account_namespace", "default"),
            ("service_account_secret_name", ""),
            ("service_account_uid", "uid-app"),
        ]
    );
    let alias = auth.alias.unwrap();
    assert_eq!(alias.name, "uid-app");
    assert_eq!(alias.metadata["service_account_namespace"], "default");
    assert!(!alias.metadata.contains_key("role"));

    let legacy = e.login("app", LEGACY_JWT).await.unwrap().login.unwrap();
    assert_eq!(legacy.metadata["service_account_secret_name"], "app-token");
    api.seen.lock().unwrap().pop();

    // The review carried the client's JWT and was authorized with the reviewer JWT.
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authorization, format!("Bearer {REVIEWER}"));
    assert_eq!(
        seen[0].body,
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": APP_JWT}})
    );
}

/// The fake API server, the method set up against it, and a login of `default/app`.
async fn logged_in_to_app() -> (FakeApi, Env, crate::logical::Auth) {
    let api = FakeApi::start(None);
    let e = env();
    e.setup(&http(&api), json!({})).await;
    let auth = e.login("app", APP_JWT).await.unwrap().login.unwrap();
    (api, e, auth)
}

#[tokio::test]
async fn renewal_follows_the_role_and_stops_when_it_is_gone() {
    let (api, e, auth) = logged_in_to_app().await;
    let terms = |ttl, max_ttl, period| crate::logical::Renewal {
        ttl,
        max_ttl,
        period,
    };
    assert_eq!(e.b.renew(&e.s, &auth).await.unwrap(), terms(3600, 0, 0));

    // The role's current TTLs bound the renewal, not the ones of the login.
    e.write(
        "role/app",
        json!({"token_ttl": "10m", "token_max_ttl": "30m", "token_period": "5m"}),
    )
    .await;
    assert_eq!(e.b.renew(&e.s, &auth).await.unwrap(), terms(600, 1800, 300));
    let backend: &dyn Backend = &e.b;
    assert!(backend.renew(&e.s, &auth).await.unwrap().is_some());
    // Renewing asks nothing of the API server: the service-account JWT is not kept.
    assert_eq!(api.seen().len(), 1);

    e.call(Operation::Delete, "role/app", json!({}))
        .await
        .unwrap();
    let gone = e.b.renew(&e.s, &auth).await.unwrap_err();
    assert!(matches!(gone, Error::Internal(_)), "{gone:?}");
    assert_eq!(
        gone.to_string(),
        "1 error occurred:\n\t* role app does not exist during renewal\n\n"
    );

    let mut anonymous = auth.clone();
    anonymous.metadata.remove("role");
    let err = e.b.renew(&e.s, &anonymous).await.unwrap_err();
    assert!(err
        .to_string()
        .contains("failed to fetch role_name during renewal"));
}

#[tokio::test]
async fn renewal_stops_once_the_role_no_longer_binds_the_service_account() {
    let (_api, e, auth) = logged_in_to_app().await;
    let renews = || async { e.b.renew(&e.s, &auth).await.map(|_| ()) };
    let refusal =
        "service account \"default/app\" is no longer bound to role \"app\", not renewing";

    // The bound names change: the token's account is no longer among them.
    e.write("role/app", json!({"bound_service_account_names": "web"}))
        .await;
    let err = renews().await.unwrap_err();
    assert!(
        matches!(&err, Error::BadRequest(m) if m == refusal),
        "{err:?}"
    );
    // A glob that still takes it in, or `*`, renews again.
    for names in ["web,ap*", "*"] {
        e.write("role/app", json!({"bound_service_account_names": names}))
            .await;
        assert!(renews().await.is_ok(), "{names}");
    }
    // So do the namespaces.
    e.write(
        "role/app",
        json!({"bound_service_account_namespaces": "kube-system"}),
    )
    .await;
    let err = renews().await.unwrap_err();
    assert!(
        matches!(&err, Error::BadRequest(m) if m == refusal),
        "{err:?}"
    );
    e.write("role/app", json!({"bound_service_account_namespaces": "*"}))
        .await;
    assert!(renews().await.is_ok());

    // A token whose login recorded no service account is refused.
    let mut anonymous = auth.clone();
    anonymous.metadata.remove("service_account_name");
    assert!(matches!(
        e.b.renew(&e.s, &anonymous).await,
        Err(Error::BadRequest(_))
    ));
}

#[tokio::test]
async fn refused_logins() {
    let api = FakeApi::start(None);
    let e = env();
    e.setup(&http(&api), json!({})).await;

    // The API server says the token is not authenticated.
    assert!(matches!(
        err(e.login("app", "jwt-forged").await),
        Error::PermissionDenied
    ));
    // Valid service accounts outside the role's bounds.
    assert!(matches!(
        err(e.login("app", "jwt-kube-system-app").await),
        Error::PermissionDenied
    ));
    assert!(matches!(
        err(e.login("app", "jwt-default-web").await),
        Error::PermissionDenied
    ));
    // The role names another audience than the API server grants.
    e.write("role/app", json!({"audience": "vault"})).await;
    assert!(e.login("app", APP_JWT).await.is_ok());
    let last = api.seen().pop().unwrap();
    assert_eq!(last.body["spec"]["audiences"], json!(["vault"]));

    // Bad requests, before any review.
    let before = api.seen().len();
    for (body, want) in [
        (json!({"jwt": APP_JWT}), "missing role"),
        (json!({"role": "app"}), "missing jwt"),
        (
            json!({"role": "nope", "jwt": APP_JWT}),
            "invalid role name \"nope\"",
        ),
    ] {
        let e2 = err(e.call(Operation::Update, "login", body.clone()).await);
        assert!(matches!(e2, Error::BadRequest(_)), "{body}");
        assert_eq!(e2.to_string(), want);
    }
    assert_eq!(api.seen().len(), before);

    // The API server refuses the reviewer, or fails.
    e.setup(&http(&api), json!({"token_reviewer_jwt": "bad-reviewer"}))
        .await;
    assert!(matches!(
        err(e.login("app", APP_JWT).await),
        Error::PermissionDenied
    ));
    e.setup(&http(&api), json!({})).await;
    let e2 = err(e.login("app", "jwt-boom").await);
    assert!(matches!(e2, Error::Internal(_)), "{e2:?}");
    assert!(e2.to_string().contains("status 500"), "{e2}");
    assert!(!e2.to_string().contains("jwt-boom"));
}

#[tokio::test]
async fn login_without_config_or_server() {
    let e = env();
    e.write(
        "role/app",
        json!({"bound_service_account_names": "app", "bound_service_account_namespaces": "default"}),
    )
    .await;
    let e2 = err(e.login("app", APP_JWT).await);
    assert!(matches!(e2, Error::Internal(_)));
    assert!(e2
        .to_string()
        .contains("could not load backend configuration"));

    // Nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    e.write(
        "config",
        json!({"kubernetes_host": format!("http://127.0.0.1:{port}"), "token_reviewer_jwt": REVIEWER}),
    )
    .await;
    let e2 = err(e.login("app", APP_JWT).await);
    assert!(matches!(e2, Error::Internal(_)), "{e2:?}");
    let msg = e2.to_string();
    assert!(msg.contains("TokenReview request to"), "{msg}");
    assert!(!msg.contains(APP_JWT) && !msg.contains(REVIEWER), "{msg}");
}

#[tokio::test]
async fn star_bounds_and_the_clients_own_jwt() {
    let api = FakeApi::start(None);
    let e = env();
    // No reviewer JWT: the client's JWT authorizes its own review, as in Vault.
    e.write("config", json!({"kubernetes_host": http(&api)}))
        .await;
    e.write(
        "role/any",
        json!({
            "bound_service_account_names": "*",
            "bound_service_account_namespaces": "*",
            "alias_name_source": "serviceaccount_name",
        }),
    )
    .await;
    for (jwt, alias) in [
        (APP_JWT, "default/app"),
        ("jwt-kube-system-app", "kube-system/app"),
        ("jwt-default-web", "default/web"),
    ] {
        let auth = e.login("any", jwt).await.unwrap().login.unwrap();
        assert_eq!(auth.alias.unwrap().name, alias);
        assert_eq!(auth.metadata["role"], "any");
        let seen = api.seen().pop().unwrap();
        assert_eq!(seen.authorization, format!("Bearer {jwt}"));
    }
    assert!(matches!(
        err(e.login("any", "jwt-forged").await),
        Error::PermissionDenied
    ));

    // A glob in a bound.
    e.write(
        "role/kube",
        json!({"bound_service_account_names": "ap*", "bound_service_account_namespaces": "kube-*"}),
    )
    .await;
    assert!(e.login("kube", "jwt-kube-system-app").await.is_ok());
    assert!(matches!(
        err(e.login("kube", APP_JWT).await),
        Error::PermissionDenied
    ));
}

#[tokio::test]
async fn login_over_https_trusts_only_the_configured_ca() {
    let ours = pki();
    let api = FakeApi::start(Some(ours.server.clone()));
    let e = env();

    e.setup(&https(&api), json!({"kubernetes_ca_cert": ours.ca_pem}))
        .await;
    let auth = e.login("app", APP_JWT).await.unwrap().login.unwrap();
    assert_eq!(auth.alias.unwrap().name, "uid-app");
    assert_eq!(api.seen().len(), 1);
    assert_eq!(api.seen()[0].authorization, format!("Bearer {REVIEWER}"));

    // Another CA: the handshake fails and the reviewer JWT is never sent.
    let other = pki();
    e.setup(&https(&api), json!({"kubernetes_ca_cert": other.ca_pem}))
        .await;
    let e2 = err(e.login("app", APP_JWT).await);
    assert!(matches!(e2, Error::Internal(_)), "{e2:?}");
    let msg = e2.to_string();
    assert!(msg.contains("invalid peer certificate"), "{msg}");
    assert!(!msg.contains(APP_JWT) && !msg.contains(REVIEWER), "{msg}");
    // No CA configured: the public roots do not know the test CA either.
    e.setup(&https(&api), json!({})).await;
    assert!(matches!(
        err(e.login("app", APP_JWT).await),
        Error::Internal(_)
    ));
    assert_eq!(api.seen().len(), 1);
}
