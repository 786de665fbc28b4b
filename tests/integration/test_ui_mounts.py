"""`sys/internal/ui/mounts` shows a token only the mounts it can use, as OpenBao does.

The `bao kv` CLI and the UI ask this endpoint which engine serves a path before they know what
the token may do, so it answers without the core's ACL check and must not tell a token which
mounts exist elsewhere. Each policy below is given to a token on mainkey and on a real OpenBao
in the same run, and the listing and per-mount answers must agree.
"""

from __future__ import annotations

POLICIES = {
    "plus": 'path "secret/data/tenant/+/nexa" { capabilities = ["read"] }',
    "glob": 'path "secret/data/*" { capabilities = ["read"] }',
    "exact-deep": 'path "secret/data/a/b" { capabilities = ["read"] }',
    "mount-only": 'path "secret/" { capabilities = ["read"] }',
    "deny-all": 'path "secret/*" { capabilities = ["deny"] }',
    "plus-first": 'path "+/data/x" { capabilities = ["read"] }',
    "plus-prefix": 'path "+/us*" { capabilities = ["read"] }',
    "glob-top": 'path "sec*" { capabilities = ["list"] }',
    "auth-mount": 'path "auth/userpass/*" { capabilities = ["read"] }',
    "auth-bare": 'path "userpass/*" { capabilities = ["read"] }',
    "kv1-create": 'path "kv1/foo" { capabilities = ["create"] }',
    "exact-deny": 'path "secret/data/x" { capabilities = ["deny"] }',
    "deny-over-grant": 'path "kv1/*" { capabilities = ["read"] }\npath "kv1/a" { capabilities = ["deny"] }',
}

ASKED = ["secret", "kv1", "userpass", "auth/userpass", "up2", "auth/up2", "sys", "nosuch/a", "secret/data/x"]


def prepare(srv) -> None:
    if srv.kind != "openbao":
        srv.api.enable_kv("secret", 2)
    srv.api.enable_kv("kv1", 1)
    for path in ("userpass", "up2"):
        r = srv.api.post(f"sys/auth/{path}", {"type": "userpass"})
        assert r.status_code in (200, 204), r.text


def mount_names(srv, token) -> tuple[set, set]:
    r = srv.api.get("sys/internal/ui/mounts", token=token)
    assert r.status_code == 200, f"{srv.name}: {r.status_code} {r.text}"
    data = r.json()["data"]
    return set(data["secret"]), set(data["auth"])


def answers(srv, common_secret: set, common_auth: set) -> dict:
    """Listings are cut to the mounts both servers have (OpenBao also has `cubbyhole/`...)."""
    out = {}
    for name, text in POLICIES.items():
        r = srv.api.put(f"sys/policy/{name}", {"policy": text})
        assert r.status_code in (200, 204), r.text
        r = srv.api.post("auth/token/create", {"policies": [name]})
        assert r.status_code == 200, r.text
        token = r.json()["auth"]["client_token"]
        secret, auth = mount_names(srv, token)
        out[f"{name}: listing"] = (secret & common_secret, auth & common_auth)
        for path in ASKED:
            r = srv.api.get(f"sys/internal/ui/mounts/{path}", token=token)
            body = r.json()
            shown = (body.get("data") or {}).get("path") or body.get("errors")
            out[f"{name}: {path}"] = (r.status_code, shown)
    for label, token in (("no token", None), ("unknown token", "s.nope")):
        r = srv.api.get("sys/internal/ui/mounts", token=token)
        out[f"{label}: listing"] = (r.status_code, r.json().get("data"), r.json().get("errors"))
        r = srv.api.get("sys/internal/ui/mounts/secret", token=token)
        out[f"{label}: secret"] = (r.status_code, r.json().get("errors"))
    return out


def test_ui_mounts_shows_what_openbao_shows(servers):
    target = servers.target()
    target.init_unseal()
    bao = servers.openbao_dev()
    for srv in (target, bao):
        prepare(srv)
    (s1, a1), (s2, a2) = mount_names(target, target.root_token), mount_names(bao, bao.root_token)
    ours, theirs = answers(target, s1 & s2, a1 & a2), answers(bao, s1 & s2, a1 & a2)
    # The cases must tell mounts apart: some hidden, some shown, on both tables.
    assert theirs["deny-all: secret"][0] == 403 and theirs["glob: secret"][0] == 200
    assert "userpass/" in theirs["auth-mount: listing"][1]
    assert "userpass/" not in theirs["auth-bare: listing"][1]
    differ = [f"{k}:\n  mainkey={ours.get(k)}\n  openbao={v}" for k, v in theirs.items() if ours.get(k) != v]
    assert not differ, f"{len(differ)} of {len(theirs)} differ:\n" + "\n".join(differ)
