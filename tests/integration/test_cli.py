"""mainkey's own CLI: `operator init|unseal|seal|rotate` and `status`, honouring VAULT_ADDR/VAULT_TOKEN.

Output is checked where Vault's is stable (`Unseal Key N: ...`, `Initial Root Token: ...`);
exit codes everywhere: status is 0 unsealed, 2 sealed, 1 on error.
"""

from __future__ import annotations

import re
import time

from conftest import free_port


def test_operator_init_unseal_seal_rotate_and_status(servers):
    srv = servers.target()
    srv.api.token = None

    r = srv.cli("status")
    assert r.returncode == 2, f"status, uninitialised: rc {r.returncode}\n{r.stdout}{r.stderr}"

    r = srv.cli("operator", "init", "-key-shares=5", "-key-threshold=3")
    assert r.returncode == 0, r.stdout + r.stderr
    keys = re.findall(r"^Unseal Key (\d+): (\S+)$", r.stdout, re.MULTILINE)
    assert [n for n, _ in keys] == ["1", "2", "3", "4", "5"], r.stdout
    m = re.search(r"^Initial Root Token: (\S+)$", r.stdout, re.MULTILINE)
    assert m, r.stdout
    root = m.group(1)
    assert srv.api.seal_status()["t"] == 3

    r = srv.cli("operator", "init", "-key-shares=1", "-key-threshold=1")
    assert r.returncode != 0 and "already initialized" in (r.stdout + r.stderr), r.stdout + r.stderr

    r = srv.cli("status")
    assert r.returncode == 2, f"status, sealed: rc {r.returncode}"
    for i, (_, key) in enumerate(keys[1:4], start=1):
        r = srv.cli("operator", "unseal", key)
        assert r.returncode == 0, r.stdout + r.stderr
        if i < 3:
            assert srv.api.seal_status()["progress"] == i
    srv.api.wait_active()
    r = srv.cli("status")
    assert r.returncode == 0, f"status, unsealed: rc {r.returncode}\n{r.stdout}{r.stderr}"

    r = srv.cli("operator", "rotate", token=root)
    assert r.returncode == 0, r.stdout + r.stderr
    srv.api.token = root
    ks = srv.api.get("sys/key-status").json()
    assert ks.get("term", ks.get("data", {}).get("term")) == 2, ks

    r = srv.cli("operator", "seal", token=None)
    assert r.returncode != 0, "seal without a token must fail"
    assert srv.api.seal_status()["sealed"] is False
    r = srv.cli("operator", "seal", token=root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert srv.cli("status").returncode == 2
    assert srv.api.seal_status()["sealed"] is True

    r = srv.cli("operator", "unseal", "not-a-key")
    assert r.returncode != 0
    assert srv.api.seal_status()["progress"] == 0


def test_status_exit_1_when_unreachable(servers, tmp_path):
    srv = servers.target()
    port = free_port()  # nothing listens there
    r = srv.cli("status", env={"VAULT_ADDR": f"http://127.0.0.1:{port}"})
    assert r.returncode == 1, f"unreachable: rc {r.returncode}\n{r.stdout}{r.stderr}"
    assert srv.cli("status").returncode == 2


def test_an_https_address_at_a_plain_listener_says_what_to_set(servers):
    """The default address is https://; against a tls_disable listener the CLI names the fix
    and the server logs one short line, not the handshake's bytes."""
    srv = servers.target()
    https = srv.url.replace("http://", "https://")
    r = srv.cli("status", env={"VAULT_ADDR": https})
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"The server answered plain HTTP: set VAULT_ADDR={srv.url}" in r.stderr, r.stderr
    deadline = time.monotonic() + 5
    while "TLS handshake arrived at a plain-HTTP listener" not in srv.output():
        assert time.monotonic() < deadline, srv.output()[-2000:]
        time.sleep(0.05)
    log = srv.output()
    assert log.count("TLS handshake arrived") == 1, log[-2000:]
    assert "\\x16\\x03" not in log and "\\u{16}" not in log, log[-2000:]
    # Nothing listens there: no hint, only the error.
    r = srv.cli("status", env={"VAULT_ADDR": f"https://127.0.0.1:{free_port()}"})
    assert r.returncode == 1 and "answered plain HTTP" not in r.stderr, r.stderr
