"""Packet detail and streams through the server: GET /packets/{number}, and stream() of a
remote capture's rows (the bytes fetched from the server's /pcap). Real uvicorn."""

from __future__ import annotations

import time

import httpx

import netlab
from conftest import CORPUS
from netlab.server import ServerThread

HTTP = CORPUS / "dpkt__http.pcap"  # 43 frames, one HTTP download


def _settings():
    return netlab.Settings.load(env_file=None, detectors="")


def _wait(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_packet_detail_and_a_remote_stream_are_the_files():
    offline = netlab.read_pcap(HTTP)
    cap = netlab.Capture(HTTP, speed=None, settings=_settings())
    with ServerThread(cap, _settings(), start_capture=False) as srv:
        remote = netlab.Capture(srv.ws_url, settings=_settings())
        with remote:
            _wait(lambda: httpx.get(f"{srv.url}/health").json()["clients"] >= 1)
            cap.start()
            _wait(lambda: len(remote.frame) >= len(offline))
            snap = remote.frame.snapshot()
            assert len(snap) == len(offline)
            got = netlab.stream(snap, 0)  # rows that came as JSON; bytes from /pcap
        want = netlab.stream(offline, 0)
        assert (got.client, got.server) == (want.client, want.server) and len(want.server) > 18_000
        assert got.http()["method"].tolist() == ["GET", None] and got.http().status[1] == 200

        detail = httpx.get(f"{srv.url}/packets/4")
        assert detail.status_code == 200
        body = detail.json()
        assert body == netlab.dissect(offline.iloc[3]).to_dict()
        assert [layer["tshark"] for layer in body["layers"]] == ["eth", "ip", "tcp", "http"]
        missing = httpx.get(f"{srv.url}/packets/999")
        assert missing.status_code == 404 and "not in the capture" in missing.json()["detail"]
        assert httpx.get(f"{srv.url}/packets/x").status_code == 422
