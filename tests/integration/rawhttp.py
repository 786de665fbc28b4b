"""HTTP/1.1 over a plain socket, so that paths and bodies reach the server byte for byte.

requests and urllib normalise `..`, `//` and percent-encodings, or refuse control
characters; a test of the server's own path checks must not depend on that.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def _read_response(sock: socket.socket, head_only: bool = False) -> RawResponse:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response head: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if head_only or status in (204, 304) or 100 <= status < 200:
        return RawResponse(status, headers, b"")
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return RawResponse(status, headers, rest[:n])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            size_line, rest = rest.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2 :]
        return RawResponse(status, headers, body)
    # Neither: read until close.
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return RawResponse(status, headers, rest)


def request(
    port: int,
    method: str,
    target: bytes | str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    timeout: float = 30,
) -> RawResponse:
    """Send one request exactly as given (`target` is the raw request-target)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    h = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
    if token:
        h["X-Vault-Token"] = token
    if body is not None:
        if chunked:
            h["Transfer-Encoding"] = "chunked"
        else:
            h["Content-Length"] = str(len(body))
        h.setdefault("Content-Type", "application/json")
    h.update(headers or {})
    head = method.encode() + b" " + target + b" HTTP/1.1\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in h.items()) + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        payload = head
        if body is not None:
            if chunked:
                for i in range(0, len(body), 512):
                    part = body[i : i + 512]
                    payload += f"{len(part):x}\r\n".encode() + part + b"\r\n"
                payload += b"0\r\n\r\n"
            else:
                payload += body
        _send_while_reading(sock, payload)
        return _read_response(sock, head_only=(method == "HEAD"))


def _send_while_reading(sock: socket.socket, payload: bytes) -> None:
    """Send in a thread: a server may answer (413) and close before taking the whole body."""
    err: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(payload)
        except OSError as e:  # the server stopped reading: that is its right
            err.append(e)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    # Give small payloads the chance to go out whole before we read.
    t.join(timeout=0.05 if len(payload) > 1 << 20 else 5)


def oversized_request(port: int, path: str, token: str, size: int, timeout: float = 60) -> RawResponse:
    """POST `size` bytes of a valid JSON body, reading the answer while still sending."""
    prefix, suffix = b'{"data":{"v":"', b'"}}'
    fill = size - len(prefix) - len(suffix)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"X-Vault-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        result: list = []

        def reader() -> None:
            try:
                result.append(_read_response(sock))
            except BaseException as e:  # noqa: BLE001 - reported below
                result.append(e)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            sock.sendall(head + prefix)
            block = b"a" * (1 << 20)
            sent = 0
            while sent < fill and t.is_alive():
                n = min(len(block), fill - sent)
                sock.sendall(block[:n])
                sent += n
            if t.is_alive():
                sock.sendall(suffix)
        except OSError:
            pass  # the server closed after answering: read what it said
        t.join(timeout)
        assert result, "no answer to an oversized body"
        if isinstance(result[0], BaseException):
            raise AssertionError(f"no HTTP answer to an oversized body: {result[0]!r}")
        return result[0]
