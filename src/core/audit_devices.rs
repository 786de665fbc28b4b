//! The core's side of audit: the device table in the barrier, `sys/audit` enable and
//! disable, and the observer that hands each request's facts to the audit broker at the
//! request context's two stages.
//!
//! The table lives at `core/audit`, encrypted by the barrier like the mount tables, and it
//! holds each device's HMAC salt, so hashes stay the same across restarts and no one without
//! the keys can compute them.

use std::sync::Arc;

use secrecy::ExposeSecret;

use super::context::{RequestContext, RequestObserver};
use super::{Caller, Core};
use crate::audit::{
    AuthFacts, Broker, Device, DeviceEntry, Entry, GatewayFacts, RequestFacts, ResponseFacts, Salt,
};
use crate::clock::{rfc3339, SharedClock};
use crate::logical::{Error, Request, Response, Storage};

/// Where the audit table lives in the barrier.
const AUDIT_TABLE_PATH: &str = "core/audit";

/// The observer that writes audit entries, first among a core's observers.
pub(super) struct AuditObserver {
    pub broker: Arc<Broker>,
    pub clock: SharedClock,
}

impl AuditObserver {
    fn now(&self) -> String {
        rfc3339(self.clock.now())
    }
}

fn auth_facts(caller: &Caller) -> AuthFacts<'_> {
    AuthFacts {
        accessor: caller.accessor(),
        display_name: caller.display_name(),
        policies: caller.policies(),
        identity_policies: caller.identity_policies(),
        entity_id: caller.entity_id(),
        metadata: caller.token.meta.as_ref(),
        token_ttl: caller.token.ttl,
    }
}

fn request_facts<'a>(
    ctx: &'a RequestContext,
    data: Option<&'a crate::logical::Map>,
) -> RequestFacts<'a> {
    RequestFacts {
        id: &ctx.id,
        operation: ctx.operation.as_str(),
        path: &ctx.path,
        mount_point: ctx.mount.as_deref(),
        remote_address: ctx.remote_addr,
        client_token: ctx.client_token.as_ref().map(|t| t.expose_secret()),
        data,
        auth: ctx.caller.as_deref().map(auth_facts),
    }
}

fn denial_error(ctx: &RequestContext) -> &'static str {
    if ctx.denial.is_some() {
        "permission denied"
    } else {
        ""
    }
}

impl RequestObserver for AuditObserver {
    fn before(&self, ctx: &RequestContext, req: &Request) -> Result<(), Error> {
        if !self.broker.is_enabled() {
            return Ok(());
        }
        let facts = request_facts(ctx, Some(&req.data));
        self.broker
            .log(&Entry::request(&self.now(), &facts, denial_error(ctx)))
    }

    fn after(&self, ctx: &RequestContext, outcome: &Result<Response, Error>) -> Result<(), Error> {
        if !self.broker.is_enabled() {
            return Ok(());
        }
        let facts = request_facts(ctx, None);
        let now = self.now();
        match outcome {
            Ok(resp) => {
                let resp = ResponseFacts {
                    data: resp.data.as_ref(),
                    auth: resp.auth.as_ref(),
                    warnings: &resp.warnings,
                };
                self.broker
                    .log(&Entry::response(&now, &facts, Some(&resp), ""))
            }
            Err(e) => self
                .broker
                .log(&Entry::response(&now, &facts, None, &e.to_string())),
        }
    }
}

impl Core {
    /// The enabled devices, as `sys/audit` lists them.
    pub async fn audit_devices(&self) -> Result<Vec<DeviceEntry>, Error> {
        self.unsealed()?;
        self.load_audit_table().await
    }

    /// `sys/audit/<path>` PUT: checks and opens the device, stores it with a new salt, and
    /// starts writing to it with the next request.
    pub async fn enable_audit(&self, mut entry: DeviceEntry) -> Result<(), Error> {
        let _guard = self.transition.lock().await;
        self.unsealed()?;
        let mut table = self.load_audit_table().await?;
        if table.iter().any(|d| d.path == entry.path) {
            return Err(Error::bad_request(format!(
                "path already in use at {}",
                entry.path
            )));
        }
        entry.salt = hex::encode(Salt::generate().as_bytes());
        let device = Arc::new(Device::open(&entry, true, &self.config.own_files)?);
        table.push(entry);
        self.persist_audit_table(&table).await?;
        let mut devices = self.audit.devices();
        devices.push(device);
        self.audit.set(devices);
        Ok(())
    }

    /// `sys/audit/<path>` DELETE: stops writing to the device and forgets it (and its salt).
    /// Disabling what is not enabled is not an error, as in Vault.
    pub async fn disable_audit(&self, path: &str) -> Result<(), Error> {
        let _guard = self.transition.lock().await;
        self.unsealed()?;
        let mut table = self.load_audit_table().await?;
        let before = table.len();
        table.retain(|d| d.path != path);
        if table.len() == before {
            return Ok(());
        }
        self.persist_audit_table(&table).await?;
        let devices = self.audit.devices();
        self.audit
            .set(devices.into_iter().filter(|d| d.path != path).collect());
        Ok(())
    }

    /// `sys/audit-hash/<path>`.
    pub fn audit_hash(&self, path: &str, input: &str) -> Result<String, Error> {
        self.unsealed()?;
        self.audit
            .hash(path, input)
            .ok_or_else(|| Error::bad_request(format!("unknown audit backend {path}")))
    }

    /// Reopens every audit file (SIGHUP).
    pub fn reopen_audit(&self) {
        self.audit.reopen();
    }

    /// Records a gateway decision. `Err` when devices are enabled and none could write it:
    /// the gateway then refuses the request.
    pub fn audit_gateway(&self, facts: &GatewayFacts<'_>) -> Result<(), Error> {
        if !self.audit.is_enabled() {
            return Ok(());
        }
        self.audit
            .log(&Entry::gateway(&rfc3339(self.clock.now()), facts))
    }

    /// Opens the stored devices at unseal. A file that cannot be opened now (a missing
    /// directory) gives a device that refuses every entry, so requests fail closed until a
    /// SIGHUP reopens it, rather than go unaudited or keep the core sealed.
    pub(super) async fn start_audit(&self) -> Result<(), Error> {
        let mut devices = Vec::new();
        for entry in self.load_audit_table().await? {
            devices.push(Arc::new(Device::open(
                &entry,
                false,
                &self.config.own_files,
            )?));
        }
        self.audit.set(devices);
        Ok(())
    }

    /// Forgets the devices at seal; their salts stay only in the barrier.
    pub(super) fn stop_audit(&self) {
        self.audit.set(Vec::new());
    }

    async fn load_audit_table(&self) -> Result<Vec<DeviceEntry>, Error> {
        match self.barrier.get(AUDIT_TABLE_PATH).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("corrupt audit table: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    async fn persist_audit_table(&self, table: &[DeviceEntry]) -> Result<(), Error> {
        let bytes = serde_json::to_vec(table)
            .map_err(|e| Error::internal(format!("encoding audit table: {e}")))?;
        self.barrier.put(AUDIT_TABLE_PATH, bytes).await
    }
}
