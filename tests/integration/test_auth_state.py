"""Tokens, entities, policies and revocations are durable state: they survive a restart, and
the database holds no token id in any form a reader could use. LIST cannot slip past a deny."""

from __future__ import annotations

import pathlib

import pytest

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="reads mainkey's own database file")


def make_state(api) -> dict:
    api.enable_kv("secret", 2)
    assert api.put("sys/policy/reader", {"policy": 'path "secret/data/*" { capabilities = ["read"] }'}).status_code == 204
    assert api.post("sys/auth/userpass", {"type": "userpass"}).status_code == 204
    assert api.post("auth/userpass/users/alice", {"password": "pw", "token_policies": "reader"}).status_code == 204
    login = api.post("auth/userpass/login/alice", {"password": "pw"}, token=None)
    assert login.status_code == 200, login.text
    alice = login.json()["auth"]
    assert api.post("secret/data/x", {"data": {"v": "1"}}).status_code == 200
    kept = api.post("auth/token/create", {"policies": ["reader"], "ttl": "2h"}).json()["auth"]["client_token"]
    revoked = api.post("auth/token/create", {"policies": ["reader"]}).json()["auth"]["client_token"]
    assert api.post("auth/token/revoke", {"token": revoked}).status_code == 204
    entity = api.get(f"identity/entity/id/{alice['entity_id']}")
    assert entity.status_code == 200, entity.text
    assert api.post(f"identity/entity/id/{alice['entity_id']}", {"metadata": {"tenant_id": "t1"}}).status_code == 204
    return {"alice": alice["client_token"], "entity_id": alice["entity_id"], "kept": kept, "revoked": revoked}


def test_tokens_entities_and_revocations_survive_a_restart(servers):
    srv = servers.target()
    init = srv.init_unseal(shares=3, threshold=2)
    state = make_state(srv.api)
    srv.stop()
    srv.start()
    srv.api.unseal([init["keys"][2], init["keys"][0]])
    srv.api.token = init["root_token"]
    for t in ("alice", "kept"):
        r = srv.api.get("secret/data/x", token=state[t])
        assert r.status_code == 200, f"{t}: {r.status_code} {r.text}"
        ttl = srv.api.get("auth/token/lookup-self", token=state[t]).json()["data"]["ttl"]
        assert 0 < ttl <= 768 * 3600
    assert srv.api.get("secret/data/x", token=state["revoked"]).status_code == 403
    me = srv.api.get("auth/token/lookup-self", token=state["alice"]).json()["data"]
    assert me["entity_id"] == state["entity_id"]
    entity = srv.api.get(f"identity/entity/id/{state['entity_id']}").json()["data"]
    assert entity["metadata"] == {"tenant_id": "t1"}
    assert [a["name"] for a in entity["aliases"]] == ["alice"]
    assert "reader" in srv.api.get("sys/policy").json()["data"]["keys"]


def test_the_database_holds_no_token_id(servers):
    srv = servers.target()
    init = srv.init_unseal()
    state = make_state(srv.api)
    srv.stop()
    raw = pathlib.Path(srv.db_path).read_bytes()
    for secret in (init["root_token"], state["alice"], state["kept"], state["revoked"]):
        assert secret.encode() not in raw
        assert secret[2:].encode() not in raw, "the token body without its prefix"
    # Values are encrypted too: the entity's metadata is nowhere in the clear.
    assert b"tenant_id" not in raw


def test_list_with_a_trailing_slash_cannot_bypass_a_deny(ready_target):
    api = ready_target.api
    policy = """
path "secret/metadata/*" { capabilities = ["list"] }
path "secret/metadata/tenant/a/*" { capabilities = ["deny"] }
"""
    assert api.put("sys/policy/lister", {"policy": policy}).status_code == 204
    assert api.post("secret/data/tenant/a/nexa", {"data": {"k": "v"}}).status_code == 200
    assert api.post("secret/data/tenant/b/nexa", {"data": {"k": "v"}}).status_code == 200
    token = api.post("auth/token/create", {"policies": ["lister"]}).json()["auth"]["client_token"]
    assert api.list("secret/metadata/tenant/b/", token=token).status_code == 200
    for path in ("secret/metadata/tenant/a/", "secret/metadata/tenant/a"):
        r = api.list(path, token=token)
        assert r.status_code == 403, f"LIST {path}: {r.status_code} {r.text}"
        r = api.get(path, params={"list": "true"}, token=token)
        assert r.status_code == 403, f"GET {path}?list=true: {r.status_code} {r.text}"


def test_renewal_asks_the_auth_method_that_issued_the_token(ready_target):
    api = ready_target.api
    assert api.post("sys/auth/userpass", {"type": "userpass"}).status_code == 204
    assert api.post("sys/auth/approle", {"type": "approle"}).status_code == 204
    assert api.post("auth/userpass/users/bob", {"password": "pw", "token_policies": "p", "token_ttl": "1h"}).status_code == 204
    assert api.post("auth/approle/role/svc", {"token_policies": "p", "token_ttl": "30m", "token_max_ttl": "2h"}).status_code == 204
    bob = api.post("auth/userpass/login/bob", {"password": "pw"}, token=None).json()["auth"]["client_token"]
    role_id = api.get("auth/approle/role/svc/role-id").json()["data"]["role_id"]
    secret_id = api.post("auth/approle/role/svc/secret-id", {}).json()["data"]["secret_id"]
    svc = api.post("auth/approle/login", {"role_id": role_id, "secret_id": secret_id}, token=None).json()["auth"]["client_token"]

    r = api.post("auth/token/renew-self", {"increment": "10h"}, token=svc)
    assert r.status_code == 200, r.text
    assert r.json()["auth"]["lease_duration"] <= 2 * 3600, "capped by the role's token_max_ttl"
    assert api.post("auth/token/renew-self", {}, token=bob).status_code == 200

    # The user's policies change, the role goes: their tokens can no longer be renewed.
    assert api.post("auth/userpass/users/bob/policies", {"token_policies": "q"}).status_code == 204
    assert api.delete("auth/approle/role/svc").status_code == 204
    for t in (bob, svc):
        r = api.post("auth/token/renew-self", {}, token=t)
        assert r.status_code in (400, 500), f"{r.status_code} {r.text}"
