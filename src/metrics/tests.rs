use super::*;

#[test]
fn the_tenant_label_is_capped_per_route_and_kept_once_given() {
    let labels = TenantLabels::default();
    for i in 0..tenants::MAX_TENANTS_PER_ROUTE {
        assert_eq!(labels.label("shop", &format!("t{i}")), format!("t{i}"));
    }
    assert_eq!(labels.label("shop", "one-too-many"), OTHER_TENANTS);
    assert_eq!(labels.label("shop", "t0"), "t0", "a given label stays");
    assert_eq!(labels.label("other-route", "one-too-many"), "one-too-many");
    assert_eq!(labels.label("shop", ""), "");
}

#[test]
fn the_rendered_text_has_every_family_and_counts_what_happened() {
    let m = metrics();
    m.cache_lookup(Cache::Decision, true);
    m.cache_lookup(Cache::Decision, false);
    m.gateway_decision("render-test", "acme", GatewayOutcome::RateLimited, 0.001);
    let text = render();
    for family in [
        "mainkey_build_info",
        "mainkey_core_sealed",
        "mainkey_cache_requests_total",
        "mainkey_storage_commit_duration_seconds",
        "mainkey_tokens",
        "mainkey_gateway_decisions_total",
        "mainkey_gateway_decision_duration_seconds",
        "mainkey_gateway_rate_limited_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family}\n{text}"
        );
    }
    assert!(text.contains(
        "mainkey_gateway_decisions_total{outcome=\"rate_limited\",route=\"render-test\",tenant=\"acme\"} 1"
    ), "{text}");
    assert!(text.contains("mainkey_gateway_rate_limited_total{route=\"render-test\"} 1"));
    assert!(text.contains(&format!(
        "mainkey_build_info{{revision=\"{}\",version=\"{}\"}} 1",
        env!("MAINKEY_REVISION"),
        env!("CARGO_PKG_VERSION")
    )));
}
