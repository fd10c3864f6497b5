"""Display filters on the server: each WebSocket client gets only the rows its `?filter=`
matches (each distinct filter evaluated once per batch), and the REST row endpoints take
`filter` too. Real uvicorn, real WebSocket clients."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import quote

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import netlab
from netlab.display_filter import DisplayFilter
from netlab.server import ServerThread

N = 600  # frames in the replay_file fixture (tests/conftest.py)
FILTERS = ["udp.dstport == 2003", "udp.dstport == 2003", "udp.dstport in {2000..2001}", None]


def _server(path, start_capture: bool = True) -> tuple[ServerThread, netlab.Capture]:
    settings = netlab.Settings.load(env_file=None, detectors="")
    cap = netlab.Capture(path, speed=1.0, settings=settings)
    return ServerThread(cap, settings, start_capture=start_capture), cap


def _url(srv: ServerThread, expression: str | None) -> str:
    return srv.ws_url if expression is None else f"{srv.ws_url}?filter={quote(expression)}"


def _numbers_until(ws, last: int) -> list[int]:  # type: ignore[no-untyped-def]
    """The frame numbers of the rows a client gets, until frame `last` (or a minute)."""
    numbers: list[int] = []
    deadline = time.monotonic() + 60
    while (not numbers or numbers[-1] < last) and time.monotonic() < deadline:
        try:
            message = json.loads(ws.recv(timeout=1))
        except TimeoutError:
            continue
        if message["type"] == "packets":
            numbers += [r["number"] for r in message["rows"]]
    return numbers


def test_each_client_gets_the_rows_of_its_filter_each_filter_evaluated_once(
    replay_file, monkeypatch
):
    offline = netlab.read_pcap(replay_file)
    want = {
        e: (offline if e is None else netlab.filter(offline, e))["number"].tolist() for e in FILTERS
    }
    evaluated: list[tuple[int, int, str]] = []
    real_mask = DisplayFilter.mask

    def counting(self, frame):
        if len(frame):  # which batch (its first frame number and size), which filter
            evaluated.append((int(frame["number"].iloc[0]), len(frame), str(self)))
        return real_mask(self, frame)

    monkeypatch.setattr(DisplayFilter, "mask", counting)
    srv, cap = _server(replay_file, start_capture=False)
    got: dict[int, list[int]] = {}
    connected = threading.Barrier(len(FILTERS) + 1)

    def client(k: int) -> None:
        with connect(_url(srv, FILTERS[k])) as ws:
            ws.recv(timeout=5)  # settings: connected and registered
            connected.wait(10)
            got[k] = _numbers_until(ws, want[FILTERS[k]][-1])

    with srv:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(len(FILTERS))]
        for t in threads:
            t.start()
        connected.wait(10)
        cap.start()
        for t in threads:
            t.join(60)
    for k, expression in enumerate(FILTERS):
        assert got[k] == want[expression], expression  # its rows, in order, once each
    assert len(want["udp.dstport == 2003"]) < N / 5 < len(want[None])
    # the two clients of one filter share its evaluation: never twice on the same batch
    assert evaluated and len(set(evaluated)) == len(evaluated)


def test_an_invalid_filter_is_said_and_the_stream_closed(replay_file):
    srv, _ = _server(replay_file)
    with srv, connect(_url(srv, "udp.port == 99999")) as ws:
        message = json.loads(ws.recv(timeout=10))
        assert message["type"] == "error" and "too big for a 16-bit field" in message["detail"]
        assert "^" in message["detail"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_rest_rows_and_flows_take_a_filter(replay_file):
    offline = netlab.read_pcap(replay_file)
    srv, _ = _server(replay_file)
    with srv:
        deadline = time.monotonic() + 60
        while httpx.get(f"{srv.url}/stats").json()["decoded"] < N and time.monotonic() < deadline:
            time.sleep(0.1)
        expression = "udp.dstport == 2003 && frame.number > 100"
        want = netlab.filter(offline, expression)["number"].tolist()
        rows = httpx.get(f"{srv.url}/packets", params={"filter": expression, "limit": 5}).json()
        assert [r["number"] for r in rows["rows"]] == want[-5:]
        paged = httpx.get(
            f"{srv.url}/packets", params={"filter": expression, "since": 0, "limit": 3}
        ).json()
        assert [r["number"] for r in paged["rows"]] == want[:3]
        pcap = httpx.get(f"{srv.url}/pcap", params={"filter": expression, "limit": 10_000})
        assert pcap.status_code == 200 and int(pcap.headers["x-netlab-frames"]) == len(want)
        flows = httpx.get(f"{srv.url}/flows", params={"filter": "udp.port == 2003"}).json()
        assert [(f["sport"], f["dport"]) for f in flows["flows"]] == [(1000, 2003)]
        bad = httpx.get(f"{srv.url}/packets", params={"filter": "udp.prot == 1"})
        assert bad.status_code == 422 and "did you mean udp.port" in bad.json()["detail"]
        wrong = httpx.get(f"{srv.url}/flows", params={"filter": "frame.len > 1"})
        assert wrong.status_code == 422 and "not a field of a flow table" in wrong.json()["detail"]


def test_a_client_filter_matches_packets_inside_tunnels(tmp_path):
    # the server's capture keeps the bytes, so ?filter= sees inside VXLAN, GRE and ICMP errors
    import synth

    path = tmp_path / "tunnels.pcap"
    synth.write_pcap(path, synth.tunnelled_frames() * 50)
    expression = "ip.addr == 10.9.9.9 || udp.dstport == 53"
    want = netlab.filter(netlab.read_pcap(path), expression)["number"].tolist()
    assert len(want) == 150  # the VXLAN SYN, the ICMP error and the plain datagram, each time
    srv, cap = _server(path, start_capture=False)
    with srv, connect(_url(srv, expression)) as ws:
        ws.recv(timeout=5)  # settings: connected and registered
        cap.start()
        numbers = _numbers_until(ws, want[-1])
    assert numbers == want
