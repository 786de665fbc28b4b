"""The decision cache is invalidated on the very next request: after a token is revoked or
expires, a policy or an entity changes, an injected secret is rotated, or the core seals.

Every test first asks twice (so a cache, if any, holds the decision), changes one thing, and
then asks exactly once, both straight at /forward-auth and through proxy mode. No sleeps, no
retries: the next request must see the change."""

from __future__ import annotations

import time

import pytest

import gateway_env as g

# A mainkey feature: MAINKEY_TEST_TARGET=openbao has nothing to compare it with.
pytestmark = pytest.mark.mainkey_only


@pytest.fixture
def env(servers):
    e = g.start_env(servers, proxy_listener=True)
    try:
        yield e
    finally:
        g.close_env(e)


def warm(env: g.GatewayEnv, proxy: g.ProxyMode, uri: str, token: str, tenant: g.Tenant, route: str = "shop") -> None:
    for _ in range(2):
        r = env.forward_auth(uri, token=token)
        assert r.status_code == 200, r.text[:200]
        assert r.headers["X-Mainkey-Tenant"] == tenant.name and r.headers[g.INJECTED] == tenant.credential
        m = g.rid()
        r = proxy.get(f"{uri}?rid={m}", token=token)
        assert r.status_code == 200, r.text[:200]
        g.assert_identity(g.upstream_saw(env, m), env, tenant, route=route)


def test_a_revoked_token_gets_401_on_the_next_request(env):
    proxy = g.ProxyMode(env.gw_port)
    warm(env, proxy, "/t/acme/orders", env.acme.token, env.acme)
    env.revoke(env.acme.token)
    r = env.forward_auth("/t/acme/orders", token=env.acme.token)
    assert r.status_code == 401, f"revoked token still allowed: {r.status_code}"
    m = g.rid()
    r = proxy.get(f"/t/acme/orders?rid={m}", token=env.acme.token)
    assert r.status_code == 401, f"revoked token still proxied: {r.status_code}"
    g.assert_not_forwarded(env, m)


def test_an_expired_token_gets_401_on_the_next_request(env):
    proxy = g.ProxyMode(env.gw_port)
    # A fresh login of alice (same entity, so the same tenant) whose token lives 2 s.
    r = env.api.post("auth/userpass/users/alice", {"token_ttl": "2s", "token_max_ttl": "2s"})
    assert r.status_code in (200, 204), r.text
    auth = env.login("alice", env.acme.password)
    assert auth["entity_id"] == env.acme.entity_id and auth["lease_duration"] <= 2, auth
    short = auth["client_token"]
    t0 = time.monotonic()
    warm(env, proxy, "/t/acme/orders", short, env.acme)
    assert time.monotonic() - t0 < 1.5, "too slow to test a 2 s token"
    time.sleep(max(0.0, 2.3 - (time.monotonic() - t0)))
    assert env.forward_auth("/t/acme/orders", token=short).status_code == 401
    assert proxy.get("/t/acme/orders", token=short).status_code == 401


def test_a_rotated_credential_is_injected_on_the_next_request(env):
    proxy = g.ProxyMode(env.gw_port)
    warm(env, proxy, "/t/acme/orders", env.acme.token, env.acme)
    old = env.acme.credential
    env.write_credential("acme", "shpat_acme_rotated_1")
    r = env.forward_auth("/t/acme/orders", token=env.acme.token)
    assert r.status_code == 200 and r.headers[g.INJECTED] == "shpat_acme_rotated_1", (r.status_code, r.headers.get(g.INJECTED))
    env.write_credential("acme", "shpat_acme_rotated_2")
    m = g.rid()
    r = proxy.get(f"/t/acme/orders?rid={m}", token=env.acme.token)
    assert r.status_code == 200
    sent = g.header_values(g.upstream_saw(env, m)["headers"], g.INJECTED)
    assert sent == ["shpat_acme_rotated_2"], f"the upstream got {sent}, old was {old}"
    # Globex's credential did not move.
    r = env.forward_auth("/t/globex/orders", token=env.globex.token)
    assert r.headers[g.INJECTED] == env.globex.credential


def test_a_changed_tenant_id_moves_the_caller_on_the_next_request(env):
    proxy = g.ProxyMode(env.gw_port)
    warm(env, proxy, "/me/orders", env.acme.token, env.acme, route="me")
    env.set_tenant_id(env.acme.entity_id, "globex")
    r = env.forward_auth("/me/orders", token=env.acme.token)
    assert r.status_code == 200, r.text[:200]
    assert r.headers["X-Mainkey-Tenant"] == "globex" and r.headers[g.INJECTED] == env.globex.credential
    # The templated policy moved too: acme's own path is now denied.
    assert env.forward_auth("/t/acme/orders", token=env.acme.token).status_code == 403
    env.set_tenant_id(env.acme.entity_id, "acme")
    m = g.rid()
    r = proxy.get(f"/me/orders?rid={m}", token=env.acme.token)
    assert r.status_code == 200
    g.assert_identity(g.upstream_saw(env, m), env, env.acme, route="me")
    # A hostile tenant_id matches nothing.
    for hostile in ("*", "+", "a/b", "..", "{x}", ""):
        env.set_tenant_id(env.acme.entity_id, hostile)
        r = env.forward_auth("/me/orders", token=env.acme.token)
        assert r.status_code == 403, f"tenant_id {hostile!r}: {r.status_code}"


def test_a_deleted_or_rewritten_policy_denies_on_the_next_request(env):
    proxy = g.ProxyMode(env.gw_port)
    warm(env, proxy, "/t/acme/orders", env.acme.token, env.acme)
    r = env.api.put("sys/policy/tenant", {"policy": 'path "secret/data/nothing" { capabilities = ["read"] }'})
    assert r.status_code in (200, 204)
    assert env.forward_auth("/t/acme/orders", token=env.acme.token).status_code == 403
    assert proxy.get("/t/acme/orders", token=env.acme.token).status_code == 403
    r = env.api.put("sys/policy/tenant", {"policy": g.TENANT_POLICY})
    assert r.status_code in (200, 204)
    assert env.forward_auth("/t/acme/orders", token=env.acme.token).status_code == 200
    assert env.api.delete("sys/policy/tenant").status_code in (200, 204)
    assert env.forward_auth("/t/acme/orders", token=env.acme.token).status_code == 403
    assert proxy.get("/t/acme/orders", token=env.acme.token).status_code == 403


def test_an_entity_policy_grants_on_the_next_request(env):
    proxy = g.ProxyMode(env.gw_port)
    assert env.forward_auth("/t/acme/orders", token=env.globex.token).status_code == 403
    r = env.api.put("sys/policy/acme-reader", {"policy": 'path "secret/data/tenant/acme/shopify" { capabilities = ["read"] }'})
    assert r.status_code in (200, 204)
    r = env.api.post(f"identity/entity/id/{env.globex.entity_id}", {"policies": ["acme-reader"]})
    assert r.status_code in (200, 204), r.text
    r = env.forward_auth("/t/acme/orders", token=env.globex.token)
    assert r.status_code == 200 and r.headers[g.INJECTED] == env.acme.credential, r.status_code
    m = g.rid()
    assert proxy.get(f"/t/acme/orders?rid={m}", token=env.globex.token).status_code == 200
    assert g.header_values(g.upstream_saw(env, m)["headers"], g.INJECTED) == [env.acme.credential]
    r = env.api.post(f"identity/entity/id/{env.globex.entity_id}", {"policies": []})
    assert r.status_code in (200, 204), r.text
    assert proxy.get("/t/acme/orders", token=env.globex.token).status_code == 403


def test_a_sealed_core_gets_503_in_proxy_mode(env):
    proxy = g.ProxyMode(env.gw_port)
    warm(env, proxy, "/t/acme/orders", env.acme.token, env.acme)
    env.seal()
    m = g.rid()
    r = proxy.get(f"/t/acme/orders?rid={m}", token=env.acme.token)
    assert r.status_code == 503, f"{r.status_code} {r.text[:200]}"
    assert env.acme.credential not in r.text
    g.assert_not_forwarded(env, m)
    assert env.forward_auth("/t/acme/orders", token=env.acme.token).status_code == 503
    env.unseal()
    m = g.rid()
    r = proxy.get(f"/t/acme/orders?rid={m}", token=env.acme.token)
    assert r.status_code == 200, r.status_code
    g.assert_identity(g.upstream_saw(env, m), env, env.acme)
