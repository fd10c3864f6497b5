"""`stream()` and `streams()`: follow TCP and UDP flows, as Wireshark's Follow Stream does.

The rows say which frames make a flow (their `flow` numbers) and the sequence numbers; the
packet store behind the rows (the capture file, the capture's kept bytes, a remote server's
/pcap) gives the frames' bytes; the decoder finds each payload in them; core/reassembly puts
the payloads in order as Wireshark does.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .config import Settings
from .core.decode import payload_spans
from .core.flows import assign_flows
from .core.reassembly import Segments, follow_tcp, follow_udp
from .core.stream import Endpoint, Stream, assemble
from .errors import NetlabError, NetlabWarning
from .export import _store_of, packet_chunks

I64 = npt.NDArray[np.int64]
SYN, ACK = 0x002, 0x010
# what following needs of the rows (a narrow copy is cheaper than all columns)
NEEDED = (
    "number", "ts", "length", "caplen", "linktype", "proto", "src", "sport", "dst", "dport",
    "tcp_flags", "tcp_seq", "tcp_ack", "paylen", "flow",
)  # fmt: skip


def stream(
    frame: pd.DataFrame | pd.Series,
    flow: int | pd.Series | None = None,
    *,
    packets: Any = None,
    max_mb: float | None = None,
) -> Stream:
    """The reassembled stream of one TCP or UDP flow of `frame`.

    `flow` is a flow number (the packets' `flow` column, tshark's tcp.stream/udp.stream), a
    row of `netlab.flows(frame)` or a packet row of `frame`. `packets` says where the bytes are
    when the rows do not (a Capture, a capture file). At most `max_mb` MiB
    (NETLAB_STREAM_MAX_MB) are reassembled; the stream says when it was cut."""
    if isinstance(frame, pd.Series):
        raise NetlabError(
            "stream() needs the frame the flow is in: stream(frame, row) (a row alone does not "
            "hold the flow's other packets)"
        )
    number = _flow_number(flow)
    flows = flow_numbers(frame)
    rows = np.flatnonzero(flows == number)
    if not len(rows):
        raise NetlabError(f"flow {number} has no packets in this frame")
    proto = str(frame["proto"].iloc[rows[0]])
    if proto not in ("TCP", "UDP"):
        raise NetlabError(f"flow {number} is {proto}: stream() follows TCP and UDP flows")
    kept = _Payloads.of(frame.iloc[rows].assign(flow=number), packets)
    if kept.unavailable:
        warnings.warn(
            f"{kept.unavailable} frames of flow {number} are left out: {kept.where} does not "
            "have their bytes any more",
            NetlabWarning,
            stacklevel=2,
        )
    at = np.arange(len(kept))
    return kept.stream(number, at, _max_bytes(max_mb), kept.unavailable, frame.iloc[rows[0]])


def streams(
    frame: pd.DataFrame,
    flows: Iterable[int] | None = None,
    *,
    packets: Any = None,
    max_mb: float | None = None,
) -> Iterator[Stream]:
    """The stream of every TCP and UDP flow of `frame` (or of the flow numbers given), in flow
    order; the bytes of all of them are fetched and their payloads found once."""
    numbers = flow_numbers(frame)
    wanted = np.isin(frame["proto"].astype(object).to_numpy(), ("TCP", "UDP")) & (numbers >= 0)
    if flows is not None:
        wanted &= np.isin(numbers, np.fromiter(flows, dtype=np.int64))
    rows = np.flatnonzero(wanted)
    kept = _Payloads.of(frame.iloc[rows].assign(flow=numbers[rows]), packets)
    if kept.unavailable:
        warnings.warn(
            f"{kept.unavailable} frames are left out: {kept.where} does not have their bytes "
            "any more",
            NetlabWarning,
            stacklevel=2,
        )
    limit = _max_bytes(max_mb)
    lost = pd.Series(kept.lost_flows).value_counts().to_dict()
    flow_of = kept.cols["flow"]
    order = np.argsort(flow_of, kind="stable")  # each flow's packets, in capture order
    starts = np.flatnonzero(np.diff(flow_of[order], prepend=-2) != 0)
    for run in np.split(order, starts[1:]):
        if len(run):
            n = int(flow_of[run[0]])
            yield kept.stream(n, run, limit, int(lost.get(n, 0)))


@dataclass
class _Payloads:
    """Rows of TCP/UDP packets whose bytes were found (as numpy columns: no pandas per flow),
    with where each payload is."""

    cols: dict[str, npt.NDArray[Any]]
    found: npt.NDArray[np.bool_]
    buffers: list[Any]
    buffer_of: I64
    payload_at: I64
    where: str
    lost_flows: I64  # the flow numbers of the rows whose bytes were not found

    def __len__(self) -> int:
        return len(self.cols["number"])

    @property
    def unavailable(self) -> int:
        return int((~self.found).sum())

    @staticmethod
    def of(rows: pd.DataFrame, packets: Any) -> _Payloads:
        # as Wireshark, only packets with a whole transport header take part
        rows = rows[[c for c in NEEDED if c in rows.columns]]
        rows = rows[rows["paylen"].notna().to_numpy()]
        store = _store_of(rows, packets)  # the rows' attrs say where their bytes are, if not
        chunks, found = packet_chunks(rows, store) if len(rows) else ([], np.zeros(0, bool))
        buffers, buffer_of, payload_at, datalen = [], [], [], []
        for i, chunk in enumerate(chunks):
            assert chunk.records is not None, "packet_chunks gives records"
            start, length = payload_spans(np.frombuffer(chunk.data, np.uint8), chunk.records)
            buffers.append(chunk.data)
            buffer_of.append(np.full(len(start), i, dtype=np.int64))
            payload_at.append(np.maximum(start, 0))
            datalen.append(length)
        flow = rows["flow"].to_numpy(dtype=np.int64, na_value=-1)
        rows = rows[found]
        flags = rows["tcp_flags"].to_numpy(dtype=np.int64, na_value=0)
        cols = {
            "number": rows["number"].to_numpy(dtype=np.int64),
            "proto": rows["proto"].astype(object).to_numpy(),
            "src": rows["src"].astype(object).to_numpy(),
            "dst": rows["dst"].astype(object).to_numpy(),
            "sport": rows["sport"].to_numpy(dtype=np.int64, na_value=-1),
            "dport": rows["dport"].to_numpy(dtype=np.int64, na_value=-1),
            "seq": rows["tcp_seq"].to_numpy(dtype=np.int64, na_value=0),
            # without the ACK flag the field means nothing (tshark shows it all the same)
            "ack": np.where(flags & ACK, rows["tcp_ack"].to_numpy(dtype=np.int64, na_value=-1), -1),
            "syn": (flags & SYN) != 0,
            "seglen": rows["paylen"].to_numpy(dtype=np.int64, na_value=0),
            "datalen": _cat(datalen),
            "flow": flow[found],
        }
        return _Payloads(
            cols, found, buffers, _cat(buffer_of), _cat(payload_at), store.description, flow[~found]
        )

    def stream(
        self, number: int, at: I64, max_bytes: int, unavailable: int, first: pd.Series | None = None
    ) -> Stream:
        """The stream of the rows at positions `at` (one flow's, in capture order); `first`:
        the flow's first packet, when it may have no row here."""
        c = {k: v[at] for k, v in self.cols.items()}
        if len(at):
            head = {k: c[k][0] for k in ("proto", "src", "dst", "sport", "dport")}
        else:
            assert first is not None, "a flow has a packet"
            head = {k: first[k] for k in ("proto", "src", "dst", "sport", "dport")}
        proto = str(head["proto"])
        # the client is the sender of the flow's first packet (as Wireshark)
        server = (
            ~((c["src"] == head["src"]) & (c["sport"] == c["sport"][0])) if len(at) else c["syn"]
        )
        seg = Segments(c["number"], server, c["seq"], c["ack"], c["syn"], c["seglen"], c["datalen"])
        plan = follow_tcp(seg) if proto == "TCP" else follow_udp(seg)
        meta = {
            "flow": number,
            "proto": proto,
            "client_endpoint": _endpoint(head["src"], head["sport"]),
            "server_endpoint": _endpoint(head["dst"], head["dport"]),
            "frames_unavailable": unavailable,
        }
        return assemble(
            plan,
            self.buffers,
            self.buffer_of[at],
            self.payload_at[at],
            max_bytes=max_bytes,
            meta=meta,
        )


def flow_numbers(frame: pd.DataFrame) -> I64:
    """Each row's flow number: the `flow` column, or assigned now where the rows have none."""
    if "flow" in frame.columns and frame["flow"].notna().any():
        return frame["flow"].to_numpy(dtype=np.int64, na_value=-1)
    return assign_flows(frame)


def _max_bytes(max_mb: float | None) -> int:
    if max_mb is None:
        max_mb = Settings.load().stream_max_mb
    return int(max_mb * (1 << 20))


def _cat(parts: list[I64]) -> I64:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _flow_number(flow: int | pd.Series | None) -> int:
    if flow is None:
        raise NetlabError("which flow? stream(frame, flow number or row)")
    if isinstance(flow, pd.Series):
        value = flow.get("flow")
        if value is None or pd.isna(value):
            raise NetlabError("this row has no flow number (a row of netlab.flows() or a packet)")
        return int(value)
    if isinstance(flow, bool | float) or not isinstance(flow, int | np.integer):
        raise NetlabError(f"a flow is a number or a row, not {type(flow).__name__}")
    return int(flow)


def _endpoint(address: Any, port: Any) -> Endpoint:
    gone = address is None or pd.isna(address)
    return Endpoint(
        None if gone else str(address), None if pd.isna(port) or port < 0 else int(port)
    )
