"""benchmarks/pairs.py measures what it says: each row's peer computes the same accuracy as
ours, and the overhead counter sees the aten ops and host reads of a step."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
pairs = pytest.importorskip("pairs")


@pytest.mark.parametrize("row", pairs.matrix(256), ids=lambda row: row.name)
def test_each_peer_agrees_with_ours(row):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer, ours, values = row.make()
        peer(), ours()
        want, got = values()
    assert 0.0 < want < 1.0 and abs(want - got) <= 1e-6, (row.name, want, got)


def test_the_overhead_counter_counts_ops_and_host_reads():
    x = torch.arange(6.0)
    ops, reads, per_call, outside = pairs.overhead(lambda: float(x.sum() + 1), calls=3, rounds=1)
    assert (ops, reads) == (3, 1)  # sum, add, and the read of the result
    assert per_call > 0.0 and outside >= 0.0
