//! Audit devices: every request and response through the core, and every gateway decision,
//! written as one JSON line per entry in Vault's audit format, with tokens, accessors and
//! secret values hashed (HMAC-SHA256 with a per-device salt).
//!
//! Fail-closed: while any device is enabled, an entry that no device could write fails the
//! request (the core turns the error into a bare 500 before any secret leaves it). One
//! device failing while another writes is counted (`mainkey_audit_failures_total`) and
//! logged, and the request goes on, as in Vault.
//!
//! This room knows nothing of the core: the core hands it the facts of each request
//! ([`RequestFacts`]), keeps the device table in the barrier, and opens the devices here.

mod device;
mod entry;
mod hash;
mod sink;

use std::sync::Arc;

use parking_lot::RwLock;

use crate::logical::Error;

pub use device::{Device, DeviceEntry};
pub use entry::{AuthFacts, Entry, GatewayFacts, RequestFacts, ResponseFacts};
pub use hash::{Salt, PREFIX as HASH_PREFIX};
pub use sink::OwnFiles;

/// The enabled devices, shared by every request.
#[derive(Default)]
pub struct Broker {
    devices: RwLock<Arc<Vec<Arc<Device>>>>,
}

impl Broker {
    /// Replaces the set of devices (after an enable, a disable, an unseal or a seal).
    pub fn set(&self, devices: Vec<Arc<Device>>) {
        // Each device's series exist from the start, so a dashboard shows a 0, not nothing.
        let metrics = crate::metrics::metrics();
        for d in &devices {
            metrics.audit_entries.with_label_values(&[&d.path]);
            metrics.audit_failures.with_label_values(&[&d.path]);
        }
        *self.devices.write() = Arc::new(devices);
    }

    /// The enabled devices, in the order they write.
    pub fn devices(&self) -> Vec<Arc<Device>> {
        self.shared().as_ref().clone()
    }

    fn shared(&self) -> Arc<Vec<Arc<Device>>> {
        self.devices.read().clone()
    }

    pub fn is_enabled(&self) -> bool {
        !self.devices.read().is_empty()
    }

    /// Writes `entry` to every device. `Err` when devices are enabled and none wrote it.
    pub fn log(&self, entry: &Entry) -> Result<(), Error> {
        let devices = self.shared();
        if devices.is_empty() {
            return Ok(());
        }
        let metrics = crate::metrics::metrics();
        let mut written = false;
        for device in devices.iter() {
            match entry
                .line_for(device)
                .and_then(|line| device.sink.write_line(&line))
            {
                Ok(()) => {
                    written = true;
                    metrics
                        .audit_entries
                        .with_label_values(&[&device.path])
                        .inc();
                }
                Err(e) => {
                    metrics
                        .audit_failures
                        .with_label_values(&[&device.path])
                        .inc();
                    tracing::error!(device = %device.path, error = %e, "audit device failed to write");
                }
            }
        }
        if written {
            Ok(())
        } else {
            Err(Error::internal("no audit device could record the request"))
        }
    }

    /// `sys/audit-hash`: `input` hashed as the device at `path` hashes it.
    pub fn hash(&self, path: &str, input: &str) -> Option<String> {
        self.shared()
            .iter()
            .find(|d| d.path == path)
            .map(|d| d.salt.hash(input))
    }

    /// Reopens every file (SIGHUP, after logrotate). A file that cannot be reopened makes
    /// its device refuse entries until a later reopen works; the error is logged.
    pub fn reopen(&self) {
        for device in self.shared().iter() {
            match device.sink.reopen() {
                Ok(()) => tracing::info!(device = %device.path, "audit device reopened"),
                Err(e) => {
                    tracing::error!(device = %device.path, error = %e, "audit device could not be reopened")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
