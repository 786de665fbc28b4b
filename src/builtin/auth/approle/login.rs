//! `login`: a role_id, and a secret-id when the role binds one.
//!
//! Every check (expiry, the secret-id's and the role's CIDRs) runs before a use is consumed,
//! so a refused login never costs one; the use itself is consumed in the same commit that
//! checks it, under the secret-id's lock.

use std::collections::BTreeMap;

use super::super::cidr;
use super::super::input;
use super::super::internal;
use super::role::{load_role, role_id_key, RoleIdIndex};
use super::secret_id::{accessor_key, secret_id_hmac, unix_nanos, SecretIdEntry};
use super::{decode, encode, AppRole};
use crate::logical::{Alias, Auth, Error, Request, Response, Storage, StorageOp};

const INVALID: &str = "invalid role or secret ID";

fn invalid() -> Error {
    Error::bad_request(INVALID)
}

impl AppRole {
    /// The lockout state of this mount, for `sys/locked-users` and the mount's tuning.
    pub fn lockout(&self) -> &super::super::userpass::lockout::Lockout {
        &self.lockout
    }

    /// Vault's user lockout around the login: five refusals of a role-id as invalid lock it
    /// for 15 minutes, during which every login with it, the right secret-id too, gets the
    /// same answer as a wrong one.
    pub(super) async fn login(
        &self,
        req: &Request,
        storage: &dyn Storage,
    ) -> Result<Response, Error> {
        let role_id = input::string(&req.data, "role_id")?.unwrap_or_default();
        let role_id = role_id.trim().to_string();
        if role_id.is_empty() {
            // Vault fails this in its alias lookahead, which makes it a 500.
            return Err(Error::Internal("missing role_id".into()));
        }
        let config = &req.user_lockout;
        if self.lockout.is_locked(storage, config, &role_id).await? {
            return Err(invalid());
        }
        let result = self.login_unlocked(req, storage, &role_id).await;
        match &result {
            Ok(_) => self.lockout.record_success(&role_id),
            Err(Error::BadRequest(m)) if m == INVALID => {
                self.lockout
                    .record_failure(storage, config, &role_id)
                    .await?
            }
            Err(_) => {}
        }
        result
    }

    async fn login_unlocked(
        &self,
        req: &Request,
        storage: &dyn Storage,
        role_id: &str,
    ) -> Result<Response, Error> {
        let Some(salt) = self.salt(storage).await? else {
            return Err(invalid());
        };
        let Some(bytes) = storage.get(&role_id_key(&salt, role_id)).await? else {
            return Err(invalid());
        };
        let index: RoleIdIndex = decode(&bytes, "role_id index")?;
        let Some(role) = load_role(storage, &index.name).await? else {
            return Err(invalid());
        };

        let mut metadata = BTreeMap::new();
        let mut secret_token_cidrs: Vec<String> = Vec::new();
        // The use a successful login consumes, committed last, under the secret-id's lock.
        let mut consume: Vec<StorageOp> = Vec::new();
        let mut _guard = None;
        if role.bind_secret_id {
            let secret_id = input::string(&req.data, "secret_id")?.unwrap_or_default();
            let secret_id = secret_id.trim();
            if secret_id.is_empty() {
                return Err(Error::bad_request("missing secret_id"));
            }
            let sid_hmac = secret_id_hmac(&salt, secret_id);
            let key = format!("{}{sid_hmac}", role.secret_id_dir(&salt));
            _guard = Some(self.lock_secret(&sid_hmac).await);
            let Some(bytes) = storage.get(&key).await? else {
                return Err(invalid());
            };
            let mut entry: SecretIdEntry = decode(&bytes, "secret-id")?;
            let accessor = accessor_key(&salt, &entry.accessor);
            let now = unix_nanos(self.now());
            if entry.expired(now) {
                storage
                    .commit(vec![StorageOp::Delete(accessor), StorageOp::Delete(key)])
                    .await?;
                return Err(invalid());
            }
            if storage.get(&accessor).await?.is_none() {
                // A secret-id without its accessor cannot be managed; Vault revokes it.
                storage.delete(&key).await?;
                return Err(invalid());
            }

            // The role's blocks may have narrowed since the secret-id was made.
            let role_blocks = role.secret_id_bound_nets()?;
            let secret_blocks = cidr::parse_stored(&entry.cidr_list)?;
            if !role_blocks.is_empty() && !cidr::is_subset(&role_blocks, &secret_blocks) {
                let shown: Vec<String> = role_blocks
                    .iter()
                    .map(|n| format!("{}/{}", n.addr, n.prefix))
                    .collect();
                return Err(internal(format!(
                    "failed to verify subset relationship between CIDR blocks on the role {} and CIDR blocks on the secret ID {}: %!w(<nil>)",
                    cidr::go_quote_list(&shown),
                    cidr::go_quote_list(&entry.cidr_list)
                )));
            }
            if !secret_blocks.is_empty() {
                let Some(ip) = req.remote_addr else {
                    return Err(internal("failed to get connection information"));
                };
                if !cidr::any_contains(&secret_blocks, ip) {
                    // Vault's two code paths word this differently, `%!w` included.
                    return Err(Error::bad_request(if entry.num_uses == 0 {
                        format!(
                            "source address \"{ip}\" unauthorized through CIDR restrictions on the secret ID"
                        )
                    } else {
                        format!(
                            "source address \"{ip}\" unauthorized by CIDR restrictions on the secret ID: %!w(<nil>)"
                        )
                    }));
                }
            }
            self.check_role_cidrs(&role_blocks, req)?;

            match entry.num_uses {
                0 => {}
                1 => consume = vec![StorageOp::Delete(accessor), StorageOp::Delete(key)],
                n => {
                    entry.num_uses = n - 1;
                    entry.last_updated_time = now;
                    consume = vec![StorageOp::Put(key, encode(&entry, "secret-id")?)];
                }
            }
            metadata = entry.metadata;
            secret_token_cidrs = entry.token_bound_cidrs;
        } else {
            self.check_role_cidrs(&role.secret_id_bound_nets()?, req)?;
        }

        metadata.insert("role_name".into(), role.name.clone());
        let mut auth = Auth {
            metadata: metadata.clone(),
            alias: Some(Alias {
                name: role.role_id.clone(),
                metadata,
            }),
            ..Default::default()
        };
        role.token.fill_auth(&mut auth, req.remote_addr)?;
        // A secret-id's own token CIDRs replace the role's.
        if !secret_token_cidrs.is_empty() {
            auth.bound_cidrs = cidr::parse_stored(&secret_token_cidrs)?;
        }
        if !consume.is_empty() {
            storage.commit(consume).await?;
        }
        Ok(super::super::login_response(
            auth,
            &req.data,
            &["role_id", "secret_id"],
        ))
    }

    /// Whether a token this method issued may be renewed, and on which terms: its role must
    /// still exist. `auth` is the token's login as the core kept it.
    pub async fn renew(
        &self,
        storage: &dyn Storage,
        auth: &Auth,
    ) -> Result<super::super::Renewal, Error> {
        let name = auth.metadata.get("role_name").cloned().unwrap_or_default();
        let role = match load_role(storage, &name).await? {
            Some(r) if !name.is_empty() => r,
            _ => {
                return Err(internal(format!(
                    "role {} does not exist during renewal",
                    crate::logical::fields::go_quote(&name)
                )))
            }
        };
        Ok(super::super::Renewal {
            ttl: role.token.token_ttl,
            max_ttl: role.token.token_max_ttl,
            period: role.token.token_period,
        })
    }

    fn check_role_cidrs(
        &self,
        role_blocks: &[crate::logical::IpNet],
        req: &Request,
    ) -> Result<(), Error> {
        if role_blocks.is_empty() {
            return Ok(());
        }
        let Some(ip) = req.remote_addr else {
            return Err(internal("failed to get connection information"));
        };
        if !cidr::any_contains(role_blocks, ip) {
            return Err(Error::bad_request(format!(
                "source address \"{ip}\" unauthorized by CIDR restrictions on the role: %!w(<nil>)"
            )));
        }
        Ok(())
    }
}
