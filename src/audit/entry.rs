//! The lines an audit device writes, in Vault's audit format: one JSON object per request
//! (`type: "request"`) and per response (`type: "response"`), plus mainkey's own
//! `type: "gateway"` for each forward-auth or proxy decision.
//!
//! An entry is built once with plain values and a list of what is sensitive; each device
//! then hashes that list with its own salt (unless `log_raw`), so nothing sensitive is ever
//! written in the clear by a hashing device.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::device::Device;

/// The caller, as audit names it. Borrowed from what the core already holds.
pub struct AuthFacts<'a> {
    pub accessor: &'a str,
    pub display_name: &'a str,
    pub policies: &'a [String],
    pub identity_policies: &'a [String],
    pub entity_id: &'a str,
    pub metadata: Option<&'a BTreeMap<String, String>>,
    pub token_ttl: u64,
}

/// A request, as audit names it.
pub struct RequestFacts<'a> {
    pub id: &'a str,
    pub operation: &'a str,
    pub path: &'a str,
    pub mount_point: Option<&'a str>,
    pub remote_address: Option<IpAddr>,
    pub client_token: Option<&'a str>,
    /// Present on the request entry; response entries leave it out.
    pub data: Option<&'a Map<String, Value>>,
    /// Who called, once the core allowed it.
    pub auth: Option<AuthFacts<'a>>,
}

/// What the core answered.
pub struct ResponseFacts<'a> {
    pub data: Option<&'a Map<String, Value>>,
    /// The envelope's `auth` (a login's new token, or a token endpoint's).
    pub auth: Option<&'a Map<String, Value>>,
    pub warnings: &'a [String],
}

/// A gateway decision. Injected credentials are named, never given.
pub struct GatewayFacts<'a> {
    pub id: &'a str,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub remote_address: Option<IpAddr>,
    pub client_token: Option<&'a str>,
    pub route: &'a str,
    pub tenant: &'a str,
    pub decision: &'a str,
    pub status: u16,
    pub entity_id: &'a str,
    pub policies: &'a str,
    pub injected_headers: Vec<&'a str>,
}

/// Where a sensitive value sits in an entry.
#[derive(Clone, Copy)]
enum Sensitive {
    /// A token or other secret string: always hashed.
    Secret(&'static [&'static str]),
    /// An accessor: hashed unless the device says `hmac_accessor = false`.
    Accessor(&'static [&'static str]),
    /// A data object: every string in it is hashed.
    Data(&'static [&'static str]),
}

/// An entry before any device hashed it.
pub struct Entry {
    value: Value,
    sensitive: Vec<Sensitive>,
}

impl Entry {
    pub fn request(time: &str, req: &RequestFacts<'_>, error: &str) -> Entry {
        let mut sensitive = request_sensitive(req);
        if req.data.is_some() {
            sensitive.push(Sensitive::Data(&["request", "data"]));
        }
        Entry {
            value: json!({
                "time": time,
                "type": "request",
                "auth": auth_value(req),
                "request": request_value(req),
                "error": error,
            }),
            sensitive,
        }
    }

    pub fn response(
        time: &str,
        req: &RequestFacts<'_>,
        resp: Option<&ResponseFacts<'_>>,
        error: &str,
    ) -> Entry {
        let mut sensitive = request_sensitive(req);
        let response = match resp {
            None => json!({}),
            Some(resp) => {
                let mut out = Map::new();
                if let Some(mount) = req.mount_point {
                    out.insert("mount_point".into(), mount.into());
                }
                if let Some(data) = resp.data {
                    out.insert("data".into(), Value::Object(data.clone()));
                    sensitive.push(Sensitive::Data(&["response", "data"]));
                }
                if let Some(auth) = resp.auth {
                    out.insert("auth".into(), Value::Object(auth.clone()));
                    sensitive.push(Sensitive::Secret(&["response", "auth", "client_token"]));
                    sensitive.push(Sensitive::Accessor(&["response", "auth", "accessor"]));
                }
                if !resp.warnings.is_empty() {
                    out.insert("warnings".into(), resp.warnings.into());
                }
                Value::Object(out)
            }
        };
        Entry {
            value: json!({
                "time": time,
                "type": "response",
                "auth": auth_value(req),
                "request": request_value(req),
                "response": response,
                "error": error,
            }),
            sensitive,
        }
    }

    pub fn gateway(time: &str, g: &GatewayFacts<'_>) -> Entry {
        Entry {
            value: json!({
                "time": time,
                "type": "gateway",
                "request": {
                    "id": g.id,
                    "operation": g.method,
                    "host": g.host,
                    "path": g.path,
                    "remote_address": g.remote_address.map(|a| a.to_string()),
                    "client_token": g.client_token,
                },
                "gateway": {
                    "route": g.route,
                    "tenant": g.tenant,
                    "decision": g.decision,
                    "status": g.status,
                    "entity_id": g.entity_id,
                    "policies": g.policies,
                    "injected_headers": g.injected_headers,
                },
                "error": "",
            }),
            sensitive: vec![Sensitive::Secret(&["request", "client_token"])],
        }
    }

    /// The line `device` writes: the entry hashed with its salt, and a newline.
    pub fn line_for(&self, device: &Device) -> Vec<u8> {
        let line = if device.log_raw {
            serde_json::to_vec(&self.value)
        } else {
            let mut value = self.value.clone();
            for s in &self.sensitive {
                let (at, hash_all) = match *s {
                    Sensitive::Secret(at) => (at, false),
                    Sensitive::Accessor(at) if device.hmac_accessor => (at, false),
                    Sensitive::Accessor(_) => continue,
                    Sensitive::Data(at) => (at, true),
                };
                if let Some(v) = pointer(&mut value, at) {
                    if hash_all {
                        device.salt.hash_strings(v);
                    } else if let Value::String(s) = v {
                        if !s.is_empty() {
                            *s = device.salt.hash(s);
                        }
                    }
                }
            }
            serde_json::to_vec(&value)
        };
        // A Value with string keys always serialises.
        let mut line = line.unwrap_or_default();
        line.push(b'\n');
        line
    }
}

fn pointer<'v>(value: &'v mut Value, at: &[&str]) -> Option<&'v mut Value> {
    at.iter().try_fold(value, |v, key| v.get_mut(*key))
}

fn request_sensitive(req: &RequestFacts<'_>) -> Vec<Sensitive> {
    let mut out = vec![Sensitive::Secret(&["request", "client_token"])];
    if req.auth.is_some() {
        out.push(Sensitive::Secret(&["auth", "client_token"]));
        out.push(Sensitive::Accessor(&["auth", "accessor"]));
        out.push(Sensitive::Accessor(&["request", "client_token_accessor"]));
    }
    out
}

fn auth_value(req: &RequestFacts<'_>) -> Value {
    let Some(auth) = &req.auth else {
        return json!({});
    };
    json!({
        "client_token": req.client_token.unwrap_or(""),
        "accessor": auth.accessor,
        "display_name": auth.display_name,
        "policies": auth.policies.iter().chain(auth.identity_policies).collect::<Vec<_>>(),
        "token_policies": auth.policies,
        "identity_policies": auth.identity_policies,
        "metadata": auth.metadata,
        "entity_id": auth.entity_id,
        "token_type": "service",
        "token_ttl": auth.token_ttl,
    })
}

fn request_value(req: &RequestFacts<'_>) -> Value {
    let mut out = json!({
        "id": req.id,
        "operation": req.operation,
        "mount_point": req.mount_point.unwrap_or(""),
        "client_token": req.client_token.unwrap_or(""),
        "client_token_accessor": req.auth.as_ref().map_or("", |a| a.accessor),
        "namespace": {"id": "root"},
        "path": req.path,
        "remote_address": req.remote_address.map(|a| a.to_string()),
    });
    if let (Some(data), Value::Object(o)) = (req.data, &mut out) {
        o.insert("data".into(), Value::Object(data.clone()));
    }
    out
}
