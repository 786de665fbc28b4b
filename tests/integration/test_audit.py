"""Audit devices through the real binary: `sys/audit` with hvac, Vault's JSON lines with
every token, accessor and secret value HMAC'd (checked against `sys/audit-hash`), gateway
decisions audited, fail-closed on a full disk or a missing directory, 0600 files, reopen on
SIGHUP, and the root-path (sudo) rule.

OpenBao 2.x refuses to enable audit devices through the API unless the server is started
with `unsafe_allow_api_audit_creation`, so these are mainkey's rules; where OpenBao has an
answer (sudo on `sys/audit/*`), it is given beside the check."""

from __future__ import annotations

import json
import os
import signal
import stat
import time

import hvac
import pytest

import gateway_env as g

pytestmark = pytest.mark.mainkey_only


def audit_lines(path) -> list[dict]:
    text = open(path).read()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def audit_hash(api, device: str, value: str) -> str:
    r = api.post(f"sys/audit-hash/{device}", {"input": value})
    assert r.status_code == 200, r.text
    h = r.json()["data"]["hash"]
    assert h.startswith("hmac-sha256:") and len(h) == len("hmac-sha256:") + 64, h
    return h


def hvac_client(srv, token: str) -> hvac.Client:
    return hvac.Client(url=srv.api.url, token=token)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    b = g.Bench(tmp_path_factory.mktemp("audit-gw"))
    try:
        env, _ = b.start(proxy_listener=False)
        yield env
    finally:
        b.close()


def test_login_kv_read_and_gateway_decisions_are_audited_with_matching_hashes(bench, tmp_path):
    env = bench
    log = tmp_path / "audit.log"
    client = hvac_client(env.srv, env.root_token)
    client.sys.enable_audit_device("file", options={"file_path": str(log)})
    devices = client.sys.list_enabled_audit_devices()["data"]
    assert devices["file/"]["type"] == "file"
    assert devices["file/"]["options"]["file_path"] == str(log)
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600

    # A login, a KV read as the tenant, gateway decisions: allowed, unauthenticated, refused.
    acme = env.acme
    auth = env.login(acme.user, acme.password)
    token = auth["client_token"]
    read = env.api.get(f"secret/data/tenant/{acme.name}/shopify", token=token)
    assert read.status_code == 200
    assert env.forward_auth(f"/t/{acme.name}/orders", token=token).status_code == 200
    assert env.forward_auth("/t/acme/orders", token="s.not-a-real-token").status_code == 401
    assert env.forward_auth("/t/globex/orders", token=token).status_code == 403
    denied = env.api.get("secret/data/tenant/globex/shopify", token=token)
    assert denied.status_code == 403

    lines = audit_lines(log)
    h = lambda v: audit_hash(env.api, "file", v)  # noqa: E731

    # The login: request with the password hashed, response with the new token hashed.
    login_path = f"auth/userpass/login/{acme.user}"
    req = [e for e in lines if e["type"] == "request" and e["request"]["path"] == login_path]
    resp = [e for e in lines if e["type"] == "response" and e["request"]["path"] == login_path]
    assert req and resp, [e["request"]["path"] for e in lines]
    assert req[-1]["request"]["data"]["password"] == h(acme.password)
    assert resp[-1]["response"]["auth"]["client_token"] == h(token)
    assert resp[-1]["response"]["auth"]["accessor"] == h(auth["accessor"])
    for key in ("time", "type", "auth", "request", "response", "error"):
        assert key in resp[-1], key

    # The KV read: the caller's token and accessor hashed, the secret value hashed.
    kv_path = f"secret/data/tenant/{acme.name}/shopify"
    kv = [e for e in lines if e["type"] == "response" and e["request"]["path"] == kv_path
          and e["request"]["client_token"] == h(token)]
    assert kv, "no response entry for the tenant's read"
    assert kv[0]["auth"]["client_token"] == h(token)
    assert kv[0]["auth"]["accessor"] == h(auth["accessor"])
    assert kv[0]["auth"]["entity_id"] == acme.entity_id
    assert kv[0]["response"]["data"]["data"]["access_token"] == h(acme.credential)
    assert kv[0]["request"]["operation"] == "read"
    assert kv[0]["request"]["mount_point"] == "secret/"
    assert kv[0]["request"]["remote_address"] == "127.0.0.1"
    refused = [e for e in lines if e["request"].get("path") == "secret/data/tenant/globex/shopify"
               and e["type"] == "response" and e["request"]["client_token"] == h(token)]
    assert refused and refused[-1]["error"] == "permission denied"

    # Gateway decisions, with injected header names and never their values.
    gw = [e for e in lines if e["type"] == "gateway"]
    decisions = [(e["gateway"]["route"], e["gateway"]["tenant"], e["gateway"]["decision"], e["gateway"]["status"]) for e in gw]
    assert ("shop", "acme", "allow", 200) in decisions, decisions
    assert ("shop", "acme", "unauthenticated", 401) in decisions, decisions
    assert any(d[0] == "shop" and d[3] == 403 for d in decisions), decisions
    allow = next(e for e in gw if e["gateway"]["decision"] == "allow")
    assert allow["request"]["client_token"] == h(token)
    assert allow["gateway"]["injected_headers"] == ["x-shopify-access-token"]
    assert allow["request"]["path"] == "/t/acme/orders"

    # Nothing in the clear: not in the audit file, not in the server's log.
    raw = log.read_text()
    output = env.srv.output()
    for secret in (token, auth["accessor"], acme.password, acme.credential, env.globex.credential,
                   env.root_token, "s.not-a-real-token"):
        assert secret not in raw, f"{secret[:6]}... in the audit log"
        assert secret not in output, f"{secret[:6]}... in the server's log"
    # The gateway's info line per decision names route, tenant, decision, status, latency.
    decided = [line for line in output.splitlines() if "gateway decision" in line]
    assert any("shop" in line and "acme" in line and "status=200" in line and "latency_us=" in line
               for line in decided), decided[-5:]


def test_a_full_disk_fails_the_read_with_500_and_no_secret(servers):
    srv = servers.target()
    srv.init_unseal()
    srv.api.enable_kv("secret", 2)
    r = srv.api.post("secret/data/app", {"data": {"password": "the-db-password"}})
    assert r.status_code == 200
    # The enable's own answer is the new device's first entry: it fails closed already.
    r = srv.api.put("sys/audit/full", {"type": "file", "options": {"file_path": "/dev/full"}})
    assert r.status_code == 500, r.text
    read = srv.api.get("secret/data/app")
    assert read.status_code == 500, read.text
    assert "the-db-password" not in read.text
    assert read.json() == {"errors": ["internal error"]}
    write = srv.api.post("secret/data/app", {"data": {"password": "second"}})
    assert write.status_code == 500
    assert "the-db-password" not in srv.output()
    assert "audit device failed to write" in srv.output()


def test_a_missing_directory_after_restart_fails_closed_until_sighup_reopens(servers, tmp_path):
    srv = servers.target()
    srv.init_unseal()
    srv.api.enable_kv("secret", 2)
    assert srv.api.post("secret/data/app", {"data": {"k": "restart-secret"}}).status_code == 200
    logdir = tmp_path / "logs"
    logdir.mkdir()
    log = logdir / "audit.log"
    assert srv.api.put("sys/audit/file", {"type": "file", "options": {"file_path": str(log)}}).status_code == 204
    assert srv.api.get("secret/data/app").status_code == 200

    srv.stop()
    log.unlink()
    logdir.rmdir()
    srv.start()
    srv.api.unseal(srv.keys)
    srv.api.wait_active()
    read = srv.api.get("secret/data/app")
    assert read.status_code == 500 and "restart-secret" not in read.text

    logdir.mkdir()
    srv.send(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while srv.api.get("secret/data/app").status_code != 200:
        assert time.monotonic() < deadline, "SIGHUP did not reopen the audit file"
        time.sleep(0.1)
    assert any(e["request"]["path"] == "secret/data/app" for e in audit_lines(log))
    # The salt survived the restart: hashes made before and after agree.
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600


def test_sighup_reopens_the_file_for_logrotate(servers, tmp_path):
    srv = servers.target()
    srv.init_unseal()
    log = tmp_path / "audit.log"
    assert srv.api.put("sys/audit/file", {"type": "file", "options": {"file_path": str(log)}}).status_code == 204
    assert srv.api.get("sys/mounts").status_code == 200
    rotated = tmp_path / "audit.log.1"
    log.rename(rotated)
    srv.send(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not log.exists():
        assert time.monotonic() < deadline, "no new file after SIGHUP"
        time.sleep(0.05)
    assert srv.api.get("sys/auth").status_code == 200
    assert any(e["request"]["path"] == "sys/auth" for e in audit_lines(log))
    assert not any(e["request"]["path"] == "sys/auth" for e in audit_lines(rotated))


def test_sys_audit_is_a_root_path_and_hostile_options_are_refused(servers, tmp_path):
    srv = servers.target()
    srv.init_unseal()
    api = srv.api
    # One capability fewer than needed: create/update without sudo (OpenBao: 403 too).
    assert api.put("sys/policy/auditor", {"policy": 'path "sys/audit*" { capabilities = ["create", "read", "update", "delete"] }'}).status_code == 204
    tok = api.post("auth/token/create", {"policies": ["auditor"]}).json()["auth"]["client_token"]
    target = str(tmp_path / "a.log")
    r = api.put("sys/audit/file", {"type": "file", "options": {"file_path": target}}, token=tok)
    assert r.status_code == 403, r.text
    assert api.get("sys/audit", token=tok).status_code == 403
    assert not os.path.exists(target)

    for options, words in [
        ({"file_path": str(tmp_path / "x.sh"), "mode": "0755"}, "executable"),
        ({"file_path": str(tmp_path / "x.log"), "prefix": "#!/bin/sh\n"}, "prefix"),
        ({"file_path": "relative.log"}, "absolute"),
        ({}, "file_path is required"),
        ({"file_path": str(tmp_path / "no-such-dir" / "a.log")}, "sanity check failed"),
    ]:
        r = api.put("sys/audit/bad", {"type": "file", "options": options})
        assert r.status_code == 400, (options, r.text)
        assert words in r.json()["errors"][0], (options, r.text)
    assert api.put("sys/audit/s", {"type": "socket", "options": {"address": "127.0.0.1:1"}}).status_code == 400
    assert api.put("sys/audit/bad", {"options": {"file_path": "stdout"}}).status_code == 400
    assert not os.path.exists(tmp_path / "x.sh")

    # Enabling twice at one path is refused; disabling works and is idempotent.
    assert api.put("sys/audit/file", {"type": "file", "options": {"file_path": target}}).status_code == 204
    r = api.put("sys/audit/file", {"type": "file", "options": {"file_path": target}})
    assert r.status_code == 400 and "already in use" in r.text
    assert api.post("sys/audit-hash/nope", {"input": "x"}).status_code == 400
    assert api.delete("sys/audit/file").status_code == 204
    assert api.delete("sys/audit/file").status_code == 204
    body = api.get("sys/audit").json()
    assert "file/" not in body["data"]


def test_an_audit_file_may_not_be_mainkeys_own_storage_or_config_file(servers, tmp_path):
    """With sudo on `sys/audit`, a `file_path` naming the redb file (or the config file, by a
    symlink or a hard link too) would append JSON lines to it, and `mode` would chmod it.
    Vault and OpenBao do not check this (OpenBao refuses API-created devices by default,
    `unsafe_allow_api_audit_creation`); mainkey refuses these paths with 400."""
    srv = servers.target()
    srv.init_unseal()
    api = srv.api
    api.enable_kv("secret", 2)
    assert api.post("secret/data/app", {"data": {"v": "kept"}}).status_code == 200
    link = tmp_path / "innocent.log"
    link.symlink_to(srv.db_path)
    hard = srv.config_path.parent / "hard.log"
    os.link(srv.config_path, hard)
    before = {p: (os.stat(p).st_mode, os.stat(p).st_size) for p in (srv.db_path, srv.config_path)}
    for path in (srv.db_path, link, srv.config_path, hard):
        r = api.put("sys/audit/own", {"type": "file", "options": {"file_path": str(path), "mode": "0644"}})
        assert r.status_code == 400, (path, r.text)
        assert "mainkey's own files" in r.json()["errors"][0], r.text
    assert {p: (os.stat(p).st_mode, os.stat(p).st_size) for p in before} == before
    assert "own/" not in api.get("sys/audit").json()["data"]
    srv.restart()
    srv.api.unseal(srv.keys)
    srv.api.wait_active()
    assert srv.api.get("secret/data/app").json()["data"]["data"]["v"] == "kept"
