"""Summaries of a frame: top talkers, conversations, protocol mix (plain pandas)."""

from __future__ import annotations

import pandas as pd


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
    """Bidirectional conversations (address/port pairs per protocol), busiest first."""
    cols = ["a", "port_a", "b", "port_b", "proto", "packets", "bytes", "first", "last"]
    ip = df[df["src"].notna() & df["dst"].notna()]
    if ip.empty:
        return pd.DataFrame({c: [] for c in cols})
    src, dst = ip["src"].astype(str), ip["dst"].astype(str)
    sport = ip["sport"].astype("Int64").fillna(-1)
    dport = ip["dport"].astype("Int64").fillna(-1)
    forward = (src < dst) | ((src == dst) & (sport <= dport))
    table = pd.DataFrame(
        {
            "a": src.where(forward, dst),
            "port_a": sport.where(forward, dport),
            "b": dst.where(forward, src),
            "port_b": dport.where(forward, sport),
            "proto": ip["proto"].astype(str),
            "length": ip["length"],
            "ts": ip["ts"],
        }
    )
    grouped = table.groupby(["a", "port_a", "b", "port_b", "proto"], sort=False).agg(
        packets=("length", "size"), bytes=("length", "sum"), first=("ts", "min"), last=("ts", "max")
    )
    out = grouped.reset_index().sort_values(["bytes", "packets"], ascending=False)
    for port in ("port_a", "port_b"):
        out[port] = out[port].astype("Int64").mask(out[port] == -1)
    out = out.reset_index(drop=True)
    return out.head(n) if n else out


def protocol_mix(df: pd.DataFrame) -> pd.DataFrame:
    """Packets and bytes per protocol, biggest first."""
    proto = df["proto"].astype(str).where(df["proto"].notna(), "other")
    out = pd.DataFrame(df.groupby(proto)["length"].agg(packets="size", bytes="sum"))
    out["share"] = (out["packets"] / max(len(df), 1)).round(4)
    out = out.sort_values(by="packets", ascending=False)
    return out.rename_axis("proto").reset_index()


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
