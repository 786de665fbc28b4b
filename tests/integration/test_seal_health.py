"""Sealing closes every path but seal/health/init; sys/health's codes and parameters."""

from __future__ import annotations

import pytest

from vaultcmp import assert_same

SEALED = {"errors": ["Vault is sealed"]}


def test_sealed_kv_answers_503_and_unseal_restores(ready_target):
    api = ready_target.api
    assert api.post("secret/data/app", {"data": {"k": "v"}}).status_code == 200
    api.enable_kv("kv1", 1)
    assert api.post("kv1/app", {"k": "v1"}).status_code == 204

    r = api.put("sys/seal")
    assert r.status_code == 204, f"sys/seal: {r.status_code} {r.text}"
    assert api.seal_status()["sealed"] is True

    for method, path, body in [
        ("GET", "secret/data/app", None),
        ("GET", "secret/metadata/app", None),
        ("LIST", "secret/metadata/", None),
        ("GET", "secret/metadata/?list=true", None),
        ("POST", "secret/data/app", {"data": {"k": "x"}}),
        ("DELETE", "secret/data/app", None),
        ("GET", "kv1/app", None),
        ("GET", "sys/mounts", None),
        ("GET", "secret/data/never-written", None),
    ]:
        r = api.request(method, path, json=body)
        assert r.status_code == 503, f"{method} {path} while sealed: {r.status_code} {r.text}"
        assert r.json() == SEALED, f"{method} {path} while sealed: {r.text}"
    # Even without a token: sealed wins over permission denied, as in Vault.
    r = api.get("secret/data/app", token=None)
    assert (r.status_code, r.json()) == (503, SEALED), r.text

    # The seal/health/init paths still answer.
    assert api.get("sys/health", token=None).status_code == 503
    assert api.get("sys/init", token=None).json() == {"initialized": True}
    assert api.get("sys/seal-status", token=None).json()["sealed"] is True

    api.unseal(ready_target.keys[:1])
    r = api.get("secret/data/app")
    assert r.status_code == 200 and r.json()["data"]["data"] == {"k": "v"}, r.text
    assert api.get("kv1/app").json()["data"] == {"k": "v1"}
    # The write attempted while sealed did not happen.
    assert r.json()["data"]["metadata"]["version"] == 1


def test_seal_requires_a_token(ready_target):
    r = ready_target.api.put("sys/seal", token=None)
    assert r.status_code == 403, r.text
    r = ready_target.api.put("sys/seal", token="s.wrongwrongwrongwrongwron")
    assert r.status_code == 403, r.text
    assert ready_target.api.seal_status()["sealed"] is False


def test_bao_status_exit_codes_follow_the_seal(ready_target):
    assert ready_target.bao("status").returncode == 0
    assert ready_target.api.put("sys/seal").status_code == 204
    r = ready_target.bao("status")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Sealed" in r.stdout and "true" in r.stdout
    ready_target.api.unseal(ready_target.keys[:1])
    assert ready_target.bao("status").returncode == 0


def _health(srv, method="GET", **params):
    r = srv.api.request(method, "sys/health", token=None, params=params)
    body = r.json() if method == "GET" and r.content else None
    return r.status_code, body, r


HEALTH_IGNORE = ["version", "replication_performance_mode", "server_time_utc", "cluster_name", "cluster_id", "!enterprise", "!echo_duration_ms", "!clock_skew_ms", "!replication_primary_canary_age_ms", "!last_wal", "!ha_connection_healthy", "!removed_from_cluster"]


def test_health_codes_and_parameters(servers):
    tgt = servers.target()
    ref = servers.openbao_config(storage="inmem")

    def both(state: str, method="GET", **params):
        ct, bt, rt = _health(tgt, method, **params)
        ce, be, re_ = _health(ref, method, **params)
        assert ct == ce, f"sys/health {params} {method} ({state}): {ct} vs OpenBao {ce}: {rt.text}"
        if method == "HEAD":
            assert rt.content == b"", "HEAD must have no body"
        else:
            assert_same(bt, be, what=f"sys/health {params} ({state})", ignore=HEALTH_IGNORE)
        return ct

    assert both("uninit") == 501
    assert both("uninit", uninitcode=299) == 299
    assert both("uninit", "HEAD") == 501

    for srv in (tgt, ref):
        srv.api.init(1, 1)
    assert both("sealed") == 503
    assert both("sealed", sealedcode=298) == 298
    assert both("sealed", "HEAD") == 503
    assert both("sealed", "HEAD", sealedcode=297) == 297



@pytest.fixture
def unsealed_pair(servers):
    tgt = servers.target()
    ref = servers.openbao_config(storage="inmem")
    for srv in (tgt, ref):
        srv.init_unseal()
    return tgt, ref


def test_health_active_codes_and_parameters(unsealed_pair):
    tgt, ref = unsealed_pair
    for params, want in [
        ({}, 200),
        ({"activecode": 201}, 201),
        ({"standbyok": "true"}, 200),
        ({"standbycode": 472}, 200),  # active: standbycode does not apply
        ({"sealedcode": 299, "uninitcode": 298}, 200),
    ]:
        for method in ("GET", "HEAD"):
            ct, bt, rt = _health(tgt, method, **params)
            ce, be, _ = _health(ref, method, **params)
            assert ct == ce == want, f"sys/health {method} {params}: {ct} vs OpenBao {ce} (want {want}): {rt.text}"
            if method == "GET":
                assert_same(bt, be, what=f"sys/health {params}", ignore=HEALTH_IGNORE)
                assert bt["initialized"] is True and bt["sealed"] is False and bt["standby"] is False
            else:
                assert rt.content == b""


def test_leader_and_seal_status_shape(unsealed_pair):
    tgt, ref = unsealed_pair
    ignore = ["version", "storage_type", "ha_enabled", "leader_address", "leader_cluster_address", "!is_self", "!raft_*", "!active_time", "!performance_standby*", "!leader_*", "!build_date"]
    for path in ("sys/seal-status", "sys/leader"):
        a = tgt.api.get(path, token=None)
        e = ref.api.get(path, token=None)
        assert a.status_code == e.status_code == 200, f"{path}: {a.status_code} {a.text}"
        assert_same(a.json(), e.json(), what=path, ignore=ignore)
