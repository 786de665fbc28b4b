"""`mainkey server -dev` with Vault's flags, in both spellings, as people paste them from Vault docs."""

from __future__ import annotations

import base64
import re
import socket
import time

import pytest

from conftest import free_port


def _printed(srv, label: str, timeout: float = 10) -> str:
    """The value printed after `label:` in the server's output (Vault prints `Root Token: ...`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(rf"^\s*{re.escape(label)}:\s*(\S+)\s*$", srv.output(), re.MULTILINE)
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError(f"`{label}: ...` not printed by the dev server:\n{srv.output()[-3000:]}")


def _check_dev_server(srv, token: str) -> None:
    api = srv.api
    api.token = token
    h = api.get("sys/health", token=None)
    assert h.status_code == 200, f"dev server must be initialised, unsealed, active: {h.status_code} {h.text}"
    st = api.seal_status()
    assert (st["initialized"], st["sealed"], st["t"], st["n"]) == (True, False, 1, 1), st
    ui = api.get("sys/internal/ui/mounts/secret")
    assert ui.status_code == 200, ui.text
    assert ui.json()["data"]["type"] == "kv" and ui.json()["data"]["options"]["version"] == "2", ui.text

    r = srv.bao("kv", "put", "secret/hello", "foo=world")
    assert r.returncode == 0, r.stderr
    r = srv.bao("kv", "get", "-field=foo", "secret/hello")
    assert (r.returncode, r.stdout.strip()) == (0, "world"), r.stderr
    assert srv.cli("status").returncode == 0

    # The printed unseal key unseals it again.
    key = _printed(srv, "Unseal Key")
    assert len(base64.b64decode(key)) >= 16, key
    assert api.put("sys/seal").status_code == 204
    assert srv.cli("status").returncode == 2
    api.unseal([key])
    r = api.get("secret/data/hello")
    assert r.status_code == 200 and r.json()["data"]["data"] == {"foo": "world"}, r.text


def test_dev_single_dash_flags(servers):
    port = free_port()
    srv = servers.mainkey(["server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"], port=port)
    assert _printed(srv, "Root Token") == "root"
    _check_dev_server(srv, "root")
    assert srv.api.get("secret/data/hello", token="not-root").status_code == 403


def test_dev_double_dash_flags(servers):
    port = free_port()
    srv = servers.mainkey(
        ["server", "--dev", "--dev-root-token-id", "my-token", "--dev-listen-address", f"127.0.0.1:{port}"], port=port
    )
    assert _printed(srv, "Root Token") == "my-token"
    _check_dev_server(srv, "my-token")


def test_dev_generated_root_token_looks_like_openbao(servers):
    port = free_port()
    srv = servers.mainkey(["server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"], port=port)
    token = _printed(srv, "Root Token")
    assert re.fullmatch(r"s\.[A-Za-z0-9]{24}", token), f"generated token {token!r} is not s. + 24 chars"
    _check_dev_server(srv, token)


def test_dev_keeps_nothing_across_restarts(servers):
    port = free_port()
    srv = servers.mainkey(["server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"], port=port)
    srv.api.token = "root"
    assert srv.api.post("secret/data/ephemeral", {"data": {"a": "b"}}).status_code == 200
    srv.restart()
    srv.api.wait_active()
    assert srv.api.get("secret/data/ephemeral").status_code == 404


def test_dev_default_listen_address_is_8200(servers):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 8200))
        except OSError:
            pytest.skip("127.0.0.1:8200 is in use on this machine")
    srv = servers.mainkey(["server", "-dev", "-dev-root-token-id=root"], port=8200)
    _check_dev_server(srv, "root")
