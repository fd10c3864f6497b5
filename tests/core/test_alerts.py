"""Anomaly detectors: z-scores against pandas, false alerts, detection delay, exact alerts."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
import synth

import netlab
from netlab import PortScanDetector, RateDetector, SynFloodDetector, detect
from netlab.core.alerts import NS
from netlab.core.detectors import NewTalkerDetector
from netlab.data import DEMO_PCAP

T0 = 1_767_225_600  # whole second


def test_zscore_matches_a_pandas_rolling_reference():
    rng = np.random.default_rng(5)
    counts = rng.poisson(100, 400).astype(float)
    counts[200:210] += 60  # some structure
    det = RateDetector(window=30, threshold=1e9, min_samples=2)
    ours = []
    for k, value in enumerate(counts):
        det.advance(T0 + k)  # close second k-1: the history is then seconds before k
        ours.append(det.zscore(value) if k >= 2 else np.nan)
        det.observe(T0 + k, value)
    s = pd.Series(counts)
    mean = s.rolling(30, min_periods=2).mean().shift(1)
    std = s.rolling(30, min_periods=2).std(ddof=1).shift(1)
    floor = np.sqrt(np.maximum(mean, 1.0))
    reference = (s - mean) / np.maximum(std, floor)
    np.testing.assert_allclose(np.array(ours[2:]), reference.to_numpy()[2:], rtol=1e-9)


def _run(counts, **kw) -> list:
    det = RateDetector(**kw)
    alerts = []
    for k, value in enumerate(counts):
        alerts += det.observe(T0 + k, float(value))
    return alerts + det.advance(T0 + len(counts) + 1)


def test_flat_line_does_not_alert_but_a_jump_from_it_does():
    assert _run([100] * 600) == []
    alerts = _run([100] * 60 + [200] * 5)
    assert len(alerts) == 1 and alerts[0].time == pd.Timestamp((T0 + 60) * NS, tz="UTC")
    assert alerts[0].severity == "critical" and alerts[0].z == pytest.approx(10.0)


def test_false_alert_rate_on_stationary_poisson_traffic():
    seconds = 100_000
    counts = np.random.default_rng(11).poisson(100, seconds)
    alerts = _run(counts)  # default threshold 4, window 60, cooldown 10
    rate = len(alerts) / seconds
    print(f"false alerts: {len(alerts)} in {seconds} s of Poisson(100) traffic ({rate:.2e}/s)")
    assert rate < 2e-4  # fewer than one false alert per ~1.4 hours at the default threshold


def test_min_samples_and_cooldown():
    assert _run([100] * 5 + [1000], min_samples=10) == []  # not enough history yet
    twice = [100] * 60 + [1000] + [100] * 4 + [1000] + [100] * 30 + [1000]
    alerts = _run(twice, cooldown=10)
    assert [int(a.time.value // NS) - T0 for a in alerts] == [60, 96]


def test_drops_to_silence_alert_only_when_asked():
    quiet = [100] * 60 + [0] * 5
    assert _run(quiet) == []
    down = _run(quiet, direction="down")
    assert len(down) == 1 and down[0].z < -4 and "drop" in down[0].message


def _frame(times: list[float], frames: list[bytes], tmp_path) -> pd.DataFrame:
    path = tmp_path / "t.pcap"
    synth.write_pcap(path, frames, times=times)
    return netlab.read_pcap(path)


def _udp(i: int) -> bytes:
    return synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1000, 2000 + i % 5, b"x")))


def test_burst_is_alerted_within_two_seconds_of_its_start(tmp_path):
    rng = np.random.default_rng(2)
    steady = np.sort(rng.uniform(0, 90, 9000))  # ~100 packets/s
    burst = np.sort(rng.uniform(90.3, 95, 4700))  # ~1,000 packets/s from t=90.3
    times = np.sort(np.concatenate([steady, burst])) + T0
    df = _frame(times.tolist(), [_udp(i) for i in range(len(times))], tmp_path)
    det = RateDetector()
    ns = df["ts"].array.asi8
    for start in np.arange(T0, T0 + 96, 0.1):  # batches as a capture delivers them
        rows = df[(ns >= start * NS) & (ns < (start + 0.1) * NS)]
        if det.update(rows):
            delay = start + 0.1 - (T0 + 90.3)
            print(f"burst alerted {delay:.2f} s after it started")
            assert 0 <= delay <= 2.0
            return
    pytest.fail("the burst was never alerted")


def test_demo_capture_raises_exactly_the_expected_alerts():
    df = netlab.read_pcap(DEMO_PCAP)
    alerts = detect(df, [RateDetector(), PortScanDetector(), SynFloodDetector()])
    got = [(a.detector, int(a.time.value // NS) - T0) for a in alerts]
    assert got == [("rate", 70), ("portscan", 100)]
    assert "192.168.1.99" in alerts[1].message and "192.168.1.20" in alerts[1].message


@pytest.mark.slow
def test_the_same_data_gives_the_same_alerts_by_every_path():
    # one second of the demo holds 1,088 packets; the scan reaches 100 ports in about 1 s
    df = netlab.read_pcap(DEMO_PCAP)

    def messages(alerts):
        return [(a.detector, a.time, a.message) for a in alerts]

    def detectors():
        return [RateDetector(), PortScanDetector(), SynFloodDetector()]

    want = messages(detect(df, detectors()))
    assert "1,088 packets/s" in want[0][2] and "100 ports" in want[1][2]
    for seconds in (0.05, 1e6):  # small slices ... the whole file in one batch
        assert messages(detect(df, detectors(), batch_seconds=seconds)) == want
    for speed in (None, 60.0):  # a full-speed and a (fast) real-time replay
        cap = netlab.Capture(
            DEMO_PCAP,
            speed=speed,
            settings=netlab.Settings.load(env_file=None, detectors="rate,portscan,synflood"),
        )
        with cap:
            assert cap.wait(120)  # returns once the detectors have seen every row
            assert messages(cap.alerts) == want, speed


def test_replayed_capture_alerts_with_context():
    cap = netlab.Capture(DEMO_PCAP, speed=None)
    seen = []
    cap.on_alert(seen.append)
    with cap:
        assert cap.wait(60)
    assert [a.detector for a in cap.alerts] == ["rate", "portscan"] == [a.detector for a in seen]
    rate = cap.alerts[0]
    assert rate.context["top_talkers"][0]["address"] in ("93.184.216.34", "192.168.1.66")
    assert rate.context["top_protocols"][0]["proto"] == "UDP"
    json.dumps([a.to_dict() for a in cap.alerts])  # alerts travel as JSON to the dashboard


def test_syn_flood_against_normal_handshakes(tmp_path):
    rng = np.random.default_rng(4)
    frames, times = [], []
    t = float(T0)
    for i in range(300):  # normal clients: SYN, SYN-ACK, ACK
        src, sport = f"10.1.{i // 250}.{i % 250 + 1}", 40000 + i
        for flags, a, b, sp, dp in (
            (0x02, src, "10.0.0.80", sport, 443),
            (0x12, "10.0.0.80", src, 443, sport),
            (0x10, src, "10.0.0.80", sport, 443),
        ):
            frames.append(synth.ether(synth.ipv4(a, b, 6, synth.tcp(sp, dp, flags))))
            t += 0.005
            times.append(t)
    normal = _frame(times, frames, tmp_path)
    assert detect(normal, [SynFloodDetector()]) == []
    flood = [
        synth.ether(
            synth.ipv4(
                f"172.16.{k % 200}.{k % 250 + 1}", "10.0.0.80", 6, synth.tcp(1024 + k, 80, 0x02)
            )
        )
        for k in range(400)
    ]
    flood_times = (T0 + 5 + rng.uniform(0, 2, 400)).tolist()
    df = _frame(
        sorted(times + flood_times),
        [f for _, f in sorted(zip(times + flood_times, frames + flood, strict=True))],
        tmp_path,
    )  # noqa: E501
    alerts = detect(df, [SynFloodDetector()])
    assert len(alerts) == 1 and "10.0.0.80:80" in alerts[0].message


def test_new_talker_after_learning(tmp_path):
    times = [T0 + k for k in range(0, 400, 10)] + [T0 + 401, T0 + 402]
    frames = [_udp(0)] * 40 + [
        synth.ether(synth.ipv4("10.9.9.9", "10.0.0.2", 17, synth.udp(5, 6, b"x")))
    ] * 2
    df = _frame(times, frames, tmp_path)
    alerts = detect(df, [NewTalkerDetector(memory=3600, learning=300)])
    assert [a.context["address"] for a in alerts] == ["10.9.9.9"]


def test_custom_detector_in_ten_lines_of_pandas(tmp_path):
    # The README's example: too many DNS queries for one name within the window.
    def dns_storm(window: pd.DataFrame):
        queries = window[window["dns_qname"].notna() & (window["dport"] == 53)]
        counts = queries["dns_qname"].value_counts()
        if len(counts) and counts.iloc[0] > 40:
            name = counts.index[0]
            return netlab.make_alert(
                queries,
                f"DNS storm: {counts.iloc[0]} queries for {name}",
                severity="warning",
                name=name,
            )
        return None

    frames = [
        synth.ether(
            synth.ipv4(
                "10.0.0.5",
                "10.0.0.53",
                17,
                synth.udp(3000 + k, 53, synth.dns_query("a.example", k)),
            )
        )
        for k in range(100)
    ]
    path = tmp_path / "storm.pcap"
    synth.write_pcap(path, frames, step=0.01)
    cap = netlab.Capture(path, speed=None)
    cap.detectors = []
    cap.add_detector(dns_storm, window=10)
    with cap:
        assert cap.wait(10)
        for _ in range(200):
            if cap.alerts:
                break
            time.sleep(0.02)
    assert len(cap.alerts) == 1
    alert = cap.alerts[0]
    assert alert.detector == "dns_storm" and alert.context["name"] == "a.example"
    assert math.isnan(alert.z)


def test_a_dns_server_answering_many_clients_is_no_port_scan(tmp_path):
    # 150 clients ask one DNS server within a second: its answers go to 150 ephemeral ports
    frames, times = [], []
    for k in range(150):
        client, port = f"10.9.{k // 200}.{k % 200 + 1}", 30000 + k
        frames.append(synth.ether(synth.ipv4(client, "10.0.0.53", 17, synth.udp(port, 53, b"q"))))
        frames.append(synth.ether(synth.ipv4("10.0.0.53", client, 17, synth.udp(53, port, b"a"))))
        times += [T0 + k / 200, T0 + k / 200 + 0.001]
    assert detect(_frame(times, frames, tmp_path), [PortScanDetector()]) == []
    # the same 150 ports probed from an ephemeral port are a scan
    probes = [
        synth.ether(synth.ipv4("10.0.0.66", "10.0.0.7", 17, synth.udp(40000, 30000 + k, b"")))
        for k in range(150)
    ]
    alerts = detect(
        _frame([T0 + k / 200 for k in range(150)], probes, tmp_path), [PortScanDetector()]
    )
    assert len(alerts) == 1 and "10.0.0.66" in alerts[0].message
