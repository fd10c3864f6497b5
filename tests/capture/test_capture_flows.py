"""Flows of live traffic: curl fetching from a local http.server, and UDP datagrams, on
loopback; checked against what tshark makes of the same packets."""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

import netlab
from netlab import Capture


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _until(check, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.privileged
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_live_flows_of_curl_and_udp(tmp_path, free_udp_port):
    (tmp_path / "blob").write_bytes(bytes(range(256)) * 200)  # 51,200 bytes
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        with Capture("lo", bpf=f"tcp port {port} or udp port {free_udp_port}") as cap:
            url = f"http://127.0.0.1:{port}/blob"
            subprocess.run(["curl", "-sS", "-o", "/dev/null", url], check=True, timeout=60)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i in range(20):
                    s.sendto(b"netlab%d" % i, ("127.0.0.1", free_udp_port))

            def done() -> bool:
                table = cap.flows.snapshot()
                states = dict(
                    zip(table["proto"].astype(str), table["state"].astype(str), strict=True)
                )
                udp = table[table["proto"] == "UDP"]
                return (
                    states.get("TCP") == "SF" and len(udp) == 1 and udp["orig_packets"].sum() == 20
                )

            assert _until(done), cap.flows.snapshot()
            table = cap.flows.snapshot()
            packets = cap.frame.snapshot()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    tcp = table[table["proto"] == "TCP"].iloc[0]
    assert len(table[table["proto"] == "TCP"]) == 1
    assert tcp["dport"] == port and tcp["src"] == "127.0.0.1"  # curl, who sent the SYN
    assert tcp["history"].startswith("ShAD") and tcp["service"] == "http"
    assert tcp["server_name"] == f"127.0.0.1:{port}" and tcp["rtt"] > 0
    assert tcp["resp_payload"] > 51_200 and tcp["retransmissions"] == 0
    udp = table[table["proto"] == "UDP"].iloc[0]
    assert udp["orig_packets"] == 20 and udp["resp_packets"] == 0 and udp["state"] == "S0"
    assert udp["dport"] == free_udp_port
    assert (packets["flow"].notna()).all()
    if shutil.which("tshark"):
        # the same packets, as tshark counts them per stream and direction
        path = tmp_path / "live.pcap"
        netlab.write_pcap(packets, path)
        out = subprocess.run(
            [
                "tshark",
                "-r",
                str(path),
                "-T",
                "fields",
                "-e",
                "tcp.stream",
                "-e",
                "udp.stream",
                "-e",
                "tcp.analysis.initial_rtt",
                "-E",
                "occurrence=f",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.splitlines()
        rows = pd.DataFrame([line.split("\t") for line in out], columns=["tcp", "udp", "rtt"])
        assert rows["tcp"].replace("", pd.NA).dropna().nunique() == 1
        assert (rows["udp"] != "").sum() == 20
        rtt = float(rows["rtt"].replace("", pd.NA).dropna().iloc[0])
        assert tcp["rtt"] == pytest.approx(rtt, abs=1e-6)
