"""The data shipped with netlab: the demo captures, the Voila template."""

from __future__ import annotations

from pathlib import Path

DEMO_PCAP = Path(__file__).parent / "demo.pcap"
FLOWS_PCAP = Path(__file__).parent / "flows.pcap"
JUPYTER_DATA = Path(__file__).parent / "jupyter"  # the Voila template (no CDN)
_DEMOS = {"mixed": DEMO_PCAP, "flows": FLOWS_PCAP}


def demo_pcap(which: str = "mixed") -> Path:
    """The path of a bundled demo capture: "mixed" (18,926 frames of DNS, HTTP, TLS and ARP)
    or "flows" (8,000 frames of 521 TCP connections and DNS exchanges with handshakes, loss,
    fast retransmissions and reordering; frames cut at 96 bytes; made by scripts/flowgen.py)."""
    try:
        return _DEMOS[which]
    except KeyError:
        raise ValueError(f"no demo capture {which!r}: choose from {sorted(_DEMOS)}") from None
