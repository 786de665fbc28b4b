"""SIGKILL during a write loop, many times: every acknowledged write survives.

A write is acknowledged when the client has read a 2xx answer. Writes in flight
at the kill may or may not be there afterwards; acknowledged ones must be, with
their exact value and version.

(kill -9 leaves the page cache alone, so this cannot prove fsync; the storage
layer's unit test that counts syncs does. This proves the write path never acks
before its commit and that the database reopens after an unclean stop.)
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import requests

ITERATIONS = int(os.environ.get("MAINKEY_DURABILITY_ITERATIONS", "20"))
WRITERS = 3
HOT_KEYS = 2  # per writer: keys overwritten again and again (new versions)


class Writer(threading.Thread):
    """Writes until the server dies; records each acknowledged write."""

    def __init__(self, url: str, token: str, iteration: int, wid: int, seed: int, strict: bool = True):
        super().__init__(daemon=True)
        # strict: a non-200 answer is a failure (else, e.g. a 503 while shutting down, just ends the loop)
        self.strict = strict
        self.url, self.token, self.iteration, self.wid = url, token, iteration, wid
        self.rng = random.Random(seed)
        self.acked: list[tuple[str, int, str]] = []  # (path, version, value)
        self.errors: list[str] = []

    def run(self) -> None:
        s = requests.Session()
        s.trust_env = False
        s.headers["X-Vault-Token"] = self.token
        n = 0
        while True:
            n += 1
            if n % 3 == 0:
                path = f"dur/hot-{self.wid}-{self.rng.randrange(HOT_KEYS)}"
            else:
                path = f"dur/i{self.iteration}/w{self.wid}/k{n}"
            value = f"{self.iteration}:{self.wid}:{n}:{self.rng.getrandbits(64):016x}"
            try:
                r = s.post(f"{self.url}/v1/secret/data/{path}", json={"data": {"v": value}}, timeout=10)
            except requests.RequestException:
                return  # the server is gone: this write is unacknowledged
            if r.status_code != 200:
                if not self.strict:
                    return
                self.errors.append(f"{path}: {r.status_code} {r.text[:200]}")
                return
            self.acked.append((path, r.json()["data"]["version"], value))


def latest_per_path(acked: list[tuple[str, int, str]]) -> dict[str, tuple[int, str]]:
    """The newest acknowledged version of each path (older ones may be pruned by max_versions)."""
    latest: dict[str, tuple[int, str]] = {}
    for path, version, value in acked:
        if path not in latest or version > latest[path][0]:
            latest[path] = (version, value)
    return latest


def verify(api, latest: dict[str, tuple[int, str]], where: str, check_metadata: bool = True) -> None:
    for path, (version, value) in latest.items():
        r = api.get(f"secret/data/{path}", params={"version": version})
        assert r.status_code == 200, f"{where}: acknowledged {path} v{version} lost: {r.status_code} {r.text}"
        assert r.json()["data"]["data"] == {"v": value}, f"{where}: {path} v{version} has the wrong value"
        if not check_metadata:
            continue
        # A write that was in flight at the kill may have landed on top; never fewer versions.
        meta = api.get(f"secret/metadata/{path}").json()["data"]
        assert meta["current_version"] >= version, f"{where}: {path} went back to v{meta['current_version']} < v{version}"


def test_sigkill_during_writes_keeps_every_acknowledged_write(servers):
    srv = servers.target()
    srv.init_unseal()
    srv.api.enable_kv("secret")
    rng = random.Random(1234)
    all_acked: list[tuple[str, int, str]] = []
    per_iteration = []
    t_start = time.monotonic()

    for it in range(ITERATIONS):
        writers = [Writer(srv.url, srv.root_token, it, w, rng.getrandbits(32)) for w in range(WRITERS)]
        for w in writers:
            w.start()
        # Let the loop run a little, then kill without warning, mid-write.
        deadline = time.monotonic() + 5
        while sum(len(w.acked) for w in writers) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.3))
        srv.send(signal.SIGKILL)
        srv.proc.wait(timeout=10)
        for w in writers:
            w.join(timeout=15)
            assert not w.is_alive(), "writer hung after SIGKILL"
            assert not w.errors, f"iteration {it}: write failed before the kill: {w.errors}"
        acked = [a for w in writers for a in w.acked]
        assert acked, f"iteration {it}: no write was acknowledged before the kill"
        per_iteration.append(len(acked))
        all_acked.extend(acked)

        srv.start()
        assert srv.api.seal_status()["sealed"] is True, "a restarted server must come up sealed"
        srv.api.unseal(srv.keys[:1])
        verify(srv.api, latest_per_path(acked), f"iteration {it}")
        # Earlier iterations too, by sample (all of them at the end).
        latest = latest_per_path(all_acked)
        sample = dict(rng.sample(sorted(latest.items()), min(200, len(latest))))
        verify(srv.api, sample, f"iteration {it} (earlier writes)")

    verify(srv.api, latest_per_path(all_acked), "final check", check_metadata=False)
    elapsed = time.monotonic() - t_start
    print(f"durability: {ITERATIONS} kills, {len(all_acked)} acknowledged writes {per_iteration}, {elapsed:.1f}s")
