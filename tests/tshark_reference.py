"""Compare netlab's rows with tshark's reference tables (tests/data/corpus/expected)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import netlab
import netlab.core.names
import netlab.core.schema

CORPUS = Path(__file__).parent / "data" / "corpus"
FIELDS = (
    "ts",
    "length",
    "caplen",
    "ip_version",
    "src",
    "dst",
    "proto",
    "sport",
    "dport",
    "tcp_flags",
    "ttl",
    "vlan",
    "dns_qname",
    "tls_sni",
    "http_host",
)
# tshark prints nonsense times for sub-second fields out of range (see corpus README); these
# files are compared on the raw record-header values instead, which read_pcap keeps.
RAW_TIME_FILES = {
    "tcpdump__timestamp_invalid_micro.pcap",
    "tcpdump__timestamp_invalid_nano.pcap",
    "ndpi__fuzz-2021-10-13.pcap",
}


def _first(cell: str) -> str:
    return cell.split(",")[0] if cell else ""


def expected_rows(tsv: Path) -> list[dict[str, str]]:
    """tshark's rows for one capture, reduced to netlab's per-frame semantics."""
    df = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    rows = []
    for r in df.to_dict("records"):
        if r["_ws.col.Protocol"] == "PCAPNG" and not r["frame.time_epoch"]:
            continue  # tshark 4.0 shows pcapng custom blocks as pseudo-frames
        v4, v6 = bool(r["ip.src"]), bool(r["ipv6.src"])
        ip_proto, ip6_nxt = _first(r["ip.proto"]), _first(r["ipv6.nxt"])
        # Which IP header is outermost when tshark shows both: IPv6 carries IPv4 only when its
        # next header is IPIP (4); IPv4 carrying IPv6 (6in4, Teredo, GRE...) is the rest.
        outer6 = v6 and (not v4 or ip6_nxt == "4")
        out = {
            "ts": r["frame.time_epoch"],
            "length": r["frame.len"],
            "caplen": r["frame.cap_len"],
            "ip_version": "6" if outer6 else "4" if v4 else "",
            "src": _first(r["ipv6.src"] if outer6 else r["ip.src"]),
            "dst": _first(r["ipv6.dst"] if outer6 else r["ip.dst"]),
            "ttl": _first(r["ipv6.hlim"] if outer6 else r["ip.ttl"]),
            "vlan": _first(r["vlan.id"]),
            "dns_qname": _first(r["dns.qry.name"]),
            "tls_sni": r["tls.handshake.extensions_server_name"],
            "http_host": _first(r["http.host"]),
        }
        transport = ip6_nxt if outer6 else ip_proto
        if outer6 and transport in ("0", "43", "60", "44", "51"):
            transport = "?"  # the transport hides behind extension headers tshark does not name
        # Without an IP header tshark has no protocol number; netlab names the EtherType
        # (ARP, LLDP...) there, so only frames with IP are compared.
        out["proto"] = transport if out["ip_version"] else "?"
        # Ports and flags belong to the outermost transport only (tshark also lists the ones
        # of tunnelled packets and of packets quoted inside ICMP errors, after the outer ones).
        tcp, udp = transport == "6", transport == "17"
        sport = r["tcp.srcport"] if tcp else r["udp.srcport"] if udp else ""
        dport = r["tcp.dstport"] if tcp else r["udp.dstport"] if udp else ""
        out["sport"], out["dport"] = _first(sport), _first(dport)
        out["tcp_flags"] = str(int(_first(r["tcp.flags"]), 16)) if tcp and r["tcp.flags"] else ""
        if transport not in ("6", "17"):
            # Like ports, the application fields are read from the outermost transport only;
            # tshark also reads them inside tunnels and ICMP errors.
            for name in ("dns_qname", "tls_sni", "http_host"):
                out[name] = "?" if out[name] else ""
        if out["ts"] and int(out["ts"].split(".")[0]) > 9_223_372_036:
            out["ts"] = "?"  # beyond datetime64[ns] (year 2262): a corrupt time, shown as NaT
        if transport in ("132", "?"):
            out["sport"] = out["dport"] = out["proto"] = "?"  # not compared
        rows.append(out)
    return rows


def _ours(row: dict[str, object], name: str) -> str:
    value = row[name]
    if value is pd.NaT:
        return ""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if name == "ts":
        assert isinstance(value, pd.Timestamp)
        return str(value.value)
    if name == "proto":
        return str({v: k for k, v in netlab.core.names.IP_PROTOCOLS.items()}.get(str(value), value))
    return str(value)


def _same_time(ours: str, theirs: str, raw: bool) -> bool:
    if not theirs:
        return ours == ""
    if not ours:
        return False
    if raw:
        return True  # checked against the record headers in test_decode instead
    sec, _, frac = theirs.partition(".")
    ref = int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])
    return abs(int(ours) - ref) < 1_000


@dataclass
class Report:
    """Agreement per field over the corpus, with the mismatches to show."""

    cells: dict[str, int] = field(default_factory=dict)
    agree: dict[str, int] = field(default_factory=dict)
    mismatches: dict[str, list[str]] = field(default_factory=dict)
    row_count_problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        cells = sum(self.cells.values())
        return sum(self.agree.values()) / cells if cells else 1.0

    def ratio(self, name: str) -> float:
        return self.agree.get(name, 0) / self.cells[name] if self.cells.get(name) else 1.0

    def text(self, limit: int = 8) -> str:
        lines = [f"overall agreement {self.total:.4%} over {sum(self.cells.values())} cells"]
        for name in FIELDS:
            bad = self.cells.get(name, 0) - self.agree.get(name, 0)
            lines.append(f"  {name:10} {self.ratio(name):8.4%}  ({bad} mismatches)")
            lines += [f"      {m}" for m in self.mismatches.get(name, [])[:limit]]
        lines += self.row_count_problems
        return "\n".join(lines)


def compare_corpus(files: list[Path] | None = None) -> Report:
    """Run read_pcap over the corpus and compare every field with tshark's table."""
    report = Report()
    for path in files or sorted(p for p in CORPUS.iterdir() if p.suffix in (".pcap", ".pcapng")):
        expected = expected_rows(CORPUS / "expected" / f"{path.name}.tsv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", netlab.NetlabWarning)
            try:
                df = netlab.read_pcap(path)
            except netlab.CaptureFileError:
                df = netlab.core.batch.empty_frame()
        ours = df.to_dict("records")
        if len(ours) < len(expected):
            report.row_count_problems.append(
                f"{path.name}: {len(ours)} rows, tshark has {len(expected)}"
            )
        for k, exp in enumerate(expected):
            row = ours[k] if k < len(ours) else None
            for name in FIELDS:
                theirs = exp[name]
                if theirs == "?":
                    continue
                mine = _ours(row, name) if row is not None else "<missing row>"
                if name == "ts":
                    ok = _same_time(mine, theirs, path.name in RAW_TIME_FILES)
                else:
                    ok = mine == theirs
                report.cells[name] = report.cells.get(name, 0) + 1
                if ok:
                    report.agree[name] = report.agree.get(name, 0) + 1
                else:
                    report.mismatches.setdefault(name, []).append(
                        f"{path.name} #{k + 1}: netlab {mine!r} tshark {theirs!r}"
                    )
    return report


if __name__ == "__main__":
    print(compare_corpus().text(limit=40))
