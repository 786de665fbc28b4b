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

// Signing keys shared with the JWT method's tests (read only).
const RSA1_KEY: &str = include_str!("../jwt/testdata/rsa1.key");
const RSA1_PUB: &str = include_str!("../jwt/testdata/rsa1.pub");
const RSA2_KEY: &str = include_str!("../jwt/testdata/rsa2.key");
const EC1_KEY: &str = include_str!("../jwt/testdata/ec1.key");
const EC1_PUB: &str = include_str!("../jwt/testdata/ec1.pub");

/// The issuer and audience of the API server's projected tokens.
const K8S_ISS: &str = "https://kubernetes.default.svc";

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_secs()).unwrap()
}

/// An RS256-shaped JWT with a signature no key made: without `pem_keys` it is only parsed,
/// and the API server alone judges it.
fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(claims)
    )
}

/// `claims` signed with the PKCS#8 PEM `key` (RSA for RS256, EC for ES256).
fn signed(claims: &Value, alg: jsonwebtoken::Algorithm, key: &str) -> String {
    use jsonwebtoken::{EncodingKey, Header};
    let key = match alg {
        jsonwebtoken::Algorithm::ES256 => EncodingKey::from_ec_pem(key.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
    };
    jsonwebtoken::encode(&Header::new(alg), claims, &key).unwrap()
}

/// The claims of a projected service-account token for `namespace/name`, valid for an hour.
fn projected(namespace: &str, name: &str, uid: &str) -> Value {
    let t = now();
    json!({
        "aud": [K8S_ISS],
        "exp": t + 3600,
        "iat": t - 10,
        "nbf": t - 10,
        "iss": K8S_ISS,
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "kubernetes.io": {
            "namespace": namespace,
            "pod": {"name": format!("{name}-7c9f"), "uid": "pod-uid"},
            "serviceaccount": {"name": name, "uid": uid},
        },
    })
}

/// `default/app`'s projected token.
fn app_claims() -> Value {
    projected("default", "app", "uid-app")
}

fn app_jwt() -> String {
    unsigned(&app_claims())
}

/// A legacy secret-based token of `default/app`: no time claims, no audience, the older
/// claim names.
fn legacy_jwt() -> String {
    unsigned(&json!({
        "iss": "kubernetes/serviceaccount",
        "sub": "system:serviceaccount:default:app",
        "kubernetes.io/serviceaccount/namespace": "default",
        "kubernetes.io/serviceaccount/secret.name": "app-token",
        "kubernetes.io/serviceaccount/service-account.name": "app",
        "kubernetes.io/serviceaccount/service-account.uid": "uid-app",
    }))
}

fn kube_system_app_jwt() -> String {
    unsigned(&projected("kube-system", "app", "uid-ks-app"))
}

fn web_jwt() -> String {
    unsigned(&projected("default", "web", "uid-web"))
}

/// `claims` with `key` set to `value`.
fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

/// `default/app`'s claims, but the API server does not authenticate the token.
fn forged_jwt() -> String {
    unsigned(&with(app_claims(), "test_verdict", json!("forged")))
}

/// `default/app`'s claims, but the API server fails with a 500.
fn boom_jwt() -> String {
    unsigned(&with(app_claims(), "test_verdict", json!("boom")))
}

/// A JWT's claims, unverified (the fake API server's view).
fn payload(token: &str) -> Option<Value> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1)?)
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

/// One TokenReview the fake API server received.
#[derive(Clone, Debug)]
struct Seen {
    authorization: String,
    body: Value,
}

/// The fake API server's verdict on a token: `(namespace, name, uid)` when it is valid.
/// It believes the token's own service-account claims, unless a test claim `test_review`
/// says which account the API server really knows the token as (a token whose claims were
/// edited), or `test_verdict` makes it refuse (`forged`) or fail (`boom`).
fn identity(token: &str) -> Option<(String, String, String)> {
    let claims = payload(token)?;
    if claims["test_verdict"] == json!("forged") {
        return None;
    }
    let s = |v: &Value| v.as_str().map(str::to_string);
    if let Some([ns, name, uid]) = claims["test_review"].as_array().map(Vec::as_slice) {
        return Some((s(ns)?, s(name)?, s(uid)?));
    }
    let k8s = &claims["kubernetes.io"];
    if k8s.is_object() {
        return Some((
            s(&k8s["namespace"])?,
            s(&k8s["serviceaccount"]["name"])?,
            s(&k8s["serviceaccount"]["uid"])?,
        ));
    }
    let legacy = |k: &str| s(&claims[format!("kubernetes.io/serviceaccount/{k}")]);
    Some((
        legacy("namespace")?,
        legacy("service-account.name")?,
        legacy("service-account.uid")?,
    ))
}

fn answer(authorization: &str, body: &Value) -> (u16, Value) {
    if authorization == "Bearer bad-reviewer" {
        return (
            401,
            json!({"kind": "Status", "status": "Failure", "code": 401}),
        );
    }
    let token = body["spec"]["token"].as_str().unwrap_or_default();
    if payload(token).is_some_and(|c| c["test_verdict"] == json!("boom")) {
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

/// Reads one HTTP request from `stream`, records what it saw in `log` and
/// answers it. The record comes first: the client may act on the answer
/// before this thread runs again.
fn serve_one<S: Read + Write>(stream: S, log: &Mutex<Vec<Seen>>) -> Option<()> {
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
    log.lock().unwrap().push(Seen {
        authorization,
        body,
    });
    let stream = reader.get_mut();
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )
    .ok()?;
    stream.flush().ok()
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
                match &tls {
                    None => {
                        serve_one(tcp, &log);
                    }
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                            continue;
                        };
                        let mut tls_stream = rustls::StreamOwned::new(conn, tcp);
                        serve_one(&mut tls_stream, &log);
                        tls_stream.conn.send_close_notify();
                        let _ = tls_stream.flush();
                    }
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
        b: Kubernetes::new(Arc::new(crate::clock::SystemClock)),
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

    let r = e.login("app", &app_jwt()).await.unwrap();
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

    let legacy = e.login("app", &legacy_jwt()).await.unwrap().login.unwrap();
    assert_eq!(legacy.metadata["service_account_secret_name"], "app-token");
    api.seen.lock().unwrap().pop();

    // The review carried the client's JWT and was authorized with the reviewer JWT.
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authorization, format!("Bearer {REVIEWER}"));
    assert_eq!(
        seen[0].body,
        // Without an audience on the role, the review asks for the token's own, as OpenBao.
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": app_jwt(), "audiences": [K8S_ISS]}})
    );
}

/// The fake API server, the method set up against it, and a login of `default/app`.
async fn logged_in_to_app() -> (FakeApi, Env, crate::logical::Auth) {
    let api = FakeApi::start(None);
    let e = env();
    e.setup(&http(&api), json!({})).await;
    let auth = e.login("app", &app_jwt()).await.unwrap().login.unwrap();
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
        err(e.login("app", &forged_jwt()).await),
        Error::PermissionDenied
    ));
    // Valid service accounts outside the role's bounds: their claims are refused before
    // any review, with OpenBao's texts.
    let before = api.seen().len();
    for (jwt, want) in [
        (kube_system_app_jwt(), "namespace not authorized"),
        (web_jwt(), "service account name not authorized"),
    ] {
        let e2 = err(e.login("app", &jwt).await);
        assert!(matches!(&e2, Error::Forbidden(m) if m == want), "{e2:?}");
    }
    assert_eq!(api.seen().len(), before);
    // The role names an audience: the token must carry it, and the review asks for it.
    e.write("role/app", json!({"audience": "vault"})).await;
    let e2 = err(e.login("app", &app_jwt()).await);
    assert!(
        matches!(&e2, Error::Forbidden(m) if m == "invalid audience (aud) claim: audience claim does not match any expected audience"),
        "{e2:?}"
    );
    let for_vault = unsigned(&with(app_claims(), "aud", json!(["vault", "other"])));
    assert!(e.login("app", &for_vault).await.is_ok());
    let last = api.seen().pop().unwrap();
    assert_eq!(last.body["spec"]["audiences"], json!(["vault"]));
    e.write("role/app", json!({"audience": ""})).await;

    // Bad requests, before any review.
    let before = api.seen().len();
    for (body, want) in [
        (json!({"jwt": app_jwt()}), "missing role"),
        (json!({"role": "app"}), "missing jwt"),
        (
            json!({"role": "nope", "jwt": app_jwt()}),
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
        err(e.login("app", &app_jwt()).await),
        Error::PermissionDenied
    ));
    e.setup(&http(&api), json!({})).await;
    let e2 = err(e.login("app", &boom_jwt()).await);
    assert!(matches!(e2, Error::Internal(_)), "{e2:?}");
    assert!(e2.to_string().contains("status 500"), "{e2}");
    assert!(!e2.to_string().contains(&boom_jwt()));
}

#[tokio::test]
async fn login_without_config_or_server() {
    let e = env();
    e.write(
        "role/app",
        json!({"bound_service_account_names": "app", "bound_service_account_namespaces": "default"}),
    )
    .await;
    let e2 = err(e.login("app", &app_jwt()).await);
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
    let e2 = err(e.login("app", &app_jwt()).await);
    assert!(matches!(e2, Error::Internal(_)), "{e2:?}");
    let msg = e2.to_string();
    assert!(msg.contains("TokenReview request to"), "{msg}");
    assert!(
        !msg.contains(&app_jwt()) && !msg.contains(REVIEWER),
        "{msg}"
    );
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
        (app_jwt(), "default/app"),
        (kube_system_app_jwt(), "kube-system/app"),
        (web_jwt(), "default/web"),
    ] {
        let auth = e.login("any", &jwt).await.unwrap().login.unwrap();
        assert_eq!(auth.alias.unwrap().name, alias);
        assert_eq!(auth.metadata["role"], "any");
        let seen = api.seen().pop().unwrap();
        assert_eq!(seen.authorization, format!("Bearer {jwt}"));
    }
    assert!(matches!(
        err(e.login("any", &forged_jwt()).await),
        Error::PermissionDenied
    ));

    // A glob in a bound.
    e.write(
        "role/kube",
        json!({"bound_service_account_names": "ap*", "bound_service_account_namespaces": "kube-*"}),
    )
    .await;
    assert!(e.login("kube", &kube_system_app_jwt()).await.is_ok());
    assert!(matches!(
        err(e.login("kube", &app_jwt()).await),
        Error::Forbidden(m) if m == "namespace not authorized"
    ));
}

#[tokio::test]
async fn login_over_https_trusts_only_the_configured_ca() {
    let ours = pki();
    let api = FakeApi::start(Some(ours.server.clone()));
    let e = env();

    e.setup(&https(&api), json!({"kubernetes_ca_cert": ours.ca_pem}))
        .await;
    let auth = e.login("app", &app_jwt()).await.unwrap().login.unwrap();
    assert_eq!(auth.alias.unwrap().name, "uid-app");
    assert_eq!(api.seen().len(), 1);
    assert_eq!(api.seen()[0].authorization, format!("Bearer {REVIEWER}"));

    // Another CA: the handshake fails and the reviewer JWT is never sent.
    let other = pki();
    e.setup(&https(&api), json!({"kubernetes_ca_cert": other.ca_pem}))
        .await;
    let e2 = err(e.login("app", &app_jwt()).await);
    assert!(matches!(e2, Error::Internal(_)), "{e2:?}");
    let msg = e2.to_string();
    assert!(msg.contains("invalid peer certificate"), "{msg}");
    assert!(
        !msg.contains(&app_jwt()) && !msg.contains(REVIEWER),
        "{msg}"
    );
    // No CA configured: the public roots do not know the test CA either.
    e.setup(&https(&api), json!({})).await;
    assert!(matches!(
        err(e.login("app", &app_jwt()).await),
        Error::Internal(_)
    ));
    assert_eq!(api.seen().len(), 1);
}

/// A Forbidden refusal with exactly `want`.
fn forbidden_with(r: Result<Response, Error>, want: &str) {
    let e = err(r);
    assert!(
        matches!(&e, Error::Forbidden(m) if m == want),
        "{e:?}, wanted {want:?}"
    );
}

#[tokio::test]
async fn claims_naming_another_account_than_the_review_are_refused() {
    let api = FakeApi::start(None);
    let e = env();
    e.setup(&http(&api), json!({})).await;
    e.write(
        "role/any",
        json!({"bound_service_account_names": "*", "bound_service_account_namespaces": "*"}),
    )
    .await;
    // Without pem_keys nothing stops a client from editing the claims: the token names
    // `default/app` (within the role's bounds) while the API server knows it as another
    // account. Each field that differs is enough.
    for review in [
        json!(["default", "web", "uid-web"]),
        json!(["default", "app", "uid-other"]),
        json!(["kube-system", "app", "uid-app"]),
    ] {
        let jwt = unsigned(&with(app_claims(), "test_review", review.clone()));
        for role in ["app", "any"] {
            assert!(
                matches!(err(e.login(role, &jwt).await), Error::PermissionDenied),
                "{review} {role}"
            );
        }
    }
    // The same token whose claims name the reviewed account passes.
    let honest = unsigned(&with(
        app_claims(),
        "test_review",
        json!(["default", "app", "uid-app"]),
    ));
    assert!(e.login("app", &honest).await.is_ok());
}

#[tokio::test]
async fn bounds_are_checked_on_the_claims_before_the_review() {
    let api = FakeApi::start(None);
    let e = env();
    e.setup(&http(&api), json!({})).await;
    // The API server would vouch for `default/app`, but the claims name other accounts.
    let claims_say = |ns: &str, name: &str| {
        let mut c = projected(ns, name, "uid-app");
        c["test_review"] = json!(["default", "app", "uid-app"]);
        unsigned(&c)
    };
    forbidden_with(
        e.login("app", &claims_say("default", "web")).await,
        "service account name not authorized",
    );
    forbidden_with(
        e.login("app", &claims_say("other", "app")).await,
        "namespace not authorized",
    );
    // The name is checked first, as in OpenBao.
    forbidden_with(
        e.login("app", &claims_say("other", "web")).await,
        "service account name not authorized",
    );
    // The legacy claim names count too.
    let legacy = |ns: &str, name: &str| {
        unsigned(&json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": ns,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": "uid-app",
            "test_review": ["default", "app", "uid-app"],
        }))
    };
    forbidden_with(
        e.login("app", &legacy("default", "web")).await,
        "service account name not authorized",
    );
    forbidden_with(
        e.login("app", &legacy("kube-system", "app")).await,
        "namespace not authorized",
    );
    assert!(e.login("app", &legacy("default", "app")).await.is_ok());
    // Only that last one reached the API server.
    assert_eq!(api.seen().len(), 1);
}

#[tokio::test]
async fn issuer_is_checked_when_set_and_validation_is_on() {
    let api = FakeApi::start(None);
    let e = env();
    let evil = unsigned(&with(app_claims(), "iss", json!("https://evil.example")));
    let no_iss = {
        let mut c = app_claims();
        c.as_object_mut().unwrap().remove("iss");
        unsigned(&c)
    };

    e.setup(
        &http(&api),
        json!({"issuer": K8S_ISS, "disable_iss_validation": false}),
    )
    .await;
    assert!(e.login("app", &app_jwt()).await.is_ok());
    let before = api.seen().len();
    forbidden_with(e.login("app", &evil).await, "invalid issuer (iss) claim");
    forbidden_with(e.login("app", &no_iss).await, "invalid issuer (iss) claim");
    // The issuer is checked before the times, as cap does.
    let evil_and_stale = unsigned(&with(
        with(app_claims(), "iss", json!("https://evil.example")),
        "exp",
        json!(now() - 3600),
    ));
    forbidden_with(
        e.login("app", &evil_and_stale).await,
        "invalid issuer (iss) claim",
    );
    assert_eq!(api.seen().len(), before, "refused before any review");

    // Validation off (the default since Vault deprecated it), or no issuer set: OpenBao
    // checks nothing, and neither does mainkey.
    for config in [
        json!({"issuer": K8S_ISS}),
        json!({"issuer": K8S_ISS, "disable_iss_validation": true}),
        json!({"disable_iss_validation": false}),
    ] {
        e.setup(&http(&api), config.clone()).await;
        assert!(e.login("app", &evil).await.is_ok(), "{config}");
    }
}

#[tokio::test]
async fn pem_keys_verify_the_signature() {
    use jsonwebtoken::Algorithm::{ES256, RS256};
    let api = FakeApi::start(None);
    let e = env();
    e.setup(&http(&api), json!({"pem_keys": [RSA1_PUB, EC1_PUB]}))
        .await;
    assert_eq!(
        e.read("config").await["pem_keys"],
        json!([RSA1_PUB.trim(), EC1_PUB.trim()])
    );

    // Signed by a configured key: RSA or EC.
    assert!(e
        .login("app", &signed(&app_claims(), RS256, RSA1_KEY))
        .await
        .is_ok());
    assert!(e
        .login("app", &signed(&app_claims(), ES256, EC1_KEY))
        .await
        .is_ok());
    let before = api.seen().len();

    // Another key, no signature at all, claims edited after signing, `alg: none`, a `crit`
    // header, or no JWT: a plain "permission denied", and the API server is not asked.
    let good = signed(&app_claims(), RS256, RSA1_KEY);
    let parts: Vec<&str> = good.split('.').collect();
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        b64(&projected("kube-system", "admin", "uid-admin")),
        parts[2]
    );
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&app_claims()));
    let crit = {
        let head = b64(&json!({"alg": "RS256", "crit": ["exp"], "exp": 1}));
        let body = b64(&app_claims());
        format!("{head}.{body}.{}", parts[2])
    };
    for (what, jwt) in [
        ("another key", signed(&app_claims(), RS256, RSA2_KEY)),
        ("unsigned", app_jwt()),
        ("edited", edited),
        ("alg none", none),
        ("crit", crit),
        ("not a jwt", "not-a-jwt".to_string()),
    ] {
        assert!(
            matches!(err(e.login("app", &jwt).await), Error::PermissionDenied),
            "{what}"
        );
    }
    assert_eq!(api.seen().len(), before);

    // A key that can verify nothing is refused when the config is written.
    let e2 = err(e
        .call(
            Operation::Update,
            "config",
            json!({"kubernetes_host": http(&api), "pem_keys": ["garbage"]}),
        )
        .await);
    assert!(matches!(e2, Error::BadRequest(_)), "{e2:?}");
    assert!(e2.to_string().contains("pem_keys"), "{e2}");
}

#[tokio::test]
async fn malformed_or_stale_tokens_are_refused_before_the_review() {
    let api = FakeApi::start(None);
    let e = env();
    e.setup(&http(&api), json!({})).await;
    let t = now();
    // Unparseable tokens: plain "permission denied", as OpenBao's signature step fails.
    for jwt in [
        "not-a-jwt",
        "a.b.c",
        &format!("x.{}.c2ln", b64(&app_claims())),
    ] {
        assert!(
            matches!(err(e.login("app", jwt).await), Error::PermissionDenied),
            "{jwt}"
        );
    }
    // An HMAC token is not a service-account token.
    let hs = {
        use jsonwebtoken::{encode, EncodingKey, Header};
        encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &app_claims(),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap()
    };
    forbidden_with(
        e.login("app", &hs).await,
        "invalid algorithm (alg) header parameter: token signed with unexpected algorithm",
    );
    // Time claims, when present, with cap's 60 s clock skew.
    const EXPIRED: &str = "invalid expiration time (exp) claim: token is expired";
    for (key, value, want) in [
        ("exp", t - 90, EXPIRED),
        (
            "nbf",
            t + 90,
            "invalid not before (nbf) claim: token not yet valid",
        ),
        (
            "iat",
            t + 90,
            "invalid issued at (iat) claim: token issued in the future",
        ),
    ] {
        let jwt = unsigned(&with(app_claims(), key, json!(value)));
        forbidden_with(e.login("app", &jwt).await, want);
    }
    // Within the skew it passes.
    let jwt = unsigned(&with(app_claims(), "exp", json!(t - 30)));
    assert!(e.login("app", &jwt).await.is_ok());
    // Without `exp`, the token expires 150 s after the later of `iat` and `nbf` (plus the
    // skew); with no time claim at all (a legacy token) it is not time-checked.
    let only = |pairs: &[(&str, i64)]| {
        let mut c = app_claims();
        let m = c.as_object_mut().unwrap();
        for k in ["exp", "iat", "nbf"] {
            m.remove(k);
        }
        for (k, v) in pairs {
            m.insert((*k).into(), json!(v));
        }
        unsigned(&c)
    };
    forbidden_with(e.login("app", &only(&[("iat", t - 300)])).await, EXPIRED);
    forbidden_with(
        e.login("app", &only(&[("iat", t - 900), ("nbf", t - 300)]))
            .await,
        EXPIRED,
    );
    assert!(e.login("app", &only(&[("iat", t - 100)])).await.is_ok());
    assert!(e.login("app", &only(&[("nbf", t - 100)])).await.is_ok());
    assert!(e.login("app", &only(&[])).await.is_ok());
    let reviews = api.seen().len();
    // Claims of the wrong type, and a token naming no uid.
    forbidden_with(
        e.login("app", &unsigned(&with(app_claims(), "exp", json!("soon"))))
            .await,
        "go-jose/go-jose/jwt: expected number value to unmarshal NumericDate",
    );
    forbidden_with(
        e.login("app", &unsigned(&with(app_claims(), "iss", json!(1))))
            .await,
        "json: cannot unmarshal the iss claim: expected a string",
    );
    forbidden_with(
        e.login("app", &unsigned(&with(app_claims(), "aud", json!([1]))))
            .await,
        "go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience",
    );
    let mut c = app_claims();
    c["kubernetes.io"]["serviceaccount"]["name"] = json!(7);
    forbidden_with(
        e.login("app", &unsigned(&c)).await,
        "could not parse service account claims",
    );
    let mut c = app_claims();
    c["kubernetes.io"]["serviceaccount"]
        .as_object_mut()
        .unwrap()
        .remove("uid");
    forbidden_with(
        e.login("app", &unsigned(&c)).await,
        "could not parse UID from claims",
    );
    assert_eq!(api.seen().len(), reviews);
}
