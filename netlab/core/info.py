"""The Info column, rendered for a whole frame at once from its other columns.

Info is derived, not stored: a rolling frame keeps the numbers (ports, flags, payload length)
and the application summary, and the text is built with pyarrow when a DataFrame is made.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import names
from .linklayer import LINKTYPE_NAMES

I64 = npt.NDArray[np.int64]


@cache
def _numbers() -> pa.Array:
    return pa.array([str(i) for i in range(65536)])


@cache
def _flag_texts() -> pa.Array:
    return pa.array(["[" + ", ".join(names.tcp_flag_names(f)) + "]" for f in range(4096)])


def warm_up() -> None:
    """Build the lookup tables now (~10 ms), not while the first packets wait."""
    _numbers()
    _flag_texts()


def _frame_ints(df: pd.DataFrame) -> Callable[[str], I64]:
    def ints(name: str) -> I64:
        arr = df[name].array
        return np.asarray(arr.to_numpy(dtype="int64", na_value=-1), dtype=np.int64)

    return ints


def _frame_text(df: pd.DataFrame) -> Callable[[str], tuple[I64, list[str]]]:
    def text(name: str) -> tuple[I64, list[str]]:
        cat = df[name].array
        assert isinstance(cat, pd.Categorical)
        return np.asarray(cat.codes, dtype=np.int64), [str(c) for c in cat.categories]

    return text


def _small_table(keys: I64, render: object) -> pa.Array:
    """Format each distinct key once and spread the texts back over the rows."""
    inv, uniq = pd.factorize(keys)
    table = pa.array([render(int(k)) for k in uniq.tolist()])  # type: ignore[operator]
    return pc.take(table, pa.array(inv))


def render_info(df: pd.DataFrame) -> pd.Series:
    """Wireshark-like Info text for every row of a netlab frame."""
    if len(df) == 0:
        return pd.Series(pd.array([], dtype="string[pyarrow]"), index=df.index, name="info")
    info = render_info_array(len(df), _frame_ints(df), _frame_text(df))
    return pd.Series(pd.arrays.ArrowStringArray(info), index=df.index, name="info")


def render_info_array(
    n: int,
    ints: Callable[[str], I64],
    text: Callable[[str], tuple[I64, list[str]]],
) -> pa.Array:
    """Info for `n` rows, from their columns: `ints(name)` gives an integer column (-1 where
    missing), `text(name)` a text column as codes (-1: missing) and the texts they index."""
    if n == 0:
        return pa.array([], type=pa.string())
    summary_codes, summary_cats = text("summary")
    proto_codes, proto_cats = text("proto")
    version = ints("ip_version")
    sport, dport = ints("sport"), ints("dport")
    flags, paylen = ints("tcp_flags"), ints("paylen")
    icmp_type, icmp_code = ints("icmp_type"), ints("icmp_code")
    is_tcp = np.isin(proto_codes, [k for k, p in enumerate(proto_cats) if p == "TCP"])
    is_udp = np.isin(proto_codes, [k for k, p in enumerate(proto_cats) if p == "UDP"])

    app = summary_codes >= 0
    tcp = ~app & is_tcp & (flags >= 0) & (sport >= 0)
    udp = ~app & is_udp & (sport >= 0)
    icmp = ~app & (icmp_type >= 0)
    rest = ~(app | tcp | udp | icmp)

    numbers = _numbers()

    def ports(rows: I64) -> tuple[pa.Array, str, pa.Array]:
        return (
            pc.take(numbers, pa.array(sport[rows])),
            " → ",
            pc.take(numbers, pa.array(dport[rows])),
        )

    def length(rows: I64) -> pa.Array:
        return pc.take(numbers, pa.array(np.clip(paylen[rows], 0, 65535)))

    groups: list[tuple[I64, pa.Array]] = []
    if app.any():
        rows = np.flatnonzero(app)
        groups.append((rows, pc.take(pa.array(summary_cats), pa.array(summary_codes[rows]))))
    if tcp.any():
        rows = np.flatnonzero(tcp)
        groups.append(
            (
                rows,
                pc.binary_join_element_wise(
                    *ports(rows),
                    " ",
                    pc.take(_flag_texts(), pa.array(flags[rows] & 0xFFF)),
                    " Len=",
                    length(rows),
                    "",
                ),
            )
        )
    if udp.any():
        rows = np.flatnonzero(udp)
        groups.append(
            (
                rows,
                pc.binary_join_element_wise(*ports(rows), " Len=", length(rows), ""),
            )
        )
    if icmp.any():
        rows = np.flatnonzero(icmp)
        key = (version[rows] << 16) | (icmp_type[rows] << 8) | np.maximum(icmp_code[rows], 0)
        groups.append(
            (
                rows,
                _small_table(
                    key, lambda k: names.icmp_description(k >> 16, (k >> 8) & 0xFF, k & 0xFF)
                ),
            )
        )
    if rest.any():
        rows = np.flatnonzero(rest)
        linktype = ints("linktype")[rows]
        key = (proto_codes[rows] + 1) << 24 | (np.maximum(version[rows], 0) << 16) | linktype

        def other(k: int) -> str:
            code, ver, lt = (k >> 24) - 1, (k >> 16) & 0xFF, k & 0xFFFF
            proto = proto_cats[code] if code >= 0 else ""
            if ver and proto in ("TCP", "UDP"):
                return f"Fragmented IP protocol ({proto})"
            if ver:
                return f"{proto} over IPv{ver}"
            if proto:
                return proto
            return f"{LINKTYPE_NAMES.get(lt, f'link type {lt}')} frame"

        groups.append((rows, _small_table(key, other)))
    order = np.concatenate([rows for rows, _ in groups])
    values = pa.concat_arrays([arr.cast(pa.string()) for _, arr in groups])
    return pc.take(values, pa.array(np.argsort(order, kind="stable")))
