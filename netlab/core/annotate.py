"""The columns that need a packet's neighbours: its flow, and the TCP analysis of its flow.

The decoder sees one packet at a time (a batch of them, each on its own), so it leaves `flow`
missing and `tcp_analysis` 0; these are filled here for a whole frame at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .flows import assign_flows_sides_reuse
from .tcp_analysis import tcp_analysis
from .tcp_flags import REUSED_PORTS


def annotate(df: pd.DataFrame) -> pd.DataFrame:
    """Fill the `flow` and `tcp_analysis` columns of a frame (rows in capture order) in place;
    returns the frame."""
    if not len(df):
        return df
    flows, sides, reused = assign_flows_sides_reuse(df)
    df["flow"] = pd.arrays.IntegerArray(flows, flows < 0)
    reused_bit = np.where(reused, REUSED_PORTS, 0).astype(np.uint16)
    df["tcp_analysis"] = tcp_analysis(df, flows, sides) | reused_bit  # stays uint16
    return df
