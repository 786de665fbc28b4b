//! `mainkey status`, and the seal-status output that `operator unseal` shares with it.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::args::{OutputFormat, StatusArgs};
use super::client::{Client, ClientSettings};
use super::output;
use super::{request_error, CliError, Outcome};

/// `sys/seal-status` (and the `sys/unseal` response, which has the same shape). Missing fields
/// take their zero value so that an older or newer server still prints.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct SealStatus {
    #[serde(rename = "type")]
    pub seal_type: String,
    pub initialized: bool,
    pub sealed: bool,
    pub t: u64,
    pub n: u64,
    pub progress: u64,
    pub nonce: String,
    pub version: String,
    pub commit_date: String,
    pub migration: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    pub recovery_seal: bool,
    /// What the recovery keys are (`shamir`) when an auto seal holds the root key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub recovery_seal_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub storage_type: String,
    pub build_date: String,
}

/// The part of `sys/leader` that the status output shows.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Leader {
    pub ha_enabled: bool,
    pub is_self: bool,
    pub active_time: String,
    pub leader_address: String,
    pub leader_cluster_address: String,
}

pub fn run(args: &StatusArgs) -> Result<Outcome, CliError> {
    const CONTEXT: &str = "Error checking seal status";
    let client = connect(&args.client, CONTEXT)?;
    let body = client
        .get("sys/seal-status")
        .map_err(request_error(CONTEXT))?;
    let status = parse_seal_status(&client, "sys/seal-status", body, CONTEXT)?;
    let leader = leader(&client);
    print!("{}", render(&status, &leader, args.output.format));
    Ok(if status.sealed {
        Outcome::Sealed
    } else {
        Outcome::Done
    })
}

pub(crate) fn connect(
    args: &super::args::ClientArgs,
    context: &'static str,
) -> Result<Client, CliError> {
    ClientSettings::resolve(args)
        .and_then(Client::new)
        .map_err(request_error(context))
}

pub(crate) fn parse_seal_status(
    client: &Client,
    path: &str,
    body: Option<Json>,
    context: &'static str,
) -> Result<SealStatus, CliError> {
    let decode = |problem: String| CliError::Request {
        context,
        source: super::client::ClientError::Decode {
            method: "GET",
            url: client.url(path),
            problem,
        },
    };
    let body = body.ok_or_else(|| decode("empty body where a seal status was expected".into()))?;
    serde_json::from_value(body).map_err(|e| decode(format!("not a seal status: {e}")))
}

/// `sys/leader` only adds the HA lines; a server that does not answer it (sealed, or older)
/// is shown as not HA rather than failing the whole command.
pub(crate) fn leader(client: &Client) -> Leader {
    client
        .get("sys/leader")
        .ok()
        .flatten()
        .and_then(|body| serde_json::from_value(body).ok())
        .unwrap_or_default()
}

/// The seal status as a Key/Value table or as JSON, in the Vault CLI's layout.
pub fn render(status: &SealStatus, leader: &Leader, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => output::json(&json_view(status, leader)),
        OutputFormat::Table => output::key_value_table(&rows(status, leader)),
    }
}

fn json_view(status: &SealStatus, leader: &Leader) -> Json {
    let mut view =
        crate::logical::fields::into_map(serde_json::to_value(status).unwrap_or_default());
    view.insert("ha_enabled".into(), Json::Bool(leader.ha_enabled));
    if leader.ha_enabled {
        view.insert("is_self".into(), Json::Bool(leader.is_self));
        view.insert(
            "active_time".into(),
            Json::String(leader.active_time.clone()),
        );
        view.insert(
            "leader_address".into(),
            Json::String(leader.leader_address.clone()),
        );
        view.insert(
            "leader_cluster_address".into(),
            Json::String(leader.leader_cluster_address.clone()),
        );
    }
    Json::Object(view)
}

fn rows(status: &SealStatus, leader: &Leader) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    row("Seal Type", status.seal_type.clone());
    // Under an auto seal the shares are recovery keys, as the Vault CLI says.
    if status.recovery_seal {
        row("Recovery Seal Type", status.recovery_seal_type.clone());
    }
    row("Initialized", status.initialized.to_string());
    row("Sealed", status.sealed.to_string());
    let shares = if status.recovery_seal {
        "Total Recovery Shares"
    } else {
        "Total Shares"
    };
    row(shares, status.n.to_string());
    row("Threshold", status.t.to_string());
    if status.migration {
        row("Seal Migration in Progress", "true".into());
    }
    if status.sealed {
        row(
            "Unseal Progress",
            format!("{}/{}", status.progress, status.t),
        );
        let nonce = if status.nonce.is_empty() {
            "n/a".to_string()
        } else {
            status.nonce.clone()
        };
        row("Unseal Nonce", nonce);
    }
    row("Version", status.version.clone());
    if !status.build_date.is_empty() {
        row("Build Date", status.build_date.clone());
    }
    if !status.commit_date.is_empty() {
        row("Commit Date", status.commit_date.clone());
    }
    if !status.storage_type.is_empty() {
        row("Storage Type", status.storage_type.clone());
    }
    if let Some(name) = &status.cluster_name {
        row("Cluster Name", name.clone());
    }
    if let Some(id) = &status.cluster_id {
        row("Cluster ID", id.clone());
    }
    row("HA Enabled", leader.ha_enabled.to_string());
    if leader.ha_enabled {
        let or_na = |s: &str| {
            if s.is_empty() {
                "n/a".to_string()
            } else {
                s.to_string()
            }
        };
        row("HA Cluster", or_na(&leader.leader_cluster_address));
        row(
            "HA Mode",
            if leader.is_self { "active" } else { "standby" }.to_string(),
        );
        if leader.is_self && !leader.active_time.is_empty() {
            row("Active Since", leader.active_time.clone());
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: Json) -> SealStatus {
        serde_json::from_value(json).expect("a seal status")
    }

    /// `bao status` against a sealed, initialised OpenBao 2.7, byte for byte.
    #[test]
    fn sealed_table_matches_bao() {
        let s = status(serde_json::json!({
            "type": "shamir", "initialized": true, "sealed": true, "t": 2, "n": 3,
            "progress": 0, "nonce": "", "recovery_seal": false, "version": "2.7.2",
            "commit_date": "2026-10-26T20:32:27Z", "migration": false, "storage_type": "inmem"
        }));
        assert_eq!(
            render(&s, &Leader::default(), OutputFormat::Table),
            "Key                Value
---                -----
Seal Type          shamir
Initialized        true
Sealed             true
Total Shares       3
Threshold          2
Unseal Progress    0/2
Unseal Nonce       n/a
Version            2.7.2
Commit Date        2026-10-26T20:32:27Z
Storage Type       inmem
HA Enabled         false
"
        );
    }

    #[test]
    fn unsealed_table_matches_bao() {
        let s = status(serde_json::json!({
            "type": "shamir", "initialized": true, "sealed": false, "t": 2, "n": 3,
            "progress": 0, "nonce": "", "version": "2.7.2",
            "commit_date": "2026-10-26T20:32:27Z", "migration": false,
            "cluster_name": "vault-cluster-a7944795",
            "cluster_id": "7273be69-46b1-c7ee-56eb-2a5ebad34f94",
            "recovery_seal": false, "storage_type": "inmem"
        }));
        assert_eq!(
            render(&s, &Leader::default(), OutputFormat::Table),
            "Key             Value
---             -----
Seal Type       shamir
Initialized     true
Sealed          false
Total Shares    3
Threshold       2
Version         2.7.2
Commit Date     2026-10-26T20:32:27Z
Storage Type    inmem
Cluster Name    vault-cluster-a7944795
Cluster ID      7273be69-46b1-c7ee-56eb-2a5ebad34f94
HA Enabled      false
"
        );
    }

    #[test]
    fn progress_and_nonce_show_while_unsealing() {
        let s = status(serde_json::json!({
            "type": "shamir", "initialized": true, "sealed": true, "t": 3, "n": 5,
            "progress": 1, "nonce": "e3dc9ecc-df7a-9766-8305-cb145f6c614c", "version": "0.1.0"
        }));
        let table = render(&s, &Leader::default(), OutputFormat::Table);
        assert!(table.contains("Unseal Progress    1/3\n"), "{table}");
        assert!(
            table.contains("Unseal Nonce       e3dc9ecc-df7a-9766-8305-cb145f6c614c\n"),
            "{table}"
        );
        assert!(!table.contains("Storage Type"), "{table}");
    }

    #[test]
    fn json_has_bao_keys_and_ha_enabled() {
        let s = status(serde_json::json!({
            "type": "shamir", "initialized": false, "sealed": true, "t": 0, "n": 0,
            "progress": 0, "nonce": "", "version": "2.7.2", "commit_date": "c",
            "migration": false, "recovery_seal": false, "storage_type": "inmem"
        }));
        let out: Json = serde_json::from_str(&render(&s, &Leader::default(), OutputFormat::Json))
            .expect("valid JSON");
        assert_eq!(
            out,
            serde_json::json!({
                "type": "shamir", "initialized": false, "sealed": true, "t": 0, "n": 0,
                "progress": 0, "nonce": "", "version": "2.7.2", "commit_date": "c",
                "migration": false, "recovery_seal": false, "storage_type": "inmem",
                "build_date": "", "ha_enabled": false
            })
        );
    }

    #[test]
    fn ha_lines_appear_only_when_ha_is_enabled() {
        let s = SealStatus {
            seal_type: "shamir".into(),
            initialized: true,
            ..SealStatus::default()
        };
        let leader = Leader {
            ha_enabled: true,
            is_self: true,
            active_time: "2026-01-01T00:00:00Z".into(),
            leader_address: "https://a:8200".into(),
            leader_cluster_address: "https://a:8201".into(),
        };
        let table = render(&s, &leader, OutputFormat::Table);
        assert!(table.contains("HA Mode         active\n"), "{table}");
        assert!(
            table.contains("HA Cluster      https://a:8201\n"),
            "{table}"
        );
    }
}
