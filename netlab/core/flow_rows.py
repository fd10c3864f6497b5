"""The rows a live flow table hands out: its columns as `flows()` gives them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from .flow_table import FLOW_COLUMNS, Timeout, typed
from .services import port_services
from .tcp_context import Context
from .zeek_state import LETTERS, conn_state

I64 = npt.NDArray[np.int64]


def flow_rows(
    t: dict[str, npt.NDArray[np.int64]],
    o: dict[str, npt.NDArray[np.object_]],
    context: Context,
    slots: I64,
) -> pd.DataFrame:
    """The tracker's flows in `slots` as `flows()` rows (`t`, `o`: its number and object
    columns; `context`: the TCP analysis state, for the handshake RTT)."""
    bits = 1 << np.arange(2 * len(LETTERS))
    seen = (t["seen"][slots][:, None] & bits) != 0
    is_tcp = o["proto"][slots] == "TCP"
    rtt = np.full(len(slots), np.nan)
    fl = context.flows
    at = np.searchsorted(fl.key, t["id"][slots])
    known = np.zeros(len(slots), dtype=bool)
    if len(fl):
        ok = (at < len(fl)) & (fl.key[np.minimum(at, len(fl) - 1)] == t["id"][slots])
        known[ok] = fl.rtt[at[ok]] > 0
    rtt[known] = fl.rtt[at[known]] / 1e9
    sport = pd.Series(o["sport"][slots], dtype=object).astype("UInt16")
    dport = pd.Series(o["dport"][slots], dtype=object).astype("UInt16")
    guess = port_services(
        np.asarray(sport.to_numpy(dtype=np.int64, na_value=-1)),
        np.asarray(dport.to_numpy(dtype=np.int64, na_value=-1)),
    )
    service = np.where(t["content"][slots] == 1, o["service"][slots], guess)
    first, last = t["first"][slots], t["last"][slots]
    table = pd.DataFrame(
        {
            "flow": t["id"][slots],
            "part": np.zeros(len(slots), dtype=np.int64),
            "proto": o["proto"][slots],
            "src": o["src"][slots],
            "sport": sport.to_numpy(),
            "dst": o["dst"][slots],
            "dport": dport.to_numpy(),
            "first": pd.to_datetime(first, utc=True),
            "last": pd.to_datetime(last, utc=True),
            "duration": (last - first) / 1e9,
            "orig_packets": t["pk0"][slots],
            "orig_bytes": t["by0"][slots],
            "resp_packets": t["pk1"][slots],
            "resp_bytes": t["by1"][slots],
            "orig_payload": t["pay0"][slots],
            "resp_payload": t["pay1"][slots],
            "state": conn_state(seen, is_tcp, t["pk1"][slots] > 0),
            "history": o["history"][slots],
            "rtt": rtt,
            "retransmissions": t["retrans"][slots],
            "out_of_order": t["ooo"][slots],
            "dup_acks": t["dup"][slots],
            "zero_windows": t["zw"][slots],
            "service": service,
            "server_name": o["server_name"][slots],
            "community_id": o["community_id"][slots],
        },
        columns=list(FLOW_COLUMNS),
    )
    return typed(table)


def timeouts(timeout: Timeout, proto: npt.NDArray[np.object_]) -> npt.NDArray[np.float64]:
    """Each flow's idle timeout in seconds, by its protocol (looked up once per name)."""
    if timeout is None:
        return np.full(len(proto), np.inf)
    if not isinstance(timeout, Mapping):
        return np.full(len(proto), float(timeout))
    default = float(timeout.get("*", np.inf))
    cat = pd.Categorical(proto)
    table = [float(timeout.get(str(name), default)) for name in cat.categories]
    return np.asarray([*table, default], dtype=np.float64)[np.asarray(cat.codes)]
