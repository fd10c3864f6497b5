"""Wireshark display filters on netlab frames and flow tables: `compile_filter(expr)` once,
`f.mask(frame)` many times, or `filter(frame, expr)` for the matching rows.

The language and the fields are Wireshark's (`man wireshark-filter`), evaluated by netlab on
its columns with numpy, not by tshark. Every mistake is a `DisplayFilterError` (a
`FilterError`, a `ValueError`) saying what and where.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd

from .core.dfilter.columns import Columns
from .core.dfilter.compile import Mask, compile_tree
from .core.dfilter.syntax import FilterSyntaxError, parse, render
from .errors import DisplayFilterError, NetlabWarning
from .inner_packets import inner_levels

MAX_LENGTH = 100_000  # characters; longer filters are refused before parsing


def _inner_levels(c: Columns) -> list[tuple[pd.DataFrame, npt.NDArray[np.int64]]]:
    try:
        return [(level.frame, level.rows) for level in inner_levels(c)]
    except Exception as exc:  # noqa: BLE001 - a store that fails (a server away) must not
        # turn a valid filter into an error: the outer headers are still matched
        warnings.warn(
            f"the packets inside tunnels were not read ({type(exc).__name__}: {exc}); "
            "the filter matched the outermost headers only",
            NetlabWarning,
            stacklevel=2,
        )
        return []


class DisplayFilter:
    """A compiled display filter. `str(f)` is its canonical text."""

    def __init__(self, expression: str) -> None:
        if not isinstance(expression, str):
            raise TypeError(f"a display filter is text, not {type(expression).__name__}")
        self.expression = expression
        if len(expression) > MAX_LENGTH:
            raise DisplayFilterError(
                expression, f"the filter is longer than {MAX_LENGTH:,} characters", MAX_LENGTH
            )
        try:
            tree = parse(expression)
            self._mask: Mask = compile_tree(tree)
            self.text = render(tree)
        except FilterSyntaxError as e:
            raise DisplayFilterError(expression, e.message, e.position, e.length) from None
        except RecursionError:
            raise DisplayFilterError(expression, "the filter is nested too deeply", 0) from None

    def mask(self, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """True for each row of `frame` (packets or `netlab.flows()` rows) that matches."""
        try:
            out = self._mask(Columns(frame, _inner_levels))
        except FilterSyntaxError as e:
            raise DisplayFilterError(self.expression, e.message, e.position, e.length) from None
        return np.asarray(out, dtype=bool)

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The matching rows of `frame`, in order."""
        return frame[self.mask(frame)]

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"DisplayFilter({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DisplayFilter) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


@lru_cache(maxsize=256)
def compile_filter(expression: str) -> DisplayFilter:
    """Parse and check a display filter once (compiled filters are cached by their text)."""
    return DisplayFilter(expression)


def filter(frame: pd.DataFrame, expression: str | DisplayFilter) -> pd.DataFrame:  # noqa: A001
    """The rows of `frame` that match a display filter, in order."""
    f = expression if isinstance(expression, DisplayFilter) else compile_filter(expression)
    return f(frame)
