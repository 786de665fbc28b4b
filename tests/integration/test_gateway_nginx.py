"""nginx (Debian) with auth_request + auth_request_set to mainkey's forward-auth in
`mode=nginx`, configured from deploy/nginx/mainkey.conf, in front of an echo upstream.

auth_request only knows 2xx, 401 and 403 (anything else becomes a 500), so a rate-limited
request is denied with 403, and the deploy file relays mainkey's Retry-After."""

from __future__ import annotations

import pytest

import gateway_env as g

# A mainkey feature: MAINKEY_TEST_TARGET=openbao has nothing to compare it with.
pytestmark = pytest.mark.mainkey_only


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    b = g.Bench(tmp_path_factory.mktemp("gw-nginx"))
    try:
        yield b.start("nginx", proxy_listener=False)
    finally:
        b.close()


def test_an_ambiguous_path_is_denied_not_a_500(bench):
    env, nginx = bench
    m = g.rid()
    # mode=nginx turns mainkey's 400 into 403: nginx would answer 500 for a 400.
    r = nginx.raw(f"/t/acme/..%2fglobex/orders?rid={m}", token=env.acme.token)
    assert r.status == 403, (r.status, r.text[:300])
    g.assert_not_forwarded(env, m)
