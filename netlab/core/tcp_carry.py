"""The context a batch leaves for the next one (see tcp_context): each side's last packet and
state, each flow's handshake and window-scale offers."""

from __future__ import annotations

import numpy as np

from .tcp_context import Context, FlowState, SideState
from .tcp_holes import HoleState
from .tcp_sides import I64, UNSET, Sides


def carry_out(p: Sides, flags: I64, runs: I64, holes: HoleState) -> Context:
    """The state of every side and flow of `p` after its last packet."""
    groups = 2 * p.count
    last = np.full(groups, -1, dtype=np.int64)
    np.maximum.at(last, p.group, p.pos)
    g = np.flatnonzero(last >= 0)
    at = last[g]
    base = p.useq[at]
    next_u = p.next_after[at]
    hole = holes.start[g] != UNSET
    sides = SideState(
        key=p.flow_ids[g // 2] * 2 + g % 2,
        seq=p.seq[at],
        ack=p.ack[at],
        window=p.window[at],
        ts=p.ts[at],
        flags=flags[at],
        runs=runs[at],
        next_u=np.where(next_u == UNSET, UNSET, next_u - base),
        next_time=p.next_after_time[at],
        hole=hole,
        hole_u=np.where(hole, holes.start[g] - base, 0),
        marker=holes.marker[g],
    )
    rtt, _ = p.handshake_rtt()
    offer0, offer1 = p.offers()
    flows = FlowState(
        key=p.flow_ids.copy(),
        synack=p.past.synack | (p.first_synack < p.n) & (p.first_synack >= 0),
        rtt=rtt,
        last_syn=p.last_syn_time(),
        offer0=offer0,
        offer1=offer1,
    )
    return Context(sides, flows)
