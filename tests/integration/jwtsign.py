"""JWTs for the JWT auth tests, signed with openssl, so no JWT library is needed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
from pathlib import Path


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_keypair(d: Path) -> tuple[Path, str]:
    """A fresh RSA-2048 key in `d`: the private key's path and the public key's PEM."""
    key, pub = d / "key.pem", d / "pub.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    return key, pub.read_text()


def sign(key, claims: dict, header: dict | None = None, hs_secret: bytes | None = None) -> str:
    """`claims` signed as `header` says (default RS256 with `key`); `alg` `none` leaves the
    signature empty and `HS256` keys it with `hs_secret`."""
    header = header or {"alg": "RS256", "typ": "JWT"}
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    signing_input = f"{head}.{body}".encode()
    alg = header.get("alg")
    if alg == "none":
        return f"{head}.{body}."
    if alg == "HS256":
        return f"{head}.{body}.{b64url(hmac.new(hs_secret or b'', signing_input, hashlib.sha256).digest())}"
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=signing_input, check=True, capture_output=True).stdout
    return f"{head}.{body}.{b64url(sig)}"
