//! A small blocking HTTP client of the `/v1` API, configured the way the Vault CLI is:
//! `VAULT_ADDR`, `VAULT_TOKEN` (else `~/.vault-token`), `VAULT_CACERT`, `VAULT_SKIP_VERIFY`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value as Json;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use super::args::ClientArgs;

/// The Vault CLI's default address. HTTPS, so a plain-HTTP dev server needs `VAULT_ADDR`.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// Like the Vault CLI's default client timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The environment or flags do not describe a usable client.
    #[error("{0}")]
    Settings(String),
    /// No HTTP response: connection refused, TLS failure, timeout...
    #[error("{method} {url}: {source}{hint}")]
    Transport {
        method: &'static str,
        url: String,
        #[source]
        source: Box<ureq::Error>,
        /// Extra advice for failures whose cause is not obvious from the message; may be "".
        hint: String,
    },
    /// The server answered with an error status.
    #[error("{}", ApiErrorText { method, url, status: *status, errors: errors.as_deref(), raw })]
    Api {
        method: &'static str,
        url: String,
        status: u16,
        /// The `errors` list of a Vault error body; `None` when the body was not one.
        errors: Option<Vec<String>>,
        raw: String,
    },
    /// A success status with a body that is not the JSON expected.
    #[error("{method} {url}: unexpected response: {problem}")]
    Decode {
        method: &'static str,
        url: String,
        problem: String,
    },
}

/// The Vault CLI's layout for API errors, which scripts and people already recognise.
struct ApiErrorText<'a> {
    method: &'a str,
    url: &'a str,
    status: u16,
    errors: Option<&'a [String]>,
    raw: &'a str,
}

impl fmt::Display for ApiErrorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Error making API request.\n\nURL: {} {}\nCode: {}.",
            self.method, self.url, self.status
        )?;
        match self.errors {
            Some(errors) => {
                f.write_str(" Errors:\n")?;
                if !errors.is_empty() {
                    f.write_str("\n")?;
                }
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "* {e}")?;
                }
                Ok(())
            }
            None => write!(f, " Raw Message:\n\n{}", self.raw),
        }
    }
}

/// Where and how to connect, after flags and environment are combined. The token is a
/// `SecretString`, so `Debug` never shows it.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub address: String,
    pub token: Option<SecretString>,
    pub ca_cert: Option<PathBuf>,
    pub skip_verify: bool,
}

impl ClientSettings {
    /// Flags first, then the process environment, then the Vault CLI's defaults.
    pub fn resolve(args: &ClientArgs) -> Result<Self, ClientError> {
        Self::resolve_with(args, |name| std::env::var(name).ok())
    }

    /// As [`Self::resolve`], reading variables through `env` (tests pass a map).
    pub fn resolve_with(
        args: &ClientArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ClientError> {
        // An empty variable counts as unset, as in the Vault CLI.
        let var = |name: &str| env(name).filter(|v| !v.is_empty());

        let address = args
            .address
            .clone()
            .or_else(|| var("VAULT_ADDR"))
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
        let address = address.trim_end_matches('/').to_string();
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            return Err(ClientError::Settings(format!(
                "invalid server address {address:?}: expected http://host:port or https://host:port"
            )));
        }

        let skip_verify = match args.tls_skip_verify {
            Some(flag) => flag,
            None => match var("VAULT_SKIP_VERIFY") {
                None => false,
                Some(v) => crate::logical::fields::parse_go_bool(&v).ok_or_else(|| {
                    ClientError::Settings("could not parse VAULT_SKIP_VERIFY".into())
                })?,
            },
        };

        let ca_cert = args
            .ca_cert
            .clone()
            .or_else(|| var("VAULT_CACERT").map(PathBuf::from));

        let token = match var("VAULT_TOKEN") {
            Some(token) => Some(token.trim().to_string()),
            None => token_file(var("HOME"))?,
        }
        .filter(|t| !t.is_empty())
        .map(SecretString::from);

        Ok(ClientSettings {
            address,
            token,
            ca_cert,
            skip_verify,
        })
    }
}

/// `~/.vault-token`, where `vault login` keeps the token; a missing file means no token.
fn token_file(home: Option<String>) -> Result<Option<String>, ClientError> {
    let Some(home) = home else {
        return Ok(None);
    };
    let path = PathBuf::from(home).join(".vault-token");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClientError::Settings(format!(
            "error reading token file {}: {e}",
            path.display()
        ))),
    }
}

/// The most of a JSON answer that is read, as ureq's default.
const JSON_BODY_LIMIT: u64 = 10 * 1024 * 1024;
/// The most of a file (a snapshot) that is read.
const FILE_BODY_LIMIT: u64 = 16 * 1024 * 1024 * 1024;

/// What a request carries.
enum Payload<'a> {
    Empty,
    Json(&'a Json),
    Bytes(&'a [u8]),
}

impl Payload<'_> {
    fn json_text(&self) -> String {
        match self {
            Payload::Json(json) => json.to_string(),
            _ => String::new(),
        }
    }
}

pub struct Client {
    agent: ureq::Agent,
    address: String,
    token: Option<SecretString>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(settings: ClientSettings) -> Result<Self, ClientError> {
        let mut tls = TlsConfig::builder().disable_verification(settings.skip_verify);
        if let Some(path) = &settings.ca_cert {
            tls = tls.root_certs(load_ca_file(path)?);
        }
        let agent = ureq::Agent::config_builder()
            // Error statuses carry the `{"errors": [...]}` body that the user needs to see.
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .tls_config(tls.build())
            .build()
            .new_agent();
        Ok(Client {
            agent,
            address: settings.address,
            token: settings.token,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// `GET /v1/<path>`; `None` for an empty (204) response.
    pub fn get(&self, path: &str) -> Result<Option<Json>, ClientError> {
        self.send("GET", path, None)
    }

    /// `PUT /v1/<path>` with an optional JSON body; `None` for an empty (204) response.
    pub fn put(&self, path: &str, body: Option<&Json>) -> Result<Option<Json>, ClientError> {
        self.send("PUT", path, body)
    }

    /// `DELETE /v1/<path>`; `None` for an empty (204) response.
    pub fn delete(&self, path: &str) -> Result<Option<Json>, ClientError> {
        self.send("DELETE", path, None)
    }

    /// `PATCH /v1/<path>` with a JSON merge patch (RFC 7386), as `kv patch` sends it.
    pub fn patch(&self, path: &str, body: &Json) -> Result<Option<Json>, ClientError> {
        self.send("PATCH", path, Some(body))
    }

    /// `LIST /v1/<path>`, sent as `GET ...?list=true` as the Vault API allows.
    pub fn list(&self, path: &str) -> Result<Option<Json>, ClientError> {
        self.send("LIST", path, None)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.address, path.trim_start_matches('/'))
    }

    /// `GET /v1/<path>` of a file (a snapshot): the body as it came.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let (url, status, body) = self.exchange("GET", path, Payload::Empty, FILE_BODY_LIMIT)?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        match interpret("GET", &url, status, &String::from_utf8_lossy(&body)) {
            Err(e) => Err(e),
            Ok(_) => unreachable!("interpret answers an error for every status outside 2xx"),
        }
    }

    /// `PUT /v1/<path>` with a file (a snapshot) as the body; `None` for a 204.
    pub fn put_bytes(&self, path: &str, body: &[u8]) -> Result<Option<Json>, ClientError> {
        self.send_payload("PUT", path, Payload::Bytes(body))
    }

    fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Json>,
    ) -> Result<Option<Json>, ClientError> {
        self.send_payload(method, path, body.map_or(Payload::Empty, Payload::Json))
    }

    fn send_payload(
        &self,
        method: &'static str,
        path: &str,
        payload: Payload<'_>,
    ) -> Result<Option<Json>, ClientError> {
        let (url, status, body) = self.exchange(method, path, payload, JSON_BODY_LIMIT)?;
        interpret(method, &url, status, &String::from_utf8_lossy(&body))
    }

    /// Sends one request; the URL, the status and at most `limit` bytes of the body.
    fn exchange(
        &self,
        method: &'static str,
        path: &str,
        payload: Payload<'_>,
        limit: u64,
    ) -> Result<(String, u16, Vec<u8>), ClientError> {
        let url = self.url(path);
        let transport = |source: ureq::Error| ClientError::Transport {
            method,
            url: url.clone(),
            hint: transport_hint(&url, &source),
            source: Box::new(source),
        };
        let response = match (method, payload) {
            ("GET", _) => self.with_headers(self.agent.get(&url)).call(),
            ("LIST", _) => self
                .with_headers(self.agent.get(format!("{url}?list=true")))
                .call(),
            ("DELETE", _) => self.with_headers(self.agent.delete(&url)).call(),
            ("PATCH", payload) => self
                .with_headers(self.agent.patch(&url))
                .content_type("application/merge-patch+json")
                .send(payload.json_text().as_bytes()),
            (_, Payload::Bytes(bytes)) => self
                .with_headers(self.agent.put(&url))
                .content_type("application/octet-stream")
                .send(bytes),
            (_, Payload::Json(json)) => self
                .with_headers(self.agent.put(&url))
                .content_type("application/json")
                .send(json.to_string().as_bytes()),
            (_, Payload::Empty) => self.with_headers(self.agent.put(&url)).send_empty(),
        }
        .map_err(transport)?;

        let status = response.status().as_u16();
        let body = response
            .into_body()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(transport)?;
        Ok((url, status, body))
    }

    fn with_headers<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        // The Vault CLI marks its requests this way; servers may use it against CSRF.
        let request = request.header("X-Vault-Request", "true");
        match &self.token {
            Some(token) => request.header("X-Vault-Token", token.expose_secret()),
            None => request,
        }
    }
}

/// Extra advice for a failure whose message does not say what to do.
///
/// rustls, unlike Go's TLS stack, refuses a CA certificate (`CA:TRUE`) as the server's own
/// certificate even when it is the trusted `VAULT_CACERT`, which is how `openssl req -x509`
/// makes self-signed certificates by default. And an `https://` address (the default) to a
/// listener with `tls_disable` fails with a bare "unexpected end of file": when the same
/// address answers plain HTTP, say so.
fn transport_hint(url: &str, error: &ureq::Error) -> String {
    if error.to_string().contains("CaUsedAsEndEntity") {
        return "\n\nThe server's certificate is a CA certificate (basicConstraints CA:TRUE). \
                Give the server a leaf certificate (CA:FALSE), for example signed by that CA, \
                or set VAULT_SKIP_VERIFY for testing."
            .to_string();
    }
    match plain_http_origin(url) {
        Some(origin) => format!(
            "\n\nThe server answered plain HTTP: set VAULT_ADDR={origin} (or -address={origin})."
        ),
        None => String::new(),
    }
}

/// For an `https://` URL, the `http://` origin of the same host and port if a plain-HTTP
/// request there gets any HTTP answer.
fn plain_http_origin(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    let origin = format!("http://{authority}");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .new_agent();
    agent
        .get(format!("{origin}/v1/sys/seal-status"))
        .call()
        .ok()
        .map(|_| origin)
}

/// A read or list as the Vault API client takes it: a 404 means nothing is there (`None`),
/// unless its body carries data or warnings (a deleted KV v2 version still shows its
/// metadata), which are returned as the answer.
pub fn absent_on_404(
    result: Result<Option<Json>, ClientError>,
) -> Result<Option<Json>, ClientError> {
    match result {
        Err(ClientError::Api {
            status: 404, raw, ..
        }) => {
            let body: Json = serde_json::from_str(&raw).unwrap_or(Json::Null);
            let non_empty = |key: &str| match body.get(key) {
                Some(Json::Object(map)) => !map.is_empty(),
                Some(Json::Array(list)) => !list.is_empty(),
                _ => false,
            };
            Ok((non_empty("data") || non_empty("warnings")).then_some(body))
        }
        other => other,
    }
}

/// Turns a status and body into the JSON result or the matching error.
fn interpret(
    method: &'static str,
    url: &str,
    status: u16,
    text: &str,
) -> Result<Option<Json>, ClientError> {
    if (200..300).contains(&status) {
        if text.trim().is_empty() {
            return Ok(None);
        }
        return serde_json::from_str(text)
            .map(Some)
            .map_err(|e| ClientError::Decode {
                method,
                url: url.to_string(),
                problem: format!("the body is not JSON: {e}"),
            });
    }
    let errors =
        serde_json::from_str::<Json>(text)
            .ok()
            .and_then(|body| match body.get("errors") {
                Some(Json::Array(list)) => Some(
                    list.iter()
                        .map(|e| match e {
                            Json::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect(),
                ),
                _ => None,
            });
    Err(ClientError::Api {
        method,
        url: url.to_string(),
        status,
        errors,
        raw: text.to_string(),
    })
}

fn load_ca_file(path: &std::path::Path) -> Result<RootCerts, ClientError> {
    let pem = std::fs::read(path).map_err(|e| {
        ClientError::Settings(format!(
            "error reading CA certificate {}: {e}",
            path.display()
        ))
    })?;
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => {
                return Err(ClientError::Settings(format!(
                    "error parsing CA certificate {}: {e}",
                    path.display()
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(ClientError::Settings(format!(
            "no certificates found in {}",
            path.display()
        )));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(args: &ClientArgs, vars: &[(&str, &str)]) -> Result<ClientSettings, ClientError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ClientSettings::resolve_with(args, |name| map.get(name).cloned())
    }

    fn token(settings: &ClientSettings) -> Option<String> {
        settings
            .token
            .as_ref()
            .map(|t| t.expose_secret().to_string())
    }

    #[test]
    fn defaults_match_the_vault_cli() {
        let s = resolve(&ClientArgs::default(), &[]).expect("resolves");
        assert_eq!(s.address, "https://127.0.0.1:8200");
        assert!(token(&s).is_none());
        assert!(s.ca_cert.is_none());
        assert!(!s.skip_verify);
    }

    #[test]
    fn environment_is_honoured() {
        let s = resolve(
            &ClientArgs::default(),
            &[
                ("VAULT_ADDR", "http://127.0.0.1:8300/"),
                ("VAULT_TOKEN", "s.abc"),
                ("VAULT_CACERT", "/etc/ca.pem"),
                ("VAULT_SKIP_VERIFY", "true"),
            ],
        )
        .expect("resolves");
        assert_eq!(s.address, "http://127.0.0.1:8300");
        assert_eq!(token(&s).as_deref(), Some("s.abc"));
        assert_eq!(s.ca_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert!(s.skip_verify);
    }

    #[test]
    fn skip_verify_takes_go_booleans_and_rejects_others() {
        for (value, want) in [
            ("1", true),
            ("TRUE", true),
            ("t", true),
            ("0", false),
            ("false", false),
            ("", false),
        ] {
            let s =
                resolve(&ClientArgs::default(), &[("VAULT_SKIP_VERIFY", value)]).expect("resolves");
            assert_eq!(s.skip_verify, want, "{value:?}");
        }
        let err = resolve(&ClientArgs::default(), &[("VAULT_SKIP_VERIFY", "maybe")])
            .expect_err("not a boolean");
        assert_eq!(err.to_string(), "could not parse VAULT_SKIP_VERIFY");
    }

    #[test]
    fn flags_override_the_environment() {
        let args = ClientArgs {
            address: Some("https://flag:8200".into()),
            ca_cert: Some(PathBuf::from("/flag/ca.pem")),
            tls_skip_verify: Some(false),
        };
        let s = resolve(
            &args,
            &[
                ("VAULT_ADDR", "http://env:8200"),
                ("VAULT_CACERT", "/env/ca.pem"),
                ("VAULT_SKIP_VERIFY", "1"),
            ],
        )
        .expect("resolves");
        assert_eq!(s.address, "https://flag:8200");
        assert_eq!(s.ca_cert, Some(PathBuf::from("/flag/ca.pem")));
        assert!(!s.skip_verify);
    }

    #[test]
    fn token_falls_back_to_the_token_file() {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join(".vault-token"), "s.fromfile\n").expect("write");
        let home_str = home.path().display().to_string();
        let s = resolve(&ClientArgs::default(), &[("HOME", &home_str)]).expect("resolves");
        assert_eq!(token(&s).as_deref(), Some("s.fromfile"));
        let s = resolve(
            &ClientArgs::default(),
            &[("HOME", &home_str), ("VAULT_TOKEN", "s.env")],
        )
        .expect("resolves");
        assert_eq!(token(&s).as_deref(), Some("s.env"));
        let empty_home = tempfile::tempdir().expect("tempdir");
        let s = resolve(
            &ClientArgs::default(),
            &[("HOME", &empty_home.path().display().to_string())],
        )
        .expect("resolves");
        assert!(token(&s).is_none());
    }

    #[test]
    fn an_address_without_scheme_is_rejected() {
        let err = resolve(&ClientArgs::default(), &[("VAULT_ADDR", "127.0.0.1:8200")])
            .expect_err("no scheme");
        assert!(err.to_string().contains("invalid server address"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let s =
            resolve(&ClientArgs::default(), &[("VAULT_TOKEN", "s.topsecret")]).expect("resolves");
        assert!(!format!("{s:?}").contains("topsecret"));
        let client = Client::new(s).expect("client");
        assert!(!format!("{client:?}").contains("topsecret"));
    }

    #[test]
    fn api_errors_are_printed_like_the_vault_cli() {
        let err = interpret(
            "PUT",
            "http://127.0.0.1:8200/v1/sys/init",
            400,
            r#"{"errors":["Vault is already initialized"]}"#,
        )
        .expect_err("400");
        assert_eq!(
            err.to_string(),
            "Error making API request.\n\nURL: PUT http://127.0.0.1:8200/v1/sys/init\nCode: 400. Errors:\n\n* Vault is already initialized"
        );
        let err =
            interpret("GET", "http://x/v1/a", 500, r#"{"errors":["one","two"]}"#).expect_err("500");
        assert!(
            err.to_string().ends_with("Errors:\n\n* one\n* two"),
            "{err}"
        );
        let err = interpret("GET", "http://x/v1/a", 404, r#"{"errors":[]}"#).expect_err("404");
        assert!(err.to_string().ends_with("Code: 404. Errors:\n"), "{err}");
        let err = interpret("GET", "http://x/v1/a", 502, "Bad Gateway").expect_err("502");
        assert!(
            err.to_string()
                .ends_with("Code: 502. Raw Message:\n\nBad Gateway"),
            "{err}"
        );
    }

    #[test]
    fn success_bodies_are_parsed_and_empty_ones_are_none() {
        assert_eq!(interpret("PUT", "u", 204, "").ok(), Some(None));
        assert_eq!(
            interpret("GET", "u", 200, r#"{"sealed":false}"#).ok(),
            Some(Some(serde_json::json!({"sealed": false})))
        );
        assert!(matches!(
            interpret("GET", "u", 200, "<html>"),
            Err(ClientError::Decode { .. })
        ));
    }

    #[test]
    fn a_ca_file_without_certificates_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "nothing here").expect("write");
        let settings = ClientSettings {
            address: "https://127.0.0.1:8200".into(),
            token: None,
            ca_cert: Some(path),
            skip_verify: false,
        };
        let err = Client::new(settings).expect_err("no certs");
        assert!(
            err.to_string().starts_with("no certificates found in"),
            "{err}"
        );
    }
}
