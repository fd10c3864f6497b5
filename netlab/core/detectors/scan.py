"""Port scans and SYN floods, from the packets' own timestamps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..alerts import NS, Alert, timestamp
from ..columns import Columns, columns

I64 = npt.NDArray[np.int64]


@dataclass
class _Rows:
    """The columns a scan detector reads, as arrays (text as codes into `*_texts`); built
    once per batch without copying the batch's other columns."""

    src: I64
    src_texts: Sequence[str]
    dst: I64
    dst_texts: Sequence[str]
    sport: I64
    dport: I64
    t: I64

    @classmethod
    def of(cls, cols: Columns, keep: npt.NDArray[np.bool_]) -> _Rows:
        src, src_texts = cols.text("src")
        dst, dst_texts = cols.text("dst")
        sport, dport = cols.ints("sport"), cols.ints("dport")
        keep = keep & (src >= 0) & (dst >= 0) & (dport >= 0)
        t = cols.ints("ts")
        return cls(src[keep], src_texts, dst[keep], dst_texts, sport[keep], dport[keep], t[keep])

    def __len__(self) -> int:
        return len(self.t)

    @cached_property
    def src_code(self) -> dict[str, int]:
        """The code of each source text."""
        return {text: k for k, text in enumerate(self.src_texts)}


def _last_of(keys: I64, t: I64) -> I64:
    """The position of the newest row of each distinct key."""
    order = np.lexsort((t, keys))
    k = keys[order]
    return order[np.r_[k[1:] != k[:-1], True]]


def _first_of(keys: I64) -> I64:
    """The position of the first row (in row order) of each distinct key."""
    return np.unique(keys, return_index=True)[1]


class PortScanDetector:
    """One source probing many ports (TCP SYNs, UDP) within `window` seconds.

    Counts are kept per source as {port: last seen}, updated only with each batch's probes,
    so the cost follows the probes, not the traffic.
    """

    def __init__(
        self,
        window: float = 10.0,
        min_ports: int = 100,
        cooldown: float = 60.0,
        name: str = "portscan",
    ) -> None:
        self.name = name
        self.min_ports = min_ports
        self.window_ns = int(window * NS)
        self.cooldown_ns = int(cooldown * NS)
        self._ports: dict[str, dict[int, int]] = {}
        self._hosts: dict[str, dict[str, int]] = {}
        self._first: dict[str, dict[int, int]] = {}
        self._last_alert: dict[str, int] = {}

    def _crossing(self, src: str, probes: _Rows) -> tuple[int, int, int, dict[str, int]] | None:
        """(time, ports, first port's time, {host: last seen}) at the first probe of this batch
        from `src` where its distinct ports within the window reached min_ports; None if none.

        Called after the batch was counted: the state before it is rebuilt from what the
        batch changed, then its probes are replayed in time order. Only a source at or past
        the threshold gets here, so the walk is over one scanner's probes, not the traffic."""
        ports_now = self._ports.get(src, {})
        if len(ports_now) < self.min_ports:
            return None
        mine = np.flatnonzero(probes.src == probes.src_code[src])
        order = mine[np.argsort(probes.t[mine], kind="stable")]
        t = probes.t[order]
        port_of = probes.dport[order]
        host_of = np.asarray(probes.dst_texts, dtype=object)[probes.dst[order]]
        batch_start = int(t[0])
        # ports and hosts as they were before this batch (last seen before it)
        before = {p: v for p, v in self._first.get(src, {}).items() if v < batch_start}
        ports = {p: v for p, v in ports_now.items() if p in before}
        firsts = dict(before)
        hosts = {h: v for h, v in self._hosts.get(src, {}).items() if v < batch_start}
        for when, port, host in zip(t.tolist(), port_of.tolist(), host_of.tolist(), strict=True):
            if port not in ports or ports[port] < when - self.window_ns:
                firsts[port] = when
            ports[port] = when
            hosts[host] = when
            if len(ports) < self.min_ports:
                continue
            cutoff = when - self.window_ns
            live = [p for p, v in ports.items() if v >= cutoff]
            if len(live) >= self.min_ports:
                first = min(firsts[p] for p in live)
                seen = {h: v for h, v in hosts.items() if v >= cutoff}
                return when, len(live), first, seen
        return None

    def update(self, batch: pd.DataFrame) -> list[Alert]:
        """Look for sources touching at least `min_ports` distinct ports."""
        cols = columns(batch)
        flags = cols.ints("tcp_flags")
        syn_only = (flags >= 0) & ((flags & 0x12) == 0x02)
        codes, protos = cols.text("proto")
        udp = codes == (list(protos).index("UDP") if "UDP" in protos else -2)
        # a datagram from a well-known port to an ephemeral one is a service's answer (a DNS
        # server answering a hundred clients is no scan), not a probe
        sport, dport = cols.ints("sport"), cols.ints("dport")
        answer = (sport >= 0) & (sport < 1024) & (dport >= 1024)
        probes = _Rows.of(cols, syn_only | (udp & ~answer))
        if not len(probes):
            return []
        # distinct (source, port) and (source, host) pairs, each at its newest time
        src_texts = np.asarray(probes.src_texts, dtype=object)
        dst_texts = np.asarray(probes.dst_texts, dtype=object)
        touched: set[str] = set()
        last = _last_of(probes.src * 65536 + probes.dport, probes.t)
        for src, port, t in zip(
            src_texts[probes.src[last]].tolist(),
            probes.dport[last].tolist(),
            probes.t[last].tolist(),
            strict=True,
        ):
            ports = self._ports.setdefault(src, {})
            if port not in ports:
                self._first.setdefault(src, {})[port] = t
            ports[port] = t
            touched.add(src)
        last = _last_of(probes.src * max(len(dst_texts), 1) + probes.dst, probes.t)
        for src, dst, t in zip(
            src_texts[probes.src[last]].tolist(),
            dst_texts[probes.dst[last]].tolist(),
            probes.t[last].tolist(),
            strict=True,
        ):
            self._hosts.setdefault(src, {})[dst] = t
        alerts = []
        for src in touched:
            newest = max(self._ports[src].values())
            # within its cooldown up to its newest probe, a source cannot alert: no replay
            quiet = newest - self._last_alert.get(src, -(1 << 62)) < self.cooldown_ns
            crossing = None if quiet else self._crossing(src, probes)
            cutoff = newest - self.window_ns
            ports = {p: t for p, t in self._ports[src].items() if t >= cutoff}
            self._ports[src] = ports
            self._first[src] = {p: t for p, t in self._first[src].items() if p in ports}
            hosts = {h: t for h, t in self._hosts.get(src, {}).items() if t >= cutoff}
            self._hosts[src] = hosts
            if len(ports) < self.min_ports or crossing is None:
                continue
            # Described as of the probe that reached min_ports: the same figures however
            # the rows were batched (one file at once, a replay, a live capture).
            at, n_ports, first, hosts = crossing
            if at - self._last_alert.get(src, -(1 << 62)) < self.cooldown_ns:
                continue
            self._last_alert[src] = at
            targets = sorted(hosts, key=hosts.__getitem__, reverse=True)[:3]
            message = (
                f"Port scan from {src}: {n_ports} ports on {len(hosts)} host(s) in "
                f"{(at - first) / NS:.1f} s (targets: {', '.join(targets)})"
            )
            alerts.append(
                Alert(
                    time=timestamp(first),
                    detector=self.name,
                    metric="distinct_ports",
                    value=float(n_ports),
                    severity="critical" if n_ports >= 10 * self.min_ports else "warning",
                    message=message,
                    window_start=timestamp(first),
                    window_end=timestamp(at),
                    context={"source": src, "ports": n_ports, "hosts": len(hosts)},
                )
            )
        return alerts


class SynFloodDetector:
    """Many TCP connections to one service that are opened (SYN) but never completed (ACK).

    Per destination service it remembers, for `window` seconds, the client endpoints that sent
    a SYN and whether they later sent an ACK; only SYN and ACK rows of each batch are looked at.
    """

    def __init__(
        self,
        window: float = 10.0,
        min_half_open: int = 200,
        ratio: float = 0.8,
        cooldown: float = 60.0,
        name: str = "synflood",
    ) -> None:
        self.name = name
        self.min_half_open, self.ratio = min_half_open, ratio
        self.window_ns = int(window * NS)
        self.cooldown_ns = int(cooldown * NS)
        # service -> client endpoint -> [first SYN time, completed?]
        self._conns: dict[tuple[str, int], dict[tuple[str, int], list[int]]] = {}
        self._last_alert: dict[tuple[str, int], int] = {}

    def update(self, batch: pd.DataFrame) -> list[Alert]:
        """Count half-open connections per destination service."""
        cols = columns(batch)
        flags = cols.ints("tcp_flags")
        syn = _Rows.of(cols, (flags >= 0) & ((flags & 0x12) == 0x02))
        services: set[tuple[str, int]] = set()
        for dst, dport, src, sport, t in _distinct_connections(syn):
            self._conns.setdefault((dst, dport), {}).setdefault((src, sport), [t, 0])
            services.add((dst, dport))
        if not self._conns:
            return []
        # an ACK completes its connection: each connection looked up once per batch
        ack = _Rows.of(cols, (flags >= 0) & ((flags & 0x16) == 0x10))
        for dst, dport, src, sport, _t in _distinct_connections(ack):
            conn = self._conns.get((dst, dport), {}).get((src, sport))
            if conn is not None:
                conn[1] = 1
        if not len(syn):
            return []
        newest = int(cols.ints("ts").max())
        alerts = []
        for service in services:
            conns = {
                k: v for k, v in self._conns[service].items() if v[0] >= newest - self.window_ns
            }
            self._conns[service] = conns
            half_open = sum(1 for v in conns.values() if not v[1])
            if half_open < self.min_half_open or half_open < self.ratio * len(conns):
                continue
            if newest - self._last_alert.get(service, -(1 << 62)) < self.cooldown_ns:
                continue
            self._last_alert[service] = newest
            sources = len({src for src, _ in conns})
            start = min(v[0] for v in conns.values())
            message = (
                f"SYN flood on {service[0]}:{service[1]}: {half_open} of {len(conns)} "
                f"connections never completed, from {sources} source(s)"
            )
            alerts.append(
                Alert(
                    time=timestamp(start),
                    detector=self.name,
                    metric="half_open_connections",
                    value=float(half_open),
                    severity="critical",
                    message=message,
                    window_start=timestamp(start),
                    window_end=timestamp(newest),
                    context={"target": f"{service[0]}:{service[1]}", "sources": sources},
                )
            )
        return alerts


def _distinct_connections(rows: _Rows) -> list[tuple[str, int, str, int, int]]:
    """(dst, dport, src, sport, time) of each distinct connection among `rows`, at its first
    row (in row order)."""
    if not len(rows):
        return []
    n_src = max(len(rows.src_texts), 1)
    ends = (rows.dst * 65536 + rows.dport) * n_src + rows.src  # < 2**63 for any real batch
    at = _first_of(pd.factorize(ends)[0] * 65536 + np.maximum(rows.sport, 0))
    dst = np.asarray(rows.dst_texts, dtype=object)[rows.dst[at]]
    src = np.asarray(rows.src_texts, dtype=object)[rows.src[at]]
    return list(
        zip(
            dst.tolist(),
            rows.dport[at].tolist(),
            src.tolist(),
            rows.sport[at].tolist(),
            rows.t[at].tolist(),
            strict=True,
        )
    )
