"""A live flow table: each batch of a capture updates it, as `flows()` would the whole capture.

Flows are keyed by a stable 64-bit hash of the outermost 5-tuple (both directions alike), so
a flow keeps its number from batch to batch; a SYN with a new ISN on the ports of a flow
starts a new one, as in `flows.assign_flows`. Each batch's TCP analysis continues from the
context the earlier batches left (`tcp_context`), so the packets' flags are those of the
whole capture. Flows end when idle or active too long (Zeek's and NFStream's timeouts, by
packet time: a batch's own flows at once, the others at the next look, once a second) or,
when the table is full, the longest idle ones first (counted as evicted); ended flows are
handed back so that a capture can pass them on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import tcp_flags
from .columns import Columns, columns, has_text, texts_at
from .flow_context import CONTEXT_COLUMNS, context_at, keep_context
from .flow_keys import flow_keys
from .flow_rows import flow_rows, timeouts
from .flow_table import ACTIVE_TIMEOUT, IDLE_TIMEOUT, Timeout, community_ids, first_names
from .flows import tcp_reuse
from .services import content_services
from .slots import Slots
from .tcp_analysis import analyse_batch
from .tcp_flags import REUSED_PORTS
from .zeek_state import LETTERS, history

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
SYN, ACK = 0x002, 0x010
NEVER = np.iinfo(np.int64).max
SCAN_NS = 1_000_000_000  # flows no packet touched are checked for timeouts once a second
# Each column as narrow as its values allow: a live table holds up to NETLAB_MAX_FLOWS rows.
_COLUMNS: dict[str, tuple[object, object]] = {
    "key": (np.int64, 0),
    "id": (np.int64, 0),
    "orig": (bool, False),  # which side (forward or not) the originator is
    "first": (np.int64, NEVER),  # see _account
    "last": (np.int64, -NEVER - 1),
    "idle": (np.int64, 0),  # the flow's idle timeout in ns
    "sport": (np.int32, -1),  # -1: none
    "dport": (np.int32, -1),
    "base0": (np.int64, -1),  # each side's base sequence number (-1: none yet)
    "base1": (np.int64, -1),
    "seen": (np.uint16, 0),  # Zeek history letters seen so far, a bit each
    "content": (bool, False),  # `service` was seen in the content
    "history": (object, ""),
}
_COLUMNS |= {name: (np.uint32, 0) for name in ("pk0", "pk1", "retrans", "ooo", "dup", "zw")}
_COLUMNS |= {name: (np.int64, 0) for name in ("by0", "by1", "pay0", "pay1")}
_COLUMNS |= {name: (object, None) for name in ("proto", "src", "dst", "service")}
_COLUMNS |= {name: (object, None) for name in ("server_name", "community_id", "sensor")}
_COLUMNS |= CONTEXT_COLUMNS


class FlowTracker:
    """The flows of a capture so far; `update` with each batch (a netlab DataFrame or a
    decoder Batch), in order. Not thread-safe: one thread updates it (a capture's decoder),
    readers copy. The work per batch follows the batch, not the table: flows live in slots
    (core/slots) with a sorted index of their keys, and their TCP context is kept with them."""

    def __init__(
        self,
        max_flows: int = 100_000,
        *,
        idle_timeout: Timeout = IDLE_TIMEOUT,
        active_timeout: float | None = ACTIVE_TIMEOUT,
    ) -> None:
        if max_flows <= 0:
            raise ValueError(f"max_flows must be > 0, got {max_flows}")
        self.max_flows = max_flows
        self.idle_timeout, self.active_timeout = idle_timeout, active_timeout
        self.next_id = 0
        self.ended = 0  # flows that ended by a timeout, a reused port or for room
        self.evicted = 0  # of those, flows dropped for room before they ended
        self.t = Slots(_COLUMNS)
        # the keys in order, and each one's slot (equal keys: oldest slot first)
        self._index_keys: I64 = np.zeros(0, dtype=np.int64)
        self._index_slots: I64 = np.zeros(0, dtype=np.int64)
        self._scanned: int | None = None  # packet time of the last look at every flow
        self._empty: pd.DataFrame | None = None
        self._reusing: Bools = np.zeros(0, dtype=bool)  # this batch's port-reusing SYNs

    def __len__(self) -> int:
        return len(self.t)

    @property
    def nbytes(self) -> int:
        """The table's own bytes: numbers and pointers, spare room included (not the texts
        the pointers lead to: addresses and names are shared, Community IDs are not)."""
        return self.t.nbytes + self._index_keys.nbytes + self._index_slots.nbytes

    def update(
        self, data: pd.DataFrame | Columns
    ) -> tuple[I64, npt.NDArray[np.uint16], pd.DataFrame]:
        """Assign the batch's packets (a netlab DataFrame, or a decoder Batch as it is) to
        flows and analyse them: (flow per row, -1 for none; tcp_analysis per row; the flows
        that ended, as `flows()` rows)."""
        df = columns(data)
        n = len(df)
        flow = np.full(n, -1, dtype=np.int64)
        if not n:
            return flow, np.zeros(0, np.uint16), self._none()
        ts = df.ints("ts")
        key, forward, has = flow_keys(df)
        rows = np.flatnonzero(has)
        # flows idle too long when the batch begins have ended: its packets start new ones
        # (a silence inside one batch is not seen: batches are short)
        before = self._expire(int(ts.min()), self._slot_of_key(key[rows]))
        self._reusing = np.zeros(len(rows), dtype=bool)  # set by _assign
        reused = np.zeros(0, dtype=np.int64)
        if len(rows):
            flow[rows], reused = self._assign(df, key[rows], forward[rows], rows)
        known = self.slot_of_id(np.unique(flow[rows]))
        flags, newer = analyse_batch(df, flow, forward, context_at(self.t, known))
        flags[rows[self._reusing]] |= REUSED_PORTS
        keep_context(self.t, newer, self.slot_of_id)
        if len(rows):
            self._account(df, rows, flow[rows], forward[rows], flags[rows].astype(np.int64))
        after = self._end(reused)
        if not len(before):
            return flow, flags, after
        return flow, flags, before if not len(after) else pd.concat([before, after])

    def _none(self) -> pd.DataFrame:
        """No flows (built once: a DataFrame costs milliseconds, and most batches end none)."""
        if self._empty is None:
            self._empty = self.rows(np.zeros(0, dtype=np.int64))
        return self._empty.copy()

    def snapshot(self, busiest: int | None = None) -> pd.DataFrame:
        """The flows not ended yet, as `flows()` rows, in flow order; with `busiest`, only
        that many, those with the most bytes (a table's rows cost microseconds each: a view
        of the top flows need not pay for all 100,000)."""
        slots = np.arange(len(self))
        if busiest is not None and len(slots) > max(busiest, 0):
            volume = self.t["by0"] + self.t["by1"]
            slots = (
                np.sort(np.argpartition(-volume, busiest - 1)[:busiest]) if busiest else slots[:0]
            )
        return self.rows(slots)

    # keys and numbers ----------------------------------------------------------------------
    def _slot_of_key(self, key: I64) -> I64:
        """The slot of each key's newest flow (-1: none)."""
        keys = self._index_keys
        if not len(keys):
            return np.full(len(key), -1, dtype=np.int64)
        at = np.maximum(np.searchsorted(keys, key, side="right") - 1, 0)
        return np.where(keys[at] == key, self._index_slots[at], -1)

    def _index(self, slots: I64) -> None:
        """Add the keys of new slots to the index (after their equals: newest last)."""
        new_keys = self.t["key"][slots]
        order = np.argsort(new_keys, kind="stable")
        at = np.searchsorted(self._index_keys, new_keys[order], side="right")
        self._index_keys = np.insert(self._index_keys, at, new_keys[order])
        self._index_slots = np.insert(self._index_slots, at, slots[order])

    def slot_of_id(self, ids: I64) -> I64:
        """The slot of each flow number (-1: ended); ids rise with the slots."""
        have = self.t["id"]
        if not len(have):
            return np.full(len(ids), -1, dtype=np.int64)
        at = np.searchsorted(have, ids)
        ok = (at < len(have)) & (have[np.minimum(at, len(have) - 1)] == ids)
        return np.where(ok, at, -1)

    def _assign(self, df: Columns, key: I64, forward: Bools, rows: I64) -> tuple[I64, I64]:
        """Flow numbers for rows with addresses, and the slots of flows a new SYN on their
        ports ended. A side's base sequence number enters as a context row first."""
        flags = df.ints("tcp_flags")[rows]
        seq = df.ints("tcp_seq")[rows]
        known = self._slot_of_key(key)
        slots = np.unique(known[known >= 0])
        bases = np.stack([self.t["base0"][slots], self.t["base1"][slots]], axis=1).ravel()
        ctx_key = np.repeat(self.t["key"][slots], 2)
        ctx_forward = np.tile(np.array([False, True]), len(slots))
        keep = bases >= 0
        k = int(keep.sum())
        code = pd.factorize(np.concatenate([ctx_key[keep], key]))[0].astype(np.int64)
        segment, reusing = tcp_reuse(
            np.concatenate([np.full(k, SYN), flags]),
            np.concatenate([bases[keep], seq]),
            code,
            np.concatenate([ctx_forward[keep], forward]),
        )
        segment, self._reusing = segment[k:], reusing[k:]
        out = np.full(len(rows), -1, dtype=np.int64)
        cont = (known >= 0) & (segment == 0)
        out[cont] = self.t["id"][known[cont]]
        new = np.flatnonzero(~cont)
        reused = np.unique(known[~cont & (known >= 0)])
        if len(new):
            group = code[k:][new] * (int(segment.max()) + 1) + segment[new]
            uniques, inverse = np.unique(group, return_inverse=True)
            first = np.full(len(uniques), len(rows), dtype=np.int64)
            np.minimum.at(first, inverse, new)
            rank = np.empty(len(uniques), dtype=np.int64)
            rank[np.argsort(first, kind="stable")] = np.arange(len(uniques))
            out[new] = self.next_id + rank[inverse]
            firsts = np.sort(first)
            self._create(df, rows, firsts, key[firsts], out, forward, flags)
        self._set_bases(out, forward, flags, seq)
        return out, reused

    def _create(
        self,
        df: Columns,
        rows: I64,
        firsts: I64,
        key: I64,
        ids: I64,
        forward: Bools,
        flags: I64,
    ) -> None:
        """New slots for the flows first seen at `firsts` (positions in `rows`, in id order):
        the originator is the sender of the flow's first SYN here, else of its first packet."""
        m = len(firsts)
        new_ids = ids[firsts]
        self.next_id = int(new_ids.max()) + 1
        syn = (flags >= 0) & ((flags & (SYN | ACK)) == SYN)
        local = np.searchsorted(new_ids, ids)
        mine = (local < m) & (new_ids[np.minimum(local, m - 1)] == ids)
        first_syn = np.full(m, len(rows), dtype=np.int64)
        at = np.flatnonzero(mine & syn)
        np.minimum.at(first_syn, local[at], at)
        origin = np.where(first_syn < len(rows), first_syn, firsts)
        head = rows[origin]
        t = self.t
        new = t.append(m)
        t["key"][new], t["id"][new] = key, new_ids
        t["orig"][new] = forward[origin]
        t["sport"][new], t["dport"][new] = df.ints("sport")[head], df.ints("dport")[head]
        idle = timeouts(self.idle_timeout, *df.text("proto"), head) * 1e9
        finite = np.isfinite(idle)  # None (no timeout) is inf: never
        t["idle"][new] = np.where(finite, idle, 0).astype(np.int64)
        t["idle"][new][~finite] = NEVER
        for c in ("proto", "src", "dst", "sensor"):
            if c != "sensor" or has_text(df, c):
                t[c][new] = texts_at(df, c, head)
        t["community_id"][new] = community_ids(df, head)
        self._index(np.arange(new.start, new.stop))

    def _set_bases(self, ids: I64, forward: Bools, flags: I64, seq: I64) -> None:
        """Each side's base sequence number: its last pure SYN's, else its first one's."""
        slot = self.slot_of_id(ids)
        tcp = (seq >= 0) & (slot >= 0)
        syn = tcp & ((flags & (SYN | ACK)) == SYN)
        for side, name in ((False, "base0"), (True, "base1")):
            base = self.t[name]
            mine = tcp & (forward == side)
            first = np.flatnonzero(mine)[::-1]  # reversed: the first one wins
            unset = base[slot[first]] < 0
            base[slot[first[unset]]] = seq[first[unset]]
            last_syn = np.flatnonzero(mine & syn)  # in order: the last one wins
            base[slot[last_syn]] = seq[last_syn]

    # counting ------------------------------------------------------------------------------
    def _account(self, df: Columns, rows: I64, ids: I64, forward: Bools, flags: I64) -> None:
        slot = self.slot_of_id(ids)
        uniq, f = np.unique(slot, return_inverse=True)
        count = len(uniq)
        t = self.t
        orig = forward == t["orig"][slot]
        length = df.ints("length")[rows]
        payload = df.ints("paylen", 0)[rows]
        ts = df.ints("ts")[rows]

        def add(name: str, values: I64, mask: Bools) -> None:
            column = t[name]
            column[uniq] += np.bincount(f[mask], weights=values[mask], minlength=count).astype(
                column.dtype
            )

        ones = np.ones(len(rows), dtype=np.int64)
        for side, suffix in ((orig, "0"), (~orig, "1")):
            add("pk" + suffix, ones, side)
            add("by" + suffix, length, side)
            add("pay" + suffix, payload, side)
        for name, bit in (
            ("retrans", tcp_flags.RETRANSMISSION),
            ("ooo", tcp_flags.OUT_OF_ORDER),
            ("dup", tcp_flags.DUPLICATE_ACK),
            ("zw", tcp_flags.ZERO_WINDOW),
        ):
            add(name, ones, (flags & bit) != 0)
        last = np.full(count, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last, f, ts)
        t["last"][uniq] = np.maximum(t["last"][uniq], last)
        first = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, f, ts)  # packet times may go backwards
        t["first"][uniq] = np.minimum(t["first"][uniq], first)
        tcp_flags_col = df.ints("tcp_flags")[rows]
        bits = 1 << np.arange(2 * len(LETTERS))
        already = (t["seen"][uniq][:, None] & bits) != 0
        retrans = ((flags & tcp_flags.RETRANSMISSION) != 0) & (payload > 0)
        zero = (flags & tcp_flags.ZERO_WINDOW) != 0
        text, seen = history(f, orig, tcp_flags_col, payload, retrans, zero, count, already)
        t["seen"][uniq] = (seen * bits).sum(axis=1)
        grew = np.flatnonzero(text != "")
        if len(grew):
            t["history"][uniq[grew]] = t["history"][uniq[grew]] + text[grew].astype(object)
        # rows without a flow join a group of their own, past the last, and are left out
        group = np.full(len(df), count, dtype=np.int64)
        group[rows] = f
        shown, found = content_services(df, group, count + 1)
        shown, found = shown[:count], found[:count]
        target = uniq[found]
        t["service"][target] = shown[found]
        t["content"][target] = True
        blank = np.flatnonzero(pd.isna(t["server_name"][uniq]))
        if len(blank):
            names = first_names(df, group, count + 1)[:count]
            t["server_name"][uniq[blank]] = names[blank]

    # ending --------------------------------------------------------------------------------
    def _timed_out(self, now: int, slots: I64) -> Bools:
        """Which of the flows in `slots` are idle or active too long at packet time `now`."""
        t = self.t
        done: Bools = (now - t["last"][slots]) > t["idle"][slots]
        if self.active_timeout is not None:
            done |= (now - t["first"][slots]) > self.active_timeout * 1e9
        return done

    def _expire(self, now: int, touched: I64) -> pd.DataFrame:
        """End the timed-out flows among those a batch touches (their packets must start new
        flows), and once a second of packet time those among all the others."""
        if self._scanned is None or now - self._scanned >= SCAN_NS:
            self._scanned = now
            return self._drop(self._timed_out(now, np.arange(len(self))), 0)
        touched = np.unique(touched[touched >= 0])
        done = np.zeros(len(self), dtype=bool)
        done[touched] = self._timed_out(now, touched)
        return self._drop(done, 0) if done.any() else self._none()

    def _end(self, reused: I64) -> pd.DataFrame:
        """End the flows a SYN replaced, then, while the table is over its bound, the longest
        idle ones: down to 98 % of it, so that a flood pays for compacting once per 2 % of the
        bound, not with every batch."""
        over = len(self) - len(reused) - self.max_flows
        if over <= 0 and not len(reused):
            return self._none()
        done = np.zeros(len(self), dtype=bool)
        done[reused] = True
        if over > 0:
            over += self.max_flows // 50
            alive = np.flatnonzero(~done)
            last = self.t["last"][alive]
            oldest = alive[np.argpartition(last, over - 1)[:over]] if over < len(alive) else alive
            done[oldest] = True
            return self._drop(done, min(over, len(alive)))
        return self._drop(done, 0)

    def _drop(self, done: Bools, evicted: int) -> pd.DataFrame:
        """End the flows where `done` holds (`evicted` of them for room); their rows."""
        gone = np.flatnonzero(done)
        if not len(gone):
            return self._none()
        ended = self.rows(gone)
        self.ended += len(gone)
        self.evicted += evicted
        self.t.keep(np.flatnonzero(~done))
        # the index stays sorted without its dropped entries; the kept slots move down
        alive = ~done[self._index_slots]
        slot_now = np.cumsum(~done) - 1
        self._index_keys = self._index_keys[alive]
        self._index_slots = slot_now[self._index_slots[alive]]
        return ended

    def rows(self, slots: I64) -> pd.DataFrame:
        """The given slots as `flows()` rows."""
        return flow_rows(self.t, slots)
