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


def test_the_array_form_equals_the_one_flow_form():
    import random

    import numpy as np

    from netlab.core.community_id import community_id_array

    rng = random.Random(1)
    rows = []
    for _ in range(3000):
        v6 = rng.random() < 0.3
        host = (
            (lambda: f"2001:db8::{rng.randrange(1, 9)}")
            if v6
            else (lambda: f"10.0.0.{rng.randrange(1, 9)}")
        )
        proto = rng.choice([6, 17, 58, 132] if v6 else [6, 17, 1, 47, 132])
        if proto in (1, 58):  # type and code, some with an answer type, some one-way
            ports = (rng.choice([0, 8, 3, 11, 128, 129, 135, 136, 1, 2]), rng.randrange(4))
        elif proto == 47:
            ports = (None, None)
        else:
            ports = (rng.randrange(1, 6), rng.randrange(1, 6))  # equal ports happen too
        rows.append((proto, host(), host(), *ports))
    vec = community_id_array(
        np.array([r[0] for r in rows]),
        [r[1] for r in rows],
        [r[2] for r in rows],
        np.array([-1 if r[3] is None else r[3] for r in rows]),
        np.array([-1 if r[4] is None else r[4] for r in rows]),
    )
    assert vec == [netlab.community_id(*r) for r in rows]
    assert community_id_array(
        np.array([6]), [None], ["10.0.0.1"], np.array([1]), np.array([2])
    ) == [None]
