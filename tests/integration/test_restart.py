"""A restart keeps everything: mounts, secrets with all versions and metadata, the root token,
the keyring (after a rotation), and the unseal keys from before."""

from __future__ import annotations

import signal

from vaultcmp import assert_same


def snapshot(api) -> dict:
    """Everything a client can see of the state this test creates."""
    snap: dict = {}
    mounts = api.get("sys/mounts")
    assert mounts.status_code == 200, mounts.text
    body = mounts.json()
    table = body.get("data", body)
    snap["mounts"] = {k: table[k] for k in ("secret/", "glassdome/", "kv1/")}
    for m in ("secret", "glassdome"):
        snap[f"{m} config"] = api.get(f"{m}/config").json()["data"]
        for path in ("app/db", "app/api", "tenant/demo/nexa"):
            meta = api.get(f"{m}/metadata/{path}")
            assert meta.status_code == 200, f"{m}/metadata/{path}: {meta.status_code} {meta.text}"
            meta = meta.json()["data"]
            snap[f"{m}/metadata/{path}"] = meta
            for v in sorted(meta["versions"], key=int):
                r = api.get(f"{m}/data/{path}", params={"version": v})
                snap[f"{m}/data/{path}?version={v}"] = {"status": r.status_code, "body": r.json().get("data")}
        snap[f"{m} list"] = api.list(f"{m}/metadata/app").json()["data"]
    snap["kv1/foo"] = api.get("kv1/foo").json()["data"]
    snap["kv1 list"] = api.list("kv1/").json()["data"]
    return snap


def populate(api) -> None:
    for m in ("secret", "glassdome"):
        if m != "secret":
            api.enable_kv(m, 2)
        assert api.post(f"{m}/config", {"max_versions": 6}).status_code in (200, 204)
        for i in range(1, 5):
            r = api.post(f"{m}/data/app/db", {"data": {"user": "admin", "pass": f"v{i}"}})
            assert r.status_code == 200, r.text
        assert api.post(f"{m}/data/app/api", {"data": {"token": "t"}}).status_code == 200
        assert api.post(f"{m}/data/tenant/demo/nexa", {"data": {"NEXA_MODEL_ID": "m"}}).status_code == 200
        r = api.post(
            f"{m}/metadata/app/db",
            {"max_versions": 5, "custom_metadata": {"owner": "ops"}, "delete_version_after": "1000h"},
        )
        assert r.status_code in (200, 204), r.text
        assert api.post(f"{m}/delete/app/db", {"versions": [2]}).status_code == 204
        assert api.post(f"{m}/destroy/app/db", {"versions": [1]}).status_code == 204
        assert api.delete(f"{m}/data/app/api").status_code == 204  # latest version soft-deleted
    api.enable_kv("kv1", 1)
    assert api.post("kv1/foo", {"a": "b"}).status_code == 204
    assert api.post("kv1/dir/bar", {"x": "1"}).status_code == 204


def test_restart_keeps_mounts_secrets_metadata_and_root_token(servers):
    srv = servers.target()
    init = srv.init_unseal(shares=5, threshold=3)
    srv.api.enable_kv("secret")
    populate(srv.api)

    # A new key term: entries written before and after it must both survive.
    r = srv.api.post("sys/rotate")
    assert r.status_code == 204, f"sys/rotate: {r.status_code} {r.text}"
    ks = srv.api.get("sys/key-status")
    assert ks.status_code == 200, ks.text
    term = ks.json().get("term", ks.json().get("data", {}).get("term"))
    assert term == 2, f"term after one rotation: {ks.text}"
    assert srv.api.post("secret/data/after-rotate", {"data": {"k": "new-term"}}).status_code == 200

    before = snapshot(srv.api)
    srv.stop()
    assert not srv.running
    srv.start()

    st = srv.api.seal_status()
    assert st["sealed"] is True and st["initialized"] is True and (st["t"], st["n"]) == (3, 5), st
    # Any 3 of the 5 keys from before the restart unseal it (not the same 3 as the first time).
    srv.api.unseal([init["keys"][4], init["keys_base64"][1], init["keys"][3]])

    srv.api.token = init["root_token"]
    after = snapshot(srv.api)
    # Same server, same data: nothing is volatile here, not even ids and times.
    assert_same(after, before, what="state after restart", volatile=(), names=("after", "before"))
    assert before["secret/data/app/db?version=4"]["body"]["data"] == {"user": "admin", "pass": "v4"}
    assert before["secret/data/app/db?version=1"]["status"] == 404  # destroyed
    assert before["secret/metadata/app/db"]["custom_metadata"] == {"owner": "ops"}

    r = srv.api.get("secret/data/after-rotate")
    assert r.status_code == 200 and r.json()["data"]["data"] == {"k": "new-term"}, r.text
    ks = srv.api.get("sys/key-status")
    assert ks.json().get("term", ks.json().get("data", {}).get("term")) == 2, ks.text

    # The root token is still root; a wrong one still is not.
    assert srv.api.get("sys/mounts").status_code == 200
    assert srv.api.get("sys/mounts", token="s.notthetokennotthetoken0").status_code == 403


def test_restart_after_sigint_and_sigkill(servers):
    """Whatever the stop, the next start opens the same database and the same keys work."""
    srv = servers.target()
    srv.init_unseal(shares=3, threshold=2)
    srv.api.enable_kv("secret")
    for i, sig in enumerate((signal.SIGINT, signal.SIGKILL, signal.SIGTERM)):
        r = srv.api.post("secret/data/stops", {"data": {"n": str(i)}})
        assert r.status_code == 200, r.text
        srv.send(sig)
        rc, _ = srv.wait_exit(10)
        assert rc is not None, f"server ignored signal {sig}"
        srv.start()
        srv.api.unseal(srv.keys[i % 3 : i % 3 + 2] if i < 2 else [srv.keys[2], srv.keys[0]])
        got = srv.api.get("secret/data/stops").json()["data"]
        assert got["data"] == {"n": str(i)} and got["metadata"]["version"] == i + 1, got
