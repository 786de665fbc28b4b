"""TLS from the config (rustls), reached with VAULT_CACERT and with VAULT_SKIP_VERIFY."""

from __future__ import annotations

import hvac
import requests

import rawhttp


def test_tls_listener_with_cacert_and_skip_verify(servers, tls_cert):
    cert, key = tls_cert
    srv = servers.target(tls=(cert, key))
    assert srv.url.startswith("https://")
    srv.init_unseal()
    srv.api.enable_kv("glassdome")
    assert srv.api.post("glassdome/data/proxmox_password", {"data": {"value": "pw"}}).status_code == 200

    for label, env in (
        ("VAULT_CACERT", {"VAULT_CACERT": cert}),
        ("VAULT_SKIP_VERIFY", {"VAULT_CACERT": None, "VAULT_SKIP_VERIFY": "true"}),
    ):
        for tool in (srv.bao, srv.cli):
            r = tool("status", env=env)
            assert r.returncode == 0, f"{tool.__name__} status with {label}: rc {r.returncode}\n{r.stdout}\n{r.stderr}"
        r = srv.bao("kv", "get", "-field=value", "glassdome/proxmox_password", env=env)
        assert (r.returncode, r.stdout.strip()) == (0, "pw"), f"bao kv get with {label}: {r.stderr}"

    # Neither: the certificate is not trusted, and both CLIs say so with exit 1 (an error, not "sealed").
    for tool in (srv.bao, srv.cli):
        r = tool("status", env={"VAULT_CACERT": None})
        assert r.returncode == 1, f"{tool.__name__} status trusting nothing: rc {r.returncode}\n{r.stdout}\n{r.stderr}"

    # While sealed the exit code is 2 over TLS too.
    assert srv.api.put("sys/seal").status_code == 204
    for tool in (srv.bao, srv.cli):
        r = tool("status", env={"VAULT_CACERT": cert})
        assert r.returncode == 2, f"{tool.__name__} status sealed over TLS: rc {r.returncode}\n{r.stderr}"
    srv.api.unseal(srv.keys[:1])

    # hvac with verify=False, as the glassdome seed runs it (self-signed, VAULT_SKIP_VERIFY).
    c = hvac.Client(url=srv.url, token=srv.root_token, verify=False)
    c.adapter.session.trust_env = False
    got = c.secrets.kv.v2.read_secret_version(path="proxmox_password", mount_point="glassdome", raise_on_deleted_version=True)
    assert got["data"]["data"] == {"value": "pw"}
    # and with the CA file.
    c = hvac.Client(url=srv.url, token=srv.root_token, verify=cert)
    c.adapter.session.trust_env = False
    assert c.secrets.kv.v2.list_secrets(path="", mount_point="glassdome")["data"]["keys"] == ["proxmox_password"]

    # Plain HTTP on the TLS port is not served as HTTP.
    try:
        r = rawhttp.request(srv.port, "GET", "/v1/sys/health", timeout=5)
        assert r.status == 400, f"plain HTTP on a TLS listener answered {r.status}"
    except (ConnectionError, OSError):
        pass
    # and the system trust store does not trust our self-signed certificate.
    s = requests.Session()
    s.trust_env = False
    try:
        s.get(f"{srv.url}/v1/sys/health", timeout=5)
        raise AssertionError("an untrusted certificate was accepted")
    except requests.exceptions.SSLError:
        pass
