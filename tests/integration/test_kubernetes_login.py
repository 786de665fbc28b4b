"""Kubernetes auth through the server (seed 003): login reads the pod's service-account JWT
(signature with `pem_keys`, issuer, audience, times, the account it names against the role's
bounds), then has it reviewed by the configured API server — here a small fake one that
answers TokenReview as Kubernetes does (201, `status.authenticated`) — and the reviewed
account must be the one the claims name. The expected texts are those of OpenBao's plugin
(internal/builtin/credential/kubernetes/path_login.go)."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import TARGET
from jwtsign import b64url, rsa_keypair, sign

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="mainkey's Kubernetes method")

K8S_ISS = "https://kubernetes.default.svc"


def sa_claims(ns: str = "payments", name: str = "api", uid: str = "uid-123", **over) -> dict:
    """A projected service-account token's claims, valid for an hour."""
    now = int(time.time())
    claims = {
        "aud": [K8S_ISS],
        "exp": now + 3600,
        "iat": now - 5,
        "nbf": now - 5,
        "iss": K8S_ISS,
        "sub": f"system:serviceaccount:{ns}:{name}",
        "kubernetes.io": {"namespace": ns, "pod": {"name": f"{name}-1", "uid": "pod-uid"}, "serviceaccount": {"name": name, "uid": uid}},
    }
    claims.update(over)
    return claims


def unsigned(claims: dict) -> str:
    """An RS256-shaped token whose signature no key made: without pem_keys it is only parsed."""
    head = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    return f"{head}.{b64url(json.dumps(claims).encode())}.c2ln"


def sa_jwt(*args, **over) -> str:
    return unsigned(sa_claims(*args, **over))


def _claims_of(token: str) -> dict | None:
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None


class FakeApiServer(BaseHTTPRequestHandler):
    """Vouches for a token's own service-account claims, unless its `test_review` claim says
    which account the API server really knows it as, or `test_verdict` is `forged`."""

    reviews: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeApiServer.reviews.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        claims = _claims_of(body["spec"]["token"]) or {}
        status = {"authenticated": False}
        k8s = claims.get("kubernetes.io", {})
        account = claims.get("test_review") or (k8s.get("namespace"), k8s.get("serviceaccount", {}).get("name"), k8s.get("serviceaccount", {}).get("uid"))
        if all(account) and claims.get("test_verdict") != "forged" and self.headers.get("Authorization") == "Bearer reviewer-jwt":
            ns, name, uid = account
            status = {"authenticated": True, "user": {"username": f"system:serviceaccount:{ns}:{name}", "uid": uid}, "audiences": body["spec"].get("audiences", [K8S_ISS])}
        out = json.dumps({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "status": status}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def k8s(ready_target):
    server = HTTPServer(("127.0.0.1", 0), FakeApiServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = ready_target.api
    assert api.post("sys/auth/kubernetes", {"type": "kubernetes"}).status_code == 204
    ready_target.k8s_host = f"http://127.0.0.1:{server.server_port}"
    configure(ready_target)
    role = {"bound_service_account_names": ["api"], "bound_service_account_namespaces": ["payments"], "token_policies": ["payments"]}
    assert api.post("auth/kubernetes/role/payments", role).status_code in (200, 204)
    yield ready_target
    server.shutdown()


def configure(srv, **extra):
    r = srv.api.post("auth/kubernetes/config", {"kubernetes_host": srv.k8s_host, "token_reviewer_jwt": "reviewer-jwt", **extra})
    assert r.status_code in (200, 204), r.text


def login(srv, jwt):
    return srv.api.post("auth/kubernetes/login", {"role": "payments", "jwt": jwt}, token=None)


def refused(r, text: str):
    assert r.status_code == 403, r.text
    assert r.json()["errors"] == [text], r.text


def test_a_reviewed_service_account_logs_in(k8s):
    FakeApiServer.reviews.clear()
    jwt = sa_jwt()
    r = login(k8s, jwt)
    assert r.status_code == 200, r.text
    auth = r.json()["auth"]
    assert auth["policies"] == ["default", "payments"]
    assert auth["metadata"]["service_account_namespace"] == "payments" and auth["entity_id"]
    review = FakeApiServer.reviews[-1]
    assert review["path"] == "/apis/authentication.k8s.io/v1/tokenreviews"
    assert review["body"]["spec"]["token"] == jwt and review["auth"] == "Bearer reviewer-jwt"
    config = k8s.api.get("auth/kubernetes/config").json()["data"]
    assert "reviewer-jwt" not in json.dumps(config)


def test_unreviewed_or_out_of_bounds_accounts_are_refused(k8s):
    FakeApiServer.reviews.clear()
    # The claims are outside the role's bounds: refused before any review.
    refused(login(k8s, sa_jwt("intruders", "api", "uid-666")), "namespace not authorized")
    refused(login(k8s, sa_jwt("payments", "web", "uid-7")), "service account name not authorized")
    assert FakeApiServer.reviews == []
    # The API server does not vouch for the token.
    refused(login(k8s, sa_jwt(test_verdict="forged")), "permission denied")
    refused(login(k8s, "unknown-jwt"), "permission denied")


def test_claims_naming_another_account_than_the_review_are_refused(k8s):
    # Without pem_keys anyone can write the claims: this token names payments/api, but the
    # API server knows it as another account.
    for review in (["intruders", "api", "uid-666"], ["payments", "web", "uid-7"], ["payments", "api", "uid-other"]):
        refused(login(k8s, sa_jwt(test_review=review)), "permission denied")
    assert login(k8s, sa_jwt(test_review=["payments", "api", "uid-123"])).status_code == 200


def test_issuer_is_checked_when_configured(k8s):
    evil = sa_jwt(iss="https://evil.example")
    # disable_iss_validation defaults to true: no check.
    configure(k8s, issuer=K8S_ISS)
    assert login(k8s, evil).status_code == 200
    configure(k8s, issuer=K8S_ISS, disable_iss_validation=False)
    refused(login(k8s, evil), "invalid issuer (iss) claim")
    assert login(k8s, sa_jwt()).status_code == 200


def test_pem_keys_verify_the_signature(k8s, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    key, pub = rsa_keypair(tmp_path / "a")
    other_key, _ = rsa_keypair(tmp_path / "b")
    configure(k8s, pem_keys=[pub])
    assert login(k8s, sign(key, sa_claims())).status_code == 200
    FakeApiServer.reviews.clear()
    for jwt in (sign(other_key, sa_claims()), sa_jwt(), sign(key, sa_claims(), header={"alg": "none"})):
        refused(login(k8s, jwt), "permission denied")
    assert FakeApiServer.reviews == [], "a bad signature is refused before any review"
    r = k8s.api.post("auth/kubernetes/config", {"kubernetes_host": k8s.k8s_host, "pem_keys": ["garbage"]})
    assert r.status_code == 400 and "pem_keys" in r.text, r.text


def test_expired_tokens_are_refused(k8s):
    refused(login(k8s, sa_jwt(exp=int(time.time()) - 600)), "invalid expiration time (exp) claim: token is expired")
