"""Python hvac, as the seeds use it, against the target and a real OpenBao side by side.

Each flow runs the same hvac calls on both servers, records what every call
returned (or which hvac exception it raised, with the server's errors), and
compares the two records step by step.
"""

from __future__ import annotations

import re

import hvac
import hvac.exceptions
import pytest
import requests

from conftest import TARGET
from vaultcmp import assert_same

NAMES = (TARGET, "openbao")


class Recorder:
    def __init__(self):
        self.steps: list[tuple[str, object]] = []

    def __call__(self, label: str, fn, *args, **kwargs):
        try:
            res = fn(*args, **kwargs)
        except hvac.exceptions.VaultError as e:
            outcome = {"raised": type(e).__name__, "errors": e.errors}
            self.steps.append((label, outcome))
            return outcome
        if isinstance(res, requests.Response):
            body = None
            if res.content:
                try:
                    body = res.json()
                except ValueError:
                    body = res.text
            outcome = {"status": res.status_code, "body": body}
        else:
            outcome = {"returned": res}
        self.steps.append((label, outcome))
        return res


def compare_records(a: Recorder, e: Recorder, ignore=(), problems: list[str] | None = None) -> None:
    """Fail (or, with `problems`, collect) at every step whose outcome differs."""
    labels_a = [s[0] for s in a.steps]
    labels_e = [s[0] for s in e.steps]
    assert labels_a == labels_e, f"flows diverged: {labels_a} vs {labels_e}"
    for (label, got), (_, want) in zip(a.steps, e.steps):
        try:
            assert_same(got, want, what=f"hvac {label}", ignore=ignore, names=NAMES)
        except AssertionError as err:
            if problems is None:
                raise
            problems.append(str(err))


def client_for(srv, token=None) -> hvac.Client:
    c = hvac.Client(url=srv.url, token=token, verify=srv.verify)
    # hvac falls back to VAULT_TOKEN and ~/.vault-token when token is None: no fallbacks here.
    c.token = token
    c.adapter.session.trust_env = False
    return c


# Facts of the build, the storage and the key material, not of the API.
SYS_IGNORE = [
    "*.returned.version",
    "*.returned.storage_type",
    "*.returned.ha_enabled",
    "!*.returned.is_self",
    "!*.returned.leader_*",
    "!*.returned.raft_*",
    "!*.returned.active_time",
    "!*.returned.performance_standby*",
    "returned.keys.*",
    "returned.keys_base64.*",
    "returned.version",
    "returned.storage_type",
    "returned.ha_enabled",
    "!returned.is_self",
    "!returned.leader_*",
    "!returned.raft_*",
    "!returned.active_time",
    "!returned.performance_standby*",
    "!returned.enterprise",
    "!returned.echo_duration_ms",
    "!returned.clock_skew_ms",
    "!returned.replication_*",
    "!returned.build_date",
    "!*.returned.build_date",
]


def bootstrap_flow(srv) -> tuple[Recorder, dict]:
    """The seeds' bootstrap: check init, init 5/3, unseal with 3, health, seal, unseal again."""
    rec = Recorder()
    c = client_for(srv)
    rec("sys.is_initialized", c.sys.is_initialized)
    rec("sys.read_init_status", c.sys.read_init_status)
    rec("sys.read_health_status uninit", c.sys.read_health_status, method="GET")
    init = rec("sys.initialize", c.sys.initialize, secret_shares=5, secret_threshold=3)
    assert isinstance(init, dict) and "keys" in init, f"hvac sys.initialize on {srv.name}: {rec.steps[-1][1]}"
    rec("sys.is_initialized after", c.sys.is_initialized)
    rec("sys.read_seal_status", c.sys.read_seal_status)
    rec("sys.is_sealed", c.sys.is_sealed)
    rec("sys.read_health_status sealed", c.sys.read_health_status, method="GET")
    rec("sys.submit_unseal_key 1", c.sys.submit_unseal_key, key=init["keys"][0])
    rec("sys.submit_unseal_key reset", c.sys.submit_unseal_key, reset=True)
    rec("sys.read_seal_status after reset", c.sys.read_seal_status)
    rec("sys.submit_unseal_keys", c.sys.submit_unseal_keys, keys=init["keys"][1:4])
    srv.api.token = init["root_token"]
    srv.api.wait_active()
    rec("sys.is_sealed unsealed", c.sys.is_sealed)
    rec("sys.read_health_status", c.sys.read_health_status, method="GET")
    rec("sys.read_health_status HEAD", c.sys.read_health_status, method="HEAD")
    rec("sys.read_health_status standbyok", c.sys.read_health_status, method="GET", standby_ok=True)
    rec("sys.read_leader_status", c.sys.read_leader_status)
    c.token = init["root_token"]
    rec("sys.seal", c.sys.seal)
    rec("sys.is_sealed sealed again", c.sys.is_sealed)
    rec("sys.read_health_status sealed again", c.sys.read_health_status, method="GET")
    rec("sys.submit_unseal_keys base64", c.sys.submit_unseal_keys, keys=init["keys_base64"][2:5])
    srv.api.wait_active()
    rec("sys.is_sealed end", c.sys.is_sealed)
    rec("sys.initialize twice", c.sys.initialize, secret_shares=5, secret_threshold=3)
    return rec, init


def test_hvac_bootstrap_matches_openbao(servers):
    tgt = servers.target()
    ref = servers.openbao_config(storage="inmem")
    a, init_a = bootstrap_flow(tgt)
    e, _ = bootstrap_flow(ref)
    # leader status: the HA facts differ by storage (raft vs none), not by API.
    compare_records(a, e, ignore=SYS_IGNORE + ["!returned.leader_address", "!returned.leader_cluster_address", "returned.ha_enabled"])
    assert len(init_a["keys"]) == 5 and len(init_a["keys_base64"]) == 5
    assert re.fullmatch(r"s\.[A-Za-z0-9]{24}", init_a["root_token"]), f"root token {init_a['root_token']!r} is not s. + 24 chars"
    steps = dict(a.steps)
    assert steps["sys.is_initialized"] == {"returned": False}
    assert steps["sys.is_initialized after"] == {"returned": True}
    assert steps["sys.is_sealed unsealed"] == {"returned": False}
    assert steps["sys.read_health_status HEAD"]["status"] == 200
    assert steps["sys.initialize twice"]["raised"] == "InvalidRequest"


def kv2_flow(srv, mount: str) -> Recorder:
    """Every secrets.kv.v2 call of the seeds (and the rest of the v2 API) on `mount`."""
    rec = Recorder()
    client = client_for(srv, srv.api.token)
    kv = client.secrets.kv.v2
    p = "tenant/rut-76832940-3/nexa"
    val = {"NEXA_MODEL_ID": "llama-3-8b-instruct", "NEXA_TEMPERATURE": "0.7", "TENANT_HARD_LIMIT_RPM": "120"}
    rec("configure", kv.configure, max_versions=5, cas_required=False, mount_point=mount)
    rec("read_configuration", kv.read_configuration, mount_point=mount)
    rec("create_or_update_secret v1", kv.create_or_update_secret, path=p, secret=val, mount_point=mount)
    rec("create_or_update_secret cas=1", kv.create_or_update_secret, path=p, secret={**val, "NEXA_TEMPERATURE": "0.8"}, cas=1, mount_point=mount)
    rec("create_or_update_secret stale cas", kv.create_or_update_secret, path=p, secret=val, cas=1, mount_point=mount)
    rec("create_or_update_secret cas=0 existing", kv.create_or_update_secret, path=p, secret=val, cas=0, mount_point=mount)
    rec("read_secret_version latest", kv.read_secret_version, path=p, mount_point=mount, raise_on_deleted_version=True)
    rec("read_secret_version 1", kv.read_secret_version, path=p, version=1, mount_point=mount, raise_on_deleted_version=True)
    rec("read_secret", kv.read_secret, path=p, mount_point=mount, raise_on_deleted_version=True)
    rec("patch", kv.patch, path=p, secret={"NEXA_TEMPERATURE": "0.9", "NEW": "x"}, mount_point=mount)
    rec("read after patch", kv.read_secret_version, path=p, mount_point=mount, raise_on_deleted_version=True)
    rec("patch missing", kv.patch, path="tenant/none/nexa", secret={"a": "b"}, mount_point=mount)
    # hvac 2.4 has no subkeys method: its adapter, as a seed would call it.
    rec("subkeys", client.adapter.get, f"/v1/{mount}/subkeys/{p}")
    rec("subkeys depth=1", client.adapter.get, f"/v1/{mount}/subkeys/{p}", params={"depth": 1})
    for svc in ("shopify", "supabase", "smtp"):
        rec(f"create {svc}", kv.create_or_update_secret, path=f"tenant/rut-76832940-3/{svc}", secret={"k": svc}, mount_point=mount)
    rec("create other tenant", kv.create_or_update_secret, path="tenant/demo/nexa", secret={"k": "demo"}, mount_point=mount)
    rec("list_secrets tenant", kv.list_secrets, path="tenant", mount_point=mount)
    rec("list_secrets tenant/", kv.list_secrets, path="tenant/", mount_point=mount)
    rec("list_secrets one tenant", kv.list_secrets, path="tenant/rut-76832940-3", mount_point=mount)
    rec("list_secrets missing", kv.list_secrets, path="nothing", mount_point=mount)
    rec("read_secret_metadata", kv.read_secret_metadata, path=p, mount_point=mount)
    rec(
        "update_metadata",
        kv.update_metadata,
        path=p,
        max_versions=4,
        custom_metadata={"owner": "ops", "tenant": "rut-76832940-3"},
        delete_version_after="0s",
        mount_point=mount,
    )
    rec("read_secret_metadata after update", kv.read_secret_metadata, path=p, mount_point=mount)
    rec("delete_latest_version_of_secret", kv.delete_latest_version_of_secret, path=p, mount_point=mount)
    rec("read deleted, no raise", kv.read_secret_version, path=p, mount_point=mount, raise_on_deleted_version=False)
    rec("read deleted, raise", kv.read_secret_version, path=p, mount_point=mount, raise_on_deleted_version=True)
    rec("undelete_secret_versions", kv.undelete_secret_versions, path=p, versions=[3], mount_point=mount)
    rec("read undeleted", kv.read_secret_version, path=p, mount_point=mount, raise_on_deleted_version=True)
    rec("delete_secret_versions", kv.delete_secret_versions, path=p, versions=[1], mount_point=mount)
    rec("destroy_secret_versions", kv.destroy_secret_versions, path=p, versions=[2], mount_point=mount)
    rec("read destroyed", kv.read_secret_version, path=p, version=2, mount_point=mount, raise_on_deleted_version=False)
    rec("read_secret_metadata versions", kv.read_secret_metadata, path=p, mount_point=mount)
    rec("delete_metadata_and_all_versions", kv.delete_metadata_and_all_versions, path=p, mount_point=mount)
    rec("read after delete all", kv.read_secret_version, path=p, mount_point=mount, raise_on_deleted_version=True)
    rec("read_secret_metadata after delete all", kv.read_secret_metadata, path=p, mount_point=mount)
    rec("list_secrets after", kv.list_secrets, path="tenant/rut-76832940-3", mount_point=mount)
    return rec


def seed_quirks_flow(srv) -> Recorder:
    """What the seeds literally do, mistakes included, must fail the same way."""
    rec = Recorder()
    c = client_for(srv, srv.api.token)
    c.secrets.kv.v2.create_or_update_secret(path="tenant/demo/nexa", secret={"NEXA_MODEL_ID": "m"})
    # 001: a path that already holds "secret/data/", with the default mount "secret".
    rec("read_secret_version secret/data/...", c.secrets.kv.v2.read_secret_version, path="secret/data/tenant/demo/nexa", raise_on_deleted_version=True)
    rec("read_secret_version default mount", c.secrets.kv.v2.read_secret_version, path="tenant/demo/nexa", raise_on_deleted_version=True)
    # 002: glassdome mount, list at the root.
    rec("glassdome create", c.secrets.kv.v2.create_or_update_secret, path="proxmox_password", secret={"value": "pw"}, mount_point="glassdome")
    rec("glassdome list root", c.secrets.kv.v2.list_secrets, path="", mount_point="glassdome")
    rec("glassdome read", c.secrets.kv.v2.read_secret_version, path="proxmox_password", mount_point="glassdome", raise_on_deleted_version=True)
    # A bad token, no token.
    bad = client_for(srv, "s.notarealtoken000000000000")
    rec("bad token read", bad.secrets.kv.v2.read_secret_version, path="tenant/demo/nexa", raise_on_deleted_version=True)
    none = client_for(srv, None)
    rec("no token read", none.secrets.kv.v2.read_secret_version, path="tenant/demo/nexa", raise_on_deleted_version=True)
    return rec


def kv1_flow(srv) -> Recorder:
    rec = Recorder()
    kv = client_for(srv, srv.api.token).secrets.kv.v1
    rec("create_or_update_secret", kv.create_or_update_secret, path="jwt", secret={"secret_key": "k", "algorithm": "HS256"}, mount_point="kv1")
    rec("create_or_update_secret POST", kv.create_or_update_secret, path="database/postgres", secret={"host": "db", "port": "5432"}, method="POST", mount_point="kv1")
    rec("create_or_update_secret PUT", kv.create_or_update_secret, path="redis", secret={"host": "r"}, method="PUT", mount_point="kv1")
    rec("read_secret", kv.read_secret, path="jwt", mount_point="kv1")
    rec("read_secret nested", kv.read_secret, path="database/postgres", mount_point="kv1")
    rec("list_secrets root", kv.list_secrets, path="", mount_point="kv1")
    rec("list_secrets dir", kv.list_secrets, path="database", mount_point="kv1")
    rec("list_secrets missing", kv.list_secrets, path="nothing", mount_point="kv1")
    rec("overwrite", kv.create_or_update_secret, path="jwt", secret={"secret_key": "k2"}, mount_point="kv1")
    rec("read overwritten", kv.read_secret, path="jwt", mount_point="kv1")
    rec("delete_secret", kv.delete_secret, path="jwt", mount_point="kv1")
    rec("read deleted", kv.read_secret, path="jwt", mount_point="kv1")
    rec("read missing", kv.read_secret, path="never", mount_point="kv1")
    return rec


def mounts_flow(srv) -> Recorder:
    rec = Recorder()
    c = client_for(srv, srv.api.token)
    rec("enable glassdome", c.sys.enable_secrets_engine, backend_type="kv", path="glassdome", options={"version": "2"})
    rec("enable kv1", c.sys.enable_secrets_engine, backend_type="kv", path="kv1", options={"version": "1"}, description="v1 store")
    rec("enable twice", c.sys.enable_secrets_engine, backend_type="kv", path="glassdome", options={"version": "2"})
    srv.api.wait_kv("glassdome")
    mounts = c.sys.list_mounted_secrets_engines()
    # Only the mounts this flow made: the dev server has its own defaults.
    rec("list_mounted glassdome", lambda: {k: mounts["data"][k] for k in ("glassdome/", "kv1/")})
    rec("read_mount_configuration", c.sys.read_mount_configuration, path="glassdome")
    rec("tune_mount_configuration", c.sys.tune_mount_configuration, path="glassdome", default_lease_ttl="1h", max_lease_ttl="2h")
    rec("read_mount_configuration tuned", c.sys.read_mount_configuration, path="glassdome")
    return rec


MOUNT_IGNORE: list[str] = []


def test_hvac_kv_matches_openbao_dev(servers):
    tgt = servers.target()
    tgt.init_unseal()
    tgt.api.enable_kv("secret")
    ref = servers.openbao_dev()

    problems: list[str] = []
    compare_records(mounts_flow(tgt), mounts_flow(ref), ignore=MOUNT_IGNORE, problems=problems)
    for mount in ("secret", "glassdome"):
        compare_records(kv2_flow(tgt, mount), kv2_flow(ref, mount), problems=problems)
    compare_records(seed_quirks_flow(tgt), seed_quirks_flow(ref), problems=problems)
    compare_records(kv1_flow(tgt), kv1_flow(ref), problems=problems)
    assert not problems, f"{len(problems)} hvac call(s) differ from OpenBao:\n\n" + "\n\n".join(problems)


def test_hvac_values_round_trip(ready_target):
    """Not only the same shape: the values written are the values read."""
    c = client_for(ready_target, ready_target.api.token)
    secret = {"api_key": "secret-value", "endpoint": "https://api.example.com", "unicode": "ñandú ✓", "empty": ""}
    c.secrets.kv.v2.create_or_update_secret(path="myapp/config", secret=secret)
    got = c.secrets.kv.v2.read_secret_version(path="myapp/config", raise_on_deleted_version=True)
    assert got["data"]["data"] == secret
    assert got["data"]["metadata"]["version"] == 1
    c.secrets.kv.v2.patch(path="myapp/config", secret={"api_key": "rotated"})
    got = c.secrets.kv.v2.read_secret_version(path="myapp/config", raise_on_deleted_version=True)
    assert got["data"]["data"] == {**secret, "api_key": "rotated"}
    assert got["data"]["metadata"]["version"] == 2
    assert c.secrets.kv.v2.list_secrets(path="myapp")["data"]["keys"] == ["config"]
    health = c.sys.read_health_status(method="GET")
    assert health["initialized"] is True and health["sealed"] is False and health["standby"] is False
    assert "version" in health


def test_hvac_is_authenticated(ready_target):
    """dotmac's health check calls client.is_authenticated(): auth/token/lookup-self."""
    assert client_for(ready_target, ready_target.api.token).is_authenticated() is True
    assert client_for(ready_target, "s.not-a-token").is_authenticated() is False
    assert client_for(ready_target, "s.wrongwrongwrongwrongwron").is_authenticated() is False
