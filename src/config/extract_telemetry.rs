//! The logging and telemetry keys: `log_level`, `log_format`, the top-level `telemetry`
//! block and a listener's `telemetry` block.

use super::extract::At;
use super::tree::{Body, Content, Item, Value};
use super::types::{LogFormat, LogLevel, TelemetryConfig};
use super::{values, ConfigError};

/// Vault's top-level `telemetry` keys for sinks mainkey does not have; accepted and ignored,
/// so a Vault config keeps working. None of them affects security.
const IGNORED_TELEMETRY_KEYS: &[&str] = &[
    "add_lease_metrics_namespace_labels",
    "circonus_api_app",
    "circonus_api_token",
    "circonus_api_url",
    "circonus_broker_id",
    "circonus_broker_select_tag",
    "circonus_check_display_name",
    "circonus_check_force_metric_activation",
    "circonus_check_id",
    "circonus_check_instance_id",
    "circonus_check_search_tag",
    "circonus_check_tags",
    "circonus_submission_interval",
    "circonus_submission_url",
    "disable_hostname",
    "dogstatsd_addr",
    "dogstatsd_tags",
    "enable_hostname_label",
    "filter_default",
    "lease_metrics_epsilon",
    "maximum_gauge_cardinality",
    "metrics_prefix",
    "num_lease_metrics_buckets",
    "prefix_filter",
    "prometheus_retention_time",
    "stackdriver_debug_logs",
    "stackdriver_location",
    "stackdriver_namespace",
    "stackdriver_project_id",
    "statsd_address",
    "statsite_address",
    "usage_gauge_period",
];

pub(super) fn log_level(value: &Value) -> Result<LogLevel, String> {
    let text = values::string(value)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "trace" => Ok(LogLevel::Trace),
        "debug" => Ok(LogLevel::Debug),
        "info" | "" => Ok(LogLevel::Info),
        "warn" | "warning" => Ok(LogLevel::Warn),
        "err" | "error" => Ok(LogLevel::Error),
        _ => Err(format!(
            "expected one of \"trace\", \"debug\", \"info\", \"warn\", \"error\"; got {text:?}"
        )),
    }
}

pub(super) fn log_format(value: &Value) -> Result<LogFormat, String> {
    let text = values::string(value)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "standard" | "pretty" | "" => Ok(LogFormat::Standard),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("expected \"standard\" or \"json\"; got {text:?}")),
    }
}

/// The body of a block without a label, or an error naming `item`.
fn body_of<'b>(at: &At<'_>, item: &'b Item) -> Result<&'b Body, ConfigError> {
    match &item.content {
        Content::Block(body) if item.labels.is_empty() => Ok(body),
        Content::Block(_) => Err(at.error(
            Some(&item.key),
            format!("expected no label, as in {} {{ ... }}", item.key),
        )),
        Content::Value(_) => Err(at.error(
            Some(&item.key),
            format!("expected a block {} {{ ... }}, got a value", item.key),
        )),
    }
}

/// The top-level `telemetry { ... }`.
pub(super) fn telemetry(top: &At<'_>, item: &Item) -> Result<TelemetryConfig, ConfigError> {
    let body = body_of(top, item)?;
    let at = top.child("telemetry");
    let mut telemetry = TelemetryConfig::default();
    for item in &body.items {
        match item.key.as_str() {
            "metrics_address" => {
                let address = at.convert(item, super::extract::listen_address)?;
                telemetry.metrics_address = Some(address);
            }
            "unauthenticated_metrics_access" => {
                return Err(at.error(
                    Some(&item.key),
                    "belongs in a listener's telemetry block, as in Vault: listener \"tcp\" { telemetry { unauthenticated_metrics_access = true } }",
                ))
            }
            key if IGNORED_TELEMETRY_KEYS.contains(&key) => {}
            key => return Err(at.error(Some(key), "unknown key")),
        }
    }
    Ok(telemetry)
}

/// A listener's `telemetry { unauthenticated_metrics_access = ... }`; returns that flag.
pub(super) fn listener_telemetry(at: &At<'_>, item: &Item) -> Result<bool, ConfigError> {
    let body = body_of(at, item)?;
    let at = at.child("telemetry");
    let mut unauthenticated = false;
    for item in &body.items {
        match item.key.as_str() {
            "unauthenticated_metrics_access" => {
                unauthenticated = at.convert(item, values::boolean)?;
            }
            // Vault's other listener telemetry keys concern its in-memory sink.
            "metrics_only" | "prometheus_retention_time" => {}
            key => return Err(at.error(Some(key), "unknown key")),
        }
    }
    Ok(unauthenticated)
}
