"""The `netlab` command as a user runs it: output, exit codes, no tracebacks for mistakes."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netlab", *args], capture_output=True, text=True, timeout=timeout
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
