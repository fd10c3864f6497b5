"""The server with a real uvicorn on a free loopback port and real WebSocket clients."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import synth
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import netlab
from netlab.server import ServerThread

N = 600  # frames in the replay_file fixture (tests/conftest.py)


def _settings(**kw):
    return netlab.Settings.load(env_file=None, detectors="", **kw)


def _server(path, **kw) -> ServerThread:
    settings = _settings(**kw)
    cap = netlab.Capture(path, speed=1.0, settings=settings)
    return ServerThread(cap, settings)


def _poll(get, done, timeout: float = 60.0):
    """`get()` until `done(value)`, for at most `timeout` seconds; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _collect(
    url: str, want: int, timeout: float = 60.0, **connect_kw
) -> tuple[list[int], list[str]]:
    numbers: list[int] = []
    kinds: list[str] = []
    with connect(url, **connect_kw) as ws:
        deadline = time.monotonic() + timeout
        while (not numbers or numbers[-1] < want) and time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
            kinds.append(message["type"])
            if message["type"] == "packets":
                numbers += [r["number"] for r in message["rows"]]
    return numbers, kinds


def test_rest_endpoints(replay_file):
    with _server(replay_file) as srv:
        r = httpx.get(f"{srv.url}/health")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        _poll(lambda: httpx.get(f"{srv.url}/stats").json(), lambda st: st["decoded"] >= 20)
        packets = httpx.get(f"{srv.url}/packets", params={"limit": 5}).json()
        assert len(packets["rows"]) == 5 and packets["rows"][0]["proto"] == "UDP"
        since = httpx.get(f"{srv.url}/packets", params={"since": 10, "limit": 3}).json()
        assert [r["number"] for r in since["rows"]] == [11, 12, 13]
        stats = httpx.get(f"{srv.url}/stats").json()
        assert stats["decoded"] >= 5 and stats["source"].startswith("file")
        assert httpx.get(f"{srv.url}/alerts").json() == []
        assert httpx.get(f"{srv.url}/capture/settings").json()["bpf_filter"] == ""
        assert httpx.get(f"{srv.url}/interfaces").status_code in (200, 503)
        assert httpx.get(f"{srv.url}/docs").status_code == 200
        assert "paths" in httpx.get(f"{srv.url}/openapi.json").json()


def test_pcap_download_has_the_exact_packets(replay_file, tmp_path):
    from scapy.utils import PcapNgReader, PcapReader

    with _server(replay_file) as srv:
        _poll(lambda: httpx.get(f"{srv.url}/stats").json(), lambda st: st["decoded"] >= 30)
        r = httpx.get(f"{srv.url}/pcap", params={"since": 10, "limit": 20})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-pcapng"
    assert r.headers["x-netlab-frames"] == "20" and r.headers["x-netlab-missing"] == "0"
    (tmp_path / "got.pcapng").write_bytes(r.content)
    with PcapNgReader(str(tmp_path / "got.pcapng")) as got, PcapReader(str(replay_file)) as sent:
        originals = [bytes(p) for p in sent]
        assert [bytes(p) for p in got] == originals[10:30]  # frames 11..30, byte for byte


def test_twenty_clients_each_receive_every_row(replay_file):
    settings = _settings()
    cap = netlab.Capture(replay_file, speed=1.0, settings=settings)
    srv = ServerThread(cap, settings, start_capture=False)  # clients first, then the replay
    results: dict[int, list[int]] = {}
    connected = threading.Barrier(21)

    def client(k: int) -> None:
        with connect(srv.ws_url) as ws:
            ws.recv(timeout=5)  # settings: connected and registered
            connected.wait(10)
            got: list[int] = []
            deadline = time.monotonic() + 60
            while len(got) < N and time.monotonic() < deadline:
                try:
                    message = json.loads(ws.recv(timeout=1))
                except TimeoutError:
                    continue
                if message["type"] == "packets":
                    got += [r["number"] for r in message["rows"]]
            results[k] = got

    with srv:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
        for t in threads:
            t.start()
        connected.wait(10)
        cap.start()
        for t in threads:
            t.join(30)
    assert sorted(results) == list(range(20))
    for got in results.values():
        assert got == list(range(1, N + 1))  # every row, in order, once


@pytest.mark.parametrize("interval", [0.05, 0.25])
def test_message_kinds_and_batching(replay_file, interval):
    with _server(replay_file, server_ws_interval=interval) as srv:
        start = time.monotonic()
        numbers, kinds = _collect(srv.ws_url, N)
        elapsed = time.monotonic() - start
    assert kinds[:2] == ["settings", "stats"]
    assert numbers[-1] == N and numbers == list(range(numbers[0], N + 1))
    packet_messages = kinds.count("packets")
    # at most one per interval, however high the packet rate (500/s here, replay batches
    # every 10 ms), and rows do not wait much longer than the interval either
    assert packet_messages <= elapsed / interval + 2
    assert packet_messages >= 2  # not held back until the end (fewer only on a loaded machine)


@pytest.mark.slow
def test_slow_client_is_dropped_without_affecting_others(tmp_path):
    path = tmp_path / "fast.pcap"
    frames = [
        synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, bytes(1200))))
        for _ in range(40_000)
    ]
    synth.write_pcap(path, frames, step=0.0001)  # 4 s at 10,000 packets/s, ~50 MB of JSON
    with _server(path) as srv:
        with connect(srv.ws_url, max_size=None):  # never reads: its socket buffers fill up
            numbers, _ = _collect(srv.ws_url, 40_000, timeout=120, max_size=None)
            stats = httpx.get(f"{srv.url}/stats").json()
            # the slow one is disconnected once its queue overflows (sooner on a quiet machine)
            health = _poll(
                lambda: httpx.get(f"{srv.url}/health").json(), lambda h: h["clients"] == 1
            )
    # the reading client got every row from the moment it joined, in order
    assert numbers[-1] == 40_000 and numbers == list(range(numbers[0], 40_001))
    assert stats["dropped_netlab"] == 0 and stats["decoded"] == 40_000
    assert health["clients"] == 1  # the slow one was disconnected


def test_settings_change_and_invalid_settings(replay_file):
    with _server(replay_file) as srv:
        bad = httpx.post(f"{srv.url}/capture/settings", json={"bpf_filter": "udp and and"})
        assert bad.status_code == 422 and "syntax error" in bad.json()["detail"]
        assert httpx.get(f"{srv.url}/capture/settings").json()["bpf_filter"] == ""
        good = httpx.post(f"{srv.url}/capture/settings", json={"bpf_filter": "udp port 2001"})
        assert good.status_code == 200 and good.json()["bpf_filter"] == "udp port 2001"
        schema = httpx.post(f"{srv.url}/capture/settings", json={"bpf_filter": 5})
        assert schema.status_code == 422
        big = httpx.post(
            f"{srv.url}/capture/settings",
            content=b"x" * 100_000,
            headers={"content-type": "application/json"},
        )
        assert big.status_code == 413


def test_token_and_origin(replay_file):
    with _server(replay_file, server_token="s3cret") as srv:
        for path in ("/stats", "/packets", "/pcap", "/alerts", "/interfaces", "/capture/settings"):
            assert httpx.get(f"{srv.url}{path}").status_code == 401, path
        assert httpx.get(f"{srv.url}/pcap", params={"token": "s3cret"}).status_code == 200
        assert (
            httpx.get(f"{srv.url}/stats", headers={"Authorization": "Bearer s3cret"}).status_code
            == 200
        )
        assert httpx.get(f"{srv.url}/stats", params={"token": "s3cret"}).status_code == 200
        assert httpx.get(f"{srv.url}/stats", params={"token": "wrong"}).status_code == 401
        with pytest.raises(InvalidStatus) as refused:
            connect(srv.ws_url)
        assert refused.value.response.status_code == 403
        with connect(f"{srv.ws_url}?token=s3cret") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "settings"
        with pytest.raises(InvalidStatus):
            connect(f"{srv.ws_url}?token=s3cret", origin="http://evil.example")
        with connect(f"{srv.ws_url}?token=s3cret", origin="http://localhost:8866") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "settings"


def test_refuses_to_bind_beyond_loopback_without_a_token(replay_file):
    cap = netlab.Capture(replay_file, settings=_settings())
    with pytest.raises(netlab.SettingsError, match="NETLAB_SERVER_TOKEN"):
        ServerThread(cap, _settings(), host="0.0.0.0")


def test_explain_offline_through_the_server(replay_file):
    with _server(replay_file, ai_mode="offline") as srv:
        _poll(lambda: httpx.get(f"{srv.url}/stats").json(), lambda st: st["decoded"] >= 3)
        by_number = httpx.post(f"{srv.url}/ai/explain", json={"number": 3}).json()
        assert by_number["source"] == "offline" and "UDP" in by_number["text"]
        row = httpx.get(f"{srv.url}/packets", params={"limit": 1}).json()["rows"][0]
        by_row = httpx.post(f"{srv.url}/ai/explain", json={"packet": row})
        assert by_row.status_code == 200 and "10.0.0.1" in by_row.json()["text"]
        assert httpx.post(f"{srv.url}/ai/explain", json={}).status_code == 422
        assert httpx.post(f"{srv.url}/ai/explain", json={"number": 10**9}).status_code == 404


def test_remote_source_end_to_end_and_reconnect(replay_file):
    settings = _settings()
    srv_capture = netlab.Capture(replay_file, speed=1.0, loop=True, settings=settings)
    srv = ServerThread(srv_capture, settings, own_capture=False).start()
    try:
        remote = netlab.Capture(srv.ws_url, settings=settings)
        with remote:
            deadline = time.monotonic() + 60
            while len(remote.frame) < 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(remote.frame) >= 50
            snap = remote.frame.snapshot()
            assert (snap["src"] == "10.0.0.1").all() and snap["info"].str.contains("→").all()
            port = srv.port
            srv.stop()  # the server goes away ...
            time.sleep(0.5)
            before = len(remote.frame)
            srv = ServerThread(srv_capture, settings, port=port, own_capture=False).start()
            deadline = time.monotonic() + 60  # ... and comes back: the remote reconnects
            while len(remote.frame) <= before and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(remote.frame) > before and remote.source.reconnects >= 1
    finally:
        srv.stop()
        srv_capture.close()


def test_a_remote_capture_writes_its_rows_packets_fetched_from_the_server(replay_file, tmp_path):
    from scapy.utils import PcapNgReader, PcapReader

    with _server(replay_file) as srv:
        remote = netlab.Capture(srv.ws_url, settings=_settings())
        with remote:
            deadline = time.monotonic() + 60
            while len(remote.frame) < 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            snap = remote.frame.snapshot()
            picked = snap[snap["number"] % 7 == 0]  # rows that came as JSON, filtered
            out = tmp_path / "remote.pcapng"
            assert netlab.write_pcap(picked, out) == len(picked) >= 40  # bytes from /pcap
        first = int(snap["number"].iloc[0])
        r = httpx.get(f"{srv.url}/pcap", params={"first": first, "last": first + 99})
        assert r.headers["x-netlab-numbers"] == f"{first}-{first + 99}"
        assert httpx.get(f"{srv.url}/pcap", params={"first": 5}).status_code == 422
    with PcapReader(str(replay_file)) as sent:
        originals = [bytes(p) for p in sent]
    with PcapNgReader(str(out)) as written:
        assert [bytes(p) for p in written] == [originals[n - 1] for n in picked["number"]]


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors(replay_file, tmp_path):
    """Generated requests against /openapi.json: no 5xx, whatever the input."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    with _server(replay_file, ai_mode="offline") as srv:
        out = subprocess.run(
            [
                exe,
                "run",
                f"{srv.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--workers",
                "1",
                "--phases",
                "examples,fuzzing",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=tmp_path,
        )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_packets_rows_leave_missing_fields_out(replay_file):
    with _server(replay_file) as srv:
        _poll(lambda: httpx.get(f"{srv.url}/stats").json(), lambda st: st["decoded"] >= 5)
        rows = httpx.get(f"{srv.url}/packets", params={"limit": 5}).json()["rows"]
    assert rows and all(None not in row.values() for row in rows)
    assert all("vlan" not in row and row["proto"] == "UDP" for row in rows)  # no VLAN here


@pytest.mark.slow
def test_a_remote_capture_says_what_is_wrong_with_the_token(replay_file):
    settings = _settings(server_token="s3cret")
    looping = netlab.Capture(replay_file, speed=1.0, loop=True, settings=settings)
    with ServerThread(looping, settings) as srv:
        for token, says in (("", "requires a token"), ("wrong", "refused the token")):
            cap = netlab.Capture(srv.ws_url, settings=_settings(server_token=token))
            with pytest.raises(netlab.CaptureError, match=says):
                cap.start()
            cap.close()
        good = netlab.Capture(srv.ws_url, settings=_settings(server_token="s3cret"))
        with good:
            deadline = time.monotonic() + 60
            while len(good.frame) < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(good.frame) >= 5  # the token went as a header (never in the URL)
            assert good.source.url == srv.ws_url


def test_malformed_messages_from_a_server_are_skipped_not_fatal():
    from websockets.sync.server import serve

    row = {
        "number": 1,
        "ts": "2026-01-01T00:00:00.000000001Z",
        "length": 60,
        "caplen": 60,
        "linktype": 1,
        "src": "10.0.0.1",
        "dst": "10.0.0.2",
        "proto": "UDP",
        "info": "x",
    }
    script = [
        {"type": "settings", "interface": "x", "bpf_filter": ""},
        [1, 2],
        "not json at all",
        {"type": "packets", "rows": "nope"},
        {"type": "packets", "rows": [{**row, "number": "abc"}]},
        {"type": "stats", "dropped_kernel": "lots", "dropped_netlab": -3},
        {"type": "packets", "version": 1, "rows": [row]},
    ]
    done = threading.Event()

    def handler(ws) -> None:
        for message in script:
            ws.send(message if isinstance(message, str) else json.dumps(message))
        done.wait(30)

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, name="fake-netlab-server")
        thread.start()
        try:
            cap = netlab.Capture(f"ws://127.0.0.1:{port}/ws", settings=_settings())
            with cap:
                deadline = time.monotonic() + 60
                while len(cap.frame) < 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                stats = cap.stats  # a nonsense counter does not make stats raise
                assert len(cap.frame) == 1 and cap.frame.snapshot()["number"].tolist() == [1]
                assert stats.dropped_kernel == 0
                assert any("malformed" in p for p in stats.problems), stats.problems
        finally:
            done.set()
            server.shutdown()
            thread.join(10)


def test_original_times_keeps_a_replayed_files_timestamps(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "old.pcap"
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"x")))
    synth.write_pcap(path, [frame] * 2000, step=0.01)  # stamped 2023 by synth
    first = netlab.read_pcap(path)["ts"].iloc[0]
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netlab",
            "serve",
            "--source",
            str(path),
            "--port",
            str(port),
            "--original-times",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        rows = _poll(
            lambda: _get_rows(f"http://127.0.0.1:{port}/packets"), lambda r: bool(r), timeout=60
        )
        assert rows, proc.stderr.read() if proc.poll() is not None else "no rows"
        assert rows[0]["ts"].startswith(first.strftime("%Y-%m-%dT"))  # not today's date
    finally:
        proc.terminate()
        proc.wait(30)


def _get_rows(url: str) -> list:
    try:
        return httpx.get(url, params={"limit": 1}, timeout=5).json()["rows"]
    except (httpx.HTTPError, ValueError, KeyError):
        return []


def test_settings_switch_only_to_interfaces_or_the_capture_dir(replay_file, tmp_path):
    import os
    import threading as th

    secret = tmp_path / "private" / "secret.pcap"
    secret.parent.mkdir()
    secret.write_bytes(replay_file.read_bytes())
    fifo = tmp_path / "fifo.pcap"
    os.mkfifo(fifo)
    allowed = tmp_path / "captures"
    allowed.mkdir()
    (allowed / "ok.pcap").write_bytes(replay_file.read_bytes())
    before = set(th.enumerate())
    with _server(replay_file, server_capture_dir=str(allowed)) as srv:
        for bad in (
            str(secret),
            str(fifo),
            "ws://127.0.0.1:9/ws",
            "../private/secret.pcap",
            "nosuch0",
        ):
            r = httpx.post(f"{srv.url}/capture/settings", json={"interface": bad}, timeout=30)
            assert r.status_code == 422 and "unknown interface" in r.json()["detail"], bad
        assert not [t for t in th.enumerate() if t not in before and "remote" in t.name]
        ok = httpx.post(f"{srv.url}/capture/settings", json={"interface": "ok.pcap"}, timeout=30)
        assert ok.status_code == 200, ok.text
        assert "ok.pcap" in httpx.get(f"{srv.url}/capture/settings").json()["source"]


@pytest.mark.parametrize("bpf", ["\u0000", "udp\u0000 garbage (((", "udp \ud800"])
def test_a_filter_with_nul_or_a_lone_surrogate_is_refused(replay_file, bpf):
    with pytest.raises(netlab.FilterError):
        netlab.validate_bpf(bpf)
    with _server(replay_file) as srv:
        body = json.dumps({"bpf_filter": bpf}).encode()  # \ud800 as JSON's own escape
        r = httpx.post(
            f"{srv.url}/capture/settings",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, r.text
        assert httpx.get(f"{srv.url}/capture/settings").json()["bpf_filter"] == ""


def test_cors_allows_exactly_the_listed_origins_with_any_port(replay_file):
    with _server(replay_file, server_origins="http://127.0.0.1,https://dash.example.com") as srv:

        def allowed(origin: str) -> bool:
            r = httpx.get(f"{srv.url}/health", headers={"Origin": origin})
            return r.headers.get("access-control-allow-origin") == origin

        assert allowed("http://127.0.0.1:8866") and allowed("http://127.0.0.1")
        assert allowed("https://dash.example.com:8443")
        for origin in (
            "http://127x0x0x1",
            "https://dashxexample.com",
            "http://127.0.0.1.evil",
            "https://dash.example.com.evil.net",
            "http://dash.example.com",
        ):
            assert not allowed(origin), origin


def test_without_a_token_only_loopback_host_names_are_answered(replay_file):
    # DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1
    with _server(replay_file) as srv:
        assert httpx.get(f"{srv.url}/stats").status_code == 200
        assert httpx.get(f"{srv.url}/stats", headers={"Host": "localhost:1"}).status_code == 200
        rebound = httpx.get(f"{srv.url}/stats", headers={"Host": "evil.example:8765"})
        assert rebound.status_code == 421
        with pytest.raises(InvalidStatus):
            connect(srv.ws_url, additional_headers={"Host": "evil.example"})


def test_api_docs_need_the_token_too(replay_file):
    with _server(replay_file, server_token="s3cret") as srv:
        for path in ("/docs", "/openapi.json", "/redoc", "/nosuch"):
            assert httpx.get(f"{srv.url}{path}").status_code == 401, path
        page = httpx.get(f"{srv.url}/docs", params={"token": "s3cret"})
        assert page.status_code == 200 and "/openapi.json?token=s3cret" in page.text
        spec = httpx.get(f"{srv.url}/openapi.json", params={"token": "s3cret"})
        assert spec.status_code == 200 and "/packets" in spec.json()["paths"]


def test_a_binary_message_closes_with_unsupported_data_not_too_slow(replay_file):
    from websockets.exceptions import ConnectionClosed

    with _server(replay_file) as srv, connect(srv.ws_url) as ws:
        ws.recv(timeout=5)
        ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(1000):
                ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1003


def test_packet_fields_of_the_wrong_type_are_422(replay_file):
    with _server(replay_file, ai_mode="offline") as srv:
        r = httpx.post(f"{srv.url}/ai/explain", json={"packet": {"number": "x", "length": "y"}})
        assert r.status_code == 422, r.text


def _server_holds(server_port: int, client_port: int) -> bool:
    """Whether a process still owns the server's end of that TCP connection (inode != 0)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if (
                    int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                    and inode != "0"
                ):
                    return True
    return False


@pytest.mark.slow
def test_a_stalled_client_is_dropped_and_its_connection_cut(tmp_path):
    # A client whose TCP window is closed cannot take even the close frame: its socket stayed
    # open in the server until the client went (and held up the server's shutdown).
    import socket

    path = tmp_path / "fast.pcap"
    frames = [
        synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, bytes(1200))))
        for _ in range(4000)
    ]
    synth.write_pcap(path, frames, step=0.0001)  # looped: 10,000 packets/s for as long as needed
    settings = _settings()
    cap = netlab.Capture(netlab.FileSource(path, loop=True, retime=True), settings=settings)
    with ServerThread(cap, settings) as srv:
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", srv.port))
        try:
            stalled.sendall(
                b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            port = stalled.getsockname()[1]
            assert _poll(lambda: _server_holds(srv.port, port), bool, timeout=30)
            health = _poll(
                lambda: httpx.get(f"{srv.url}/health").json(),
                lambda h: h["clients"] == 0,
                timeout=120,
            )
            assert health["clients"] == 0  # dropped: it fell too far behind
            assert not _poll(lambda: _server_holds(srv.port, port), lambda held: not held)
        finally:
            stalled.close()


def test_flows_from_the_server_and_from_a_remote_capture_agree(tmp_path):
    # a capture with real TCP: the server's GET /flows are the flows of its packets, and a
    # remote capture's flows() of the rows it received are those the server finds in them
    from netlab.core.annotate import annotate

    path = netlab.demo_pcap("flows")
    total = len(netlab.read_pcap(path))
    settings = _settings(max_rows=20_000)
    served = netlab.Capture(path, speed=0.25, settings=settings)  # some 10 s of traffic
    srv = ServerThread(served, settings, own_capture=False).start()
    try:
        remote = netlab.Capture(srv.ws_url, settings=settings)
        with remote:
            _poll(lambda: served.frame.version, lambda v: v >= total)
            _poll(lambda: remote.frame.version, lambda v: v >= total - 100 and v > 1000)
            time.sleep(1.0)
            theirs = remote.flows.snapshot()
            received = remote.frame.snapshot()
        got = httpx.get(f"{srv.url}/flows", params={"limit": 100_000}).json()["flows"]
        newest = httpx.get(f"{srv.url}/flows", params={"limit": 5}).json()["flows"]
        expected = served.flows.snapshot()
        rows = served.frame.snapshot()
    finally:
        srv.stop()
        served.close()
    assert len(got) == len(expected) > 500
    for mine, row in zip(got, expected.itertuples(), strict=True):
        assert mine["flow"] == row.flow and mine["state"] == row.state, mine
        assert mine["community_id"] == row.community_id and mine["history"] == row.history
        assert mine["orig_bytes"] == row.orig_bytes and mine["resp_packets"] == row.resp_packets
    assert len(newest) == 5 and [r["flow"] for r in newest] == sorted(r["flow"] for r in newest)
    same = annotate(rows[rows["number"].isin(received["number"])].reset_index(drop=True))
    want = netlab.flows(same)
    assert len(theirs) == len(want) > 100
    for col in ("community_id", "history", "orig_bytes", "resp_payload", "retransmissions"):
        assert theirs[col].tolist() == want[col].tolist(), col


def test_ended_flows_reach_websocket_clients():
    # endings.pcap: a connection, then another from the same client port (a new ISN): the
    # first ends when the second's SYN comes, and clients get it as a flows message
    path = Path(__file__).resolve().parent.parent / "data" / "tcp_trouble" / "endings.pcap"
    settings = _settings()
    served = netlab.Capture(path, speed=1.0, loop=True, settings=settings)  # again and again
    with ServerThread(served, settings) as srv, connect(srv.ws_url) as ws:
        ended: list[dict] = []
        deadline = time.monotonic() + 60
        while not ended and time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
            if message["type"] == "flows":
                ended += message["flows"]
        stats = httpx.get(f"{srv.url}/stats").json()
    reused = [f for f in ended if f["sport"] == 40404]
    assert reused and all(f["state"] == "RSTO" and f["history"].startswith("ShA") for f in reused)
    assert reused[0]["community_id"] == netlab.community_id(
        6, "127.0.0.1", "127.0.0.1", 40404, 9004
    )
    assert stats["flows_ended"] >= 1 and stats["flows_evicted"] == 0
