"""Who may read the metrics: `sys/metrics` needs a token that may read it, as in Vault
(checked beside a real OpenBao), unless the listener's `telemetry` block sets
`unauthenticated_metrics_access`; `telemetry { metrics_address }` serves `/metrics` apart
from the API. The figures count what happened."""

from __future__ import annotations

import re

import requests

from conftest import TARGET, free_port


def metric_value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_sys_metrics_needs_a_token_that_may_read_it(servers):
    srv = servers.target()
    srv.init_unseal()
    api = srv.api
    # Not `bao server -dev`: its dev listener allows unauthenticated metrics.
    bao = servers.openbao_config(top_extra='telemetry {\n  prometheus_retention_time = "30s"\n  disable_hostname = true\n}')
    bao.init_unseal()
    for s in (srv, bao):
        r = s.api.get("sys/metrics", params={"format": "prometheus"}, token=None)
        assert r.status_code == 403, (s.name, r.status_code, r.text[:200])
        assert r.json()["errors"] == ["permission denied"]
    # A token with `default` only may not; one that may read sys/metrics may.
    for s in (srv, bao):
        plain = s.api.post("auth/token/create", {"policies": ["default"]}).json()["auth"]["client_token"]
        assert s.api.get("sys/metrics", params={"format": "prometheus"}, token=plain).status_code == 403
        assert s.api.put("sys/policy/metrics", {"policy": 'path "sys/metrics" { capabilities = ["read"] }'}).status_code == 204
        reader = s.api.post("auth/token/create", {"policies": ["metrics"]}).json()["auth"]["client_token"]
        r = s.api.get("sys/metrics", params={"format": "prometheus"}, token=reader)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/plain")
    if TARGET != "mainkey":
        return
    text = api.get("sys/metrics", params={"format": "prometheus"}).text
    assert metric_value(text, "mainkey_core_sealed") == 0
    assert metric_value(text, "mainkey_build_info") == 1
    # The refused requests above were counted, by mount and status.
    refused = metric_value(text, "mainkey_core_requests_total", mount="sys/", operation="read", code="403")
    assert refused is not None and refused >= 2, text
    assert api.get("sys/metrics", params={"format": "xml"}).status_code == 400
    js = api.get("sys/metrics").json()
    assert any(g["Name"] == "mainkey_core_sealed" for g in js["Gauges"]), js


def test_an_unauthenticated_listener_and_the_metrics_address(servers):
    if TARGET != "mainkey":
        return
    metrics_port = free_port()
    srv = servers.target(
        listener_extra="  telemetry {\n    unauthenticated_metrics_access = true\n  }",
        top_extra=f'telemetry {{\n  metrics_address = "127.0.0.1:{metrics_port}"\n  disable_hostname = true\n}}',
    )
    # Sealed: the metrics still answer, and say so.
    r = requests.get(f"{srv.api.url}/v1/sys/metrics", params={"format": "prometheus"}, timeout=10)
    assert r.status_code == 200, r.text
    assert metric_value(r.text, "mainkey_core_sealed") == 1
    srv.init_unseal()
    r = requests.get(f"{srv.api.url}/v1/sys/metrics", params={"format": "prometheus"}, timeout=10)
    assert metric_value(r.text, "mainkey_core_sealed") == 0
    # Other spellings are not the unauthenticated path: the core asks for a token.
    assert requests.get(f"{srv.api.url}/v1/sys//metrics", timeout=10).status_code in (400, 403, 404)
    assert requests.post(f"{srv.api.url}/v1/sys/metrics", timeout=10).status_code == 403

    m = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
    assert m.status_code == 200
    assert re.search(r'^mainkey_build_info\{revision="[^"]+",version="[^"]+"\} 1$', m.text, re.M), m.text[:500]
    assert metric_value(m.text, "mainkey_tokens") >= 1  # the root token
