"""SIGHUP re-reads the routes from the config file. A good file takes effect (forward-auth
and proxy mode alike); a broken one keeps the old routes, logs an error naming the key, and
mainkey keeps serving."""

from __future__ import annotations

import time

import pytest

import gateway_env as g

# The standard routes with "shop" moved from /t/ to /shop/ and renamed.
MOVED = g.STANDARD_ROUTES.replace('route "shop" {\n  path_prefix = "/t/"', 'route "shop2" {\n  path_prefix = "/shop/"')

BROKEN = {
    # an unknown key, named in the error
    "unknown key": (g.STANDARD_ROUTES.replace('  tenant      = "path.segment.1"\n', '  tenant      = "path.segment.1"\n  colour      = "blue"\n', 1), "colour"),
    # a template other than {{tenant}}, named in the error
    "bad template": (
        g.STANDARD_ROUTES.replace('path       = "secret/data/tenant/{{tenant}}/shopify"', 'path       = "secret/data/tenant/{{identity.entity.id}}/shopify"', 1),
        "{{identity.entity.id}}",
    ),
    # a route without path_prefix, named in the error
    "no path_prefix": (g.STANDARD_ROUTES.replace('  path_prefix = "/t/"\n', "", 1), "path_prefix"),
}

# A mainkey feature: MAINKEY_TEST_TARGET=openbao has nothing to compare it with.
pytestmark = pytest.mark.mainkey_only


assert "shop2" in MOVED and all(text != g.STANDARD_ROUTES for text, _ in BROKEN.values())


@pytest.fixture
def env(servers):
    e = g.start_env(servers, proxy_listener=True)
    try:
        yield e
    finally:
        g.close_env(e)


def wait_for(cond, timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def old_routes_serve(env: g.GatewayEnv) -> None:
    assert env.srv.running, f"mainkey exited:\n{env.srv.output()[-3000:]}"
    r = env.forward_auth("/t/acme/orders", token=env.acme.token)
    assert r.status_code == 200 and r.headers["X-Mainkey-Route"] == "shop", (r.status_code, dict(r.headers))
    m = g.rid()
    r = g.ProxyMode(env.gw_port).get(f"/t/acme/orders?rid={m}", token=env.acme.token)
    assert r.status_code == 200
    g.assert_identity(g.upstream_saw(env, m), env, env.acme)
    assert env.api.get("sys/health", token=None).status_code == 200


def test_sighup_with_new_routes_takes_effect(env):
    old_routes_serve(env)
    env.write_routes(MOVED)
    env.sighup()
    wait_for(
        lambda: env.forward_auth("/shop/acme/orders", token=env.acme.token).headers.get("X-Mainkey-Route") == "shop2",
        what="the reloaded route shop2",
    )
    r = env.forward_auth("/shop/acme/orders", token=env.acme.token)
    assert r.status_code == 200 and r.headers[g.INJECTED] == env.acme.credential
    assert env.forward_auth("/t/acme/orders", token=env.acme.token).status_code == 403, "the old route is gone"
    m = g.rid()
    r = g.ProxyMode(env.gw_port).get(f"/shop/acme/orders?rid={m}", token=env.acme.token)
    assert r.status_code == 200, r.status_code
    g.assert_identity(g.upstream_saw(env, m), env, env.acme, route="shop2")
    # And back.
    env.write_routes(g.STANDARD_ROUTES)
    env.sighup()
    wait_for(lambda: env.forward_auth("/t/acme/orders", token=env.acme.token).status_code == 200, what="route shop back")
    old_routes_serve(env)


def test_sighup_with_a_broken_file_keeps_the_old_routes_and_names_the_key(env):
    old_routes_serve(env)
    for name, (routes, key) in BROKEN.items():
        before = len(env.srv.output())
        env.write_routes(routes)
        env.sighup()
        wait_for(lambda key=key, before=before: key in env.srv.output()[before:], what=f"{name}: an error naming {key!r} in the log")
        old_routes_serve(env)
    # A file that does not even parse.
    before = len(env.srv.output())
    env.write_routes("", raw='route "shop" {\n  path_prefix = "/t/"\n')
    env.sighup()
    wait_for(lambda: len(env.srv.output()) > before, what="a log line about the unparsable file")
    time.sleep(0.3)
    old_routes_serve(env)
    # After all that, a good file still reloads.
    env.write_routes(MOVED)
    env.sighup()
    wait_for(lambda: env.forward_auth("/shop/acme/orders", token=env.acme.token).status_code == 200, what="reload after failures")
    # No secret ended up in the log on the way.
    log = env.srv.output()
    for t in env.tenants.values():
        assert t.credential not in log and t.token not in log
