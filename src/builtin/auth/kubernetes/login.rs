//! `login`: a role name and a service-account JWT, read locally (`claims`) and then validated
//! by the API server's TokenReview.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::super::input;
use super::claims::validate;
use super::config::{load_config, parse_ca_pem, ConfigEntry};
use super::role::{bound_matches, load_role, AliasSource};
use super::Kubernetes;
use crate::logical::{Alias, Auth, Error, Request, Response, Storage};

/// The whole TokenReview call, connection included.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);
const REVIEW_PATH: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const SA_PREFIX: &str = "system:serviceaccount:";

/// What a successful TokenReview says about the caller.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Reviewed {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Why a TokenReview did not vouch for the token.
#[derive(Debug)]
pub(super) enum ReviewError {
    /// The API server does not accept the token (or refuses the reviewer): 403.
    Denied,
    /// The config cannot be used (bad CA): 500 with the reason.
    Config(String),
    /// The API server could not be reached or answered nonsense: 500 with the reason.
    Transport(String),
}

impl From<ReviewError> for Error {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::Denied => Error::PermissionDenied,
            ReviewError::Config(m) | ReviewError::Transport(m) => super::super::internal(m),
        }
    }
}

fn agent(config: &ConfigEntry) -> Result<ureq::Agent, ReviewError> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if !config.kubernetes_ca_cert.trim().is_empty() {
        let certs = parse_ca_pem(&config.kubernetes_ca_cert).map_err(ReviewError::Config)?;
        let roots: Vec<ureq::tls::Certificate<'static>> = certs
            .into_iter()
            .map(|der| ureq::tls::Certificate::from_der(&der).to_owned())
            .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)));
    }
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REVIEW_TIMEOUT))
        // The reviewer JWT must never follow a redirect to another host.
        .max_redirects(0)
        .tls_config(tls.build())
        .build()
        .new_agent())
}

/// POSTs a TokenReview of `jwt` to the API server. Blocking; run it off the async runtime.
/// `audiences` is what the review asks for: the role's audience, or else the token's own,
/// as OpenBao asks; the answer must grant one of them.
pub(super) fn review(
    config: &ConfigEntry,
    jwt: &str,
    audiences: &[String],
) -> Result<Reviewed, ReviewError> {
    let mut spec = json!({ "token": jwt });
    if !audiences.is_empty() {
        spec["audiences"] = json!(audiences);
    }
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": spec,
    });
    // Without a reviewer JWT the client's own token reviews itself, as in Vault.
    let bearer = if config.token_reviewer_jwt.is_empty() {
        jwt
    } else {
        config.token_reviewer_jwt.as_str()
    };
    let url = format!("{}{REVIEW_PATH}", config.kubernetes_host);
    // ureq's errors name the URL and the cause, never the headers or the body.
    let transport = |e: ureq::Error| {
        ReviewError::Transport(format!(
            "kubernetes TokenReview request to {url} failed: {e}"
        ))
    };
    let response = agent(config)?
        .post(&url)
        .header("Authorization", format!("Bearer {bearer}"))
        .header("Accept", "application/json")
        .content_type("application/json")
        .send(body.to_string().as_bytes())
        .map_err(transport)?;
    let status = response.status().as_u16();
    match status {
        200 | 201 => {}
        // The reviewer (or the client's own token, used as the reviewer) is not accepted.
        401 | 403 => return Err(ReviewError::Denied),
        other => {
            return Err(ReviewError::Transport(format!(
                "kubernetes TokenReview at {url} answered with status {other}"
            )))
        }
    }
    let text = response
        .into_body()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(transport)?;
    let answer: Value = serde_json::from_str(&text).map_err(|_| {
        ReviewError::Transport(format!(
            "kubernetes TokenReview at {url} did not answer JSON"
        ))
    })?;
    let status = &answer["status"];
    if status["authenticated"].as_bool() != Some(true) {
        return Err(ReviewError::Denied);
    }
    if !audiences.is_empty() {
        let granted = status["audiences"].as_array().is_some_and(|a| {
            a.iter()
                .any(|v| v.as_str().is_some_and(|v| audiences.iter().any(|w| w == v)))
        });
        if !granted {
            return Err(ReviewError::Denied);
        }
    }
    let username = status["user"]["username"].as_str().unwrap_or_default();
    let Some((namespace, name)) = username
        .strip_prefix(SA_PREFIX)
        .and_then(|rest| rest.split_once(':'))
    else {
        return Err(ReviewError::Denied);
    };
    let uid = status["user"]["uid"].as_str().unwrap_or_default();
    if namespace.is_empty() || name.is_empty() || name.contains(':') || uid.is_empty() {
        return Err(ReviewError::Denied);
    }
    Ok(Reviewed {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
    })
}

impl Kubernetes {
    pub(super) async fn login(
        &self,
        req: &Request,
        storage: &dyn Storage,
    ) -> Result<Response, Error> {
        let role_name = input::required_string(&req.data, "role")?;
        let jwt = input::required_string(&req.data, "jwt")?;
        let role = match load_role(storage, &role_name).await? {
            Some(r) if super::super::valid_name(&role_name) => r,
            _ => {
                return Err(Error::bad_request(format!(
                    "invalid role name {}",
                    crate::logical::fields::go_quote(&role_name)
                )))
            }
        };
        let Some(config) = load_config(storage).await? else {
            return Err(super::super::internal(
                "could not load backend configuration",
            ));
        };

        // The token's own claims first: its signature (with `pem_keys`), issuer, audience,
        // times, and the role's bounds on the account it names.
        let account = validate(&config, &role, &jwt, self.clock.now())?;
        let audiences = if role.audience.is_empty() {
            account.audiences.clone()
        } else {
            vec![role.audience.clone()]
        };
        let reviewed = tokio::task::spawn_blocking(move || review(&config, &jwt, &audiences))
            .await
            .map_err(|_| Error::internal("kubernetes TokenReview task failed"))??;
        // The API server must vouch for the account the claims name, which the bounds
        // were checked against.
        account.matches(&reviewed)?;
        let secret_name = account.secret_name;

        let mut alias_meta = BTreeMap::new();
        alias_meta.insert("service_account_name".into(), reviewed.name.clone());
        alias_meta.insert(
            "service_account_namespace".into(),
            reviewed.namespace.clone(),
        );
        alias_meta.insert("service_account_uid".into(), reviewed.uid.clone());
        alias_meta.insert("service_account_secret_name".into(), secret_name);
        let alias_name = match role.alias_name_source {
            AliasSource::ServiceaccountUid => reviewed.uid.clone(),
            AliasSource::ServiceaccountName => {
                format!("{}/{}", reviewed.namespace, reviewed.name)
            }
        };
        let alias = Alias {
            name: alias_name,
            metadata: alias_meta,
        };
        let display_name = format!("{}-{}", reviewed.namespace, reviewed.name);
        super::super::role_login(
            req,
            &role.name,
            &role.token,
            display_name,
            alias,
            Vec::new(),
        )
    }
}

impl Kubernetes {
    /// Whether a token this method issued may be renewed, and on which terms: the role its
    /// login recorded must still exist and still admit the service account the login
    /// recorded, and its current TTLs apply. The service-account JWT is not reviewed again
    /// (the server never keeps it), as in Vault.
    ///
    /// Vault and OpenBao only ask that the role exist. Narrowing a role's bound names or
    /// namespaces is how an operator takes a service account out of it, so mainkey stops
    /// renewing that account's tokens too, rather than letting them live on until their
    /// max TTL.
    pub async fn renew(
        &self,
        storage: &dyn Storage,
        login: &Auth,
    ) -> Result<super::super::Renewal, Error> {
        let load = |name: String| async move { load_role(storage, &name).await };
        let (name, role) = super::super::renewal_role(login, load).await?;
        let recorded = |key: &str| login.metadata.get(key).map_or("", String::as_str);
        let (account, namespace) = (
            recorded("service_account_name"),
            recorded("service_account_namespace"),
        );
        if !bound_matches(&role.bound_service_account_names, account)
            || !bound_matches(&role.bound_service_account_namespaces, namespace)
        {
            return Err(Error::bad_request(format!(
                "service account {} is no longer bound to role {}, not renewing",
                crate::logical::fields::go_quote(&format!("{namespace}/{account}")),
                crate::logical::fields::go_quote(&name)
            )));
        }
        Ok(role.token.renewal())
    }
}
