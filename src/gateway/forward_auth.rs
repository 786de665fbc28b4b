//! The forward-auth endpoint (`forward_auth_path`, default `/forward-auth`) that Traefik's
//! `forwardAuth`, Caddy's `forward_auth` and nginx's `auth_request` ask about each request.
//!
//! The contract, in order:
//! 1. a peer outside `trusted_proxies` gets 403 and nothing is evaluated;
//! 2. the original request comes from `X-Forwarded-Method`, `-Host` and `-Uri` (nginx's
//!    `X-Original-URI` is taken too); an ambiguous path is 400; `?route=NAME` picks a route;
//! 3. the token comes from `X-Vault-Token` or `Authorization: Bearer`;
//! 4. [`decision::Gateway::evaluate`] decides; the answer is 200 with the identity and
//!    injected headers, 401 with `WWW-Authenticate`, 403, 429 with `Retry-After`, 400 or 503.
//!    With `?mode=nginx` 429, 400 and 503 become 403 (keeping `Retry-After`), because nginx's
//!    `auth_request` turns any status but 2xx, 401 and 403 into a 500.
//!
//! The request body is never read.

use std::net::IpAddr;

use http::header::{
    HeaderMap, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use http::{HeaderValue, StatusCode};
use percent_encoding::percent_decode_str;

use super::decision::{Forwarded, Gateway, Outcome, Settings};
use super::path_check;

/// The answer's status and body before `mode=nginx` is applied.
struct Answer {
    status: StatusCode,
    message: String,
}

/// Serves one forward-auth check. `method`, `uri` and `headers` are the check's own request;
/// `peer` the address of the proxy that sent it.
pub async fn respond(
    gateway: &Gateway,
    method: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    request_id: &str,
) -> http::Response<Vec<u8>> {
    let nginx = query_param(query, "mode").as_deref() == Some("nginx");
    let settings = gateway.settings();
    if !settings.is_trusted(peer) {
        tracing::warn!(?peer, "forward-auth: peer is not a trusted proxy");
        return answer(forbidden(), nginx);
    }
    let forwarded_method = header(headers, "x-forwarded-method").unwrap_or(method);
    let host = header(headers, "x-forwarded-host")
        .or_else(|| header(headers, HOST.as_str()))
        .unwrap_or("");
    let Some(uri) =
        header(headers, "x-forwarded-uri").or_else(|| header(headers, "x-original-uri"))
    else {
        return answer(
            bad_request("the proxy sent no X-Forwarded-Uri (or X-Original-URI)".into()),
            nginx,
        );
    };
    let path = match path_check::check_forwarded(uri) {
        Ok(p) => p.path,
        Err(e) => return ambiguous_path(&e, nginx),
    };
    let route = query_param(query, "route");
    let token = token_of(headers);
    let client = client_address(headers, peer, &settings);
    let fwd = Forwarded {
        method: forwarded_method,
        host,
        path: &path,
        route: route.as_deref(),
        token: token.as_deref(),
        client,
        request_id,
    };
    let (outcome, _route) = gateway.evaluate(&fwd).await;
    match outcome {
        Outcome::Allow(allowed) => {
            let mut resp = empty(StatusCode::OK);
            for (name, value) in allowed.headers() {
                resp.headers_mut().insert(name, value);
            }
            resp
        }
        refused => refusal(&refused, nginx),
    }
}

/// The answer to a request the gateway did not allow (proxy mode sends it to the client as
/// is). `nginx` maps every status nginx's `auth_request` cannot pass on to 403.
pub fn refusal(outcome: &Outcome, nginx: bool) -> http::Response<Vec<u8>> {
    let message = match outcome {
        Outcome::Allow(_) | Outcome::Forbidden(_) => "permission denied",
        Outcome::Unauthenticated => "missing, unknown or expired token",
        Outcome::RateLimited(_) => "rate limit quota exceeded",
        Outcome::Sealed => "Vault is sealed",
        Outcome::Failed => "internal error",
    };
    // An `Allow` here is a caller's mistake; refusing it is the safe answer.
    let status = match outcome {
        Outcome::Allow(_) => StatusCode::FORBIDDEN,
        other => StatusCode::from_u16(other.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let mut resp = answer(
        Answer {
            status,
            message: message.into(),
        },
        nginx,
    );
    match outcome {
        Outcome::Unauthenticated => {
            resp.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mainkey\""),
            );
        }
        Outcome::RateLimited(retry) => {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry.header_seconds()));
        }
        _ => {}
    }
    resp
}

/// A 400 for a path that could mean two things.
pub fn ambiguous_path(error: &path_check::PathError, nginx: bool) -> http::Response<Vec<u8>> {
    answer(bad_request(error.to_string()), nginx)
}

fn forbidden() -> Answer {
    Answer {
        status: StatusCode::FORBIDDEN,
        message: "permission denied".into(),
    }
}

fn bad_request(message: String) -> Answer {
    Answer {
        status: StatusCode::BAD_REQUEST,
        message,
    }
}

/// A JSON error answer, in Vault's `{"errors":[...]}` shape. nginx's `auth_request` only
/// passes 401 and 403 on, so with `mode=nginx` every other refusal is a 403.
fn answer(answer: Answer, nginx: bool) -> http::Response<Vec<u8>> {
    let status = match answer.status {
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_REQUEST
        | StatusCode::SERVICE_UNAVAILABLE
            if nginx =>
        {
            StatusCode::FORBIDDEN
        }
        s => s,
    };
    let body = serde_json::json!({ "errors": [answer.message] }).to_string();
    let mut resp = empty(status);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *resp.body_mut() = body.into_bytes();
    resp
}

fn empty(status: StatusCode) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::new(Vec::new());
    *resp.status_mut() = status;
    // A decision is about this token at this moment; no cache on the way may keep it.
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Framed, so the proxy keeps the connection for its next check (pingora sends an
    // unframed body until the connection closes).
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `X-Vault-Token`, else `Authorization: Bearer` (the scheme case-insensitively).
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = header(headers, "x-vault-token") {
        return Some(t.to_string());
    }
    let auth = header(headers, AUTHORIZATION.as_str())?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The original client, for a token's CIDR binding: the right-most `X-Forwarded-For`
/// address that is not itself a trusted proxy (the first hop a trusted proxy saw), else the
/// peer. Only a trusted peer gets here, so its `X-Forwarded-For` is believed.
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    settings: &Settings,
) -> Option<IpAddr> {
    let Some(xff) = header(headers, "x-forwarded-for") else {
        return peer;
    };
    let hops: Vec<IpAddr> = xff
        .split(',')
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !settings.is_trusted(Some(**ip)))
        .or_else(|| hops.first())
        .copied()
        .or(peer)
}

/// The first value of `name` in a query string, percent-decoded.
pub(super) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_x_vault_token_then_bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(token_of(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(token_of(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer  s.abc "));
        assert_eq!(token_of(&h).as_deref(), Some("s.abc"));
        h.insert("x-vault-token", HeaderValue::from_static("hvs.x"));
        assert_eq!(token_of(&h).as_deref(), Some("hvs.x"));
    }

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_param(Some("route=shop&mode=nginx"), "mode").as_deref(),
            Some("nginx")
        );
        assert_eq!(
            query_param(Some("route=a%20b"), "route").as_deref(),
            Some("a b")
        );
        assert_eq!(query_param(Some("mode"), "mode").as_deref(), Some(""));
        assert_eq!(query_param(None, "mode"), None);
        assert_eq!(query_param(Some("xmode=nginx"), "mode"), None);
    }
}
