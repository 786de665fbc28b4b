"""`sys/rekey/*` and `sys/generate-root/*` through the real binary, with `mainkey operator
rekey|generate-root`: a rekey survives a restart (the new shares unseal, the old ones do not),
a generated root token is a real root token that can revoke the old one, and the answers
match OpenBao's (started with the unauthenticated endpoints enabled, as they were before
OpenBao 2.5 turned them off by default)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="mainkey CLI; OpenBao is the peer here")

OPENBAO_UNAUTHED = "  disable_unauthed_rekey_endpoints = false\n  disable_unauthed_generate_root_endpoints = false"


def ok(r, what=""):
    assert r.returncode == 0, f"{what}: rc {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def cli_json(srv, *args, **kw):
    r = ok(srv.cli(*args, "-format=json", **kw), " ".join(args))
    return json.loads(r.stdout)


def test_rekey_then_restart_unseals_with_the_new_shares_only(servers):
    srv = servers.target()
    srv.init_unseal(5, 3)
    old = srv.keys
    root = srv.root_token
    srv.api.enable_kv("secret")
    assert srv.api.put("secret/data/app", {"data": {"v": "before"}}).status_code == 200

    # Anyone may start a rekey, as in Vault; finishing it needs the old quorum.
    started = cli_json(srv, "operator", "rekey", "-init", "-key-shares=3", "-key-threshold=2", token=None)
    assert (started["started"], started["t"], started["n"], started["required"]) == (True, 2, 3, 3), started
    nonce = started["nonce"]
    table = ok(srv.cli("operator", "rekey", "-status", token=None)).stdout
    assert f"Nonce                    {nonce}" in table and "Progress                 0/3" in table, table

    r = srv.cli("operator", "rekey", "-nonce=wrong", old[0], token=None)
    assert r.returncode == 2 and "incorrect nonce supplied" in r.stderr, r.stdout + r.stderr
    one = cli_json(srv, "operator", "rekey", f"-nonce={nonce}", old[0], token=None)
    assert one["progress"] == 1 and "keys" not in one, one
    r = srv.cli("operator", "rekey", f"-nonce={nonce}", old[0], token=None)
    assert r.returncode == 2 and "already been provided" in r.stderr, r.stdout + r.stderr
    # The status shows how many keys were given, never which.
    status = srv.api.get("sys/rekey/init", token=None).json()
    assert status["progress"] == 1 and old[0] not in json.dumps(status), status

    two = ok(srv.cli("operator", "rekey", f"-nonce={nonce}", old[3], token=None)).stdout
    assert "Progress                 2/3" in two, two
    done = ok(srv.cli("operator", "rekey", f"-nonce={nonce}", old[4], token=None)).stdout
    new = [line.split(": ", 1)[1] for line in done.splitlines() if line.startswith("Key ")]
    assert len(new) == 3, done
    assert f"Operation nonce: {nonce}" in done and "3 key shares and a key threshold of 2" in done, done
    seal = srv.api.seal_status()
    assert (seal["t"], seal["n"], seal["sealed"]) == (2, 3, False), seal
    r = srv.cli("operator", "rekey", f"-nonce={nonce}", old[1], token=None)
    assert r.returncode == 1 and "No rekey is in progress" in r.stderr, r.stdout + r.stderr

    assert srv.api.put("sys/seal").status_code == 204
    srv.restart()
    assert srv.api.seal_status()["sealed"] is True
    # Two old keys reach the new threshold and fail; progress starts over.
    assert srv.api.put("sys/unseal", {"key": old[0]}, token=None).status_code == 200
    r = srv.api.put("sys/unseal", {"key": old[1]}, token=None)
    assert r.status_code == 400, r.text
    st = srv.api.seal_status()
    assert st["sealed"] is True and st["progress"] == 0, st
    for key in new[1:]:
        ok(srv.cli("operator", "unseal", key, token=None))
    srv.api.wait_active()
    srv.api.token = root
    r = srv.api.get("secret/data/app")
    assert r.status_code == 200 and r.json()["data"]["data"] == {"v": "before"}, r.text


def test_generate_root_gives_a_working_root_token(servers, tmp_path):
    srv = servers.target()
    srv.init_unseal(3, 2)
    old_root = srv.root_token
    log = tmp_path / "audit.log"
    r = srv.api.put("sys/audit/file", {"type": "file", "options": {"file_path": str(log)}})
    assert r.status_code == 204, r.text

    started = cli_json(srv, "operator", "generate-root", "-init", token=None)
    otp, nonce = started["otp"], started["nonce"]
    assert len(otp) == started["otp_length"] == 26 and started["started"] is True, started
    # The pad is shown once: neither the status nor a second start shows it.
    status = cli_json(srv, "operator", "generate-root", "-status", token=None)
    assert status["otp"] == "" and status["nonce"] == nonce and status["progress"] == 0, status
    r = srv.cli("operator", "generate-root", "-init", token=None)
    assert r.returncode == 2 and "already in progress" in r.stderr, r.stdout + r.stderr

    # An attacker's cancel throws away the progress and the pad; a new attempt starts over.
    cli_json(srv, "operator", "generate-root", f"-nonce={nonce}", srv.keys[0], token=None)
    ok(srv.cli("operator", "generate-root", "-cancel", token=None))
    assert srv.api.get("sys/generate-root/attempt", token=None).json()["started"] is False
    r = srv.cli("operator", "generate-root", f"-nonce={nonce}", srv.keys[1], token=None)
    assert r.returncode == 1 and "No root generation is in progress" in r.stderr, r.stdout + r.stderr

    table = srv.cli("operator", "generate-root", "-init", token=None)
    ok(table)
    assert "A One-Time-Password has been generated" in table.stderr, table.stderr
    otp = re.search(r"^OTP\s+(\S+)$", table.stdout, re.MULTILINE).group(1)
    nonce = re.search(r"^Nonce\s+(\S+)$", table.stdout, re.MULTILINE).group(1)
    first = cli_json(srv, "operator", "generate-root", f"-nonce={nonce}", srv.keys[2], token=None)
    assert (first["progress"], first["complete"], first["encoded_token"]) == (1, False, ""), first
    done = cli_json(srv, "operator", "generate-root", f"-nonce={nonce}", srv.keys[0], token=None)
    assert done["complete"] is True and done["encoded_token"] == done["encoded_root_token"] != "", done
    encoded = done["encoded_token"]

    token = ok(srv.cli("operator", "generate-root", f"-decode={encoded}", f"-otp={otp}", token=None)).stdout.strip()
    assert token.startswith("s.") and len(token) == 26 and token != old_root, token
    as_json = cli_json(srv, "operator", "generate-root", f"-decode={encoded}", f"-otp={otp}", token=None)
    assert as_json == {"token": token}
    # The bao CLI decodes it to the same token (it asks its server for the OTP length).
    bao = servers.openbao_dev()
    r = bao.bao("operator", "generate-root", f"-decode={encoded}", f"-otp={otp}")
    assert r.returncode == 0 and r.stdout.strip() == token, r.stdout + r.stderr

    looked = cli_json(srv, "token", "lookup", token=token)
    assert looked["data"]["policies"] == ["root"] and looked["data"]["ttl"] == 0, looked
    ok(srv.cli("token", "revoke", old_root, token=token), "revoke the old root token")
    assert srv.api.get("auth/token/lookup-self", token=old_root).status_code == 403
    assert srv.api.get("sys/mounts", token=token).status_code == 200

    # Audited, with nothing secret in the clear.
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    paths = {entry["request"]["path"] for entry in lines}
    assert {"sys/generate-root/attempt", "sys/generate-root/update"} <= paths, paths
    for secret in [*srv.keys, otp, encoded, token]:
        assert secret not in text, f"{secret[:6]}... in the audit log"


def test_answers_and_refusals_match_openbao(servers):
    mk = servers.target()
    mk.init_unseal(3, 2)
    ob = servers.openbao_config(listener_extra=OPENBAO_UNAUTHED)
    ob.init_unseal(3, 2)

    def both(method, path, body=None):
        out = []
        for srv in (mk, ob):
            r = srv.api.request(method, path, json=body, token=None)
            out.append((r.status_code, r.json() if r.text else None))
        return out

    (mc, m), (oc, o) = both("GET", "sys/rekey/init")
    assert mc == oc == 200 and m == o, (m, o)
    (mc, m), (oc, o) = both("GET", "sys/generate-root/attempt")
    assert mc == oc == 200 and m == o, (m, o)
    (mc, m), (oc, o) = both("PUT", "sys/rekey/update", {"key": mk.keys[0], "nonce": "x"})
    assert mc == oc == 400 and m == o, (m, o)
    # OpenBao answers a bad configuration with 500; it is the caller's error, so 400 here.
    for shares, threshold in [(3, 4), (3, 0), (256, 4), (3, 1), (0, 0)]:
        (mc, m), (oc, o) = both("PUT", "sys/rekey/init", {"secret_shares": shares, "secret_threshold": threshold})
        assert mc == 400 and oc in (400, 500) and m == o, (shares, threshold, m, o)
    (mc, m), (oc, o) = both("PUT", "sys/generate-root/attempt", {"otp": "too-short"})
    assert mc == oc == 400 and m == o, (m, o)

    (mc, m), (oc, o) = both("PUT", "sys/rekey/init", {"secret_shares": 2, "secret_threshold": 2})
    assert mc == oc == 200 and m.keys() == o.keys(), (m, o)
    assert {k: v for k, v in m.items() if k != "nonce"} == {k: v for k, v in o.items() if k != "nonce"}
    (mc, m), (oc, o) = both("PUT", "sys/rekey/init", {"secret_shares": 2, "secret_threshold": 2})
    assert mc == oc == 400 and m == o, (m, o)
    answers = []
    for srv in (mk, ob):
        nonce = srv.api.get("sys/rekey/init", token=None).json()["nonce"]
        first = srv.api.put("sys/rekey/update", {"key": srv.keys[0], "nonce": nonce}, token=None)
        again = srv.api.put("sys/rekey/update", {"key": srv.keys[0], "nonce": nonce}, token=None)
        missing = srv.api.put("sys/rekey/update", {"nonce": nonce}, token=None)
        last = srv.api.put("sys/rekey/update", {"key": srv.keys[1], "nonce": nonce}, token=None)
        assert last.status_code == 200, last.text
        done = last.json()
        assert done["complete"] is True and len(done["keys"]) == len(done["keys_base64"]) == 2, done
        answers.append(
            (
                first.status_code,
                {k: v for k, v in first.json().items() if k != "nonce"},
                again.status_code,
                again.json(),
                missing.status_code,
                missing.json(),
                sorted(done.keys()),
            )
        )
    assert answers[0] == answers[1], answers
    assert mk.api.seal_status()["n"] == ob.api.seal_status()["n"] == 2

    # Sealed, both refuse.
    for srv in (mk, ob):
        assert srv.api.put("sys/seal").status_code == 204
    for method, path, body in [
        ("GET", "sys/rekey/init", None),
        ("DELETE", "sys/rekey/init", None),
        ("GET", "sys/generate-root/attempt", None),
        ("PUT", "sys/generate-root/update", {"key": "aa", "nonce": "x"}),
    ]:
        (mc, m), (oc, o) = both(method, path, body)
        assert mc == oc == 503 and m == o == {"errors": ["Vault is sealed"]}, (path, mc, m, oc, o)
