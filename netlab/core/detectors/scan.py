"""Port scans and SYN floods, from the packets' own timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..alerts import NS, Alert, timestamp


def _pairs(rows: pd.DataFrame, a: str, b: str) -> list[tuple[str, int, int]]:
    """Distinct (a, b) pairs of the rows with the newest time of each: (a, b, ns).

    `a` is read as text and `b` as an integer column."""
    keys = pd.DataFrame(
        {"a": rows[a].astype(str), "b": rows[b].astype("int64"), "t": rows["ts"].array.asi8}
    )
    last = keys.groupby(["a", "b"], sort=False, as_index=False)["t"].max()
    return list(zip(last["a"].tolist(), last["b"].tolist(), last["t"].tolist(), strict=True))


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

    def _crossing(
        self, src: str, probes: pd.DataFrame
    ) -> tuple[int, int, int, dict[str, int]] | None:
        """(time, ports, first port's time, {host: last seen}) at the first probe of this batch
        from `src` where its distinct ports within the window reached min_ports; None if none.

        Called after the batch was counted: the state before it is rebuilt from what the
        batch changed, then its probes are replayed in time order. Only a source at or past
        the threshold gets here, so the walk is over one scanner's probes, not the traffic."""
        ports_now = self._ports.get(src, {})
        if len(ports_now) < self.min_ports:
            return None
        mine = probes[(probes["src"].astype(str) == src).to_numpy()]
        t = mine["ts"].array.asi8
        order = np.argsort(t, kind="stable")
        t = t[order]
        port_of = mine["dport"].astype("int64").to_numpy()[order]
        host_of = mine["dst"].astype(str).to_numpy()[order]
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
        flags = batch["tcp_flags"].to_numpy(dtype="int64", na_value=-1)
        syn_only = (flags >= 0) & ((flags & 0x12) == 0x02)
        udp = (batch["proto"] == "UDP").to_numpy(dtype=bool, na_value=False)
        probes = batch[(syn_only | udp) & batch["dport"].notna().to_numpy()]
        if probes.empty:
            return []
        touched: set[str] = set()
        for src, port, t in _pairs(probes, "src", "dport"):
            ports = self._ports.setdefault(src, {})
            if port not in ports:
                self._first.setdefault(src, {})[port] = t
            ports[port] = t
            touched.add(src)
        seen_hosts = (
            pd.DataFrame(
                {
                    "src": probes["src"].astype(str),
                    "dst": probes["dst"].astype(str),
                    "t": probes["ts"].array.asi8,
                }
            )
            .groupby(["src", "dst"], sort=False, as_index=False)["t"]
            .max()
        )
        for src, dst, t in zip(
            seen_hosts["src"].tolist(),
            seen_hosts["dst"].tolist(),
            seen_hosts["t"].tolist(),
            strict=True,
        ):
            self._hosts.setdefault(src, {})[dst] = t
        alerts = []
        for src in touched:
            crossing = self._crossing(src, probes)
            newest = max(self._ports[src].values())
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
        flags = batch["tcp_flags"].to_numpy(dtype="int64", na_value=-1)
        syn = batch[(flags >= 0) & ((flags & 0x12) == 0x02)]
        if len(syn):
            keys = pd.DataFrame(
                {
                    "dst": syn["dst"].astype(str),
                    "dport": syn["dport"].astype("int64"),
                    "src": syn["src"].astype(str),
                    "sport": syn["sport"].astype("int64"),
                    "t": syn["ts"].array.asi8,
                }
            )
            for dst, dport, src, sport, t in keys.itertuples(index=False):
                self._conns.setdefault((dst, dport), {}).setdefault((src, sport), [t, 0])
        if not self._conns:
            return []
        ack = batch[(flags >= 0) & ((flags & 0x16) == 0x10)]
        if len(ack):
            for dst, dport, src, sport in zip(
                ack["dst"].astype(str),
                ack["dport"].astype("int64"),
                ack["src"].astype(str),
                ack["sport"].astype("int64"),
                strict=True,
            ):
                conn = self._conns.get((dst, dport), {}).get((src, sport))
                if conn is not None:
                    conn[1] = 1
        if not len(syn):
            return []
        newest = int(batch["ts"].array.asi8.max())
        alerts = []
        for service in {
            (d, p)
            for d, p in zip(syn["dst"].astype(str), syn["dport"].astype("int64"), strict=True)
        }:
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
