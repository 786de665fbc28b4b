"""JWT auth through the running server: a signed token logs in and links an entity; the forged
ones that other servers have accepted (alg none, HS256 keyed with the public key, wrong or
missing audience, expired) are refused. Tokens are signed here with openssl, so the test needs
no JWT library."""

from __future__ import annotations

import time

import pytest

from conftest import TARGET
from jwtsign import rsa_keypair, sign

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="mainkey's JWT method")


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    return rsa_keypair(tmp_path_factory.mktemp("jwt"))


def claims(**over) -> dict:
    now = int(time.time())
    base = {"sub": "alice", "aud": "mainkey", "iss": "https://issuer.test", "iat": now, "exp": now + 300, "tenant": "t1"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def jwt_server(ready_target, rsa_key):
    api = ready_target.api
    assert api.post("sys/auth/jwt", {"type": "jwt"}).status_code == 204
    r = api.post("auth/jwt/config", {"jwt_validation_pubkeys": [rsa_key[1]], "bound_issuer": "https://issuer.test"})
    assert r.status_code in (200, 204), r.text
    role = {
        "role_type": "jwt",
        "bound_audiences": ["mainkey"],
        "user_claim": "sub",
        "claim_mappings": {"tenant": "tenant_id"},
        "token_policies": ["reader"],
        "token_ttl": "1h",
    }
    r = api.post("auth/jwt/role/app", role)
    assert r.status_code in (200, 204), r.text
    return ready_target


def login(srv, jwt: str):
    return srv.api.post("auth/jwt/login", {"role": "app", "jwt": jwt}, token=None)


def test_a_signed_token_logs_in_and_links_an_entity(jwt_server, rsa_key):
    r = login(jwt_server, sign(rsa_key[0], claims()))
    assert r.status_code == 200, r.text
    auth = r.json()["auth"]
    assert auth["policies"] == ["default", "reader"] and auth["entity_id"]
    entity = jwt_server.api.get(f"identity/entity/id/{auth['entity_id']}").json()["data"]
    assert [a["name"] for a in entity["aliases"]] == ["alice"]
    assert entity["aliases"][0]["metadata"] == {"tenant_id": "t1"}
    # A second login is the same entity.
    again = login(jwt_server, sign(rsa_key[0], claims())).json()["auth"]
    assert again["entity_id"] == auth["entity_id"]


@pytest.mark.parametrize(
    "forge",
    ["alg none", "HS256 with the public key", "wrong aud", "missing aud", "expired", "wrong issuer"],
)
def test_forged_and_stale_tokens_are_refused(jwt_server, rsa_key, forge):
    key, pub = rsa_key
    token = {
        "alg none": lambda: sign(key, claims(), {"alg": "none", "typ": "JWT"}),
        "HS256 with the public key": lambda: sign(key, claims(), {"alg": "HS256", "typ": "JWT"}, hs_secret=pub.encode()),
        "wrong aud": lambda: sign(key, claims(aud="someone-else")),
        "missing aud": lambda: sign(key, claims(aud=None)),
        "expired": lambda: sign(key, claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
        "wrong issuer": lambda: sign(key, claims(iss="https://evil.test")),
    }[forge]()
    r = login(jwt_server, token)
    assert r.status_code in (400, 403), f"{forge}: {r.status_code} {r.text}"
    assert "auth" not in r.json() or not r.json().get("auth")
