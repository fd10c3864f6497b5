"""A live flow table's TCP analysis context, kept in the table's own slots.

The context a batch leaves (core/tcp_context: a few numbers per side and per flow) lives in
columns of the flow's slot, so that handing it to the next batch and taking it back costs
what the batch's flows cost, not a sorted merge of every flow's context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import numpy as np
import numpy.typing as npt

from .slots import Slots
from .tcp_context import Context, FlowState, SideState

I64 = npt.NDArray[np.int64]

CONTEXT_COLUMNS: dict[str, tuple[object, object]] = {}
_NARROW: dict[str, type] = {"seq": np.uint32, "ack": np.uint32, "flags": np.int32}
_NARROW["runs"] = np.int32
_NARROW |= {"offer0": np.int8, "offer1": np.int8}
_SIDE = {f.name: (bool if f.name in ("hole", "marker") else np.int64) for f in fields(SideState)}
_FLOW = {f.name: (bool if f.name == "synack" else np.int64) for f in fields(FlowState)}
for _side in "01":
    CONTEXT_COLUMNS["has" + _side] = (bool, False)
    for _name, _kind in _SIDE.items():
        if _name != "key":
            CONTEXT_COLUMNS[_name + _side] = (_NARROW.get(_name, _kind), 0)
CONTEXT_COLUMNS["has_flow"] = (bool, False)
CONTEXT_COLUMNS |= {"f_" + n: (_NARROW.get(n, kind), 0) for n, kind in _FLOW.items() if n != "key"}


def context_at(t: Slots, slots: I64) -> Context:
    """The TCP analysis context of the flows in `slots` (in id order)."""
    slots = slots[slots >= 0]
    ids = t["id"][slots]
    sides = []
    for side in (0, 1):
        s = slots[t[f"has{side}"][slots]]
        sides.append(
            SideState(
                key=t["id"][s] * 2 + side,
                **{n: t[f"{n}{side}"][s].astype(kind) for n, kind in _SIDE.items() if n != "key"},
            )
        )
    both = SideState(**{f: np.concatenate([getattr(x, f) for x in sides]) for f in _SIDE})
    with_flow = t["has_flow"][slots]
    past = slots[with_flow]
    flows = FlowState(
        key=ids[with_flow],
        **{n: t["f_" + n][past].astype(kind) for n, kind in _FLOW.items() if n != "key"},
    )
    return Context(both.take(np.argsort(both.key, kind="stable")), flows)


def keep_context(t: Slots, newer: Context, slot_of_id: Callable[[I64], I64]) -> None:
    """Keep the context a batch left with its flows (replacing what they had)."""
    s = newer.sides
    slot = slot_of_id(s.key // 2)
    for side in (0, 1):
        mine = np.flatnonzero((s.key % 2 == side) & (slot >= 0))
        t[f"has{side}"][slot[mine]] = True
        for name in _SIDE:
            if name != "key":
                t[f"{name}{side}"][slot[mine]] = getattr(s, name)[mine]
    f = newer.flows
    slot = slot_of_id(f.key)
    ok = np.flatnonzero(slot >= 0)
    t["has_flow"][slot[ok]] = True
    for name in _FLOW:
        if name != "key":
            t["f_" + name][slot[ok]] = getattr(f, name)[ok]
