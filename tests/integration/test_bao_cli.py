"""The real `bao` CLI against the target, command for command against a real OpenBao.

Each step runs the same bao command on both servers and compares the exit code,
stdout (parsed when it is JSON, ids and times compared by emptiness only) and
stderr (with each server's address replaced by ADDR).
"""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor

from conftest import TARGET
from vaultcmp import assert_same

_POOL = ThreadPoolExecutor(max_workers=1)

# `bao status`: facts of the build or the storage, not of the API.
STATUS_IGNORE = ["version", "storage_type", "ha_enabled", "!is_self", "!raft_*", "!leader_*", "!active_time", "!performance_standby"]


def _parse(stdout: str):
    try:
        return json.loads(stdout)
    except ValueError:
        return None


def _normalize_text(text: str, url: str) -> str:
    text = text.replace(url, "ADDR")
    # Timestamps, uuids and tokens that appear in plain text output.
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", text)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    return text


def compare_run(tgt, ref, args: list[str], *, ignore=(), problems: list[str] | None = None) -> tuple:
    """Run `bao *args` on both servers and assert the same outcome; return both results.

    With `problems`, a difference is appended to it instead of failing at once, so that a
    test can report every differing step of a session in one go.
    """
    # Both at once: each bao call costs ~0.1 s of process start.
    fa = _POOL.submit(tgt.bao, *args)
    e = ref.bao(*args)
    a = fa.result()
    try:
        _check_same(tgt, ref, args, a, e, ignore)
    except AssertionError as err:
        if problems is None:
            raise
        problems.append(str(err))
    return a, e


def _check_same(tgt, ref, args, a, e, ignore) -> None:
    what = "bao " + " ".join(args)
    context = (
        f"\n$ {what}\n-- {TARGET} (rc {a.returncode}) stdout:\n{a.stdout}\n-- stderr:\n{a.stderr}"
        f"\n-- openbao (rc {e.returncode}) stdout:\n{e.stdout}\n-- stderr:\n{e.stderr}"
    )
    assert a.returncode == e.returncode, f"{what}: exit codes differ: {a.returncode} vs {e.returncode}{context}"
    ja, je = _parse(a.stdout), _parse(e.stdout)
    if je is not None:
        assert ja is not None, f"{what}: {TARGET} printed no JSON where OpenBao did{context}"
        assert_same(ja, je, what=what, ignore=ignore, names=(TARGET, "openbao"))
    else:
        assert _normalize_text(a.stdout, tgt.url) == _normalize_text(e.stdout, ref.url), f"{what}: stdout differs{context}"
    assert _normalize_text(a.stderr, tgt.url) == _normalize_text(e.stderr, ref.url), f"{what}: stderr differs{context}"


def test_operator_init_status_unseal_match_openbao(servers):
    """init 5/3, `bao status` exit 2 while sealed, unseal with 3 keys, `bao status` exit 0."""
    tgt = servers.target()
    ref = servers.openbao_config(storage="inmem")

    a, _ = compare_run(tgt, ref, ["status", "-format=json"], ignore=STATUS_IGNORE)
    assert a.returncode == 2, "bao status must exit 2 on an uninitialised (sealed) server"

    a, e = compare_run(
        tgt,
        ref,
        ["operator", "init", "-key-shares=5", "-key-threshold=3", "-format=json"],
        ignore=["unseal_keys_b64.*", "unseal_keys_hex.*"],
    )
    init_t, init_r = json.loads(a.stdout), json.loads(e.stdout)
    assert init_t["unseal_shares"] == 5 and init_t["unseal_threshold"] == 3
    assert len(set(init_t["unseal_keys_b64"])) == 5
    for b64, hx in zip(init_t["unseal_keys_b64"], init_t["unseal_keys_hex"]):
        assert base64.b64decode(b64).hex() == hx, "keys_base64 and keys must be the same shares"
    tgt.api.token = init_t["root_token"]
    ref.api.token = init_r["root_token"]

    a, _ = compare_run(tgt, ref, ["status", "-format=json"], ignore=STATUS_IGNORE)
    assert a.returncode == 2, "bao status must exit 2 while sealed"
    assert json.loads(a.stdout)["sealed"] is True

    # Unseal with keys 1, 3 and 5: any 3 of the 5 shares.
    for n, i in enumerate((0, 2, 4), start=1):
        ra = tgt.bao("operator", "unseal", "-format=json", init_t["unseal_keys_b64"][i])
        rr = ref.bao("operator", "unseal", "-format=json", init_r["unseal_keys_b64"][i])
        assert ra.returncode == rr.returncode == 0, (ra.stderr, rr.stderr)
        assert_same(json.loads(ra.stdout), json.loads(rr.stdout), what=f"bao operator unseal #{n}", ignore=STATUS_IGNORE)
        assert json.loads(ra.stdout)["progress"] == (n if n < 3 else 0)
    tgt.api.wait_active()
    ref.api.wait_active()

    a, _ = compare_run(tgt, ref, ["status", "-format=json"], ignore=STATUS_IGNORE)
    assert a.returncode == 0, "bao status must exit 0 once unsealed"
    assert json.loads(a.stdout)["sealed"] is False

    # The root token from init works for an authenticated call.
    r = tgt.bao("secrets", "list", "-format=json")
    assert r.returncode == 0, r.stderr
    assert "sys/" in json.loads(r.stdout)


def _kv_v2_steps(m: str) -> list[list[str]]:
    """The same KV v2 session on mount `m`."""
    return [
        ["kv", "put", "-format=json", f"{m}/app/db", "user=admin", "pass=s3cret"],
        ["kv", "get", "-format=json", f"{m}/app/db"],
        ["kv", "get", "-field=pass", f"{m}/app/db"],
        ["kv", "put", "-format=json", f"{m}/app/db", "user=admin", "pass=v2"],
        ["kv", "put", "-format=json", "-cas=2", f"{m}/app/db", "user=admin", "pass=v3"],
        ["kv", "put", "-format=json", "-cas=1", f"{m}/app/db", "pass=stale"],
        ["kv", "patch", "-format=json", f"{m}/app/db", "extra=1"],
        ["kv", "patch", "-format=json", "-method=rw", f"{m}/app/db", "extra=2"],
        ["kv", "get", "-format=json", f"{m}/app/db"],
        ["kv", "get", "-format=json", "-version=1", f"{m}/app/db"],
        ["kv", "get", "-format=json", "-version=3", f"{m}/app/db"],
        ["kv", "get", "-format=json", "-version=99", f"{m}/app/db"],
        ["kv", "delete", "-versions=2", f"{m}/app/db"],
        ["kv", "get", "-format=json", "-version=2", f"{m}/app/db"],
        ["kv", "undelete", "-versions=2", f"{m}/app/db"],
        ["kv", "get", "-format=json", "-version=2", f"{m}/app/db"],
        ["kv", "destroy", "-versions=1", f"{m}/app/db"],
        ["kv", "get", "-format=json", "-version=1", f"{m}/app/db"],
        ["kv", "delete", f"{m}/app/db"],
        ["kv", "get", "-format=json", f"{m}/app/db"],
        ["kv", "metadata", "get", "-format=json", f"{m}/app/db"],
        ["kv", "undelete", "-versions=5", f"{m}/app/db"],
        ["kv", "get", "-format=json", f"{m}/app/db"],
        ["kv", "metadata", "put", "-max-versions=3", "-custom-metadata=owner=ops", "-custom-metadata=tier=1", f"{m}/app/db"],
        ["kv", "metadata", "get", "-format=json", f"{m}/app/db"],
        ["kv", "put", "-format=json", f"{m}/app/db", "user=admin", "pass=v6"],
        ["kv", "metadata", "get", "-format=json", f"{m}/app/db"],
        ["kv", "get", "-format=json", "-version=2", f"{m}/app/db"],
        ["kv", "get", "-format=json", "-mount", m, "app/db"],
        ["kv", "put", "-format=json", f"{m}/app/api", "token=t1"],
        ["kv", "put", "-format=json", f"{m}/app/nested/deep", "x=1"],
        ["kv", "put", "-format=json", f"{m}/tenant/rut-76832940-3/nexa", "NEXA_MODEL_ID=llama", "NEXA_TEMPERATURE=0.7"],
        ["kv", "list", "-format=json", f"{m}/"],
        ["kv", "list", "-format=json", f"{m}/app"],
        ["kv", "list", "-format=json", f"{m}/app/"],
        ["kv", "list", "-format=json", f"{m}/tenant/"],
        ["kv", "list", "-format=json", f"{m}/missing"],
        ["kv", "get", "-format=json", f"{m}/missing"],
        ["kv", "metadata", "get", "-format=json", f"{m}/missing"],
        ["kv", "metadata", "delete", f"{m}/app/api"],
        ["kv", "get", "-format=json", f"{m}/app/api"],
        ["kv", "list", "-format=json", f"{m}/app"],
        ["read", "-format=json", f"{m}/config"],
        ["write", f"{m}/config", "max_versions=7"],
        ["read", "-format=json", f"{m}/config"],
        ["read", "-format=json", f"{m}/subkeys/app/db"],
        ["read", "-format=json", f"sys/internal/ui/mounts/{m}"],
    ]


def _kv_v1_steps() -> list[list[str]]:
    return [
        ["kv", "put", "kv1/foo", "a=b", "c=d"],
        ["kv", "get", "-format=json", "kv1/foo"],
        ["kv", "get", "-field=c", "kv1/foo"],
        ["kv", "put", "kv1/foo", "a=2"],
        ["kv", "get", "-format=json", "kv1/foo"],
        ["kv", "put", "kv1/dir/bar", "x=1"],
        ["kv", "list", "-format=json", "kv1/"],
        ["kv", "list", "-format=json", "kv1/dir"],
        ["kv", "get", "-format=json", "kv1/missing"],
        ["kv", "delete", "kv1/foo"],
        ["kv", "get", "-format=json", "kv1/foo"],
        ["kv", "list", "-format=json", "kv1/"],
        ["read", "-format=json", "sys/internal/ui/mounts/kv1"],
    ]


# A mount's description and the dev server's pre-made secret/ mount differ by setup, not by API.
MOUNT_IGNORE = ["data.description", "data.*.description", "description"]


def test_kv_sequence_matches_openbao_dev(servers):
    tgt = servers.target()
    tgt.init_unseal(shares=5, threshold=3)
    ref = servers.openbao_dev()

    # `server --config` has no secret/ mount, as in Vault; the dev server has one.
    r = tgt.bao("secrets", "enable", "-path=secret", "kv-v2")
    assert r.returncode == 0, r.stderr
    assert "Success! Enabled the kv-v2 secrets engine at: secret/" in r.stdout

    compare_run(tgt, ref, ["secrets", "enable", "-path=glassdome", "kv-v2"])
    compare_run(tgt, ref, ["secrets", "enable", "-version=1", "-path=kv1", "kv"])
    compare_run(tgt, ref, ["secrets", "enable", "-path=glassdome", "kv-v2"])  # twice: an error
    for m in ("secret", "glassdome"):
        tgt.api.wait_kv(m)

    problems: list[str] = []
    for m in ("secret", "glassdome"):
        for step in _kv_v2_steps(m):
            compare_run(tgt, ref, step, ignore=MOUNT_IGNORE, problems=problems)
    for step in _kv_v1_steps():
        compare_run(tgt, ref, step, ignore=MOUNT_IGNORE, problems=problems)

    # The mounts made by this test look the same in `bao secrets list`.
    a = json.loads(tgt.bao("secrets", "list", "-format=json").stdout)
    e = json.loads(ref.bao("secrets", "list", "-format=json").stdout)
    for mount in ("secret/", "glassdome/", "kv1/"):
        assert mount in a, f"{mount} missing from bao secrets list: {sorted(a)}"
        try:
            assert_same(a[mount], e[mount], what=f"secrets list [{mount}]", ignore=["description"])
        except AssertionError as err:
            problems.append(str(err))

    compare_run(tgt, ref, ["secrets", "tune", "-default-lease-ttl=1h", "-max-lease-ttl=2h", "glassdome/"], problems=problems)
    compare_run(tgt, ref, ["read", "-format=json", "sys/mounts/glassdome/tune"], ignore=MOUNT_IGNORE, problems=problems)
    compare_run(tgt, ref, ["secrets", "disable", "kv1/"], problems=problems)
    compare_run(tgt, ref, ["kv", "get", "-format=json", "kv1/dir/bar"], problems=problems)
    assert not problems, f"{len(problems)} bao command(s) differ from OpenBao:\n\n" + "\n\n".join(problems)


def test_kv_get_without_ui_mounts_breaks_silently_guard(ready_target):
    """`bao kv get` learns the KV version from sys/internal/ui/mounts: it must say v2 for secret/."""
    r = ready_target.api.get("sys/internal/ui/mounts/secret")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"]["type"] == "kv", body
    assert body["data"]["options"]["version"] == "2", body
    assert body["data"]["path"] == "secret/", body
