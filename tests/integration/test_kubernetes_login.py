"""Kubernetes auth through the server (seed 003): login validates the pod's JWT with a
TokenReview against the configured API server — here a small fake one that answers as
Kubernetes does (201, `status.authenticated`)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="mainkey's Kubernetes method")

ACCOUNTS = {
    "good-jwt": ("payments", "api", "uid-123"),
    "other-ns-jwt": ("intruders", "api", "uid-666"),
}


class FakeApiServer(BaseHTTPRequestHandler):
    reviews: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeApiServer.reviews.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        account = ACCOUNTS.get(body["spec"]["token"])
        status = {"authenticated": False}
        if account and self.headers.get("Authorization") == "Bearer reviewer-jwt":
            ns, name, uid = account
            status = {"authenticated": True, "user": {"username": f"system:serviceaccount:{ns}:{name}", "uid": uid}}
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
    r = api.post("auth/kubernetes/config", {"kubernetes_host": f"http://127.0.0.1:{server.server_port}", "token_reviewer_jwt": "reviewer-jwt"})
    assert r.status_code in (200, 204), r.text
    role = {"bound_service_account_names": ["api"], "bound_service_account_namespaces": ["payments"], "token_policies": ["payments"]}
    assert api.post("auth/kubernetes/role/payments", role).status_code in (200, 204)
    yield ready_target
    server.shutdown()


def login(srv, jwt):
    return srv.api.post("auth/kubernetes/login", {"role": "payments", "jwt": jwt}, token=None)


def test_a_reviewed_service_account_logs_in(k8s):
    FakeApiServer.reviews.clear()
    r = login(k8s, "good-jwt")
    assert r.status_code == 200, r.text
    auth = r.json()["auth"]
    assert auth["policies"] == ["default", "payments"]
    assert auth["metadata"]["service_account_namespace"] == "payments" and auth["entity_id"]
    review = FakeApiServer.reviews[-1]
    assert review["path"] == "/apis/authentication.k8s.io/v1/tokenreviews"
    assert review["body"]["spec"]["token"] == "good-jwt" and review["auth"] == "Bearer reviewer-jwt"
    config = k8s.api.get("auth/kubernetes/config").json()["data"]
    assert "reviewer-jwt" not in json.dumps(config)


@pytest.mark.parametrize("jwt", ["other-ns-jwt", "unknown-jwt"])
def test_unreviewed_or_out_of_bounds_accounts_are_refused(k8s, jwt):
    r = login(k8s, jwt)
    assert r.status_code == 403, r.text
