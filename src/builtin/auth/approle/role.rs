//! `role/`, `role/<name>`, `role/<name>/role-id` and `role/<name>/local-secret-ids`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::cidr;
use super::super::input;
use super::super::internal;
use super::super::role_key;
use super::super::token_fields::{
    with_token_keys, Legacy, LegacyFields, ParseOptions, TokenFields, SYSTEM_MAX_LEASE_TTL,
};
use super::{decode, encode, AppRole, Salt};
use crate::logical::duration::format_secs;
use crate::logical::fields::sorted_data;
use crate::logical::{Error, Map, Request, Response, Storage, StorageOp};

const ROLE_ID_PREFIX: &str = "role_id/";

/// One role as stored.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct RoleEntry {
    /// Lowercased; the storage key and the `role_name` of logins.
    pub name: String,
    pub role_id: String,
    /// Random, per role: the secret-ids of this role live below its HMAC.
    pub hmac_key: String,
    pub token: TokenFields,
    pub legacy: LegacyFields,
    pub bind_secret_id: bool,
    /// `None` until set, which Vault shows as `null`.
    pub secret_id_bound_cidrs: Option<Vec<String>>,
    pub secret_id_num_uses: u64,
    pub secret_id_ttl: u64,
    pub local_secret_ids: bool,
}

impl RoleEntry {
    /// Where this role's secret-ids live: `secret_id/<H(role key)>/`.
    pub fn secret_id_dir(&self, salt: &Salt) -> String {
        format!("secret_id/{}/", salt.hmac("role", &self.hmac_key))
    }

    pub fn secret_id_bound_nets(&self) -> Result<Vec<crate::logical::IpNet>, Error> {
        cidr::parse_stored(self.secret_id_bound_cidrs.as_deref().unwrap_or(&[]))
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct RoleIdIndex {
    pub name: String,
}

pub(super) fn role_id_key(salt: &Salt, role_id: &str) -> String {
    format!("{ROLE_ID_PREFIX}{}", salt.hmac("role_id", role_id))
}

pub(super) async fn load_role(
    storage: &dyn Storage,
    name: &str,
) -> Result<Option<RoleEntry>, Error> {
    super::super::load_role(storage, super::METHOD, name).await
}

const ROLE_FIELDS: &[&str] = &[
    "role_name",
    "bind_secret_id",
    "bound_cidr_list",
    "secret_id_bound_cidrs",
    "policies",
    "secret_id_num_uses",
    "secret_id_ttl",
    "period",
    "role_id",
    "local_secret_ids",
];

fn has_constraint(role: &RoleEntry) -> bool {
    role.bind_secret_id
        || role
            .secret_id_bound_cidrs
            .as_ref()
            .is_some_and(|c| !c.is_empty())
        || !role.token.token_bound_cidrs.is_empty()
}

impl AppRole {
    pub(super) async fn read_role(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let role = load_role(storage, name).await?.ok_or(Error::NotFound)?;
        let mut data = Map::new();
        data.insert("bind_secret_id".into(), role.bind_secret_id.into());
        data.insert("local_secret_ids".into(), role.local_secret_ids.into());
        data.insert(
            "secret_id_bound_cidrs".into(),
            role.secret_id_bound_cidrs
                .clone()
                .map_or(Value::Null, Value::from),
        );
        data.insert("secret_id_num_uses".into(), role.secret_id_num_uses.into());
        data.insert("secret_id_ttl".into(), role.secret_id_ttl.into());
        role.token.render(&mut data);
        // AppRole's legacy aliases are only `policies` and `period`, so only they can show.
        role.legacy.render(&mut data);
        let mut resp = Response::data(sorted_data(Value::Object(data)));
        if !has_constraint(&role) {
            resp.warnings.push(
                "Role does not have any constraints set on it. Updates to this role will require a constraint to be set"
                    .into(),
            );
        }
        input::warn_unknown(&mut resp, &req.data, &with_token_keys(ROLE_FIELDS));
        Ok(resp)
    }

    /// `role/<name>/<field>`: read one field, set it, or reset it to its default. The role
    /// must exist; the write goes through the whole-role path, so every rule still applies.
    pub(super) async fn role_field(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
        field: &'static str,
        op: crate::logical::Operation,
    ) -> Result<Response, Error> {
        use crate::logical::Operation;
        // As OpenBao: a read of a missing role's field finds nothing, a delete has nothing to
        // do, and a write has no such path.
        if load_role(storage, name).await?.is_none() {
            return match op {
                Operation::Read => Err(Error::NotFound),
                Operation::Delete => Ok(Response::empty()),
                _ => Err(super::super::unsupported_path()),
            };
        }
        match op {
            Operation::Read => {
                let full = self
                    .read_role(&Request::new(Operation::Read, ""), storage, name)
                    .await?;
                let all = full.data.unwrap_or_default();
                let mut data = Map::new();
                data.insert(field.into(), all.get(field).cloned().unwrap_or(Value::Null));
                if field == "token_policies" {
                    data.insert(
                        "policies".into(),
                        all.get(field).cloned().unwrap_or(Value::Null),
                    );
                }
                if field == "token_period" {
                    data.insert(
                        "period".into(),
                        all.get(field).cloned().unwrap_or(Value::Null),
                    );
                }
                Ok(Response::data(data))
            }
            Operation::Update | Operation::Delete => {
                let value = if op == Operation::Delete {
                    match field {
                        "bind_secret_id" => Value::Bool(true),
                        "token_policies" | "secret_id_bound_cidrs" | "token_bound_cidrs" => {
                            Value::Array(Vec::new())
                        }
                        _ => Value::from(0),
                    }
                } else {
                    req.data
                        .get(field)
                        .cloned()
                        .ok_or_else(|| Error::bad_request(format!("missing {field}")))?
                };
                let mut data = Map::new();
                data.insert(field.into(), value);
                let write = Request::new(Operation::Update, req.path.clone()).with_data(data);
                self.write_role(&write, storage, name)
                    .await
                    .map(|_| Response::empty())
            }
            _ => Err(Error::UnsupportedOperation),
        }
    }

    pub(super) async fn write_role(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let data = &req.data;
        let _guard = self.role_lock.lock().await;
        let salt = self.salt_or_create(storage).await?;
        let existing = load_role(storage, name).await?;
        let creating = existing.is_none();
        let mut role = existing.unwrap_or_else(|| RoleEntry {
            name: name.to_lowercase(),
            hmac_key: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        });

        let mut warnings = role.token.parse(
            data,
            ParseOptions {
                token_type_compat: true,
            },
        )?;

        if let Some(local) = input::boolean(data, "local_secret_ids")? {
            if !creating {
                return Err(Error::bad_request(
                    "local_secret_ids can only be modified during role creation",
                ));
            }
            role.local_secret_ids = local;
        }

        let previous_role_id = role.role_id.clone();
        if let Some(id) = input::string(data, "role_id")? {
            role.role_id = id;
        } else if creating {
            role.role_id = uuid::Uuid::new_v4().to_string();
        }
        if role.role_id.is_empty() {
            return Err(Error::bad_request(
                "invalid role_id supplied, or failed to generate a role_id",
            ));
        }

        if let Some(b) = input::boolean(data, "bind_secret_id")? {
            role.bind_secret_id = b;
        } else if creating {
            role.bind_secret_id = true;
        }

        let cidrs = match input::comma_strings(data, "secret_id_bound_cidrs")? {
            Some(c) => Some(c),
            None => input::comma_strings(data, "bound_cidr_list")?,
        };
        if let Some(cidrs) = cidrs {
            role.secret_id_bound_cidrs = Some(cidrs);
        }
        for c in role.secret_id_bound_cidrs.iter().flatten() {
            cidr::parse_cidr(c)
                .map_err(|e| internal(format!("failed to validate CIDR blocks: {e}")))?;
        }

        if let Some(n) = input::int(data, "secret_id_num_uses")? {
            role.secret_id_num_uses = u64::try_from(n)
                .map_err(|_| Error::bad_request("secret_id_num_uses cannot be negative"))?;
        }
        if let Some(ttl) = input::duration(data, "secret_id_ttl")? {
            role.secret_id_ttl = ttl;
        }

        role.token
            .upgrade(&mut role.legacy, data, &[Legacy::Policies, Legacy::Period])?;

        if role.legacy.period > SYSTEM_MAX_LEASE_TTL {
            return Err(Error::bad_request(format!(
                "period of \"{}\" is greater than the backend's maximum lease TTL of \"{}\"",
                format_secs(role.legacy.period as i64),
                format_secs(SYSTEM_MAX_LEASE_TTL as i64)
            )));
        }
        if role.token.token_max_ttl > SYSTEM_MAX_LEASE_TTL {
            warnings.push(
                "token_max_ttl is greater than the backend mount's maximum TTL value; issued tokens' max TTL value will be truncated"
                    .into(),
            );
        }

        self.save_role(storage, &salt, &role, &previous_role_id)
            .await?;
        let mut resp = Response::empty();
        resp.warnings = warnings;
        Ok(resp)
    }

    /// Stores a role and its role_id index in one commit. The caller holds `role_lock`.
    pub(super) async fn save_role(
        &self,
        storage: &dyn Storage,
        salt: &Salt,
        role: &RoleEntry,
        previous_role_id: &str,
    ) -> Result<(), Error> {
        if !has_constraint(role) {
            return Err(internal(
                "at least one constraint should be enabled on the role",
            ));
        }
        let index_key = role_id_key(salt, &role.role_id);
        if let Some(bytes) = storage.get(&index_key).await? {
            let index: RoleIdIndex = decode(&bytes, "role_id index")?;
            if index.name != role.name {
                return Err(internal("role_id already in use"));
            }
        }
        let mut ops = vec![StorageOp::Put(role_key(&role.name), encode(role, "role")?)];
        if !previous_role_id.is_empty() && previous_role_id != role.role_id {
            ops.push(StorageOp::Delete(role_id_key(salt, previous_role_id)));
        }
        ops.push(StorageOp::Put(
            index_key,
            encode(
                &RoleIdIndex {
                    name: role.name.clone(),
                },
                "role_id index",
            )?,
        ));
        storage.commit(ops).await
    }

    /// Deletes a role with its role_id index, every secret-id and every accessor, at once.
    pub(super) async fn delete_role(
        &self,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let _guard = self.role_lock.lock().await;
        let Some(role) = load_role(storage, name).await? else {
            return Ok(Response::empty());
        };
        let mut ops = Vec::new();
        if let Some(salt) = self.salt(storage).await? {
            let dir = role.secret_id_dir(&salt);
            for child in storage.list(&dir).await? {
                let key = format!("{dir}{child}");
                if let Some(bytes) = storage.get(&key).await? {
                    let entry: super::secret_id::SecretIdEntry = decode(&bytes, "secret-id")?;
                    ops.push(StorageOp::Delete(super::secret_id::accessor_key(
                        &salt,
                        &entry.accessor,
                    )));
                }
                ops.push(StorageOp::Delete(key));
            }
            ops.push(StorageOp::Delete(role_id_key(&salt, &role.role_id)));
        }
        ops.push(StorageOp::Delete(role_key(&role.name)));
        storage.commit(ops).await?;
        Ok(Response::empty())
    }

    pub(super) async fn read_role_id(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let role = load_role(storage, name).await?.ok_or(Error::NotFound)?;
        let mut data = Map::new();
        data.insert("role_id".into(), role.role_id.into());
        let mut resp = Response::data(data);
        input::warn_unknown(&mut resp, &req.data, &["role_name", "role_id"]);
        Ok(resp)
    }

    pub(super) async fn write_role_id(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let role_id = input::required_string(&req.data, "role_id")?;
        let _guard = self.role_lock.lock().await;
        let Some(mut role) = load_role(storage, name).await? else {
            return Err(super::super::unsupported_path());
        };
        let salt = self.salt_or_create(storage).await?;
        let previous = std::mem::replace(&mut role.role_id, role_id);
        self.save_role(storage, &salt, &role, &previous).await?;
        Ok(Response::empty())
    }

    pub(super) async fn read_local_secret_ids(
        &self,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let role = load_role(storage, name).await?.ok_or(Error::NotFound)?;
        let mut data = Map::new();
        data.insert("local_secret_ids".into(), role.local_secret_ids.into());
        Ok(Response::data(data))
    }
}
