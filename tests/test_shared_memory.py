"""A metric handed to spawned processes counts, in each, only that process's batches (issue 20).

``torch.multiprocessing`` pickles CPU tensors into shared memory, and Lightning's
``ddp_spawn`` unshares only parameters and buffers before each rank starts. Our
updates add into the states in place, so every rank used to add its batches into
one memory (racing: lost updates at random) until the first ``reset()``: in epoch 0
each rank's "local" state held both ranks' batches, the synced sum counted them
twice, and a lost update made the logged value wrong (0.1739 where Keras says
0.2308). Compute groups made it visible: leader and follower raced apart.

Every expected state here is that of a metric that never left the process and saw
the same batches.

Example (what a spawned rank receives, in one process):
    >>> import pickle, torch_keras_acc as tka
    >>> from multiprocessing.reduction import ForkingPickler
    >>> import torch.multiprocessing  # registers torch's pickling into shared memory
    >>> sent = tka.SparseCategoricalAccuracy()
    >>> received = pickle.loads(ForkingPickler.dumps(sent))
    >>> received.update([[0.1, 0.9]], [1])
    >>> float(sent.count), float(received.count)
    (0.0, 1.0)
"""

from __future__ import annotations

import json
import pickle
import time
import warnings
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from torchmetrics import MetricCollection

import torch_keras_acc as tka
from tests.conftest import METRIC_CLASSES, synthetic_batch

SPAWN_TIMEOUT_S = 120


def _received(obj: Any) -> Any:
    """``obj`` as a process started by ``torch.multiprocessing`` (Lightning's ``ddp_spawn``) receives it."""
    return pickle.loads(ForkingPickler.dumps(obj))


def _states(metric: tka.KerasMeanMetric) -> dict[str, torch.Tensor]:
    return {key: getattr(metric, key) for key in metric._defaults}


def _assert_same_states(got: tka.KerasMeanMetric, want: tka.KerasMeanMetric, what: str) -> None:
    for key, value in _states(want).items():
        assert torch.equal(getattr(got, key), value), f"{what}: state {key!r} is {getattr(got, key)}, one process alone: {value}"


@pytest.mark.parametrize("cls", METRIC_CLASSES, ids=lambda c: c.__name__)
def test_ranks_received_from_one_metric_count_only_their_own_batches(cls: type) -> None:
    sent = cls()
    ranks = [_received(sent), _received(sent)]  # two spawned ranks, one pickled module
    batches = [synthetic_batch(cls, 6, seed=seed) for seed in (1, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # synthetic batches hold NaN scores and invalid labels on purpose
        for rank, batch in zip(ranks, batches):
            rank.update(*batch)
        for i, (rank, batch) in enumerate(zip(ranks, batches)):
            alone = cls()
            alone.update(*batch)
            _assert_same_states(rank, alone, f"{cls.__name__} on rank {i}")
            assert rank.compute() == alone.compute()
            shared = [key for key, value in _states(rank).items() if value.is_shared()]
            assert not shared and not rank._traced_updates.is_shared(), f"rank {i} still shares {shared or '_traced_updates'}"
    _assert_same_states(sent, cls(), f"{cls.__name__} in the sending process")


def _collection() -> MetricCollection:
    """The issue's shape: two identical metrics (one compute group) beside two others."""
    return MetricCollection(
        {
            "acc": tka.SparseCategoricalAccuracy(),
            "top2": tka.SparseTopKCategoricalAccuracy(k=2),
            "kacc": tka.KerasAccuracy(),
            "acc_again": tka.SparseCategoricalAccuracy(),
        },
        compute_groups=True,
    )


def _val_batches(rank: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Two bfloat16 batches (autocast's logits) with 0/1 weights (a padded duplicate weighs 0)."""
    gen = torch.Generator().manual_seed(10 + rank)
    batches = []
    for _ in range(2):
        logits = torch.randn(4, 6, generator=gen).to(torch.bfloat16)
        labels = torch.randint(0, 6, (4,), generator=gen)
        weights = torch.tensor([1.0, 1.0, 1.0, float(rank == 0)])
        batches.append((logits, labels, weights))
    return batches


def test_a_collection_received_by_two_ranks_keeps_each_ranks_own_states() -> None:
    sent = _collection()
    ranks = [_received(sent), _received(sent)]
    for rank, col in enumerate(ranks):  # rank 0's batches, then rank 1's: one order of the race
        for logits, labels, weights in _val_batches(rank):
            col.update(logits, labels, sample_weight=weights)
    for rank, col in enumerate(ranks):
        alone = _collection()
        for logits, labels, weights in _val_batches(rank):
            alone.update(logits, labels, sample_weight=weights)
        assert col.compute_groups == alone.compute_groups
        for key, metric in col.items(keep_base=True, copy_state=False):  # as Lightning's log_dict reads them
            _assert_same_states(metric, alone[key], f"{key} on rank {rank}")
        values = col.compute()
        assert values["acc"] == values["acc_again"] == alone.compute()["acc"]


# -- two real processes -----------------------------------------------------------------------------


def _rank(rank: int, metric: tka.KerasMeanMetric, barrier: Any, out_dir: str) -> None:
    """Rank 1 updates only once rank 0 has; then both report their state."""
    torch.set_num_threads(1)
    logits, labels, weights = _val_batches(rank)[0]
    if rank == 1:
        barrier.wait()
    metric.update(logits, labels, sample_weight=weights)
    if rank == 0:
        barrier.wait()
    barrier.wait()  # both have updated
    states = {key: float(value) for key, value in _states(metric).items()}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(states))


def test_two_spawned_processes_count_only_their_own_batches(tmp_path: Path) -> None:
    metric = tka.SparseCategoricalAccuracy()
    barrier = mp.get_context("spawn").Barrier(2, timeout=SPAWN_TIMEOUT_S)
    ctx = mp.start_processes(_rank, args=(metric, barrier, str(tmp_path)), nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + SPAWN_TIMEOUT_S
    try:
        while not ctx.join(timeout=max(0.0, deadline - time.monotonic())):
            assert time.monotonic() < deadline, f"the two ranks did not finish in {SPAWN_TIMEOUT_S}s"
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
                p.join(timeout=10)
    for rank in (0, 1):
        alone = tka.SparseCategoricalAccuracy()
        logits, labels, weights = _val_batches(rank)[0]
        alone.update(logits, labels, sample_weight=weights)
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got == {key: float(value) for key, value in _states(alone).items()}, f"rank {rank}"
