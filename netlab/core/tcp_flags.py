"""The bits of the tcp_analysis column, named as tshark's `tcp.analysis.*` fields."""

from __future__ import annotations

RETRANSMISSION = 1 << 0  # also set with the fast and spurious kinds, as tshark shows them
FAST_RETRANSMISSION = 1 << 1
SPURIOUS_RETRANSMISSION = 1 << 2
OUT_OF_ORDER = 1 << 3
DUPLICATE_ACK = 1 << 4
ZERO_WINDOW = 1 << 5
WINDOW_FULL = 1 << 6
KEEP_ALIVE = 1 << 7
LOST_SEGMENT = 1 << 8
ACK_LOST_SEGMENT = 1 << 9
WINDOW_UPDATE = 1 << 10
KEEP_ALIVE_ACK = 1 << 11
ZERO_WINDOW_PROBE = 1 << 12
ZERO_WINDOW_PROBE_ACK = 1 << 13
REUSED_PORTS = 1 << 14  # a SYN on the ports of an earlier connection (a new flow)

FLAG_NAMES: dict[int, str] = {
    RETRANSMISSION: "retransmission",
    FAST_RETRANSMISSION: "fast_retransmission",
    SPURIOUS_RETRANSMISSION: "spurious_retransmission",
    OUT_OF_ORDER: "out_of_order",
    DUPLICATE_ACK: "duplicate_ack",
    ZERO_WINDOW: "zero_window",
    WINDOW_FULL: "window_full",
    KEEP_ALIVE: "keep_alive",
    LOST_SEGMENT: "lost_segment",
    ACK_LOST_SEGMENT: "ack_lost_segment",
    WINDOW_UPDATE: "window_update",
    KEEP_ALIVE_ACK: "keep_alive_ack",
    ZERO_WINDOW_PROBE: "zero_window_probe",
    ZERO_WINDOW_PROBE_ACK: "zero_window_probe_ack",
    REUSED_PORTS: "reused_ports",
}
BY_NAME: dict[str, int] = {name: bit for bit, name in FLAG_NAMES.items()}


def tcp_analysis_names(mask: int) -> list[str]:
    """The tshark names (`tcp.analysis.<name>`) of the flags set in a tcp_analysis value,
    e.g. `tcp_analysis_names(0x11) == ["retransmission", "duplicate_ack"]`."""
    value = int(mask)
    return [name for bit, name in FLAG_NAMES.items() if value & bit]
