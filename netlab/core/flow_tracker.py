"""A live flow table: each batch of a capture updates it, as `flows()` would the whole capture.

Flows are keyed by a stable 64-bit hash of the outermost 5-tuple (both directions alike), so
a flow keeps its number from batch to batch; a SYN with a new ISN on the ports of a flow
starts a new one, as in `flows.assign_flows`. Each batch's TCP analysis continues from the
context the earlier batches left (`tcp_context`), so the packets' flags are those of the
whole capture. Flows end when idle or active too long (Zeek's and NFStream's timeouts, by
packet time) or, when the table is full, the longest idle one first (counted as evicted);
ended flows are handed back so that a capture can pass them on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import tcp_flags
from .flow_rows import flow_rows, timeouts
from .flow_table import ACTIVE_TIMEOUT, IDLE_TIMEOUT, Timeout, community_ids, first_names
from .flows import flow_ports, tcp_reuse
from .services import content_services
from .tcp_analysis import analyse_batch
from .tcp_context import Context
from .tcp_flags import REUSED_PORTS
from .zeek_state import LETTERS, history

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]
SYN, ACK = 0x002, 0x010
_INTS: tuple[str, ...] = ("key", "id", "orig", "first", "last", "pk0", "pk1", "by0", "by1")
_INTS += ("pay0", "pay1", "retrans", "ooo", "dup", "zw", "seen", "content", "base0", "base1")
_INTS += ("idle",)  # the flow's idle timeout in ns (by its protocol, looked up once)
NEVER = np.iinfo(np.int64).max
_OBJECTS: tuple[str, ...] = ("proto", "src", "sport", "dst", "dport", "history", "service")
_OBJECTS += ("server_name", "community_id")


def _splitmix(x: U64) -> U64:
    """SplitMix64's finaliser: every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _mix(a: U64, b: U64) -> U64:
    """Combine two 64-bit hashes (order matters): structured inputs such as neighbouring
    ports or addresses still spread over the whole range."""
    return _splitmix(_splitmix(a) ^ b)


def _text_hash(series: pd.Series) -> tuple[U64, Bools]:
    """A stable hash of each row's text (the same text hashes alike in every batch); only
    the texts in use are hashed (a slice of a frame keeps all of its parent's categories)."""
    # a netlab column is categorical already: its codes, without building another
    cat = series.array if isinstance(series.dtype, pd.CategoricalDtype) else pd.Categorical(series)
    codes = np.asarray(cat.codes, dtype=np.int64)
    has = codes >= 0
    out = np.zeros(len(codes), dtype=np.uint64)
    if has.any():
        used, inverse = np.unique(codes[has], return_inverse=True)
        texts = np.asarray(cat.categories, dtype=object)[used]
        out[has] = pd.util.hash_array(texts)[inverse]
    return out, has


class FlowTracker:
    """The flows of a capture so far; `update` with each batch (a netlab DataFrame), in
    order. Not thread-safe: one thread updates it (a capture's decoder), readers copy."""

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
        self.context = Context.empty()
        self.t: dict[str, npt.NDArray[np.int64]] = {c: np.zeros(0, np.int64) for c in _INTS}
        self.o: dict[str, npt.NDArray[np.object_]] = {c: np.zeros(0, object) for c in _OBJECTS}
        self._empty: pd.DataFrame | None = None
        self._reusing: Bools = np.zeros(0, dtype=bool)  # this batch's port-reusing SYNs

    def __len__(self) -> int:
        return len(self.t["id"])

    def update(self, df: pd.DataFrame) -> tuple[I64, npt.NDArray[np.uint16], pd.DataFrame]:
        """Assign the batch's packets to flows and analyse them: (flow per row, -1 for none;
        tcp_analysis per row; the flows that ended, as `flows()` rows)."""
        n = len(df)
        flow = np.full(n, -1, dtype=np.int64)
        if not n:
            return flow, np.zeros(0, np.uint16), self._none()
        ts = df["ts"].array.asi8
        # flows idle too long when the batch begins have ended: its packets start new ones
        # (a silence inside one batch is not seen: batches are short)
        before = self._expire(int(ts.min()), np.zeros(0, dtype=np.int64))
        key, forward, has = self._keys(df)
        rows = np.flatnonzero(has)
        self._reusing = np.zeros(len(rows), dtype=bool)  # set by _assign
        reused = np.zeros(0, dtype=np.int64)
        if len(rows):
            flow[rows], reused = self._assign(df, key[rows], forward[rows], rows)
        flags, newer = analyse_batch(df, flow, forward, self.context)
        flags[rows[self._reusing]] |= REUSED_PORTS
        self.context = self.context.updated(newer)
        if len(rows):
            self._account(df, rows, flow[rows], forward[rows], flags[rows].astype(np.int64))
        after = self._expire(int(ts.max()), reused)
        if not len(before):
            return flow, flags, after
        return flow, flags, before if not len(after) else pd.concat([before, after])

    def _none(self) -> pd.DataFrame:
        """No flows (built once: a DataFrame costs milliseconds, and most batches end none)."""
        if self._empty is None:
            self._empty = self.rows(np.zeros(0, dtype=np.int64))
        return self._empty.copy()

    def snapshot(self) -> pd.DataFrame:
        """The flows not ended yet, as `flows()` rows, in flow order."""
        return self.rows(np.arange(len(self)))

    # keys and numbers ----------------------------------------------------------------------
    def _keys(self, df: pd.DataFrame) -> tuple[I64, Bools, Bools]:
        src, has_src = _text_hash(df["src"])
        dst, has_dst = _text_hash(df["dst"])
        proto, _ = _text_hash(df["proto"])
        one = np.uint64(1)
        ports = flow_ports(df)
        sport, dport = ports[0].astype(np.uint64) + one, ports[1].astype(np.uint64) + one
        a, b = _mix(src, sport), _mix(dst, dport)
        forward = a <= b
        lo, hi = np.where(forward, a, b), np.where(forward, b, a)
        key = _mix(_mix(proto, lo), hi).view(np.int64)
        return key, forward, has_src & has_dst

    def _slot_of_key(self, key: I64) -> I64:
        """The slot of each key's newest flow (-1: none); slots are in creation order."""
        keys = self.t["key"]
        if not len(keys):
            return np.full(len(key), -1, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        at = np.searchsorted(keys[order], key, side="right") - 1
        ok = (at >= 0) & (keys[order][np.maximum(at, 0)] == key)
        return np.where(ok, order[np.maximum(at, 0)], -1)

    def slot_of_id(self, ids: I64) -> I64:
        """The slot of each flow number (-1: ended); ids rise with the slots."""
        have = self.t["id"]
        if not len(have):
            return np.full(len(ids), -1, dtype=np.int64)
        at = np.searchsorted(have, ids)
        ok = (at < len(have)) & (have[np.minimum(at, len(have) - 1)] == ids)
        return np.where(ok, at, -1)

    def _assign(self, df: pd.DataFrame, key: I64, forward: Bools, rows: I64) -> tuple[I64, I64]:
        """Flow numbers for rows with addresses, and the slots of flows a new SYN on their
        ports ended. A side's base sequence number enters as a context row first."""
        flags = df["tcp_flags"].to_numpy(dtype=np.int64, na_value=-1)[rows]
        seq = df["tcp_seq"].to_numpy(dtype=np.int64, na_value=-1)[rows]
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
        df: pd.DataFrame,
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
        head = df.take(rows[origin])
        zeros = np.zeros(m, dtype=np.int64)
        fresh = {c: zeros.copy() for c in _INTS}
        fresh["key"], fresh["id"] = key, new_ids
        fresh["orig"] = forward[origin].astype(np.int64)
        fresh["base0"] = fresh["base1"] = np.full(m, -1, dtype=np.int64)
        fresh["first"] = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)  # see _account
        fresh["last"] = np.full(m, np.iinfo(np.int64).min, dtype=np.int64)
        for c in _INTS:
            self.t[c] = np.concatenate([self.t[c], fresh[c]])
        objects = {c: np.full(m, None, dtype=object) for c in _OBJECTS}
        for c in ("proto", "src", "sport", "dst", "dport"):
            objects[c] = head[c].astype(object).to_numpy()
        objects["history"] = np.full(m, "", dtype=object)
        idle = timeouts(self.idle_timeout, objects["proto"]) * 1e9
        finite = np.isfinite(idle)  # None (no timeout) is inf: never
        self.t["idle"][-m:][finite] = idle[finite].astype(np.int64)
        self.t["idle"][-m:][~finite] = NEVER
        objects["community_id"] = np.asarray(community_ids(head), dtype=object)
        for c in _OBJECTS:
            self.o[c] = np.concatenate([self.o[c], objects[c]])

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
    def _account(self, df: pd.DataFrame, rows: I64, ids: I64, forward: Bools, flags: I64) -> None:
        slot = self.slot_of_id(ids)
        uniq, f = np.unique(slot, return_inverse=True)
        count = len(uniq)
        t = self.t
        orig = forward.astype(np.int64) == t["orig"][slot]
        length = df["length"].to_numpy(dtype=np.int64)[rows]
        payload = df["paylen"].to_numpy(dtype=np.int64, na_value=0)[rows]
        ts = df["ts"].array.asi8[rows]

        def add(name: str, values: I64, mask: Bools) -> None:
            t[name][uniq] += np.bincount(f[mask], weights=values[mask], minlength=count).astype(
                np.int64
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
        tcp_flags_col = df["tcp_flags"].to_numpy(dtype=np.int64, na_value=-1)[rows]
        bits = 1 << np.arange(2 * len(LETTERS))
        already = (t["seen"][uniq][:, None] & bits) != 0
        retrans = ((flags & tcp_flags.RETRANSMISSION) != 0) & (payload > 0)
        zero = (flags & tcp_flags.ZERO_WINDOW) != 0
        text, seen = history(f, orig, tcp_flags_col, payload, retrans, zero, count, already)
        t["seen"][uniq] = (seen * bits).sum(axis=1)
        grew = np.flatnonzero(text != "")
        if len(grew):
            self.o["history"][uniq[grew]] = self.o["history"][uniq[grew]] + text[grew].astype(
                object
            )
        sub = df if len(rows) == len(df) else df.take(rows)  # (rows are in order)
        shown, found = content_services(sub, f, count)
        target = uniq[found]
        self.o["service"][target] = shown[found]
        t["content"][target] = 1
        blank = np.flatnonzero(pd.isna(self.o["server_name"][uniq]))
        if len(blank):
            names = first_names(sub, f, count)
            self.o["server_name"][uniq[blank]] = names[blank]

    # ending --------------------------------------------------------------------------------
    def _expire(self, now: int, reused: I64) -> pd.DataFrame:
        """End idle, over-long and replaced flows, then the longest idle ones while the table
        is over its bound; return the ended flows' rows."""
        t = self.t
        done = (now - t["last"]) > t["idle"]
        if self.active_timeout is not None:
            done |= (now - t["first"]) > self.active_timeout * 1e9
        done[reused] = True
        over = len(self) - int(done.sum()) - self.max_flows
        if over > 0:
            alive = np.flatnonzero(~done)
            oldest = alive[np.argsort(t["last"][alive], kind="stable")[:over]]
            done[oldest] = True
            self.evicted += over
        gone = np.flatnonzero(done)
        if not len(gone):
            return self._none()
        ended = self.rows(gone)
        self.ended += len(gone)
        self.context = self.context.without(t["id"][gone])
        keep = np.flatnonzero(~done)
        self.t = {c: v[keep] for c, v in t.items()}
        self.o = {c: v[keep] for c, v in self.o.items()}
        return ended

    def rows(self, slots: I64) -> pd.DataFrame:
        """The given slots as `flows()` rows."""
        return flow_rows(self.t, self.o, self.context, slots)
