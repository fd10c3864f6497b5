"""Zeek's conn.log `history` letters and `conn_state` for every flow of a frame at once.

History: one letter per kind of event, upper case for the originator and lower case for the
responder, in the order each first happened (as Zeek writes them, without the repeat counts):
S a SYN without ACK, H a SYN-ACK, A a pure ACK, D data, F a FIN, R a RST, T a retransmission,
W a zero window. The state is read off which of those each side sent, as Zeek defines them
(S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

FIN, SYN, RST, ACK = 0x001, 0x002, 0x004, 0x010
LETTERS = "SHADFRTW"


def history(
    flow: I64,
    orig: Bools,
    flags: I64,
    payload: I64,
    retransmitted: Bools,
    zero_window: Bools,
    count: int,
    already: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.bool_]]:
    """Per flow (0..count-1, packets in capture order): the history string, and a (count, 16)
    table of which letters (LETTERS, originator then responder) occurred. Letters `already`
    seen (in an earlier batch) are left out of the string, and kept in the table."""
    tcp = flags >= 0
    events = [
        tcp & ((flags & (SYN | ACK)) == SYN),
        tcp & ((flags & (SYN | ACK)) == (SYN | ACK)),
        tcp & ((flags & (SYN | FIN | RST | ACK)) == ACK) & (payload == 0),
        payload > 0,
        tcp & ((flags & FIN) != 0),
        tcp & ((flags & RST) != 0),
        tcp & retransmitted,
        tcp & zero_window,
    ]
    n = len(flow)
    pos = np.arange(n, dtype=np.int64)
    first = np.full((count, 2 * len(LETTERS)), n, dtype=np.int64)
    for k, happened in enumerate(events):
        for side, letter in ((orig, k), (~orig, k + len(LETTERS))):
            rows = np.flatnonzero(happened & side)
            np.minimum.at(first[:, letter], flow[rows], pos[rows])
    seen = first < n
    if already is not None:
        first[already] = n  # written before: not again
        seen = seen | already
    codes = np.frombuffer((LETTERS + LETTERS.lower()).encode(), dtype=np.uint8)
    order = np.argsort(first, axis=1, kind="stable")
    new = first < n
    chars = np.where(np.take_along_axis(new, order, axis=1), codes[order], 0).astype(np.uint8)
    # 16 bytes a row, NUL after the last letter: numpy reads them as strings of up to 16
    text = np.ascontiguousarray(chars).view("S16").ravel().astype(str)
    return text, seen


def conn_state(seen: Bools, tcp: Bools, answered: Bools) -> npt.NDArray[np.object_]:
    """Zeek's conn_state per flow from the letters seen (`history`'s table); `tcp` says which
    flows are TCP, `answered` which had a packet from the responder (for the others)."""
    k = {c: i for i, c in enumerate(LETTERS)}
    half = len(LETTERS)

    def o(c: str) -> Bools:
        return seen[:, k[c]]

    def r(c: str) -> Bools:
        return seen[:, half + k[c]]

    syn, synack = o("S"), r("H")
    state = np.full(len(seen), "OTH", dtype=object)
    rules = [  # the first rule that holds wins
        (syn & ~synack & r("R"), "REJ"),
        (syn & ~synack & o("R"), "RSTOS0"),
        (syn & ~synack & o("F"), "SH"),
        (syn & ~synack, "S0"),
        (syn & synack & o("R"), "RSTO"),
        (syn & synack & r("R"), "RSTR"),
        (syn & synack & o("F") & r("F"), "SF"),
        (syn & synack & o("F"), "S2"),
        (syn & synack & r("F"), "S3"),
        (syn & synack, "S1"),
        (~syn & synack & r("R"), "RSTRH"),
        (~syn & synack & r("F"), "SHR"),
    ]
    decided = np.zeros(len(seen), dtype=bool)
    for holds, name in rules:
        take = tcp & holds & ~decided
        state[take] = name
        decided |= take
    # UDP, ICMP and the rest: SF once the responder answered, else S0 (as Zeek)
    state[~tcp] = np.where(answered[~tcp], "SF", "S0")
    return state
