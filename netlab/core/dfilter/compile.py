"""A display-filter syntax tree compiled to a function from a frame to a row mask.

Every test is whole-column numpy: a field's occurrences are arrays with a presence mask, text
and addresses are decided once per distinct value and looked up through the codes. Wireshark
4's multi-value rules: `==` `<` ... `contains` `matches` `in` hold when any occurrence does;
`!=` when the field is present and no occurrence equals (`!(ip.addr == x)` is true on ARP,
`ip.addr != x` is not); `===` when every occurrence equals; `!==` when any one differs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .columns import Bools, Cat, Columns, MissingColumn, Num, Occurrence
from .fields import FIELDS, LAYERED, FieldDef, Type, a
from .flow_fields import getters_for, is_flow_table
from .syntax import (
    BitAnd,
    Compare,
    Field,
    FilterSyntaxError,
    Logic,
    Node,
    Not,
    Present,
    Range,
    Set,
    Value,
)
from .values import Literal, Network, address_values, read

Mask = Callable[[Columns], Bools]
Occurrences = Callable[[Columns], list[Occurrence]]
Pred = Callable[[npt.NDArray[Any]], Bools]
_ORDER = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}
_NUMERIC = (Type.UINT, Type.BOOL, Type.TIME, Type.SECONDS)


def field_def(f: Field) -> FieldDef:
    d = FIELDS.get(f.name)
    if d is None:
        close = difflib.get_close_matches(f.name, list(FIELDS), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise FilterSyntaxError(f"netlab has no field {f.name!r}{hint}", f.pos, len(f.name))
    return d


def compile_tree(node: Node) -> Mask:
    """The mask function of a tree; every name, value and operator is checked here."""
    if isinstance(node, Logic):
        parts = [compile_tree(a) for a in node.args]
        op = {"&&": np.logical_and, "||": np.logical_or, "^^": np.logical_xor}[node.op]
        return lambda c: reduce(op, (p(c) for p in parts))
    if isinstance(node, Not):
        inner = compile_tree(node.arg)
        return lambda c: ~inner(c)
    if isinstance(node, Present):
        return _present(node.field)
    if isinstance(node, BitAnd):
        return _bitand_test(node)
    return _compare(node)


def _occurrences(f: Field) -> Callable[[Columns], list[Occurrence]]:
    field_def(f)

    def get(c: Columns) -> list[Occurrence]:
        getter = getters_for(c.df).get(f.name)
        if getter is None:
            kind = "a flow table" if is_flow_table(c.df) else "a packet frame"
            raise FilterSyntaxError(f"{f.name} is not a field of {kind}", f.pos, len(f.name))
        try:
            found = getter(c)
            if f.name in LAYERED:  # tshark also matches the headers of a packet inside
                for inner in c.inner():
                    found = found + getter(inner)
            return found
        except MissingColumn as e:
            msg = f"{f.name} needs the column {e.args[0]!r}, which this frame lacks"
            raise FilterSyntaxError(msg, f.pos, len(f.name)) from None

    return get


def _present(f: Field) -> Mask:
    occs = _occurrences(f)
    return lambda c: _any(c, [o.present for o in occs(c)])


def _any(c: Columns, masks: list[Bools]) -> Bools:
    return reduce(np.logical_or, masks, np.zeros(c.n, dtype=bool))


def _all_present(c: Columns, occs: list[Occurrence], hits: list[Bools]) -> Bools:
    """Present at least once, and every present occurrence a hit."""
    out = _any(c, [o.present for o in occs])
    for o, h in zip(occs, hits, strict=True):
        out &= ~o.present | h
    return out


def _bitand_test(node: BitAnd) -> Mask:
    d = _bitand_def(node)
    mask = _int(read(d, node.mask))
    occs = _occurrences(node.field)
    return lambda c: _any(c, [o.present & (o.values & mask != 0) for o in _nums(occs(c))])


def _bitand_def(node: BitAnd) -> FieldDef:
    d = field_def(node.field)
    if d.type is not Type.UINT:
        raise FilterSyntaxError(
            f"{d.name} is {a(d.type)}: '&' needs an unsigned integer field",
            node.field.pos,
            len(d.name),
        )
    return d


def _int(v: Literal) -> int:
    assert isinstance(v, int)  # read() gives an int for an unsigned integer field
    return v


def _nums(occs: list[Occurrence]) -> list[Num]:
    return [o for o in occs if isinstance(o, Num)]


def _compare(node: Compare) -> Mask:
    left = node.left
    if isinstance(left, BitAnd):
        d = _bitand_def(left)
        bits = _int(read(d, left.mask))
        base = _occurrences(left.field)

        def masked(c: Columns) -> list[Occurrence]:
            return [Num(o.values & bits, o.present) for o in _nums(base(c))]

        occs: Occurrences = masked

        name_pos = left.field
    else:
        d = field_def(left)
        occs = _occurrences(left)
        name_pos = left
    _check_op(d, node, name_pos)
    right = node.right
    if isinstance(right, Value) and right.text in FIELDS and not right.quoted:
        return _field_to_field(node, d, occs, Field(right.text, right.pos))
    if isinstance(right, Set):
        preds = _set_pred(d, right)
        return _relation("==", d, occs, preds)
    assert isinstance(right, Value)
    if node.op in ("contains", "matches"):
        return _relation("==", d, occs, _TextPred(node.op, right))
    value = read(d, right)
    return _relation(node.op, d, occs, PredPair(value))


def _check_op(d: FieldDef, node: Compare, at: Field) -> None:
    where = (at.pos, len(at.name))
    if d.type in (Type.LABEL, Type.PROTOCOL):
        extra = " (netlab keeps no packet bytes to search)" if node.op == "contains" else ""
        msg = f"{d.name} is {a(d.type)}: it can only be tested alone, for presence{extra}"
        raise FilterSyntaxError(msg, *where)
    if node.op in ("contains", "matches") and d.type is not Type.TEXT:
        msg = f"{node.op!r} needs a text field; {d.name} is {a(d.type)}"
        raise FilterSyntaxError(msg, node.pos, len(node.op))
    if node.op in _ORDER and d.type is Type.BOOL:
        raise FilterSyntaxError(f"{d.name} is a boolean: no order to compare", node.pos)


# -- predicates: (equal-to test, the relation's test) per occurrence values ----------------
class PredPair:
    """How one value compares with an occurrence's values: `test(op)` gives a function of
    the values (numbers: the rows' values; text and addresses: the distinct values)."""

    def __init__(self, value: Literal) -> None:
        self.value = value

    def test(self, op: str) -> Pred:
        v = self.value
        if isinstance(v, Network):
            if op in ("==", "!=", "===", "!=="):
                return lambda a: (a >= v.low) & (a <= v.high)
            bound = v.low if op in ("<", ">=") else v.high
            return lambda a: _ORDER[op](a, bound) & (a >= 0)
        if op in ("==", "!=", "===", "!=="):
            return lambda a: a == v
        return lambda a: _ORDER[op](a, v)


class _Many(PredPair):
    """Membership in a set (`in {...}`): several values and ranges."""

    def __init__(self, items: list[tuple[Literal, Literal]]) -> None:
        super().__init__(0)
        self.items = items

    def test(self, op: str) -> Pred:
        def pred(a: npt.NDArray[Any]) -> Bools:
            out = np.zeros(len(a), dtype=bool)
            for lo, hi in self.items:
                if isinstance(lo, Network) and isinstance(hi, Network):
                    out |= (a >= lo.low) & (a <= hi.high)
                elif isinstance(lo, str) or isinstance(hi, str):
                    out |= a == lo
                else:
                    out |= (a >= lo) & (a <= hi)
            return out

        return pred


def _set_pred(d: FieldDef, s: Set) -> PredPair:
    items: list[tuple[Literal, Literal]] = []
    for item in s.items:
        if isinstance(item, Range):
            if d.type is Type.TEXT:
                raise FilterSyntaxError("a range needs numbers or addresses", item.low.pos)
            items.append((read(d, item.low), read(d, item.high)))
        else:
            v = read(d, item)
            items.append((v, v))
    return _Many(items)


class _TextPred(PredPair):
    def __init__(self, op: str, v: Value) -> None:
        self.op, self.text = op, v.text
        if op == "matches":
            try:  # Wireshark's matches are case-insensitive (PCRE2 with CASELESS)
                self.regex = re.compile(v.text, re.IGNORECASE)
            except re.error as e:
                at = v.pos + 1 + (e.pos or 0)  # inside the quotes, where re stopped
                raise FilterSyntaxError(f"not a regular expression: {e.msg}", at) from None

    def test(self, op: str) -> Pred:
        if self.op == "matches":
            return lambda a: np.array([self.regex.search(s) is not None for s in a], dtype=bool)
        return lambda a: np.array([self.text in s for s in a], dtype=bool)


def _relation(op: str, d: FieldDef, occs: Occurrences, p: PredPair) -> Mask:
    eq = p.test("==") if op in ("!=", "===", "!==") else p.test(op)

    def hits(c: Columns) -> tuple[list[Occurrence], list[Bools]]:
        found = occs(c)
        return found, [_apply(c, d, o, eq) for o in found]

    if op == "!=":
        return lambda c: _all_present(c, *_negate(hits(c)))
    if op == "===":
        return lambda c: _all_present(c, *hits(c))
    if op == "!==":
        return lambda c: _any(c, [o.present & ~h for o, h in zip(*hits(c), strict=True)])
    return lambda c: _any(c, hits(c)[1])


def _negate(pair: tuple[list[Occurrence], list[Bools]]) -> tuple[list[Occurrence], list[Bools]]:
    occs, hits = pair
    return occs, [~h for h in hits]


def _apply(c: Columns, d: FieldDef, o: Occurrence, pred: Pred) -> Bools:
    if isinstance(o, Num):
        return o.present & pred(o.values)
    return o.lookup(pred(_distinct(c, d, o)))


def _distinct(c: Columns, d: FieldDef, o: Cat) -> npt.NDArray[Any]:
    """The distinct values of a text or address occurrence, ready for a predicate."""
    if d.type in (Type.IPV4, Type.IPV6):
        version = 4 if d.type is Type.IPV4 else 6
        cats = o.cats
        out: npt.NDArray[Any] = c.per_value(
            f"addr{version}", cats, lambda: address_values(list(cats), version)
        )
        return out
    return np.asarray(o.cats, dtype=object)


def _field_to_field(
    node: Compare, d: FieldDef, left: Callable[[Columns], list[Occurrence]], rf: Field
) -> Mask:
    rd = field_def(rf)
    same = {d.type, rd.type} <= set(_NUMERIC) or d.type is rd.type
    if not same or node.op in ("contains", "matches", "in"):
        msg = f"{d.name} ({d.type.value}) cannot be compared with {rd.name} ({rd.type.value})"
        raise FilterSyntaxError(msg, node.pos, len(node.op))
    right = _occurrences(rf)
    compare = np.equal if node.op in ("==", "!=", "===", "!==") else _ORDER[node.op]

    def pairs(c: Columns) -> tuple[list[Bools], list[Bools]]:
        ls, rs = left(c), right(c)
        lv, rv = _comparable(c, d, ls, rs)
        present, hit = [], []
        for lo, la in zip(ls, lv, strict=True):
            for ro, ra in zip(rs, rv, strict=True):
                both = lo.present & ro.present
                present.append(both)
                hit.append(both & compare(la, ra))
        return present, hit

    def mask(c: Columns) -> Bools:
        present, hit = pairs(c)
        if node.op == "!=":
            out = _any(c, present)
            for p, h in zip(present, hit, strict=True):
                out &= ~p | ~h
            return out
        if node.op == "===":
            out = _any(c, present)
            for p, h in zip(present, hit, strict=True):
                out &= ~p | h
            return out
        if node.op == "!==":
            return _any(c, [p & ~h for p, h in zip(present, hit, strict=True)])
        return _any(c, hit)

    return mask


def _comparable(
    c: Columns, d: FieldDef, ls: list[Occurrence], rs: list[Occurrence]
) -> tuple[list[npt.NDArray[Any]], list[npt.NDArray[Any]]]:
    """Per-row values both sides can be compared on: numbers as they are, text and addresses
    as ranks in the sorted union of their distinct values."""
    occs = ls + rs
    if all(isinstance(o, Num) for o in occs):
        return [o.values for o in ls], [o.values for o in rs]  # type: ignore[union-attr]
    cats = [o for o in occs if isinstance(o, Cat)]
    keys = [_distinct(c, d, o) for o in cats]
    union = pd.unique(np.concatenate([np.asarray(k, dtype=object) for k in keys]))
    order = pd.Index(sorted(union, key=lambda v: (isinstance(v, str), v)))
    ranks = []
    for o, k in zip(cats, keys, strict=True):
        table = np.append(order.get_indexer(np.asarray(k, dtype=object)), -1)
        ranks.append(table[o.codes])
    return ranks[: len(ls)], ranks[len(ls) :]
