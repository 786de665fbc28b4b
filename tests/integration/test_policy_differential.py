"""ACL differential test: the same policies and paths asked of mainkey and of a real OpenBao in
the same run, through `sys/capabilities`; every answer must be identical.

The policy sets and paths come from `src/policy/testdata/capabilities_fixture.json`, made by a
seeded generator (globs, `+`, deny, overlapping patterns across several policies). The
fixture's recorded answers are not used here: both servers answer live.
"""

from __future__ import annotations

import json
import pathlib

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "src/policy/testdata/capabilities_fixture.json"


def answers(srv, sets) -> dict:
    out = {}
    for i, s in enumerate(sets):
        names = []
        for j, text in enumerate(s["policies"]):
            name = f"diff-{i}-{j}"
            r = srv.api.put(f"sys/policy/{name}", {"policy": text})
            assert r.status_code in (200, 204), f"{srv.name}: policy {name}: {r.status_code} {r.text}"
            names.append(name)
        r = srv.api.post("auth/token/create", {"policies": names, "no_default_policy": True})
        assert r.status_code == 200, r.text
        token = r.json()["auth"]["client_token"]
        paths = [p for p, _ in s["paths"]]
        r = srv.api.post("sys/capabilities", {"token": token, "paths": paths})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        for p in paths:
            out[f"set {i}: {p}"] = data.get(p)
    return out


def test_capabilities_match_openbao_on_every_generated_case(servers):
    sets = json.loads(FIXTURE.read_text())["sets"]
    target = servers.target()
    target.init_unseal()
    ours = answers(target, sets)
    theirs = answers(servers.openbao_dev(), sets)
    assert len(theirs) >= 1000, f"only {len(theirs)} cases"
    assert all(isinstance(v, list) and v for v in theirs.values()), "OpenBao left a path unanswered"
    differ = [f"{k}: mainkey={ours[k]} openbao={theirs[k]}" for k in theirs if ours.get(k) != theirs[k]]
    assert not differ, f"{len(differ)} of {len(theirs)} differ:\n" + "\n".join(differ[:40])
