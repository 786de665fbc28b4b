//! The secrets engines and auth methods the router can mount, by table and `type`. The
//! catalog is part of the core's configuration, so a new backend is added by registering it
//! (see `builtin::catalog`), never by editing the core. The system backend, the identity
//! store and the token store are routed like every other mount, from the mount table, but are
//! built by the core, since they serve its own stores; they are always mounted and not in the
//! catalog.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{MountEntry, Table};
use crate::clock::SharedClock;
use crate::logical::{Backend, Error};

/// Builds the backend of one mount from its entry (type, options) and the core's clock.
pub type Factory =
    Arc<dyn Fn(&MountEntry, &SharedClock) -> Result<Arc<dyn Backend>, Error> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Catalog {
    secrets: BTreeMap<String, Factory>,
    auth: BTreeMap<String, Factory>,
}

impl Catalog {
    /// Registers `kind` for `table`; a later registration of the same kind replaces it.
    pub fn register(
        &mut self,
        table: Table,
        kind: &str,
        factory: impl Fn(&MountEntry, &SharedClock) -> Result<Arc<dyn Backend>, Error>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.table_mut(table)
            .insert(kind.to_string(), Arc::new(factory));
        self
    }

    /// The backend for a mount entry, or Vault's error for a type nobody registered.
    pub fn build(
        &self,
        entry: &MountEntry,
        clock: &SharedClock,
    ) -> Result<Arc<dyn Backend>, Error> {
        let table = match entry.table {
            Table::Secrets => &self.secrets,
            Table::Auth => &self.auth,
        };
        match table.get(&entry.kind) {
            Some(factory) => factory(entry, clock),
            None => Err(Error::bad_request(format!(
                "plugin not found in the catalog: {}",
                entry.kind
            ))),
        }
    }

    fn table_mut(&mut self, table: Table) -> &mut BTreeMap<String, Factory> {
        match table {
            Table::Secrets => &mut self.secrets,
            Table::Auth => &mut self.auth,
        }
    }
}

/// Lists the registered types, never the factories.
impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("auth", &self.auth.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    #[test]
    fn only_registered_types_build_each_in_its_own_table() {
        let mut catalog = Catalog::default();
        catalog.register(Table::Auth, "userpass", |_, _| {
            Ok(Arc::new(crate::builtin::auth::Userpass::new()))
        });
        let clock: SharedClock = Arc::new(SystemClock);
        let auth = MountEntry::new(Table::Auth, "up/", "userpass", "", None);
        assert!(catalog.build(&auth, &clock).is_ok());
        let secrets = MountEntry::new(Table::Secrets, "up/", "userpass", "", None);
        match catalog.build(&secrets, &clock) {
            Err(Error::BadRequest(m)) => assert_eq!(m, "plugin not found in the catalog: userpass"),
            other => panic!("expected 400, got {:?}", other.map(|_| ())),
        }
        assert_eq!(
            format!("{catalog:?}"),
            r#"Catalog { secrets: [], auth: ["userpass"] }"#
        );
    }
}
