//! `sys/policy`, `sys/policies/acl` and `sys/capabilities[-self|-accessor]`.

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::core::Core;
use crate::logical::{fields, Error, Map, Operation, Request, Response};
use crate::policy::{normalize_name, ROOT_POLICY_NAME};

/// Which API shape: the legacy `sys/policy` (`rules`) or `sys/policies/acl` (`policy`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Legacy,
    Acl,
}

impl Api {
    fn text_key(self) -> &'static str {
        match self {
            Api::Legacy => "rules",
            Api::Acl => "policy",
        }
    }
}

pub async fn handle(core: &Core, api: Api, req: &Request, name: &str) -> Result<Response, Error> {
    let store = core.policy_store()?;
    if name.is_empty() {
        let mut names = store.names().await?;
        return match (api, req.operation) {
            (Api::Legacy, Operation::Read | Operation::List) => {
                names.push(ROOT_POLICY_NAME.to_string());
                names.sort();
                let mut data = Map::new();
                data.insert("keys".into(), json!(names));
                data.insert("policies".into(), json!(names));
                Ok(Response::data(data))
            }
            // OpenBao lists the built-in root policy too, after the stored ones.
            (Api::Acl, Operation::List) => {
                names.push(ROOT_POLICY_NAME.to_string());
                Response::list(names)
            }
            _ => Err(Error::UnsupportedOperation),
        };
    }
    match req.operation {
        Operation::Read => read(core, api, name).await,
        Operation::Update => {
            // Either key is accepted on both APIs, as Vault does.
            let text = fields::string(&req.data, "policy")?
                .filter(|t| !t.is_empty())
                .or(fields::string(&req.data, "rules")?.filter(|t| !t.is_empty()))
                .ok_or_else(|| Error::bad_request("'policy' parameter not supplied or empty"))?;
            let warnings = store.put(name, &text, rfc3339(core.clock().now())).await?;
            Ok(Response {
                warnings,
                ..Response::default()
            })
        }
        Operation::Delete => {
            store.delete(name).await?;
            Ok(Response::empty())
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

async fn read(core: &Core, api: Api, name: &str) -> Result<Response, Error> {
    let name = normalize_name(name);
    let stored = if name == ROOT_POLICY_NAME {
        Default::default()
    } else {
        core.policy_store()?
            .stored(&name)
            .await?
            .ok_or(Error::NotFound)?
    };
    let mut data = Map::new();
    data.insert("name".into(), name.into());
    data.insert(api.text_key().into(), stored.text.into());
    data.insert("version".into(), stored.version.into());
    data.insert("cas_required".into(), false.into());
    data.insert("allow_wildcards_in_identity_templates".into(), false.into());
    data.insert("allow_slashes_in_identity_templates".into(), false.into());
    if !stored.modified.is_empty() {
        data.insert("modified".into(), stored.modified.into());
    }
    Ok(Response::data(data))
}

/// Which token `sys/capabilities*` asks about.
pub enum Subject {
    /// `sys/capabilities`: the `token` parameter.
    Token,
    /// `sys/capabilities-self`: the caller's own token.
    Caller,
    /// `sys/capabilities-accessor`: the `accessor` parameter.
    Accessor,
}

pub async fn capabilities(core: &Core, subject: Subject, req: &Request) -> Result<Response, Error> {
    if req.operation != Operation::Update {
        return Err(Error::UnsupportedOperation);
    }
    let single = fields::string(&req.data, "path")?.filter(|p| !p.is_empty());
    let mut paths: Vec<String> = match req.data.get("paths") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
        _ => Vec::new(),
    };
    if let Some(p) = &single {
        paths.push(p.clone());
    }
    if paths.is_empty() {
        return Err(Error::bad_request("paths must be supplied"));
    }
    let answers = match subject {
        Subject::Token => {
            let token = fields::string(&req.data, "token")?.unwrap_or_default();
            core.capabilities(&token, None, &paths).await?
        }
        Subject::Caller => {
            core.capabilities(
                req.client_token.as_deref().unwrap_or(""),
                Some(req.remote_addr),
                &paths,
            )
            .await?
        }
        Subject::Accessor => {
            let accessor = fields::string(&req.data, "accessor")?.unwrap_or_default();
            core.capabilities_by_accessor(&accessor, &paths).await?
        }
    };
    let mut data = Map::new();
    for (path, caps) in paths.iter().zip(&answers) {
        data.insert(path.clone(), json!(caps));
    }
    // With a single `path`, Vault also answers under `capabilities`.
    if let Some(p) = &single {
        if let Some(caps) = paths
            .iter()
            .position(|x| x == p)
            .and_then(|i| answers.get(i))
        {
            data.insert("capabilities".into(), json!(caps));
        }
    }
    Ok(Response::data(data))
}
