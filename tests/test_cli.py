"""The `netlab` command as a user runs it: output, exit codes, no tracebacks for mistakes."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "netlab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def test_demo_prints_a_summary_of_the_bundled_capture():
    out = run("demo")
    assert out.returncode == 0, out.stderr
    assert "packets" in out.stdout and "Top talkers" in out.stdout
    assert "example.com" in out.stdout  # DNS, TLS and HTTP names are shown


def test_user_mistakes_get_one_line_not_a_traceback(tmp_path):
    out = run("demo", str(tmp_path / "missing.pcap"))
    assert out.returncode == 2
    assert out.stderr.startswith("netlab: ") and "Traceback" not in out.stderr
    assert "No such file" in out.stderr


def test_help_on_every_command():
    for command in ("demo", "doctor", "interfaces", "explain", "config"):
        out = run(command, "--help")
        assert out.returncode == 0 and "usage: netlab" in out.stdout


def test_doctor_reports_every_check():
    out = run("doctor")
    for name in (
        "netlab",
        "libpcap",
        "tcpdump",
        "tshark",
        "capture rights",
        "interfaces",
        "settings",
    ):
        assert name in out.stdout
    assert out.returncode in (0, 1)


def test_interfaces_lists_loopback():
    out = run("interfaces")
    assert out.returncode == 0 and "127.0.0.1" in out.stdout


def test_explain_a_frame_offline():
    from conftest import CORPUS

    out = subprocess.run(
        [sys.executable, "-m", "netlab", "explain", str(CORPUS / "dpkt__http.pcap"), "4"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "NETLAB_AI_MODE": "offline"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Frame 4: GET /download.html" in out.stdout and "[offline" in out.stdout
    missing = run("explain", str(CORPUS / "dpkt__http.pcap"), "999")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_config_hides_secrets():
    out = subprocess.run(
        [sys.executable, "-m", "netlab", "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "OPENAI_API_KEY": "sk-secret-123"},
    )
    assert out.returncode == 0
    assert "OPENAI_API_KEY=(set, hidden)" in out.stdout and "sk-secret-123" not in out.stdout
    assert "NETLAB_MAX_ROWS=" in out.stdout


@pytest.mark.slow
def test_capture_reads_and_writes_every_format(tmp_path):
    import pandas as pd

    import netlab
    from netlab.data import DEMO_PCAP

    whole = netlab.read_pcap(DEMO_PCAP)
    dns = whole[(whole["dport"] == 53) & (whole["proto"] == "UDP")]
    for suffix in (".pcap", ".pcapng", ".parquet", ".csv"):
        out = tmp_path / f"dns{suffix}"
        done = run("capture", "-r", str(DEMO_PCAP), "-f", "udp dst port 53", "-w", str(out), "-q")
        assert done.returncode == 0, done.stderr
        if suffix in (".pcap", ".pcapng"):
            back = netlab.read_pcap(out)
        elif suffix == ".parquet":
            back = pd.read_parquet(out)
        else:
            back = pd.read_csv(out)
        assert len(back) == len(dns), suffix
        assert back["dns_qname"].astype(str).tolist() == dns["dns_qname"].astype(str).tolist()
    limited = run("capture", "-r", str(DEMO_PCAP), "-c", "7", "-w", str(tmp_path / "7.pcap"), "-q")
    assert limited.returncode == 0 and len(netlab.read_pcap(tmp_path / "7.pcap")) == 7
    printed = run("capture", "-r", str(DEMO_PCAP), "-c", "3", "-q")
    assert len([line for line in printed.stdout.splitlines() if "→" in line]) == 3
    wrong = run("capture", "-r", str(DEMO_PCAP), "-w", str(tmp_path / "x.txt"), "-q")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr


def test_traffic_generator_refuses_other_networks():
    from conftest import ROOT

    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "gen_traffic.py"),
            "steady",
            "--host",
            "10.1.2.3",
            "--count",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "refusing" in out.stderr


@pytest.mark.privileged
def test_live_capture_of_generated_traffic_and_ctrl_c_keeps_the_file(tmp_path, free_udp_port):

    from conftest import ROOT

    out = tmp_path / "live.pcapng"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netlab",
            "capture",
            "-i",
            "lo",
            "-f",
            f"udp dst port {free_udp_port}",
            "-w",
            str(out),
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _capture_and_interrupt(proc, free_udp_port, out, ROOT)
    finally:
        if proc.poll() is None:  # a failed or timed-out test must not leave it capturing
            proc.kill()
            proc.wait(10)


def _capture_and_interrupt(proc, free_udp_port, out, ROOT) -> None:
    import signal
    import time

    import netlab

    time.sleep(3)  # started and capturing
    gen = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "gen_traffic.py"),
            "steady",
            "--port",
            str(free_udp_port),
            "--rate",
            "2000",
            "--count",
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "1000 packets" in gen.stdout
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "1,000 packets" in err and "Traceback" not in err
    assert len(netlab.read_pcap(out)) == 1000


@pytest.fixture(scope="module")
def many_tiny(tmp_path_factory):
    """200,000 small UDP records: more than the decoder's backlog can hold at once."""
    import synth

    path = tmp_path_factory.mktemp("big") / "tiny.pcap"
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(1, 2, b"")))
    synth.write_pcap(path, [frame] * 200_000, step=0.00001)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pcap", ".parquet", ""])
def test_reading_a_file_never_drops_a_frame(many_tiny, tmp_path, suffix):
    import pandas as pd

    import netlab

    args = ["capture", "-r", str(many_tiny), "-q"]
    if suffix:
        out = tmp_path / f"all{suffix}"
        args += ["-w", str(out)]
    # a backlog of 2 chunks (8,192 frames) where the default holds the whole file: reading
    # must wait for the decoder and the writer, never drop (it did: 946,300 in, 389,120 out)
    done = run(*args, timeout=600, NETLAB_BACKLOG_BATCHES="2")
    assert done.returncode == 0, done.stderr
    assert "200,000 packets" in done.stderr and "0 by netlab" in done.stderr, done.stderr
    if suffix == ".pcap":
        assert len(netlab.read_pcap(out)) == 200_000
    elif suffix == ".parquet":
        assert pd.read_parquet(out)["number"].tolist() == list(range(1, 200_001))
    else:  # printed: one line per frame, numbered as the file is
        lines = done.stdout.splitlines()
        assert len(lines) == 200_000 and lines[-1].split()[0] == "200000"


def test_frame_numbers_are_the_files_as_tshark_keeps_them(tmp_path):
    import os
    import shutil

    from netlab.data import DEMO_PCAP

    printed = run("capture", "-r", str(DEMO_PCAP), "-f", "udp port 53", "-c", "5", "-q")
    numbers = [int(line.split()[0]) for line in printed.stdout.splitlines()]
    if shutil.which("tshark"):
        from dfilter_corpus import tshark_frames

        assert numbers == tshark_frames(DEMO_PCAP, "udp.port == 53")[:5].tolist()
    assert numbers[0] == 34  # the file's 34th frame is its first DNS query
    env = {**os.environ, "NETLAB_AI_MODE": "offline"}
    explained = subprocess.run(
        [sys.executable, "-m", "netlab", "explain", str(DEMO_PCAP), "34"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    first_line = printed.stdout.splitlines()[0]
    assert (
        explained.stdout.startswith("Frame 34: ")
        and explained.stdout.split(": ", 1)[1].split("\n")[0] in first_line
    )
    zero = run("explain", str(DEMO_PCAP), "0")
    assert zero.returncode == 2 and "start at 1" in zero.stderr and "0 frames" not in zero.stderr


def test_long_options_and_errors_before_any_progress_bar(tmp_path):
    import netlab
    from netlab.data import DEMO_PCAP

    out = tmp_path / "two.pcapng"
    done = run(
        "capture", "--read", str(DEMO_PCAP), "--filter", "arp", "--count", "2", "--write", str(out)
    )
    assert done.returncode == 0 and "2 packets to" in done.stderr, done.stderr
    bad = run("capture", "--read", str(DEMO_PCAP), "--filter", "udp and and")
    assert bad.returncode == 2 and bad.stderr.startswith("netlab: "), bad.stderr
    assert "packets [" not in bad.stderr and "Traceback" not in bad.stderr
    missing = run("capture", "--interface", "nosuch0")
    # without capture rights libpcap says so before it looks the interface up
    may_capture = netlab.capture_permission()[0]
    says = "`netlab interfaces`" if may_capture else "no permission to capture"
    assert missing.returncode == 2 and says in missing.stderr, missing.stderr
    assert "packets [" not in missing.stderr
    arp = run("capture", "-r", str(DEMO_PCAP), "-f", "arp", "-c", "1", "-q")
    assert "nan" not in arp.stdout and "<NA>" not in arp.stdout and "ARP" in arp.stdout


def test_serve_mistakes_are_one_line_and_exit_2(tmp_path):
    import socket

    from netlab.data import DEMO_PCAP

    missing = run("serve", "--source", str(tmp_path / "missing.pcap"), timeout=60)
    bad = run("serve", "--source", str(DEMO_PCAP), "--bpf", "udp and and", timeout=60)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = run("serve", "--port", str(busy.getsockname()[1]), timeout=60)
    for out, says in ((missing, "No such file"), (bad, "syntax error"), (taken, "in use")):
        assert out.returncode == 2, out.stderr
        assert says in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_generator_help_names_only_its_own_options():
    from conftest import ROOT

    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_traffic.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "--namespace" in out and "--allow " not in out


@pytest.mark.parametrize(
    "expression",
    ["tcp.flags.syn == 1 && tcp.flags.ack == 0", 'dns.qry.name contains "example" || ip.ttl < 32'],
)
def test_display_filter_shows_the_frames_tshark_shows(tmp_path, expression):
    import shutil

    from netlab.data import DEMO_PCAP

    printed = run("capture", "-r", str(DEMO_PCAP), "-Y", expression, "-q")
    assert printed.returncode == 0, printed.stderr
    numbers = [int(line.split()[0]) for line in printed.stdout.splitlines()]
    assert numbers and f"{len(numbers):,} packets;" in printed.stderr
    if shutil.which("tshark"):
        from dfilter_corpus import tshark_frames

        assert numbers == tshark_frames(DEMO_PCAP, expression).tolist()
    written = run(
        "capture", "-r", str(DEMO_PCAP), "-Y", expression, "-q", "-w", str(tmp_path / "o.csv")
    )
    assert written.returncode == 0, written.stderr
    import pandas as pd

    assert pd.read_csv(tmp_path / "o.csv")["number"].tolist() == numbers


def test_an_invalid_display_filter_is_one_message_with_a_caret(tmp_path):
    out = run("capture", "-r", "nothing.pcap", "-Y", "tcp.port == 99999")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert (
        lines[0]
        == "netlab: invalid display filter: 99999 is too big for a 16-bit field (at most 65535)"
    )
    assert lines[2].index("^") == lines[1].index("99999")
    pcap = run("capture", "-r", "x.pcap", "-Y", "tcp", "-w", str(tmp_path / "o.pcap"))
    assert pcap.returncode == 2 and "not supported yet" in pcap.stderr
