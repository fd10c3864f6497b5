"""Live capture on real interfaces: loopback and a veth pair in a network namespace.

Traffic goes only to 127.0.0.1 or to a namespace the test creates; every sender is bounded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

import netlab
from netlab import Capture


def _send_udp(port: int, count: int, host: str = "127.0.0.1", payload: bytes = b"netlab") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(count):
            s.sendto(payload + i.to_bytes(4, "big"), (host, port))


def _wait_for(cap: Capture, rows: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while cap.frame.version < rows and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.privileged
def test_exactly_n_datagrams_become_n_rows(free_udp_port):
    with Capture("lo", bpf=f"udp and dst port {free_udp_port}") as cap:
        _send_udp(free_udp_port, 500)
        _wait_for(cap, 500)
        time.sleep(0.3)  # anything extra would show up now
        stats = cap.stats
    df = cap.frame.snapshot()
    assert len(df) == 500
    assert (df["src"] == "127.0.0.1").all() and (df["dst"] == "127.0.0.1").all()
    assert (df["dport"] == free_udp_port).all() and (df["proto"] == "UDP").all()
    assert (df["paylen"] == 10).all() and (df["ttl"] == 64).all()
    assert df["ts"].is_monotonic_increasing
    assert stats.received == stats.decoded == 500
    assert stats.dropped_kernel == 0 and stats.arrived == 500


@pytest.mark.privileged
def test_filter_switch_keeps_rows_and_applies_the_new_filter(free_udp_port):
    other = free_udp_port + 1 if free_udp_port < 65000 else free_udp_port - 1
    with Capture("lo", bpf=f"udp and dst port {free_udp_port}") as cap:
        _send_udp(free_udp_port, 100)
        _wait_for(cap, 100)
        cap.restart(bpf=f"udp and dst port {other}")
        assert cap.stats.filter == f"udp and dst port {other}"
        _send_udp(free_udp_port, 50)  # no longer matches
        _send_udp(other, 70)
        _wait_for(cap, 170)
        time.sleep(0.3)
    df = cap.frame.snapshot()
    assert len(df) == 170
    assert (df["dport"].iloc[:100] == free_udp_port).all() and (
        df["dport"].iloc[100:] == other
    ).all()


@pytest.mark.privileged
def test_invalid_filter_keeps_the_old_capture_running(free_udp_port):
    with Capture("lo", bpf=f"udp and dst port {free_udp_port}") as cap:
        _send_udp(free_udp_port, 20)
        _wait_for(cap, 20)
        with pytest.raises(netlab.FilterError, match="99999") as err:
            cap.restart(bpf="udp port 99999")
        assert "illegal port number" in err.value.message
        with pytest.raises(netlab.InterfaceError, match="no interface named"):
            cap.restart(interface="netlab-does-not-exist0")
        assert cap.running and cap.stats.filter == f"udp and dst port {free_udp_port}"
        _send_udp(free_udp_port, 30)
        _wait_for(cap, 50)
    assert len(cap.frame) == 50


@pytest.mark.privileged
def test_unknown_interface_raises_interface_error():
    with pytest.raises(netlab.InterfaceError, match="netlab.interfaces"):
        Capture("netlab-nope0").start()


def test_without_capture_rights_the_error_says_the_fix():
    """Run for real without CAP_NET_RAW: as root by dropping it, as a user by being one."""
    code = (
        "import netlab\n"
        "try:\n    netlab.Capture('lo').start()\nexcept netlab.CapturePermissionError as e:\n"
        "    print('PERMISSION', e)\n"
    )
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("setpriv (util-linux) is needed to drop capabilities as root")
        cmd = [
            "setpriv",
            "--bounding-set=-net_raw,-net_admin",
            "--inh-caps=-net_raw,-net_admin",
            "--",
            *cmd,
        ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if "PERMISSION" not in out.stdout and netlab.capture_permission()[0] and os.geteuid() != 0:
        pytest.skip("this interpreter has file capabilities (setcap): rights cannot be dropped")
    assert "PERMISSION" in out.stdout, out.stdout + out.stderr
    assert "scripts/setcap.sh" in out.stdout and "netlab serve" in out.stdout


@pytest.fixture
def veth_namespace():
    """A namespace with one end of a veth pair (10.250.0.2); the other end (10.250.0.1) here."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("creating a network namespace needs root and iproute2")
    tag = uuid.uuid4().hex[:6]
    ns, here, there = f"netlab-{tag}", f"nlv{tag}a", f"nlv{tag}b"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    ip("netns", "add", ns)
    try:
        ip("link", "add", here, "type", "veth", "peer", "name", there, "netns", ns)
        ip("addr", "add", "10.250.0.1/30", "dev", here)
        ip("link", "set", here, "up")
        ip("-n", ns, "addr", "add", "10.250.0.2/30", "dev", there)
        ip("-n", ns, "link", "set", there, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        yield ns, here
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


@pytest.mark.privileged
def test_capture_real_ethernet_frames_on_a_veth_pair(veth_namespace, free_udp_port):
    ns, iface = veth_namespace
    sender = (
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for i in range(200): s.sendto(b'x' * 32, ('10.250.0.1', {free_udp_port}))\n"
    )
    with Capture(iface, bpf=f"udp and dst port {free_udp_port}") as cap:
        subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", sender], check=True, timeout=30
        )
        _wait_for(cap, 200)
        time.sleep(0.2)
        stats = cap.stats
    df = cap.frame.snapshot()
    assert len(df) == 200 and stats.dropped_kernel == 0
    assert (df["linktype"] == 1).all()  # Ethernet, not loopback
    assert (df["src"] == "10.250.0.2").all() and (df["dst"] == "10.250.0.1").all()
    assert (df["length"] == 14 + 20 + 8 + 32).all()
