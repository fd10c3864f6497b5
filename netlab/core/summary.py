"""Summaries of a frame: top talkers, conversations, protocol mix (plain pandas)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .flow_table import flows
from .linklayer import LINKTYPE_NAMES
from .services import CONTENT_SIGNS, shows_content


def top_talkers(df: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Addresses by bytes sent and received, biggest first: address, packets, bytes."""
    if df.empty:
        return pd.DataFrame({"address": [], "packets": [], "bytes": []})
    sent = df.groupby("src", observed=True)["length"].agg(["size", "sum"])
    received = df.groupby("dst", observed=True)["length"].agg(["size", "sum"])
    both = sent.add(received, fill_value=0)
    both.index = both.index.astype(str)
    both = both.groupby(level=0).sum()
    out = both.rename(columns={"size": "packets", "sum": "bytes"}).astype("int64")
    out = out.sort_values(["bytes", "packets"], ascending=False).head(n)
    return out.rename_axis("address").reset_index()


def conversations(df: pd.DataFrame, n: int | None = None) -> pd.DataFrame:
    """The flows of a frame busiest first (bytes, then packets), both directions together: a
    view of `flows()` without timeouts, for a quick look."""
    table = flows(df, idle_timeout=None, active_timeout=None)
    cols = ["flow", "proto", "src", "sport", "dst", "dport", "packets", "bytes", "first", "last"]
    if not len(table):
        return pd.DataFrame({c: [] for c in cols})
    table["packets"] = table["orig_packets"] + table["resp_packets"]
    table["bytes"] = table["orig_bytes"] + table["resp_bytes"]
    out = table.sort_values(["bytes", "packets"], ascending=False, kind="stable")[cols]
    out = out.reset_index(drop=True)
    return out.head(n) if n else out


SENSOR_COLUMNS = ("sensor", "packets", "bytes", "packets/s", "hosts", "flows", "tcp_trouble")


def sensor_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per sensor of a (merged) frame, side by side: packets, bytes, the packet rate
    over its own span of time, distinct hosts and flows, and packets TCP analysis flagged.
    Rows that name no sensor (read_pcap's) are one row, "-"."""
    if df.empty:
        return pd.DataFrame({c: [] for c in SENSOR_COLUMNS})
    sensor = df["sensor"].astype(object).fillna("-") if "sensor" in df else "-"
    work = pd.DataFrame(
        {
            "sensor": sensor,
            "ts": df["ts"].array.asi8,
            "length": df["length"].to_numpy(dtype=np.int64),
            "flow": df["flow"].astype("Int64") if "flow" in df else pd.NA,
            "trouble": (df["tcp_analysis"].to_numpy(dtype=np.int64) != 0)
            if "tcp_analysis" in df
            else False,
        }
    )
    groups = work.groupby("sensor", sort=True)
    out = groups.agg(
        packets=("length", "size"),
        bytes=("length", "sum"),
        first=("ts", "min"),
        last=("ts", "max"),
        flows=("flow", "nunique"),
        tcp_trouble=("trouble", "sum"),
    )
    span = (out["last"] - out["first"]) / 1e9
    out["packets/s"] = np.where(span > 0, out["packets"] / span.where(span > 0, 1), 0.0).round(1)
    addresses = pd.concat(
        [
            pd.DataFrame({"sensor": sensor, "host": df["src"].astype(object)}),
            pd.DataFrame({"sensor": sensor, "host": df["dst"].astype(object)}),
        ]
    ).dropna()
    out["hosts"] = addresses.groupby("sensor")["host"].nunique().reindex(out.index).fillna(0)
    out = out.reset_index()
    return out[list(SENSOR_COLUMNS)].astype(
        {"packets": "int64", "bytes": "int64", "hosts": "int64", "flows": "int64"}
    )


def protocol_mix(df: pd.DataFrame) -> pd.DataFrame:
    """Packets and bytes per protocol, biggest first."""
    proto = df["proto"].astype(str).where(df["proto"].notna(), "other")
    out = pd.DataFrame(df.groupby(proto)["length"].agg(packets="size", bytes="sum"))
    out["share"] = (out["packets"] / max(len(df), 1)).round(4)
    out = out.sort_values(by="packets", ascending=False)
    return out.rename_axis("proto").reset_index()


def protocol_hierarchy(df: pd.DataFrame) -> pd.DataFrame:
    """Packets and bytes per protocol path, as Wireshark's Statistics > Protocol Hierarchy:
    link, network, transport and (from the packet's content) application, one row per path
    prefix in tree order (biggest branch first), with its share of all packets.

    Columns: path ("Ethernet/IPv4/UDP/DNS"), protocol (the last part), depth (0 for the link),
    packets, bytes, share."""
    cols = ["path", "protocol", "depth", "packets", "bytes", "share"]
    if df.empty:
        return pd.DataFrame({c: [] for c in cols})
    levels = _protocol_levels(df)
    length = df["length"].to_numpy(dtype=np.int64)
    parts, path = [], None
    for depth, level in enumerate(levels):
        path = level if path is None else path.where(level.isna(), path + "/" + level)
        known = level.notna().to_numpy()
        grouped = (
            pd.DataFrame({"path": path[known], "bytes": length[known]})
            .groupby("path", sort=False)["bytes"]
            .agg(packets="size", bytes="sum")
            .reset_index()
        )
        grouped["depth"] = depth
        parts.append(grouped)
    table = pd.concat(parts, ignore_index=True)
    table["protocol"] = table["path"].str.rsplit("/", n=1).str[-1]
    table["share"] = (table["packets"] / len(df)).round(4)
    # tree order: each row after its parent, siblings biggest first
    weight = dict(zip(table["path"], table["packets"], strict=True))

    def key(path: str) -> list[tuple[int, str]]:
        prefix = path.split("/")
        return [(-weight["/".join(prefix[: i + 1])], p) for i, p in enumerate(prefix)]

    paths = [str(p) for p in table["path"].tolist()]
    order = sorted(range(len(table)), key=lambda i: key(paths[i]))
    out = table.iloc[order].reset_index(drop=True)
    out[["depth", "packets", "bytes"]] = out[["depth", "packets", "bytes"]].astype("int64")
    return out[cols]


def _protocol_levels(df: pd.DataFrame) -> list[pd.Series]:
    """Per packet: link, network, transport, application names (missing where none)."""
    index = df.index
    link = df["linktype"].map(lambda t: LINKTYPE_NAMES.get(int(t), f"link {int(t)}"))
    version = df["ip_version"]
    proto = df["proto"].astype(object)
    network = pd.Series(None, index=index, dtype="object")
    network[(version == 4).to_numpy(dtype=bool, na_value=False)] = "IPv4"
    network[(version == 6).to_numpy(dtype=bool, na_value=False)] = "IPv6"
    # not IP: the decoder's name for what the link carries (ARP, LLC, ...), when it has one
    network = network.where(network.notna() | version.notna(), proto)
    transport = proto.where(version.notna())
    app = pd.Series(None, index=index, dtype="object")
    for name in CONTENT_SIGNS:
        app = app.where(~shows_content(df, name), name.upper())
    app = app.where(transport.notna())
    return [link.astype(object), network, transport, app]


def describe_capture(df: pd.DataFrame) -> str:
    """A few lines a person reads first: size, time span, rates, protocols, talkers, names."""
    if df.empty:
        return "no packets"
    span = (df["ts"].max() - df["ts"].min()).total_seconds() if df["ts"].notna().any() else 0.0
    rate = len(df) / span if span > 0 else float("nan")
    lines = [
        f"{len(df):,} packets, {int(df['length'].sum()):,} bytes over {span:,.1f} s "
        f"({rate:,.0f} packets/s)",
        f"from {df['ts'].min()} to {df['ts'].max()}",
        "",
        "Protocols:",
        protocol_mix(df).head(8).to_string(index=False),
        "",
        "Top talkers:",
        top_talkers(df, 5).to_string(index=False),
        "",
        "Busiest conversations:",
        conversations(df, 5).drop(columns=["first", "last"]).to_string(index=False),
    ]
    for name, title in (
        ("dns_qname", "DNS names"),
        ("tls_sni", "TLS server names"),
        ("http_host", "HTTP hosts"),
    ):
        counts = df[name].value_counts().head(5)
        if len(counts):
            lines += ["", f"Top {title}:", counts.to_string()]
    return "\n".join(lines)
