"""What a flow means: its facts (summary and TCP health), the prompt for a model, and an
offline answer. Pure, as core/explain: the caller decides whether payload bytes may go in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .explain import SYSTEM_PROMPT, Redactor, _present
from .tcp_flags import FLAG_NAMES

# Zeek's conn_state, in words (Zeek's conn.log documentation)
STATES = {
    "S0": "a connection attempt nobody answered",
    "S1": "a connection established and not yet closed",
    "SF": "a connection established and closed normally",
    "REJ": "a connection attempt that was rejected (RST)",
    "S2": "established; the originator tried to close it, the responder did not answer",
    "S3": "established; the responder tried to close it, the originator did not answer",
    "RSTO": "established, then reset by the originator",
    "RSTR": "established, then reset by the responder",
    "RSTOS0": "the originator sent a SYN, then a RST; the responder never answered",
    "RSTRH": "the responder sent a SYN-ACK, then a RST; no SYN was seen",
    "SH": "the originator sent a SYN, then a FIN; no SYN-ACK was seen",
    "SHR": "the responder sent a SYN-ACK, then a FIN; no SYN was seen",
    "OTH": "no handshake seen: traffic of a connection that started before the capture",
}
FLOW_FACTS = (
    "flow", "proto", "src", "sport", "dst", "dport", "service", "server_name", "state",
    "history", "first", "duration", "orig_packets", "orig_bytes", "resp_packets", "resp_bytes",
    "orig_payload", "resp_payload", "rtt", "retransmissions", "out_of_order", "dup_acks",
    "zero_windows", "community_id",
)  # fmt: skip
PREVIEW = 512  # payload bytes per side a model may be shown, when that is allowed


def flow_facts(flow: Mapping[str, Any], analysis_counts: Mapping[int, int]) -> dict[str, Any]:
    """The known fields of a flow row, with the TCP-analysis flags its packets carry
    (`analysis_counts`: flag bit -> packets)."""
    facts = {k: flow[k] for k in FLOW_FACTS if k in flow and _present(flow[k])}
    for key in ("first",):
        if key in facts:
            facts[key] = str(facts[key])
    for key in ("duration", "rtt"):
        if key in facts:
            facts[key] = round(float(facts[key]), 6)
    health = {FLAG_NAMES[b]: int(n) for b, n in sorted(analysis_counts.items()) if n}
    if health:
        facts["tcp_analysis"] = health
    return facts


def preview(data: bytes) -> str:
    """The first bytes of one side, as text a model can read (non-printables escaped)."""
    head = data[:PREVIEW]
    text = head.decode("latin-1").encode("unicode_escape").decode("ascii")
    return text + (f" ... ({len(data) - PREVIEW} more bytes)" if len(data) > PREVIEW else "")


def flow_messages(
    facts: Mapping[str, Any], payload: Mapping[str, str] | None, redact: bool
) -> list[dict[str, str]]:
    """Chat messages for explaining one flow; `payload`: the sides' previews, if allowed."""
    redactor = Redactor() if redact else None
    lines = ["Explain this network flow (a connection) and whether its health looks normal.", ""]
    for k, v in facts.items():
        line = f"- {k}: {v}"
        lines.append(redactor.text(line) if redactor else line)
    if payload:
        lines += ["", "The first bytes each side sent:"]
        for side, text in payload.items():
            lines.append(f"- {side}: {redactor.text(text) if redactor else text}")
    else:
        lines += ["", "(No payload bytes are included: headers and counts only.)"]
    return [
        {"role": "system", "content": SYSTEM_PROMPT.replace("one captured packet", "one flow")},
        {"role": "user", "content": "\n".join(lines)},
    ]


def offline_flow_explanation(facts: Mapping[str, Any]) -> str:
    """What a flow is and how healthy it looks, from its own facts."""
    proto = facts.get("proto", "?")
    src = f"{facts.get('src', '?')}" + (f":{facts['sport']}" if "sport" in facts else "")
    dst = f"{facts.get('dst', '?')}" + (f":{facts['dport']}" if "dport" in facts else "")
    service = facts.get("service")
    what = f" ({service}" + (f", {facts['server_name']}" if "server_name" in facts else "") + ")"
    text = [f"**{proto} flow {facts.get('flow', '')}**: {src} → {dst}" + (what if service else "")]
    sent = facts.get("orig_packets", 0), facts.get("orig_bytes", 0)
    got = facts.get("resp_packets", 0), facts.get("resp_bytes", 0)
    duration = facts.get("duration")
    text.append(
        f"The originator sent {sent[0]} packets ({sent[1]} bytes), the responder {got[0]} "
        f"({got[1]} bytes)" + (f" over {duration:.3f} s." if duration is not None else ".")
    )
    state = facts.get("state")
    if state in STATES:
        history = f", history {facts['history']}" if "history" in facts else ""
        text.append(f"Zeek would log it as {state}{history}: {STATES[state]}.")
    if "rtt" in facts:
        text.append(f"The handshake took {facts['rtt'] * 1000:.1f} ms (round-trip time).")
    if proto == "TCP":
        text.append(_health(facts))
    return "\n\n".join(text)


def _health(facts: Mapping[str, Any]) -> str:
    flags = facts.get("tcp_analysis") or {}
    packets = int(facts.get("orig_packets", 0)) + int(facts.get("resp_packets", 0))
    if not flags:
        return "TCP health: no retransmission, loss, reordering or window trouble seen."
    parts = [f"{name.replace('_', ' ')} ×{n}" for name, n in flags.items()]
    lines = ["TCP health: " + ", ".join(parts) + "."]
    retrans = int(flags.get("retransmission", 0))
    if packets and retrans / packets > 0.02:
        lines.append(
            f"{retrans / packets:.1%} of the packets were resent: loss on the path (or a "
            "congested link) slows this connection down."
        )
    if flags.get("lost_segment") or flags.get("ack_lost_segment"):
        lines.append(
            "Some segments are missing from the capture: the capture point dropped them, or "
            "they took another path."
        )
    if flags.get("zero_window"):
        lines.append(
            "A receiver advertised a zero window: the application reading the data could "
            "not keep up, which stalls the sender."
        )
    if flags.get("out_of_order"):
        lines.append("Segments arrived out of order: several paths, or reordering on the way.")
    return " ".join(lines)
