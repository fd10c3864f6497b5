"""What TCP analysis carries from one batch of packets to the next, per side of each flow.

A live capture analyses each batch as it is decoded; what Wireshark's analysis would still
know of the earlier packets is kept here, a few numbers per side and per flow, and enters
the next batch as one context row per side (the side's last packet, with the side's state
attached), so the batch is analysed exactly as if the earlier packets were in it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TypeVar

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass
class SideState:
    """One entry per side with a past: `key` is the side's flow key and side, 2 * flow + side
    in the tracker's numbering. Numbers of the side's sequence space are relative to `seq`,
    its last packet's sequence number, on the unwrapped line."""

    key: I64
    seq: I64  # the last packet's raw seq, ack, scaled window and time
    ack: I64
    window: I64
    ts: I64
    flags: I64  # its tcp_analysis bits
    runs: I64  # duplicate ACKs since the side's ACK number last changed
    next_u: I64  # nextseq after the last packet, minus its seq (unwrapped)
    next_time: I64  # when nextseq reached that value
    hole: Bools  # a hole is open in the side's data ...
    hole_u: I64  # ... starting here (relative, like next_u)
    marker: Bools  # an ACK past nextseq came since the side's ACK number last changed

    @staticmethod
    def empty() -> SideState:
        return SideState(
            **{
                f.name: np.zeros(0, dtype=bool if f.name in ("hole", "marker") else np.int64)
                for f in fields(SideState)
            }
        )

    def take(self, which: I64) -> SideState:
        return SideState(**{f.name: getattr(self, f.name)[which] for f in fields(SideState)})

    def __len__(self) -> int:
        return len(self.key)


@dataclass
class FlowState:
    """One entry per flow with a past (`key`: the tracker's flow number)."""

    key: I64
    synack: Bools  # a SYN-ACK was seen
    rtt: I64  # the handshake RTT in ns (0: not known yet)
    last_syn: I64  # the time of the last SYN without ACK (-1: none)
    offer0: I64  # the window-scale shift each side's SYN offered (-1: none)
    offer1: I64

    @staticmethod
    def empty() -> FlowState:
        return FlowState(
            **{
                f.name: np.zeros(0, dtype=bool if f.name == "synack" else np.int64)
                for f in fields(FlowState)
            }
        )

    def take(self, which: I64) -> FlowState:
        return FlowState(**{f.name: getattr(self, f.name)[which] for f in fields(FlowState)})

    def __len__(self) -> int:
        return len(self.key)


_State = TypeVar("_State", SideState, FlowState)


@dataclass
class Context:
    """The past of some flows, for analysing the next batch."""

    sides: SideState
    flows: FlowState

    @staticmethod
    def empty() -> Context:
        return Context(SideState.empty(), FlowState.empty())

    def updated(self, newer: Context) -> Context:
        """This context with `newer`'s entries replacing those of the same keys."""
        return Context(_merge(self.sides, newer.sides), _merge(self.flows, newer.flows))


def _merge(old: _State, new: _State) -> _State:
    keep = np.flatnonzero(~np.isin(old.key, new.key))
    both = type(old)(
        **{
            f.name: np.concatenate([getattr(old, f.name)[keep], getattr(new, f.name)])
            for f in fields(old)
        }
    )
    return both.take(np.argsort(both.key, kind="stable"))
