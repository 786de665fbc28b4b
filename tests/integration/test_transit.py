"""The transit secrets engine through hvac, on mainkey and a real OpenBao dev server side by
side: the same calls, compared by outcome (status, error text, fields), since ciphertexts
are random. Then what OpenBao has and mainkey refuses by name (other key types, derived
keys), and the ACL: a first encrypt creates the key, so it needs `create`."""

from __future__ import annotations

import base64

import hvac
import hvac.exceptions
import pytest

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="compares mainkey with OpenBao")


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def outcome(fn, *args, **kwargs):
    """What a call gave: its data's field names and the values that are not random, or the
    exception class and the server's errors."""
    try:
        res = fn(*args, **kwargs)
    except hvac.exceptions.VaultError as e:
        return ("raised", type(e).__name__, tuple(e.errors or ()))
    if res is None or not hasattr(res, "get"):
        return ("ok", None)
    data = res.get("data") or {}
    stable = {k: v for k, v in data.items() if k in ("plaintext", "key_version", "latest_version", "min_decryption_version", "name", "type", "deletion_allowed")}
    return ("ok", tuple(sorted(data)), stable)


def flow(client: hvac.Client) -> list:
    t = client.secrets.transit
    steps = []
    steps.append(("create", outcome(t.create_key, "app")))
    steps.append(("read", outcome(t.read_key, "app")))
    ct1 = t.encrypt_data("app", plaintext=b64("hello"))["data"]["ciphertext"]
    steps.append(("ct prefix", ct1[:9]))
    steps.append(("decrypt", outcome(t.decrypt_data, "app", ciphertext=ct1)))
    steps.append(("rotate", outcome(t.rotate_key, "app")))
    ct2 = t.encrypt_data("app", plaintext=b64("hello"))["data"]["ciphertext"]
    steps.append(("ct2 prefix", ct2[:9]))
    steps.append(("rewrap", outcome(t.rewrap_data, "app", ciphertext=ct1)))
    steps.append(("decrypt old", outcome(t.decrypt_data, "app", ciphertext=ct1)))
    steps.append(("config min 2", outcome(t.update_key_configuration, "app", min_decryption_version=2)))
    steps.append(("decrypt too old", outcome(t.decrypt_data, "app", ciphertext=ct1)))
    steps.append(("config min 5", outcome(t.update_key_configuration, "app", min_decryption_version=5)))
    tampered = ct2[:-4] + ("AAAA" if not ct2.endswith("AAAA") else "BBBB")
    steps.append(("decrypt tampered", outcome(t.decrypt_data, "app", ciphertext=tampered)))
    steps.append(("decrypt no prefix", outcome(t.decrypt_data, "app", ciphertext="abc")))
    steps.append(("decrypt missing key", outcome(t.decrypt_data, "nokey", ciphertext=ct2)))
    steps.append(("encrypt bad b64", outcome(t.encrypt_data, "app", plaintext="%%%")))
    dk = t.generate_data_key("app", key_type="plaintext", bits=256)["data"]
    steps.append(("datakey fields", tuple(sorted(dk))))
    steps.append(("datakey len", len(base64.b64decode(dk["plaintext"]))))
    steps.append(("datakey decrypts", outcome(t.decrypt_data, "app", ciphertext=dk["ciphertext"])[2]["plaintext"] == dk["plaintext"]))
    wrapped = t.generate_data_key("app", key_type="wrapped")["data"]
    steps.append(("wrapped fields", tuple(sorted(wrapped))))
    steps.append(("datakey bad bits", outcome(t.generate_data_key, "app", key_type="plaintext", bits=100)))
    batch = t.encrypt_data("app", batch_input=[{"plaintext": b64("a")}, {"plaintext": b64("b")}])["data"]["batch_results"]
    dec = t.decrypt_data("app", batch_input=[{"ciphertext": r["ciphertext"]} for r in batch])["data"]["batch_results"]
    steps.append(("batch", [r["plaintext"] for r in dec]))
    steps.append(("upsert", outcome(t.encrypt_data, "fresh", plaintext=b64("x"))[1]))
    steps.append(("list", sorted(t.list_keys()["data"]["keys"])))
    steps.append(("delete refused", outcome(t.delete_key, "app")))
    steps.append(("allow deletion", outcome(t.update_key_configuration, "app", deletion_allowed=True)))
    steps.append(("delete", outcome(t.delete_key, "app")))
    steps.append(("read deleted", outcome(t.read_key, "app")))
    return steps


def test_transit_matches_openbao_call_for_call(servers):
    mk = servers.target()
    mk.init_unseal(1, 1)
    bao = servers.openbao_dev()
    records = []
    for srv in (mk, bao):
        client = hvac.Client(url=srv.url, token=srv.root_token)
        client.sys.enable_secrets_engine("transit", path="transit")
        records.append(flow(client))
    assert len(records[0]) == len(records[1])
    diffs = [f"{label}: mainkey {got!r}\n  OpenBao {want!r}" for (label, got), (_, want) in zip(*records) if got != want]
    assert not diffs, "\n".join(diffs)


def test_transit_refuses_what_it_does_not_serve_and_keys_stay_secret(servers):
    srv = servers.target()
    srv.init_unseal(1, 1)
    client = hvac.Client(url=srv.url, token=srv.root_token)
    client.sys.enable_secrets_engine("transit", path="transit")
    t = client.secrets.transit
    for kw in ({"key_type": "rsa-2048"}, {"key_type": "chacha20-poly1305"}, {"derived": True}):
        with pytest.raises(hvac.exceptions.InvalidRequest) as e:
            t.create_key("other", **kw)
        assert "not supported" in str(e.value) or "unsupported key type" in str(e.value), e.value
    with pytest.raises(hvac.exceptions.InvalidPath):
        t.read_key("other")

    t.create_key("k")
    ct = t.encrypt_data("k", plaintext=b64("the secret"))["data"]["ciphertext"]
    # The key survives a restart (it is in the barrier), and no key material is readable.
    srv.restart()
    srv.api.unseal(srv.keys)
    assert t.decrypt_data("k", ciphertext=ct)["data"]["plaintext"] == b64("the secret")
    body = srv.api.get("transit/keys/k").text
    assert "versions" not in body and '"key"' not in body, body
    log = srv.output()
    assert "the secret" not in log and b64("the secret") not in log


def test_first_encrypt_needs_create_and_decrypt_needs_update(servers):
    mk = servers.target()
    mk.init_unseal(1, 1)
    for srv in (mk, servers.openbao_dev()):
        first_encrypt_needs_create(srv)


def first_encrypt_needs_create(srv):
    assert srv.api.post("sys/mounts/transit", {"type": "transit"}).status_code == 204
    policy = (
        'path "transit/encrypt/*" { capabilities = ["update"] }\n'
        'path "transit/decrypt/*" { capabilities = ["update"] }\n'
    )
    assert srv.api.put("sys/policies/acl/use", {"policy": policy}).status_code == 204
    tok = srv.api.post("auth/token/create", {"policies": ["use"]}).json()["auth"]["client_token"]
    # `update` only: a new key is refused, an existing one works.
    r = srv.api.post("transit/encrypt/new", {"plaintext": b64("x")}, token=tok)
    assert r.status_code == 403, (srv.kind, r.text)
    assert srv.api.get("transit/keys/new").status_code == 404
    assert srv.api.post("transit/keys/have", {}).status_code in (200, 204)
    r = srv.api.post("transit/encrypt/have", {"plaintext": b64("x")}, token=tok)
    assert r.status_code == 200, (srv.kind, r.text)
    ct = r.json()["data"]["ciphertext"]
    r = srv.api.post("transit/decrypt/have", {"ciphertext": ct}, token=tok)
    assert r.status_code == 200 and r.json()["data"]["plaintext"] == b64("x"), (srv.kind, r.text)
    # No read on keys/: the key's description is refused.
    assert srv.api.get("transit/keys/have", token=tok).status_code == 403
