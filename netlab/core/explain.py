"""What a packet or an alert means: the facts, the prompt for a model, and an offline answer.

Pure: no network, no openai. `netlab.ai` sends the prompt; this module decides what is in it
(headers only unless payload is allowed; addresses replaced when asked) and writes the offline
explanation from the decoded fields.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Any

from . import names
from .schema import COLUMN_NAMES

# Every column but the link type (which the layers already tell): the schema drives the facts.
FACT_FIELDS = tuple(name for name in COLUMN_NAMES if name != "linktype")
SYSTEM_PROMPT = (
    "You are a senior network engineer explaining one captured packet (or one alert) to a "
    "colleague. Answer in Markdown, at most about 150 words: what it is, where it sits in its "
    "conversation, and whether anything looks unusual and why. Do not invent fields that are "
    "not given; say when the data is not enough to tell."
)
_MAC = re.compile(r"\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\b")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# Not \b: an address may start or end with "::" (::1, fe80::), where \b finds no boundary.
_IPV6 = re.compile(r"(?<![0-9A-Za-z:])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![0-9A-Za-z:])")


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return not (isinstance(value, float) and math.isnan(value)) and str(value) not in (
            "<NA>",
            "nan",
            "NaT",
            "",
        )
    except (TypeError, ValueError):
        return False


def packet_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    """The decoded header fields of a row, without missing values, as plain Python values."""
    facts: dict[str, Any] = {}
    for name in FACT_FIELDS:
        value: Any = row.get(name)
        if not _present(value):
            continue
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif hasattr(value, "item"):
            value = value.item()
        facts[name] = value
    if "tcp_flags" in facts:
        facts["tcp_flag_names"] = names.tcp_flag_names(int(facts["tcp_flags"]))
    return facts


class Redactor:
    """Replaces IP and MAC addresses with stable placeholders that keep their kind."""

    def __init__(self) -> None:
        self.mapping: dict[str, str] = {}

    def _placeholder(self, address: str) -> str:
        if address not in self.mapping:
            kind = "mac"
            try:
                ip = ipaddress.ip_address(address)
                kind = (
                    "loopback"
                    if ip.is_loopback
                    else "private"
                    if ip.is_private
                    else "multicast"
                    if ip.is_multicast
                    else "public"
                )
                kind = f"{kind}-ipv{ip.version}"
            except ValueError:
                pass
            count = sum(1 for v in self.mapping.values() if v.startswith(f"<{kind}-"))
            self.mapping[address] = f"<{kind}-{count + 1}>"
        return self.mapping[address]

    def text(self, value: str) -> str:
        """`value` with every address in it replaced."""

        def swap(match: re.Match[str]) -> str:
            token = match.group(0)
            try:
                ipaddress.ip_address(token)
            except ValueError:
                if not _MAC.fullmatch(token):
                    return token
            return self._placeholder(token)

        for pattern in (_MAC, _IPV4, _IPV6):
            value = pattern.sub(swap, value)
        return value

    def facts(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `facts` with addresses replaced in every text value."""
        return {k: self.text(v) if isinstance(v, str) else v for k, v in facts.items()}


def layers(facts: Mapping[str, Any]) -> list[str]:
    """A layer-by-layer description built from the decoded fields."""
    out = [
        f"Frame: {facts.get('length', '?')} bytes on the wire, {facts.get('caplen', '?')} captured"
        + (f", VLAN {facts['vlan']}" if "vlan" in facts else "")
    ]
    if "ip_version" in facts:
        ttl = "hop limit" if facts["ip_version"] == 6 else "TTL"
        out.append(
            f"IPv{facts['ip_version']}: {facts.get('src', '?')} → {facts.get('dst', '?')}"
            + (f", {ttl} {facts['ttl']}" if "ttl" in facts else "")
        )
    proto = facts.get("proto")
    if proto in ("TCP", "UDP", "SCTP") and "sport" in facts:
        line = f"{proto}: port {facts['sport']} → {facts['dport']}"
        if "tcp_flag_names" in facts:
            line += f", flags [{', '.join(facts['tcp_flag_names']) or 'none'}]"
        if "paylen" in facts:
            line += f", {facts['paylen']} payload bytes"
        out.append(line)
    elif proto in ("ICMP", "ICMPv6") and "icmp_type" in facts:
        version = 6 if proto == "ICMPv6" else 4
        meaning = names.icmp_description(version, facts["icmp_type"], facts.get("icmp_code", 0))
        out.append(
            f"{proto}: type {facts['icmp_type']} code {facts.get('icmp_code', 0)} ({meaning})"
        )
    elif proto:
        out.append(f"Protocol: {proto}")
    for key, label in (
        ("dns_qname", "DNS question"),
        ("tls_sni", "TLS server name"),
        ("http_host", "HTTP Host"),
        ("summary", "Application"),
    ):
        if key in facts:
            out.append(f"{label}: {facts[key]}")
    return out


def build_messages(
    facts: Mapping[str, Any], dissection: str | None = None, payload_hex: str | None = None
) -> list[dict[str, str]]:
    """The chat messages for explaining one packet."""
    lines = ["Explain this packet.", "", "Decoded fields:"]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines += ["", "Layers:"] + [f"- {line}" for line in layers(facts)]
    if dissection:
        lines += ["", "Dissection:", dissection]
    if payload_hex:
        lines += ["", f"Payload (hex, first bytes): {payload_hex}"]
    else:
        lines += ["", "(Payload bytes are not included.)"]
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


_FLAG_STORY = {
    ("SYN",): "a **connection attempt**: the client asks to open a TCP connection (first step "
    "of the three-way handshake)",
    ("SYN", "ACK"): "the server **accepting** a connection (second step of the handshake); a "
    "port that answers SYN-ACK is open",
    ("ACK",): "an acknowledgement inside an established connection",
    ("PSH", "ACK"): "**data** being delivered in an established connection",
    ("FIN", "ACK"): "one side **closing** the connection politely",
    ("FIN", "PSH", "ACK"): "the last data of a connection, with its close",
    ("RST",): "the connection being **refused or aborted**: a closed port answers a SYN this way",
    ("RST", "ACK"): "the connection being **refused or aborted** (a closed port's answer to a SYN)",
}


def _tcp_story(flags: list[str]) -> str:
    key = tuple(flags)
    if key in _FLAG_STORY:
        return _FLAG_STORY[key]
    present = set(flags)
    if not present:
        return (
            "a TCP segment with **no flags at all**: a NULL-scan probe, never sent by normal stacks"
        )
    if {"SYN", "FIN"} <= present:
        return "**SYN and FIN together**, which no normal connection does: a scan or evasion probe"
    if {"FIN", "PSH", "URG"} <= present and "ACK" not in present:
        return "an **Xmas-tree probe** (FIN, PSH and URG): a classic port-scan technique"
    if "RST" in present:
        return "the connection being reset"
    return f"a TCP segment with flags {', '.join(flags)}"


def _port_name(port: Any) -> str | None:
    try:
        return names.SERVICES.get(int(port))
    except (TypeError, ValueError):
        return None


def offline_explanation(facts: Mapping[str, Any]) -> str:
    """A useful explanation from the decoded fields alone (Markdown), with no model at all."""
    proto = facts.get("proto")
    src, dst = facts.get("src"), facts.get("dst")
    parts: list[str] = []
    service = _port_name(facts.get("dport")) or _port_name(facts.get("sport"))
    server_port = facts.get("dport") if _port_name(facts.get("dport")) else facts.get("sport")
    if proto == "ARP" or str(facts.get("summary", "")).startswith(("Who has", "Gratuitous")):
        summary = str(facts.get("summary", ""))
        if summary.startswith("Who has"):
            parts.append(
                f"**ARP request**: {summary} A host is asking, by broadcast, which "
                "machine on the local network owns this IPv4 address so it can send "
                "frames to it."
            )
        elif " is at " in summary:
            parts.append(
                f"**ARP reply**: {summary}. This tells the asker which MAC address to "
                "use; unexpected replies can indicate ARP spoofing."
            )
        else:
            parts.append(f"**ARP**: {summary or 'address resolution on the local network'}.")
    elif proto == "TCP" and "tcp_flag_names" in facts:
        flags = list(facts["tcp_flag_names"])
        where = f" (**{service}**, port {server_port})" if service else ""
        parts.append(
            f"**TCP** from {src}:{facts.get('sport')} to {dst}:{facts.get('dport')}{where}. "
            f"Flags [{', '.join(flags) or 'none'}]: {_tcp_story(flags)}."
        )
    elif proto == "UDP":
        where = f" (**{service}**)" if service else ""
        parts.append(
            f"**UDP** datagram from {src}:{facts.get('sport')} to "
            f"{dst}:{facts.get('dport')}{where}, {facts.get('paylen', '?')} payload bytes. "
            "UDP has no connection: each datagram stands alone."
        )
    elif proto in ("ICMP", "ICMPv6") and "icmp_type" in facts:
        version = 6 if proto == "ICMPv6" else 4
        meaning = names.icmp_description(version, facts["icmp_type"], facts.get("icmp_code", 0))
        text = f"**{proto} {meaning}** from {src} to {dst}."
        if version == 4 and facts["icmp_type"] == 3:
            text += (
                " A router or the destination says the packet could not be delivered; "
                "the quoted original packet tells which one."
            )
            if facts.get("icmp_code") == 3:
                text += " *Port unreachable*: nothing listens on that UDP port."
        elif version == 4 and facts["icmp_type"] in (0, 8):
            text += " This is ping: a reachability and round-trip-time check."
        elif version == 4 and facts["icmp_type"] == 11:
            text += " A router dropped a packet whose TTL ran out (traceroute relies on this)."
        elif version == 6 and facts["icmp_type"] in (135, 136):
            text += " IPv6's replacement for ARP: finding a neighbour's link-layer address."
        parts.append(text)
    elif proto:
        parts.append(f"A **{proto}** packet" + (f" from {src} to {dst}" if src else "") + ".")
    else:
        parts.append("A frame netlab could not decode beyond its link layer.")

    if "dns_qname" in facts:
        summary = str(facts.get("summary", ""))
        kind = "an answer" if "response" in summary else "a question"
        detail = f" ({summary})" if summary else ""
        parts.append(f"**DNS**: {kind} about `{facts['dns_qname']}`{detail}.")
    if "tls_sni" in facts:
        parts.append(
            f"**TLS ClientHello** for `{facts['tls_sni']}`: the start of an encrypted "
            "session; the server name travels in clear text, so this shows which site "
            "is being visited, not what is exchanged."
        )
    if "http_host" in facts:
        request = facts.get("summary") or facts.get("info") or ""
        parts.append(
            f"**Plain-text HTTP** request to `{facts['http_host']}`: `{request}`. "
            "Anything in it (cookies, forms) is readable on the network."
        )

    hints = _hints(facts)
    if hints:
        parts.append("**Worth a look:** " + " ".join(hints))
    return "\n\n".join(parts)


def _hints(facts: Mapping[str, Any]) -> list[str]:
    hints: list[str] = []
    ttl = facts.get("ttl")
    if ttl is not None and int(ttl) <= 1 and facts.get("proto") not in ("ICMPv6",):
        hints.append(
            f"TTL {ttl}: the packet dies at the next router (traceroute, or a "
            "misconfigured sender)."
        )
    flags = set(facts.get("tcp_flag_names", []))
    if "tcp_flag_names" in facts and (
        not flags
        or {"SYN", "FIN"} <= flags
        or ({"FIN", "PSH", "URG"} <= flags and "ACK" not in flags)
    ):
        hints.append("Flag combinations like this come from port scanners (nmap -sN/-sX/-sF).")
    for key in ("sport", "dport"):
        port = facts.get(key)
        if port in (23, 445, 3389, 5900) and key == "dport":
            hints.append(
                f"Port {port} ({_port_name(port)}) is a frequent target of attacks when exposed."
            )
    if facts.get("proto") == "TCP" and facts.get("dport") == 80 and "http_host" in facts:
        hints.append("Unencrypted HTTP.")
    return hints


def alert_messages(alert: Mapping[str, Any]) -> list[dict[str, str]]:
    """Chat messages for explaining an alert (its dict form) with its evidence."""
    lines = ["Explain this network alert and suggest what to check next.", ""]
    lines += [f"- {k}: {v}" for k, v in alert.items() if k != "context"]
    context = alert.get("context") or {}
    if context:
        lines += ["", "Traffic in the alert window:"] + [f"- {k}: {v}" for k, v in context.items()]
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def offline_alert_explanation(alert: Mapping[str, Any]) -> str:
    """What an alert means and what to look at next, from its own evidence."""
    detector = alert.get("detector")
    context = alert.get("context") or {}
    talkers = context.get("top_talkers") or []
    top = ", ".join(f"{t['address']} ({t['packets']} packets)" for t in talkers[:3])
    text = [f"**{alert.get('severity', 'warning').capitalize()}**: {alert.get('message', '')}"]
    if detector == "rate":
        text.append(
            "The packet rate left its recent normal range by more than the z-score "
            "threshold. Bursts come from backups, updates and streaming, but also from "
            "floods and misbehaving clients."
        )
        if top:
            text.append(
                f"Most traffic in that second came from or went to: {top}. Check "
                "whether that host is expected to send this much."
            )
    elif detector == "portscan":
        text.append(
            "One source probed many ports in a short time, the signature of a port "
            "scan (e.g. nmap). Inside your network it may be an inventory tool; from "
            "outside it is reconnaissance. Check the source's owner and which ports "
            "answered (SYN-ACK means open)."
        )
    elif detector == "synflood":
        text.append(
            "Many connections were opened and never completed: a SYN flood tries to "
            "exhaust a server's pending-connection table. SYN cookies and rate limits "
            "on the firewall mitigate it; check whether the sources are spoofed."
        )
    elif detector == "newtalker":
        text.append(
            "An address appeared that was not seen in the last hour. New devices, "
            "VPN clients and DHCP changes do this; so do intruders. Check who owns it."
        )
    elif top:
        text.append(f"Busiest hosts in the window: {top}.")
    return "\n\n".join(text)
