"""Vault's create/update rule, asked of mainkey and a real OpenBao in the same run.

Before the ACL decides a write, Vault's router asks the backend whether the entry exists: if it
does, the write is an `update`; if not, a `create`; and where the backend has no existence check
for the path, always an `update`. So a token holding only `create` can make new entries but
never overwrite one, and a token holding only `update` can change entries but never make one.
Without the rule, `create` on `sys/policies/acl/*` rewrote the `default` policy into root.

The same create-only and update-only tokens write the same paths of every backend on both
servers, and every answer's status must agree.
"""

from __future__ import annotations

JWT_ROLE = {"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["a"]}
K8S_ROLE = {"bound_service_account_names": ["a"], "bound_service_account_namespaces": ["b"]}
RULE = 'path "x" { capabilities = ["read"] }'
ROOTING = 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'

# (path with {name}, body, path for the root-created existing entry): every backend's writes.
CASES = [
    ("kv1/{name}", {"k": "v"}),
    ("secret/data/{name}", {"data": {"k": "v"}}),
    ("secret/metadata/{name}", {"max_versions": 3}),
    ("secret/delete/{name}", {"versions": [1]}),
    ("secret/undelete/{name}", {"versions": [1]}),
    ("secret/destroy/{name}", {"versions": [1]}),
    ("secret/config", {"max_versions": 7}),
    ("sys/policies/acl/{name}", {"policy": RULE}),
    ("sys/policy/{name}", {"policy": RULE}),
    ("auth/userpass/users/{name}", {"password": "pw"}),
    ("auth/userpass/users/{name}/password", {"password": "pw2"}),
    ("auth/userpass/users/{name}/policies", {"policies": ["a"]}),
    ("auth/approle/role/{name}", {"token_ttl": "1h"}),
    ("auth/approle/role/{name}/policies", {"token_policies": ["a"]}),
    ("auth/approle/role/{name}/role-id", {"role_id": "rid-{name}"}),
    ("auth/jwt/role/{name}", JWT_ROLE),
    ("auth/kubernetes/role/{name}", K8S_ROLE),
    ("auth/token/roles/{name}", {"allowed_policies": ["a"]}),
    ("identity/entity/name/{name}", {"metadata": {"tenant_id": "t"}}),
    ("identity/group/name/{name}", {"policies": ["a"]}),
]

# Existing entries, made by root before the tokens write.
SETUP = [
    ("kv1/old", {"k": "v"}),
    ("secret/data/old", {"data": {"k": "v"}}),
    ("sys/policies/acl/old", {"policy": RULE}),
    ("sys/policy/old", {"policy": RULE}),
    ("auth/userpass/users/old", {"password": "pw"}),
    ("auth/approle/role/old", {}),
    ("auth/jwt/role/old", JWT_ROLE),
    ("auth/kubernetes/role/old", K8S_ROLE),
    ("auth/token/roles/old", {}),
    ("identity/entity/name/old", {}),
    ("identity/group/name/old", {}),
]


def grant(cap: str) -> str:
    paths = sorted({c[0].split("{name}")[0] + "*" if "{name}" in c[0] else c[0] for c in CASES})
    paths += ["auth/token/create", "auth/token/create-orphan"]
    return "\n".join(f'path "{p}" {{ capabilities = ["{cap}"] }}' for p in paths)


def prepare(srv) -> dict[str, str]:
    api = srv.api
    if srv.kind != "openbao":
        api.enable_kv("secret", 2)
    api.enable_kv("kv1", 1)
    for method in ("userpass", "approle", "jwt", "kubernetes"):
        r = api.post(f"sys/auth/{method}", {"type": method})
        assert r.status_code in (200, 204), f"{srv.name}: enable {method}: {r.text}"
    for path, body in SETUP:
        r = api.post(path, body)
        assert r.status_code in (200, 204), f"{srv.name}: {path}: {r.status_code} {r.text}"
    tokens = {}
    for cap in ("create", "update"):
        r = api.put(f"sys/policies/acl/{cap}-only", {"policy": grant(cap)})
        assert r.status_code in (200, 204), r.text
        r = api.post("auth/token/create", {"policies": [f"{cap}-only"]})
        assert r.status_code == 200, r.text
        tokens[cap] = r.json()["auth"]["client_token"]
    return tokens


def fill(value, name: str):
    if isinstance(value, str):
        return value.replace("{name}", name)
    if isinstance(value, dict):
        return {k: fill(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, name) for v in value]
    return value


def answers(srv) -> dict[str, int]:
    tokens = prepare(srv)
    out: dict[str, int] = {}

    def write(label: str, token: str, path: str, body) -> None:
        r = srv.api.post(path, body, token=token)
        key = f"{label} {path}"
        if key in out:
            key += " (again)"
        out[key] = r.status_code

    for template, body in CASES:
        # The create-only token: the existing entry, then a new one twice (it exists then).
        for name in ("old", "new-c", "new-c"):
            write("create", tokens["create"], template.format(name=name), fill(body, name))
        # The update-only token: a new entry, then the existing one.
        for name in ("new-u", "old"):
            write("update", tokens["update"], template.format(name=name), fill(body, name))
    for cap in ("create", "update"):
        write(cap, tokens[cap], "auth/token/create", {"policies": [f"{cap}-only"]})
        write(cap, tokens[cap], "sys/policies/acl/default", {"policy": ROOTING})
    # A sub-path of a role that does not exist: found nowhere, deleted as a no-op, no such path.
    for method in ("GET", "POST", "DELETE"):
        body = {"token_policies": ["a"]} if method == "POST" else None
        r = srv.api.request(method, "auth/approle/role/nope/policies", json=body)
        out[f"root {method} auth/approle/role/nope/policies"] = r.status_code
    return out


def test_create_and_update_tokens_get_openbaos_answers(servers):
    target = servers.target()
    target.init_unseal()
    bao = servers.openbao_dev()
    ours, theirs = answers(target), answers(bao)
    # The cases must tell the rule apart: each token is refused somewhere and allowed elsewhere.
    assert theirs["create kv1/old"] == 403 and theirs["create kv1/new-c"] == 204
    assert theirs["create kv1/new-c (again)"] == 403
    assert theirs["update kv1/new-u"] == 403 and theirs["update kv1/old"] == 204
    assert theirs["create sys/policies/acl/default"] == 403
    differ = [f"{k}: mainkey={ours.get(k)} openbao={v}" for k, v in theirs.items() if ours.get(k) != v]
    assert not differ, f"{len(differ)} of {len(theirs)} differ:\n" + "\n".join(differ)
