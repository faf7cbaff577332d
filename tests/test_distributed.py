"""Distributed sync, checkpoint/resume, precision and collections of the metric objects.

The property proved throughout: a metric synced over processes (or merged,
or resumed) holds exactly the state of one process that saw all the data, so
every expected value here is a single-process run over the same batches.
Values and weights are chosen so that every sum is exact in float64
(0/1 per-sample values, trailing axes of 4, weights in quarters), which makes
``torch.equal`` the right comparison whatever the order of summation.

The multi-process checks run on CPU with gloo on 127.0.0.1: one spawn per world
size runs every check on every rank; each rank writes its outcome per check to
a file, and one pytest test per (world size, check) reports it.
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import socket
import time
import traceback
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, SequentialSampler, TensorDataset
from torchmetrics import MetricCollection
from torchmetrics.utilities.distributed import gather_all_tensors

import torch_keras_acc as tka
from tests.conftest import CLASSES as KERAS_CLASSES
from torch_keras_acc.distributed import padding_mask, unpadded_weights

CLASSES: list[type] = [*KERAS_CLASSES.values(), tka.KerasAccuracy]
SPARSE = {tka.SparseCategoricalAccuracy, tka.SparseTopKCategoricalAccuracy}
KWARGS: dict[type, dict[str, Any]] = {tka.TopKCategoricalAccuracy: {"k": 2}, tka.SparseTopKCategoricalAccuracy: {"k": 2}}
NUM_CLASSES = 5
WORLD_SIZES = (2, 3)
SPAWN_TIMEOUT_S = 120  # whole multi-process run per world size; a healthy one takes a few seconds
COLLECTIVE_TIMEOUT_S = 30  # a rank stuck in a mismatched collective gives up instead of hanging


# -- data ------------------------------------------------------------------------------------------


def _no_dist() -> bool:
    return False


def make(cls: type, **kwargs: Any) -> Any:
    """A metric with this test's kernel arguments (k=2 for top-k)."""
    return cls(**KWARGS.get(cls, {}), **kwargs)


def reference(cls: type) -> Any:
    """A metric that never syncs: one process's view, even inside an initialized process group."""
    return make(cls, distributed_available_fn=_no_dist)


def batch(cls: type, n: int, seed: int, sparse: bool | None = None) -> tuple[Tensor, Tensor]:
    """``(preds, target)`` of n samples for ``cls``, with ties and threshold hits, from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    if cls is tka.Accuracy:  # (n, 4): per-sample means are quarters, exact in float64
        return torch.randint(0, 3, (n, 4), generator=g).float(), torch.randint(0, 3, (n, 4), generator=g).float()
    if cls is tka.BinaryAccuracy or (cls is getattr(tka, "KerasAccuracy", None) and not sparse):
        preds = torch.randint(0, 5, (n, 1), generator=g) / 4  # includes y_pred == threshold
        return preds, torch.randint(0, 2, (n, 1), generator=g).float()
    preds = torch.randint(0, 4, (n, NUM_CLASSES), generator=g).float()  # small integers: many ties
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    if cls in SPARSE or sparse:
        return preds, labels
    return preds, torch.nn.functional.one_hot(labels, NUM_CLASSES).float()


def weights(n: int, seed: int, scalar: bool = False) -> Tensor:
    """Per-sample weights in quarters from 0 to 2 (some zero), or a scalar one."""
    g = torch.Generator().manual_seed(seed + 7)
    if scalar:
        return torch.tensor(0.75)
    return torch.randint(0, 9, (n,), generator=g) / 4


def rank_batches(sizes: list[list[int]], rank: int, salt: int) -> list[tuple[int, int]]:
    """``(n, seed)`` of each batch of ``rank``; seeds differ per rank and batch."""
    return [(n, salt * 1000 + rank * 100 + b) for b, n in enumerate(sizes[rank])]


def states(metric: Any) -> tuple[Tensor, Tensor]:
    return metric.total.clone(), metric.count.clone()


def synced_states(metric: Any) -> tuple[Tensor, Tensor]:
    """The states compute() sees: summed over the ranks (as the metric is configured to sync)."""
    with metric.sync_context(dist_sync_fn=metric.dist_sync_fn, should_sync=metric.sync_on_compute):
        return states(metric)


def assert_same(got: Any, want: Any, what: str) -> None:
    """Equal float64 states (as synced for compute) and an equal result, bit for bit."""
    for name, g, w in zip(("total", "count"), synced_states(got), states(want)):
        assert g.dtype == w.dtype == torch.float64, f"{what}: {name} dtype {g.dtype} / {w.dtype}"
        assert torch.equal(g, w), f"{what}: {name} {g.item()!r} != one process {w.item()!r}"
    g, w = got.compute(), want.compute()
    assert g.dtype == w.dtype and torch.equal(g, w), f"{what}: result {g!r} != one process {w!r}"


# -- checks run on every rank of a gloo group --------------------------------------------------------

UNEVEN = [[5, 3, 7], [4], [2, 6]]  # every rank has batches, of different counts and sizes
IDLE_LAST = [[5, 3, 7], [4], []]  # the last rank never sees a batch (world 2: rank 1)
STEPS = [[4, 0, 3], [2, 5, 0], [3, 3, 1]]  # per step: same step count everywhere, empty batches included


def _sizes(table: list[list[int]], world: int, idle_last: bool = False) -> list[list[int]]:
    sizes = [list(row) for row in table[:world]]
    if idle_last:
        sizes[-1] = []
    return sizes


def check_compute_uneven(rank: int, world: int) -> None:
    """update() + compute(): uneven batch counts and sizes; synced on every rank; local state kept."""
    sizes = _sizes(UNEVEN, world)
    for cls in CLASSES:
        m, ref, local = make(cls), reference(cls), reference(cls)
        for n, seed in rank_batches(sizes, rank, 1):
            m.update(*batch(cls, n, seed))
            local.update(*batch(cls, n, seed))
        for r in range(world):
            for n, seed in rank_batches(sizes, r, 1):
                ref.update(*batch(cls, n, seed))
        assert_same(m, ref, cls.__name__)
        # compute() syncs a copy: the rank's own state is back, so accumulation can go on
        assert all(torch.equal(a, b) for a, b in zip(states(m), states(local))), f"{cls.__name__}: local state after compute"


def check_keras_spelling_weighted_idle_rank(rank: int, world: int) -> None:
    """update_state(y_true, y_pred, sample_weight) + result(), per-sample and scalar weights; last rank idle."""
    sizes = _sizes(IDLE_LAST, world, idle_last=True)
    for cls in CLASSES:
        m, ref = make(cls), reference(cls)
        for r in range(world):
            for b, (n, seed) in enumerate(rank_batches(sizes, r, 2)):
                preds, target = batch(cls, n, seed)
                w = weights(n, seed, scalar=b == 1)
                ref.update_state(target, preds, w)
                if r == rank:
                    m.update_state(target, preds, sample_weight=w)
        got, want = m.result(), ref.result()
        assert got.dtype == want.dtype and torch.equal(got, want), f"{cls.__name__}: result() {got!r} != {want!r}"
        assert_same(m, ref, cls.__name__)


def check_forward_dist_sync_on_step(rank: int, world: int) -> None:
    """forward() with dist_sync_on_step=True: each step's value is that step over all ranks."""
    sizes = _sizes(STEPS, world)
    for cls in CLASSES:
        m, ref = make(cls, dist_sync_on_step=True), reference(cls)
        for step in range(len(sizes[0])):
            step_ref = reference(cls)
            for r in range(world):
                n, seed = sizes[r][step], 3000 + r * 100 + step
                preds, target = batch(cls, n, seed)
                w = weights(n, seed)
                step_ref.update(preds, target, w)
                ref.update(preds, target, w)
                if r == rank:
                    value = m(preds, target, sample_weight=w)
            want = step_ref.compute()
            assert torch.equal(value, want), f"{cls.__name__} step {step}: forward {value!r} != {want!r}"
        assert_same(m, ref, cls.__name__)


def check_forward_local_step(rank: int, world: int) -> None:
    """forward() by default: this rank's batch value per step, all ranks at compute()."""
    sizes = _sizes(UNEVEN, world)
    for cls in CLASSES:
        m, ref = make(cls), reference(cls)
        for r in range(world):
            for n, seed in rank_batches(sizes, r, 4):
                preds, target = batch(cls, n, seed)
                ref.update(preds, target)
                if r == rank:
                    value, want = m(preds, target), reference(cls)(preds, target)
                    assert torch.equal(value, want), f"{cls.__name__}: forward {value!r} != {want!r}"
        assert_same(m, ref, cls.__name__)


def check_sync_on_compute_false(rank: int, world: int) -> None:
    """sync_on_compute=False: compute() is this rank's own value."""
    sizes = _sizes(UNEVEN, world)
    for cls in CLASSES:
        m, local = make(cls, sync_on_compute=False), reference(cls)
        for n, seed in rank_batches(sizes, rank, 5):
            m.update(*batch(cls, n, seed))
            local.update(*batch(cls, n, seed))
        assert_same(m, local, cls.__name__)


def check_dist_sync_fn(rank: int, world: int) -> None:
    """A user dist_sync_fn is the one that gathers the states."""
    sizes = _sizes(IDLE_LAST, world, idle_last=True)
    for cls in CLASSES:
        calls: list[int] = []

        def gather(tensor: Tensor, group: Any = None) -> list[Tensor]:
            calls.append(1)
            return gather_all_tensors(tensor, group)

        m, ref = make(cls, dist_sync_fn=gather), reference(cls)
        for r in range(world):
            for n, seed in rank_batches(sizes, r, 6):
                ref.update(*batch(cls, n, seed))
                if r == rank:
                    m.update(*batch(cls, n, seed))
        assert torch.equal(m.compute(), ref.compute()), cls.__name__
        assert calls, f"{cls.__name__}: dist_sync_fn was never called"


def check_process_group(rank: int, world: int) -> None:
    """process_group=: the result covers ranks 0 and 1 only (world 3: rank 2 stays out)."""
    group = dist.new_group([0, 1])  # every rank must take part in creating it
    if rank > 1:
        return
    sizes = _sizes(UNEVEN, world)
    for cls in CLASSES:
        m, ref = make(cls, process_group=group), reference(cls)
        for r in (0, 1):
            for n, seed in rank_batches(sizes, r, 7):
                ref.update(*batch(cls, n, seed))
                if r == rank:
                    m.update(*batch(cls, n, seed))
        assert_same(m, ref, cls.__name__)


def check_invalid_labels_raise_on_every_rank(rank: int, world: int) -> None:
    """An out-of-range label on rank 0 makes compute() raise on every rank (the count is synced)."""
    for cls in sorted(SPARSE, key=lambda c: c.__name__):
        m = make(cls, on_invalid="raise")
        preds, target = batch(cls, 4, 8000 + rank)
        if rank == 0:
            target[0] = NUM_CLASSES + 3
        m.update(preds, target)
        with pytest.raises(ValueError, match="1 label"):
            m.compute()


def check_collection(rank: int, world: int) -> None:
    """A MetricCollection of our metrics syncs each member like the standalone metric."""
    sparse_classes = [tka.SparseCategoricalAccuracy, tka.SparseTopKCategoricalAccuracy]
    if hasattr(tka, "KerasAccuracy"):
        sparse_classes.append(tka.KerasAccuracy)
    collection = MetricCollection({c.__name__: make(c) for c in sparse_classes}, compute_groups=False)
    refs = {c.__name__: reference(c) for c in sparse_classes}
    sizes = _sizes(IDLE_LAST, world, idle_last=True)
    for r in range(world):
        for n, seed in rank_batches(sizes, r, 9):
            preds, target = batch(tka.SparseCategoricalAccuracy, n, seed)
            for ref in refs.values():
                ref.update(preds, target)
            if r == rank:
                collection.update(preds, target)
    got = collection.compute()
    for name, ref in refs.items():
        assert torch.equal(got[name], ref.compute()), f"{name}: {got[name]!r} != {ref.compute()!r}"


def check_padding_weights(rank: int, world: int) -> None:
    """DistributedSampler pads; unpadded_weights makes the synced result the unpadded dataset's."""
    n_total = 7 if world == 2 else 8  # not divisible by the world size: some ranks get a duplicate
    index = torch.arange(n_total)
    for cls in CLASSES:
        preds, target = batch(cls, n_total, 9100)
        sampler = DistributedSampler(TensorDataset(index), num_replicas=world, rank=rank, shuffle=True, seed=3)
        sampler.set_epoch(1)
        loader = DataLoader(TensorDataset(index), batch_size=2, sampler=sampler)
        per_batch = unpadded_weights(loader).split(loader.batch_size)
        m, padded = make(cls), make(cls)
        for i, (idx,) in enumerate(loader):
            m.update(preds[idx], target[idx], sample_weight=per_batch[i])
            padded.update(preds[idx], target[idx])
        ref = reference(cls)
        ref.update(preds, target)  # the whole dataset, each sample once, in one process
        assert_same(m, ref, cls.__name__)
        with padded.sync_context():  # without the weights the duplicates count
            assert padded.count.item() == world * len(sampler) != n_total


CHECKS: dict[str, Callable[[int, int], None]] = {
    f.__name__.removeprefix("check_"): f
    for f in (
        check_compute_uneven,
        check_keras_spelling_weighted_idle_rank,
        check_forward_dist_sync_on_step,
        check_forward_local_step,
        check_sync_on_compute_false,
        check_dist_sync_fn,
        check_process_group,
        check_invalid_labels_raise_on_every_rank,
        check_collection,
        check_padding_weights,
    )
}


# -- spawning --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loopback_interface() -> str | None:
    names = {name for _, name in socket.if_nameindex()}
    return next((name for name in ("lo", "lo0") if name in names), None)


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    """Run every check on this rank; write ``{check: traceback or None}`` after each one."""
    loopback = _loopback_interface()
    if loopback:  # keep gloo on 127.0.0.1 whatever the hostname resolves to
        os.environ["GLOO_SOCKET_IFNAME"] = loopback
    torch.set_num_threads(1)  # 2-3 processes on a 2-core CI machine
    warnings.simplefilter("ignore")  # e.g. compute() on the idle rank; each check asserts what it needs
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S),
    )
    outcome: dict[str, str | None] = {}
    path = Path(out_dir) / f"rank{rank}.json"
    try:
        for name, check in CHECKS.items():
            try:
                check(rank, world)
                outcome[name] = None
            except Exception:
                outcome[name] = traceback.format_exc()
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(outcome))
            os.replace(tmp, path)  # a rank killed mid-check still leaves the checks it finished
    finally:
        dist.destroy_process_group()


def run_world(world: int, out_dir: Path) -> tuple[dict[str, dict[int, str | None]], str | None]:
    """Spawn ``world`` ranks, wait at most SPAWN_TIMEOUT_S; return outcomes and any spawn failure."""
    ctx = mp.start_processes(_worker, args=(world, _free_port(), str(out_dir)), nprocs=world, join=False, start_method="spawn")
    failure = None
    deadline = time.monotonic() + SPAWN_TIMEOUT_S
    try:
        # join() returns False while any rank runs (also each time one ends cleanly) and raises if one failed
        while not ctx.join(timeout=max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                failure = f"timed out after {SPAWN_TIMEOUT_S}s"
                break
    except Exception as err:  # a rank crashed outside the per-check handler
        failure = f"{type(err).__name__}: {err}"
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
                p.join(timeout=10)
    outcomes: dict[str, dict[int, str | None]] = {name: {} for name in CHECKS}
    for rank in range(world):
        path = out_dir / f"rank{rank}.json"
        if path.exists():
            for name, error in json.loads(path.read_text()).items():
                outcomes[name][rank] = error
    return outcomes, failure


@pytest.fixture(scope="module", params=WORLD_SIZES, ids=lambda w: f"world{w}")
def world_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, str | None]:
    world = request.param
    outcomes, failure = run_world(world, tmp_path_factory.mktemp(f"world{world}"))
    return world, outcomes, failure


@pytest.mark.parametrize("check", list(CHECKS))
def test_multiprocess(world_run: tuple[int, dict, str | None], check: str) -> None:
    world, outcomes, failure = world_run
    errors = [f"--- rank {r} ---\n{e}" for r, e in sorted(outcomes[check].items()) if e]
    missing = [r for r in range(world) if r not in outcomes[check]]
    assert not errors, f"{check} failed on {world} processes:\n" + "\n".join(errors)
    assert not missing, f"{check}: ranks {missing} never reported ({failure or 'no error recorded'})"


# -- the helper, in one process --------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(0, 40),
    replicas=st.integers(1, 6),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**16),
    epoch=st.integers(0, 5),
)
def test_padding_mask_marks_exactly_the_duplicates(n: int, replicas: int, shuffle: bool, seed: int, epoch: int) -> None:
    """Over all ranks, the real (unmasked) draws are the dataset, each index once."""
    real: list[int] = []
    for rank in range(replicas):
        sampler = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed)
        sampler.set_epoch(epoch)
        drawn, mask = list(sampler), padding_mask(sampler)
        assert mask.dtype == torch.bool and len(mask) == len(drawn)
        real += [i for i, padded in zip(drawn, mask.tolist()) if not padded]
        assert torch.equal(unpadded_weights(sampler, dtype=torch.float64), (~mask).double())
    assert sorted(real) == list(range(n))


@pytest.mark.parametrize("n", [12, 13])
def test_padding_mask_with_drop_last(n: int) -> None:
    """drop_last=True never duplicates, but drops samples: all real, and a warning when any is lost."""
    samplers = [DistributedSampler(range(n), num_replicas=4, rank=r, drop_last=True) for r in range(4)]
    if n % 4:
        with pytest.warns(UserWarning, match="leaves out 1 of 13"):
            masks = [padding_mask(s) for s in samplers]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            masks = [padding_mask(s) for s in samplers]
    assert not any(m.any() for m in masks)
    assert sum(len(m) for m in masks) == 4 * (n // 4)


def test_padding_mask_sources() -> None:
    """A DataLoader with sampler= or batch_sampler= works like its sampler; without a DistributedSampler
    (one process) every draw is real."""
    ds = TensorDataset(torch.arange(5))
    sampler = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)
    want = padding_mask(sampler)
    assert want.tolist() == [False, False, True]  # rank 1 of 5 samples draws [1, 3, 0]
    assert torch.equal(padding_mask(DataLoader(ds, sampler=sampler, batch_size=2)), want)
    assert torch.equal(padding_mask(DataLoader(ds, batch_sampler=BatchSampler(sampler, 2, False))), want)
    for single in (SequentialSampler(ds), DataLoader(ds, batch_size=2, shuffle=True)):
        assert torch.equal(unpadded_weights(single), torch.ones(5))


@pytest.mark.parametrize("n", [9, 10])
@pytest.mark.parametrize("padding", [True, False], ids=["DistributedSamplerWrapper", "UnrepeatedDistributedSamplerWrapper"])
def test_padding_mask_with_lightning_samplers(padding: bool, n: int) -> None:
    """Lightning's wrapper (a user sampler under DDP) pads like torch's; its unrepeated one never pads."""
    pytest.importorskip("lightning")
    from lightning.fabric.utilities.distributed import DistributedSamplerWrapper
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSamplerWrapper

    cls = DistributedSamplerWrapper if padding else UnrepeatedDistributedSamplerWrapper
    real: list[int] = []
    for rank in range(4):
        sampler = cls(SequentialSampler(range(n)), num_replicas=4, rank=rank, shuffle=True)
        real += [i for i, padded in zip(sampler, padding_mask(sampler).tolist()) if not padded]
    assert sorted(real) == list(range(n))


# -- sync logic in one process (fake gather: as if another rank held the same state) ------------------


def _twice(tensor: Tensor, group: Any = None) -> list[Tensor]:
    return [tensor, tensor]


def _yes() -> bool:
    return True


def test_raise_on_invalid_leaves_the_metric_unsynced() -> None:
    m = tka.SparseCategoricalAccuracy(on_invalid="raise", dist_sync_fn=_twice, distributed_available_fn=_yes)
    m.update(torch.eye(3), torch.tensor([0, 1, 7]))
    local = states(m)
    with pytest.raises(ValueError, match="label"):
        m.compute()
    assert not m._is_synced and all(torch.equal(a, b) for a, b in zip(states(m), local))


# -- checkpoint / resume, pickle, deepcopy -------------------------------------------------------------


def _batches(cls: type, count: int, salt: int) -> list[tuple[Tensor, Tensor, Tensor]]:
    out = []
    for b in range(count):
        preds, target = batch(cls, 3 + b, salt * 100 + b)
        out.append((preds, target, weights(3 + b, salt * 100 + b)))
    return out


@pytest.mark.filterwarnings("ignore:The ``compute`` method:UserWarning")  # resumed at the very end: no update() since the load
@pytest.mark.parametrize("stop", [0, 2, 5], ids=lambda s: f"stop_after_{s}")
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_resume_from_state_dict_mid_epoch(cls: type, stop: int) -> None:
    """Stopped after ``stop`` of 5 batches, saved, loaded into a fresh metric, finished: same as no stop."""
    data = _batches(cls, 5, 1)
    uninterrupted = make(cls)
    for preds, target, w in data:
        uninterrupted.update(preds, target, w)

    first = make(cls)
    first.persistent(True)
    for preds, target, w in data[:stop]:
        first.update(preds, target, w)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)  # what a checkpoint holds
    buffer.seek(0)
    resumed = make(cls)
    resumed.persistent(True)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for preds, target, w in data[stop:]:
        resumed.update(preds, target, w)
    assert_same(resumed, uninterrupted, cls.__name__)


def test_state_dict_holds_states_only_when_persistent() -> None:
    """torchmetrics' default: states are not saved unless persistent(True) (checkpoints stay model-only)."""
    m = tka.SparseCategoricalAccuracy()
    m.update(*batch(tka.SparseCategoricalAccuracy, 4, 0))
    assert "total" not in m.state_dict()
    m.persistent(True)
    sd = m.state_dict()
    assert sd["total"].dtype == sd["count"].dtype == torch.float64
    assert torch.equal(sd["count"], torch.tensor(4.0, dtype=torch.float64))


COPIERS: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda m: pickle.loads(pickle.dumps(m)),
    "deepcopy": copy.deepcopy,
    "clone": lambda m: m.clone(),
}


@pytest.mark.parametrize("copier", list(COPIERS))
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_copies_keep_state_and_keep_accumulating(cls: type, copier: str) -> None:
    data = _batches(cls, 4, 2)
    original = make(cls)
    for preds, target, w in data[:2]:
        original.update(preds, target, w)
    copied = COPIERS[copier](original)
    assert_same(copied, original, f"{cls.__name__} copy")
    for preds, target, w in data[2:]:
        original.update(preds, target, w)
        copied.update(preds, target, w)
    assert_same(copied, original, f"{cls.__name__} after more batches")
    if hasattr(original, "variant"):
        assert copied.variant is original.variant


# -- precision of the accumulators ----------------------------------------------------------------------


def _updated(cls: type) -> Any:
    m = make(cls)
    for preds, target, w in _batches(cls, 2, 3):
        m.update(preds, target, w)
    return m


@pytest.mark.parametrize(
    "cast",
    [
        lambda m: m.half(),
        lambda m: m.float(),
        lambda m: m.double(),
        lambda m: m.bfloat16(),
        lambda m: m.type(torch.float16),
        lambda m: m.to("cpu"),
        lambda m: m.to(torch.device("cpu")),
        lambda m: torch.nn.ModuleDict({"acc": m}).half()["acc"],  # a model cast with its metric attribute
    ],
    ids=["half", "float", "double", "bfloat16", "type", "to_cpu", "to_device", "parent_half"],
)
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_casts_keep_float64_accumulators(cls: type, cast: Callable[[Any], Any]) -> None:
    m = _updated(cls)
    before = states(m)
    out = cast(m)
    assert out is m or isinstance(out, type(m))
    for got, want in zip(states(m), before):
        assert got.dtype == torch.float64 and torch.equal(got, want)
    assert m.compute().dtype == torch.float32  # the result keeps its own dtype= too


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_to_dtype_keeps_float64_accumulators(dtype: torch.dtype) -> None:
    m = _updated(tka.SparseCategoricalAccuracy)
    m.to(dtype)
    assert m.total.dtype == m.count.dtype == torch.float64


def test_set_dtype_is_the_explicit_opt_in() -> None:
    """torchmetrics' set_dtype() does change the states: the one deliberate way to give up float64."""
    m = _updated(tka.SparseCategoricalAccuracy)
    m.set_dtype(torch.float32)
    assert m.total.dtype == m.count.dtype == torch.float32


# -- MetricCollection and merge_state ----------------------------------------------------------------


def _collection_data() -> list[tuple[Tensor, Tensor]]:
    """First batch: every sample's label has the top score alone (every metric scores 1.0, equal states);
    later batches: seeded, where argmax and top-2 differ."""
    first = torch.tensor([[0.9, 0.05, 0.05, 0.0, 0.0], [0.1, 0.8, 0.1, 0.0, 0.0], [0.0, 0.1, 0.2, 0.7, 0.0]])
    data = [(first, torch.tensor([0, 1, 3]))]
    data += [batch(tka.SparseCategoricalAccuracy, 6, 40 + b) for b in range(3)]
    return data


def _standalone(classes: list[type], data: list[tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
    out = {}
    for cls in classes:
        m = make(cls)
        for preds, target in data:
            m.update(preds, target)
        out[cls.__name__] = m.compute()
    return out


SPARSE_TRIO = [tka.SparseCategoricalAccuracy, tka.SparseTopKCategoricalAccuracy] + (
    [tka.KerasAccuracy] if hasattr(tka, "KerasAccuracy") else []
)


def test_collection_without_compute_groups_equals_standalone() -> None:
    data = _collection_data()
    collection = MetricCollection({c.__name__: make(c) for c in SPARSE_TRIO}, compute_groups=False)
    for preds, target in data:
        collection.update(preds, target)
    got, want = collection.compute(), _standalone(SPARSE_TRIO, data)
    assert want["SparseCategoricalAccuracy"] != want["SparseTopKCategoricalAccuracy"]  # the data tells them apart
    for name in want:
        assert torch.equal(got[name], want[name]), name


def test_compute_groups_merge_identical_metrics_correctly() -> None:
    """Two instances of one metric and kernel (different names) may share state: torchmetrics merges them."""
    data = _collection_data()
    a, b = tka.SparseCategoricalAccuracy(name="acc_a"), tka.SparseCategoricalAccuracy(name="acc_b")
    collection = MetricCollection({"a": a, "b": b})
    for preds, target in data:
        collection.update(preds, target)
    assert list(collection.compute_groups.values()) == [["a", "b"]]
    want = _standalone([tka.SparseCategoricalAccuracy], data)["SparseCategoricalAccuracy"]
    assert torch.equal(collection.compute()["a"], want) and torch.equal(collection.compute()["b"], want)


def test_default_compute_groups_never_merge_different_kernels() -> None:
    data = _collection_data()
    collection = MetricCollection({c.__name__: make(c) for c in SPARSE_TRIO})
    for preds, target in data:
        collection.update(preds, target)
    got, want = collection.compute(), _standalone(SPARSE_TRIO, data)
    for name in want:
        assert torch.equal(got[name], want[name]), f"{name}: {got[name]!r} != standalone {want[name]!r}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_merge_state_equals_one_instance(cls: type) -> None:
    """Three instances over three parts, merged (as a metric and as a state dict): one instance over all."""
    data = _batches(cls, 6, 4)
    parts = [make(cls) for _ in range(3)]
    whole = make(cls)
    for i, (preds, target, w) in enumerate(data):
        parts[i % 3].update(preds, target, w)
        whole.update(preds, target, w)
    parts[0].merge_state(parts[1])
    parts[0].merge_state({k: getattr(parts[2], k) for k in ("total", "count", "invalid")})
    assert_same(parts[0], whole, cls.__name__)


def test_merge_state_refuses_another_class() -> None:
    with pytest.raises(ValueError, match="instance of"):
        tka.CategoricalAccuracy().merge_state(tka.SparseCategoricalAccuracy())
