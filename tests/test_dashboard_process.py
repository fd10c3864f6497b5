"""`netlab dashboard` as a process: it serves everything itself and stops everything it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from netlab.voila_app import _descendants


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_voila_and_every_kernel(signum, tmp_path):
    port = _free_port()
    env = {**os.environ, "NETLAB_AI_MODE": "offline", "NETLAB_SOURCE": ""}
    # its own process group, as a shell gives a foreground job: Ctrl-C goes to that group
    proc = subprocess.Popen(
        [sys.executable, "-m", "netlab", "dashboard", "--port", str(port), "--cull", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    below: list[int] = []
    try:
        line = proc.stdout.readline()  # "netlab dashboard: URL  (Ctrl-C to stop)"
        assert line.startswith("netlab dashboard: http://"), line + proc.stderr.read()
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=180)  # runs a kernel
        assert page.status_code == 200 and "netlab" in page.text
        assert "cdn.jsdelivr.net" not in page.text  # nothing fetched from the internet
        below = _descendants(proc.pid)
        assert len(below) >= 2, "expected Voilà and a kernel below netlab"
        os.killpg(proc.pid, signum)
        proc.wait(60)
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in below) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in below if _alive(p)], "Voilà or a kernel outlived netlab"
        assert proc.returncode == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/voila/static/voila.js", timeout=5)
    finally:
        for pid in [proc.pid, *below]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)
