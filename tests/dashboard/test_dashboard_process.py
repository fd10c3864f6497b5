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

from netlab.dashboard.voila import _descendants


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


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "*", "192.0.2.1"])
def test_the_dashboard_refuses_to_listen_beyond_loopback_without_a_token(host):
    env = {**os.environ, "NETLAB_DASHBOARD_TOKEN": ""}
    out = subprocess.run(
        [sys.executable, "-m", "netlab", "dashboard", "--host", host, "--check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2 and "without a token" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "*"])
def test_every_spelling_of_all_interfaces_counts_as_beyond_loopback(host):
    from netlab.core.addresses import is_loopback

    assert not is_loopback(host)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")


@pytest.mark.slow
def test_a_token_protects_the_page_and_kernels_are_bounded(tmp_path):
    from netlab.dashboard import voila as voila_app

    port = _free_port()
    env = {"NETLAB_AI_MODE": "offline", "NETLAB_SOURCE": ""}
    process = voila_app.start(None, port=port, env=env, token="s3cret-tok", max_kernels=1, cull=600)
    try:
        url = voila_app.wait_ready("127.0.0.1", port, process)
        assert "s3cret-tok" not in " ".join(open(f"/proc/{process.pid}/cmdline").read().split("\0"))
        refused = httpx.get(url, timeout=60)  # no token: the login page, no kernel
        assert refused.status_code in (401, 403) or "login" in refused.headers["location"]
        first = httpx.get(url, params={"token": "s3cret-tok"}, timeout=180)
        assert first.status_code == 200 and "netlab" in first.text
        second = httpx.get(url, params={"token": "s3cret-tok"}, timeout=180)
        assert second.status_code == 503  # one kernel at most: the next page waits its turn
    finally:
        voila_app.stop(process)
