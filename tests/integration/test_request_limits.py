"""Request limits against denial of service (issue 8, section 4), through the real binary.

- odd request heads get an answer (414, 431, 400), as OpenBao answers where it has one;
- a head trickled in one line at a time is cut off at `http_read_header_timeout`;
- hostile JSON bodies are refused while they are read, and memory stays near idle;
- concurrent unauthenticated password logins keep memory flat, and a known and an unknown
  user take the same time.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import TARGET

HOSTILE_BODY = 30 * 1024 * 1024


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class RssSampler:
    """The peak RSS of a process while the block runs."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.peak = rss_kb(self.pid)
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def raw_exchange(port: int, payload: bytes, timeout: float = 15) -> bytes:
    """Sends `payload` while reading; returns everything the server sent before closing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = bytearray()

    def send():
        try:
            sock.sendall(payload)
        except OSError:
            pass

    t = threading.Thread(target=send, daemon=True)
    t.start()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    finally:
        sock.close()
    t.join(timeout=5)
    return bytes(out)


def status_of(reply: bytes) -> int | None:
    if not reply.startswith(b"HTTP/1."):
        return None
    return int(reply.split(b" ", 2)[1])


HEAD_CASES = {
    "big headers": b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
    + b"b" * (2 * 1024 * 1024)
    + b"\r\n\r\n",
    "control character in the token": b"GET /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    b"X-Vault-Token: \x1b\r\n\r\n",
}


def test_odd_request_heads_get_the_answer_openbao_gives(servers):
    srv = servers.target()
    bao = servers.openbao_dev()
    for name, payload in HEAD_CASES.items():
        mine = raw_exchange(srv.port, payload)
        theirs = raw_exchange(bao.port, payload)
        assert status_of(mine) is not None, f"{name}: connection dropped without an answer"
        assert status_of(mine) == status_of(theirs), f"{name}: {mine[:200]!r} vs {theirs[:200]!r}"
    mine = raw_exchange(srv.port, HEAD_CASES["control character in the token"])
    assert b"invalid header value" in mine
    # The server is still up and serving.
    assert srv.api.get("sys/health").status_code in (200, 501, 503)


@pytest.mark.mainkey_only
def test_a_70kb_request_line_is_414_and_too_many_headers_431(servers):
    # OpenBao (Go) takes a 70 kB target and more than 256 headers; mainkey's HTTP stack cannot
    # hold either, and answers instead of dropping the connection.
    srv = servers.target()
    reply = raw_exchange(srv.port, b"GET /v1/" + b"a" * (70 * 1024) + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(reply) == 414, reply[:200]
    assert reply.endswith(b'{"errors":["request URI too long"]}')
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(300))
    reply = raw_exchange(srv.port, b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + many + b"\r\n")
    assert status_of(reply) == 431, reply[:200]


def trickle_head(port: int, every: float, lines: int) -> tuple[float, bool]:
    """Sends a head one header line every `every` seconds; returns when the server closed
    (seconds since connecting) and whether it ever answered."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    start = time.monotonic()
    answered = False
    try:
        sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")
        for i in range(lines):
            time.sleep(every)
            try:
                sock.sendall(b"X-%d: v\r\n" % i)
            except OSError:
                break
            sock.setblocking(False)
            try:
                data = sock.recv(1)
                if data == b"":
                    break
                answered = True
                break
            except BlockingIOError:
                pass
            except OSError:
                break
            finally:
                sock.setblocking(True)
    finally:
        sock.close()
    return time.monotonic() - start, answered


def test_a_trickled_head_is_cut_off_at_http_read_header_timeout(servers):
    srv = servers.target(listener_extra='  http_read_header_timeout = "2s"')
    took, answered = trickle_head(srv.port, every=0.5, lines=30)
    assert not answered
    assert took < 4.5, f"a head trickled for {took:.1f}s was still being read"


def test_the_default_header_deadline_is_vaults_10s(servers):
    srv = servers.target()
    took, answered = trickle_head(srv.port, every=2, lines=15)
    assert not answered
    assert 9 <= took < 14, f"closed after {took:.1f}s"


@pytest.mark.mainkey_only
def test_the_connection_cap_and_the_idle_timeout(servers):
    srv = servers.target(listener_extra="  max_connections = 3\n  http_idle_timeout = 1")
    held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]
    time.sleep(0.3)
    # Over the cap: closed with nothing sent.
    reply = raw_exchange(srv.port, b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
    assert reply == b""
    for s in held:
        s.close()
    # A kept-alive connection with nothing more to say is closed after the idle timeout.
    deadline = time.monotonic() + 15
    while True:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
            first = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            # Still over the cap (the server has not yet seen the held ones close): the
            # refused connection may be reset rather than closed cleanly.
            first = b""
        if first.startswith(b"HTTP/1.1"):
            break
        sock.close()
        assert time.monotonic() < deadline, "the cap was never released"
        time.sleep(0.2)
    start = time.monotonic()
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass
    sock.close()
    assert time.monotonic() - start < 5


def hostile_array(port: int, token: str | None) -> bytes:
    head = b"POST /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
    if token:
        head += b"X-Vault-Token: " + token.encode() + b"\r\n"
    head += b"Content-Length: %d\r\n\r\n" % HOSTILE_BODY
    body = b"[" + b"1," * ((HOSTILE_BODY - 2) // 2) + b"1]"
    body = body[:HOSTILE_BODY].ljust(HOSTILE_BODY, b" ")
    return raw_exchange(port, head + body, timeout=60)


@pytest.mark.parametrize("with_token", [False, True], ids=["no token", "root token"])
def test_concurrent_hostile_json_bodies_leave_rss_near_idle(servers, with_token):
    srv = servers.target()
    srv.init_unseal()
    srv.api.enable_kv("secret", 2)
    bao = servers.openbao_dev()
    token = srv.root_token if with_token else None

    theirs = hostile_array(bao.port, "root" if with_token else None)
    idle = rss_kb(srv.proc.pid)
    with RssSampler(srv.proc.pid) as rss, ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: hostile_array(srv.port, token), range(4)))
    assert status_of(theirs) == 400 and b"high complexity" in theirs, theirs[:300]
    for reply in replies:
        if with_token:
            assert status_of(reply) == 400 and b"high complexity" in reply, reply[:300]
        else:
            # OpenBao parses the body first; mainkey refuses from the head, unread.
            assert status_of(reply) == 403 and b"permission denied" in reply, reply[:300]
    grew_mb = (rss.peak - idle) / 1024
    print(f"hostile bodies: idle {idle // 1024} MB, peak +{grew_mb:.1f} MB")
    assert grew_mb < 40, f"RSS grew by {grew_mb:.0f} MB (idle {idle // 1024} MB)"


def test_concurrent_logins_keep_memory_flat_and_timing_equal(servers):
    srv = servers.target()
    srv.init_unseal()
    api = srv.api
    assert api.post("sys/auth/userpass", {"type": "userpass"}).status_code in (200, 204)
    assert api.post("auth/userpass/users/alice", {"password": "right", "policies": "default"}).status_code in (200, 204)
    anon = type(api)(api.url)
    # Warm up: one of each, so both the dummy hash and the pool exist.
    anon.post("auth/userpass/login/alice", {"password": "nope"}, token=None)
    anon.post("auth/userpass/login/nobody", {"password": "nope"}, token=None)
    time.sleep(0.5)
    idle = rss_kb(srv.proc.pid)

    def login(i: int) -> int:
        c = type(api)(api.url)
        return c.post(f"auth/userpass/login/ghost{i}", {"password": "x"}, token=None, timeout=60).status_code

    with RssSampler(srv.proc.pid) as rss, ThreadPoolExecutor(64) as pool:
        codes = list(pool.map(login, range(64)))
    assert set(codes) <= {400, 429}, codes
    assert 400 in codes
    grew_mb = (rss.peak - idle) / 1024
    print(f"logins: idle {idle // 1024} MB, peak +{grew_mb:.1f} MB, codes {sorted(set(codes))}")
    assert grew_mb < 100, f"RSS grew by {grew_mb:.0f} MB during 64 concurrent logins"
    time.sleep(0.5)
    after_mb = (rss_kb(srv.proc.pid) - idle) / 1024
    assert after_mb < 100, f"RSS stayed {after_mb:.0f} MB above idle"

    # The right password still works, and a known and an unknown user cost the same.
    r = anon.post("auth/userpass/login/alice", {"password": "right"}, token=None)
    assert r.status_code == 200, r.text

    def timed(name: str) -> float:
        start = time.perf_counter()
        r = anon.post(f"auth/userpass/login/{name}", {"password": "wrong"}, token=None)
        assert r.status_code == 400, r.text
        return time.perf_counter() - start

    known, unknown = [], []
    for _ in range(12):
        known.append(timed("alice"))
        unknown.append(timed("mallory"))
    k, u = statistics.median(known), statistics.median(unknown)
    print(f"timing: known {k * 1000:.1f} ms, unknown {u * 1000:.1f} ms")
    assert abs(k - u) / max(k, u) < 0.25, f"known {k * 1000:.1f} ms, unknown {u * 1000:.1f} ms"


@pytest.mark.skipif(TARGET == "openbao", reason="mainkey listener keys")
def test_json_limits_are_per_listener_options(servers):
    srv = servers.target(listener_extra="  max_json_array_element_count = 3")
    srv.init_unseal()
    srv.api.enable_kv("secret", 2)
    ok = srv.api.post("secret/data/a", {"data": {"list": [1, 2, 3]}})
    assert ok.status_code == 200, ok.text
    refused = srv.api.post("secret/data/a", {"data": {"list": [1, 2, 3, 4]}})
    assert refused.status_code == 400
    assert "high complexity" in refused.json()["errors"][0]


def test_five_wrong_passwords_lock_the_user_as_in_openbao(servers):
    srv = servers.target()
    srv.init_unseal()
    bao = servers.openbao_dev()
    answers = []
    for s in (srv, bao):
        api = s.api
        assert api.post("sys/auth/userpass", {"type": "userpass"}).status_code in (200, 204)
        assert api.post("auth/userpass/users/alice", {"password": "right"}).status_code in (200, 204)
        anon = type(api)(api.url)
        wrong = [anon.post("auth/userpass/login/alice", {"password": "wrong"}, token=None) for _ in range(5)]
        assert all(r.status_code == 400 for r in wrong), [r.text for r in wrong]
        locked = anon.post("auth/userpass/login/alice", {"password": "right"}, token=None)
        answers.append((wrong[-1], locked))
    (mine_wrong, mine_locked), (_, bao_locked) = answers
    # Both refuse the right password once locked.
    assert bao_locked.status_code == 403
    if TARGET == "mainkey":
        # Stricter than OpenBao, whose 403 tells a locked (so existing) user from a wrong
        # password: mainkey answers exactly as for a wrong password.
        assert (mine_locked.status_code, mine_locked.json()) == (mine_wrong.status_code, mine_wrong.json())
    else:
        assert mine_locked.status_code == 403


@pytest.mark.mainkey_only
def test_sequential_logins_leave_one_hash_buffer_per_hashing_thread(servers):
    # The issue measured 124 MB after 30 ordinary logins. Each hashing thread keeps one
    # 19 MiB argon2 buffer; nothing else may stay behind.
    import os

    srv = servers.target()
    srv.init_unseal()
    api = srv.api
    api.post("sys/auth/userpass", {"type": "userpass"})
    idle = rss_kb(srv.proc.pid)
    api.post("auth/userpass/users/alice", {"password": "right"})
    anon = type(api)(api.url)
    for _ in range(30):
        assert anon.post("auth/userpass/login/alice", {"password": "right"}, token=None).status_code == 200
    threads = min(max((os.cpu_count() or 1) // 2, 1), 4)
    grew_mb = (rss_kb(srv.proc.pid) - idle) / 1024
    print(f"30 logins: +{grew_mb:.1f} MB with {threads} hashing thread(s)")
    assert grew_mb < 20 * threads + 15, f"RSS grew {grew_mb:.0f} MB"


def answer_before_body(port: int, path: str, token: str | None, declared: int) -> tuple[int | None, float]:
    """Sends a head declaring a `declared`-byte JSON body and only its first bytes, then waits
    for the answer: the status, and how long it took. A server that reads the body first
    never answers (the client never sends the rest)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST /v1/{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if token:
        head += f"X-Vault-Token: {token}\r\n"
    head += f"Content-Length: {declared}\r\n\r\n"
    t0 = time.monotonic()
    try:
        sock.sendall(head.encode() + b'{"data": {"k": "')
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    except socket.timeout:
        reply = b""
    finally:
        sock.close()
    return status_of(reply), time.monotonic() - t0


@pytest.mark.mainkey_only
def test_a_body_without_a_live_token_is_never_read(servers):
    """A request to an authenticated path without a token, or with an unknown one, is refused
    from its head: the 20 MiB body it declares is never waited for. A live token's request is
    waited for, and a login path is read without a token."""
    srv = servers.target(max_request_size=64 * 1024 * 1024)
    srv.init_unseal()
    srv.api.enable_kv("secret", 2)
    r = srv.api.post("sys/auth/userpass", {"type": "userpass"})
    assert r.status_code in (200, 204), r.text
    size = 20 * 1024 * 1024
    for token in (None, "s.unknown"):
        status, took = answer_before_body(srv.port, "secret/data/x", token, size)
        assert status == 403 and took < 5, (token, status, took)
    # With a live token, and on a login path, the server waits for the body.
    for path, token in (("secret/data/x", srv.root_token), ("auth/userpass/login/u", None)):
        status, took = answer_before_body(srv.port, path, token, size)
        assert status is None and took >= 9, (path, status, took)
