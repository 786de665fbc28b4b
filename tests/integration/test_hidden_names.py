"""Hidden names: after a full scenario (tenants under KV v2, a KV v1 mount, policies, an AppRole
role with its role-id and a login, a userpass user with a login, an identity entity, a key
rotation and a restart), the raw redb file holds none of the names used, while every API
answer that lists or reads them is unchanged."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.mainkey_only

# Long, distinctive names: a short one could turn up by chance in ciphertext or base64.
TENANTS = ["acme-corp-7731", "globex-industries-4410", "initech-holdings-99821"]
SECRETS = ["shopify-api-key", "stripe-webhook-secret"]
KV1_PATH = "legacy-config/payroll-export-x9q"
ROLE = "billing-worker-5521"
USER = "dana-operator-3307"
ENTITY = "entity-northwind-6620"
POLICY = "tenant-reader-policy-8812"
VALUE = "NEEDLE-hidden-names-value-3c9d"


def ok(r, *codes):
    codes = codes or (200, 204)
    assert r.status_code in codes, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.status_code == 200 and r.content else None


def listing(api, path):
    return sorted(ok(api.list(path))["data"]["keys"])


def scenario(srv) -> dict[str, str]:
    """Writes every kind of name through the API; returns the names that must stay hidden."""
    api = srv.api
    api.enable_kv("secret")
    api.enable_kv("kv1", 1)
    for t in TENANTS:
        for s in SECRETS:
            ok(api.post(f"secret/data/tenant/{t}/{s}", {"data": {"k": VALUE}}))
        ok(api.post(f"secret/metadata/tenant/{t}/{SECRETS[0]}", {"custom_metadata": {"owner": t}}))
    ok(api.post(f"kv1/{KV1_PATH}", {"k": VALUE}))
    ok(
        api.put(
            f"sys/policies/acl/{POLICY}",
            {"policy": 'path "secret/data/tenant/+/*" { capabilities = ["read"] }'},
        )
    )

    ok(api.post("sys/auth/approle", {"type": "approle"}))
    ok(api.post(f"auth/approle/role/{ROLE}", {"token_policies": [POLICY]}))
    role_id = ok(api.get(f"auth/approle/role/{ROLE}/role-id"))["data"]["role_id"]
    secret_id = ok(api.post(f"auth/approle/role/{ROLE}/secret-id"))["data"]["secret_id"]
    login = ok(api.post("auth/approle/login", {"role_id": role_id, "secret_id": secret_id}, token=None))
    assert login["auth"]["client_token"]

    ok(api.post("sys/auth/userpass", {"type": "userpass"}))
    ok(api.post(f"auth/userpass/users/{USER}", {"password": "pw-Kx81-long", "token_policies": [POLICY]}))
    ok(api.post(f"auth/userpass/login/{USER}", {"password": "pw-Kx81-long"}, token=None))

    ok(api.post(f"identity/entity/name/{ENTITY}", {"metadata": {"tenant_id": TENANTS[0]}}))

    # A rotation, then more writes under the new term.
    ok(api.post("sys/rotate"))
    ok(api.post(f"secret/data/tenant/{TENANTS[1]}/{SECRETS[1]}", {"data": {"k": VALUE + "-2"}}))

    needles = {f"tenant {t}": t for t in TENANTS}
    needles.update({f"secret path {s}": s for s in SECRETS})
    needles.update({f"path tenant/{t}": f"tenant/{t}" for t in TENANTS})
    needles.update(
        {
            "kv1 path": KV1_PATH,
            "kv1 segment": KV1_PATH.split("/")[1],
            "role name": ROLE,
            "role-id": role_id,
            "user name": USER,
            "entity name": ENTITY,
            "policy name": POLICY,
            "value": VALUE,
        }
    )
    return needles


def assert_names_answer(api, role_id: str) -> None:
    """The names are still findable: LIST and reads through the API."""
    assert listing(api, "secret/metadata/tenant") == sorted(f"{t}/" for t in TENANTS)
    assert listing(api, f"secret/metadata/tenant/{TENANTS[1]}") == sorted(SECRETS)
    assert ok(api.get(f"secret/data/tenant/{TENANTS[1]}/{SECRETS[1]}"))["data"]["data"] == {"k": VALUE + "-2"}
    assert ok(api.get(f"secret/data/tenant/{TENANTS[2]}/{SECRETS[0]}"))["data"]["data"] == {"k": VALUE}
    assert listing(api, "kv1/legacy-config") == ["payroll-export-x9q"]
    assert ROLE in listing(api, "auth/approle/role")
    assert ok(api.get(f"auth/approle/role/{ROLE}/role-id"))["data"]["role_id"] == role_id
    assert USER in listing(api, "auth/userpass/users")
    assert ENTITY in listing(api, "identity/entity/name")
    assert POLICY in listing(api, "sys/policies/acl")


def read_db(db) -> bytes:
    raw = db.read_bytes()
    assert len(raw) > 0, f"{db} is empty"
    return raw


def test_no_name_of_a_full_scenario_is_in_the_database_file(servers):
    srv = servers.target()
    srv.init_unseal()
    needles = scenario(srv)
    role_id = needles["role-id"]
    assert_names_answer(srv.api, role_id)
    srv.stop()

    raw = read_db(srv.db_path)
    found = [what for what, n in needles.items() if n.encode() in raw]
    assert not found, f"names in plaintext in {srv.db_path}: {found}"
    # The file is really the database: the keyring's own (plaintext) key is there.
    assert b"core/keyring" in raw

    # After a restart and unseal the names are still found, and writing more keeps them hidden.
    srv.start()
    srv.api.unseal(srv.keys[:1])
    assert_names_answer(srv.api, role_id)
    ok(srv.api.post(f"secret/data/tenant/{TENANTS[0]}/{SECRETS[1]}", {"data": {"k": "after-restart"}}))
    ok(srv.api.delete(f"secret/metadata/tenant/{TENANTS[2]}/{SECRETS[1]}"))
    assert listing(srv.api, f"secret/metadata/tenant/{TENANTS[2]}") == [SECRETS[0]]
    srv.stop()
    raw = read_db(srv.db_path)
    found = [what for what, n in needles.items() if n.encode() in raw]
    assert not found, f"names in plaintext in {srv.db_path} after a restart: {found}"
