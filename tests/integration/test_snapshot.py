"""`sys/storage/raft/snapshot[-force]` and `mainkey operator snapshot save|restore|inspect`
through the real binary: a snapshot restored into another server comes back with the first
server's data and unseal keys; a corrupted or foreign file changes nothing; the endpoints need
sudo and an unsealed server. The file is mainkey's own (still barrier-encrypted), not Vault's
raft tarball, so OpenBao is not a peer for the bytes; the status codes follow Vault's."""

from __future__ import annotations

import json
import os
import stat

import pytest

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="mainkey's snapshot format and CLI")


def ok(r, what=""):
    assert r.returncode == 0, f"{what}: rc {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def kv_value(srv, token=None):
    r = srv.api.get("secret/data/app", token=token or srv.root_token)
    assert r.status_code == 200, r.text
    return r.json()["data"]["data"]["v"]


def test_snapshot_moves_the_store_to_a_fresh_server_with_its_keys(servers, tmp_path):
    a = servers.target()
    a.init_unseal(5, 3)
    a.api.enable_kv("secret")
    assert a.api.put("secret/data/app", {"data": {"v": "before"}}).status_code == 200
    snap = tmp_path / "backup.snap"

    ok(a.cli("operator", "snapshot", "save", str(snap)), "save")
    assert stat.S_IMODE(os.stat(snap).st_mode) == 0o600
    raw = snap.read_bytes()
    # Still encrypted by the barrier: neither the value nor the root token is in the file.
    assert b"before" not in raw and a.root_token.encode() not in raw
    table = ok(a.cli("operator", "snapshot", "inspect", str(snap), token=None)).stdout
    assert "Entries" in table and "Format     1" in table, table
    info = json.loads(ok(a.cli("operator", "snapshot", "inspect", "-format=json", str(snap), token=None)).stdout)
    assert info["entries"] > 3 and info["size"] == len(raw), info

    # Restoring into the same server (its own keys, so no -force) rolls a later write back.
    assert a.api.put("secret/data/app", {"data": {"v": "after"}}).status_code == 200
    out = ok(a.cli("operator", "snapshot", "restore", str(snap)), "restore").stdout
    assert "sealed" in out, out
    assert a.api.seal_status()["sealed"] is True
    a.api.unseal(a.keys[:3])
    assert kv_value(a) == "before"

    # Another server: refused without -force, and left as it was.
    b = servers.target()
    b.init_unseal(1, 1)
    b_root = b.root_token
    r = b.cli("operator", "snapshot", "restore", str(snap))
    assert r.returncode != 0 and "sealed by other keys" in r.stderr, r.stdout + r.stderr
    assert b.api.seal_status()["sealed"] is False
    assert b.api.get("sys/mounts/secret", token=b_root).status_code in (400, 404)

    ok(b.cli("operator", "snapshot", "restore", "-force", str(snap)), "restore -force")
    status = b.api.seal_status()
    assert status["sealed"] is True and (status["t"], status["n"]) == (3, 5), status
    # Its own key no longer unseals it; the first server's do, and its root token works.
    r = b.api.put("sys/unseal", {"key": b.keys[0]}, token=None)
    assert r.status_code == 400 or r.json().get("sealed") is True, r.text
    b.api.put("sys/unseal", {"reset": True}, token=None)
    b.api.unseal(a.keys[1:4])
    assert kv_value(b, a.root_token) == "before"
    got = ok(b.bao("kv", "get", "-field=v", "secret/app", token=a.root_token)).stdout.strip()
    assert got == "before"
    assert b.api.get("auth/token/lookup-self", token=b_root).status_code == 403

    # And it survives a restart: the restore was durable.
    b.restart()
    b.api.unseal(a.keys[:3])
    assert kv_value(b, a.root_token) == "before"


def test_a_corrupted_or_empty_snapshot_changes_nothing(servers, tmp_path):
    srv = servers.target()
    srv.init_unseal(1, 1)
    srv.api.enable_kv("secret")
    assert srv.api.put("secret/data/app", {"data": {"v": "kept"}}).status_code == 200
    snap = tmp_path / "s.snap"
    ok(srv.cli("operator", "snapshot", "save", str(snap)))
    good = snap.read_bytes()

    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x40
    for body in (bytes(bad), good[:-1], good[: len(good) // 2], b"", b'{"not":"a snapshot"}'):
        for path in ("sys/storage/raft/snapshot", "sys/storage/raft/snapshot-force"):
            r = srv.api.request("PUT", path, data=body, headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 400, (path, len(body), r.status_code, r.text)
            assert "snapshot" in r.json()["errors"][0], r.text
    assert srv.api.seal_status()["sealed"] is False
    assert kv_value(srv) == "kept"

    # Other spellings of the path are not restores: the good file is never taken as one.
    for path in ("sys/storage/raft/snapshot/", "sys/storage/raft//snapshot", "sys/storage/raft/Snapshot",
                 "sys/storage/raft/snapshot%2F"):
        r = srv.api.request("PUT", path, data=good, headers={"Content-Type": "application/octet-stream"})
        assert r.status_code in (400, 404), (path, r.status_code, r.text)
    assert srv.api.seal_status()["sealed"] is False

    # The CLI refuses it before sending it.
    snap.write_bytes(bytes(bad))
    r = srv.cli("operator", "snapshot", "restore", "-force", str(snap))
    assert r.returncode != 0 and "checksum mismatch" in r.stderr, r.stdout + r.stderr
    r = srv.cli("operator", "snapshot", "inspect", str(snap), token=None)
    assert r.returncode == 2 and "invalid snapshot" in r.stderr, r.stdout + r.stderr
    assert kv_value(srv) == "kept"


def test_snapshot_endpoints_need_sudo_and_an_unsealed_server(servers):
    srv = servers.target()
    srv.init_unseal(1, 1)
    # Every capability but sudo, on both paths: still refused, as Vault refuses it.
    policy = 'path "sys/storage/raft/snapshot*" { capabilities = ["create", "read", "update", "delete", "list"] }'
    assert srv.api.put("sys/policies/acl/almost", {"policy": policy}).status_code == 204
    r = srv.api.post("auth/token/create", {"policies": ["almost"]})
    weak = r.json()["auth"]["client_token"]
    assert srv.api.get("sys/storage/raft/snapshot", token=weak).status_code == 403
    r = srv.api.request("PUT", "sys/storage/raft/snapshot-force", data=b"x", token=weak)
    assert r.status_code == 403, r.text
    assert srv.api.get("sys/storage/raft/snapshot", token=None).status_code in (400, 403)

    sudo = policy.replace('"list"]', '"list", "sudo"]')
    assert srv.api.put("sys/policies/acl/almost", {"policy": sudo}).status_code == 204
    r = srv.api.get("sys/storage/raft/snapshot", token=weak)
    assert r.status_code == 200 and r.content.startswith(b"MAINKEY-SNAPSHOT\n"), r.status_code

    assert srv.api.put("sys/seal").status_code == 204
    assert srv.api.get("sys/storage/raft/snapshot").status_code == 503
    r = srv.api.request("PUT", "sys/storage/raft/snapshot-force", data=r.content)
    assert r.status_code == 503, r.text


def test_a_restore_larger_than_max_request_size_is_413_and_changes_nothing(servers, tmp_path):
    # The restore body skips the JSON limits, not the size limit: a 413 before the body is
    # read to the end, as for any other request.
    srv = servers.target(max_request_size=4096)
    srv.init_unseal(1, 1)
    srv.api.enable_kv("secret")
    assert srv.api.put("secret/data/app", {"data": {"v": "kept"}}).status_code == 200
    for i in range(8):
        assert srv.api.put(f"secret/data/pad{i}", {"data": {"v": "x" * 600}}).status_code == 200
    snap = tmp_path / "big.snap"
    ok(srv.cli("operator", "snapshot", "save", str(snap)))
    big = snap.read_bytes()
    assert len(big) > 4096, len(big)
    r = srv.api.request("PUT", "sys/storage/raft/snapshot", data=big)
    assert r.status_code == 413, r.text
    assert srv.api.seal_status()["sealed"] is False
    assert kv_value(srv) == "kept"
