"""Literals read for the field they meet: `0x1f` for an integer, `10.0.0.0/8` for an address,
`1.5` for a time. Errors say what was wrong with the value, at the value."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .fields import FieldDef, Type, a
from .syntax import FilterSyntaxError, Value

_BOOLS = {"1": 1, "0": 0, "true": 1, "false": 0}


@dataclass(frozen=True)
class Network:
    """An address or a CIDR block, as integers (IPv6 ones are Python ints: 128 bits)."""

    low: int
    high: int

    def exact(self) -> bool:
        return self.low == self.high


Literal = int | float | str | Network


def read(field: FieldDef, v: Value) -> Literal:
    """The value of `v` for comparing with `field`."""
    t = field.type
    if t is Type.TEXT:
        return v.text
    if v.quoted:
        raise _bad(v, f"{field.name} is {a(t)}: a quoted string cannot be one")
    if t is Type.UINT:
        return _uint(field, v)
    if t is Type.BOOL:
        if v.text.lower() not in _BOOLS:
            raise _bad(v, f"{v.text!r} is not a boolean (1, 0, True or False) for {field.name}")
        return _BOOLS[v.text.lower()]
    if t is Type.TIME:
        return _seconds(field, v, scale=10**9)
    if t is Type.SECONDS:  # a float column of seconds (a flow's rtt)
        return float(_seconds(field, v, scale=10**9)) / 1e9
    if t in (Type.IPV4, Type.IPV6):
        return _network(field, v)
    raise _bad(v, f"{field.name} is {a(t)}: it can only be tested alone, for presence")


def _bad(v: Value, message: str) -> FilterSyntaxError:
    width = len(v.text) + (2 if v.quoted else 0)
    return FilterSyntaxError(message, v.pos, width)


def _uint(field: FieldDef, v: Value) -> int:
    text = v.text.lower()
    try:
        if text.startswith("0x"):
            number = int(text[2:], 16)
        elif text.startswith("0b"):
            number = int(text[2:], 2)
        elif len(text) > 1 and text.startswith("0") and text.isdigit():
            number = int(text, 8)  # as Wireshark (and C): a leading 0 is octal
        else:
            number = int(text, 10)
    except ValueError:
        raise _bad(v, f"{v.text!r} is not an unsigned integer, as {field.name} is") from None
    if number < 0:
        raise _bad(v, f"{v.text} is negative: {field.name} is unsigned")
    top = (1 << field.bits) - 1
    if number > top:
        raise _bad(v, f"{v.text} is too big for a {field.bits}-bit field (at most {top})")
    return number


def _seconds(field: FieldDef, v: Value, scale: int) -> int:
    try:
        seconds = Decimal(v.text)
    except InvalidOperation:
        raise _bad(v, f"{v.text!r} is not a number of seconds, as {field.name} needs") from None
    if not seconds.is_finite():
        raise _bad(v, f"{v.text!r} is not a number of seconds, as {field.name} needs")
    return int(seconds * scale)


def _network(field: FieldDef, v: Value) -> Network:
    version = 4 if field.type is Type.IPV4 else 6
    try:
        net = ipaddress.ip_network(v.text, strict=False)
    except ValueError:
        raise _bad(v, f"{v.text!r} is not {a(field.type)} or a CIDR block") from None
    if net.version != version:
        raise _bad(v, f"{v.text} is not {a(field.type)}, as {field.name} is")
    return Network(int(net.network_address), int(net.broadcast_address))


_DOTTED_QUAD = (
    r"^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$"
)


def ipv4_values(cats: list[str]) -> npt.NDArray[np.int64]:
    """Each dotted-quad text as its 32-bit integer (-1 where it is not one, as Wireshark
    reads them: no leading zeros), in Arrow's compute kernels, not per text: a capture may
    hold hundreds of thousands of distinct addresses."""
    out = np.full(len(cats), -1, dtype=np.int64)
    if not len(cats):
        return out
    texts = pa.array(cats, type=pa.string(), from_pandas=True)
    shaped = pc.match_substring_regex(texts, _DOTTED_QUAD).fill_null(False)
    rows = np.flatnonzero(np.asarray(shaped, dtype=bool))
    if len(rows):
        parts = pc.split_pattern(texts.take(pa.array(rows)), ".")
        octets = np.asarray(pc.list_flatten(parts).cast(pa.int64())).reshape(-1, 4)
        octets = octets.astype(np.int64)
        fits = (octets <= 255).all(axis=1)
        value = (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
        out[rows[fits]] = value[fits]
    return out


def address_values(cats: list[str], version: int) -> npt.NDArray[Any]:
    """Each distinct address as an integer (-1 where it is not one of this version)."""
    if version == 4:
        return ipv4_values(cats)
    out = []
    for text in cats:
        try:
            a = ipaddress.ip_address(text)
        except ValueError:
            out.append(-1)
            continue
        out.append(int(a) if a.version == version else -1)
    return np.array(out, dtype=object)
