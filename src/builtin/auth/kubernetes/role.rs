//! `role/` and `role/<name>`: which service accounts may log in, and the tokens they get.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::token_fields::{
    with_token_keys, Legacy, LegacyFields, ParseOptions, TokenFields,
};
use super::super::{glob_match, input};
use super::{Kubernetes, METHOD};
use crate::logical::fields::sorted_data;
use crate::logical::{Error, Map, Request, Response, Storage};

const LEGACY: &[Legacy] = &[
    Legacy::Policies,
    Legacy::Ttl,
    Legacy::MaxTtl,
    Legacy::Period,
    Legacy::BoundCidrs,
];

/// Where the identity alias name of a login comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum AliasSource {
    #[default]
    ServiceaccountUid,
    ServiceaccountName,
}

impl AliasSource {
    fn as_str(self) -> &'static str {
        match self {
            AliasSource::ServiceaccountUid => "serviceaccount_uid",
            AliasSource::ServiceaccountName => "serviceaccount_name",
        }
    }
}

/// One role as stored.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct RoleEntry {
    /// Lowercased; the `role` of logins.
    pub name: String,
    /// Names or globs (`*` matches any run of characters); `*` alone matches every name.
    pub bound_service_account_names: Vec<String>,
    pub bound_service_account_namespaces: Vec<String>,
    /// When set, the TokenReview asks for this audience and the answer must carry it.
    pub audience: String,
    pub alias_name_source: AliasSource,
    pub token: TokenFields,
    pub legacy: LegacyFields,
}

/// Whether any of the role's bounds matches `value`.
pub(super) fn bound_matches(bounds: &[String], value: &str) -> bool {
    !value.is_empty() && bounds.iter().any(|b| glob_match(b, value))
}

pub(super) async fn load_role(
    storage: &dyn Storage,
    name: &str,
) -> Result<Option<RoleEntry>, Error> {
    super::super::load_role(storage, METHOD, name).await
}

const ROLE_FIELDS: &[&str] = &[
    "name",
    "bound_service_account_names",
    "bound_service_account_namespaces",
    "bound_service_account_namespace_selector",
    "audience",
    "alias_name_source",
    "policies",
    "ttl",
    "max_ttl",
    "period",
    "bound_cidrs",
    "num_uses",
];

/// A bound list as given: comma-separated or a list, trimmed, empties dropped.
fn bound_list(data: &Map, key: &'static str) -> Result<Option<Vec<String>>, Error> {
    Ok(input::comma_strings(data, key)?
        .map(|items| items.into_iter().filter(|s| !s.is_empty()).collect()))
}

fn check_star(list: &[String]) -> Result<(), Error> {
    if list.len() > 1 && list.iter().any(|s| s == "*") {
        return Err(Error::bad_request("can not mix \"*\" with values"));
    }
    Ok(())
}

impl Kubernetes {
    pub(super) async fn read_role(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let Some(role) = load_role(storage, name).await? else {
            return Err(Error::NotFound);
        };
        let mut data = Map::new();
        data.insert(
            "bound_service_account_names".into(),
            role.bound_service_account_names.clone().into(),
        );
        data.insert(
            "bound_service_account_namespaces".into(),
            role.bound_service_account_namespaces.clone().into(),
        );
        data.insert("bound_service_account_namespace_selector".into(), "".into());
        data.insert("audience".into(), role.audience.clone().into());
        data.insert(
            "alias_name_source".into(),
            role.alias_name_source.as_str().into(),
        );
        role.token.render(&mut data);
        role.legacy.render(&mut data);
        let mut resp = Response::data(sorted_data(Value::Object(data)));
        input::warn_unknown(&mut resp, &req.data, &with_token_keys(ROLE_FIELDS));
        Ok(resp)
    }

    /// Creates a role or updates the fields given, as Vault does.
    pub(super) async fn write_role(
        &self,
        req: &Request,
        storage: &dyn Storage,
        name: &str,
    ) -> Result<Response, Error> {
        let data = &req.data;
        let _guard = self.lock.lock().await;
        let mut role = load_role(storage, name)
            .await?
            .unwrap_or_else(|| RoleEntry {
                name: name.to_lowercase(),
                ..Default::default()
            });
        let warnings = role.token.parse(data, ParseOptions::default())?;
        role.token.upgrade(&mut role.legacy, data, LEGACY)?;

        if let Some(names) = bound_list(data, "bound_service_account_names")? {
            role.bound_service_account_names = names;
        }
        if let Some(namespaces) = bound_list(data, "bound_service_account_namespaces")? {
            role.bound_service_account_namespaces = namespaces;
        }
        if let Some(selector) = input::string(data, "bound_service_account_namespace_selector")? {
            if !selector.trim().is_empty() {
                return Err(Error::bad_request(
                    "\"bound_service_account_namespace_selector\" is not supported by mainkey",
                ));
            }
        }
        if role.bound_service_account_names.is_empty() {
            return Err(Error::bad_request(
                "\"bound_service_account_names\" can not be empty",
            ));
        }
        if role.bound_service_account_namespaces.is_empty() {
            return Err(Error::bad_request(
                "\"bound_service_account_namespaces\" can not be empty if \"bound_service_account_namespace_selector\" is not set",
            ));
        }
        check_star(&role.bound_service_account_names)?;
        check_star(&role.bound_service_account_namespaces)?;
        if let Some(audience) = input::string(data, "audience")? {
            role.audience = audience.trim().to_string();
        }
        if let Some(source) = input::string(data, "alias_name_source")? {
            role.alias_name_source = match source.as_str() {
                "" | "serviceaccount_uid" => AliasSource::ServiceaccountUid,
                "serviceaccount_name" => AliasSource::ServiceaccountName,
                _ => {
                    return Err(Error::bad_request(
                        "invalid alias_name_source, must be one of: serviceaccount_uid, serviceaccount_name",
                    ))
                }
            };
        }

        super::super::save_role(storage, METHOD, &role.name, &role).await?;
        let mut resp = Response::empty();
        resp.warnings = warnings;
        Ok(resp)
    }
}
