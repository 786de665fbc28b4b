use super::Map;

/// A backend's answer. The gateway wraps it in Vault's 8-key envelope, unless `raw` is set.
#[derive(Default)]
pub struct Response {
    pub data: Option<Map>,
    pub warnings: Vec<String>,
    /// The envelope's `lease_duration` in seconds.
    pub lease_duration: u64,
    /// The envelope's `auth` object, filled by the core (from `login`) or by token endpoints.
    pub auth: Option<Map>,
    /// Set by an auth method on a successful login; the core mints the token from it.
    pub login: Option<super::Auth>,
    /// Overrides the status of an enveloped response, e.g. 404 for a deleted KV v2 version,
    /// whose body still carries the version's metadata.
    pub status: Option<u16>,
    /// A bare JSON object with its status, for the paths that Vault answers without the
    /// envelope (`sys/health`, `sys/seal-status`, `sys/init`, `sys/unseal`, `sys/leader`).
    pub raw: Option<Raw>,
    /// Also copy `data`'s keys to the top level of the body, as Vault does for most `sys/`
    /// paths so that clients written before the envelope keep working.
    pub data_at_top_level: bool,
}

/// A response body that is sent as it is, without the envelope.
pub struct Raw {
    pub status: u16,
    pub body: RawBody,
}

/// What a raw response carries.
pub enum RawBody {
    /// A JSON value; `Value::Null` sends no body at all.
    Json(serde_json::Value),
    /// Bytes in another format, such as Prometheus's exposition format or a snapshot file.
    Bytes {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
}

impl RawBody {
    /// Whether there is no body to send.
    pub fn is_empty(&self) -> bool {
        matches!(self, RawBody::Json(serde_json::Value::Null))
    }
}

impl Response {
    /// A 200 with `data`.
    pub fn data(data: Map) -> Self {
        Response {
            data: Some(data),
            ..Default::default()
        }
    }

    /// A 204: nothing to say.
    pub fn empty() -> Self {
        Response::default()
    }

    /// The answer to a LIST: `{"keys": [...]}`, or 404 when there are none, as in Vault.
    pub fn list(keys: Vec<String>) -> Result<Self, super::Error> {
        if keys.is_empty() {
            return Err(super::Error::NotFound);
        }
        let mut data = Map::new();
        data.insert("keys".into(), keys.into());
        Ok(Response::data(data))
    }

    /// A 404 with no body at all, which is how Vault answers a PATCH of something missing.
    pub fn empty_not_found() -> Self {
        Response::raw(404, serde_json::Value::Null)
    }

    /// A bare body; `Value::Null` sends no body at all.
    pub fn raw(status: u16, body: serde_json::Value) -> Self {
        Response {
            raw: Some(Raw {
                status,
                body: RawBody::Json(body),
            }),
            ..Default::default()
        }
    }

    /// A 200 with a text body of `content_type`, sent as it is.
    pub fn text(content_type: &'static str, text: String) -> Self {
        Response::bytes(content_type, text.into_bytes())
    }

    /// A 200 with a binary body of `content_type`, sent as it is.
    pub fn bytes(content_type: &'static str, bytes: Vec<u8>) -> Self {
        Response {
            raw: Some(Raw {
                status: 200,
                body: RawBody::Bytes {
                    content_type,
                    bytes,
                },
            }),
            ..Default::default()
        }
    }

    /// The HTTP status this response is sent with (see `gateway::api::encode_response`).
    pub fn status_code(&self) -> u16 {
        if let Some(raw) = &self.raw {
            return raw.status;
        }
        match self.status {
            Some(status) => status,
            None if self.data.is_none() && self.warnings.is_empty() && self.auth.is_none() => 204,
            None => 200,
        }
    }

    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}

// Response bodies carry secrets; `Debug` shows only their shape.
impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field(
                "data_keys",
                &self.data.as_ref().map(|d| d.keys().collect::<Vec<_>>()),
            )
            .field("warnings", &self.warnings)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("login", &self.login)
            .field("status", &self.status)
            .field("raw", &self.raw.as_ref().map(|r| r.status))
            .field("data_at_top_level", &self.data_at_top_level)
            .finish()
    }
}
