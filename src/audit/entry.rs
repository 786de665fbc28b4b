//! The lines an audit device writes, in Vault's audit format: one JSON object per request
//! (`type: "request"`) and per response (`type: "response"`), plus mainkey's own
//! `type: "gateway"` for each forward-auth or proxy decision.
//!
//! An entry borrows the facts of its request; each device serialises it straight into its
//! line, hashing every sensitive string with its own salt on the way (unless `log_raw`), so
//! nothing sensitive is ever written in the clear by a hashing device. No JSON tree is built
//! or copied per device: audit is on the path of every request, and building one cost more
//! than the request it recorded.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

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

/// An entry, borrowing the facts it records, ready to be written by each device.
pub struct Entry<'a> {
    time: &'a str,
    error: &'a str,
    kind: Kind<'a>,
}

enum Kind<'a> {
    Request(&'a RequestFacts<'a>),
    Response(&'a RequestFacts<'a>, Option<&'a ResponseFacts<'a>>),
    Gateway(&'a GatewayFacts<'a>),
}

impl<'a> Entry<'a> {
    pub fn request(time: &'a str, req: &'a RequestFacts<'a>, error: &'a str) -> Entry<'a> {
        Entry {
            time,
            error,
            kind: Kind::Request(req),
        }
    }

    pub fn response(
        time: &'a str,
        req: &'a RequestFacts<'a>,
        resp: Option<&'a ResponseFacts<'a>>,
        error: &'a str,
    ) -> Entry<'a> {
        Entry {
            time,
            error,
            kind: Kind::Response(req, resp),
        }
    }

    pub fn gateway(time: &'a str, g: &'a GatewayFacts<'a>) -> Entry<'a> {
        Entry {
            time,
            error: "",
            kind: Kind::Gateway(g),
        }
    }

    /// The line `device` writes: the entry, hashed with its salt, and a newline.
    pub fn line_for(&self, device: &Device) -> io::Result<Vec<u8>> {
        let mut line = Vec::with_capacity(1536);
        let h = Hasher(device);
        serde_json::to_writer(&mut line, &Line { entry: self, h }).map_err(io::Error::other)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// How one device writes sensitive strings: hashed with its salt, or as they are
/// (`log_raw`); accessors as they are when it says `hmac_accessor = false`.
#[derive(Clone, Copy)]
struct Hasher<'d>(&'d Device);

impl Hasher<'_> {
    /// A token or accessor field: an empty one (no token) stays empty.
    fn put<S: Serializer>(self, s: S, value: &str, accessor: bool) -> Result<S::Ok, S::Error> {
        let clear = value.is_empty() || (accessor && !self.0.hmac_accessor);
        self.put_data(s, value, clear)
    }

    /// A string in data: hashed even when empty, as every other one.
    fn put_data<S: Serializer>(self, s: S, value: &str, clear: bool) -> Result<S::Ok, S::Error> {
        if clear || self.0.log_raw {
            s.serialize_str(value)
        } else {
            s.serialize_str(&self.0.salt.hash(value))
        }
    }
}

/// A token or other secret string: always hashed.
struct Secret<'a>(&'a str, Hasher<'a>);

impl Serialize for Secret<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.1.put(s, self.0, false)
    }
}

/// An accessor: hashed unless the device says `hmac_accessor = false`.
struct Accessor<'a>(&'a str, Hasher<'a>);

impl Serialize for Accessor<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.1.put(s, self.0, true)
    }
}

/// Request or response data: every string inside it (object values and array items, at any
/// depth) hashed, as Vault hashes data. Keys stay readable; numbers, booleans and nulls are
/// not secrets and stay too. Its depth is bounded by the JSON limits it was parsed under.
struct Data<'a>(&'a Value, Hasher<'a>);

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::String(v) => self.1.put_data(s, v, false),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Data(item, self.1))?;
                }
                seq.end()
            }
            Value::Object(map) => DataMap(map, self.1).serialize(s),
            other => other.serialize(s),
        }
    }
}

struct DataMap<'a>(&'a Map<String, Value>, Hasher<'a>);

impl Serialize for DataMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, &Data(v, self.1))?;
        }
        m.end()
    }
}

/// The `auth` a login or token endpoint answered with: its new token and accessor hashed,
/// the rest (policies, metadata, ttl) as it is.
struct NewAuth<'a>(&'a Map<String, Value>, Hasher<'a>);

impl Serialize for NewAuth<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.1;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            match (k.as_str(), v) {
                ("client_token", Value::String(t)) => m.serialize_entry(k, &Secret(t, h))?,
                ("accessor", Value::String(a)) => m.serialize_entry(k, &Accessor(a, h))?,
                _ => m.serialize_entry(k, v)?,
            }
        }
        m.end()
    }
}

struct Line<'a> {
    entry: &'a Entry<'a>,
    h: Hasher<'a>,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (e, h) = (self.entry, self.h);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("time", e.time)?;
        match e.kind {
            Kind::Request(req) => {
                m.serialize_entry("type", "request")?;
                m.serialize_entry("auth", &CallerAuth(req, h))?;
                m.serialize_entry("request", &RequestView(req, h))?;
            }
            Kind::Response(req, resp) => {
                m.serialize_entry("type", "response")?;
                m.serialize_entry("auth", &CallerAuth(req, h))?;
                m.serialize_entry("request", &RequestView(req, h))?;
                m.serialize_entry("response", &ResponseView(req, resp, h))?;
            }
            Kind::Gateway(g) => {
                m.serialize_entry("type", "gateway")?;
                m.serialize_entry("request", &GatewayRequest(g, h))?;
                m.serialize_entry("gateway", &GatewayDecision(g))?;
            }
        }
        m.serialize_entry("error", e.error)?;
        m.end()
    }
}

/// Vault's `auth`: who called (empty when no token was accepted).
struct CallerAuth<'a>(&'a RequestFacts<'a>, Hasher<'a>);

impl Serialize for CallerAuth<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (req, h) = (self.0, self.1);
        let Some(auth) = &req.auth else {
            return s.serialize_map(Some(0))?.end();
        };
        let mut m = s.serialize_map(Some(10))?;
        m.serialize_entry("client_token", &Secret(req.client_token.unwrap_or(""), h))?;
        m.serialize_entry("accessor", &Accessor(auth.accessor, h))?;
        m.serialize_entry("display_name", auth.display_name)?;
        m.serialize_entry("policies", &Both(auth.policies, auth.identity_policies))?;
        m.serialize_entry("token_policies", auth.policies)?;
        m.serialize_entry("identity_policies", auth.identity_policies)?;
        m.serialize_entry("metadata", &auth.metadata)?;
        m.serialize_entry("entity_id", auth.entity_id)?;
        m.serialize_entry("token_type", "service")?;
        m.serialize_entry("token_ttl", &auth.token_ttl)?;
        m.end()
    }
}

/// Token policies then identity policies, as one list.
struct Both<'a>(&'a [String], &'a [String]);

impl Serialize for Both<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().chain(self.1))
    }
}

/// Vault's `request`, with the request data on request entries only.
struct RequestView<'a>(&'a RequestFacts<'a>, Hasher<'a>);

impl Serialize for RequestView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (req, h) = (self.0, self.1);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", req.id)?;
        m.serialize_entry("operation", req.operation)?;
        m.serialize_entry("mount_point", req.mount_point.unwrap_or(""))?;
        m.serialize_entry("client_token", &Secret(req.client_token.unwrap_or(""), h))?;
        let accessor = req.auth.as_ref().map_or("", |a| a.accessor);
        m.serialize_entry("client_token_accessor", &Accessor(accessor, h))?;
        m.serialize_entry("namespace", &RootNamespace)?;
        m.serialize_entry("path", req.path)?;
        m.serialize_entry("remote_address", &req.remote_address)?;
        if let Some(data) = req.data {
            m.serialize_entry("data", &DataMap(data, h))?;
        }
        m.end()
    }
}

struct RootNamespace;

impl Serialize for RootNamespace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("id", "root")?;
        m.end()
    }
}

/// Vault's `response` (empty when the request failed).
struct ResponseView<'a>(
    &'a RequestFacts<'a>,
    Option<&'a ResponseFacts<'a>>,
    Hasher<'a>,
);

impl Serialize for ResponseView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (req, h) = (self.0, self.2);
        let mut m = s.serialize_map(None)?;
        if let Some(resp) = self.1 {
            if let Some(mount) = req.mount_point {
                m.serialize_entry("mount_point", mount)?;
            }
            if let Some(data) = resp.data {
                m.serialize_entry("data", &DataMap(data, h))?;
            }
            if let Some(auth) = resp.auth {
                m.serialize_entry("auth", &NewAuth(auth, h))?;
            }
            if !resp.warnings.is_empty() {
                m.serialize_entry("warnings", resp.warnings)?;
            }
        }
        m.end()
    }
}

struct GatewayRequest<'a>(&'a GatewayFacts<'a>, Hasher<'a>);

impl Serialize for GatewayRequest<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (g, h) = (self.0, self.1);
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("id", g.id)?;
        m.serialize_entry("operation", g.method)?;
        m.serialize_entry("host", g.host)?;
        m.serialize_entry("path", g.path)?;
        m.serialize_entry("remote_address", &g.remote_address)?;
        m.serialize_entry("client_token", &g.client_token.map(|t| Secret(t, h)))?;
        m.end()
    }
}

/// The decision itself. Injected credentials are named, never given.
struct GatewayDecision<'a>(&'a GatewayFacts<'a>);

impl Serialize for GatewayDecision<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let g = self.0;
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("route", g.route)?;
        m.serialize_entry("tenant", g.tenant)?;
        m.serialize_entry("decision", g.decision)?;
        m.serialize_entry("status", &g.status)?;
        m.serialize_entry("entity_id", g.entity_id)?;
        m.serialize_entry("policies", g.policies)?;
        m.serialize_entry("injected_headers", &g.injected_headers)?;
        m.end()
    }
}
