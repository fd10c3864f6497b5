"""Community ID v1 against the specification's own reference vectors (tests/data/community_id)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import netlab
from netlab.core.community_id import community_id

VECTORS = Path(__file__).resolve().parent.parent / "data" / "community_id"


@pytest.mark.parametrize(
    ("table", "seed"), [("baseline_deflt.json", 0), ("baseline_seed1.json", 1)]
)
def test_every_reference_vector(table, seed):
    rows = json.loads((VECTORS / table).read_text())
    assert len(rows) == 23
    for row in rows:
        got = community_id(
            row["proto"], row["saddr"], row["daddr"], row["sport"], row["dport"], seed=seed
        )
        assert got == row["communityid"], row


def test_both_directions_of_a_flow_share_one_id():
    a = netlab.community_id(6, "10.0.0.1", "10.0.0.2", 40000, 443)
    assert a == netlab.community_id(6, "10.0.0.2", "10.0.0.1", 443, 40000)
    assert a != netlab.community_id(6, "10.0.0.1", "10.0.0.2", 40001, 443)
    # an echo request (type 8, code 0) and its reply (type 0, code 0) are one flow
    ping = netlab.community_id(1, "10.0.0.1", "10.0.0.2", 8, 0)
    assert ping == netlab.community_id(1, "10.0.0.2", "10.0.0.1", 0, 0)
