"""The cases every front must get right, run through each of them: Traefik (forwardAuth,
deploy/traefik/), Caddy (forward_auth + copy_headers, deploy/caddy/Caddyfile), nginx
(auth_request + auth_request_set, deploy/nginx/mainkey.conf) and mainkey's own proxy mode,
each in front of an echo upstream that records what it receives. Front-specific cases live in
test_gateway_<front>.py."""

from __future__ import annotations

import pytest

import gateway_env as g

# A mainkey feature: MAINKEY_TEST_TARGET=openbao has nothing to compare it with.
pytestmark = pytest.mark.mainkey_only

FRONTS = ["traefik", "caddy", "nginx", "proxy"]


@pytest.fixture(scope="module", params=FRONTS)
def bench(request, tmp_path_factory):
    front = request.param
    b = g.Bench(tmp_path_factory.mktemp(f"gw-{front}"))
    try:
        if front == "proxy":
            env, _ = b.start(proxy_listener=True)
            yield env, g.ProxyMode(env.gw_port)
        else:
            yield b.start(front, proxy_listener=False)
    finally:
        b.close()


def test_acme_reaches_the_upstream_with_its_credential_and_without_its_token(bench):
    g.check_allowed(*bench)


def test_acme_asking_for_a_globex_path_gets_403(bench):
    g.check_other_tenant_denied(*bench)


def test_no_token_gets_401_with_www_authenticate(bench):
    g.check_no_token(*bench)


def test_forged_identity_and_credential_headers_never_reach_the_upstream(bench):
    g.check_spoofing(*bench)


def test_connection_header_naming_mainkey_headers_changes_nothing(bench):
    g.check_connection_attack(*bench)


def test_the_121st_request_in_a_minute_is_refused_with_retry_after(bench):
    env, front = bench
    # nginx's auth_request passes only 401 and 403 on, so mode=nginx answers 403.
    g.check_rate_limited(env, front, denied_status=403 if front.name == "nginx" else 429)
