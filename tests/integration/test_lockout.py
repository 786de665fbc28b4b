"""Issue 8 §4 "User lockout": `user_lockout_config` on tune, the `user_lockout` server block,
`sys/locked-users` (list and unlock) and locks that survive a restart, next to OpenBao.

OpenBao answers a locked login with 403; mainkey answers it exactly as a wrong secret (its
own, stricter rule, tested in test_request_limits.py). Here only "refused or not" is compared.
"""

from __future__ import annotations

import json

import pytest

from conftest import TARGET


def ok(resp):
    assert resp.status_code in (200, 204), (resp.status_code, resp.text)
    return resp.json() if resp.status_code == 200 else None


def approle(srv, path: str = "ar") -> tuple[str, str, str]:
    """An AppRole mount with role `r`: (role_id, secret_id, mount accessor)."""
    api = srv.api
    ok(api.post(f"sys/auth/{path}", {"type": "approle"}))
    ok(api.post(f"auth/{path}/role/r", {}))
    rid = ok(api.get(f"auth/{path}/role/r/role-id"))["data"]["role_id"]
    sid = ok(api.post(f"auth/{path}/role/r/secret-id", {}))["data"]["secret_id"]
    accessor = ok(api.get("sys/auth"))["data"][f"{path}/"]["accessor"]
    return rid, sid, accessor


def login(srv, rid: str, sid: str, path: str = "ar"):
    anon = type(srv.api)(srv.api.url)
    return anon.post(f"auth/{path}/login", {"role_id": rid, "secret_id": sid}, token=None)


def tuned(srv, path: str = "ar") -> dict:
    data = ok(srv.api.get(f"sys/auth/{path}/tune"))["data"]
    return {k: v for k, v in data.items() if k.startswith("user_lockout")}


def test_tune_and_locked_users_answer_as_openbao(servers):
    srv = servers.target()
    srv.init_unseal()
    srv.api.token = srv.root_token
    bao = servers.openbao_dev()
    seen = []
    for s in (srv, bao):
        rid, sid, acc = approle(s)
        assert tuned(s) == {}, "untuned mounts show no lockout keys"
        ok(s.api.post("sys/auth/ar/tune", {"user_lockout_config": {"lockout_threshold": "2", "lockout_duration": "10m"}}))
        after_tune = tuned(s)
        listing = ok(s.api.get("sys/auth"))["data"]["ar/"]["config"].get("user_lockout_config")
        for _ in range(2):
            assert login(s, rid, "wrong").status_code == 400
        locked = login(s, rid, sid)
        listed = ok(s.api.get("sys/locked-users"))["data"]
        by_accessor = ok(s.api.get("sys/locked-users", params={"mount_accessor": acc}))["data"]
        unlock = s.api.post(f"sys/locked-users/{acc}/unlock/{rid}", {})
        after_unlock = login(s, rid, sid)
        empty = ok(s.api.get("sys/locked-users"))["data"]
        # A mount type without logins to lock refuses the tune.
        ok(s.api.post("sys/auth/tok2", {"type": "kubernetes"}))
        refused = s.api.post("sys/auth/tok2/tune", {"user_lockout_config": {"lockout_threshold": "3"}})
        seen.append(
            {
                "tune": after_tune,
                "listing": listing,
                "locked": locked.status_code != 200,
                "listed": _anonymise(listed, acc, rid),
                "by_accessor": _anonymise(by_accessor, acc, rid),
                "unlock": unlock.status_code,
                "after_unlock": after_unlock.status_code,
                "empty": _anonymise(empty, acc, rid),
                "refused": (refused.status_code, refused.json()),
            }
        )
    mine, theirs = seen
    assert mine["tune"] == {
        "user_lockout_counter_reset_duration": 0,
        "user_lockout_disable": False,
        "user_lockout_duration": 600,
        "user_lockout_threshold": 2,
    }
    assert mine["listing"]["user_lockout_threshold"] == 2
    assert mine["locked"] and mine["after_unlock"] == 200
    assert mine["listed"]["total"] == 1
    assert mine == theirs


def _anonymise(data: dict, acc: str, alias: str) -> dict:
    """The answer with this server's own accessor and alias (role-id, user) replaced."""
    text = json.dumps(data).replace(acc, "<accessor>").replace(alias, "<alias>")
    return json.loads(text)


def test_a_lock_survives_a_restart_and_so_does_an_unlock(servers):
    srv = servers.target()
    srv.init_unseal()
    srv.api.token = srv.root_token
    rid, sid, acc = approle(srv)
    for _ in range(5):
        assert login(srv, rid, "wrong").status_code == 400
    assert login(srv, rid, sid).status_code != 200
    srv.restart()
    srv.api.unseal(srv.keys)
    srv.api.wait_active()
    assert login(srv, rid, sid).status_code != 200, "a restart unlocked the role-id"
    listed = ok(srv.api.get("sys/locked-users"))["data"]
    assert listed["total"] == 1
    assert listed["by_namespace"][0]["mount_accessors"][0]["alias_identifiers"] == [rid]
    assert srv.api.post(f"sys/locked-users/{acc}/unlock/{rid}", {}).status_code == 204
    srv.restart()
    srv.api.unseal(srv.keys)
    srv.api.wait_active()
    assert login(srv, rid, sid).status_code == 200, "the unlock was lost in the restart"


def test_the_server_block_sets_the_lockout_and_the_tune_overrides_it(servers):
    srv = servers.target(top_extra='user_lockout "approle" {\n  lockout_threshold = 2\n}')
    srv.init_unseal()
    srv.api.token = srv.root_token
    rid, sid, _ = approle(srv)
    for _ in range(2):
        assert login(srv, rid, "wrong").status_code == 400
    assert login(srv, rid, sid).status_code != 200, "the server block's threshold was ignored"
    # Another mount, tuned to switch lockout off: the tune wins over the server block.
    rid2, sid2, _ = approle(srv, "ar2")
    ok(srv.api.post("sys/auth/ar2/tune", {"user_lockout_config": {"lockout_disable": True}}))
    for _ in range(6):
        assert login(srv, rid2, "wrong", "ar2").status_code == 400
    assert login(srv, rid2, sid2, "ar2").status_code == 200


@pytest.mark.mainkey_only
def test_a_bad_user_lockout_block_stops_the_server_with_file_block_and_key(servers):
    srv = servers.target(top_extra='user_lockout "all" {\n  lockout_threshold = "many"\n}', start=False)
    srv.start(wait=False)
    code, _ = srv.wait_exit(20)
    assert code not in (None, 0)
    out = srv.output()
    assert 'user_lockout "all": lockout_threshold: expected an integer, got "many"' in out, out


def test_a_locked_userpass_user_is_listed_and_unlocked_as_in_openbao(servers):
    srv = servers.target()
    srv.init_unseal()
    srv.api.token = srv.root_token
    bao = servers.openbao_dev()
    seen = []
    for s in (srv, bao):
        api = s.api
        ok(api.post("sys/auth/up", {"type": "userpass"}))
        ok(api.post("auth/up/users/alice", {"password": "right"}))
        ok(api.post("sys/auth/up/tune", {"user_lockout_config": {"lockout_threshold": 2}}))
        acc = ok(api.get("sys/auth"))["data"]["up/"]["accessor"]
        anon = type(api)(api.url)
        for _ in range(2):
            assert anon.post("auth/up/login/alice", {"password": "wrong"}, token=None).status_code == 400
        locked = anon.post("auth/up/login/alice", {"password": "right"}, token=None)
        listed = ok(api.get("sys/locked-users", params={"mount_accessor": acc}))["data"]
        unlock = api.post(f"sys/locked-users/{acc}/unlock/alice", {})
        after = anon.post("auth/up/login/alice", {"password": "right"}, token=None)
        seen.append((locked.status_code != 200, _anonymise(listed, acc, "alice"), unlock.status_code, after.status_code))
    assert seen[0] == seen[1]
    assert seen[0][1]["by_namespace"][0]["mount_accessors"][0]["alias_identifiers"] == ["<alias>"]
