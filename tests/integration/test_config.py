"""`mainkey server --config`: Vault's value forms are accepted; every bad value is an error
that names the file, the block and the key."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from conftest import clean_env, free_port, mainkey_bin


def _run_config(tmp_path, text: str, name: str = "bad.hcl") -> tuple[int, str, str]:
    cfg = tmp_path / name
    cfg.write_text(textwrap.dedent(text))
    (tmp_path / "home").mkdir(exist_ok=True)
    try:
        p = subprocess.run(
            [mainkey_bin(), "server", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=20,
            env=clean_env(tmp_path / "home"),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"mainkey kept running with a bad config:\n{cfg.read_text()}")
    return p.returncode, p.stdout + p.stderr, str(cfg)


def _redb(tmp_path) -> str:
    return json.dumps(str(tmp_path / "db.redb"))


BAD = {
    "tls_disable not a bool": ('listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = "maybe"\n}}', ["listener", "tls_disable"]),
    "max_request_size not a size": ('listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n max_request_size = "big"\n}}', ["listener", "max_request_size"]),
    "address not an address": ('listener "tcp" {{\n address = "not an address"\n tls_disable = true\n}}', ["listener", "address"]),
    "tls without a cert": ('listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = false\n}}', ["listener", "tls_cert_file"]),
    "listener type": ('listener "udp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}', ["listener", "udp"]),
    "listener unknown key value": ('listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = [1, 2]\n}}', ["listener", "tls_disable"]),
    "default_lease_ttl not a duration": ('listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}\ndefault_lease_ttl = "forever"', ["default_lease_ttl"]),
    "max_lease_ttl not a duration": ('listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}\nmax_lease_ttl = "12parsecs"', ["max_lease_ttl"]),
    "ui not a bool": ('listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}\nui = "perhaps"', ["ui"]),
    "disable_mlock not a bool": ('listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}\ndisable_mlock = "sometimes"', ["disable_mlock"]),
}


@pytest.mark.mainkey_only
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_value_names_file_block_and_key(tmp_path, case):
    body, must_name = BAD[case]
    text = f'storage "redb" {{\n path = {_redb(tmp_path)}\n}}\n' + body.format(port=free_port()) + "\n"
    rc, out, cfg = _run_config(tmp_path, text)
    assert rc != 0, f"{case}: exit 0 with a bad config"
    missing = [w for w in [cfg, *must_name] if w not in out]
    assert not missing, f"{case}: the error does not name {missing}:\n{out[-2000:]}"
    assert "panicked" not in out, f"{case}: a panic is not an error message:\n{out[-2000:]}"


@pytest.mark.mainkey_only
@pytest.mark.parametrize(
    "case,text,must_name",
    [
        ("storage without path", 'storage "redb" {{}}\nlistener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}', ["storage", "path"]),
        ("unknown storage", 'storage "nosuch" {{\n path = "/tmp/x"\n}}\nlistener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}', ["storage", "nosuch"]),
        ("no storage", 'listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}', ["storage"]),
        ("no listener", 'storage "redb" {{\n path = "{tmp}/db.redb"\n}}', ["listener"]),
        ("syntax error", 'storage "redb" {{\n path = "{tmp}/db.redb"\n}}\nlistener "tcp" {{\n address = \n', []),
        ("missing cert file", 'storage "redb" {{\n path = "{tmp}/db.redb"\n}}\nlistener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_cert_file = "/nonexistent/cert.pem"\n tls_key_file = "/nonexistent/key.pem"\n}}', ["listener", "tls_cert_file", "/nonexistent/cert.pem"]),
        # Not a bad value but an I/O failure at start: the storage path is what it must name.
        # A missing directory is created (0700), so the parent here is a file: the config.
        ("storage path under a file", 'storage "redb" {{\n path = "{tmp}/bad.hcl/db.redb"\n}}\nlistener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}', ["storage", "bad.hcl/db.redb"]),
    ],
)
def test_bad_structure_is_a_clear_error(tmp_path, case, text, must_name):
    rc, out, cfg = _run_config(tmp_path, text.format(port=free_port(), tmp=tmp_path) + "\n")
    assert rc != 0, f"{case}: exit 0"
    names_file = [] if case == "storage path under a file" else [cfg]
    missing = [w for w in [*names_file, *must_name] if w not in out]
    assert not missing, f"{case}: the error does not name {missing}:\n{out[-2000:]}"
    assert "panicked" not in out, f"{case}: panic:\n{out[-2000:]}"


@pytest.mark.mainkey_only
def test_bad_value_in_json_config(tmp_path):
    cfg = {
        "storage": {"redb": {"path": str(tmp_path / "db.redb")}},
        "listener": {"tcp": {"address": f"127.0.0.1:{free_port()}", "tls_disable": "maybe"}},
    }
    rc, out, path = _run_config(tmp_path, json.dumps(cfg), name="bad.json")
    assert rc != 0
    missing = [w for w in (path, "listener", "tls_disable") if w not in out]
    assert not missing, f"the error does not name {missing}:\n{out[-2000:]}"


@pytest.mark.parametrize("tls_disable", ["true", "1", '"true"', '"1"'])
def test_vault_bool_forms_turn_tls_off(servers, tls_disable):
    srv = servers.target(listener_extra="", start=False)
    text = srv.config_path.read_text().replace("tls_disable = true", f"tls_disable = {tls_disable}")
    srv.config_path.write_text(text)
    srv.start()
    assert srv.api.get("sys/health", token=None).status_code == 501


@pytest.mark.parametrize("tls_disable", ["false", "0", '"false"', '"0"'])
def test_vault_bool_forms_keep_tls_on(servers, tls_cert, tls_disable):
    srv = servers.target(tls=tls_cert, start=False)
    text = srv.config_path.read_text().replace("tls_disable = false", f"tls_disable = {tls_disable}")
    srv.config_path.write_text(text)
    srv.start()
    assert srv.api.get("sys/health", token=None).status_code == 501


@pytest.mark.parametrize(
    "default,max_,want_default,want_max",
    [
        ("3600", '"768h"', 3600, 768 * 3600),
        ('"30s"', '"1h"', 30, 3600),
        ('"2h"', "86400", 7200, 86400),
        ('"90m"', '"48h"', 5400, 48 * 3600),
    ],
)
def test_durations_and_accepted_keys(servers, default, max_, want_default, want_max):
    srv = servers.target(
        top_extra=f'default_lease_ttl = {default}\nmax_lease_ttl = {max_}\n'
        'api_addr = "http://127.0.0.1:8200"\nui = true\ndisable_mlock = true',
    )
    srv.init_unseal()
    srv.api.enable_kv("secret")
    r = srv.api.get("sys/mounts/secret/tune")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["default_lease_ttl"], data["max_lease_ttl"]) == (want_default, want_max), data


@pytest.mark.mainkey_only
def test_json_config_file(servers, tmp_path):
    srv = servers.target(start=False)
    port = srv.port
    cfg = tmp_path / "mainkey.json"
    cfg.write_text(
        json.dumps(
            {
                "storage": {"redb": {"path": str(srv.db_path)}},
                "listener": {"tcp": {"address": f"127.0.0.1:{port}", "tls_disable": True}},
                "default_lease_ttl": "1h",
                "disable_mlock": True,
            }
        )
    )
    srv.argv = [mainkey_bin(), "server", "--config", str(cfg)]
    srv.start()
    srv.init_unseal()
    assert srv.api.get("sys/health").status_code == 200


@pytest.mark.mainkey_only
def test_single_dash_config_flag(servers):
    srv = servers.target(config_flag="-config")
    assert any(a.startswith("-config=") for a in srv.argv)
    assert srv.api.get("sys/health", token=None).status_code == 501
