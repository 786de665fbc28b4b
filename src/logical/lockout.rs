//! Vault's user lockout settings, as the core hands them to a backend in each [`Request`].
//!
//! The core owns the configuration (mount tune > server `user_lockout` block > Vault's
//! defaults) and the backend owns the state (the failed logins of its names); passing the
//! effective settings with every request, as `default_lease_ttl` is, means a tune takes effect
//! at the next login with nothing to keep in sync.
//!
//! [`Request`]: super::Request

use std::time::Duration;

/// The effective lockout settings of one mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutConfig {
    pub threshold: u32,
    pub duration: Duration,
    pub counter_reset: Duration,
    pub disabled: bool,
}

impl Default for LockoutConfig {
    /// Vault's defaults: 5 failures, locked 15 minutes, the count reset after 15 minutes.
    fn default() -> Self {
        LockoutConfig {
            threshold: 5,
            duration: Duration::from_secs(15 * 60),
            counter_reset: Duration::from_secs(15 * 60),
            disabled: false,
        }
    }
}
