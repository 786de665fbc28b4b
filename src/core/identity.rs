//! The identity store: entities, their aliases (one per auth mount and login name), and
//! groups. Logins link to an entity; ACL templates and identity policies read it on every
//! request, so a metadata change applies to the very next request.
//!
//! Layout, relative to the store's view (`sys/identity/`):
//! `entity/<id>`, `entity-name/<name>` -> id, `alias/<id>`, `alias-key/<accessor>/<name>` -> id,
//! `group/<id>`, `group-name/<name>` -> id.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::generation::Generation;
use crate::clock::{rfc3339, SharedClock};
use crate::logical::{fields, Error, Map, Operation, Request, Response, Storage, StorageOp};
use crate::policy::{TemplateAlias, TemplateContext, TemplateGroup};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Entity {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub alias_ids: Vec<String>,
    pub creation_time: String,
    pub last_update_time: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EntityAlias {
    pub id: String,
    pub canonical_id: String,
    pub mount_accessor: String,
    pub name: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub creation_time: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub member_entity_ids: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub creation_time: String,
    pub last_update_time: String,
}

/// What a request's ACL needs of its caller's identity.
pub struct Resolved {
    pub policies: Vec<String>,
    pub template: TemplateContext,
    pub disabled: bool,
}

/// The `identity/` mount: an ordinary backend for the router, serving the core's identity
/// store. The store keeps its own storage view (`sys/identity/`), not the mount's, because
/// logins through every auth method and the ACL read it too.
pub struct IdentityBackend {
    core: std::sync::Weak<super::Core>,
}

impl IdentityBackend {
    pub fn new(core: std::sync::Weak<super::Core>) -> Self {
        IdentityBackend { core }
    }
}

#[async_trait::async_trait]
impl crate::logical::Backend for IdentityBackend {
    async fn handle(&self, req: &Request, _mount_storage: &dyn Storage) -> Result<Response, Error> {
        let core = self
            .core
            .upgrade()
            .ok_or_else(|| Error::internal("the core is gone"))?;
        let unsealed = core.unsealed()?;
        unsealed.identity.handle(req, &req.path).await
    }
}

pub struct IdentityStore {
    storage: Arc<dyn Storage>,
    clock: SharedClock,
    /// Serializes writes that touch several records (entity + alias + indexes).
    write: tokio::sync::Mutex<()>,
    /// Advances with every write, for the core's cache of built ACLs.
    generation: Generation,
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: Vec<u8>) -> Result<T, Error> {
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::internal(format!("corrupt identity record: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::internal(format!("encoding identity record: {e}")))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl IdentityStore {
    pub fn new(storage: Arc<dyn Storage>, clock: SharedClock) -> Self {
        IdentityStore {
            storage,
            clock,
            write: tokio::sync::Mutex::new(()),
            generation: Generation::default(),
        }
    }

    /// Advances with every write; see [`Generation`].
    pub fn generation(&self) -> u64 {
        self.generation.current()
    }

    /// Every write goes through here, so that no ACL built from older records is used again.
    /// A failed write advances too: it costs a rebuild, and the store's state is then unknown.
    async fn commit(&self, ops: Vec<StorageOp>) -> Result<(), Error> {
        let result = self.storage.commit(ops).await;
        self.generation.advance();
        result
    }

    fn now(&self) -> String {
        rfc3339(self.clock.now())
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, Error> {
        match self.storage.get(key).await? {
            Some(bytes) => decode(bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn index(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .storage
            .get(key)
            .await?
            .and_then(|b| String::from_utf8(b).ok()))
    }

    pub async fn entity(&self, id: &str) -> Result<Option<Entity>, Error> {
        self.get(&format!("entity/{id}")).await
    }

    async fn entity_by_name(&self, name: &str) -> Result<Option<Entity>, Error> {
        match self.index(&format!("entity-name/{name}")).await? {
            Some(id) => self.entity(&id).await,
            None => Ok(None),
        }
    }

    async fn alias(&self, id: &str) -> Result<Option<EntityAlias>, Error> {
        self.get(&format!("alias/{id}")).await
    }

    async fn group(&self, id: &str) -> Result<Option<Group>, Error> {
        self.get(&format!("group/{id}")).await
    }

    /// The entity of a login: the one its alias already points to, or a new entity with a new
    /// alias, as Vault does on a first login.
    pub async fn entity_for_login(
        &self,
        mount_accessor: &str,
        alias_name: &str,
        alias_metadata: &BTreeMap<String, String>,
    ) -> Result<Entity, Error> {
        let _guard = self.write.lock().await;
        let key = format!("alias-key/{mount_accessor}/{alias_name}");
        if let Some(alias_id) = self.index(&key).await? {
            if let Some(mut alias) = self.alias(&alias_id).await? {
                if let Some(entity) = self.entity(&alias.canonical_id).await? {
                    if &alias.metadata != alias_metadata {
                        alias.metadata = alias_metadata.clone();
                        self.commit(vec![StorageOp::Put(
                            format!("alias/{}", alias.id),
                            encode(&alias)?,
                        )])
                        .await?;
                    }
                    return Ok(entity);
                }
            }
        }
        let now = self.now();
        let entity_id = new_id();
        let alias = EntityAlias {
            id: new_id(),
            canonical_id: entity_id.clone(),
            mount_accessor: mount_accessor.to_string(),
            name: alias_name.to_string(),
            metadata: alias_metadata.clone(),
            creation_time: now.clone(),
        };
        let entity = Entity {
            id: entity_id.clone(),
            name: format!("entity_{}", &entity_id[..8]),
            alias_ids: vec![alias.id.clone()],
            creation_time: now.clone(),
            last_update_time: now,
            ..Entity::default()
        };
        self.commit(vec![
            StorageOp::Put(format!("entity/{}", entity.id), encode(&entity)?),
            StorageOp::Put(
                format!("entity-name/{}", entity.name),
                entity.id.clone().into_bytes(),
            ),
            StorageOp::Put(format!("alias/{}", alias.id), encode(&alias)?),
            StorageOp::Put(key, alias.id.clone().into_bytes()),
        ])
        .await?;
        Ok(entity)
    }

    /// The caller's identity as the ACL sees it: entity and group policies, and the template
    /// values. `None` when the entity is gone.
    pub async fn resolve(&self, entity_id: &str) -> Result<Option<Resolved>, Error> {
        let Some(entity) = self.entity(entity_id).await? else {
            return Ok(None);
        };
        let mut policies = entity.policies.clone();
        let mut aliases = Vec::new();
        for id in &entity.alias_ids {
            if let Some(a) = self.alias(id).await? {
                aliases.push(TemplateAlias {
                    mount_accessor: a.mount_accessor,
                    id: a.id,
                    name: a.name,
                    metadata: a.metadata,
                });
            }
        }
        let mut groups = Vec::new();
        for gid in self.storage.list("group/").await? {
            if let Some(g) = self.group(&gid).await? {
                if g.member_entity_ids.iter().any(|m| m == entity_id) {
                    policies.extend(g.policies.iter().cloned());
                    groups.push(TemplateGroup {
                        id: g.id,
                        name: g.name,
                        metadata: g.metadata,
                    });
                }
            }
        }
        Ok(Some(Resolved {
            policies,
            disabled: entity.disabled,
            template: TemplateContext {
                entity_id: entity.id,
                entity_name: entity.name,
                entity_metadata: entity.metadata,
                aliases,
                groups,
            },
        }))
    }

    /// `identity/*` endpoints; `rel` is relative to `identity/`.
    pub async fn handle(&self, req: &Request, rel: &str) -> Result<Response, Error> {
        let rel = rel.trim_end_matches('/');
        let (kind, rest) = rel.split_once('/').unwrap_or((rel, ""));
        match (kind, rest, req.operation) {
            ("entity", "", Operation::Update) => self.write_entity(None, &req.data).await,
            ("entity", "id" | "name", Operation::List) => self.list("entity", rest).await,
            ("entity", r, op) => match r.split_once('/') {
                Some(("id", id)) => {
                    self.entity_op(op, self.entity(id).await?, Some(id), &req.data)
                        .await
                }
                Some(("name", name)) => {
                    let existing = self.entity_by_name(name).await?;
                    if existing.is_none() && op == Operation::Update {
                        let mut data = req.data.clone();
                        data.insert("name".into(), name.into());
                        return self.write_entity(None, &data).await;
                    }
                    let id = existing.as_ref().map(|e| e.id.clone());
                    self.entity_op(op, existing, id.as_deref(), &req.data).await
                }
                _ => Err(Error::UnsupportedOperation),
            },
            ("entity-alias", "", Operation::Update) => self.write_alias(None, &req.data).await,
            ("entity-alias", "id", Operation::List) => self.list("alias", "id").await,
            ("entity-alias", r, op) => match (r.split_once('/'), op) {
                (Some(("id", id)), Operation::Read) => match self.alias(id).await? {
                    Some(a) => Ok(Response::data(alias_json(&a))),
                    None => Err(Error::NotFound),
                },
                (Some(("id", id)), Operation::Update) => {
                    self.write_alias(Some(id), &req.data).await
                }
                (Some(("id", id)), Operation::Delete) => self.delete_alias(id).await,
                _ => Err(Error::UnsupportedOperation),
            },
            ("group", "", Operation::Update) => self.write_group(None, &req.data).await,
            ("group", "id" | "name", Operation::List) => self.list("group", rest).await,
            ("group", r, op) => {
                let (by, key) = r.split_once('/').ok_or(Error::UnsupportedOperation)?;
                let existing = match by {
                    "id" => self.group(key).await?,
                    "name" => match self.index(&format!("group-name/{key}")).await? {
                        Some(id) => self.group(&id).await?,
                        None => None,
                    },
                    _ => return Err(Error::UnsupportedOperation),
                };
                match (op, existing) {
                    (Operation::Read, Some(g)) => Ok(Response::data(group_json(&g))),
                    (Operation::Read, None) => Err(Error::NotFound),
                    (Operation::Update, Some(g)) => self.write_group(Some(g), &req.data).await,
                    (Operation::Update, None) if by == "name" => {
                        let mut data = req.data.clone();
                        data.insert("name".into(), key.into());
                        self.write_group(None, &data).await
                    }
                    (Operation::Delete, Some(g)) => {
                        self.commit(vec![
                            StorageOp::Delete(format!("group/{}", g.id)),
                            StorageOp::Delete(format!("group-name/{}", g.name)),
                        ])
                        .await?;
                        Ok(Response::empty())
                    }
                    (Operation::Delete, None) => Ok(Response::empty()),
                    _ => Err(Error::UnsupportedOperation),
                }
            }
            _ => Err(Error::NoHandler(format!(
                "no handler for route \"identity/{rel}\". route entry not found."
            ))),
        }
    }

    async fn list(&self, record: &str, by: &str) -> Result<Response, Error> {
        let keys = match by {
            "name" => self.storage.list(&format!("{record}-name/")).await?,
            _ => self.storage.list(&format!("{record}/")).await?,
        };
        Response::list(keys)
    }

    async fn entity_op(
        &self,
        op: Operation,
        existing: Option<Entity>,
        id: Option<&str>,
        data: &Map,
    ) -> Result<Response, Error> {
        match (op, existing) {
            (Operation::Read, Some(e)) => {
                let mut aliases = Vec::new();
                for a in &e.alias_ids {
                    if let Some(a) = self.alias(a).await? {
                        aliases.push(Value::Object(alias_json(&a)));
                    }
                }
                let mut data = entity_json(&e);
                data.insert("aliases".into(), Value::Array(aliases));
                Ok(Response::data(data))
            }
            (Operation::Read, None) => Err(Error::NotFound),
            (Operation::Update, Some(e)) => self.write_entity(Some(e), data).await,
            (Operation::Update, None) => Err(Error::bad_request(format!(
                "entity not found from id {}",
                id.unwrap_or("")
            ))),
            (Operation::Delete, Some(e)) => {
                let _guard = self.write.lock().await;
                let mut ops = vec![
                    StorageOp::Delete(format!("entity/{}", e.id)),
                    StorageOp::Delete(format!("entity-name/{}", e.name)),
                ];
                for a in &e.alias_ids {
                    if let Some(alias) = self.alias(a).await? {
                        ops.push(StorageOp::Delete(format!("alias/{}", alias.id)));
                        ops.push(StorageOp::Delete(format!(
                            "alias-key/{}/{}",
                            alias.mount_accessor, alias.name
                        )));
                    }
                }
                self.commit(ops).await?;
                Ok(Response::empty())
            }
            (Operation::Delete, None) => Ok(Response::empty()),
            _ => Err(Error::UnsupportedOperation),
        }
    }

    async fn write_entity(&self, existing: Option<Entity>, data: &Map) -> Result<Response, Error> {
        let _guard = self.write.lock().await;
        let now = self.now();
        let created = existing.is_none();
        let mut e = existing.unwrap_or_else(|| {
            let id = new_id();
            Entity {
                name: format!("entity_{}", &id[..8]),
                id,
                creation_time: now.clone(),
                ..Entity::default()
            }
        });
        let old_name = e.name.clone();
        if let Some(name) = self.requested_name("entity", &e.name, data).await? {
            e.name = name;
        }
        if let Some(m) = fields::string_map(data, "metadata")? {
            e.metadata = m;
        }
        if let Some(p) = policies_field(data)? {
            e.policies = p;
        }
        if let Some(d) = fields::boolean(data, "disabled")? {
            e.disabled = d;
        }
        e.last_update_time = now;
        self.save_named("entity", &e.id, &old_name, &e.name, encode(&e)?)
            .await?;
        if created {
            Ok(Response::data(fields::into_map(
                json!({"id": e.id, "name": e.name, "aliases": null}),
            )))
        } else {
            Ok(Response::empty())
        }
    }

    /// The `name` a write gives a record of `kind` (`entity`, `group`) now named `current`;
    /// refused when another record of that kind already has it.
    async fn requested_name(
        &self,
        kind: &str,
        current: &str,
        data: &Map,
    ) -> Result<Option<String>, Error> {
        let Some(name) = fields::string(data, "name")?.filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if name != current && self.index(&format!("{kind}-name/{name}")).await?.is_some() {
            return Err(Error::bad_request(format!("{kind} name is already in use")));
        }
        Ok(Some(name))
    }

    /// Stores `kind/<id>` and its `kind-name/<name>` index in one commit, dropping the index
    /// of `old_name` when the name changed.
    async fn save_named(
        &self,
        kind: &str,
        id: &str,
        old_name: &str,
        name: &str,
        record: Vec<u8>,
    ) -> Result<(), Error> {
        let mut ops = vec![StorageOp::Put(format!("{kind}/{id}"), record)];
        if old_name != name {
            ops.push(StorageOp::Delete(format!("{kind}-name/{old_name}")));
        }
        ops.push(StorageOp::Put(
            format!("{kind}-name/{name}"),
            id.as_bytes().to_vec(),
        ));
        self.commit(ops).await
    }

    async fn write_alias(&self, id: Option<&str>, data: &Map) -> Result<Response, Error> {
        let _guard = self.write.lock().await;
        let mut alias = match id {
            Some(id) => self
                .alias(id)
                .await?
                .ok_or_else(|| Error::bad_request("invalid alias id"))?,
            None => EntityAlias {
                id: new_id(),
                creation_time: self.now(),
                ..EntityAlias::default()
            },
        };
        let old_key = format!("alias-key/{}/{}", alias.mount_accessor, alias.name);
        let old_canonical = alias.canonical_id.clone();
        if let Some(n) = fields::string(data, "name")?.filter(|n| !n.is_empty()) {
            alias.name = n;
        }
        if let Some(m) = fields::string(data, "mount_accessor")?.filter(|n| !n.is_empty()) {
            alias.mount_accessor = m;
        }
        if let Some(c) = fields::string(data, "canonical_id")?.filter(|n| !n.is_empty()) {
            alias.canonical_id = c;
        }
        if let Some(m) = fields::string_map(data, "metadata")? {
            alias.metadata = m;
        }
        if alias.name.is_empty() || alias.mount_accessor.is_empty() {
            return Err(Error::bad_request("missing alias name or mount_accessor"));
        }
        let key = format!("alias-key/{}/{}", alias.mount_accessor, alias.name);
        if let Some(other) = self.index(&key).await? {
            if other != alias.id {
                return Err(Error::bad_request(
                    "alias already exists for requested entity",
                ));
            }
        }
        let mut entity = self
            .entity(&alias.canonical_id)
            .await?
            .ok_or_else(|| Error::bad_request("invalid canonical ID"))?;
        let mut ops = Vec::new();
        if old_canonical != alias.canonical_id && !old_canonical.is_empty() {
            if let Some(mut old) = self.entity(&old_canonical).await? {
                old.alias_ids.retain(|a| a != &alias.id);
                ops.push(StorageOp::Put(format!("entity/{}", old.id), encode(&old)?));
            }
        }
        if !entity.alias_ids.contains(&alias.id) {
            entity.alias_ids.push(alias.id.clone());
            ops.push(StorageOp::Put(
                format!("entity/{}", entity.id),
                encode(&entity)?,
            ));
        }
        if old_key != key && id.is_some() {
            ops.push(StorageOp::Delete(old_key));
        }
        ops.push(StorageOp::Put(key, alias.id.clone().into_bytes()));
        ops.push(StorageOp::Put(
            format!("alias/{}", alias.id),
            encode(&alias)?,
        ));
        self.commit(ops).await?;
        Ok(Response::data(fields::into_map(
            json!({"id": alias.id, "canonical_id": alias.canonical_id}),
        )))
    }

    async fn delete_alias(&self, id: &str) -> Result<Response, Error> {
        let _guard = self.write.lock().await;
        let Some(alias) = self.alias(id).await? else {
            return Ok(Response::empty());
        };
        let mut ops = vec![
            StorageOp::Delete(format!("alias/{id}")),
            StorageOp::Delete(format!("alias-key/{}/{}", alias.mount_accessor, alias.name)),
        ];
        if let Some(mut e) = self.entity(&alias.canonical_id).await? {
            e.alias_ids.retain(|a| a != id);
            ops.push(StorageOp::Put(format!("entity/{}", e.id), encode(&e)?));
        }
        self.commit(ops).await?;
        Ok(Response::empty())
    }

    async fn write_group(&self, existing: Option<Group>, data: &Map) -> Result<Response, Error> {
        let _guard = self.write.lock().await;
        let now = self.now();
        let created = existing.is_none();
        let mut g = existing.unwrap_or_else(|| {
            let id = new_id();
            Group {
                name: format!("group_{}", &id[..8]),
                id,
                creation_time: now.clone(),
                ..Group::default()
            }
        });
        let old_name = g.name.clone();
        if let Some(name) = self.requested_name("group", &g.name, data).await? {
            g.name = name;
        }
        if let Some(p) = policies_field(data)? {
            g.policies = p;
        }
        if let Some(m) = fields::string_list(data, "member_entity_ids")? {
            g.member_entity_ids = m;
        }
        if let Some(m) = fields::string_map(data, "metadata")? {
            g.metadata = m;
        }
        g.last_update_time = now;
        self.save_named("group", &g.id, &old_name, &g.name, encode(&g)?)
            .await?;
        if created {
            Ok(Response::data(fields::into_map(
                json!({"id": g.id, "name": g.name}),
            )))
        } else {
            Ok(Response::empty())
        }
    }
}

/// `policies` as a write gives them, normalized; `root` is refused.
fn policies_field(data: &Map) -> Result<Option<Vec<String>>, Error> {
    let Some(p) = fields::string_list(data, "policies")? else {
        return Ok(None);
    };
    let policies = crate::core::token_backend::normalize_policies(p);
    if policies.iter().any(|p| p == "root") {
        return Err(Error::bad_request("policies cannot include root"));
    }
    Ok(Some(policies))
}

fn entity_json(e: &Entity) -> Map {
    fields::into_map(json!({
        "id": e.id,
        "name": e.name,
        "metadata": e.metadata,
        "policies": e.policies,
        "disabled": e.disabled,
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
        "direct_group_ids": [],
        "group_ids": [],
        "inherited_group_ids": [],
        "merged_entity_ids": null,
        "namespace_id": "root",
    }))
}

fn alias_json(a: &EntityAlias) -> Map {
    fields::into_map(json!({
        "id": a.id,
        "canonical_id": a.canonical_id,
        "mount_accessor": a.mount_accessor,
        "name": a.name,
        "metadata": a.metadata,
        "creation_time": a.creation_time,
        "last_update_time": a.creation_time,
        "namespace_id": "root",
    }))
}

fn group_json(g: &Group) -> Map {
    fields::into_map(json!({
        "id": g.id,
        "name": g.name,
        "policies": g.policies,
        "member_entity_ids": g.member_entity_ids,
        "metadata": g.metadata,
        "type": "internal",
        "creation_time": g.creation_time,
        "last_update_time": g.last_update_time,
        "namespace_id": "root",
    }))
}
