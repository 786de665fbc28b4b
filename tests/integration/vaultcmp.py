"""Compare two Vault-style JSON documents in shape and value.

mainkey must answer like OpenBao. Two answers to the same request differ in ids
(`request_id`, `accessor`, `uuid`, ...) and in times (`created_time`, ...), and
in nothing else that a client can rely on. `diff` walks both documents and
reports every other difference with its dotted path, so a failing test says
exactly which key is missing, extra or different.

Volatile values are not ignored outright: an empty `deletion_time` and a set
one mean different things (live vs deleted version), so ids and times are
compared by emptiness only.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Iterable

# Keys whose values are random per server (compared by emptiness only).
ID_KEYS = frozenset(
    {
        "request_id",
        "accessor",
        "uuid",
        "nonce",
        "cluster_id",
        "cluster_name",
        "entity_id",
        "client_token",
        "root_token",
        "lease_id",
        "raft_committed_index",
        "raft_applied_index",
    }
)

# Keys whose values are wall-clock times or build facts (compared by emptiness only).
TIME_KEYS = frozenset(
    {
        "created_time",
        "updated_time",
        "deletion_time",
        "creation_time",
        "issue_time",
        "expire_time",
        "last_renewal_time",
        "server_time_utc",
        "active_time",
        "install_time",
    }
)

VOLATILE_KEYS = ID_KEYS | TIME_KEYS

# Facts of the build: present in both, any value (even empty) on either side.
BUILD_KEYS = frozenset({"commit_date", "build_date", "running_plugin_version", "running_sha256"})

# Keys that are a build fact when their value is a string (the server's `version`), but data
# when it is a number (a KV secret's `version`), which must match exactly.
BUILD_STRING_KEYS = frozenset({"version"})


def _placeholder(value: Any) -> Any:
    """Replace a volatile value by a marker that keeps only whether it is empty."""
    if value is None:
        return None
    if value in ("", 0, [], {}):
        return value
    return "<set>"


def normalize(doc: Any, volatile: Iterable[str] = VOLATILE_KEYS, build: Iterable[str] = BUILD_KEYS) -> Any:
    """Return a copy of `doc` with the values of volatile keys replaced by markers."""
    volatile, build = frozenset(volatile), frozenset(build)
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if (k in build and not isinstance(v, (dict, list))) or (
                build and k in BUILD_STRING_KEYS and isinstance(v, str)
            ):
                out[k] = "<build>"
            elif k in volatile and not isinstance(v, dict):
                out[k] = _placeholder(v)
            else:
                out[k] = normalize(v, volatile, build)
        return out
    if isinstance(doc, list):
        return [normalize(v, volatile, build) for v in doc]
    return doc


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True, default=str)
    return s if len(s) <= 200 else s[:197] + "..."


def diff(
    actual: Any,
    expected: Any,
    *,
    ignore: Iterable[str] = (),
    volatile: Iterable[str] = VOLATILE_KEYS,
    names: tuple[str, str] = ("mainkey", "openbao"),
) -> list[str]:
    """Every difference between `actual` and `expected`, one line each.

    `ignore` holds fnmatch patterns over dotted paths (list items are their index,
    e.g. `data.keys.0`, `data.*.description`). At an ignored path both sides must
    still have the key, but its value is not compared. A pattern may start with
    `!` to ignore the key entirely (present or not).
    """
    ignore = list(ignore)
    drop = [p[1:] for p in ignore if p.startswith("!")]
    loose = [p for p in ignore if not p.startswith("!")]
    a_name, e_name = names
    out: list[str] = []

    def matches(path: str, pats: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(path, p) for p in pats)

    def walk(a: Any, e: Any, path: str) -> None:
        here = path or "<root>"
        if matches(path, loose):
            return
        if isinstance(a, dict) and isinstance(e, dict):
            for k in sorted(set(a) | set(e), key=str):
                sub = f"{path}.{k}" if path else str(k)
                if matches(sub, drop):
                    continue
                if k not in a:
                    out.append(f"{sub}: missing in {a_name} ({e_name} has {_short(e[k])})")
                elif k not in e:
                    out.append(f"{sub}: extra in {a_name} ({_short(a[k])}), absent in {e_name}")
                else:
                    walk(a[k], e[k], sub)
            return
        if isinstance(a, list) and isinstance(e, list):
            if len(a) != len(e):
                out.append(
                    f"{here}: list length {len(a)} in {a_name} vs {len(e)} in {e_name}: "
                    f"{_short(a)} vs {_short(e)}"
                )
            for i, (x, y) in enumerate(zip(a, e)):
                walk(x, y, f"{path}.{i}" if path else str(i))
            return
        # bool is an int in Python: keep true/1 apart, as JSON does.
        if type(a) is not type(e) and not (
            isinstance(a, (int, float)) and isinstance(e, (int, float)) and not isinstance(a, bool) and not isinstance(e, bool)
        ):
            out.append(f"{here}: type {type(a).__name__} {_short(a)} in {a_name} vs {type(e).__name__} {_short(e)} in {e_name}")
            return
        if a != e:
            out.append(f"{here}: {a_name}={_short(a)} {e_name}={_short(e)}")

    build = BUILD_KEYS if volatile else ()  # volatile=() asks for an exact comparison
    walk(normalize(actual, volatile, build), normalize(expected, volatile, build), "")
    return out


def assert_same(
    actual: Any,
    expected: Any,
    *,
    what: str = "",
    ignore: Iterable[str] = (),
    volatile: Iterable[str] = VOLATILE_KEYS,
    names: tuple[str, str] = ("mainkey", "openbao"),
) -> None:
    """Fail with a readable, complete list of differences unless the documents agree."""
    problems = diff(actual, expected, ignore=ignore, volatile=volatile, names=names)
    if problems:
        lines = "\n  ".join(problems)
        raise AssertionError(
            f"{what or 'documents'} differ ({len(problems)} difference(s)):\n  {lines}\n"
            f"--- {names[0]}:\n{json.dumps(actual, indent=1, sort_keys=True, default=str)[:3000]}\n"
            f"--- {names[1]}:\n{json.dumps(expected, indent=1, sort_keys=True, default=str)[:3000]}"
        )
