"""Wireshark display-filter text to a syntax tree, and the tree back to canonical text.

The grammar is `man wireshark-filter`'s (Wireshark 4.x): tests joined by `&&`/`and`,
`^^`/`xor` and `||`/`or` (binding in that order, tightest first), `!`/`not`, parentheses;
a test is a field or protocol name alone (present?), or a relation between a field and a
value or another field: `==` `!=` `===` `!==` (`~=`) `<` `>` `<=` `>=` (and `eq` `ne` `all_eq`
`any_ne` `lt` `gt` `le` `ge`), `contains`, `matches` (`~`), `in {a, b, c..d}` and the bitwise
`field & mask` (a test of its own, or compared). Values stay text here, as in Wireshark's own
parser: what `10.0.0.0/8` or `0x1f` means depends on the field it meets, so the compiler reads
them. Long `&&`/`||` chains are parsed in loops, and nesting is bounded, so no input can exhaust
the stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MAX_DEPTH = 100  # parentheses and `!` nested deeper than this are refused, not recursed into


class FilterSyntaxError(ValueError):
    """An invalid filter: what is wrong (`message`) and where (`position`, `length` chars)."""

    def __init__(self, message: str, position: int, length: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.length = max(length, 1)


# -- the tree --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    name: str
    pos: int


@dataclass(frozen=True)
class Value:
    """A literal as written: a bare word (`80`, `10.0.0.0/8`, `fe80::1`) or a quoted string."""

    text: str
    pos: int
    quoted: bool = False


@dataclass(frozen=True)
class Range:
    low: Value
    high: Value


@dataclass(frozen=True)
class Set:
    items: tuple[Value | Range, ...]
    pos: int


@dataclass(frozen=True)
class Present:
    """A field or protocol named alone: true where the packet has it."""

    field: Field


@dataclass(frozen=True)
class BitAnd:
    """`field & mask`: alone, true where any of the mask's bits is set."""

    field: Field
    mask: Value


@dataclass(frozen=True)
class Compare:
    op: str  # one of RELATIONS' canonical spellings
    left: Field | BitAnd
    right: Field | Value | Set
    pos: int


@dataclass(frozen=True)
class Not:
    arg: Node


@dataclass(frozen=True)
class Logic:
    op: str  # "&&", "||" or "^^"
    args: tuple[Node, ...]


Node = Present | BitAnd | Compare | Not | Logic

RELATIONS = {
    "==": "==",
    "eq": "==",
    "any_eq": "==",
    "!=": "!=",
    "ne": "!=",
    "all_ne": "!=",
    "===": "===",
    "all_eq": "===",
    "!==": "!==",
    "~=": "!==",
    "any_ne": "!==",
    "<": "<",
    "lt": "<",
    ">": ">",
    "gt": ">",
    "<=": "<=",
    "le": "<=",
    ">=": ">=",
    "ge": ">=",
    "contains": "contains",
    "matches": "matches",
    "~": "matches",
    "in": "in",
}
LOGIC = {"&&": "&&", "and": "&&", "||": "||", "or": "||", "^^": "^^", "xor": "^^"}
NOT = {"!", "not"}
_SYMBOLS = ("===", "!==", "==", "!=", "~=", "<=", ">=", "&&", "||", "^^", "..")
_SINGLE = "()<>{},!&~"
_WORD = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/-")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "0": "\0", "a": "\a"}


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "string", "op" or "end"
    text: str  # for a string, its value with escapes resolved
    pos: int
    end: int


def tokens(text: str) -> list[Token]:
    """The tokens of `text`; a word stops before `..`, so `3..5` is three tokens."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            value, j = _string(text, i)
            out.append(Token("string", value, i, j))
            i = j
        elif c in "rR" and text.startswith('"', i + 1):  # a raw string: backslashes stay
            j = i + 2
            while j < n and (text[j] != '"' or text[j - 1] == "\\"):
                j += 1
            if j >= n:
                raise FilterSyntaxError('a string is not closed (no ending ")', i, n - i)
            out.append(Token("string", text[i + 2 : j], i, j + 1))
            i = j + 1
        elif any(text.startswith(s, i) for s in _SYMBOLS):
            s = next(s for s in _SYMBOLS if text.startswith(s, i))
            out.append(Token("op", s, i, i + len(s)))
            i += len(s)
        elif c in _SINGLE:
            out.append(Token("op", c, i, i + 1))
            i += 1
        elif c in _WORD:
            j = i
            while j < n and text[j] in _WORD and not text.startswith("..", j):
                j += 1
            out.append(Token("word", text[i:j], i, j))
            i = j
        else:
            raise FilterSyntaxError(f"{c!r} is not part of the filter language", i)
    out.append(Token("end", "", n, n))
    return out


def _string(text: str, start: int) -> tuple[str, int]:
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(chars), i + 1
        if c == "\\":
            if i + 1 >= len(text):
                break
            e = text[i + 1]
            if e == "x" and _is_hex(text[i + 2 : i + 4]):
                chars.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            if e not in _ESCAPES:
                raise FilterSyntaxError(f"unknown escape \\{e} in a string", i, 2)
            chars.append(_ESCAPES[e])
            i += 2
            continue
        chars.append(c)
        i += 1
    raise FilterSyntaxError('a string is not closed (no ending ")', start, len(text) - start)


def _is_hex(s: str) -> bool:
    return len(s) == 2 and all(c in "0123456789abcdefABCDEF" for c in s)


# -- the parser ------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokens(text)
        self.k = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.k]

    def take(self) -> Token:
        t = self.toks[self.k]
        self.k += 1
        return t

    def logic_op(self) -> str | None:
        t = self.tok
        if (t.kind == "op" or t.kind == "word") and t.text in LOGIC:
            return LOGIC[t.text]
        return None

    def expression(self) -> Node:
        return self.chain("||", lambda: self.chain("^^", lambda: self.chain("&&", self.unary)))

    def chain(self, op: str, part: Callable[[], Node]) -> Node:
        args = [part()]
        while self.logic_op() == op:
            self.take()
            args.append(part())
        return args[0] if len(args) == 1 else Logic(op, tuple(args))

    def unary(self) -> Node:
        t = self.tok
        if t.text in NOT and t.kind in ("op", "word"):
            self.take()
            self.enter(t)
            arg = self.unary()
            self.depth -= 1
            return Not(arg)
        if t.kind == "op" and t.text == "(":
            self.take()
            self.enter(t)
            inner = self.expression()
            self.depth -= 1
            close = self.take()
            if close.text != ")" or close.kind != "op":
                raise self.unexpected(close, "expected ')' to close the '(' before")
            return inner
        return self.relation()

    def enter(self, t: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterSyntaxError(f"nested more than {MAX_DEPTH} deep", t.pos)

    def relation(self) -> Node:
        left_tok = self.take()
        if left_tok.kind != "word":
            raise self.unexpected(left_tok, "expected a field or protocol name")
        left: Field | BitAnd = Field(left_tok.text, left_tok.pos)
        if self.tok.kind == "op" and self.tok.text == "&":
            self.take()
            assert isinstance(left, Field)
            left = BitAnd(left, self.value())
        t = self.tok
        if t.text not in RELATIONS or t.kind not in ("op", "word"):
            if isinstance(left, BitAnd):
                return left
            return Present(left)
        self.take()
        op = RELATIONS[t.text]
        right: Field | Value | Set
        if op == "in":
            right = self.set()
        else:
            right = self.operand()
        return Compare(op, left, right, t.pos)

    def operand(self) -> Field | Value:
        t = self.tok
        if t.kind == "string":
            self.take()
            return Value(t.text, t.pos, quoted=True)
        if t.kind == "word":
            self.take()
            return Value(t.text, t.pos)  # a field or a literal: the compiler knows which
        raise self.unexpected(t, "expected a value")

    def value(self) -> Value:
        v = self.operand()
        assert isinstance(v, Value)
        return v

    def set(self) -> Set:
        open_ = self.take()
        if open_.text != "{":
            raise self.unexpected(open_, "expected '{' after 'in'")
        items: list[Value | Range] = []
        while not (self.tok.kind == "op" and self.tok.text == "}"):
            if self.tok.kind == "end":
                raise FilterSyntaxError("a set is not closed (no '}')", open_.pos)
            low = self.value()
            if self.tok.text == ".." and self.tok.kind == "op":
                self.take()
                items.append(Range(low, self.value()))
            else:
                items.append(low)
            if self.tok.kind == "op" and self.tok.text == ",":
                self.take()
        self.take()
        if not items:
            raise FilterSyntaxError("an empty set", open_.pos, 2)
        return Set(tuple(items), open_.pos)

    def unexpected(self, t: Token, expected: str) -> FilterSyntaxError:
        if t.kind == "end":
            return FilterSyntaxError(f"the filter ends too soon: {expected}", t.pos)
        message = f"{t.text!r} was unexpected here: {expected}"
        return FilterSyntaxError(message, t.pos, t.end - t.pos)


def parse(text: str) -> Node:
    """The syntax tree of a display filter (FilterSyntaxError says what and where if invalid)."""
    if not text.strip():
        raise FilterSyntaxError("the filter is empty", 0)
    p = _Parser(text)
    node = p.expression()
    if p.tok.kind != "end":
        raise p.unexpected(p.tok, "expected '&&', '||' or the end of the filter")
    return node


# -- canonical text --------------------------------------------------------------------------
_PRECEDENCE = {"||": 1, "^^": 2, "&&": 3}


def render(node: Node, outer: int = 0) -> str:
    """The canonical text of a tree: symbols for operators, minimal parentheses."""
    if isinstance(node, Logic):
        mine = _PRECEDENCE[node.op]
        text = f" {node.op} ".join(render(a, mine) for a in node.args)
        return f"({text})" if mine <= outer else text
    if isinstance(node, Not):
        return "!" + render(node.arg, 4)
    if isinstance(node, Present):
        return node.field.name
    if isinstance(node, BitAnd):
        return f"{node.field.name} & {_value(node.mask)}"
    right = node.right
    if isinstance(right, Set):
        items = ", ".join(
            f"{_value(i.low)}..{_value(i.high)}" if isinstance(i, Range) else _value(i)
            for i in right.items
        )
        rhs = "{" + items + "}"
    elif isinstance(right, Field):
        rhs = right.name
    else:
        rhs = _value(right)
    return f"{_value(node.left)} {node.op} {rhs}"


def _value(v: Value | BitAnd | Field) -> str:
    if isinstance(v, BitAnd):
        return f"{v.field.name} & {_value(v.mask)}"
    if isinstance(v, Field):
        return v.name
    if not v.quoted:
        return v.text
    escaped = v.text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in escaped) + '"'
