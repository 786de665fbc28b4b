//! Backends mounted by the router.

pub mod auth;
pub mod kv;
pub mod system;
pub mod transit;

use std::sync::Arc;

use crate::core::{Catalog, Table};

/// Every secrets engine and auth method this binary ships, as the core's default catalog.
pub fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    catalog.register(Table::Secrets, "kv", |entry, clock| {
        let version = entry
            .options
            .as_ref()
            .and_then(|o| o.get("version"))
            .map(String::as_str);
        kv::new_backend(version.unwrap_or(""), clock.clone())
    });
    catalog.register(Table::Secrets, "transit", |_, clock| {
        Ok(Arc::new(transit::Transit::new(clock.clone())))
    });
    catalog
        .register(Table::Auth, "approle", |_, clock| {
            Ok(Arc::new(auth::AppRole::new(clock.clone())))
        })
        .register(Table::Auth, "userpass", |_, clock| {
            Ok(Arc::new(auth::Userpass::new().with_clock(clock.clone())))
        })
        .register(Table::Auth, "kubernetes", |_, clock| {
            Ok(Arc::new(auth::kubernetes::Kubernetes::new(clock.clone())))
        })
        .register(Table::Auth, "jwt", |_, clock| {
            Ok(Arc::new(auth::jwt::Jwt::new(clock.clone())))
        });
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{SharedClock, SystemClock};
    use crate::core::MountEntry;
    use crate::logical::Error;

    #[test]
    fn the_catalog_builds_every_shipped_type_and_nothing_else() {
        let clock: SharedClock = Arc::new(SystemClock);
        let catalog = catalog();
        let build = |table, kind: &str| {
            catalog.build(&MountEntry::new(table, "m/", kind, "", None), &clock)
        };
        for kind in ["approle", "userpass", "kubernetes", "jwt"] {
            assert!(build(Table::Auth, kind).is_ok(), "{kind}");
            assert!(
                build(Table::Secrets, kind).is_err(),
                "{kind} is no secrets engine"
            );
        }
        assert!(build(Table::Secrets, "kv").is_ok());
        assert!(matches!(
            build(Table::Auth, "ldap"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            build(Table::Auth, "kv"),
            Err(Error::BadRequest(_))
        ));
    }
}
