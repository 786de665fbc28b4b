"""Issue 8 §3 and §7 through the real binary, beside `bao server -dev` in the same run: JWT
time claims, `crit`, `aud` and typed bound claims, leeway bounds, a policy item with 50,000
keys, and AppRole accessors of a custom secret-id that two roles share. Each case sends the
same request to both servers and compares status and error text. Tokens are signed with
openssl, so no JWT library is needed."""

from __future__ import annotations

import time

import pytest

from jwtsign import rsa_keypair, sign


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    return rsa_keypair(tmp_path_factory.mktemp("jwt"))


def answer(r) -> tuple[int, list | None]:
    """Status and errors; a success's body differs between servers (ids), so only its status."""
    if r.status_code >= 400:
        return r.status_code, r.json().get("errors")
    return r.status_code, None


@pytest.fixture
def both(servers, rsa_key):
    target = servers.target()
    target.init_unseal()
    pair = [target, servers.openbao_dev()]
    for srv in pair:
        api = srv.api
        assert api.post("sys/auth/jwt", {"type": "jwt"}).status_code == 204
        r = api.post("auth/jwt/config", {"jwt_validation_pubkeys": [rsa_key[1]]})
        assert r.status_code in (200, 204), r.text
        r = api.post("auth/jwt/role/r", {"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["a"], "token_policies": ["default"]})
        assert r.status_code in (200, 204), r.text
    return pair


def differ(pair, send) -> list[str]:
    ours, theirs = (answer(send(srv)) for srv in pair)
    return [] if ours == theirs else [f"mainkey={ours} openbao={theirs}"]


def login(srv, jwt: str, role: str = "r"):
    return srv.api.post("auth/jwt/login", {"role": role, "jwt": jwt}, token=None)


def test_jwt_time_claims_crit_and_aud_match_openbao(both, rsa_key):
    now = int(time.time())
    base = {"sub": "x", "aud": "a"}
    cases = {
        "no time claims": (dict(base), None),
        "day-old iat only": (dict(base, iat=now - 86400), None),
        "iat 100 s ago": (dict(base, iat=now - 100), None),
        "iat 300 s ago": (dict(base, iat=now - 300), None),
        "nbf 100 s ago": (dict(base, nbf=now - 100), None),
        "iat 0": (dict(base, iat=0), None),
        "exp as a string": (dict(base, exp=str(now + 100)), None),
        "aud with a number": (dict(base, aud=["a", 1], exp=now + 100), None),
        "aud an object": (dict(base, aud={"a": 1}, exp=now + 100), None),
        "unknown crit": (dict(base, exp=now + 100), {"alg": "RS256", "crit": ["foo"], "foo": 1}),
        "crit b64": (dict(base, exp=now + 100), {"alg": "RS256", "crit": ["b64"], "b64": True}),
        "ok": (dict(base, exp=now + 100), None),
    }
    problems = []
    for name, (claims, header) in cases.items():
        jwt = sign(rsa_key[0], claims, header)
        problems += [f"{name}: {d}" for d in differ(both, lambda srv: login(srv, jwt))]
    assert not problems, "\n".join(problems)


def test_jwt_bound_claims_compare_typed_values_like_openbao(both, rsa_key):
    now = int(time.time())
    rows = [("true", True), (True, "true"), (True, True), (1000, 1000), ("1000", 1000), (1000, "1000"), ("1000", "1000"), ([1000], 1000), (1.5, 1.5)]
    problems = []
    for bound, value in rows:
        for srv in both:
            r = srv.api.post("auth/jwt/role/typed", {"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["a"], "bound_claims": {"f": bound}})
            assert r.status_code in (200, 204), r.text
        jwt = sign(rsa_key[0], {"sub": "x", "aud": "a", "exp": now + 100, "f": value})
        problems += [f"bound {bound!r} claim {value!r}: {d}" for d in differ(both, lambda srv: login(srv, jwt, "typed"))]
    assert not problems, "\n".join(problems)


def test_jwt_leeways_are_bounded_like_openbao(both):
    problems = []
    for key in ("clock_skew_leeway", "expiration_leeway", "not_before_leeway"):
        for value in (9223372036854775807, "9223372036854775807", 9223372037, 9223372036, -5):
            body = {"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["a"], key: value}
            problems += [f"{key}={value!r}: {d}" for d in differ(both, lambda srv: srv.api.post("auth/jwt/role/lee", body))]
    assert not problems, "\n".join(problems)


def test_a_policy_item_with_fifty_thousand_keys_is_a_400_and_the_server_lives(servers):
    target = servers.target()
    target.init_unseal()
    policy = 'path "x" { capabilities = ["read"] ' + "k " * 50_000 + "{ } }"
    r = target.api.post("sys/policies/acl/boom", {"policy": policy})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0].startswith("failed to parse policy: ")
    # Still serving, still unsealed.
    assert target.api.get("sys/health").status_code == 200
    ref = servers.openbao_dev()
    assert ref.api.post("sys/policies/acl/boom", {"policy": policy}).status_code == 400


def test_approle_accessors_of_a_shared_custom_secret_id_stay_apart(servers):
    target = servers.target()
    target.init_unseal()
    pair = [target, servers.openbao_dev()]
    accessors = []
    for srv in pair:
        api = srv.api
        assert api.post("sys/auth/approle", {"type": "approle"}).status_code == 204
        acc = []
        for role in ("ra", "rb"):
            assert api.post(f"auth/approle/role/{role}", {"token_policies": ["default"]}).status_code == 204
            r = api.post(f"auth/approle/role/{role}/custom-secret-id", {"secret_id": "same-secret"})
            assert r.status_code == 200, r.text
            acc.append(r.json()["data"]["secret_id_accessor"])
        accessors.append(acc)
    for i, srv in enumerate(pair):
        acc_a = accessors[i][0]
        srv.answers = [
            answer(srv.api.post("auth/approle/role/rb/secret-id-accessor/lookup", {"secret_id_accessor": acc_a})),
            answer(srv.api.post("auth/approle/role/rb/secret-id-accessor/destroy", {"secret_id_accessor": acc_a})),
        ]
        for role in ("ra", "rb"):
            role_id = srv.api.get(f"auth/approle/role/{role}/role-id").json()["data"]["role_id"]
            r = srv.api.post("auth/approle/login", {"role_id": role_id, "secret_id": "same-secret"}, token=None)
            srv.answers.append(answer(r))
    ours, theirs = pair[0].answers, pair[1].answers
    assert theirs[1] == (403, ["invalid secret id accessor"]), theirs
    assert ours == theirs, f"mainkey={ours} openbao={theirs}"
