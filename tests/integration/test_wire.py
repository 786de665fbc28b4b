"""The Vault wire, request for request against a real OpenBao dev server.

Envelope, error bodies, LIST's three forms, PATCH's media type, POST == PUT, 204 for
writes without data, 404 with metadata for a deleted version, warnings as a 200.
"""

from __future__ import annotations

import json

import pytest

from conftest import TARGET
from vaultcmp import assert_same

ENVELOPE = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"}
MERGE = {"Content-Type": "application/merge-patch+json"}

# (label, method, path, body, headers, compare): compare is "body" (status and JSON body) or
# "status" (status, and an `errors` list, where only the wording may differ).
CASES = [
    ("read", "GET", "secret/data/w", None, {}, "body"),
    ("read missing", "GET", "secret/data/nope", None, {}, "body"),
    ("read version 1", "GET", "secret/data/w?version=1", None, {}, "body"),
    ("read bad version", "GET", "secret/data/w?version=abc", None, {}, "status"),
    ("LIST method", "LIST", "secret/metadata/", None, {}, "body"),
    ("list=true", "GET", "secret/metadata/?list=true", None, {}, "body"),
    ("list=1", "GET", "secret/metadata/?list=1", None, {}, "body"),
    ("LIST without trailing slash", "LIST", "secret/metadata/dir", None, {}, "body"),
    ("LIST empty", "LIST", "secret/metadata/none/", None, {}, "body"),
    ("PUT is POST", "PUT", "secret/data/w2", {"data": {"b": "2"}}, {}, "body"),
    ("write with unknown field warns", "POST", "secret/data/w3", {"data": {"a": "1"}, "foo": 1}, {}, "body"),
    ("write without data", "POST", "secret/data/nodata", {}, {}, "body"),
    ("write data not an object", "POST", "secret/data/w", {"data": "str"}, {}, "status"),
    ("PATCH wrong media type", "PATCH", "secret/data/w", {"data": {"c": "3"}}, {"Content-Type": "application/json"}, "body"),
    ("PATCH merge", "PATCH", "secret/data/w", {"data": {"c": "3", "a": None}}, MERGE, "body"),
    ("read patched", "GET", "secret/data/w", None, {}, "body"),
    ("PATCH missing", "PATCH", "secret/data/nope", {"data": {"c": "3"}}, MERGE, "body"),
    ("cas create", "POST", "secret/data/cas", {"options": {"cas": 0}, "data": {"v": "1"}}, {}, "body"),
    ("cas create again", "POST", "secret/data/cas", {"options": {"cas": 0}, "data": {"v": "2"}}, {}, "body"),
    ("cas right", "POST", "secret/data/cas", {"options": {"cas": 1}, "data": {"v": "2"}}, {}, "body"),
    ("config write", "POST", "secret/config", {"max_versions": 4, "cas_required": False, "delete_version_after": "0s"}, {}, "body"),
    ("config read", "GET", "secret/config", None, {}, "body"),
    ("subkeys", "GET", "secret/subkeys/dir/nested", None, {}, "body"),
    ("subkeys depth", "GET", "secret/subkeys/dir/nested?depth=1", None, {}, "body"),
    ("delete version", "POST", "secret/delete/w", {"versions": [1]}, {}, "body"),
    ("read deleted version: 404 with metadata", "GET", "secret/data/w?version=1", None, {}, "body"),
    ("undelete", "POST", "secret/undelete/w", {"versions": [1]}, {}, "body"),
    ("read undeleted", "GET", "secret/data/w?version=1", None, {}, "body"),
    ("destroy", "POST", "secret/destroy/w", {"versions": [1]}, {}, "body"),
    ("read destroyed", "GET", "secret/data/w?version=1", None, {}, "body"),
    ("delete latest", "DELETE", "secret/data/w2", None, {}, "body"),
    ("read deleted latest", "GET", "secret/data/w2", None, {}, "body"),
    ("delete missing", "DELETE", "secret/data/never", None, {}, "body"),
    ("metadata", "GET", "secret/metadata/w", None, {}, "body"),
    ("metadata write", "POST", "secret/metadata/w", {"max_versions": 2, "custom_metadata": {"o": "p"}}, {}, "body"),
    ("metadata patch", "PATCH", "secret/metadata/w", {"custom_metadata": {"q": "r"}}, MERGE, "body"),
    ("metadata after", "GET", "secret/metadata/w", None, {}, "body"),
    ("metadata missing", "GET", "secret/metadata/never", None, {}, "body"),
    ("metadata delete", "DELETE", "secret/metadata/w", None, {}, "body"),
    ("read after metadata delete", "GET", "secret/data/w", None, {}, "body"),
    ("unsupported method", "FOO", "secret/data/cas", None, {}, "status"),
    ("unsupported sys path", "GET", "sys/nonexistent", None, {}, "status"),
    ("unmounted path", "GET", "unmounted/foo", None, {}, "body"),
    ("mount", "POST", "sys/mounts/wire-kv", {"type": "kv", "options": {"version": "1"}, "description": "d"}, {}, "body"),
    ("mount again", "POST", "sys/mounts/wire-kv", {"type": "kv"}, {}, "status"),
    ("mount unknown type", "POST", "sys/mounts/nope", {"type": "no-such-engine"}, {}, "status"),
    ("tune", "POST", "sys/mounts/wire-kv/tune", {"default_lease_ttl": "1h", "max_lease_ttl": "2h"}, {}, "body"),
    ("tune read", "GET", "sys/mounts/wire-kv/tune", None, {}, "body"),
    ("mount read", "GET", "sys/mounts/wire-kv", None, {}, "body"),
    ("ui mounts v1", "GET", "sys/internal/ui/mounts/wire-kv", None, {}, "body"),
    ("ui mounts sub path", "GET", "sys/internal/ui/mounts/secret/data/dir/nested", None, {}, "body"),
    ("ui mounts missing", "GET", "sys/internal/ui/mounts/nothing-here", None, {}, "status"),
    ("kv1 write", "PUT", "wire-kv/a", {"k": "v", "n": 1}, {}, "body"),
    ("kv1 read", "GET", "wire-kv/a", None, {}, "body"),
    ("kv1 list", "LIST", "wire-kv/", None, {}, "body"),
    ("kv1 read missing", "GET", "wire-kv/missing", None, {}, "body"),
    ("kv1 delete", "DELETE", "wire-kv/a", None, {}, "body"),
    ("kv1 list empty", "GET", "wire-kv/?list=true", None, {}, "body"),
    ("unmount", "DELETE", "sys/mounts/wire-kv", None, {}, "body"),
    ("read unmounted", "GET", "wire-kv/a", None, {}, "body"),
    ("health", "GET", "sys/health", None, {}, "body"),
    ("seal-status", "GET", "sys/seal-status", None, {}, "body"),
    ("leader", "GET", "sys/leader", None, {}, "body"),
    ("init status", "GET", "sys/init", None, {}, "body"),
    ("key-status", "GET", "sys/key-status", None, {}, "body"),
]

IGNORE = [
    # Facts of the build, the storage (raft, inmem, redb) and the HA setup, not of the API.
    "body.version",
    "body.storage_type",
    "body.replication_performance_mode",
    "body.ha_enabled",
    "!body.leader_address",
    "!body.leader_cluster_address",
    "!body.is_self",
    "!body.raft_*",
    "!body.active_time",
    "!body.performance_standby*",
    "!body.enterprise",
    "!body.build_date",  # Vault's seal-status has it, OpenBao's has commit_date instead
    # A mount's description: OpenBao's dev secret/ has one, an enabled mount has none.
    "body.data.description",
    "body.description",
    "!body.*.running_*",
    "!body.running_*",
    "!body.data.running_*",
    "!body.plugin_version",
    "!body.data.plugin_version",
    # How many encryptions the current key term has done: depends on internal writes.
    "body.encryptions",
    "body.data.encryptions",
]


def _do(srv, method, path, body, headers):
    kw = {}
    if body is not None:
        kw["data"] = json.dumps(body)
        kw["headers"] = {"Content-Type": "application/json", **headers}
    elif headers:
        kw["headers"] = headers
    r = srv.api.request(method, path, **kw)
    parsed = None
    if r.content:
        try:
            parsed = r.json()
        except ValueError:
            parsed = r.text
    return r.status_code, parsed


def _setup(srv):
    api = srv.api
    for path, data in [("w", {"a": "1"}), ("dir/nested", {"x": {"y": {"z": 1}}, "flat": "f"}), ("dir/other", {"o": 1})]:
        r = api.post(f"secret/data/{path}", {"data": data})
        assert r.status_code == 200, r.text


def test_wire_matches_openbao_dev(servers):
    tgt = servers.target()
    tgt.init_unseal()
    tgt.api.enable_kv("secret")
    ref = servers.openbao_dev()
    _setup(tgt)
    _setup(ref)

    problems = []
    for label, method, path, body, headers, compare in CASES:
        st_t, b_t = _do(tgt, method, path, body, headers)
        st_e, b_e = _do(ref, method, path, body, headers)
        where = f"{label}: {method} /v1/{path}"
        if st_t != st_e:
            problems.append(f"{where}: status {st_t} vs OpenBao {st_e}; body {str(b_t)[:300]} vs {str(b_e)[:300]}")
            continue
        if compare == "status":
            if isinstance(b_e, dict) and "errors" in b_e:
                if not (isinstance(b_t, dict) and isinstance(b_t.get("errors"), list)):
                    problems.append(f"{where}: no errors list: {str(b_t)[:300]}")
            continue
        try:
            assert_same({"body": b_t}, {"body": b_e}, what=where, ignore=IGNORE, names=(TARGET, "openbao"))
        except AssertionError as e:
            problems.append(str(e).split("\n---")[0])
        if isinstance(b_e, dict) and ENVELOPE <= set(b_e):
            assert set(b_t) >= ENVELOPE, f"{where}: envelope keys missing: {sorted(ENVELOPE - set(b_t))}"
    assert not problems, f"{len(problems)} request(s) answered differently from OpenBao:\n" + "\n".join(problems)


def test_writes_without_data_are_204_with_no_body(ready_target):
    api = ready_target.api
    for method, path, body in [
        ("POST", "secret/config", {"max_versions": 3}),
        ("POST", "sys/mounts/x204", {"type": "kv", "options": {"version": "1"}}),
        ("PUT", "x204/k", {"v": "1"}),
        ("DELETE", "x204/k", None),
        ("DELETE", "sys/mounts/x204", None),
    ]:
        r = api.request(method, path, json=body)
        assert r.status_code == 204, f"{method} {path}: {r.status_code} {r.text}"
        assert r.content == b"", f"{method} {path}: a 204 with a body"


@pytest.mark.parametrize("header", ["X-Vault-Token", "Authorization"])
def test_both_token_headers(ready_target, header):
    tok = ready_target.root_token
    value = tok if header == "X-Vault-Token" else f"Bearer {tok}"
    r = ready_target.api.get("sys/mounts", token=None, headers={header: value})
    assert r.status_code == 200, r.text
    assert "secret/" in r.json()["data"]
