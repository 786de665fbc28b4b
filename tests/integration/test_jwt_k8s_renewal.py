"""Renewing tokens from the JWT and Kubernetes methods through the running server: the role's
current TTLs bound a renewal, and a deleted role (or, for Kubernetes, a role that no longer
binds the service account) stops it. The fixtures are those of the login tests."""

from __future__ import annotations

import pytest

from conftest import TARGET
from test_jwt_login import claims, jwt_server, rsa_key, sign  # noqa: F401 (fixtures)
from test_jwt_login import login as jwt_login
from test_kubernetes_login import k8s  # noqa: F401 (fixture)
from test_kubernetes_login import login as k8s_login
from test_kubernetes_login import sa_jwt

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="mainkey's JWT and Kubernetes methods")


def renew(srv, token: str, increment: str = "10h"):
    return srv.api.post("auth/token/renew-self", {"increment": increment}, token=token)


def test_jwt_tokens_renew_on_the_roles_terms_until_it_is_gone(jwt_server, rsa_key):  # noqa: F811
    api = jwt_server.api
    assert api.post("auth/jwt/role/app", {"token_max_ttl": "2h"}).status_code in (200, 204)
    token = jwt_login(jwt_server, sign(rsa_key[0], claims())).json()["auth"]["client_token"]
    r = renew(jwt_server, token)
    assert r.status_code == 200, r.text
    assert 2 * 3600 - 60 <= r.json()["auth"]["lease_duration"] <= 2 * 3600, "capped by token_max_ttl"

    # The role's max TTL shrinks after the login: the next renewal follows it.
    assert api.post("auth/jwt/role/app", {"token_ttl": "10m", "token_max_ttl": "30m"}).status_code in (200, 204)
    r = renew(jwt_server, token)
    assert r.status_code == 200 and r.json()["auth"]["lease_duration"] <= 1800, r.text

    assert api.delete("auth/jwt/role/app").status_code == 204
    r = renew(jwt_server, token)
    assert r.status_code == 500, r.text
    assert "role app does not exist during renewal" in r.text
    # The token itself still works until it expires; only its renewal is refused.
    assert api.get("auth/token/lookup-self", token=token).status_code == 200


def test_kubernetes_tokens_renew_while_the_role_binds_the_account(k8s):  # noqa: F811
    api = k8s.api
    role = "auth/kubernetes/role/payments"
    assert api.post(role, {"token_ttl": "20m", "token_max_ttl": "1h"}).status_code in (200, 204)
    token = k8s_login(k8s, sa_jwt()).json()["auth"]["client_token"]
    r = renew(k8s, token)
    assert r.status_code == 200, r.text
    assert 3600 - 60 <= r.json()["auth"]["lease_duration"] <= 3600, "capped by token_max_ttl"
    r = renew(k8s, token, increment="")
    assert r.status_code == 200 and 1140 <= r.json()["auth"]["lease_duration"] <= 1200, r.text

    # The role stops binding the account's name: no more renewals, until it binds it again.
    assert api.post(role, {"bound_service_account_names": ["web"]}).status_code in (200, 204)
    r = renew(k8s, token)
    assert r.status_code == 400 and "is no longer bound to role" in r.text, r.text
    assert api.post(role, {"bound_service_account_names": ["api"]}).status_code in (200, 204)
    assert renew(k8s, token).status_code == 200

    assert api.delete(role).status_code == 204
    r = renew(k8s, token)
    assert r.status_code == 500 and "role payments does not exist during renewal" in r.text, r.text
