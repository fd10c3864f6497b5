"""The columns that need a packet's neighbours: its flow, and the TCP analysis of its flow.

The decoder sees one packet at a time (a batch of them, each on its own), so it leaves `flow`
missing and `tcp_analysis` 0; these are filled here for a whole frame at once.
"""

from __future__ import annotations

import pandas as pd

from .flows import assign_flows_and_sides
from .tcp_analysis import tcp_analysis


def annotate(df: pd.DataFrame) -> pd.DataFrame:
    """Fill the `flow` and `tcp_analysis` columns of a frame (rows in capture order) in place;
    returns the frame."""
    if not len(df):
        return df
    flows, sides = assign_flows_and_sides(df)
    df["flow"] = pd.arrays.IntegerArray(flows, flows < 0)
    df["tcp_analysis"] = tcp_analysis(df, flows, sides)
    return df
