"""Names for numbers: IP protocols, EtherTypes, TCP flags, ICMP types, well-known ports."""

from __future__ import annotations

IP_PROTOCOLS = {
    0: "HOPOPT",
    1: "ICMP",
    2: "IGMP",
    4: "IPIP",
    6: "TCP",
    17: "UDP",
    41: "IPv6",
    43: "IPv6-Route",
    44: "IPv6-Frag",
    46: "RSVP",
    47: "GRE",
    50: "ESP",
    51: "AH",
    58: "ICMPv6",
    59: "IPv6-NoNxt",
    60: "IPv6-Opts",
    88: "EIGRP",
    89: "OSPF",
    103: "PIM",
    112: "VRRP",
    115: "L2TP",
    132: "SCTP",
    136: "UDPLite",
}

ETHERTYPES = {
    0x0800: "IPv4",
    0x0806: "ARP",
    0x8035: "RARP",
    0x86DD: "IPv6",
    0x8100: "802.1Q",
    0x8847: "MPLS",
    0x8848: "MPLS",
    0x8863: "PPPoE-Discovery",
    0x8864: "PPPoE",
    0x888E: "EAPOL",
    0x88CC: "LLDP",
    0x88E5: "MACsec",
    0x88F7: "PTP",
    0x8809: "Slow-Protocols",
    0x9000: "Loopback",
    0x2000: "CDP",
    -2: "LLC",
}

TCP_FLAG_BITS = (
    (0x001, "FIN"),
    (0x002, "SYN"),
    (0x004, "RST"),
    (0x008, "PSH"),
    (0x010, "ACK"),
    (0x020, "URG"),
    (0x040, "ECE"),
    (0x080, "CWR"),
    (0x100, "AE"),
)


def tcp_flag_names(flags: int) -> list[str]:
    """The names of the TCP flags set in `flags`, in Wireshark's order (SYN, ACK first)."""
    order = ("SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE")
    present = {name for bit, name in TCP_FLAG_BITS if flags & bit}
    return [name for name in order if name in present]


ICMP_TYPES = {
    0: "Echo (ping) reply",
    3: "Destination unreachable",
    4: "Source quench",
    5: "Redirect",
    8: "Echo (ping) request",
    9: "Router advertisement",
    10: "Router solicitation",
    11: "Time-to-live exceeded",
    12: "Parameter problem",
    13: "Timestamp request",
    14: "Timestamp reply",
}

ICMP_UNREACHABLE_CODES = {
    0: "Network unreachable",
    1: "Host unreachable",
    2: "Protocol unreachable",
    3: "Port unreachable",
    4: "Fragmentation needed",
    5: "Source route failed",
    9: "Network administratively prohibited",
    10: "Host administratively prohibited",
    13: "Communication administratively filtered",
}

ICMPV6_TYPES = {
    1: "Destination unreachable",
    2: "Packet too big",
    3: "Time exceeded",
    4: "Parameter problem",
    128: "Echo (ping) request",
    129: "Echo (ping) reply",
    130: "Multicast listener query",
    131: "Multicast listener report",
    133: "Router solicitation",
    134: "Router advertisement",
    135: "Neighbor solicitation",
    136: "Neighbor advertisement",
    137: "Redirect",
    143: "Multicast listener report v2",
}

SERVICES = {
    20: "FTP data",
    21: "FTP",
    22: "SSH",
    23: "Telnet",
    25: "SMTP",
    53: "DNS",
    67: "DHCP server",
    68: "DHCP client",
    69: "TFTP",
    80: "HTTP",
    110: "POP3",
    123: "NTP",
    137: "NetBIOS name",
    138: "NetBIOS datagram",
    139: "NetBIOS session",
    143: "IMAP",
    161: "SNMP",
    162: "SNMP trap",
    179: "BGP",
    389: "LDAP",
    443: "HTTPS",
    445: "SMB",
    465: "SMTPS",
    500: "IKE",
    514: "Syslog",
    546: "DHCPv6 client",
    547: "DHCPv6 server",
    587: "SMTP submission",
    636: "LDAPS",
    853: "DNS over TLS",
    993: "IMAPS",
    995: "POP3S",
    1194: "OpenVPN",
    1433: "MS SQL",
    1812: "RADIUS",
    1900: "SSDP",
    2049: "NFS",
    3306: "MySQL",
    3389: "RDP",
    3544: "Teredo",
    4789: "VXLAN",
    5060: "SIP",
    5353: "mDNS",
    5355: "LLMNR",
    5432: "PostgreSQL",
    5900: "VNC",
    6379: "Redis",
    6443: "Kubernetes API",
    8080: "HTTP alternate",
    8443: "HTTPS alternate",
    9200: "Elasticsearch",
    27017: "MongoDB",
}


def proto_name(number: int) -> str:
    """The name of an IP protocol number, or the number as text."""
    return IP_PROTOCOLS.get(number, str(number))


def ethertype_name(ethertype: int) -> str:
    """The name of an EtherType, or its hex value."""
    return ETHERTYPES.get(ethertype, f"0x{ethertype & 0xFFFF:04x}")


def icmp_description(version: int, icmp_type: int, code: int) -> str:
    """Wireshark-like words for an ICMP (version 4) or ICMPv6 (version 6) type and code."""
    if version == 6:
        return ICMPV6_TYPES.get(icmp_type, f"ICMPv6 type {icmp_type} code {code}")
    text = ICMP_TYPES.get(icmp_type, f"ICMP type {icmp_type} code {code}")
    if icmp_type == 3:
        text += f" ({ICMP_UNREACHABLE_CODES.get(code, f'code {code}')})"
    return text
