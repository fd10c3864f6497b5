"""The data shipped with netlab: the demo capture, the Voila template."""

from __future__ import annotations

from pathlib import Path

DEMO_PCAP = Path(__file__).parent / "demo.pcap"
JUPYTER_DATA = Path(__file__).parent / "jupyter"  # the Voila template (no CDN)


def demo_pcap() -> Path:
    """The path of the bundled demo capture (18,926 frames of DNS, HTTP, TLS and ARP)."""
    return DEMO_PCAP
