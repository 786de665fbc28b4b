"""`mainkey token create` against the real binary, flag by flag, next to `bao token create`
against a real OpenBao dev server: the tokens each one makes must look the same on lookup.

The target's own CLI drives the target (`mainkey`, or `bao` with MAINKEY_TEST_TARGET=openbao);
the reference is always `bao` against OpenBao.
"""

from __future__ import annotations

import json

import pytest

POLICY = 'path "secret/*" { capabilities = ["read"] }'
# Lookup fields that depend on the flags and not on the server's clock or randomness.
COMPARED = ("display_name", "explicit_max_ttl", "meta", "num_uses", "orphan", "path", "period", "policies", "renewable", "role", "type")


def prepare(srv) -> None:
    """Policies `a` and `b` and a token role `ci` on a started, unsealed server."""
    for name in ("a", "b"):
        r = srv.api.put(f"sys/policies/acl/{name}", {"policy": POLICY})
        assert r.status_code in (200, 204), r.text
    r = srv.api.post(
        "auth/token/roles/ci",
        {"allowed_policies": ["a"], "orphan": True, "token_period": "2h", "path_suffix": "rev1"},
    )
    assert r.status_code in (200, 204), r.text


@pytest.fixture
def pair(servers, ready_target):
    """The target and a reference OpenBao, both prepared the same way."""
    ref = servers.openbao_dev()
    for srv in (ready_target, ref):
        prepare(srv)
    return ready_target, ref


def create(srv, *flags: str, cli: str = "own", token=None):
    run = srv.cli if cli == "own" else srv.bao
    kw = {} if token is None else {"token": token}
    return run("token", "create", *flags, **kw)


def created(srv, *flags: str, cli: str = "own") -> dict:
    r = create(srv, "-format=json", *flags, cli=cli)
    assert r.returncode == 0, f"{srv.kind} token create {flags}: rc {r.returncode}\n{r.stdout}{r.stderr}"
    return json.loads(r.stdout)


def looked_up(srv, token: str) -> dict:
    r = srv.api.post("auth/token/lookup", {"token": token})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    got = {k: data.get(k) for k in COMPARED}
    got["ttl_rounded"] = round((data.get("ttl") or 0) / 60)
    return got


CASES = [
    ["-policy=a", "-policy=b"],
    ["-policy=a", "-policy=b", "-no-default-policy"],
    ["-policy=a", "-ttl=1h", "-explicit-max-ttl=2h", "-use-limit=5"],
    ["-policy=a", "-period=30m"],
    ["-policy=b", "-orphan", "-renewable=false", "-ttl=10m"],
    ["-display-name=ci", "-metadata=team=x", "-metadata=env=prod"],
    ["-display-name=CI job.1", "-ttl=5m"],
    ["-role=ci"],
    ["-role=ci", "-policy=a", "-no-default-policy"],
    ["-role=ci", "-ttl=10m", "-renewable=false"],
]


@pytest.mark.parametrize("flags", CASES, ids=[" ".join(c) for c in CASES])
def test_token_create_makes_the_same_token_as_bao(pair, flags):
    target, ref = pair
    ours = created(target, *flags)
    theirs = created(ref, *flags, cli="bao")
    # bao prints the response through its Go struct; mainkey prints it as the server sent it.
    for k in ("policies", "token_policies", "renewable", "orphan", "metadata"):
        assert ours["auth"][k] == theirs["auth"][k], (k, ours["auth"], theirs["auth"])
    ours, theirs = looked_up(target, ours["auth"]["client_token"]), looked_up(ref, theirs["auth"]["client_token"])
    if "-role=ci" in flags:
        # OpenBao applies a role's period at each renewal without showing it on lookup;
        # mainkey shows it.
        assert ours.pop("period") in (7200, None) and theirs.pop("period") is None
    assert ours == theirs


@pytest.mark.mainkey_only
def test_a_policy_flag_splits_on_commas(ready_target):
    """bao sends `-policy=a,b` as one policy named "a,b"; mainkey takes it as two."""
    auth = created(ready_target, "-policy=a,b", "-policy=c")["auth"]
    assert auth["policies"] == ["a", "b", "c", "default"], auth


def test_the_table_shows_the_same_rows_as_bao(pair):
    target, ref = pair
    flags = ("-policy=a", "-ttl=1h", "-metadata=team=x")
    rows = {}
    for srv, cli in ((target, "own"), (ref, "bao")):
        r = create(srv, *flags, cli=cli)
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert lines[:2] == ["Key                  Value", "---                  -----"], r.stdout
        rows[cli] = {line.split()[0]: line.split(None, 1)[1] for line in lines[2:] if line.strip()}
    assert list(rows["own"]) == list(rows["bao"]), rows
    for key in ("token_duration", "token_renewable", "token_policies", "identity_policies", "policies", "token_meta_team"):
        assert rows["own"][key] == rows["bao"][key], (key, rows)


def test_field_prints_the_bare_value(pair):
    target, ref = pair
    for srv, cli in ((target, "own"), (ref, "bao")):
        r = create(srv, "-policy=a", "-field=token", cli=cli)
        assert r.returncode == 0 and r.stderr == "", r.stdout + r.stderr
        token = r.stdout
        assert token and token == token.strip(), f"{cli}: {token!r}"
        assert srv.api.post("auth/token/lookup", {"token": token}).status_code == 200
        r = create(srv, "-policy=a", "-field=token_policies", cli=cli)
        assert (r.returncode, r.stdout) == (0, "[a default]"), f"{cli}: {r.returncode} {r.stdout!r}"
        r = create(srv, "-policy=a", "-field=token_renewable", "-format=json", cli=cli)
        assert (r.returncode, r.stdout) == (0, "true"), f"{cli}: {r.returncode} {r.stdout!r}"
        r = create(srv, "-field=nope", cli=cli)
        assert r.returncode == 1, f"{cli}: {r.returncode}"
        assert 'Field "nope" not present in secret' in r.stderr, f"{cli}: {r.stderr}"


def test_id_and_orphan_are_for_root_or_sudo_and_ids_never_a_generated_shape(pair):
    target, ref = pair
    for srv, cli in ((target, "own"), (ref, "bao")):
        r = create(srv, "-id=ci-deploy", "-policy=a", "-field=token", cli=cli)
        assert (r.returncode, r.stdout) == (0, "ci-deploy"), f"{cli}: {r.returncode} {r.stdout}{r.stderr}"
        me = srv.api.get("auth/token/lookup-self", token="ci-deploy")
        assert me.status_code == 200 and me.json()["data"]["policies"] == ["a", "default"], me.text

        for bad, why in (
            ("ci-deploy", "cannot create a token with a duplicate ID"),
            ("s.mine", "custom token ID cannot have the 's.' prefix"),
            ("hvs.mine", "custom token ID cannot have the 'hvs.' prefix"),
            ("my.token", "custom token ID cannot have a '.' in the value"),
        ):
            r = create(srv, f"-id={bad}", cli=cli)
            assert r.returncode == 2 and why in r.stderr, f"{cli} -id={bad}: {r.returncode} {r.stderr}"

        # A token allowed to create tokens still may not choose their ids.
        grant = 'path "auth/token/create" { capabilities = ["update"] }'
        assert srv.api.put("sys/policies/acl/tc", {"policy": grant}).status_code in (200, 204)
        child = created(srv, "-policy=tc", cli=cli)["auth"]["client_token"]
        r = create(srv, "-id=mine", cli=cli, token=child)
        assert r.returncode == 2, f"{cli}: {r.returncode} {r.stdout}"
        assert "root or sudo privileges required to specify token id" in r.stderr, r.stderr
        assert srv.api.get("auth/token/lookup-self", token="mine").status_code == 403
        r = create(srv, "-orphan", cli=cli, token=child)
        assert r.returncode == 2, f"{cli}: {r.returncode} {r.stdout}"
        assert "root or sudo privileges required to create orphan token" in r.stderr, r.stderr

        # With sudo on the create path it may, and may hand out policies it does not hold.
        sudo = 'path "auth/token/create" { capabilities = ["update", "sudo"] }'
        assert srv.api.put("sys/policies/acl/tc", {"policy": sudo}).status_code in (200, 204)
        r = create(srv, "-id=mine", "-orphan", "-policy=other", "-field=token", cli=cli, token=child)
        assert (r.returncode, r.stdout) == (0, "mine"), f"{cli}: {r.returncode} {r.stdout}{r.stderr}"
        me = srv.api.get("auth/token/lookup-self", token="mine").json()["data"]
        assert (me["orphan"], me["policies"]) == (True, ["default", "other"]), me


ROLE_CASES = [
    # A role without allow or deny lists keeps the parent-subset rule.
    ("free", "-policy=admin"),
    ("free", "-policy=maker"),
    ("free", None),
    ("deny", "-policy=other"),
    ("deny", "-policy=admin"),
    ("deny", "-policy=root"),
    ("deny", None),
    ("allow", None),
    ("allow", "-policy=maker"),
    ("allow", "-no-default-policy"),
    ("allow", "-policy=default"),
    ("allow", "-policy=root"),
    ("nope", None),
]


def test_role_policy_rules_match_bao(pair):
    """What a token allowed only to create through roles can hand out, and what root can."""
    outcomes = {}
    for srv, cli in zip(pair, ("own", "bao")):
        for name, rules in (
            ("maker", 'path "auth/token/create/*" { capabilities = ["update"] }'),
            ("admin", 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'),
            ("other", POLICY),
        ):
            assert srv.api.put(f"sys/policies/acl/{name}", {"policy": rules}).status_code in (200, 204)
        for role, body in (("free", {}), ("deny", {"disallowed_policies": "admin"}), ("allow", {"allowed_policies": "other"})):
            assert srv.api.post(f"auth/token/roles/{role}", body).status_code in (200, 204)
        maker = created(srv, "-policy=maker", cli=cli)["auth"]["client_token"]
        for parent in (maker, None):
            for role, flag in ROLE_CASES:
                flags = [f"-role={role}", "-field=policies"] + ([flag] if flag else [])
                r = create(srv, *flags, cli=cli, token=parent)
                said = r.stdout if r.returncode == 0 else r.stderr.strip().splitlines()[-1]
                outcomes.setdefault((parent is None, role, flag), []).append((r.returncode, said))
    for case, (ours, theirs) in outcomes.items():
        assert ours == theirs, f"{case}: mainkey {ours}, OpenBao {theirs}"


def test_bao_cli_flags_work_against_mainkey(pair):
    """The real bao CLI's `-role` and `-id` against the target: the wire format is the same."""
    target, _ = pair
    auth = created(target, "-role=ci", "-id=from-bao", cli="bao")["auth"]
    assert auth["client_token"] == "from-bao"
    data = looked_up(target, "from-bao")
    assert data["path"] == "auth/token/create/ci/rev1" and data["role"] == "ci", data
    assert data["orphan"] is True and data["ttl_rounded"] == 120, data
    # Periodic: a renewal asks for a minute and gets the role's period.
    r = target.api.post("auth/token/renew-self", {"increment": "60s"}, token="from-bao")
    assert r.status_code == 200 and r.json()["auth"]["lease_duration"] == 7200, r.text


def test_flag_errors_are_local(ready_target):
    r = ready_target.cli("token", "create", "-metadata=oops")
    assert r.returncode == 1, f"{r.returncode} {r.stdout}{r.stderr}"
    r = ready_target.cli("token", "create", "-renewable=maybe")
    assert r.returncode != 0
