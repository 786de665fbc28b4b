"""`mainkey operator bootstrap FILE`: a fresh, non-dev server (redb storage in a tmp dir)
brought to an HCL or YAML description, idempotently, and checked with the real `bao` CLI
and hvac.

Every run's stdout and stderr is kept, and at the end of each test none of them may hold
a secret: the root token, an unseal key, a password or a KV value.
"""

from __future__ import annotations

import json
import os
import stat
import re
import subprocess
from pathlib import Path

import hvac
import pytest

from conftest import REPO, TARGET, clean_env, free_port, mainkey_bin

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="operator bootstrap is mainkey's")

ALICE_PASSWORD = "alice-pw-Zq81-never-shown"
SMTP_PASSWORD = "smtp-secret-Xy42-never-shown"

POLICY_ACME = '''path "secret/data/tenant/acme/*" {
  capabilities = ["read"]
}
'''
POLICY_ACME_CHANGED = '''path "secret/data/tenant/acme/*" {
  capabilities = ["read", "list"]
}
'''
POLICY_ADMIN = '''path "secret/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
'''

SPEC_HCL = '''# Everything bootstrap knows, once each.
init {
  shares    = 3
  threshold = 2
}

audit "file" {
  type    = "file"
  options = { file_path = "@AUDIT@" }
}

secrets "secret" {
  type        = "kv-v2"
  description = "tenant credentials"
}

secrets "transit" {
  type = "transit"
}

auth "approle" {
  type = "approle"
}

auth "userpass" {
  type = "userpass"
}

policy "tenant-acme" {
  rules = <<EOT
@POLICY_ACME@EOT
}

policy "admin" {
  file = "policies/admin.hcl"
}

approle_role "billing" {
  token_policies = ["tenant-acme"]
  token_ttl      = "@TTL@"
  token_max_ttl  = "4h"
}

userpass_user "alice" {
  policies     = ["admin"]
  password_env = "ALICE_PASSWORD"
}

entity "acme" {
  policies = ["tenant-acme"]
  metadata = { tenant_id = "acme" }
}

kv "secret/tenant/acme/smtp" {
  data     = { host = "smtp.example.com", port = "587" }
  data_env = { password = "SMTP_PASSWORD" }
}
'''

SPEC_YAML = '''# The same description as SPEC_HCL.
init: {shares: 3, threshold: 2}
audit:
  file:
    type: file
    options: {file_path: "@AUDIT@"}
secrets:
  secret: {type: kv-v2, description: tenant credentials}
  transit: {type: transit}
auth:
  approle: {type: approle}
  userpass: {type: userpass}
policy:
  tenant-acme:
    rules: |
@POLICY_ACME_INDENTED@
  admin: {file: policies/admin.hcl}
approle_role:
  billing:
    token_policies: [tenant-acme]
    token_ttl: "@TTL@"
    token_max_ttl: 4h
userpass_user:
  alice:
    policies: [admin]
    password_env: ALICE_PASSWORD
entity:
  acme:
    policies: [tenant-acme]
    metadata: {tenant_id: acme}
kv:
  secret/tenant/acme/smtp:
    data: {host: smtp.example.com, port: "587"}
    data_env: {password: SMTP_PASSWORD}
'''

ALL_ITEMS = {
    "audit/file", "secrets/secret", "secrets/transit", "auth/approle", "auth/userpass",
    "policy/admin", "policy/tenant-acme", "approle_role/billing", "userpass_user/alice",
    "entity/acme", "kv/secret/tenant/acme/smtp",
}


class Bootstrap:
    """Writes spec files beside the test and runs `mainkey operator bootstrap`, keeping every
    output for the leak check."""

    def __init__(self, srv, workdir: Path):
        self.srv = srv
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "policies").mkdir(exist_ok=True)
        (self.dir / "policies" / "admin.hcl").write_text(POLICY_ADMIN)
        self.audit_log = self.dir / "audit.log"
        self.keys = self.dir / "keys.json"
        self.outputs: list[str] = []

    def write(self, name: str, *, policy: str = POLICY_ACME, ttl: str = "1h", text: str | None = None) -> Path:
        if text is None:
            template = SPEC_YAML if name.endswith((".yaml", ".yml")) else SPEC_HCL
            indented = "".join(f"      {line}\n" for line in policy.splitlines())
            text = (
                template.replace("@AUDIT@", str(self.audit_log))
                .replace("@POLICY_ACME_INDENTED@\n", indented)
                .replace("@POLICY_ACME@", policy)
                .replace("@TTL@", ttl)
            )
        path = self.dir / name
        path.write_text(text)
        return path

    def run(self, *args: str, token: str | None = None, env: dict | None = None):
        run_env = {"ALICE_PASSWORD": ALICE_PASSWORD, "SMTP_PASSWORD": SMTP_PASSWORD, **(env or {})}
        r = self.srv.cli("operator", "bootstrap", *args, token=token, env=run_env)
        self.outputs += [r.stdout, r.stderr]
        return r

    def ok(self, *args: str, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"exit {r.returncode}\n-- stdout:\n{r.stdout}\n-- stderr:\n{r.stderr}"
        return r

    def keys_json(self) -> dict:
        return json.loads(self.keys.read_text())

    def assert_no_secret_shown(self, extra: list[str] = ()) -> None:
        secrets = [ALICE_PASSWORD, SMTP_PASSWORD, *extra]
        if self.keys.exists() and self.keys.read_text():
            keys = self.keys_json()
            secrets += [keys["root_token"], *keys["unseal_keys_b64"], *keys["unseal_keys_hex"]]
        for out in self.outputs:
            for secret in secrets:
                assert secret not in out, f"a secret is in the output:\n{out}"


def change_lines(stdout: str) -> set[str]:
    return {line for line in stdout.splitlines() if line[:2] in ("+ ", "~ ", "- ")}


def hv(srv, token: str | None) -> hvac.Client:
    c = hvac.Client(url=srv.url, token=token)
    c.token = token
    c.adapter.session.trust_env = False
    return c


def write_requests(audit_log: Path) -> list[str]:
    """The paths of the audited requests that write (logins, which the checks make, aside)."""
    if not audit_log.exists():
        return []
    lines = [json.loads(line) for line in audit_log.read_text().splitlines() if line.strip()]
    return [
        e["request"]["path"]
        for e in lines
        if e.get("type") == "request"
        and e["request"].get("operation") in ("create", "update", "delete")
        and "/login/" not in e["request"]["path"]
    ]


def assert_server_matches_spec(srv, b: Bootstrap, root: str, *, policy: str = POLICY_ACME, ttl: int = 3600) -> None:
    """Every item of the spec, as the real clients see it."""
    env = {"VAULT_TOKEN": root}
    mounts = json.loads(srv.bao("secrets", "list", "-format=json", env=env).stdout)
    assert mounts["secret/"]["type"] == "kv" and mounts["secret/"]["options"]["version"] == "2", mounts["secret/"]
    assert mounts["secret/"]["description"] == "tenant credentials"
    assert mounts["transit/"]["type"] == "transit"
    auths = json.loads(srv.bao("auth", "list", "-format=json", env=env).stdout)
    assert auths["approle/"]["type"] == "approle" and auths["userpass/"]["type"] == "userpass", auths
    r = srv.bao("policy", "read", "tenant-acme", env=env)
    assert r.returncode == 0 and r.stdout.strip() == policy.strip(), r.stdout + r.stderr
    assert srv.bao("policy", "read", "admin", env=env).stdout.strip() == POLICY_ADMIN.strip()
    audit = json.loads(srv.bao("audit", "list", "-format=json", env=env).stdout)
    assert audit["file/"]["type"] == "file" and audit["file/"]["options"]["file_path"] == str(b.audit_log), audit
    assert b.audit_log.exists() and stat.S_IMODE(os.stat(b.audit_log).st_mode) == 0o600

    client = hv(srv, root)
    role = client.auth.approle.read_role("billing")["data"]
    assert role["token_ttl"] == ttl and role["token_max_ttl"] == 4 * 3600, role
    assert role["token_policies"] == ["tenant-acme"], role
    entity = client.secrets.identity.read_entity_by_name("acme")["data"]
    assert entity["metadata"] == {"tenant_id": "acme"} and entity["policies"] == ["tenant-acme"], entity
    secret = client.secrets.kv.v2.read_secret_version(path="tenant/acme/smtp", mount_point="secret", raise_on_deleted_version=True)
    assert secret["data"]["data"] == {"host": "smtp.example.com", "port": "587", "password": SMTP_PASSWORD}

    login = hv(srv, None).auth.userpass.login("alice", ALICE_PASSWORD)
    assert "admin" in login["auth"]["policies"], login["auth"]
    r = srv.bao("login", "-method=userpass", "-no-store", "username=alice", f"password={ALICE_PASSWORD}", token=None)
    assert r.returncode == 0, r.stderr


def kv_version(srv, root: str) -> int:
    meta = hv(srv, root).secrets.kv.v2.read_secret_metadata(path="tenant/acme/smtp", mount_point="secret")
    return meta["data"]["current_version"]


def test_a_fresh_server_is_bootstrapped_then_left_alone_then_changed_then_unsealed(servers, tmp_path):
    srv = servers.target()
    b = Bootstrap(srv, tmp_path / "spec")
    spec = b.write("mainkey.hcl")

    # 1. A fresh server: initialised, keys in a new 0600 file, unsealed, every item created.
    r = b.ok(f"-keys-file={b.keys}", str(spec))
    assert "Initialised the server with 3 key shares and a threshold of 2" in r.stdout, r.stdout
    assert "Unsealed the server with 2 of the new keys." in r.stdout, r.stdout
    assert {line.split(" (")[0][2:] for line in change_lines(r.stdout)} == ALL_ITEMS, r.stdout
    assert all(line.startswith("+ ") for line in change_lines(r.stdout)), r.stdout
    assert "+ secrets/secret (kv-v2)" in r.stdout.splitlines(), r.stdout
    assert r.stdout.rstrip().endswith("Bootstrap complete: 11 created, 0 updated, 0 unchanged."), r.stdout
    assert stat.S_IMODE(os.stat(b.keys).st_mode) == 0o600
    keys = b.keys_json()
    assert keys["unseal_shares"] == 3 and keys["unseal_threshold"] == 2
    assert len(keys["unseal_keys_b64"]) == 3 and len(keys["unseal_keys_hex"]) == 3
    root = keys["root_token"]
    status = srv.api.seal_status()
    assert status["initialized"] and not status["sealed"] and status["n"] == 3 and status["t"] == 2, status
    assert_server_matches_spec(srv, b, root)
    version = kv_version(srv, root)
    assert version == 1

    # 2. The same file again: nothing to do, and nothing written (audit log, kv version).
    writes_before = write_requests(b.audit_log)
    r = b.ok(f"-keys-file={b.keys}", str(spec))
    assert change_lines(r.stdout) == set(), r.stdout
    assert r.stdout.rstrip().endswith(f"No changes: the server matches {spec}."), r.stdout
    assert "passwords of existing users were not compared" in r.stdout, r.stdout
    # with VAULT_TOKEN instead of the keys file's token, and -verbose lists every item
    r = b.ok("-verbose", str(spec), token=root)
    assert {line[2:] for line in r.stdout.splitlines() if line.startswith("= ")} == ALL_ITEMS, r.stdout
    assert write_requests(b.audit_log) == writes_before, write_requests(b.audit_log)[len(writes_before):]
    assert kv_version(srv, root) == version

    # 3. One policy edited, one role field changed: -dry-run shows exactly that, writes nothing.
    changed = b.write("mainkey.hcl", policy=POLICY_ACME_CHANGED, ttl="2h")
    want = {"~ policy/tenant-acme (rules)", "~ approle_role/billing (token_ttl)"}
    r = b.ok("-dry-run", str(changed), token=root)
    assert change_lines(r.stdout) == want, r.stdout
    assert "Dry run" in r.stdout and r.stdout.rstrip().endswith(
        "Dry run: 0 to create, 2 to update, 9 unchanged; nothing was written."
    ), r.stdout
    assert write_requests(b.audit_log) == writes_before
    assert_server_matches_spec(srv, b, root)
    r = b.ok("-format=json", "-dry-run", str(changed), token=root)
    report = json.loads(r.stdout)
    assert report["dry_run"] is True and sorted(report["updated"]) == ["approle_role/billing", "policy/tenant-acme"]
    assert report["created"] == [] and len(report["unchanged"]) == 9
    # ... and the real run does it
    r = b.ok(str(changed), token=root)
    assert change_lines(r.stdout) == want, r.stdout
    assert r.stdout.rstrip().endswith("Bootstrap complete: 0 created, 2 updated, 9 unchanged."), r.stdout
    assert_server_matches_spec(srv, b, root, policy=POLICY_ACME_CHANGED, ttl=7200)
    assert sorted(write_requests(b.audit_log)[len(writes_before):]) == [
        "auth/approle/role/billing", "sys/policies/acl/tenant-acme",
    ]
    assert kv_version(srv, root) == version

    # 4. A restart: sealed, initialised. A dry run says so and leaves it sealed; without keys
    # it is a clear error; with -keys-file it unseals and there is nothing else to do.
    srv.restart()
    assert srv.api.seal_status()["sealed"] is True
    r = b.ok("-dry-run", f"-keys-file={b.keys}", str(changed))
    assert "the server is sealed" in r.stdout and change_lines(r.stdout) == set(), r.stdout
    assert srv.api.seal_status()["sealed"] is True
    r = b.run(str(changed), token=root)
    assert r.returncode == 2, r
    assert "the server is sealed; give -keys-file" in r.stderr, r.stderr
    r = b.ok(f"-keys-file={b.keys}", str(changed))
    assert "Unsealed the server with 2 keys from" in r.stdout, r.stdout
    assert r.stdout.rstrip().endswith(f"No changes: the server matches {changed}."), r.stdout
    assert srv.api.seal_status()["sealed"] is False
    assert_server_matches_spec(srv, b, root, policy=POLICY_ACME_CHANGED, ttl=7200)

    # 5. -reset-passwords sets the password of an existing user again.
    r = b.ok("-reset-passwords", str(changed), env={"ALICE_PASSWORD": "alice-second-pw-Kk77"}, token=root)
    assert change_lines(r.stdout) == {"~ userpass_user/alice (password)"}, r.stdout
    assert hv(srv, None).auth.userpass.login("alice", "alice-second-pw-Kk77")["auth"]["client_token"]

    b.assert_no_secret_shown(extra=["alice-second-pw-Kk77"])


def test_the_yaml_form_gives_the_same_server(servers, tmp_path):
    srv = servers.target()
    b = Bootstrap(srv, tmp_path / "spec")
    spec = b.write("mainkey.yaml")
    r = b.ok(f"-keys-file={b.keys}", str(spec))
    assert {line.split(" (")[0][2:] for line in change_lines(r.stdout)} == ALL_ITEMS, r.stdout
    root = b.keys_json()["root_token"]
    assert_server_matches_spec(srv, b, root)
    # The HCL form finds nothing to change on the server the YAML form made, and back.
    r = b.ok(str(b.write("mainkey.hcl")), token=root)
    assert change_lines(r.stdout) == set() and "No changes" in r.stdout, r.stdout
    r = b.ok(str(spec), token=root)
    assert change_lines(r.stdout) == set() and "No changes" in r.stdout, r.stdout
    b.assert_no_secret_shown()


def test_json_output_carries_the_keys_only_without_a_keys_file(servers, tmp_path):
    srv = servers.target()
    b = Bootstrap(srv, tmp_path / "spec")
    spec = b.write("small.hcl", text='init {\n  shares = 1\n  threshold = 1\n}\n\nsecrets "secret" {\n  type = "kv-v2"\n}\n')

    # A dry run on a server that is not initialised says it would initialise, and stops.
    r = b.ok("-dry-run", "-format=json", str(spec))
    assert json.loads(r.stdout)["would_initialize"] == {"shares": 1, "threshold": 1}, r.stdout
    assert srv.api.seal_status()["initialized"] is False

    r = b.ok("-format=json", str(spec))
    report = json.loads(r.stdout)
    assert report["created"] == ["secrets/secret"] and report["dry_run"] is False, report
    init = report["init"]
    assert len(init["unseal_keys_b64"]) == 1 and init["unseal_shares"] == 1 and init["root_token"], init
    status = srv.api.seal_status()
    assert status["initialized"] and not status["sealed"], status
    assert not b.keys.exists()
    # The keys it printed work: seal, then unseal with them.
    api = srv.api
    api.token = init["root_token"]
    assert api.put("sys/seal").status_code == 204
    api.unseal(init["unseal_keys_b64"])
    # The one case where keys are printed is this one; other runs show none of them.
    b.outputs.clear()
    r = b.ok("-format=json", str(spec), token=init["root_token"])
    assert json.loads(r.stdout)["unchanged"] == ["secrets/secret"]
    b.assert_no_secret_shown(extra=[init["root_token"], *init["unseal_keys_b64"], *init["unseal_keys_hex"]])


def test_bad_inputs_are_clear_errors_that_change_nothing(servers, tmp_path):
    srv = servers.target()
    b = Bootstrap(srv, tmp_path / "spec")
    small = b.write("small.hcl", text='secrets "secret" {\n  type = "kv-v2"\n}\n')

    # Not initialised, and nowhere to put the keys: refused before anything is done.
    r = b.run(str(small))
    assert r.returncode == 1 and "give -keys-file=PATH" in r.stderr, r
    # A keys file that already exists is never replaced.
    b.keys.write_text("precious\n")
    r = b.run(f"-keys-file={b.keys}", str(small))
    assert r.returncode == 1 and "it already exists" in r.stderr, r
    assert b.keys.read_text() == "precious\n"
    assert srv.api.seal_status()["initialized"] is False
    b.keys.unlink()

    # A missing file and an unknown key name the file (and the key), and exit 1.
    r = b.run(f"-keys-file={b.keys}", str(b.dir / "nope.hcl"))
    assert r.returncode == 1 and "nope.hcl" in r.stderr, r
    typo = b.write("typo.hcl", text='secrets "secret" {\n  type = "kv-v2"\n  descripton = "x"\n}\n')
    r = b.run(f"-keys-file={b.keys}", str(typo))
    assert r.returncode == 1 and str(typo) in r.stderr and "descripton" in r.stderr, r
    typo_yaml = b.write("typo.yaml", text="secrets:\n  secret: {type: kv-v2}\npolices: {}\n")
    r = b.run(f"-keys-file={b.keys}", str(typo_yaml))
    assert r.returncode == 1 and str(typo_yaml) in r.stderr and "polices" in r.stderr, r
    # A missing environment variable stops the run before any request.
    r = b.run(f"-keys-file={b.keys}", str(b.write("mainkey.hcl")), env={"SMTP_PASSWORD": None})
    assert r.returncode == 1 and "SMTP_PASSWORD" in r.stderr and "is not set" in r.stderr, r
    assert srv.api.seal_status()["initialized"] is False and not b.keys.exists()

    # Now a real server with data in secret/ (kv-v2).
    b.ok(f"-keys-file={b.keys}", str(small))
    root = b.keys_json()["root_token"]
    client = hv(srv, root)
    client.secrets.kv.v2.create_or_update_secret(path="keep", secret={"v": "kept"}, mount_point="secret")

    # A dry run of the whole file plans the items inside mounts it would create without
    # asking for them, and writes nothing.
    r = b.ok("-dry-run", str(b.write("mainkey.hcl")), token=root)
    assert {line.split(" (")[0][2:] for line in change_lines(r.stdout)} == ALL_ITEMS, r.stdout
    assert "~ secrets/secret (description)" in r.stdout.splitlines(), r.stdout
    assert r.stdout.rstrip().endswith("Dry run: 10 to create, 1 to update, 0 unchanged; nothing was written."), r.stdout
    assert "approle/" not in client.sys.list_auth_methods()["data"]
    assert client.sys.list_mounted_secrets_engines()["data"]["secret/"]["description"] == ""
    assert not b.audit_log.exists()

    # The file asks for KV v1 where KV v2 is: an error, and the mount is untouched.
    clash = b.write("clash.hcl", text='secrets "secret" {\n  type = "kv"\n}\n\npolicy "after" {\n  rules = ""\n}\n')
    r = b.run(str(clash), token=root)
    assert r.returncode == 2, r
    assert r.stderr.startswith("secrets/secret: the server has a kv-v2 mount here and the file asks for kv"), r.stderr
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    assert mounts["secret/"]["options"]["version"] == "2"
    assert client.secrets.kv.v2.read_secret_version(path="keep", mount_point="secret", raise_on_deleted_version=True)["data"]["data"] == {"v": "kept"}
    # ... and it stopped there: the policy after it was not written.
    assert "after" not in client.sys.list_acl_policies()["data"]["keys"]

    # A server error names the item: a token that may not write policies.
    client.sys.create_or_update_policy("reader", 'path "sys/policies/acl/*" {\n  capabilities = ["read"]\n}\n')
    weak = client.auth.token.create(policies=["reader"])["auth"]["client_token"]
    denied = b.write("denied.hcl", text='policy "tenant-acme" {\n  rules = "path \\"a\\" {}"\n}\n')
    r = b.run(str(denied), token=weak)
    assert r.returncode == 2, r
    assert r.stderr.startswith("policy/tenant-acme: Error making API request"), r.stderr
    assert "permission denied" in r.stderr, r.stderr

    # Sealed, with no keys file: a clear error.
    client.sys.seal()
    r = b.run(str(small), token=root)
    assert r.returncode == 2 and "the server is sealed; give -keys-file" in r.stderr, r
    assert srv.api.seal_status()["sealed"] is True

    b.assert_no_secret_shown(extra=[weak])


def readme_blocks() -> list[str]:
    """The sh blocks of the README's "Bootstrap from a file", up to the next heading."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Bootstrap from a file\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_the_readme_bootstrap_section_works_as_written(servers, tmp_path):
    """The README's "Bootstrap from a file" commands on the first-run server, as written but
    for two stated liberties: a free port for 8200, and the example's audit log in a temp
    directory instead of /var/log/mainkey/."""
    (block,) = readme_blocks()
    port = str(free_port())
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    first_run = (REPO / "config" / "first-run.hcl").read_text()
    (work / "config" / "first-run.hcl").write_text(first_run.replace("8200", port))
    example = (REPO / "config" / "bootstrap.example.hcl").read_text()
    assert '"/var/log/mainkey/audit.log"' in example
    audit_log = tmp_path / "log" / "audit.log"
    audit_log.parent.mkdir()
    (work / "config" / "bootstrap.example.hcl").write_text(example.replace("/var/log/mainkey/audit.log", str(audit_log)))
    servers.mainkey(["server", f"-config={work / 'config' / 'first-run.hcl'}"], port=int(port))

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mainkey").symlink_to(mainkey_bin())
    (tmp_path / "home").mkdir()
    env = clean_env(tmp_path / "home", PATH=f"{bindir}:{os.environ['PATH']}")
    script = block.replace("8200", port)
    r = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, f"{script}\n-- stdout:\n{r.stdout}\n-- stderr:\n{r.stderr}"
    assert "Dry run: the server is not initialised." in r.stdout, r.stdout
    assert "Bootstrap complete: 10 created, 0 updated, 0 unchanged." in r.stdout, r.stdout
    assert r.stdout.rstrip().endswith("No changes: the server matches config/bootstrap.example.hcl."), r.stdout
    keys = json.loads((work / "keys.json").read_text())
    assert stat.S_IMODE(os.stat(work / "keys.json").st_mode) == 0o600
    assert len(keys["unseal_keys_b64"]) == 5 and keys["unseal_threshold"] == 3
    for secret in ["correct horse battery staple", "smtp-secret", keys["root_token"], *keys["unseal_keys_b64"]]:
        assert secret not in r.stdout + r.stderr
    login = hv(servers.all[-1], None).auth.userpass.login("admin", "correct horse battery staple")
    assert "admin" in login["auth"]["policies"]
