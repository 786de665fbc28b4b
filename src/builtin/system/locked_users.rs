//! `sys/locked-users` (GET: the names locked out, in Vault's response shape) and
//! `sys/locked-users/<mount_accessor>/unlock/<alias_identifier>` (POST: unlock one). Neither
//! is a root path in Vault, so the ACL alone guards them, as there.

use serde_json::json;

use crate::core::Core;
use crate::logical::{fields, Error, Operation, Request, Response};

/// mainkey has no namespaces: everything is in Vault's root namespace.
const ROOT_NAMESPACE_ID: &str = "root";

pub async fn handle(core: &Core, req: &Request, rest: &str) -> Result<Response, Error> {
    if rest.is_empty() {
        if req.operation != Operation::Read {
            return Err(Error::UnsupportedOperation);
        }
        return list(core, req).await;
    }
    let Some((accessor, alias)) = rest.split_once("/unlock/") else {
        return Err(Error::NoHandler(format!(
            "no handler for route \"sys/locked-users/{rest}\". route entry not found."
        )));
    };
    if req.operation != Operation::Update {
        return Err(Error::UnsupportedOperation);
    }
    if accessor.is_empty() {
        return Err(Error::bad_request("missing mount_accessor"));
    }
    if alias.is_empty() {
        return Err(Error::bad_request("missing alias_identifier"));
    }
    core.unlock_user(accessor, alias).await?;
    Ok(Response::empty())
}

async fn list(core: &Core, req: &Request) -> Result<Response, Error> {
    let accessor = fields::string(&req.data, "mount_accessor")?.filter(|a| !a.is_empty());
    let mut mounts = core.locked_users(accessor.as_deref()).await?;
    // Vault orders the mounts by decreasing count; the accessor breaks ties, for a stable
    // answer.
    mounts.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    let total: usize = mounts.iter().map(|(_, names)| names.len()).sum();
    let mount_accessors: Vec<_> = mounts
        .into_iter()
        .map(|(accessor, names)| {
            json!({
                "mount_accessor": accessor,
                "counts": names.len(),
                "alias_identifiers": names,
            })
        })
        .collect();
    Ok(Response::data(fields::into_map(json!({
        "by_namespace": [{
            "namespace_id": ROOT_NAMESPACE_ID,
            "namespace_path": "",
            "counts": total,
            "mount_accessors": mount_accessors,
        }],
        "total": total,
    }))))
}
