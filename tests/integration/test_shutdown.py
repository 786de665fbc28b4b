"""SIGTERM shuts down gracefully within 2 s, SIGINT at once; neither loses an acknowledged write."""

from __future__ import annotations

import signal
import time

import requests

import test_durability as dur


def _run_writers(srv, n: int = 3) -> list[dur.Writer]:
    writers = [dur.Writer(srv.url, srv.root_token, 0, w, w, strict=False) for w in range(n)]
    for w in writers:
        w.start()
    deadline = time.monotonic() + 5
    while sum(len(w.acked) for w in writers) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    return writers


def _stop_under_load(servers, sig: int, limit: float) -> None:
    srv = servers.target()
    srv.init_unseal()
    srv.api.enable_kv("secret")
    # An idle keep-alive connection must not hold the shutdown up either.
    idle = requests.Session()
    idle.trust_env = False
    assert idle.get(f"{srv.url}/v1/sys/health").status_code == 200

    writers = _run_writers(srv)
    srv.send(sig)
    rc, waited = srv.wait_exit(timeout=limit + 10)
    assert rc is not None, f"still running {limit + 10}s after {signal.Signals(sig).name}"
    assert waited <= limit, f"{signal.Signals(sig).name} took {waited:.2f}s to exit (limit {limit}s)"
    if sig == signal.SIGTERM:
        assert rc == 0, f"graceful shutdown exit code {rc}\n{srv.output()[-2000:]}"
    for w in writers:
        w.join(timeout=15)
        assert not w.is_alive(), "a writer hung after the server exited"
    acked = [a for w in writers for a in w.acked]
    assert acked, "no write was acknowledged"

    srv.start()
    srv.api.unseal(srv.keys[:1])
    dur.verify(srv.api, dur.latest_per_path(acked), f"after {signal.Signals(sig).name}")


def test_sigterm_exits_within_2s_and_keeps_acknowledged_writes(servers):
    _stop_under_load(servers, signal.SIGTERM, 2.0)


def test_sigint_exits_at_once_and_keeps_acknowledged_writes(servers):
    _stop_under_load(servers, signal.SIGINT, 1.0)


def test_sigterm_when_idle_and_when_sealed(servers):
    srv = servers.target()
    srv.send(signal.SIGTERM)  # uninitialised
    rc, waited = srv.wait_exit(5)
    assert rc == 0 and waited <= 2.0, f"uninitialised: rc {rc} after {waited:.2f}s"
    srv.start()
    srv.init_unseal()
    assert srv.api.put("sys/seal").status_code == 204
    srv.send(signal.SIGTERM)  # sealed
    rc, waited = srv.wait_exit(5)
    assert rc == 0 and waited <= 2.0, f"sealed: rc {rc} after {waited:.2f}s"
