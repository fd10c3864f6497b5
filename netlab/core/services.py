"""What a flow is (dns, http, tls, ssh, ...): from its content first, its ports second."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from .app.payload import HTTP_METHODS
from .columns import Columns, columns, starts_with

# the service a well-known server port suggests (IANA names, as Zeek logs them where it can)
PORTS: dict[int, str] = {
    20: "ftp-data",
    21: "ftp",
    22: "ssh",
    23: "telnet",
    25: "smtp",
    53: "dns",
    67: "dhcp",
    68: "dhcp",
    69: "tftp",
    80: "http",
    88: "krb",
    110: "pop3",
    123: "ntp",
    137: "netbios-ns",
    138: "netbios-dgm",
    139: "netbios-ssn",
    143: "imap",
    161: "snmp",
    162: "snmp",
    179: "bgp",
    389: "ldap",
    443: "tls",
    445: "smb",
    465: "smtp",
    514: "syslog",
    587: "smtp",
    636: "ldap",
    853: "dns",
    993: "imap",
    995: "pop3",
    1194: "openvpn",
    1433: "mssql",
    1812: "radius",
    1883: "mqtt",
    1900: "ssdp",
    2049: "nfs",
    3306: "mysql",
    3389: "rdp",
    3478: "stun",
    5060: "sip",
    5353: "dns",
    5355: "dns",
    5432: "postgresql",
    5671: "amqp",
    5672: "amqp",
    6379: "redis",
    6443: "tls",
    8080: "http",
    8443: "tls",
    8883: "mqtt",
    9200: "http",
    11211: "memcached",
    27017: "mongodb",
}


# What shows a packet's service: a column of its own that is set, or a summary starting so
# (a DNS message, an HTTP request, a TLS ClientHello). Flows and display filters read this.
CONTENT_SIGNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dns": ("dns_qname", ("Standard query",)),
    "http": ("http_host", tuple(m.decode() for m in HTTP_METHODS)),
    "tls": ("tls_sni", ("Client Hello",)),
}


def shows_content(data: pd.DataFrame | Columns, service: str) -> npt.NDArray[np.bool_]:
    """Which rows show `service` (a key of CONTENT_SIGNS) by their content."""
    cols = columns(data)
    column, starts = CONTENT_SIGNS[service]
    shows: npt.NDArray[np.bool_] = cols.text(column)[0] >= 0
    return shows | starts_with(cols, "summary", starts)


def content_services(
    data: pd.DataFrame | Columns, f: npt.NDArray[np.int64], count: int
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    """Per flow, the service its packets show (a TLS ClientHello, an HTTP request, a DNS
    message; None), and whether they showed one."""
    cols = columns(data)
    out = np.full(count, None, dtype=object)
    found = np.zeros(count, dtype=bool)
    for name in CONTENT_SIGNS:  # later ones win: a TLS flow may have DNS-like bytes
        rows = np.flatnonzero(shows_content(cols, name))
        out[f[rows]] = name
        found[f[rows]] = True
    return out, found


def port_services(
    sport: npt.NDArray[np.int64], dport: npt.NDArray[np.int64]
) -> npt.NDArray[np.object_]:
    """The service the responder's port suggests, else the originator's (None)."""
    by_port = pd.Series(dport).map(PORTS)
    return by_port.where(by_port.notna(), pd.Series(sport).map(PORTS)).to_numpy(dtype=object)


def services(
    sub: pd.DataFrame | Columns,
    f: npt.NDArray[np.int64],
    count: int,
    sport: npt.NDArray[np.int64],
    dport: npt.NDArray[np.int64],
) -> npt.NDArray[np.object_]:
    """Per flow: the service its packets show, else the one its ports suggest; None."""
    shown, found = content_services(sub, f, count)
    return np.where(found, shown, port_services(sport, dport))
