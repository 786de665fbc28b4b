"""A real Prometheus (Debian package `prometheus`) scrapes a real mainkey with
deploy/prometheus/prometheus.yml — only the target address, the token file and the intervals
substituted — and loads deploy/prometheus/alerts.yml with it.

The scrape goes to /v1/sys/metrics?format=prometheus with the root token as a Bearer
credential from a file. Prometheus runs on a free loopback port with its storage in the
test's temporary directory, and is killed at teardown. prometheus missing: the tests fail when
CI is set, and are skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

import gateway_env as g
from conftest import REPO, clean_env, free_port, kill_group

pytestmark = pytest.mark.mainkey_only  # mainkey's own metric names

PROM = REPO / "deploy" / "prometheus"
JOB = "mainkey"
ALERT_NAMES = {"MainkeySealed", "MainkeyAuditFailures", "MainkeyHigh5xx", "MainkeyDown"}
WAIT = 30  # seconds, at most, for anything Prometheus is waited for


def need_prometheus() -> str:
    path = shutil.which("prometheus") or ("/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)
    if path:
        return path
    msg = "prometheus not found: apt-get install prometheus (and do not start its service: the test runs its own)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)
    raise AssertionError  # unreachable


class Prometheus:
    def __init__(self, binary: str, workdir: Path, config: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        self.session = requests.Session()
        self.session.trust_env = False
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=debug",
        ]
        (workdir / "home").mkdir(exist_ok=True)
        env = clean_env(workdir / "home")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env, start_new_session=True
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-1500:] if self.log_path.exists() else ""

    def get(self, path: str, **params) -> dict:
        r = self.session.get(f"{self.url}{path}", params=params, timeout=5)
        assert r.status_code == 200, f"Prometheus {path} {params}: {r.status_code} {r.text[:500]}"
        body = r.json()
        assert body.get("status") == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data
        return data["result"]

    def wait(self, what: str, check, timeout: float = WAIT):
        """Until check() returns something truthy; its last value or error in the failure."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode} waiting for {what}:\n{self.log()}")
            try:
                got = check()
                if got:
                    return got
                last = got
            except (requests.RequestException, AssertionError, KeyError, ValueError) as e:
                last = e
            time.sleep(0.2)
        raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})\n{self.log()}")

    def close(self) -> None:
        kill_group(self.proc)


def render_config(workdir: Path, mainkey_port: int, token: str) -> Path:
    """deploy/prometheus/prometheus.yml with the target, the token file and 1 s intervals; alerts.yml beside it."""
    token_file = workdir / "mainkey-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    text = g.render(
        PROM / "prometheus.yml",
        {
            g.MAINKEY_PLACEHOLDER: f"127.0.0.1:{mainkey_port}",
            "/etc/prometheus/mainkey-token": str(token_file),
            "scrape_interval: 15s": "scrape_interval: 1s",
            "evaluation_interval: 15s": "evaluation_interval: 1s",
        },
    )
    cfg = workdir / "prometheus.yml"
    cfg.write_text(text)
    shutil.copy(PROM / "alerts.yml", workdir / "alerts.yml")
    return cfg


@pytest.fixture
def scraping(ready_target, tmp_path):
    """mainkey (unsealed, KV v2 at secret/, some requests done) and a Prometheus scraping it."""
    binary = need_prometheus()
    srv = ready_target
    api = srv.api
    r = api.post("secret/data/scrape/app", {"data": {"k": "v"}})
    assert r.status_code == 200, r.text
    assert api.get("secret/data/scrape/app").status_code == 200
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    assert srv.root_token
    prom = Prometheus(binary, workdir, render_config(workdir, srv.port, srv.root_token))
    try:
        prom.wait("Prometheus ready", lambda: prom.session.get(f"{prom.url}/-/ready", timeout=2).status_code == 200)
        yield srv, prom
    finally:
        prom.close()


def test_prometheus_scrapes_mainkey_with_the_deploy_config(scraping):
    srv, prom = scraping

    def scraped():
        return prom.query("mainkey_build_info")

    def target_state():
        targets = prom.get("/api/v1/targets")["activeTargets"]
        return [(t.get("health"), t.get("lastError"), t.get("scrapeUrl")) for t in targets]

    try:
        info = prom.wait("mainkey_build_info in Prometheus", scraped)
    except AssertionError as e:
        raise AssertionError(f"{e}\ntargets: {target_state()}") from None
    assert len(info) == 1, info
    m = info[0]["metric"]
    assert m.get("job") == JOB and m.get("instance") == f"127.0.0.1:{srv.port}" and m.get("version"), m
    assert info[0]["value"][1] == "1", info

    up = prom.query(f'up{{job="{JOB}"}}')
    assert [s["value"][1] for s in up] == ["1"], up
    [(health, error, url)] = target_state()
    assert health == "up" and not error, (health, error)
    assert url.endswith("/v1/sys/metrics?format=prometheus"), url

    req = prom.query("mainkey_core_requests_total")
    assert req, "no mainkey_core_requests_total series"
    assert any(s["metric"].get("code") == "200" for s in req), [s["metric"] for s in req]
    assert prom.query("mainkey_core_sealed")[0]["value"][1] == "0"


def test_prometheus_loads_and_evaluates_the_alerts(scraping):
    srv, prom = scraping
    first = prom.wait("a first scrape", lambda: prom.query(f'up{{job="{JOB}"}}'))
    t0 = float(first[0]["value"][0])

    def now() -> float:
        data = prom.get("/api/v1/query", query="time()")
        assert data["resultType"] == "scalar", data
        return float(data["result"][0])

    # evaluation_interval is 1 s: three seconds after the first scrape every rule has been
    # evaluated on scraped data a few times.
    prom.wait("three seconds of evaluations after the first scrape", lambda: now() > t0 + 3)

    def evaluated():
        groups = prom.get("/api/v1/rules", type="alert")["groups"]
        rules = {r["name"]: r for grp in groups for r in grp["rules"]}
        assert set(rules) == ALERT_NAMES, f"alert rules loaded: {sorted(rules)}"
        return rules if all(r.get("health") == "ok" for r in rules.values()) else None

    rules = prom.wait("every alert rule evaluated with health ok", evaluated)
    # An unsealed server that answers its scrapes: nothing pending or firing.
    states = {n: r["state"] for n, r in rules.items()}
    assert all(s == "inactive" for s in states.values()), states
    assert prom.query('ALERTS{alertname=~"Mainkey.*"}') == []
    # The sealed gauge the MainkeySealed rule reads is there, at 0.
    assert [s["value"][1] for s in prom.query("mainkey_core_sealed")] == ["0"]
