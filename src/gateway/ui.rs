//! The web UI: static files embedded in the binary, served at `/ui/` on the API listeners when
//! the config says `ui = true` (dev mode turns it on, as Vault does).
//!
//! The UI is a client of `/v1` and nothing else: this module adds no endpoint, only files.
//! Lookups are by exact name in a fixed table, so no path spelling (`/ui/../v1`, `%2e%2e`,
//! `//`) can reach anything but these files; an unknown name under `/ui/` is a 404 (the app
//! routes by the URL fragment, so it needs no fallback to its index).

use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderValue, Method, StatusCode};

/// Where the UI lives; `/` and `/ui` redirect here.
pub const UI_PREFIX: &str = "/ui/";

/// No inline script, no `eval`, nothing from another origin, no framing (clickjacking), and
/// forms may only post back here.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// One embedded file: its name under `/ui/` (empty for the index) and its media type.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: &[u8] = include_bytes!("../ui/assets/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        name: "",
        content_type: "text/html; charset=utf-8",
        body: INDEX,
    },
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: INDEX,
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/assets/app.js"),
    },
    Asset {
        name: "admin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/assets/admin.js"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/assets/api.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../ui/assets/style.css"),
    },
];

/// The answer for `path` when the UI is on, or `None` when the path is not the UI's (it then
/// goes to `/v1` as before). `path` is the raw request path, without the query.
pub fn answer(method: &Method, path: &str) -> Option<http::Response<Vec<u8>>> {
    if path == "/" || path == "/ui" {
        return Some(redirect_to_ui());
    }
    let name = path.strip_prefix(UI_PREFIX)?;
    if method != Method::GET && method != Method::HEAD {
        return Some(plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
    }
    Some(match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => file(asset),
        None => plain(StatusCode::NOT_FOUND, "not found"),
    })
}

/// The total size of the embedded files (the index counted once), for the size budget.
pub fn total_asset_bytes() -> usize {
    ASSETS
        .iter()
        .filter(|a| !a.name.is_empty())
        .map(|a| a.body.len())
        .sum()
}

fn file(asset: &Asset) -> http::Response<Vec<u8>> {
    let mut resp = with_security_headers(StatusCode::OK, asset.body.to_vec());
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    resp
}

fn plain(status: StatusCode, text: &str) -> http::Response<Vec<u8>> {
    let mut resp = with_security_headers(status, text.as_bytes().to_vec());
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn redirect_to_ui() -> http::Response<Vec<u8>> {
    let mut resp = with_security_headers(StatusCode::TEMPORARY_REDIRECT, Vec::new());
    resp.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(UI_PREFIX));
    resp
}

/// Every UI answer carries these. `no-store` on everything: the files are small, and an
/// upgraded binary must never be paired with a cached script of the last version.
fn with_security_headers(status: StatusCode, body: Vec<u8>) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::new(Vec::new());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // pingora frames the body by this header (see `api::build`).
    h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *resp.body_mut() = body;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Option<http::Response<Vec<u8>>> {
        answer(&Method::GET, path)
    }

    #[test]
    fn serves_the_index_and_its_files_with_their_types() {
        for (path, kind) in [
            ("/ui/", "text/html"),
            ("/ui/index.html", "text/html"),
            ("/ui/app.js", "text/javascript"),
            ("/ui/admin.js", "text/javascript"),
            ("/ui/api.js", "text/javascript"),
            ("/ui/style.css", "text/css"),
        ] {
            let r = get(path).unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let ct = r.headers()[CONTENT_TYPE].to_str().unwrap();
            assert!(ct.starts_with(kind), "{path}: {ct}");
            assert_eq!(r.headers()[X_FRAME_OPTIONS], "DENY");
            assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
            assert!(!r.body().is_empty());
        }
    }

    #[test]
    fn root_redirects_and_other_paths_are_not_the_uis() {
        for path in ["/", "/ui"] {
            let r = get(path).unwrap();
            assert_eq!(r.status(), 307);
            assert_eq!(r.headers()[LOCATION], "/ui/");
        }
        for path in ["/v1/sys/health", "/uix", "/ui.js", ""] {
            assert!(get(path).is_none(), "{path}");
        }
    }

    #[test]
    fn path_tricks_reach_no_other_file() {
        for path in [
            "/ui/../v1/sys/seal-status",
            "/ui/%2e%2e/v1/sys/seal-status",
            "/ui/%2E%2E/Cargo.toml",
            "/ui//app.js",
            "/ui/./app.js",
            "/ui/app.js/",
            "/ui/APP.JS",
            "/ui/app.js%00",
            "/ui/nope",
        ] {
            let r = get(path).unwrap();
            assert_eq!(r.status(), 404, "{path}");
            assert_eq!(r.body(), b"not found");
        }
    }

    #[test]
    fn only_reads_are_served() {
        let r = answer(&Method::POST, "/ui/app.js").unwrap();
        assert_eq!(r.status(), 405);
        assert!(answer(&Method::HEAD, "/ui/").unwrap().status() == 200);
    }

    #[test]
    fn assets_stay_small_and_local() {
        assert!(total_asset_bytes() < 300 * 1024, "{}", total_asset_bytes());
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).unwrap();
            for outside in ["http://", "https://", "src=\"//", "href=\"//", "url(//"] {
                assert!(!text.contains(outside), "{}: {outside}", asset.name);
            }
        }
    }

    #[test]
    fn the_policy_allows_no_inline_script() {
        assert!(!CONTENT_SECURITY_POLICY_VALUE.contains("unsafe"));
        assert!(CONTENT_SECURITY_POLICY_VALUE.contains("frame-ancestors 'none'"));
    }
}
