"""The rows a live flow table hands out: its columns as `flows()` gives them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from .flow_table import FLOW_COLUMNS, Timeout, typed
from .services import port_services
from .slots import Slots
from .zeek_state import LETTERS, conn_state

I64 = npt.NDArray[np.int64]


def flow_rows(t: Slots, slots: I64) -> pd.DataFrame:
    """The tracker's flows in `slots` as `flows()` rows (`t`: its columns, the TCP analysis
    context among them, for the handshake RTT)."""
    bits = 1 << np.arange(2 * len(LETTERS))
    seen = (t["seen"][slots][:, None] & bits) != 0
    is_tcp = t["proto"][slots] == "TCP"
    rtt_ns = np.where(t["has_flow"][slots], t["f_rtt"][slots], 0)
    rtt = np.where(rtt_ns > 0, rtt_ns / 1e9, np.nan)
    sport, dport = t["sport"][slots], t["dport"][slots]
    guess = port_services(sport, dport)
    service = np.where(t["content"][slots], t["service"][slots], guess)
    first, last = t["first"][slots], t["last"][slots]
    table = pd.DataFrame(
        {
            "flow": t["id"][slots],
            "part": np.zeros(len(slots), dtype=np.int64),
            "proto": t["proto"][slots],
            "src": t["src"][slots],
            "sport": _ports(sport),
            "dst": t["dst"][slots],
            "dport": _ports(dport),
            "first": pd.to_datetime(first, utc=True),
            "last": pd.to_datetime(last, utc=True),
            "duration": (last - first) / 1e9,
            "orig_packets": _count(t, "pk0", slots),
            "orig_bytes": t["by0"][slots],
            "resp_packets": _count(t, "pk1", slots),
            "resp_bytes": t["by1"][slots],
            "orig_payload": t["pay0"][slots],
            "resp_payload": t["pay1"][slots],
            "state": conn_state(seen, is_tcp, _count(t, "pk1", slots) > 0),
            "history": t["history"][slots],
            "rtt": rtt,
            "retransmissions": _count(t, "retrans", slots),
            "out_of_order": _count(t, "ooo", slots),
            "dup_acks": _count(t, "dup", slots),
            "zero_windows": _count(t, "zw", slots),
            "service": service,
            "server_name": t["server_name"][slots],
            "community_id": t["community_id"][slots],
            "sensor": t["sensor"][slots],
        },
        columns=list(FLOW_COLUMNS),
    )
    return typed(table)


def _count(t: Slots, name: str, slots: I64) -> I64:
    """A counter column at `slots`, as int64 like `flows()` gives it (stored narrower)."""
    return t[name][slots].astype(np.int64)


def _ports(values: I64) -> pd.arrays.IntegerArray:
    """Port numbers (-1: none) as a UInt16 array."""
    return pd.arrays.IntegerArray(np.maximum(values, 0).astype(np.uint16), values < 0)


def timeouts(
    timeout: Timeout, codes: I64, names: Sequence[str], rows: I64
) -> npt.NDArray[np.float64]:
    """The idle timeout in seconds of the flows whose protocols are the texts at `rows` of a
    text column (`codes` into `names`), looked up once per name."""
    if timeout is None:
        return np.full(len(rows), np.inf)
    if not isinstance(timeout, Mapping):
        return np.full(len(rows), float(timeout))
    default = float(timeout.get("*", np.inf))
    used, inverse = np.unique(codes[rows], return_inverse=True)
    table = [float(timeout.get(str(names[k]), default)) if k >= 0 else default for k in used]
    return np.asarray(table, dtype=np.float64)[inverse.reshape(-1)]
