"""The redb file: created 0600, and no secret value, key or token in it in plaintext."""

from __future__ import annotations

import base64
import os
import stat

import pytest

pytestmark = pytest.mark.mainkey_only


def test_database_file_is_0600_and_holds_no_plaintext(servers):
    srv = servers.target()
    init = srv.init_unseal(shares=3, threshold=2)
    srv.api.enable_kv("secret")
    srv.api.enable_kv("glassdome")
    srv.api.enable_kv("kv1", 1)
    needles = {
        "value v2": "NEEDLE-kv2-value-4a1f0c9e",
        "value v1": "NEEDLE-kv1-value-77b3d2aa",
        "custom metadata": "NEEDLE-custom-meta-5e0d",
        "old version": "NEEDLE-old-version-913c",
    }
    assert srv.api.post("secret/data/tenant/demo/nexa", {"data": {"k": needles["old version"]}}).status_code == 200
    assert srv.api.post("secret/data/tenant/demo/nexa", {"data": {"k": needles["value v2"]}}).status_code == 200
    assert srv.api.post("glassdome/data/pw", {"data": {"k": needles["value v2"]}}).status_code == 200
    assert srv.api.post("kv1/app", {"k": needles["value v1"]}).status_code == 204
    r = srv.api.post("secret/metadata/tenant/demo/nexa", {"custom_metadata": {"owner": needles["custom metadata"]}})
    assert r.status_code in (200, 204), r.text
    assert srv.api.post("sys/rotate").status_code == 204
    srv.stop()

    db = srv.db_path
    assert db is not None and db.is_file(), f"no database at {db}"
    mode = stat.S_IMODE(os.stat(db).st_mode)
    assert mode == 0o600, f"{db} has mode {oct(mode)}, want 0o600"

    raw = db.read_bytes()
    found = [name for name, n in needles.items() if n.encode() in raw]
    assert not found, f"plaintext in {db}: {found}"
    token = init["root_token"]
    assert token.encode() not in raw, "the root token is stored in plaintext"
    if token.startswith("s."):
        assert token[2:].encode() not in raw, "the root token's body is stored in plaintext"
    for hx, b64 in zip(init["keys"], init["keys_base64"]):
        for form in (hx.encode(), b64.encode(), bytes.fromhex(hx), base64.b64decode(b64)):
            assert form not in raw, "an unseal key share is stored in the database"
    # The file really is the database (the needles would be there without encryption).
    assert len(raw) > 0
