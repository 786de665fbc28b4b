"""The Grafana dashboards (dashboards/*.json) and the Prometheus files (deploy/prometheus/),
checked three ways:

- as files: every dashboard is Grafana JSON with a unique uid and title, a DS_PROMETHEUS
  datasource variable, panels that each query it and that do not overlap on the grid;
- with promtool (Debian package `prometheus`): the alert rules and the scrape config load,
  every dashboard query parses as PromQL, and the alerts fire when they should and not
  otherwise (`promtool test rules`);
- against the real server: mainkey, after a KV write and read, a userpass login, forward-auth
  decisions (200, 401, 403, 429) and with a file audit device, serves
  /v1/sys/metrics?format=prometheus that `promtool check metrics` accepts, and that has a
  `# TYPE` line for every metric the dashboards and alerts use.

promtool missing: the tests that need it fail when CI is set, and are skipped otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import gateway_env as g
from conftest import REPO, TARGET

DASHBOARDS = REPO / "dashboards"
PROM = REPO / "deploy" / "prometheus"
ALERTS = PROM / "alerts.yml"
PROMETHEUS_YML = PROM / "prometheus.yml"
DASHBOARD_FILES = ["overview.json", "gateway.json", "storage_audit.json"]
ALERT_NAMES = {"MainkeySealed", "MainkeyAuditFailures", "MainkeyHigh5xx", "MainkeyDown"}
# The placeholder in prometheus.yml that a deployment (and these tests) replace.
TOKEN_FILE_PLACEHOLDER = "/etc/prometheus/mainkey-token"
SCRAPE_JOB = "mainkey"

# What mainkey exports (issue 10): name -> (type, labels).
CONTRACT: dict[str, tuple[str, set[str]]] = {
    "mainkey_build_info": ("gauge", {"version", "revision"}),
    "mainkey_core_sealed": ("gauge", set()),
    "mainkey_core_requests_total": ("counter", {"mount", "operation", "code"}),
    "mainkey_core_request_duration_seconds": ("histogram", {"mount", "operation"}),
    "mainkey_gateway_decisions_total": ("counter", {"route", "tenant", "outcome"}),
    "mainkey_gateway_decision_duration_seconds": ("histogram", {"route"}),
    "mainkey_gateway_rate_limited_total": ("counter", {"route"}),
    "mainkey_cache_requests_total": ("counter", {"cache", "result"}),
    "mainkey_storage_commit_duration_seconds": ("histogram", set()),
    "mainkey_tokens": ("gauge", set()),
    "mainkey_audit_entries_total": ("counter", {"device"}),
    "mainkey_audit_failures_total": ("counter", {"device"}),
}
# The values the contract fixes for some labels.
LABEL_VALUES = {
    "outcome": {"allow", "unauthenticated", "forbidden", "rate_limited", "error"},
    "cache": {"barrier", "token", "acl", "decision"},
    "result": {"hit", "miss"},
}
# Labels Prometheus adds to every series it scrapes, and the histogram bucket label.
TARGET_LABELS = {"instance", "job"}
HIST_SUFFIXES = ("_bucket", "_sum", "_count")

NAME_RE = re.compile(r"(?<![A-Za-z0-9_:])mainkey_[a-z0-9_]+")


# ================================================================ helpers


def need_tool(name: str) -> str:
    """The path of a Prometheus tool; missing: a failure under CI, a skip otherwise."""
    path = shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/usr/local/bin/{name}") if os.access(p, os.X_OK)), None)
    if path:
        return path
    msg = f"{name} not found: apt-get install prometheus (Debian's package has prometheus and promtool)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)
    raise AssertionError  # unreachable


def run(argv: list[str], stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)


def load_dashboard(name: str) -> dict:
    return json.loads((DASHBOARDS / name).read_text())


def dashboard_exprs(d: dict) -> list[tuple[str, str]]:
    """(where, expr) for every panel target."""
    return [
        (f"panel {p.get('id')} {p.get('title')!r} target {t.get('refId')}", t.get("expr", ""))
        for p in d.get("panels", [])
        for t in p.get("targets", [])
    ]


def template_queries(d: dict) -> list[tuple[str, str]]:
    out = []
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            out.append((f"variable {v.get('name')}", q.get("query", "") if isinstance(q, dict) else str(q)))
    return out


def grafana_to_promql(expr: str) -> str:
    """A dashboard query as Prometheus would get it, Grafana's variables substituted."""
    expr = re.sub(r"\$__rate_interval|\$__interval|\$__range", "5m", expr)
    expr = re.sub(r"\$\{instance(:[a-z]+)?\}|\$instance\b", ".*", expr)
    return expr


def alert_rules(text: str) -> dict[str, str]:
    """alert name -> expr, from the rules file (inline `expr:` or a `|`/`>` block). The file is
    promtool-checked and the count cross-checked, so this small reader cannot silently skip one."""
    lines = text.splitlines()
    rules: dict[str, str] = {}
    cur = None
    i = 0
    while i < len(lines):
        m = re.match(r"\s*- alert:\s*(\S+)\s*$", lines[i])
        if m:
            cur = m.group(1)
            i += 1
            continue
        m = re.match(r"(\s*)expr:\s*(.*?)\s*$", lines[i])
        if m and cur is not None:
            indent, rest = len(m.group(1)), m.group(2)
            i += 1
            if rest in ("|", "|-", ">", ">-"):
                body = []
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i].strip())
                    i += 1
                rest = " ".join(b for b in body if b)
            rules[cur] = rest.strip("'\"") if rest[:1] in "'\"" and rest[-1:] == rest[:1] else rest
            cur = None
            continue
        i += 1
    return rules


def all_queries() -> list[tuple[str, str]]:
    """(where, PromQL or label_values query) for every dashboard target, variable and alert."""
    out = []
    for name in DASHBOARD_FILES:
        d = load_dashboard(name)
        out += [(f"{name} {w}", e) for w, e in dashboard_exprs(d) + template_queries(d)]
    out += [(f"alerts.yml {n}", e) for n, e in alert_rules(ALERTS.read_text()).items()]
    return out


def base_name(name: str, types: dict[str, str]) -> str:
    """The family a series name belongs to: a histogram's _bucket/_sum/_count are its own."""
    for suffix in HIST_SUFFIXES:
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return name


CONTRACT_TYPES = {n: t for n, (t, _) in CONTRACT.items()}


def used_names() -> dict[str, list[str]]:
    """Every mainkey_* identifier in every query -> where it is used."""
    used: dict[str, list[str]] = {}
    for where, expr in all_queries():
        for n in NAME_RE.findall(expr):
            used.setdefault(n, []).append(where)
    return used


# ================================================================ 4a: the dashboard files


def test_readme_lists_every_dashboard_and_no_other_json_exists():
    readme = (DASHBOARDS / "README.md").read_text()
    present = sorted(p.name for p in DASHBOARDS.glob("*.json"))
    assert present == sorted(DASHBOARD_FILES), f"dashboards/ holds {present}; this test knows {DASHBOARD_FILES}"
    for name in DASHBOARD_FILES:
        assert name in readme, f"dashboards/README.md does not list {name}"


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboard_is_grafana_json_on_the_prometheus_variable(name):
    d = load_dashboard(name)  # a JSONDecodeError fails the test with its line and column
    assert isinstance(d.get("uid"), str) and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d["uid"]), f"uid {d.get('uid')!r}"
    assert isinstance(d.get("title"), str) and d["title"].strip(), "no title"
    assert isinstance(d.get("schemaVersion"), int) and 36 <= d["schemaVersion"] <= 41, d.get("schemaVersion")
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    assert ds and ds.get("type") == "datasource" and ds.get("query") == "prometheus", f"no DS_PROMETHEUS datasource variable: {ds}"
    panels = d.get("panels")
    assert isinstance(panels, list) and panels, "no panels"
    ids = [p.get("id") for p in panels]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) for i in ids), f"panel ids {ids}"
    for p in panels:
        where = f"{name} panel {p.get('id')} {p.get('title')!r}"
        assert p.get("title"), f"{where}: no title"
        assert p.get("type") in ("timeseries", "stat", "gauge", "bargauge", "table", "text", "heatmap"), f"{where}: type {p.get('type')!r}"
        dsp = p.get("datasource")
        assert isinstance(dsp, dict) and dsp.get("type") == "prometheus" and dsp.get("uid") == "${DS_PROMETHEUS}", f"{where}: datasource {dsp}"
        targets = p.get("targets")
        assert isinstance(targets, list) and targets, f"{where}: no targets"
        refs = [t.get("refId") for t in targets]
        assert all(refs) and len(set(refs)) == len(refs), f"{where}: refIds {refs}"
        for t in targets:
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), f"{where}: target {t.get('refId')} has no expr"
            if "datasource" in t:
                assert t["datasource"] == dsp, f"{where}: target {t.get('refId')} queries {t['datasource']}"
        gp = p.get("gridPos")
        assert isinstance(gp, dict) and all(isinstance(gp.get(k), int) for k in "hwxy"), f"{where}: gridPos {gp}"
        assert gp["w"] > 0 and gp["h"] > 0 and gp["x"] >= 0 and gp["y"] >= 0 and gp["x"] + gp["w"] <= 24, f"{where}: gridPos {gp}"
    # Every query variable queries the same datasource, and every $variable a query uses exists.
    for v in variables.values():
        if v.get("type") == "query":
            assert v.get("datasource") == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, f"variable {v.get('name')}: {v.get('datasource')}"
    builtin = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}
    for where, expr in dashboard_exprs(d):
        for var in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", expr):
            assert var in builtin or var in variables, f"{name} {where}: ${var} is not a variable of the dashboard"


def test_uids_and_titles_are_unique():
    ds = {name: load_dashboard(name) for name in DASHBOARD_FILES}
    uids = [d["uid"] for d in ds.values()]
    titles = [d["title"] for d in ds.values()]
    assert len(set(uids)) == len(uids), f"uids {uids}"
    assert len(set(titles)) == len(titles), f"titles {titles}"


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_no_two_panels_overlap(name):
    boxes = [(p["id"], p["title"], p["gridPos"]) for p in load_dashboard(name)["panels"]]
    for i, (ia, ta, a) in enumerate(boxes):
        for ib, tb, b in boxes[i + 1 :]:
            apart = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
            assert apart, f"{name}: panel {ia} {ta!r} {a} overlaps panel {ib} {tb!r} {b}"


def test_every_metric_used_is_in_the_contract_and_every_family_is_charted():
    used = used_names()
    for n, where in sorted(used.items()):
        base = base_name(n, CONTRACT_TYPES)
        assert base in CONTRACT, f"{n} (in {where[0]}) is not a metric mainkey exports"
        if base != n:
            assert CONTRACT[base][0] == "histogram", f"{n}: {base} is a {CONTRACT[base][0]}, it has no {n[len(base):]}"
        else:
            assert CONTRACT[n][0] != "histogram", f"{n} (in {where[0]}) is a histogram: query its _bucket, _sum or _count"
    charted = {base_name(n, CONTRACT_TYPES) for n in used}
    assert set(CONTRACT) - charted == set(), f"no dashboard or alert uses {sorted(set(CONTRACT) - charted)}"


def test_label_matchers_and_groupings_use_the_metrics_labels():
    """`{label="value"}` and `by (label, ...)` name labels that the expression's metrics carry,
    and the values the contract fixes (outcome, cache, result) are spelled as it spells them."""
    for where, expr in all_queries():
        if expr.startswith("label_values("):
            continue
        bases = {base_name(n, CONTRACT_TYPES) for n in NAME_RE.findall(expr)}
        known = set(TARGET_LABELS)
        for b in bases:
            known |= CONTRACT.get(b, ("", set()))[1]
            if CONTRACT.get(b, ("",))[0] == "histogram":
                known.add("le")
        for label, op, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"', expr):
            assert label in known, f"{where}: matcher on {label!r}, which {sorted(bases)} do not have"
            if label in LABEL_VALUES and op in ("=", "!="):
                assert value in LABEL_VALUES[label], f"{where}: {label}={value!r}; the contract's values are {sorted(LABEL_VALUES[label])}"
            if label == "code" and op in ("=", "!="):
                assert re.fullmatch(r"[1-5][0-9][0-9]", value), f"{where}: code={value!r} is not an HTTP status"
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            for label in (x.strip() for x in group.split(",")):
                assert label in known, f"{where}: grouping by {label!r}, which {sorted(bases)} do not have"


# ================================================================ 4b: promtool


def test_promtool_checks_the_alert_rules():
    promtool = need_tool("promtool")
    r = run([promtool, "check", "rules", str(ALERTS)])
    assert r.returncode == 0, f"promtool check rules: {r.returncode}\n{r.stdout}{r.stderr}"
    rules = alert_rules(ALERTS.read_text())
    assert set(rules) == ALERT_NAMES, f"alerts.yml has {sorted(rules)}"
    assert f"SUCCESS: {len(rules)} rules found" in r.stdout, f"promtool found another number of rules than {len(rules)}:\n{r.stdout}"
    text = ALERTS.read_text()
    for name in ALERT_NAMES:
        block = text.split(f"- alert: {name}", 1)[1].split("- alert:", 1)[0]
        for key in ("for:", "severity:", "summary:", "description:"):
            assert key in block, f"{name} has no {key}"


def test_promtool_checks_the_scrape_config(tmp_path):
    promtool = need_tool("promtool")
    text = PROMETHEUS_YML.read_text()
    assert TOKEN_FILE_PLACEHOLDER in text, f"prometheus.yml no longer names {TOKEN_FILE_PLACEHOLDER}: update this test with it"
    for needle in (f"job_name: {SCRAPE_JOB}", "metrics_path: /v1/sys/metrics", "format: [prometheus]", "credentials_file:", "rule_files:", "- alerts.yml"):
        assert needle in text, f"prometheus.yml lacks {needle!r}"
    token = tmp_path / "token"
    token.write_text("s.not-a-real-token\n")
    (tmp_path / "prometheus.yml").write_text(text.replace(TOKEN_FILE_PLACEHOLDER, str(token)))
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    r = run([promtool, "check", "config", str(tmp_path / "prometheus.yml")])
    assert r.returncode == 0, f"promtool check config: {r.returncode}\n{r.stdout}{r.stderr}"
    assert "1 rule files found" in r.stdout, f"alerts.yml was not loaded through rule_files:\n{r.stdout}"
    # And the check can fail: a token file that does not exist is an error.
    token.unlink()
    r = run([promtool, "check", "config", str(tmp_path / "prometheus.yml")])
    assert r.returncode != 0, f"promtool accepted a missing credentials_file:\n{r.stdout}{r.stderr}"


def test_every_dashboard_query_parses_as_promql(tmp_path):
    """Each panel's query, Grafana's variables substituted, as a recording rule: promtool
    parses every expression."""
    promtool = need_tool("promtool")
    rules = []
    for name in DASHBOARD_FILES:
        stem = Path(name).stem
        for p in load_dashboard(name)["panels"]:
            for t in p["targets"]:
                rules.append({"record": f"dashboard:{stem}:panel{p['id']}_{t['refId']}", "expr": grafana_to_promql(t["expr"])})
    assert rules
    for rule in rules:
        assert "$" not in rule["expr"], f"{rule['record']}: unsubstituted variable in {rule['expr']}"
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}, indent=1))  # JSON is YAML
    r = run([promtool, "check", "rules", str(path)])
    assert r.returncode == 0, f"a dashboard query does not parse:\n{r.stdout}{r.stderr}"
    assert f"SUCCESS: {len(rules)} rules found" in r.stdout, r.stdout


def _series(name: str, labels: dict[str, str], values: str) -> dict:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


def _alerts(name: str, state: str, at: str, firing: list[dict[str, str]]) -> dict:
    samples = []
    for labels in firing:
        all_labels = {"alertname": name, "alertstate": state, **labels}
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(all_labels.items()))
        samples.append({"labels": f"ALERTS{{{inner}}}", "value": 1})
    return {"expr": f'ALERTS{{alertname="{name}",alertstate="{state}"}}', "eval_time": at, "exp_samples": samples}


def test_the_alerts_fire_when_they_should_and_not_otherwise(tmp_path):
    """`promtool test rules` on alerts.yml: synthetic series, and which alerts are pending or
    firing at which minute."""
    promtool = need_tool("promtool")
    req = "mainkey_core_requests_total"
    tests = [
        {
            # a: 6 % 5xx (fires after `for: 5m`); b: 4 % (never); c: no traffic (never, no division by zero alert).
            "interval": "1m",
            "input_series": [
                _series(req, {"instance": "a", "code": "500", "mount": "secret/", "operation": "read"}, "0+6x30"),
                _series(req, {"instance": "a", "code": "200", "mount": "secret/", "operation": "read"}, "0+94x30"),
                _series(req, {"instance": "b", "code": "503", "mount": "secret/", "operation": "read"}, "0+4x30"),
                _series(req, {"instance": "b", "code": "200", "mount": "secret/", "operation": "read"}, "0+96x30"),
                _series(req, {"instance": "c", "code": "200", "mount": "secret/", "operation": "read"}, "5x30"),
            ],
            "promql_expr_test": [
                _alerts("MainkeyHigh5xx", "pending", "3m", [{"instance": "a", "severity": "warning"}]),
                _alerts("MainkeyHigh5xx", "firing", "3m", []),
                _alerts("MainkeyHigh5xx", "firing", "12m", [{"instance": "a", "severity": "warning"}]),
                _alerts("MainkeyHigh5xx", "pending", "12m", []),
            ],
        },
        {
            # a sealed from the start, b unsealed, c sealed for under a minute.
            "interval": "15s",
            "input_series": [
                _series("mainkey_core_sealed", {"instance": "a", "job": "mainkey"}, "1x20"),
                _series("mainkey_core_sealed", {"instance": "b", "job": "mainkey"}, "0x20"),
                _series("mainkey_core_sealed", {"instance": "c", "job": "mainkey"}, "0 1 1 0 0 0 0 0 0 0 0 0"),
            ],
            "promql_expr_test": [
                _alerts("MainkeySealed", "firing", "2m", [{"instance": "a", "job": "mainkey", "severity": "critical"}]),
            ],
        },
        {
            # a's scrapes fail, b's succeed, another job's failures are not mainkey's.
            "interval": "15s",
            "input_series": [
                _series("up", {"instance": "a", "job": "mainkey"}, "0x20"),
                _series("up", {"instance": "b", "job": "mainkey"}, "1x20"),
                _series("up", {"instance": "x", "job": "node"}, "0x20"),
            ],
            "promql_expr_test": [
                _alerts("MainkeyDown", "pending", "30s", [{"instance": "a", "job": "mainkey", "severity": "critical"}]),
                _alerts("MainkeyDown", "firing", "2m", [{"instance": "a", "job": "mainkey", "severity": "critical"}]),
            ],
        },
        {
            # file/ fails once at minute 5; other/ has old failures and no new ones.
            "interval": "1m",
            "input_series": [
                _series("mainkey_audit_failures_total", {"instance": "a", "device": "file/"}, "0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
                _series("mainkey_audit_failures_total", {"instance": "a", "device": "other/"}, "7x20"),
            ],
            "promql_expr_test": [
                _alerts("MainkeyAuditFailures", "firing", "4m", []),
                _alerts("MainkeyAuditFailures", "firing", "6m", [{"instance": "a", "device": "file/", "severity": "critical"}]),
                _alerts("MainkeyAuditFailures", "firing", "15m", []),
            ],
        },
    ]
    path = tmp_path / "alerts.test.yml"
    path.write_text(json.dumps({"rule_files": [str(ALERTS)], "evaluation_interval": "15s", "tests": tests}, indent=1))
    r = run([promtool, "test", "rules", str(path)])
    assert r.returncode == 0, f"promtool test rules: {r.returncode}\n{r.stdout}{r.stderr}"


# ================================================================ 4c/4d: the real server

# A route whose limit is one request a minute: the second decision is a 429.
TINY_ROUTE = """
route "tiny" {
  path_prefix = "/tiny/"
  upstream    = "http://127.0.0.1:@ECHO@"
  tenant      = "path.segment.1"
  require {
    capability = "read"
    path       = "secret/data/tenant/{{tenant}}/shopify"
  }
  rate_limit {
    per   = "tenant"
    rpm   = 1
    burst = 1
  }
}
"""


def parse_exposition(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """({family: type} from the `# TYPE` lines, [(series name, labels, value)])."""
    types: dict[str, str] = {}
    samples = []
    label_re = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(None, 3)
            types[name] = typ.strip()
            continue
        if not line.strip() or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)", line)
        assert m, f"not a sample line: {line!r}"
        labels = dict(label_re.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples


class Scrape:
    def __init__(self, env: g.GatewayEnv, response, audit_log: Path):
        self.audit_enable = None
        self.env = env
        self.response = response
        self.text = response.text
        self.audit_log = audit_log
        self.types, self.samples = parse_exposition(self.text) if response.status_code == 200 else ({}, [])

    def series(self, family: str) -> list[tuple[str, dict[str, str], float]]:
        return [s for s in self.samples if s[0] == family or (s[0].startswith(family) and s[0][len(family) :] in HIST_SUFFIXES)]


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """mainkey with gateway routes, a file audit device and some traffic, and its metrics."""
    if TARGET != "mainkey":
        pytest.skip("mainkey's own metric names; MAINKEY_TEST_TARGET=openbao")
    tmp = tmp_path_factory.mktemp("dash")
    bench = g.Bench(tmp)
    try:
        env, _ = bench.start(proxy_listener=False, routes=g.STANDARD_ROUTES + TINY_ROUTE)
        api = env.api
        audit_log = tmp / "audit.log"
        # Its answer is checked by the audit test only, so that the other tests still say
        # what the scrape holds when this fails.
        audit = api.put("sys/audit/file", {"type": "file", "options": {"file_path": str(audit_log)}})
        # A KV write and read, a userpass login (start_env did some too, before the audit device).
        r = api.post("secret/data/dash/app", {"data": {"k": "v"}})
        assert r.status_code == 200, r.text
        r = api.get("secret/data/dash/app")
        assert r.status_code == 200 and r.json()["data"]["data"] == {"k": "v"}, r.text
        env.login(env.acme.user, env.acme.password)
        # Gateway decisions: allow, 401, 403, then 429 on the one-a-minute route.
        assert env.forward_auth("/t/acme/orders", token=env.acme.token).status_code == 200
        assert env.forward_auth("/t/acme/orders", token=env.acme.token).status_code == 200
        assert env.forward_auth("/t/acme/orders").status_code == 401
        assert env.forward_auth("/t/globex/orders", token=env.acme.token).status_code == 403
        tiny = [env.forward_auth("/tiny/acme/x", token=env.acme.token).status_code for _ in range(3)]
        assert tiny[0] == 200 and 429 in tiny, f"rpm = 1 route: {tiny}"
        r = api.get("sys/metrics", params={"format": "prometheus"}, token=env.root_token)
        s = Scrape(env, r, audit_log)
        s.audit_enable = audit
        yield s
    finally:
        bench.close()


@pytest.mark.mainkey_only
def test_the_metrics_endpoint_serves_text_that_promtool_accepts(scraped):
    r = scraped.response
    assert r.status_code == 200, f"GET /v1/sys/metrics?format=prometheus: {r.status_code} {r.text[:500]}"
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers.get("Content-Type")
    promtool = need_tool("promtool")
    c = run([promtool, "check", "metrics"], stdin=r.text)
    assert c.returncode == 0, f"promtool check metrics: {c.returncode}\n{c.stdout}{c.stderr}"


@pytest.mark.mainkey_only
def test_every_metric_the_dashboards_and_alerts_use_is_exported(scraped):
    assert scraped.response.status_code == 200, f"{scraped.response.status_code} {scraped.text[:300]}"
    missing = {}
    for n, where in sorted(used_names().items()):
        family = base_name(n, scraped.types)
        if family not in scraped.types:
            missing[n] = where[0]
    assert not missing, "used but without a # TYPE line in the scrape: " + ", ".join(f"{n} ({w})" for n, w in missing.items())


@pytest.mark.mainkey_only
def test_the_exported_families_have_the_contracts_types_and_labels(scraped):
    assert scraped.response.status_code == 200, f"{scraped.response.status_code} {scraped.text[:300]}"
    for family, (typ, labels) in CONTRACT.items():
        assert scraped.types.get(family) == typ, f"{family}: # TYPE {scraped.types.get(family)}, the contract says {typ}"
        series = scraped.series(family)
        assert series, f"{family} has a # TYPE line and no samples after this traffic"
        for name, got, _ in series:
            want = labels | ({"le"} if name.endswith("_bucket") else set())
            assert set(got) == want, f"{name}{got}: labels {sorted(got)}, the contract says {sorted(want)}"
            for label, allowed in LABEL_VALUES.items():
                if label in got:
                    assert got[label] in allowed, f"{name}{got}: {label}={got[label]!r} not one of {sorted(allowed)}"


def _values(scraped: Scrape, name: str, **match: str) -> list[float]:
    return [v for n, labels, v in scraped.samples if n == name and all(labels.get(k) == want for k, want in match.items())]


@pytest.mark.mainkey_only
def test_the_values_follow_the_traffic(scraped):
    assert scraped.response.status_code == 200, f"{scraped.response.status_code} {scraped.text[:300]}"
    info = [(labels, v) for n, labels, v in scraped.samples if n == "mainkey_build_info"]
    assert len(info) == 1 and info[0][1] == 1 and info[0][0].get("version"), f"mainkey_build_info: {info}"
    assert _values(scraped, "mainkey_core_sealed") == [0], "unsealed, mainkey_core_sealed must be 0"
    # root, alice's and bob's logins in start_env, alice's second login here.
    assert sum(_values(scraped, "mainkey_tokens")) >= 4, _values(scraped, "mainkey_tokens")
    codes = {labels["code"] for n, labels, _ in scraped.samples if n == "mainkey_core_requests_total"}
    assert codes and all(re.fullmatch(r"[1-5][0-9][0-9]", c) for c in codes), f"code labels {codes}"
    assert "200" in codes, f"a KV read answered 200 and no request counts as 200: {codes}"
    mounts = {labels["mount"] for n, labels, _ in scraped.samples if n == "mainkey_core_requests_total"}
    assert any(m.strip("/") == "secret" for m in mounts), f"KV requests to secret/ and no mount label for it: {mounts}"
    assert sum(_values(scraped, "mainkey_core_request_duration_seconds_count")) > 0
    assert sum(_values(scraped, "mainkey_storage_commit_duration_seconds_count")) > 0, "KV writes and no commit observed"
    outcomes = {labels["outcome"] for n, labels, v in scraped.samples if n == "mainkey_gateway_decisions_total" and v > 0}
    want = {"allow", "unauthenticated", "forbidden", "rate_limited"}
    assert want <= outcomes, f"after decisions 200, 401, 403 and 429, the outcomes counted are {sorted(outcomes)}"
    assert sum(_values(scraped, "mainkey_gateway_decisions_total", route="tiny", tenant="acme", outcome="rate_limited")) >= 1
    assert sum(_values(scraped, "mainkey_gateway_rate_limited_total", route="tiny")) >= 1
    assert sum(_values(scraped, "mainkey_gateway_decision_duration_seconds_count", route="shop")) >= 2
    caches = {labels["cache"] for n, labels, _ in scraped.samples if n == "mainkey_cache_requests_total"}
    assert caches, "no cache lookups counted"
    # The audit device logged the requests since it was enabled, and has a failure counter at
    # 0 from the start: increase() in MainkeyAuditFailures needs that 0 to see the first failure.
    a = scraped.audit_enable
    assert a.status_code in (200, 204), f"PUT sys/audit/file (a file audit device): {a.status_code} {a.text[:300]}"
    entries = {labels["device"]: v for n, labels, v in scraped.samples if n == "mainkey_audit_entries_total"}
    failures = {labels["device"]: v for n, labels, v in scraped.samples if n == "mainkey_audit_failures_total"}
    assert entries and sum(entries.values()) >= 3, f"audit entries {entries}"
    assert set(failures) == set(entries) and all(v == 0 for v in failures.values()), f"audit failures {failures}, entries {entries}"
    assert scraped.audit_log.exists() and scraped.audit_log.stat().st_size > 0, "the file audit device wrote nothing"


# ---------------------------------------------------------------- 4d: no token, no metrics


def test_metrics_need_a_token_that_may_read_them(ready_target):
    """As Vault: without unauthenticated_metrics_access, sys/metrics is an ordinary
    authenticated path; the default policy does not grant it."""
    api = ready_target.api
    for token in (None, "hvs.not-a-real-token"):
        r = api.get("sys/metrics", params={"format": "prometheus"}, token=token)
        assert r.status_code == 403, f"sys/metrics with token {token!r}: {r.status_code} {r.text[:300]}"
        assert "mainkey_" not in r.text and "vault_" not in r.text, r.text[:300]
    r = api.post("auth/token/create", {"policies": ["default"]})
    assert r.status_code == 200, r.text
    r = api.get("sys/metrics", params={"format": "prometheus"}, token=r.json()["auth"]["client_token"])
    assert r.status_code == 403, f"sys/metrics with a default-policy token: {r.status_code} {r.text[:300]}"
