//! Bounds the `tenant` label: a tenant's name comes from a request (a path segment, a host
//! label, a JWT claim), so without a bound a client could mint a new series per request.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use parking_lot::RwLock;

/// The label of every tenant past the cap.
pub const OTHER_TENANTS: &str = "_other";

/// The most tenants that get a label of their own, per route. Tenants are labelled in the
/// order first seen; a label, once given, is kept.
pub const MAX_TENANTS_PER_ROUTE: usize = 100;

/// The tenants that have a label of their own, per route.
#[derive(Default)]
pub struct TenantLabels {
    seen: RwLock<HashMap<String, HashSet<String>>>,
}

impl TenantLabels {
    /// The label for `tenant` on `route`: the tenant itself while the route has room, else
    /// [`OTHER_TENANTS`]. An empty tenant (none was found) is its own label.
    pub fn label<'t>(&self, route: &str, tenant: &'t str) -> Cow<'t, str> {
        if tenant.is_empty() {
            return Cow::Borrowed("");
        }
        if let Some(known) = self.seen.read().get(route) {
            if known.contains(tenant) {
                return Cow::Borrowed(tenant);
            }
            if known.len() >= MAX_TENANTS_PER_ROUTE {
                return Cow::Borrowed(OTHER_TENANTS);
            }
        }
        let mut seen = self.seen.write();
        let known = seen.entry(route.to_string()).or_default();
        if known.contains(tenant) || known.len() < MAX_TENANTS_PER_ROUTE {
            known.insert(tenant.to_string());
            Cow::Borrowed(tenant)
        } else {
            Cow::Borrowed(OTHER_TENANTS)
        }
    }
}
