"""What may be sent about a packet, and whether a model is asked at all.

Privacy by default: only decoded header fields leave the machine; payload bytes only with
NETLAB_AI_SEND_PAYLOAD=true; addresses replaced by placeholders with NETLAB_AI_REDACT_ADDRESSES.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import Settings
from ..core import explain as core
from ..core.decode import decode_records
from ..core.pcapfile import Records
from ..packets import packet_bytes, store_in

Packet = Mapping[str, Any] | pd.Series | bytes | tuple[bytes, int]


@dataclass
class _Prepared:
    facts: dict[str, Any]
    messages: list[dict[str, str]]


def _row_and_raw(
    packet: Packet, *, want_bytes: bool = True
) -> tuple[dict[str, Any], bytes | None, int]:
    if isinstance(packet, bytes | tuple):
        raw, linktype = (packet, 1) if isinstance(packet, bytes) else packet
        n = len(raw)
        rec = Records(
            np.zeros(1, dtype=np.int64),
            np.array([n]),
            np.array([n]),
            np.array([time.time_ns()]),
            np.array([linktype], dtype=np.int32),
        )
        decoded = decode_records(np.frombuffer(raw, dtype=np.uint8), rec).iloc[0]
        return {str(k): v for k, v in decoded.items()}, raw, linktype
    items = packet.items() if isinstance(packet, pd.Series) else dict(packet).items()
    row = {str(k): v for k, v in items}
    # A row of a capture or of read_pcap knows where its bytes are: dissect them too.
    store = store_in(packet.attrs) if isinstance(packet, pd.Series) else None
    if want_bytes and store is not None and _known(row.get("number")) and _known(row.get("caplen")):
        sensor = row.get("sensor")
        sensor = None if sensor is None or pd.isna(sensor) else str(sensor)
        kept = packet_bytes(store, int(row["number"]), int(row["caplen"]), sensor)
        return row, kept, int(row["linktype"]) if _known(row.get("linktype")) else 1
    return row, None, 1


def _known(value: Any) -> bool:
    return value is not None and not pd.isna(value)


def dissect(raw: bytes, linktype: int = 1, *, headers_only: bool = True) -> str:
    """scapy's layer-by-layer dissection of one frame (on demand: scapy is slow per packet).

    With `headers_only`, only known header layers are kept (an allow-list, not a deny-list):
    the dissection stops at the transport header, and at the first layer that is not a known
    header (a later IP fragment's bytes, an unknown protocol or EtherType, IPv6's "no next
    header"); an ICMPv6 echo's data is blanked. So no payload byte leaves the machine."""
    import scapy.layers.dns
    import scapy.layers.http
    import scapy.layers.inet
    import scapy.layers.inet6
    import scapy.layers.l2  # noqa: F401 - registers the layers each frame may need
    from scapy.config import conf
    from scapy.packet import Raw

    cls: Any = conf.l2types.num2layer.get(linktype)
    try:
        packet = cls(raw) if cls is not None else Raw(raw)
        withheld = _headers_only(packet) if headers_only else False
        text = str(packet.show(dump=True))
        if withheld:
            text += "\n(payload withheld: only header fields are sent)"
    except Exception as exc:  # noqa: BLE001 - a malformed frame still gets explained
        return f"(scapy could not dissect this frame: {exc})"
    # scapy lists every optional header as "= None"; only what the frame has is worth reading
    return "\n".join(line for line in text.splitlines() if not line.rstrip().endswith("= None"))


# Layers whose fields are headers (scapy class names); a transport ends the dissection.
_LINK_AND_NETWORK = frozenset(
    "Ether Dot3 LLC SNAP Dot1Q Dot1AD CookedLinux CookedLinuxV2 Loopback NULL PPPoE PPP "
    "HDLC MPLS IP IPv6 IPv6ExtHdrHopByHop IPv6ExtHdrRouting IPv6ExtHdrDestOpt "
    "IPv6ExtHdrFragment IPOption".split()
)
_TRANSPORTS = frozenset("TCP UDP SCTP ICMP ARP".split())


def _headers_only(packet: Any) -> bool:
    """Cut `packet` to its known header layers in place; True if anything was withheld."""
    from scapy.packet import NoPayload

    withheld = False
    layer = packet
    while layer is not None and not isinstance(layer, NoPayload):
        name = type(layer).__name__
        if name.startswith("ICMPv6"):
            if hasattr(layer, "data") and layer.data:  # echo request/reply bytes
                layer.data = b""
                withheld = True
            if not (isinstance(layer.payload, NoPayload) or name.startswith("ICMPv6ND")):
                layer.remove_payload()  # an error's quoted packet
                withheld = True
            if name.startswith("ICMPv6ND") or name.startswith("ICMPv6NDOpt"):
                layer = layer.payload  # neighbour discovery options are headers too
                continue
            break
        if name in _TRANSPORTS:
            if not isinstance(layer.payload, NoPayload):
                layer.remove_payload()
                withheld = True
            break
        if name not in _LINK_AND_NETWORK:  # not a header netlab knows: it goes, with the rest
            underlayer = layer.underlayer
            if underlayer is None:
                return True  # nothing known at all: nothing is sent
            underlayer.remove_payload()
            return True
        layer = layer.payload
    return withheld


def prepare(packet: Packet, settings: Settings) -> _Prepared:
    """The facts and the exact messages that would be sent for `packet`."""
    row, raw, linktype = _row_and_raw(packet)
    facts = core.packet_facts(row)
    dissection = None
    payload_hex = None
    if not settings.ai_send_payload and (
        "http_host" in facts or "HTTP/" in str(facts.get("summary", ""))
    ):
        # an HTTP request line can carry tokens in its URL: it is payload, not a header
        facts.pop("summary", None)
        facts.pop("info", None)
    if raw is not None:
        if not settings.ai_send_payload and _known(facts.get("paylen")):
            # scapy parses everything it is given (a crafted 63 KB DNS frame took 4 s):
            # give it the headers, not the payload it would only have to throw away
            raw = raw[: max(len(raw) - int(facts["paylen"]), 0)]
        dissection = dissect(raw, linktype, headers_only=not settings.ai_send_payload)
        if settings.ai_send_payload and facts.get("paylen"):
            payload_hex = raw[len(raw) - int(facts["paylen"]) :][:256].hex()
    if settings.ai_redact_addresses:
        redactor = core.Redactor()
        facts = redactor.facts(facts)
        dissection = redactor.text(dissection) if dissection else None
    return _Prepared(facts, core.build_messages(facts, dissection, payload_hex))


def _use_openai(settings: Settings, client: Any) -> bool:
    if settings.ai_mode == "offline":
        return False
    if settings.ai_mode == "openai":
        return True
    return client is not None or bool(settings.openai_api_key.get_secret_value())
