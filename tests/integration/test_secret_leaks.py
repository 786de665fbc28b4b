"""No secret in the clear, anywhere an operator or a hostile client can look: one full
scenario through the real binary at `log_level = "trace"` (every crate's trace output, not
only mainkey's) with a file audit device, then a grep of the server's log, the audit file,
the metrics page and every error answer for each secret value and token the scenario used.

The scenario: init and unseal (the unseal key and the root token), userpass logins with
right, wrong and malformed passwords, AppRole role-id/secret-id and login, child tokens and
their accessors, KV v2 secrets written and read, `sys/audit-hash`, forward-auth and
proxy-mode decisions (allowed with a credential injected, refused, unauthenticated, bogus
tokens and bearer JWTs), a seal and an unseal through the API.

Answers whose job is to return a secret to the caller allowed to have it (a login's token,
a KV read, the forward-auth answer that carries the injected credential to the proxy) are
not grepped; every answer of 400 and above is."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

import gateway_env as g
import rawhttp

pytestmark = pytest.mark.mainkey_only


class Scenario:
    def __init__(self, env: g.GatewayEnv):
        self.env = env
        self.secrets: dict[str, str] = {}  # what -> value
        self.errors: list[tuple[str, int, str]] = []  # what, status, body and headers

    def secret(self, what: str, value: str) -> str:
        assert value and len(value) >= 8, f"{what}: too short to grep for: {value!r}"
        self.secrets[what] = value
        return value

    def answer(self, what: str, r: requests.Response, status: int) -> requests.Response:
        assert r.status_code == status, f"{what}: {r.status_code} {r.text[:300]}"
        if status >= 400:
            self.errors.append((what, r.status_code, r.text + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.items())))
        return r

    def api(self, what: str, method: str, path: str, body=None, status: int = 200, **kw) -> requests.Response:
        return self.answer(what, self.env.api.request(method, path, json=body, **kw), status)


def run_scenario(env: g.GatewayEnv, audit_log) -> Scenario:
    s = Scenario(env)
    api = env.api
    root = s.secret("root token", env.root_token)
    for i, key in enumerate(env.srv.keys):
        s.secret(f"unseal key {i}", key)
    s.api("enable the file audit device", "PUT", "sys/audit/file",
          {"type": "file", "options": {"file_path": str(audit_log)}}, status=204)

    # userpass: the seed tenants' passwords, tokens, accessors and credentials.
    for t in env.tenants.values():
        s.secret(f"{t.user}'s password", t.password)
        s.secret(f"{t.name}'s credential", t.credential)
    acme = env.acme
    login = s.api("alice logs in", "POST", f"auth/userpass/login/{acme.user}", {"password": acme.password}).json()["auth"]
    alice = s.secret("alice's token", login["client_token"])
    s.secret("alice's accessor", login["accessor"])
    wrong = s.secret("a wrong password", f"wrong-password-{uuid.uuid4().hex}")
    s.api("a wrong password", "POST", f"auth/userpass/login/{acme.user}", {"password": wrong}, status=400)
    torn = s.secret("a password in torn JSON", f"torn-json-password-{uuid.uuid4().hex}")
    s.answer("a password in torn JSON",
             api.request("POST", f"auth/userpass/login/{acme.user}", data=f'{{"password": "{torn}'), 400)

    # AppRole: role-id, secret-id and its accessor, the login's token; a wrong secret-id.
    s.api("enable approle", "POST", "sys/auth/approle", {"type": "approle"}, status=204)
    s.api("an approle role", "POST", "auth/approle/role/ci", {"token_policies": ["tenant"]}, status=204)
    role_id = s.secret("role-id", s.api("read role-id", "GET", "auth/approle/role/ci/role-id").json()["data"]["role_id"])
    gen = s.api("generate a secret-id", "POST", "auth/approle/role/ci/secret-id").json()["data"]
    secret_id = s.secret("secret-id", gen["secret_id"])
    s.secret("secret-id accessor", gen["secret_id_accessor"])
    ar = s.api("approle login", "POST", "auth/approle/login", {"role_id": role_id, "secret_id": secret_id}).json()["auth"]
    s.secret("the approle token", ar["client_token"])
    s.secret("the approle token's accessor", ar["accessor"])
    bad_sid = s.secret("a wrong secret-id", str(uuid.uuid4()))
    s.api("a wrong secret-id", "POST", "auth/approle/login", {"role_id": role_id, "secret_id": bad_sid}, status=400)

    # Tokens: a child with a chosen id, looked up by accessor; a revoked one used again.
    child = s.api("a child token", "POST", "auth/token/create", {"policies": ["default"], "ttl": "1h"}).json()["auth"]
    s.secret("a child token", child["client_token"])
    s.secret("a child token's accessor", child["accessor"])
    s.api("lookup by accessor", "POST", "auth/token/lookup-accessor", {"accessor": child["accessor"]})
    s.api("revoke the child", "POST", "auth/token/revoke", {"token": child["client_token"]}, status=204)
    s.api("the revoked child reads", "GET", "secret/data/tenant/acme/shopify", token=child["client_token"], status=403)

    # KV v2: a secret written, read, patched; denied and bogus-token reads of it.
    db = s.secret("a database password", f"db-password-{uuid.uuid4().hex}")
    patched = s.secret("a patched value", f"patched-{uuid.uuid4().hex}")
    s.api("write a secret", "POST", "secret/data/app/db", {"data": {"password": db}})
    assert s.api("read it as root", "GET", "secret/data/app/db").json()["data"]["data"]["password"] == db
    s.answer("patch it", api.request("PATCH", "secret/data/app/db", data=json.dumps({"data": {"extra": patched}}),
                                     headers={"Content-Type": "application/merge-patch+json"}), 200)
    s.api("alice reads another tenant", "GET", "secret/data/tenant/globex/shopify", token=alice, status=403)
    bogus = s.secret("a bogus token", f"hvs.bogus{uuid.uuid4().hex}")
    s.api("a bogus token reads", "GET", "secret/data/app/db", token=bogus, status=403)
    s.api("a CAS mismatch carries no value", "POST", "secret/data/app/db",
          {"options": {"cas": 1}, "data": {"password": db}}, status=400)
    s.api("audit-hash", "POST", "sys/audit-hash/file", {"input": db})

    # The gateway: forward-auth and proxy mode, allowed, refused, unauthenticated.
    fa = env.forward_auth("/t/acme/orders", token=alice)
    assert fa.status_code == 200 and fa.headers.get(g.INJECTED) == acme.credential, fa.headers
    s.answer("forward-auth to another tenant", env.forward_auth("/t/globex/orders", token=alice), 403)
    s.answer("forward-auth with a bogus token", env.forward_auth("/t/acme/orders", token=bogus), 401)
    jwt = s.secret("a bogus bearer JWT", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrIn0." + uuid.uuid4().hex)
    s.answer("forward-auth with a bogus JWT", env.forward_auth("/t/acme/orders", bearer=jwt), 401)
    proxy = g.ProxyMode(env.gw_port)
    assert proxy.get(f"/t/acme/orders?rid={g.rid()}", token=alice).status_code == 200
    s.answer("proxy to another tenant", proxy.get("/t/globex/orders", token=alice), 403)
    s.answer("proxy with a bogus token", proxy.get("/t/acme/orders", token=bogus), 401)

    # A request head the parser refuses, carrying a token: logged at debug, never echoed.
    raw = rawhttp.request(env.api_port, "GET", "/v1/secret/data/app/db", token=alice, headers={"X-Bad": "a\x01b"})
    assert raw.status == 400, raw
    s.errors.append(("a refused head", raw.status, raw.body.decode(errors="replace") + "\n" + json.dumps(raw.headers)))

    # Seal and unseal through the API: the key travels in a request body.
    env.seal()
    s.api("a read while sealed", "GET", "secret/data/app/db", status=503)
    env.unseal()
    env.srv.api.wait_active()
    assert s.api("read after unseal", "GET", "secret/data/app/db").json()["data"]["data"]["password"] == db
    return s


def first_line_with(text: str, value: str) -> str:
    """The first line holding `value`, with the value masked, to say which code leaked it."""
    line = next(line for line in text.splitlines() if value in line)
    return line.replace(value, "<SECRET>")[:400]


def test_no_secret_in_the_log_the_audit_file_metrics_or_any_error(tmp_path):
    bench = g.Bench(tmp_path / "gw")
    try:
        env, _ = bench.start(proxy_listener=True, top_extra='log_level = "trace"')
        audit_log = tmp_path / "audit.log"
        s = run_scenario(env, audit_log)
        metrics = env.api.get("sys/metrics", params={"format": "prometheus"})
        assert metrics.status_code == 200 and "mainkey_" in metrics.text
        output = env.srv.output()
        audit = audit_log.read_text()
    finally:
        bench.close()

    # The places grepped hold the scenario, so a leak would show: mainkey's debug lines, the
    # crates below it (at info: below that they print whole requests), the gateway's
    # decisions, and hashed audit entries.
    assert "request head refused" in output and "pingora_core" in output, output[-2000:]
    assert output.count("gateway decision") >= 7, output[-2000:]
    entries = [json.loads(line) for line in audit.splitlines()]
    paths = {e["request"].get("path") for e in entries}
    assert {"auth/approle/login", "secret/data/app/db", "auth/token/create", "/t/acme/orders"} <= paths, paths
    assert audit.count("hmac-sha256:") > 50

    places = {"the server's log": output, "the audit file": audit, "the metrics page": metrics.text}
    for what, status, text in s.errors:
        places[f"the answer to {what} ({status})"] = text
    leaks = [f"{what} in {where}: {first_line_with(text, value)}"
             for where, text in places.items() for what, value in s.secrets.items() if value in text]
    assert not leaks, "\n".join(leaks)
    assert len(s.errors) >= 14 and len(s.secrets) >= 22, (len(s.errors), len(s.secrets))
