"""On CUDA: Keras's answers, the CPU's answers bit for bit, and no host sync in update.

Skipped without a CUDA device (CI has none; run ``python -m pytest tests/test_cuda.py``
on a GPU machine). Every test runs on both CUDA paths of ``_dispatch``: the eager
reference kernels (the default) and the same references compiled by inductor
(``TORCH_KERAS_ACC_COMPILE_CUDA=1``); the compiled one must not have fallen back.
"""

from __future__ import annotations

import importlib.util
import warnings
from contextlib import contextmanager
from typing import Iterator

import pytest
import torch

import torch_keras_acc as tka
import torch_keras_acc.functional as F
from torch_keras_acc import _dispatch, _reference
from tests.conftest import CLASSES, METRIC_CLASSES, case_params, expected_for, parity, synthetic_batch, to_torch
from tests.test_fast_paths import FLOATS, _edge_scores, _targets

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.filterwarnings("ignore::UserWarning"),  # inductor's own notices
]

CUDA = torch.device("cuda")
ALL = parity()["cases"]


@pytest.fixture(params=["reference", "compiled", "triton"])
def cuda_path(request):
    """Which CUDA path the primitives take (forced through the public switch); checks
    after the test that the path really ran (a failing compile falls back, and says so)."""
    if request.param in ("compiled", "triton") and importlib.util.find_spec("triton") is None:
        pytest.skip(f"the {request.param} path on CUDA needs Triton")
    with tka.kernel_path(request.param) as log:
        yield request.param
    ran = set().union(*log.used.values()) if log.used else set()
    assert not ran or request.param in ran, f"the {request.param} path never ran (it fell back): {log.used}"


def _cuda(x):
    return x.to(CUDA) if isinstance(x, torch.Tensor) else x


def _assert_identical(got: torch.Tensor, want: torch.Tensor) -> None:
    """Bit for bit, NaN included (a NaN sample weight makes a NaN result, as in Keras)."""
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


@contextmanager
def _no_host_sync() -> Iterator[None]:
    """Any host-device synchronisation inside raises (``torch.cuda.set_sync_debug_mode``)."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


# -- Keras parity on the GPU ----------------------------------------------------
@pytest.mark.parametrize("case", case_params(ALL))
def test_kernels_on_cuda_give_keras_answers(case, cuda_path):
    """The parity suite's per-sample check, with inputs on the GPU."""
    fn = getattr(F, case["metric"])
    for i, (batch, want) in enumerate(zip(case["batches"], expected_for(case)["fn"])):
        args = _cuda(to_torch(batch["y_true"])), _cuda(to_torch(batch["y_pred"]))
        if "error" in want:
            with pytest.raises((ValueError, TypeError), match=case["metric"]):
                fn(*args, **case["kwargs"])
            continue
        got = fn(*args, **case["kwargs"])
        assert got.is_cuda and got.dtype == torch.float32
        assert list(got.shape) == want["shape"], f"batch {i}: shape"
        assert got.flatten().tolist() == torch.tensor(want["data"]).flatten().tolist(), f"batch {i}"


@pytest.mark.parametrize("case", case_params(ALL))
def test_metric_state_on_cuda_equals_cpu(case, cuda_path):
    """``forward`` on the GPU: the same batch values and exactly the same states as on the CPU."""
    on_cpu, on_gpu = (CLASSES[case["metric"]](**case["kwargs"], on_invalid="ignore") for _ in range(2))
    on_gpu = on_gpu.to(CUDA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for batch in case["batches"]:
            preds, target = to_torch(batch["y_pred"]), to_torch(batch["y_true"])
            sw = to_torch(batch.get("sample_weight"))
            try:
                want = on_cpu(preds, target, sample_weight=sw)
            except (ValueError, TypeError) as err:
                with pytest.raises(type(err)):
                    on_gpu(_cuda(preds), _cuda(target), sample_weight=_cuda(sw))
                continue
            got = on_gpu(_cuda(preds), _cuda(target), sample_weight=_cuda(sw))
            assert got.is_cuda
            _assert_identical(got.cpu(), want)
    for state in ("total", "count", "invalid"):
        mine, theirs = getattr(on_gpu, state), getattr(on_cpu, state)
        assert mine.is_cuda, state
        _assert_identical(mine.cpu(), theirs)


# -- the TensorFlow rules, GPU against the CPU reference ---------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", [(200, 1), (300, 5), (6, 7, 4), (4096, 300)], ids=str)
def test_argmax_on_cuda_equals_cpu_reference(dtype, shape, cuda_path):
    x = _edge_scores(dtype, shape)
    got = _dispatch.argmax_last(x.to(CUDA))
    assert got.is_cuda and torch.equal(got.cpu(), _reference.argmax_last_reference(x))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("c,k", [(1, 1), (5, 2), (300, 5)], ids=str)
def test_in_top_k_on_cuda_equals_cpu_reference(dtype, c, k, cuda_path):
    x, t = _edge_scores(dtype, (500, c)), _targets(500, c)
    got = _dispatch.in_top_k(t.to(CUDA), x.to(CUDA), k)
    assert got.is_cuda and torch.equal(got.cpu(), _reference.in_top_k_reference(t, x, k))


@pytest.mark.parametrize("op", ["argmax_last", "in_top_k"])
def test_peak_extra_memory_is_never_n_by_c(op, cuda_path):
    """64 Mi float32 scores (256 MiB): whatever runs allocates well under one copy of them."""
    x = torch.randn(65536, 1024, device=CUDA)
    t = torch.randint(0, 1024, (65536,), device=CUDA)
    call = (lambda: _dispatch.argmax_last(x)) if op == "argmax_last" else (lambda: _dispatch.in_top_k(t, x, 5))
    call()  # compiles (on the compiled path) outside the measurement
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    call()
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - before
    assert extra < x.numel() * x.element_size() // 2, f"{op}: {extra / 2**20:.1f} MiB extra"


# -- no host sync -------------------------------------------------------------------
def _batches(cls: type) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two batches (of two sizes) on the GPU for ``cls``."""
    preds, target = synthetic_batch(cls, n=64, c=7)
    return [(preds.to(CUDA), target.to(CUDA)), (preds[1:].to(CUDA), target[1:].to(CUDA))]


@pytest.mark.parametrize("cls", METRIC_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("warn_pitfalls", [False, True])
def test_update_and_forward_never_sync_the_host(cls, warn_pitfalls, cuda_path):
    """``update``, ``update_state`` and ``forward``, weighted or not, sync nothing.

    With ``warn_pitfalls=True`` the first batch is checked for common mistakes, which
    reads values (one sync per metric, documented); that batch runs before the check.
    """
    metric = cls(warn_pitfalls=warn_pitfalls, on_invalid="ignore").to(CUDA)
    batches = _batches(cls)
    warm = cls(warn_pitfalls=False, on_invalid="ignore").to(CUDA)
    for preds, target in batches:  # compiles (on the compiled path) outside the check
        warm(preds, target)
        warm.update(preds, target, sample_weight=torch.rand(len(preds), device=CUDA))
    if warn_pitfalls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric.update(*batches[0])
    with _no_host_sync():
        for preds, target in batches:
            metric.update(preds, target)
            metric.update_state(target, preds, sample_weight=torch.rand(len(preds), device=CUDA))
            value = metric(preds, target)
            metric(preds, target, sample_weight=torch.full((len(preds),), 0.5, device=CUDA))
    assert value.is_cuda and 0.0 <= float(value) <= 1.0
    assert metric.total.is_cuda and float(metric.count) > 0
