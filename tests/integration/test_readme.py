"""The README's "Running a real server" section, run as written on a fresh directory.

Two liberties, both stated: `cargo install` is not run again (tests/run built the same
binary; it is put on the PATH as `mainkey`), and port 8200 is replaced by a free port so that
the test does not depend on 8200 being unused.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time

import pytest
import requests

from conftest import REPO, TARGET, clean_env, free_port, kill_group, mainkey_bin

pytestmark = pytest.mark.skipif(TARGET != "mainkey", reason="the README is mainkey's")


def section_blocks(title: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_running_a_real_server_works_as_written(tmp_path):
    start, client = section_blocks("Running a real server")[:2]
    commands = [line.split("  #", 1)[0].strip() for line in start.strip().splitlines()]
    assert commands[0] == "cargo install --locked --path .", commands
    assert commands[1] == "mainkey server -config=config/first-run.hcl", commands

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mainkey").symlink_to(mainkey_bin())
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    port = str(free_port())
    config = (REPO / "config" / "first-run.hcl").read_text()
    assert "127.0.0.1:8200" in config
    (work / "config" / "first-run.hcl").write_text(config.replace("8200", port))
    env = clean_env(tmp_path / "home", PATH=f"{bindir}:{os.environ['PATH']}")
    (tmp_path / "home").mkdir()

    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(
        commands[1].split(), cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                requests.get(f"http://127.0.0.1:{port}/v1/sys/health", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)

        script = client.replace("8200", port)
        r = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
        assert r.returncode == 0, f"{script}\n-- stdout:\n{r.stdout}\n-- stderr:\n{r.stderr}"
        # `kv get -field` prints the value bare when standard output is not a terminal
        assert r.stdout.endswith("\nworld"), r.stdout
        assert stat.S_IMODE(os.stat(work / "init.txt").st_mode) == 0o600
        assert stat.S_IMODE(os.stat(work / "mainkey-data").st_mode) == 0o700
        health = requests.get(f"http://127.0.0.1:{port}/v1/sys/health", timeout=5).json()
        assert health["initialized"] and not health["sealed"], health
    finally:
        kill_group(server)
        log.close()
