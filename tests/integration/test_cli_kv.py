"""`mainkey kv|secrets|read|write|list|delete`, command for command next to `bao` against a
real OpenBao dev server: the same exit codes, the same `-format=json` answers (ids and times
aside), the same `-field` values and the same success lines.

The target's own CLI drives the target (`mainkey`, or `bao` with MAINKEY_TEST_TARGET=openbao);
the reference is always `bao` against OpenBao. Then `kv import|export`, which bao lacks.
"""

from __future__ import annotations

import json
import os
import re
import stat

import dotenv
import pytest

# Values that differ between two servers for reasons that are not behaviour.
VOLATILE = {"created_time", "deletion_time", "updated_time", "modified", "request_id", "accessor", "uuid"}
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def normal(value):
    """`value` with times and ids replaced by placeholders; empty warnings as None."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in VOLATILE and v not in ("", None):
                out[k] = "<volatile>"
            elif k == "warnings" and not v:
                out[k] = None
            else:
                out[k] = normal(v)
        return out
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


# The fields of a `/v1` answer that `bao -format=json` prints from its Go struct and that mean
# something; mainkey prints the answer as the server sent it, with the same fields.
SECRET_FIELDS = ("data", "lease_duration", "lease_id", "renewable", "warnings")


def compared(stdout: str, fmt_json: bool):
    if not fmt_json:
        return TIME.sub("<time>", stdout)
    try:
        value = json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        return ("not json", stdout)
    if isinstance(value, dict) and "request_id" in value:
        value = {k: value.get(k) for k in SECRET_FIELDS}
    return normal(value)


@pytest.fixture
def pair(servers, ready_target):
    ref = servers.openbao_dev()
    return ready_target, ref


def both(pair, *args, input=None, stderr_has=None):
    """Runs one command on the target (its own CLI) and on OpenBao (bao); checks that the exit
    codes and outputs agree and returns the target's result."""
    target, ref = pair
    ours = target.cli(*args, input=input)
    theirs = ref.bao(*args, input=input)
    where = f"{' '.join(args)}\n-- ours rc {ours.returncode}:\n{ours.stdout}{ours.stderr}\n" \
            f"-- bao rc {theirs.returncode}:\n{theirs.stdout}{theirs.stderr}"
    assert ours.returncode == theirs.returncode, where
    fmt_json = "-format=json" in args
    assert compared(ours.stdout, fmt_json) == compared(theirs.stdout, fmt_json), where
    if stderr_has:
        assert stderr_has in ours.stderr and stderr_has in theirs.stderr, where
    return ours


def test_kv_v2_commands_match_bao(pair):
    j = "-format=json"
    r = both(pair, "kv", "put", "secret/app", "user=alice", "pass=s3cr3t")
    assert "= Secret Path =" in r.stdout and "secret/data/app" in r.stdout, r.stdout
    both(pair, "kv", "put", j, "-mount=secret", "app2", "a=1", "a=2", "b=x=y")
    both(pair, "kv", "get", j, "secret/app")
    both(pair, "kv", "get", j, "-mount=secret", "app2")
    r = both(pair, "kv", "get", "-field=pass", "secret/app")
    assert r.stdout == "s3cr3t"
    both(pair, "kv", "get", "-field=nope", "secret/app")
    both(pair, "kv", "get", j, "-field=a", "secret/app2")
    both(pair, "kv", "get", "secret/app")

    # check-and-set: a stale version is refused, the current one accepted
    both(pair, "kv", "put", j, "-cas=1", "secret/app", "user=bob", "pass=s3cr3t")
    both(pair, "kv", "put", "-cas=1", "secret/app", "user=eve", stderr_has="check-and-set")
    both(pair, "kv", "put", "-cas=0", "secret/new", "k=v")
    both(pair, "kv", "put", "-cas=0", "secret/new", "k=w")

    # patch: merge by PATCH, by read-then-write, and removing a key
    both(pair, "kv", "patch", j, "secret/app", "pass=rotated")
    both(pair, "kv", "patch", j, "-method=rw", "secret/app", "extra=1")
    both(pair, "kv", "patch", j, "-remove-data=extra", "secret/app")
    both(pair, "kv", "get", j, "secret/app")
    both(pair, "kv", "patch", "secret/missing", "a=b")
    both(pair, "kv", "patch", "-method=bogus", "secret/app", "a=b")
    both(pair, "kv", "get", j, "-version=1", "secret/app")
    both(pair, "kv", "get", "-version=99", "secret/app")

    # standard input: one value, or a whole JSON object
    both(pair, "kv", "put", j, "secret/stdin", "cert=-", input="-----BEGIN-----\nabc\n")
    both(pair, "kv", "put", j, "secret/json", "-", input='{"n": "1", "nested": {"a": "b"}}')
    both(pair, "kv", "get", j, "secret/json")
    both(pair, "kv", "put", "secret/json", "-", input="[1, 2]")
    both(pair, "kv", "put", "secret/nodata")
    both(pair, "kv", "put", "secret/bad", "novalue")

    # lists
    both(pair, "kv", "put", "secret/team/a/db", "x=1")
    both(pair, "kv", "list", j, "secret/")
    both(pair, "kv", "list", "secret/team")
    both(pair, "kv", "list", j, "-mount=secret", "team/a")
    both(pair, "kv", "list", "secret/nothing-here")
    both(pair, "kv", "list", j, "secret/nothing-here")

    # delete, undelete, destroy, and a read of a deleted version
    both(pair, "kv", "delete", "secret/app")
    both(pair, "kv", "get", j, "secret/app")
    both(pair, "kv", "undelete", "-versions=5", "secret/app")
    both(pair, "kv", "undelete", "secret/app")
    both(pair, "kv", "delete", "-versions=1,2", "secret/app")
    both(pair, "kv", "destroy", "-versions=3", "-versions=4", "secret/app")
    both(pair, "kv", "destroy", "-versions=x", "secret/app")
    both(pair, "kv", "get", j, "-version=3", "secret/app")

    # metadata
    both(pair, "kv", "metadata", "put", "-max-versions=7", "-cas-required",
         "-delete-version-after=720h", "-custom-metadata=owner=team-a", "secret/app")
    both(pair, "kv", "metadata", "get", j, "secret/app")
    r = both(pair, "kv", "metadata", "get", "secret/app")
    assert "= Metadata Path =" in r.stdout and "Version 5" in r.stdout, r.stdout
    both(pair, "kv", "put", "secret/app", "k=no-cas", stderr_has="check-and-set")
    both(pair, "kv", "metadata", "delete", "secret/app")
    both(pair, "kv", "get", "secret/app")
    both(pair, "kv", "metadata", "get", "secret/app")


def test_kv_v1_and_secrets_commands_match_bao(pair):
    j = "-format=json"
    both(pair, "secrets", "enable", "-path=kv1", "-description=first", "kv")
    both(pair, "secrets", "enable", "-path=kv2b", "-version=2", "kv")
    both(pair, "secrets", "enable", "-path=kv3", "-max-lease-ttl=2h", "kv-v2")
    both(pair, "secrets", "enable", "-path=kv1", "kv")
    both(pair, "secrets", "enable", "-path=bad", "no-such-engine")

    target, ref = pair
    mounts = {}
    for name, srv, run in (("ours", target, target.cli), ("bao", ref, ref.bao)):
        r = run("secrets", "list", j)
        assert r.returncode == 0, r.stderr
        listed = json.loads(r.stdout)
        mounts[name] = {
            p: (m["type"], m.get("description"), (m.get("options") or {}).get("version"),
                m["config"]["max_lease_ttl"])
            for p, m in listed.items() if p in ("kv1/", "kv2b/", "kv3/")
        }
    assert mounts["ours"] == mounts["bao"], mounts
    r = target.cli("secrets", "list")
    assert re.search(r"^kv1/\s+kv\s+\S+\s+first$", r.stdout, re.M), r.stdout
    r = target.cli("secrets", "list", "-detailed")
    assert re.search(r"^kv3/\s+kv\s+\S+\s+system\s+2h\s+false\s+false\s+map\[version:2\]", r.stdout, re.M), r.stdout

    both(pair, "secrets", "tune", "-max-lease-ttl=1h", "-description=tuned", "kv1")
    both(pair, "read", j, "sys/mounts/kv1/tune")
    both(pair, "secrets", "disable", "kv3")
    both(pair, "kv", "put", "kv3/x", "a=b")

    # KV v1 through the same kv commands
    both(pair, "kv", "put", "kv1/app", "user=alice", "n=1")
    both(pair, "kv", "put", "-mount=kv1", "other", "a=b")
    both(pair, "kv", "get", j, "kv1/app")
    both(pair, "kv", "get", "-field=user", "kv1/app")
    both(pair, "kv", "get", j, "-mount=kv1", "other")
    both(pair, "kv", "list", j, "kv1/")
    both(pair, "kv", "patch", "kv1/app", "a=b")
    both(pair, "kv", "metadata", "get", "kv1/app")
    both(pair, "kv", "delete", "kv1/app")
    both(pair, "kv", "get", "kv1/app")
    both(pair, "kv", "put", j, "kv2b/app", "a=b")


def test_path_commands_match_bao(pair, tmp_path):
    j = "-format=json"
    policy = tmp_path / "p.hcl"
    policy.write_text('path "secret/data/x" { capabilities = ["read"] }\n')
    both(pair, "write", "sys/policies/acl/reader", f"policy=@{policy}")
    both(pair, "read", j, "sys/policies/acl/reader")
    both(pair, "read", "-field=name", "sys/policies/acl/reader")
    both(pair, "list", j, "sys/policies/acl")
    both(pair, "list", "sys/policies/acl")
    both(pair, "delete", "sys/policies/acl/reader")
    both(pair, "read", "sys/policies/acl/reader")
    both(pair, "write", "secret/data/w", "-", input='{"data": {"k": "v"}}')
    both(pair, "read", j, "secret/data/w")
    both(pair, "read", j, "secret/data/w", "version=1")
    both(pair, "read", "secret/data/none")
    both(pair, "write", "sys/policies/acl/empty")
    both(pair, "write", "secret/data/w", "novalue")
    both(pair, "write", j, "auth/token/create", "policies=reader", "ttl=1h", "-force")
    both(pair, "list", "secret/metadata/none")
    both(pair, "delete", "secret/metadata/w")

    # a token with one capability fewer: read only, so every write is a 403 on both
    target, ref = pair
    tokens = {}
    for name, srv in (("ours", target), ("bao", ref)):
        r = srv.api.put("sys/policies/acl/ro", {"policy": 'path "secret/data/*" { capabilities = ["read"] }'})
        assert r.status_code in (200, 204), r.text
        r = srv.api.post("auth/token/create", {"policies": ["ro"]})
        tokens[name] = r.json()["auth"]["client_token"]
    for args in (("kv", "put", "secret/ro", "a=b"), ("kv", "patch", "secret/w", "a=b"),
                 ("kv", "delete", "secret/w"), ("write", "secret/data/ro", "a=b")):
        ours = target.cli(*args, token=tokens["ours"])
        theirs = ref.bao(*args, token=tokens["bao"])
        assert ours.returncode == theirs.returncode == 2, (args, ours.stderr, theirs.stderr)
        # patch falls back to a read, which finds nothing: the write is never tried
        if args[1] != "patch":
            assert "permission denied" in ours.stderr, ours.stderr


ENV_FILE = r"""# the app's settings
export DATABASE_URL="postgres://app:p@ss=w0rd@db:5432/app?sslmode=require"
API_KEY='sk-live-123'
QUOTED="she said \"hi\""
EQUALS=a=b=c
MULTI="-----BEGIN KEY-----
line two
-----END KEY-----"
UNICODE=ünïcødé✓秘密
EMPTY=
SINGLE='literal $HOME and \n'
"""

EXPECTED = {
    "DATABASE_URL": "postgres://app:p@ss=w0rd@db:5432/app?sslmode=require",
    "API_KEY": "sk-live-123",
    "QUOTED": 'she said "hi"',
    "EQUALS": "a=b=c",
    "MULTI": "-----BEGIN KEY-----\nline two\n-----END KEY-----",
    "UNICODE": "ünïcødé✓秘密",
    "EMPTY": "",
    "SINGLE": "literal $HOME and \\n",
}


def test_env_import_export_round_trip(ready_target, tmp_path):
    srv = ready_target
    src = tmp_path / "app.env"
    src.write_text(ENV_FILE)
    r = srv.cli("kv", "import", "secret/app", str(src))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Imported 8 variables into secret/data/app" in r.stdout, r.stdout
    assert "sk-live" not in r.stdout + r.stderr
    got = srv.api.get("secret/data/app").json()["data"]["data"]
    assert got == EXPECTED

    # a second import refuses to overwrite, and the data stays
    r = srv.cli("kv", "import", "secret/app", str(src))
    assert r.returncode == 1 and "already there" in r.stderr and "-force" in r.stderr, r.stderr
    assert srv.api.get("secret/data/app").json()["data"]["metadata"]["version"] == 1
    r = srv.cli("kv", "import", "-cas=1", "-mount=secret", "app", "-", input="API_KEY=rotated\n")
    assert r.returncode == 0, r.stderr
    r = srv.cli("kv", "import", "-cas=1", "secret/app", "-", input="API_KEY=stale\n")
    assert r.returncode == 2 and "check-and-set" in r.stderr, r.stderr
    r = srv.cli("kv", "import", "-force", "secret/app", str(src))
    assert r.returncode == 0 and "(version 3)" in r.stdout, r.stdout + r.stderr

    # export: created 0600, never over an existing file without -force, read back the same
    out = tmp_path / "out.env"
    r = srv.cli("kv", "export", "secret/app", str(out))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    r = srv.cli("kv", "export", "secret/app", str(out))
    assert r.returncode == 1 and "exists" in r.stderr, r.stderr
    r = srv.cli("kv", "import", "secret/copy", str(out))
    assert r.returncode == 0, r.stderr
    assert srv.api.get("secret/data/copy").json()["data"]["data"] == EXPECTED
    r = srv.cli("kv", "export", "-version=2", "secret/app", "-")
    assert r.returncode == 0 and r.stdout == "API_KEY='rotated'\n", r.stdout

    # python-dotenv, another reader of the format, reads the export the same way, except
    # for backslashes in single quotes, which the readers of .env files disagree on
    plain = {k: v for k, v in EXPECTED.items() if "\\" not in v}
    read_back = dotenv.dotenv_values(out)
    assert {k: read_back[k] for k in plain} == plain

    # a file that does not parse: refused, and the line's secret is not echoed
    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\nTOKEN='unterminated-s3cr3t\n")
    r = srv.cli("kv", "import", "secret/bad", str(bad))
    assert r.returncode == 1 and "after variable OK" in r.stderr, r.stderr
    assert "s3cr3t" not in r.stdout + r.stderr
    assert srv.api.get("secret/data/bad").status_code == 404
    r = srv.cli("kv", "import", "-force", "-cas=0", "secret/x", str(src))
    assert r.returncode == 1 and "not both" in r.stderr

    # KV v1: no check-and-set, so the existence check is done first
    srv.api.enable_kv("kv1", 1)
    assert srv.cli("kv", "import", "kv1/app", str(src)).returncode == 0
    r = srv.cli("kv", "import", "kv1/app", str(src))
    assert r.returncode == 1 and "already there" in r.stderr, r.stderr
    r = srv.cli("kv", "export", "kv1/app", "-")
    assert r.returncode == 0 and "API_KEY='sk-live-123'" in r.stdout, r.stdout
