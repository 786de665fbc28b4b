//! HTTP <-> logical: turns a `/v1` request into a [`logical::Request`] and a
//! [`logical::Response`] (or [`logical::Error`]) into Vault's wire format.
//!
//! Decoding happens in two steps so that nothing is read from the body of a request that is
//! already known to fail: [`decode_head`] looks at the method, target and headers (path check,
//! operation, token, query, PATCH media type), then [`DecodedHead::into_request`] parses the
//! body. [`status_of`] is the one place where a logical error becomes an HTTP status.
//!
//! [`logical::Request`]: crate::logical::Request
//! [`logical::Response`]: crate::logical::Response
//! [`logical::Error`]: crate::logical::Error

use std::net::IpAddr;

use http::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE,
};
use http::{Method, StatusCode, Uri};
use serde::Serialize;
use serde_json::Value;

use super::path_check;
use crate::logical::{Error, Map, Operation, RawBody, Request, Response};

/// Every `/v1` path starts with this; anything else is a 404.
const API_PREFIX: &str = "/v1/";
/// Vault's token header.
const VAULT_TOKEN_HEADER: &str = "x-vault-token";
/// The only media type that PATCH accepts, as in Vault.
const MERGE_PATCH: &str = "application/merge-patch+json";
/// Query keys that never become request data: `help` is reserved by Vault for path help.
const RESERVED_QUERY_KEYS: &[&str] = &["help"];

/// The writes whose body is a file, not JSON: Vault's snapshot restores.
const RAW_BODY_PATHS: &[&str] = &[
    "sys/storage/raft/snapshot",
    "sys/storage/raft/snapshot-force",
];

/// What the request head says, before the body is read.
pub struct DecodedHead {
    operation: Operation,
    path: String,
    /// Query parameters for Read/List/Delete; replaced by the JSON body for writes.
    query: Map,
    token: Option<String>,
    remote_addr: Option<IpAddr>,
}

impl DecodedHead {
    pub fn operation(&self) -> Operation {
        self.operation
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn remote_addr(&self) -> Option<IpAddr> {
        self.remote_addr
    }

    /// Whether the body carries the request data. For the other operations the body is read
    /// (so the limit still applies and the connection stays usable) and then ignored, as Vault
    /// ignores it.
    pub fn takes_body(&self) -> bool {
        matches!(self.operation, Operation::Update | Operation::Patch)
    }

    /// Whether the body is kept as it came rather than parsed as JSON: a snapshot file,
    /// which no JSON limit applies to (the request size limit still does).
    pub fn takes_raw_body(&self) -> bool {
        self.operation == Operation::Update && RAW_BODY_PATHS.contains(&self.path.as_str())
    }

    /// Completes the request with its body. Its id is left for the caller to set.
    pub fn into_request(self, body: &[u8]) -> Result<Request, Error> {
        let mut req = if self.takes_raw_body() {
            let mut req = Request::new(self.operation, self.path);
            req.raw_body = Some(body.to_vec());
            req
        } else {
            let data = if self.takes_body() {
                parse_json_object(body)?
            } else {
                self.query
            };
            Request::new(self.operation, self.path).with_data(data)
        };
        req.client_token = self.token;
        req.remote_addr = self.remote_addr;
        Ok(req)
    }
}

/// Decodes a whole request in one go (the head, then `body`).
pub fn decode(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    remote_addr: Option<IpAddr>,
) -> Result<Request, Error> {
    decode_head(method, uri, headers, remote_addr)?.into_request(body)
}

/// Decodes the method, target and headers: the path check, the operation, the token, the
/// query parameters and PATCH's media type.
pub fn decode_head(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    remote_addr: Option<IpAddr>,
) -> Result<DecodedHead, Error> {
    let Some(raw_path) = uri.path().strip_prefix(API_PREFIX) else {
        return Err(Error::NotFound);
    };
    // Checked before anything else looks at the path, so that the ACL and the router see the
    // same decoded string and a rejected path reaches no backend.
    let mut path = path_check::check(raw_path).map_err(|e| Error::bad_request(e.to_string()))?;
    let mut query = parse_query(uri.query().unwrap_or(""));

    let operation = match method.as_str() {
        "GET" => {
            // `?list=` takes Go's `strconv.ParseBool` spellings, as Vault does; the key is only
            // dropped from the data when it turns the read into a list.
            let list = match query.get("list") {
                Some(Value::String(s)) => parse_go_bool(s)
                    .ok_or_else(|| Error::bad_request("invalid value for the list parameter"))?,
                Some(Value::Array(values)) => match values.first() {
                    Some(Value::String(s)) => parse_go_bool(s).ok_or_else(|| {
                        Error::bad_request("invalid value for the list parameter")
                    })?,
                    _ => false,
                },
                _ => false,
            };
            if list {
                query.remove("list");
                Operation::List
            } else {
                Operation::Read
            }
        }
        "HEAD" => Operation::Read,
        "LIST" => Operation::List,
        "POST" | "PUT" => Operation::Update,
        "PATCH" => {
            let media_type = media_type(headers);
            if media_type != MERGE_PATCH {
                return Err(Error::UnsupportedMediaType(format!(
                    "PATCH requires Content-Type of {MERGE_PATCH}, provided {media_type}"
                )));
            }
            Operation::Patch
        }
        "DELETE" => Operation::Delete,
        _ => return Err(Error::UnsupportedOperation),
    };
    // Vault's backends see a LIST path as a directory, whichever spelling the client used.
    if operation == Operation::List && !path.is_empty() && !path.ends_with('/') {
        path.push('/');
    }

    Ok(DecodedHead {
        operation,
        path,
        query,
        token: token_from_headers(headers),
        remote_addr,
    })
}

/// The caller's token: `X-Vault-Token`, else `Authorization: Bearer <t>`. Never the query
/// string, where tokens end up in proxy and shell logs.
fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(token) = headers
        .get(VAULT_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
    {
        return Some(token.to_string());
    }
    headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .find(|t| !t.is_empty())
        .map(str::to_string)
}

/// The media type of `Content-Type` without parameters, lowercased, as Go's
/// `mime.ParseMediaType` reports it.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Query parameters as Vault passes them to backends: one value as a string, repeated keys as
/// an array of strings. Like Go's `URL.Query()`, a pair that does not decode (or holds a `;`)
/// is dropped rather than failing the request.
fn parse_query(query: &str) -> Map {
    let mut out = Map::new();
    for pair in query.split('&') {
        if pair.is_empty() || pair.contains(';') {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (decode_query_component(k), decode_query_component(v)) else {
            continue;
        };
        if RESERVED_QUERY_KEYS.contains(&k.as_str()) {
            continue;
        }
        match out.get_mut(&k) {
            None => {
                out.insert(k, Value::String(v));
            }
            Some(Value::Array(values)) => values.push(Value::String(v)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(v)]);
            }
        }
    }
    out
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte. `None` on a
/// malformed escape or invalid UTF-8.
fn decode_query_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A write's body: a JSON object. An empty body (or `null`, which Go decodes into a nil map)
/// is an empty map.
fn parse_json_object(body: &[u8]) -> Result<Map, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(other) => Err(Error::bad_request(format!(
            "failed to parse JSON input: expected a JSON object, got {}",
            json_kind(&other)
        ))),
        // serde_json's message names a position and a category, never the input itself.
        Err(e) => Err(Error::bad_request(format!(
            "failed to parse JSON input: {e}"
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The HTTP status of a logical error (the mapping is `Error::status`).
pub fn status_of(err: &Error) -> StatusCode {
    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The messages of an error body. Vault answers a plain "not found" with an empty list.
fn messages_of(err: &Error) -> Vec<String> {
    match err {
        Error::NotFound => Vec::new(),
        other => vec![other.to_string()],
    }
}

/// Vault's 8-key envelope. Field order is Vault's; `None` serialises as `null`.
#[derive(Serialize)]
struct Envelope<'a> {
    request_id: &'a str,
    lease_id: &'static str,
    renewable: bool,
    lease_duration: u64,
    data: Option<&'a Map>,
    wrap_info: Option<()>,
    warnings: Option<&'a [String]>,
    auth: Option<&'a Map>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    errors: &'a [String],
}

/// A new request id, as Vault's: a random (v4) UUID. Its bytes come from the thread's
/// CSPRNG rather than `Uuid::new_v4`'s `getrandom` call, which is a system call per request
/// (an id is not a secret; it only has to be unique).
pub fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// Turns the outcome of a request into the HTTP response, with the request's id.
pub fn encode(result: Result<Response, Error>, request_id: &str) -> http::Response<Vec<u8>> {
    match result {
        Ok(resp) => encode_response(&resp, request_id),
        Err(err) => encode_error(&err),
    }
}

/// A successful response: raw as it is, else 204 when there is nothing to say, else the
/// envelope with the backend's status (200 by default).
pub fn encode_response(resp: &Response, request_id: &str) -> http::Response<Vec<u8>> {
    if let Some(raw) = &resp.raw {
        let Ok(status) = StatusCode::from_u16(raw.status) else {
            return internal_error("backend returned an invalid status code");
        };
        if status == StatusCode::NO_CONTENT || raw.body.is_empty() {
            return build(status, None);
        }
        return match &raw.body {
            RawBody::Json(value) => match serde_json::to_vec(value) {
                Ok(body) => build(status, Some(body)),
                Err(_) => internal_error("failed to encode the response"),
            },
            RawBody::Bytes {
                content_type,
                bytes,
            } => {
                let mut resp = build(status, Some(bytes.clone()));
                resp.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                resp
            }
        };
    }

    if resp.data.is_none()
        && resp.warnings.is_empty()
        && resp.auth.is_none()
        && resp.status.is_none()
    {
        return build(StatusCode::NO_CONTENT, None);
    }
    let status = match resp.status.map(StatusCode::from_u16) {
        None => StatusCode::OK,
        Some(Ok(status)) => status,
        Some(Err(_)) => return internal_error("backend returned an invalid status code"),
    };
    let envelope = Envelope {
        request_id,
        lease_id: "",
        renewable: false,
        lease_duration: resp.lease_duration,
        data: resp.data.as_ref(),
        wrap_info: None,
        warnings: (!resp.warnings.is_empty()).then_some(resp.warnings.as_slice()),
        auth: resp.auth.as_ref(),
    };
    let body = match (resp.data_at_top_level, &resp.data) {
        (true, Some(data)) => serde_json::to_value(&envelope).and_then(|mut value| {
            if let serde_json::Value::Object(top) = &mut value {
                for (k, v) in data {
                    if !top.contains_key(k) {
                        top.insert(k.clone(), v.clone());
                    }
                }
            }
            serde_json::to_vec(&value)
        }),
        _ => serde_json::to_vec(&envelope),
    };
    match body {
        Ok(body) => build(status, Some(body)),
        Err(_) => internal_error("failed to encode the response"),
    }
}

/// `{"errors":[...]}` with the error's status.
pub fn encode_error(err: &Error) -> http::Response<Vec<u8>> {
    let status = status_of(err);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        // Internal messages carry no secret material by contract (`logical::Error::Internal`).
        tracing::error!(error = %err, "request failed");
    }
    let messages = messages_of(err);
    match serde_json::to_vec(&ErrorBody { errors: &messages }) {
        Ok(body) => build(status, Some(body)),
        Err(_) => build(StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

fn internal_error(msg: &str) -> http::Response<Vec<u8>> {
    encode_error(&Error::internal(msg))
}

/// Every answer is JSON and must not be cached: it may hold secrets.
fn build(status: StatusCode, body: Option<Vec<u8>>) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::new(Vec::new());
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(body) = body {
        // pingora frames the body by this header; without it the connection could not be
        // kept alive.
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        *resp.body_mut() = body;
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> Result<DecodedHead, Error> {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let uri: Uri = uri.parse().unwrap();
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        decode_head(&method, &uri, &map, None)
    }

    fn req(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Request, Error> {
        head(method, uri, headers)?.into_request(body.as_bytes())
    }

    fn body_json(resp: &http::Response<Vec<u8>>) -> Value {
        serde_json::from_slice(resp.body()).unwrap()
    }

    #[test]
    fn methods_map_to_operations() {
        let cases = [
            ("GET", "/v1/secret/data/a", Operation::Read, "secret/data/a"),
            ("HEAD", "/v1/sys/health", Operation::Read, "sys/health"),
            (
                "LIST",
                "/v1/secret/metadata",
                Operation::List,
                "secret/metadata/",
            ),
            (
                "LIST",
                "/v1/secret/metadata/",
                Operation::List,
                "secret/metadata/",
            ),
            (
                "GET",
                "/v1/secret/metadata?list=true",
                Operation::List,
                "secret/metadata/",
            ),
            (
                "GET",
                "/v1/secret/metadata?list=1",
                Operation::List,
                "secret/metadata/",
            ),
            (
                "GET",
                "/v1/secret/metadata?list=false",
                Operation::Read,
                "secret/metadata",
            ),
            (
                "POST",
                "/v1/secret/data/a",
                Operation::Update,
                "secret/data/a",
            ),
            (
                "PUT",
                "/v1/secret/data/a",
                Operation::Update,
                "secret/data/a",
            ),
            (
                "DELETE",
                "/v1/secret/data/a",
                Operation::Delete,
                "secret/data/a",
            ),
        ];
        for (method, uri, op, path) in cases {
            let h = head(method, uri, &[]).unwrap();
            assert_eq!(h.operation(), op, "{method} {uri}");
            assert_eq!(h.path(), path, "{method} {uri}");
        }
        let h = head(
            "PATCH",
            "/v1/secret/data/a",
            &[("content-type", MERGE_PATCH)],
        )
        .unwrap();
        assert_eq!(h.operation(), Operation::Patch);
    }

    #[test]
    fn other_methods_are_405() {
        for m in ["OPTIONS", "TRACE", "CONNECT", "FOO"] {
            let err = head(m, "/v1/secret/a", &[]).err().unwrap();
            assert_eq!(status_of(&err), StatusCode::METHOD_NOT_ALLOWED, "{m}");
        }
    }

    #[test]
    fn paths_outside_v1_are_404() {
        for uri in ["/", "/v1", "/v2/secret", "/ui/", "/v1x/a"] {
            let err = head("GET", uri, &[]).err().unwrap();
            assert_eq!(status_of(&err), StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(body_json(&encode_error(&err)), json!({"errors": []}));
        }
    }

    #[test]
    fn bad_paths_are_400() {
        for uri in [
            "/v1/secret/../sys/seal",
            "/v1/secret/%2e%2e/sys",
            "/v1/secret/.%2E/sys",
            "/v1/secret//data",
            "/v1/secret/a%2Fb",
            "/v1/secret/a%00",
            "/v1/secret/./a",
        ] {
            let err = head("GET", uri, &[]).err().unwrap();
            assert_eq!(status_of(&err), StatusCode::BAD_REQUEST, "{uri}");
        }
    }

    #[test]
    fn path_is_decoded() {
        let h = head("GET", "/v1/secret/data/a%20b", &[]).unwrap();
        assert_eq!(h.path(), "secret/data/a b");
    }

    #[test]
    fn patch_needs_merge_patch() {
        let err = head(
            "PATCH",
            "/v1/secret/data/a",
            &[("content-type", "application/json")],
        )
        .err()
        .unwrap();
        assert_eq!(status_of(&err), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            body_json(&encode_error(&err)),
            json!({"errors": ["PATCH requires Content-Type of application/merge-patch+json, provided application/json"]})
        );
        let err = head("PATCH", "/v1/secret/data/a", &[]).err().unwrap();
        assert_eq!(status_of(&err), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // Parameters and case do not matter, as with Go's mime.ParseMediaType.
        let r = req(
            "PATCH",
            "/v1/secret/data/a",
            &[(
                "content-type",
                "Application/Merge-Patch+JSON; charset=utf-8",
            )],
            r#"{"data":{"a":null}}"#,
        )
        .unwrap();
        assert_eq!(r.operation, Operation::Patch);
        assert_eq!(r.data.get("data"), Some(&json!({"a": null})));
    }

    #[test]
    fn write_bodies() {
        let r = req("POST", "/v1/secret/data/a", &[], r#"{"data":{"k":"v"}}"#).unwrap();
        assert_eq!(Value::Object(r.data), json!({"data": {"k": "v"}}));
        for empty in ["", "  \n", "null"] {
            let r = req("PUT", "/v1/sys/seal", &[], empty).unwrap();
            assert!(r.data.is_empty(), "{empty:?}");
        }
        // Query parameters never become data for writes.
        let r = req("POST", "/v1/secret/data/a?x=1", &[], "{}").unwrap();
        assert!(r.data.is_empty());
    }

    #[test]
    fn malformed_json_is_400() {
        for bad in ["{", "{\"a\":}", "[1,2]", "\"s\"", "3", "{} x"] {
            let err = req("POST", "/v1/secret/data/a", &[], bad).err().unwrap();
            assert_eq!(status_of(&err), StatusCode::BAD_REQUEST, "{bad}");
            assert!(
                err.to_string().starts_with("failed to parse JSON input: "),
                "{err}"
            );
        }
    }

    #[test]
    fn reads_take_query_parameters() {
        let r = req(
            "GET",
            "/v1/secret/data/a?version=2&a=x&a=y&sp=a+b%21&help=1&flag",
            &[],
            "ignored",
        )
        .unwrap();
        assert_eq!(
            Value::Object(r.data),
            json!({"version": "2", "a": ["x", "y"], "sp": "a b!", "flag": ""})
        );
        let r = req("GET", "/v1/secret/metadata?list=true&after=k", &[], "").unwrap();
        assert_eq!(Value::Object(r.data), json!({"after": "k"}));
        let r = req("HEAD", "/v1/sys/health?standbyok=true", &[], "").unwrap();
        assert_eq!(Value::Object(r.data), json!({"standbyok": "true"}));
        let r = req("DELETE", "/v1/secret/data/a?versions=1", &[], "").unwrap();
        assert_eq!(Value::Object(r.data), json!({"versions": "1"}));
        // A pair that does not decode is dropped, like Go's URL.Query().
        let r = req("GET", "/v1/a?bad=%zz&ok=1", &[], "").unwrap();
        assert_eq!(Value::Object(r.data), json!({"ok": "1"}));
    }

    #[test]
    fn invalid_list_value_is_400() {
        let err = head("GET", "/v1/secret/metadata?list=yes", &[])
            .err()
            .unwrap();
        assert_eq!(status_of(&err), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn token_comes_from_headers_only() {
        let r = req("GET", "/v1/a", &[("x-vault-token", "s.abc")], "").unwrap();
        assert_eq!(r.client_token.as_deref(), Some("s.abc"));
        let r = req("GET", "/v1/a", &[("authorization", "Bearer  s.xyz ")], "").unwrap();
        assert_eq!(r.client_token.as_deref(), Some("s.xyz"));
        // X-Vault-Token wins over Authorization.
        let r = req(
            "GET",
            "/v1/a",
            &[("authorization", "Bearer b"), ("x-vault-token", "v")],
            "",
        )
        .unwrap();
        assert_eq!(r.client_token.as_deref(), Some("v"));
        let r = req("GET", "/v1/a", &[("authorization", "Basic dXNlcjpw")], "").unwrap();
        assert_eq!(r.client_token, None);
        let r = req("GET", "/v1/a?token=s.q&X-Vault-Token=s.q", &[], "").unwrap();
        assert_eq!(r.client_token, None);
        let r = req("GET", "/v1/a", &[("x-vault-token", "")], "").unwrap();
        assert_eq!(r.client_token, None);
    }

    #[test]
    fn sys_answers_also_carry_their_data_at_the_top_level() {
        let mut data = Map::new();
        data.insert("term".into(), json!(2));
        data.insert("request_id".into(), json!("not the envelope's"));
        let mut resp = Response::data(data);
        resp.data_at_top_level = true;
        let body = body_json(&encode_response(&resp, "id-1"));
        assert_eq!(body["term"], 2);
        assert_eq!(body["data"]["term"], 2);
        assert_eq!(body["request_id"], "id-1", "envelope keys win");
    }

    #[test]
    fn envelope_has_exactly_eight_keys() {
        let mut data = Map::new();
        data.insert("k".into(), json!("v"));
        let mut resp = Response::data(data);
        resp.lease_duration = 2764800;
        let http = encode_response(&resp, "id-1");
        assert_eq!(http.status(), StatusCode::OK);
        assert_eq!(http.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(http.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(
            http.headers()[CONTENT_LENGTH],
            http.body().len().to_string().as_str()
        );
        let body = body_json(&http);
        assert_eq!(
            body,
            json!({
                "request_id": "id-1", "lease_id": "", "renewable": false,
                "lease_duration": 2764800, "data": {"k": "v"}, "wrap_info": null,
                "warnings": null, "auth": null
            })
        );
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "request_id",
                "lease_id",
                "renewable",
                "lease_duration",
                "data",
                "wrap_info",
                "warnings",
                "auth"
            ]
        );
    }

    #[test]
    fn the_envelope_carries_the_requests_uuid() {
        let id = new_request_id();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        let http = encode(Ok(Response::data(Map::new())), &id);
        assert_eq!(body_json(&http)["request_id"], json!(id));
    }

    #[test]
    fn empty_response_is_204_without_body() {
        let http = encode(Ok(Response::empty()), "id-1");
        assert_eq!(http.status(), StatusCode::NO_CONTENT);
        assert!(http.body().is_empty());
        assert!(http.headers().get(CONTENT_LENGTH).is_none());
    }

    #[test]
    fn warnings_make_a_200() {
        let http = encode_response(&Response::empty().with_warning("careful"), "id");
        assert_eq!(http.status(), StatusCode::OK);
        let body = body_json(&http);
        assert_eq!(body["warnings"], json!(["careful"]));
        assert_eq!(body["data"], Value::Null);
    }

    #[test]
    fn auth_is_enveloped() {
        let mut auth = Map::new();
        auth.insert("client_token".into(), json!("s.x"));
        let resp = Response {
            auth: Some(auth),
            ..Default::default()
        };
        let http = encode_response(&resp, "id");
        assert_eq!(http.status(), StatusCode::OK);
        assert_eq!(body_json(&http)["auth"]["client_token"], "s.x");
    }

    #[test]
    fn status_override_keeps_the_envelope() {
        let mut data = Map::new();
        data.insert("metadata".into(), json!({"deletion_time": "x"}));
        let http = encode_response(&Response::data(data).with_status(404), "id");
        assert_eq!(http.status(), StatusCode::NOT_FOUND);
        assert_eq!(body_json(&http)["data"]["metadata"]["deletion_time"], "x");
    }

    #[test]
    fn raw_is_sent_as_is() {
        let http = encode(Ok(Response::raw(503, json!({"sealed": true}))), "id-1");
        assert_eq!(http.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body_json(&http), json!({"sealed": true}));
        assert_eq!(http.headers()[CONTENT_TYPE], "application/json");
        let http = encode(Ok(Response::raw(1000, json!({}))), "id-1");
        assert_eq!(http.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn every_error_has_its_status_and_body() {
        let cases: Vec<(Error, u16, Value)> = vec![
            (Error::bad_request("bad"), 400, json!({"errors": ["bad"]})),
            (
                Error::PermissionDenied,
                403,
                json!({"errors": ["permission denied"]}),
            ),
            (
                Error::Forbidden("no".into()),
                403,
                json!({"errors": ["no"]}),
            ),
            (Error::NotFound, 404, json!({"errors": []})),
            (
                Error::NoHandler("no handler for route \"x\". route entry not found.".into()),
                404,
                json!({"errors": ["no handler for route \"x\". route entry not found."]}),
            ),
            (
                Error::UnsupportedOperation,
                405,
                json!({"errors": ["unsupported operation"]}),
            ),
            (
                Error::TooLarge,
                413,
                json!({"errors": ["http: request body too large"]}),
            ),
            (
                Error::UnsupportedMediaType("m".into()),
                415,
                json!({"errors": ["m"]}),
            ),
            (
                Error::RateLimited,
                429,
                json!({"errors": ["rate limit quota exceeded"]}),
            ),
            (Error::Sealed, 503, json!({"errors": ["Vault is sealed"]})),
            (Error::internal("boom"), 500, json!({"errors": ["boom"]})),
        ];
        for (err, status, body) in cases {
            let http = encode(Err(err), "id-1");
            assert_eq!(http.status().as_u16(), status);
            assert_eq!(body_json(&http), body);
            assert_eq!(http.headers()[CONTENT_TYPE], "application/json");
            assert_eq!(http.headers()[CACHE_CONTROL], "no-store");
        }
    }
}
