//! mainkey's Prometheus metrics and their names.
//!
//! Every metric is registered in the `prometheus` crate's process-wide default registry: the
//! one that `pingora-prometheus` serves on the metrics listener, and the one that
//! `sys/metrics?format=prometheus` renders. pingora's own metrics, if a pingora module adds
//! any, land in the same registry through the same crate version (`cargo tree -d` shows one
//! `prometheus`).
//!
//! Label values are bounded: mounts and routes come from configuration, operations and
//! outcomes are fixed sets, and tenants are capped per route (see [`TenantLabels`]), because
//! a tenant name comes from a request and an attacker could otherwise grow the registry
//! without end.

mod tenants;

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, TextEncoder,
};

pub use tenants::{TenantLabels, OTHER_TENANTS};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets, in seconds, from 50 µs (a cached read) to 10 s (a stalled commit).
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// The caches whose hits and misses are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// The barrier's cache of decrypted entries.
    Barrier,
    /// The token store's cache of token entries.
    Token,
    /// The core's cache of built ACLs.
    Acl,
    /// The gateway's cache of decisions.
    Decision,
}

impl Cache {
    const ALL: [Cache; 4] = [Cache::Barrier, Cache::Token, Cache::Acl, Cache::Decision];

    fn label(self) -> &'static str {
        match self {
            Cache::Barrier => "barrier",
            Cache::Token => "token",
            Cache::Acl => "acl",
            Cache::Decision => "decision",
        }
    }
}

/// How a gateway check ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayOutcome {
    Allow,
    Unauthenticated,
    Forbidden,
    RateLimited,
    Error,
}

impl GatewayOutcome {
    pub fn label(self) -> &'static str {
        match self {
            GatewayOutcome::Allow => "allow",
            GatewayOutcome::Unauthenticated => "unauthenticated",
            GatewayOutcome::Forbidden => "forbidden",
            GatewayOutcome::RateLimited => "rate_limited",
            GatewayOutcome::Error => "error",
        }
    }
}

/// Every metric mainkey exports.
pub struct Metrics {
    /// `mainkey_core_requests_total{mount,operation,code}`.
    pub requests: IntCounterVec,
    /// `mainkey_core_request_duration_seconds{mount,operation}`.
    pub request_duration: HistogramVec,
    /// `mainkey_gateway_decisions_total{route,tenant,outcome}`.
    pub gateway_decisions: IntCounterVec,
    /// `mainkey_gateway_decision_duration_seconds{route}`.
    pub gateway_duration: HistogramVec,
    /// `mainkey_gateway_rate_limited_total{route}`.
    pub rate_limited: IntCounterVec,
    /// The tenants that get a label of their own.
    pub tenants: TenantLabels,
    /// `mainkey_cache_requests_total{cache,result}`, one pair of counters per cache, made
    /// once so a hit costs one atomic add.
    caches: Vec<(IntCounter, IntCounter)>,
    /// `mainkey_core_sealed`: 1 while sealed.
    pub sealed: IntGauge,
    /// `mainkey_storage_commit_duration_seconds`: one durable commit, which may hold many
    /// writes.
    pub commit_duration: Histogram,
    /// `mainkey_tokens`: tokens in the token store, expired ones not yet swept included.
    pub tokens: IntGauge,
    /// `mainkey_audit_entries_total{device}`.
    pub audit_entries: IntCounterVec,
    /// `mainkey_audit_failures_total{device}`.
    pub audit_failures: IntCounterVec,
}

/// The metrics, registered on first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::register);
    &METRICS
}

impl Metrics {
    fn register() -> Metrics {
        let registry = prometheus::default_registry();
        // Registration fails only for a name registered twice or an invalid name, both
        // programming errors caught by the first test that touches metrics.
        fn reg<M: prometheus::core::Collector + Clone + 'static>(
            registry: &prometheus::Registry,
            m: M,
        ) -> M {
            registry
                .register(Box::new(m.clone()))
                .unwrap_or_else(|e| panic!("registering a metric: {e}"));
            m
        }
        let counter = |name: &str, help: &str, labels: &[&str]| {
            reg(
                registry,
                IntCounterVec::new(Opts::new(name, help), labels)
                    .unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            reg(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                    labels,
                )
                .unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        };
        let gauge = |name: &str, help: &str| {
            reg(
                registry,
                IntGauge::new(name, help).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        };

        let build_info = reg(
            registry,
            IntGaugeVec::new(
                Opts::new(
                    "mainkey_build_info",
                    "The running mainkey's version; always 1.",
                ),
                &["version", "revision"],
            )
            .unwrap_or_else(|e| panic!("mainkey_build_info: {e}")),
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("MAINKEY_REVISION")])
            .set(1);

        let cache_requests = counter(
            "mainkey_cache_requests_total",
            "Cache lookups by cache and result (hit or miss).",
            &["cache", "result"],
        );
        let caches = Cache::ALL
            .iter()
            .map(|c| {
                (
                    cache_requests.with_label_values(&[c.label(), "hit"]),
                    cache_requests.with_label_values(&[c.label(), "miss"]),
                )
            })
            .collect();

        let sealed = gauge("mainkey_core_sealed", "1 while the core is sealed, else 0.");
        sealed.set(1);

        Metrics {
            requests: counter(
                "mainkey_core_requests_total",
                "Requests to /v1 by mount, operation and HTTP status code.",
                &["mount", "operation", "code"],
            ),
            request_duration: histogram(
                "mainkey_core_request_duration_seconds",
                "Time in the core per /v1 request, by mount and operation.",
                &["mount", "operation"],
            ),
            gateway_decisions: counter(
                "mainkey_gateway_decisions_total",
                "Gateway checks by route, tenant and outcome.",
                &["route", "tenant", "outcome"],
            ),
            gateway_duration: histogram(
                "mainkey_gateway_decision_duration_seconds",
                "Time to decide one gateway check, by route.",
                &["route"],
            ),
            rate_limited: counter(
                "mainkey_gateway_rate_limited_total",
                "Gateway checks refused with 429, by route.",
                &["route"],
            ),
            tenants: TenantLabels::default(),
            caches,
            sealed,
            commit_duration: reg(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "mainkey_storage_commit_duration_seconds",
                        "Time of one durable storage commit (fsync included).",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                )
                .unwrap_or_else(|e| panic!("mainkey_storage_commit_duration_seconds: {e}")),
            ),
            tokens: gauge("mainkey_tokens", "Tokens in the token store."),
            audit_entries: counter(
                "mainkey_audit_entries_total",
                "Audit entries written, by device.",
                &["device"],
            ),
            audit_failures: counter(
                "mainkey_audit_failures_total",
                "Audit entries a device failed to write, by device.",
                &["device"],
            ),
        }
    }

    /// Counts one lookup of `cache`.
    pub fn cache_lookup(&self, cache: Cache, hit: bool) {
        let (hits, misses) = &self.caches[cache as usize];
        if hit {
            hits.inc()
        } else {
            misses.inc()
        }
    }

    /// Counts one gateway check of `route`; `tenant` is empty when none was found.
    pub fn gateway_decision(
        &self,
        route: &str,
        tenant: &str,
        outcome: GatewayOutcome,
        seconds: f64,
    ) {
        let tenant = self.tenants.label(route, tenant);
        self.gateway_decisions
            .with_label_values(&[route, tenant.as_ref(), outcome.label()])
            .inc();
        self.gateway_duration
            .with_label_values(&[route])
            .observe(seconds);
        if outcome == GatewayOutcome::RateLimited {
            self.rate_limited.with_label_values(&[route]).inc();
        }
    }
}

/// The answer to `sys/metrics` with `format` (from its query): the text exposition format for
/// `prometheus`, JSON for none. The one place that turns the registry into a response, for
/// the core's `sys/metrics` and a listener that serves it without a token.
pub fn answer(format: Option<&str>) -> Result<crate::logical::Response, crate::logical::Error> {
    use crate::logical::{Error, Response};
    match format {
        Some("prometheus") => Ok(Response::text(CONTENT_TYPE, render())),
        None | Some("") => Ok(Response::raw(200, render_json())),
        Some(other) => Err(Error::bad_request(format!(
            "unsupported metrics format \"{other}\"; use \"prometheus\" or none"
        ))),
    }
}

/// Every metric in the default registry, in the text exposition format.
pub fn render() -> String {
    metrics();
    let mut out = Vec::new();
    // Encoding into a Vec fails only on a metric family with no name, which cannot be
    // registered.
    let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Every metric as JSON, in the shape of Vault's default `sys/metrics` answer: `Gauges`,
/// `Counters` and `Samples` (histograms), each with its name, labels and values.
pub fn render_json() -> serde_json::Value {
    use prometheus::proto::MetricType;
    use serde_json::json;
    metrics();
    let (mut gauges, mut counters, mut samples) = (Vec::new(), Vec::new(), Vec::new());
    for family in prometheus::gather() {
        let name = family.name();
        for m in family.get_metric() {
            let labels: serde_json::Map<String, serde_json::Value> = m
                .get_label()
                .iter()
                .map(|l| (l.name().to_string(), l.value().into()))
                .collect();
            match family.get_field_type() {
                MetricType::GAUGE => gauges.push(json!({
                    "Name": name, "Value": m.get_gauge().value(), "Labels": labels,
                })),
                MetricType::COUNTER => counters.push(json!({
                    "Name": name, "Count": m.get_counter().value(), "Labels": labels,
                })),
                MetricType::HISTOGRAM => {
                    let h = m.get_histogram();
                    samples.push(json!({
                        "Name": name,
                        "Count": h.get_sample_count(),
                        "Sum": h.get_sample_sum(),
                        "Labels": labels,
                    }))
                }
                _ => {}
            }
        }
    }
    json!({
        "Timestamp": crate::clock::rfc3339(std::time::SystemTime::now()),
        "Gauges": gauges,
        "Counters": counters,
        "Samples": samples,
    })
}

#[cfg(test)]
mod tests;
