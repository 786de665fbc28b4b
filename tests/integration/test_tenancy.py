"""Seed 001's multi-tenant model, as far as it works today: per-tenant ACL policies, AppRole
for services, userpass for admins, tokens with TTLs, all through hvac and the bao CLI.

Every check runs against mainkey and against a real OpenBao dev server, so a rule that
mainkey gets wrong fails here even if both "work". Identity templating comes with identity
entities; until then each tenant has its own policy.
"""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest

from test_hvac import client_for

TENANTS = ["rut-76832940-3", "rut-12345678-9"]
SECRETS = ["nexa", "shopify", "supabase", "smtp"]


def tenant_policy(tenant: str) -> str:
    return f"""
path "secret/data/tenant/{tenant}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}
path "secret/metadata/tenant/{tenant}/*" {{ capabilities = ["read", "list"] }}
"""


RUNTIME_POLICY = 'path "secret/data/tenant/+/nexa" { capabilities = ["read"] }\n'
ADMIN_POLICY = 'path "secret/*" { capabilities = ["create", "read", "update", "delete", "list", "patch"] }\n'


def setup(srv) -> dict:
    """Root's part: auth methods, policies, roles, users and the tenants' secrets."""
    root = client_for(srv, srv.api.token)
    root.sys.enable_auth_method("approle")
    root.sys.enable_auth_method("userpass")
    root.sys.create_or_update_policy("nexa-runtime-policy", RUNTIME_POLICY)
    root.sys.create_or_update_policy("admin-policy", ADMIN_POLICY)
    creds = {}
    for t in TENANTS:
        root.sys.create_or_update_policy(f"tenant-{t}", tenant_policy(t))
        root.auth.approle.create_or_update_approle(t, token_policies=[f"tenant-{t}"], token_ttl="1h", token_max_ttl="24h")
        role_id = root.auth.approle.read_role_id(t)["data"]["role_id"]
        secret_id = root.auth.approle.generate_secret_id(t)["data"]["secret_id"]
        creds[t] = (role_id, secret_id)
        for s in SECRETS:
            root.secrets.kv.v2.create_or_update_secret(path=f"tenant/{t}/{s}", secret={"key": f"{t}-{s}"})
    root.auth.approle.create_or_update_approle("nexa-runtime", token_policies=["nexa-runtime-policy"])
    rid = root.auth.approle.read_role_id("nexa-runtime")["data"]["role_id"]
    creds["runtime"] = (rid, root.auth.approle.generate_secret_id("nexa-runtime")["data"]["secret_id"])
    root.auth.userpass.create_or_update_user("admin", password="admin-pass", policies=["admin-policy"])
    return creds


def approle_client(srv, role_id: str, secret_id: str) -> hvac.Client:
    c = client_for(srv)
    c.auth.approle.login(role_id=role_id, secret_id=secret_id)
    return c


def can_read(c: hvac.Client, path: str) -> bool:
    try:
        c.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
        return True
    except hvac.exceptions.Forbidden:
        return False


def access_matrix(srv) -> dict:
    """Who can read what, as one comparable document."""
    creds = setup(srv)
    out = {}
    for who in [*TENANTS, "runtime"]:
        c = approle_client(srv, *creds[who])
        out[who] = {f"{t}/{s}": can_read(c, f"tenant/{t}/{s}") for t in TENANTS for s in SECRETS}
        try:
            c.secrets.kv.v2.list_secrets(path=f"tenant/{TENANTS[1]}")
            out[who]["list other tenant"] = True
        except hvac.exceptions.Forbidden:
            out[who]["list other tenant"] = False
        try:
            c.secrets.kv.v2.read_secret_metadata(path=f"tenant/{TENANTS[1]}/nexa")
            out[who]["metadata other tenant"] = True
        except hvac.exceptions.Forbidden:
            out[who]["metadata other tenant"] = False
    admin = client_for(srv)
    admin.auth.userpass.login(username="admin", password="admin-pass")
    out["admin"] = {f"{t}/{s}": can_read(admin, f"tenant/{t}/{s}") for t in TENANTS for s in SECRETS}
    admin.secrets.kv.v2.create_or_update_secret(path=f"tenant/{TENANTS[0]}/smtp", secret={"host": "mail"})
    out["admin writes"] = admin.secrets.kv.v2.read_secret_version(path=f"tenant/{TENANTS[0]}/smtp")["data"]["data"]
    return out


def test_tenants_are_isolated_exactly_as_in_openbao(servers):
    target = servers.target()
    target.init_unseal()
    target.api.enable_kv("secret", 2)
    ours = access_matrix(target)
    theirs = access_matrix(servers.openbao_dev())
    assert ours == theirs
    # And the matrix says what the seed wants, not only what OpenBao happens to do.
    t0, t1 = TENANTS
    assert all(ours[t0][f"{t0}/{s}"] for s in SECRETS)
    assert not any(ours[t0][f"{t1}/{s}"] for s in SECRETS)
    assert not ours[t0]["list other tenant"] and not ours[t0]["metadata other tenant"]
    assert all(ours["runtime"][f"{t}/nexa"] for t in TENANTS)
    assert not any(ours["runtime"][f"{t}/shopify"] for t in TENANTS)
    assert all(ours["admin"].values())


def test_renewal_stops_at_the_max_ttl(ready_target):
    creds = setup(ready_target)
    c = approle_client(ready_target, *creds[TENANTS[0]])
    renewed = c.auth.token.renew_self(increment="100h")
    assert renewed["auth"]["lease_duration"] <= 24 * 3600
    assert any("capped" in w for w in renewed.get("warnings") or [])


def test_revoking_a_parent_revokes_its_children(ready_target):
    root = client_for(ready_target, ready_target.api.token)
    parent = root.auth.token.create(policies=["root"])["auth"]["client_token"]
    child = client_for(ready_target, parent).auth.token.create(policies=["default"])["auth"]["client_token"]
    assert client_for(ready_target, child).is_authenticated()
    root.auth.token.revoke(parent)
    assert not client_for(ready_target, parent).is_authenticated()
    assert not client_for(ready_target, child).is_authenticated()


@pytest.mark.parametrize("name", ["Root", " root", "root "])
def test_no_policy_spelling_is_root(ready_target, name):
    r = ready_target.api.put(f"sys/policy/{name.replace(' ', '%20')}", {"policy": 'path "*" { capabilities = ["sudo"] }'})
    assert r.status_code == 400, r.text
    r = ready_target.api.post("auth/token/create", {"policies": ["default"]})
    child = r.json()["auth"]["client_token"]
    r = ready_target.api.post("auth/token/create", {"policies": [name]}, token=child)
    assert r.status_code == 403, r.text


def test_the_seed_troubleshooting_commands(ready_target):
    creds = setup(ready_target)
    tenant = TENANTS[0]
    out = ready_target.bao("write", "-field=token", "auth/approle/login", f"role_id={creds[tenant][0]}", f"secret_id={creds[tenant][1]}")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    caps = ready_target.bao("token", "capabilities", token, f"secret/data/tenant/{tenant}/nexa")
    assert caps.stdout.strip() == "create, delete, list, read, update", caps.stdout + caps.stderr
    # The seed's own example lacks `data/`, and Vault answers deny for it.
    caps = ready_target.bao("token", "capabilities", token, "secret/tenant/demo/nexa")
    assert caps.stdout.strip() == "deny"
    login = ready_target.bao("login", "-method=userpass", "-no-store", "username=admin", "password=admin-pass")
    assert login.returncode == 0, login.stderr
    read = ready_target.bao("policy", "read", f"tenant-{tenant}")
    assert f"secret/data/tenant/{tenant}/*" in read.stdout
    # The mid-path `*` that seed 001 used: accepted as Vault does, with a warning.
    warn = ready_target.api.put("sys/policy/nexa-typo", {"policy": 'path "secret/data/tenant/*/nexa" { capabilities = ["read"] }'})
    assert warn.status_code == 200 and "+" in warn.json()["warnings"][0]


TEMPLATED_POLICY = """
path "secret/data/tenant/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "secret/metadata/tenant/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read", "list"] }
"""


def templated_login(srv):
    """One AppRole service whose entity carries `tenant_id`, as seed 001 wires tenants."""
    root = client_for(srv, srv.api.token)
    root.sys.enable_auth_method("approle")
    root.sys.create_or_update_policy("tenant-policy", TEMPLATED_POLICY)
    root.auth.approle.create_or_update_approle("svc", token_policies=["tenant-policy"])
    role_id = root.auth.approle.read_role_id("svc")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("svc")["data"]["secret_id"]
    for t in TENANTS:
        root.secrets.kv.v2.create_or_update_secret(path=f"tenant/{t}/nexa", secret={"k": t})
    svc = approle_client(srv, role_id, secret_id)
    entity_id = svc.auth.token.lookup_self()["data"]["entity_id"]
    assert entity_id
    return root, svc, entity_id


def set_tenant(root: hvac.Client, entity_id: str, tenant: str) -> None:
    root.secrets.identity.update_entity(entity_id=entity_id, metadata={"tenant_id": tenant})


def test_templated_policies_follow_entity_metadata_on_the_next_request(ready_target):
    root, svc, entity_id = templated_login(ready_target)
    t0, t1 = TENANTS
    assert not can_read(svc, f"tenant/{t0}/nexa"), "no tenant_id yet: access to nothing"
    set_tenant(root, entity_id, t0)
    assert can_read(svc, f"tenant/{t0}/nexa") and not can_read(svc, f"tenant/{t1}/nexa")
    set_tenant(root, entity_id, t1)
    assert can_read(svc, f"tenant/{t1}/nexa") and not can_read(svc, f"tenant/{t0}/nexa")


@pytest.mark.parametrize("hostile", ["*", "+", "a/b", "..", ""])
def test_hostile_tenant_ids_give_access_to_nothing(ready_target, hostile):
    root, svc, entity_id = templated_login(ready_target)
    set_tenant(root, entity_id, hostile)
    for t in TENANTS:
        assert not can_read(svc, f"tenant/{t}/nexa")
    r = ready_target.api.post("sys/capabilities-self", {"path": f"secret/data/tenant/{TENANTS[0]}/nexa"}, token=svc.token)
    assert r.json()["data"]["capabilities"] == ["deny"], r.text
