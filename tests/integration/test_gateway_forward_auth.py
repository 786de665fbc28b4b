"""The forward-auth endpoint's contract, asked directly (no proxy in between), row by row of
the issue's table: 200 with every identity and injected header, 401 with WWW-Authenticate,
403, 429 with Retry-After, 400 for ambiguous paths, 503 when sealed; `mode=nginx`,
`route=NAME`, the trusted-proxies peer check, hosts, host labels and methods."""

from __future__ import annotations

import socket
import time

import pytest

import gateway_env as g
import rawhttp

# A mainkey feature: MAINKEY_TEST_TARGET=openbao has nothing to compare it with.
pytestmark = pytest.mark.mainkey_only


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    b = g.Bench(tmp_path_factory.mktemp("gw-fa"))
    try:
        e, _ = b.start(proxy_listener=False)
        yield e
    finally:
        b.close()


def policies(r) -> set[str]:
    return {p.strip() for p in r.headers["X-Mainkey-Policies"].split(",") if p.strip()}


def assert_allowed(r, env, tenant: g.Tenant, route: str = "shop", inject: bool = True) -> None:
    assert r.status_code == 200, f"{r.status_code} {r.text[:300]}"
    assert r.headers["X-Mainkey-Tenant"] == tenant.name
    assert r.headers["X-Mainkey-Entity"] == tenant.entity_id
    assert r.headers["X-Mainkey-Route"] == route
    assert policies(r) == {"default", "tenant"}, r.headers["X-Mainkey-Policies"]
    if inject:
        assert r.headers[g.INJECTED] == tenant.credential


def raw_fa(env, uri: str, *, token: str | None, query: str = "", host: str = g.SITE_HOST, method: str = "GET"):
    """Forward-auth over a raw socket, so that X-Forwarded-Uri goes out byte for byte."""
    headers = {"X-Forwarded-Method": method, "X-Forwarded-Host": host, "X-Forwarded-Uri": uri}
    return rawhttp.request(env.api_port, "GET", env.fa_path + (f"?{query}" if query else ""), token=token, headers=headers)


# ---------------------------------------------------------------- 200


def test_allowed_carries_identity_and_the_tenants_credential(env):
    assert_allowed(env.forward_auth("/t/acme/orders/7?x=1", token=env.acme.token), env, env.acme)
    assert_allowed(env.forward_auth("/t/globex/orders", token=env.globex.token), env, env.globex)


def test_a_bearer_vault_token_works_like_x_vault_token(env):
    assert_allowed(env.forward_auth("/t/acme/orders", bearer=env.acme.token), env, env.acme)


def test_every_header_is_present_on_a_200_even_when_empty(env):
    # Root has no entity; the route still answers every header, the entity one empty.
    r = env.forward_auth("/t/acme/orders", token=env.root_token)
    assert r.status_code == 200, r.text
    for name in [*g.IDENTITY_HEADERS, g.INJECTED]:
        assert name in r.headers, f"{name} missing from a 200: {dict(r.headers)}"
    assert r.headers["X-Mainkey-Entity"] == ""
    assert r.headers["X-Mainkey-Tenant"] == "acme"
    assert policies(r) == {"root"}
    assert r.headers[g.INJECTED] == env.acme.credential
    # A route with no tenant: X-Mainkey-Tenant is there, empty.
    r = env.forward_auth("/open/anything", token=env.acme.token)
    assert r.status_code == 200, r.text
    for name in g.IDENTITY_HEADERS:
        assert name in r.headers, f"{name} missing from a 200: {dict(r.headers)}"
    assert r.headers["X-Mainkey-Tenant"] == ""
    assert r.headers["X-Mainkey-Entity"] == env.acme.entity_id
    assert r.headers["X-Mainkey-Route"] == "open"


def test_every_method_is_served_and_the_body_is_never_read(env):
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        r = env.forward_auth("/t/acme/orders", token=env.acme.token, method=method)
        assert_allowed(r, env, env.acme)
    r = env.forward_auth("/t/acme/orders", token=env.acme.token, method="HEAD")
    assert r.status_code == 200 and r.headers["X-Mainkey-Tenant"] == "acme"
    # A body announced and never sent: mainkey answers from the head alone (reading the body
    # would mean waiting for it until the socket times out).
    head = (
        f"POST {env.fa_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Vault-Token: {env.acme.token}\r\n"
        f"X-Forwarded-Method: GET\r\nX-Forwarded-Host: {g.SITE_HOST}\r\nX-Forwarded-Uri: /t/acme/orders\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", env.api_port), timeout=5) as s:
        s.sendall(head.encode())
        r = rawhttp._read_response(s, head_only=True)
    assert r.status == 200, r
    assert r.headers["x-mainkey-tenant"] == "acme"


def test_the_longest_path_prefix_wins(env):
    r = env.forward_auth("/t/acme/special/x", token=env.acme.token)
    assert r.status_code == 200 and r.headers["X-Mainkey-Route"] == "special", (r.status_code, dict(r.headers))
    r = env.forward_auth("/t/acme/specialist", token=env.acme.token)
    assert r.headers.get("X-Mainkey-Route") == "shop"


def test_the_forwarded_method_must_be_one_of_the_routes(env):
    assert_allowed(env.forward_auth("/t/acme/orders", token=env.acme.token, fwd_method="POST"), env, env.acme)
    r = env.forward_auth("/t/acme/orders", token=env.acme.token, fwd_method="DELETE")
    assert r.status_code == 403, "shop allows GET and POST only: no route matches a DELETE"


def test_hosts_match_case_insensitively_and_without_the_port(env):
    for host in (g.SITE_HOST, "SHOP.Example.COM", f"{g.SITE_HOST}:8443"):
        r = env.forward_auth("/h/acme/x", token=env.acme.token, host=host)
        assert_allowed(r, env, env.acme, route="hosted", inject=False)
    r = env.forward_auth("/h/acme/x", token=env.acme.token, host="other.example.com")
    assert r.status_code == 403


def test_a_host_label_names_the_tenant(env):
    r = env.forward_auth("/hl/orders", token=env.acme.token, host="acme.shop.example.com")
    assert_allowed(r, env, env.acme, route="hostlabel")
    r = env.forward_auth("/hl/orders", token=env.acme.token, host="globex.shop.example.com")
    assert r.status_code == 403


def test_route_by_name_picks_the_route_and_the_uri_gives_the_segments(env):
    r = env.forward_auth("/t/acme/orders", token=env.acme.token, query="route=byname")
    assert_allowed(r, env, env.acme, route="byname")
    r = env.forward_auth("/anything/globex/x", token=env.globex.token, query="route=byname&mode=nginx")
    assert_allowed(r, env, env.globex, route="byname")
    r = env.forward_auth("/anything/acme/x", token=env.acme.token, query="route=no-such-route")
    assert r.status_code == 403


# ---------------------------------------------------------------- 401


def test_no_unknown_revoked_or_expired_token_gets_401_with_www_authenticate(env):
    r = env.api.post("auth/token/create", {"policies": ["tenant"], "ttl": "1s", "explicit_max_ttl": "1s"})
    assert r.status_code == 200, r.text
    short = r.json()["auth"]["client_token"]
    r = env.api.post("auth/token/create", {"policies": ["default"]})
    revoked = r.json()["auth"]["client_token"]
    env.revoke(revoked)
    time.sleep(1.3)
    for name, kw in (
        ("none", {}),
        ("unknown", {"token": "hvs.CAESIJunkJunkJunkJunkJunkJunkJunkJunkJunk"}),
        ("unknown bearer", {"bearer": "not-a-token"}),
        ("revoked", {"token": revoked}),
        ("expired", {"token": short}),
    ):
        for query in ("", "mode=nginx"):
            r = env.forward_auth("/t/acme/orders", query=query, **kw)
            assert r.status_code == 401, f"{name} {query}: {r.status_code} {r.text[:200]}"
            assert r.headers.get("WWW-Authenticate") == g.WWW_AUTHENTICATE, (name, dict(r.headers))
            assert "X-Mainkey-Tenant" not in r.headers and g.INJECTED not in r.headers


# ---------------------------------------------------------------- 403


def test_another_tenant_is_403(env):
    for query in ("", "mode=nginx"):
        r = env.forward_auth("/t/globex/orders", token=env.acme.token, query=query)
        assert r.status_code == 403, r.text
        assert g.INJECTED not in r.headers and env.globex.credential not in r.text
        r = env.forward_auth("/t/acme/orders", token=env.globex.token, query=query)
        assert r.status_code == 403, r.text


def test_no_matching_route_is_403(env):
    for uri in ("/", "/nowhere/acme/x", "/T/acme/x", "/tx/acme"):
        r = env.forward_auth(uri, token=env.root_token)
        assert r.status_code == 403, f"{uri}: {r.status_code}"


@pytest.mark.parametrize("tenant", ["*", "+", "a..b", "{x}", "{{tenant}}", "ac*me", "x+y"])
def test_a_bad_tenant_value_is_403_even_for_root(env, tenant):
    # Root passes any ACL: only the tenant check can deny this.
    r = raw_fa(env, f"/t/{tenant}/orders", token=env.root_token)
    assert r.status == 403, f"tenant {tenant!r}: {r.status} {r.text[:200]}"


def test_an_empty_tenant_is_403(env):
    r = raw_fa(env, "/t/", token=env.root_token)
    assert r.status == 403, r.status
    r = env.forward_auth("/me/x", token=env.root_token)  # root has no entity, so no metadata
    assert r.status_code == 403, r.status_code


def test_a_peer_outside_trusted_proxies_gets_403(servers):
    e = g.start_env(servers, proxy_listener=False, trusted_proxies=["10.0.0.0/8"])
    try:
        for query in ("", "mode=nginx"):
            r = e.forward_auth("/t/acme/orders", token=e.acme.token, query=query)
            assert r.status_code == 403, f"{r.status_code} {r.text[:200]}"
            assert "X-Mainkey-Tenant" not in r.headers and g.INJECTED not in r.headers
            # Nothing is evaluated: not even the token (no 401 for a missing one).
            r = e.forward_auth("/t/acme/orders", query=query)
            assert r.status_code == 403
        # The API itself is unaffected.
        assert e.api.get("sys/health", token=None).status_code == 200
    finally:
        g.close_env(e)


# ---------------------------------------------------------------- 429


def test_rate_limit_429_with_retry_after_and_nginx_mode_403(env):
    s = g._session()
    statuses = []
    t0 = time.monotonic()
    for _ in range(400):
        r = env.forward_auth("/limited/acme/x", token=env.acme.token, session=s)
        statuses.append(r.status_code)
        if r.status_code != 200:
            break
    elapsed = time.monotonic() - t0
    allowed = len(statuses) - 1
    assert r.status_code == 429, f"{r.status_code} {r.text[:200]} after {allowed} allowed"
    assert 120 <= allowed <= 120 + int(elapsed / 0.5) + 1, f"{allowed} allowed in {elapsed:.2f}s at rpm=120"
    ra = r.headers.get("Retry-After", "")
    assert ra.isdigit() and int(ra) >= 1, f"Retry-After {ra!r}"
    assert g.INJECTED not in r.headers
    r = env.forward_auth("/limited/acme/x", token=env.acme.token, query="mode=nginx", session=s)
    assert r.status_code == 403, r.status_code
    ra = r.headers.get("Retry-After", "")
    assert ra.isdigit() and int(ra) >= 1, f"mode=nginx lost Retry-After: {dict(r.headers)}"
    # Per tenant: globex still passes.
    r = env.forward_auth("/limited/globex/x", token=env.globex.token, session=s)
    assert_allowed(r, env, env.globex, route="limited")


# ---------------------------------------------------------------- 400


AMBIGUOUS = [
    "/t/acme/..%2fglobex/orders",
    "/t/acme/..%2Fglobex/orders",
    "/t/acme%2Forders",
    "/t/acme/x%2fy",
    "/t/acme%5Corders",
    "/t/acme/x%5cy",
    "//t/acme/orders",
    "/t//acme/orders",
    "/t/acme//orders",
    "/t/globex/../acme/orders",
    "/t/acme/./orders",
    "/t/acme/orders/..",
    "/t/acme/orders/.",
    "/t/acme/%2e%2e/globex/orders",
    "/t/acme/%2E%2E/globex",
    "/t/acme/.%2e/x",
    "/t/acme/%2e/orders",
    "/t/%2e%2e/acme/orders",
    "/t/acme/orders%00",
    "/t/acme/orders%00.json",
]


@pytest.mark.parametrize("uri", AMBIGUOUS)
def test_an_ambiguous_forwarded_uri_is_400_and_403_in_nginx_mode(env, uri):
    r = raw_fa(env, uri, token=env.acme.token)
    assert r.status == 400, f"{uri}: {r.status} {r.text[:200]}"
    assert "x-mainkey-tenant" not in r.headers
    r = raw_fa(env, uri, token=env.acme.token, query="mode=nginx")
    assert r.status == 403, f"{uri} mode=nginx: {r.status}"


def test_a_raw_nul_in_the_forwarded_uri_is_400(env):
    r = raw_fa(env, "/t/acme/orders\x00x", token=env.acme.token)
    assert r.status == 400, r.status


def test_plain_paths_next_to_the_ambiguous_ones_are_allowed(env):
    for uri in ("/t/acme/orders/", "/t/acme/orders.json", "/t/acme/a.b/c..d", "/t/acme/orders?next=/x/../y"):
        r = raw_fa(env, uri, token=env.acme.token)
        assert r.status == 200, f"{uri}: {r.status} {r.text[:200]}"


# ---------------------------------------------------------------- 503


def test_sealed_is_503_and_403_in_nginx_mode(servers):
    e = g.start_env(servers, proxy_listener=False)
    try:
        assert_allowed(e.forward_auth("/t/acme/orders", token=e.acme.token), e, e.acme)
        e.seal()
        r = e.forward_auth("/t/acme/orders", token=e.acme.token)
        assert r.status_code == 503, f"{r.status_code} {r.text[:200]}"
        assert g.INJECTED not in r.headers and e.acme.credential not in r.text
        r = e.forward_auth("/t/acme/orders", token=e.acme.token, query="mode=nginx")
        assert r.status_code == 403, r.status_code
        e.unseal()
        assert_allowed(e.forward_auth("/t/acme/orders", token=e.acme.token), e, e.acme)
    finally:
        g.close_env(e)


# ---------------------------------------------------------------- bearer JWTs (jwt_auth)

JWT_ROUTE = """
route "jwt" {
  path_prefix = "/j/"
  tenant      = "jwt.claim.tenant"
  jwt_auth {
    mount = "jwt"
    role  = "gateway"
  }
  require {
    capability = "read"
    path       = "secret/data/tenant/{{tenant}}/shopify"
  }
  inject_header "X-Shopify-Access-Token" {
    path  = "secret/data/tenant/{{tenant}}/shopify"
    field = "access_token"
  }
}
"""


def test_a_bearer_jwt_that_the_routes_jwt_role_accepts(servers, tmp_path):
    from jwtsign import rsa_keypair, sign

    key, pub = rsa_keypair(tmp_path)
    e = g.start_env(servers, proxy_listener=False, routes=g.STANDARD_ROUTES + JWT_ROUTE)
    try:
        api = e.api
        assert api.post("sys/auth/jwt", {"type": "jwt"}).status_code in (200, 204)
        r = api.post("auth/jwt/config", {"jwt_validation_pubkeys": [pub], "bound_issuer": "https://issuer.test"})
        assert r.status_code in (200, 204), r.text
        r = api.put("sys/policy/gw-reader", {"policy": 'path "secret/data/tenant/+/shopify" { capabilities = ["read"] }'})
        assert r.status_code in (200, 204), r.text
        role = {"role_type": "jwt", "bound_audiences": ["mainkey"], "user_claim": "sub", "token_policies": ["gw-reader"]}
        assert api.post("auth/jwt/role/gateway", role).status_code in (200, 204)

        def jwt(**over):
            now = int(time.time())
            claims = {"sub": "svc-1", "aud": "mainkey", "iss": "https://issuer.test", "iat": now, "exp": now + 300, "tenant": "acme"}
            claims.update(over)
            return sign(key, {k: v for k, v in claims.items() if v is not None})

        for tenant in ("acme", "globex"):
            r = e.forward_auth("/j/orders", bearer=jwt(tenant=tenant))
            assert r.status_code == 200, f"{r.status_code} {r.text[:200]}"
            assert r.headers["X-Mainkey-Tenant"] == tenant and r.headers["X-Mainkey-Route"] == "jwt"
            assert r.headers[g.INJECTED] == e.tenants[tenant].credential
            assert "gw-reader" in policies(r)
        # Refused JWTs are 401, like bad tokens.
        for bad in (jwt(aud="other"), jwt(exp=int(time.time()) - 60), jwt(iss="https://evil.test"), sign(key, {"sub": "x"}, header={"alg": "none"})):
            r = e.forward_auth("/j/orders", bearer=bad)
            assert r.status_code == 401 and r.headers.get("WWW-Authenticate") == g.WWW_AUTHENTICATE, r.status_code
        # A bad or missing tenant claim is 403.
        for over in ({"tenant": "*"}, {"tenant": "a/b"}, {"tenant": ""}, {"tenant": None}):
            r = e.forward_auth("/j/orders", bearer=jwt(**over))
            assert r.status_code == 403, f"{over}: {r.status_code}"
        # A route without jwt_auth takes no JWT: the bearer is then an unknown Vault token.
        r = e.forward_auth("/t/acme/orders", bearer=jwt())
        assert r.status_code == 401, r.status_code
    finally:
        g.close_env(e)


def test_forward_auth_path_is_configurable(servers):
    e = g.start_env(servers, proxy_listener=False, forward_auth_path="/_auth/check")
    try:
        assert e.fa_path == "/_auth/check"
        assert_allowed(e.forward_auth("/t/acme/orders", token=e.acme.token), e, e.acme)
        r = e.forward_auth("/t/acme/orders")
        assert r.status_code == 401 and r.headers.get("WWW-Authenticate") == g.WWW_AUTHENTICATE
    finally:
        g.close_env(e)


def test_answers_are_framed_so_the_proxy_reuses_its_connection(env):
    # Without Content-Length pingora ends the body by closing, and every check would cost the
    # proxy a new connection.
    s = g._session()
    ok = env.forward_auth("/t/acme/orders", token=env.acme.token, session=s)
    assert ok.status_code == 200 and ok.headers.get("Content-Length") == "0", dict(ok.headers)
    denied = env.forward_auth("/t/acme/orders", token=None, session=s)
    assert denied.status_code == 401
    assert denied.headers.get("Content-Length") == str(len(denied.content)), dict(denied.headers)
