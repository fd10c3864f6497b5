"""One lifecycle rule for every running object: start once (a second start returns at once),
close for good (idempotent), a start after close raises ClosedError, and a failed start leaves
no thread and no open source behind. The leaked-thread guard (conftest) checks the threads."""

from __future__ import annotations

import threading

import pytest

import netlab
from netlab.data import DEMO_PCAP


def _netlab_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("netlab")]


def test_a_capture_runs_once():
    cap = netlab.Capture(DEMO_PCAP, speed=None)
    assert cap.start() is cap and cap.start() is cap  # already running: returns at once
    cap.close()
    cap.close()  # idempotent
    with pytest.raises(netlab.ClosedError, match="capture is closed; create a new one"):
        cap.start()
    stopped = netlab.Capture(DEMO_PCAP, speed=None).start()
    stopped.stop()
    with pytest.raises(netlab.ClosedError):
        stopped.start()  # a stopped capture is not silently restarted either
    stopped.close()


def test_a_failed_start_leaves_nothing_running_or_open(tmp_path):
    bad = tmp_path / "not-a-capture.pcap"
    bad.write_bytes(b"this is not a capture file at all")
    cap = netlab.Capture(bad, speed=None)
    before = _netlab_threads()
    with pytest.raises(netlab.CaptureFileError):
        cap.start()
    assert _netlab_threads() == before  # not even the detectors' subscription thread
    assert cap.source._mm is None and cap.source._fh is None  # the file is closed again
    assert not cap.running
    with pytest.raises(netlab.ClosedError):
        cap.start()  # failed once: make a new one (the error said what was wrong)


def test_unregister_functions_are_idempotent():
    cap = netlab.Capture(DEMO_PCAP, speed=None)
    off_alert = cap.on_alert(lambda alert: None)
    off_frames = cap.on_frames(lambda chunk: None)
    for off in (off_alert, off_alert, off_frames, off_frames):
        off()  # a second call does nothing (and raises nothing)
    cap.close()


def test_a_subscription_closes_once():
    cap = netlab.Capture(DEMO_PCAP, speed=None)
    sub = cap.subscribe(lambda df: None)
    sub.close()
    sub.close()
    assert sub.closed
    cap.close()


def test_a_refresher_runs_once():
    from netlab.widgets import Refresher

    cap = netlab.Capture(DEMO_PCAP, speed=None)
    refresher = Refresher(cap, hz=20)
    assert refresher.start() is refresher and refresher.start() is refresher
    assert _netlab_threads().count("netlab-refresher") == 1  # one thread, not two
    refresher.close()
    refresher.close()
    with pytest.raises(netlab.ClosedError, match="refresher is closed"):
        refresher.start()
    cap.close()


def test_a_remote_source_opens_once():
    from netlab.sources.remote import RemoteSource

    source = RemoteSource("ws://127.0.0.1:9/ws")  # nothing listens on the discard port
    with pytest.raises(netlab.CaptureError, match="cannot connect"):
        source.open()
    assert "netlab-remote" not in _netlab_threads()  # the failed open took its thread along
    with pytest.raises(netlab.ClosedError, match="remote source is closed"):
        source.open()


def test_a_server_thread_runs_once():
    from netlab.server import ServerThread

    cap = netlab.Capture(DEMO_PCAP, speed=None)
    server = ServerThread(cap, start_capture=False)
    assert server.start() is server and server.start() is server
    server.close()
    server.close()
    with pytest.raises(netlab.ClosedError, match="server is closed"):
        server.start()
    cap.close()


def test_closing_a_dashboard_closes_its_widgets_too():
    from netlab.widgets import Dashboard

    dash = Dashboard(netlab.Capture(DEMO_PCAP, speed=None), hz=5)
    inner = [dash.table, dash.sparkline, dash.controls, dash.explain, dash.heartbeat]
    assert dash.comm is not None and all(w.comm is not None for w in inner)
    dash.close()
    dash.close()
    assert dash.comm is None and all(w.comm is None for w in inner)
    assert not dash.capture.running


def test_a_server_that_cannot_start_says_so_and_leaves_no_thread():
    import socket

    from netlab.server import ServerThread

    cap = netlab.Capture(DEMO_PCAP, speed=None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = ServerThread(cap, port=taken.getsockname()[1], start_capture=False)
        with pytest.raises(netlab.ServerError, match="did not start"):
            server.start()
    assert "netlab-server" not in _netlab_threads()
    with pytest.raises(netlab.ClosedError):
        server.start()
    cap.close()
