"""What an update costs on the triton path, counted on the CPU, for every configuration of issue 17.

Each case runs a metric under ``kernel_path("triton")`` (CPU tensors: the very kernels a CUDA
tensor runs, interpreted) and counts its warm second update with tests/_triton_cost.py:
at most 2 device operations (launches plus aten ops that would run on the device), no host
read, and each input read once inside a kernel. The same updates on the reference path must
leave bit-identical states (weights are multiples of 1/4 and per-sample means are over a
power of two of elements, so every float64 sum is exact in any order).
Every test name contains ``triton``: ``pytest -k triton`` selects them.
"""

from __future__ import annotations

import warnings

import pytest
import torch

pytest.importorskip("triton", reason="the Triton kernels need triton")

import torch_keras_acc as tka  # noqa: E402
from tests._triton_cost import TritonCost  # noqa: E402

N, T, C = 10, 4, 6
_G = torch.Generator().manual_seed(17)


def _r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_G)


def _ids(*shape: int, low: int = 0, high: int = C) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=_G)


def _w(*shape: int) -> torch.Tensor:
    return torch.randint(0, 8, shape, generator=_G) / 4.0  # multiples of 1/4, zeros included


X, LAB = _r(N, C), _ids(N, low=-1, high=C + 1)  # labels out of range: counted invalid in-kernel
LAB[0] = 0
ONE_HOT = torch.nn.functional.one_hot(_ids(N), C).float()
XS, LS = _r(N, T, C), _ids(N, T, low=0, high=C)
MASK = torch.rand(N, T, generator=_G) > 0.3
PB, YB = torch.rand(N, generator=_G), (torch.rand(N, generator=_G) > 0.5).float()
PM, YM = torch.rand(N, T, generator=_G), (torch.rand(N, T, generator=_G) > 0.5).float()

SCA, TOPK, CAT, TOPK1H = tka.SparseCategoricalAccuracy, tka.SparseTopKCategoricalAccuracy, tka.CategoricalAccuracy, tka.TopKCategoricalAccuracy
# id -> (metric class, its kwargs, y_pred, y_true, update kwargs)
CASES = {
    "sparse": (SCA, {}, X, LAB, {}),
    "sparse-w(N,)": (SCA, {}, X, LAB, {"sample_weight": _w(N)}),
    "sparse-w(N,1)": (SCA, {}, X, LAB, {"sample_weight": _w(N, 1)}),
    "sparse-w()": (SCA, {}, X, LAB, {"sample_weight": torch.tensor(0.75)}),
    "sparse-labels(N,1)-int32": (SCA, {}, X, LAB[:, None].int(), {}),
    "sparse-float-labels": (SCA, {}, X, LAB.float(), {}),
    "sparse-float64-labels-rounded": (SCA, {}, X, LAB.double() + torch.tensor([1e-9, 0.5, 0.0, 1e-300, 0.0] * 2), {}),
    "sparse-mask(N,)": (SCA, {}, X, LAB, {"mask": MASK[:, 0]}),
    "sparse-ignore_index": (SCA, {"ignore_index": 0}, X, LAB, {}),
    "sparse-f16": (SCA, {}, X.half(), LAB, {}),
    "sparse-bf16": (SCA, {}, X.bfloat16(), LAB, {}),
    "sparse-f64": (SCA, {}, X.double(), LAB, {}),
    "sparse-int-scores": (SCA, {}, (X * 3).round().to(torch.int32), LAB, {}),
    "tokens": (SCA, {}, XS, LS, {}),
    "tokens-mask": (SCA, {}, XS, LS, {"mask": MASK}),
    "tokens-ignore_index": (SCA, {"ignore_index": 1}, XS, LS, {}),
    "tokens-ignore_index-mask-w(N,T)": (SCA, {"ignore_index": 1}, XS, LS, {"mask": MASK, "sample_weight": _w(N, T)}),
    "tokens-w(N,)": (SCA, {}, XS, LS, {"sample_weight": _w(N)}),
    "tokens-w(N,1)": (SCA, {}, XS, LS, {"sample_weight": _w(N, 1)}),
    "tokens-w()-mask": (SCA, {}, XS, LS, {"sample_weight": torch.tensor(0.5), "mask": MASK}),
    "top5": (TOPK, {}, X, LAB, {}),
    "top2-w(N,)-f16": (TOPK, {"k": 2}, X.half(), LAB, {"sample_weight": _w(N)}),
    "top3-tokens-ignore_index": (TOPK, {"k": 3, "ignore_index": 0}, XS, LS, {}),
    "top8-k>=C": (TOPK, {"k": 8}, X, LAB, {}),
    "categorical": (CAT, {}, X, ONE_HOT, {}),
    "categorical-w(N,)-bf16": (CAT, {}, X.bfloat16(), ONE_HOT, {"sample_weight": _w(N)}),
    "categorical-tokens-mask": (CAT, {}, XS, torch.nn.functional.one_hot(LS, C).float(), {"mask": MASK}),
    "onehot-top3": (TOPK1H, {"k": 3}, X, ONE_HOT, {}),
    "onehot-top2-f64-w()": (TOPK1H, {"k": 2}, X.double(), ONE_HOT, {"sample_weight": torch.tensor(2.0)}),
    "binary(N,)": (tka.BinaryAccuracy, {}, PB, YB, {}),
    "binary(N,1)-w(N,)": (tka.BinaryAccuracy, {}, PB[:, None], YB[:, None], {"sample_weight": _w(N)}),
    "binary-f16-threshold": (tka.BinaryAccuracy, {"threshold": 0.25}, PB.half(), YB, {}),
    "multilabel": (tka.BinaryAccuracy, {}, PM, YM, {}),
    "multilabel-w(N,T)": (tka.BinaryAccuracy, {}, PM, YM, {"sample_weight": _w(N, T)}),
    "multilabel-mask": (tka.BinaryAccuracy, {}, PM, YM, {"mask": MASK}),
    "Accuracy": (tka.Accuracy, {}, _ids(N, high=3), _ids(N, high=3), {}),
    "Accuracy-float-w(N,)": (tka.Accuracy, {}, _ids(N, T, high=3).float(), _ids(N, T, high=3).float(), {"sample_weight": _w(N)}),
    "KerasAccuracy-sparse": (tka.KerasAccuracy, {"loss": "sparse_categorical_crossentropy"}, X, LAB, {}),
    "KerasAccuracy-binary": (tka.KerasAccuracy, {"loss": "binary_crossentropy"}, PB[:, None], YB[:, None], {}),
}


def _run(path: str, cls, kwargs, y_pred, y_true, update):
    """Two updates (the second one counted) and a forward; the states and the forward's value."""
    metric = cls(**kwargs)
    with warnings.catch_warnings(), tka.kernel_path(path) as log:
        warnings.simplefilter("ignore")
        metric.update(y_pred, y_true, **update)
        inputs = {"y_pred": y_pred, "y_true": y_true, **{k: v for k, v in update.items() if v.ndim}}
        with TritonCost(inputs=inputs) as cost:
            metric.update(y_pred, y_true, **update)
        value = metric(y_pred, y_true, **update)
    return (metric.total.clone(), metric.count.clone(), metric.invalid.clone(), value), cost, log


@pytest.mark.parametrize("case", list(CASES))
def test_triton_cost_one_fused_launch_and_reference_bits(case):
    cls, kwargs, y_pred, y_true, update = CASES[case]
    got, cost, log = _run("triton", cls, kwargs, y_pred, y_true, update)
    want, _, _ = _run("reference", cls, kwargs, y_pred, y_true, update)
    assert any(k.startswith("fused") for k in log.used), log.used
    assert cost.device_ops <= 2, cost.summary()
    assert cost.launches == 1, cost.summary()
    assert cost.host_reads == 0, cost.summary()
    for name, t in cost.inputs.items():  # each input read once (top-k reads one score per row twice)
        assert cost.coverage(name) == 1.0, (name, cost.summary())
        limit = 1.0 + (1.0 / t.shape[-1] if name == "y_pred" and "top" in case else 0.0)
        if name == "sample_weight" and t.ndim == 2 and t.shape[1] == 1 and y_true.ndim > 1 and y_true.shape[1] > 1:
            limit = y_true.shape[1]  # one weight per sample broadcast over its elements: re-read from cache
        assert cost.read_ratio(name) <= limit + 1e-9, (name, cost.summary())
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and torch.equal(g, w), (case, got, want)


def test_triton_cost_deterministic_across_runs_and_block_counts(monkeypatch):
    """Several programs per launch (tiny blocks): the last-program pass gives the same bits every run."""
    from torch_keras_acc import _triton

    monkeypatch.setattr(_triton, "_BLOCK", 4)
    monkeypatch.setattr(_triton, "_TILE", 8)
    monkeypatch.setattr(_triton, "_MIN_BLOCK_C", 4)
    monkeypatch.setattr(_triton, "_BLOCK_G", 2)  # the last program adds the rows in several steps
    w = torch.rand(N, T, generator=_G)  # arbitrary float weights: only the order could change the bits
    results = set()
    for _ in range(3):
        m = tka.BinaryAccuracy()
        with tka.kernel_path("triton"):
            m.update(PM, YM, sample_weight=w)
            m.update(PM, YM, sample_weight=w)
        results.add((m.total.item(), m.count.item()))
    assert len(results) == 1, results
    ref = tka.BinaryAccuracy()
    with tka.kernel_path("reference"):
        ref.update(PM, YM, sample_weight=w)
        ref.update(PM, YM, sample_weight=w)
    (total, count), = results
    assert abs(total - ref.total.item()) <= 1e-12 and abs(count - ref.count.item()) <= 1e-12


def test_triton_cost_bad_batch_leaves_the_state_alone():
    m = SCA()
    with tka.kernel_path("triton"):
        m.update(X, LAB)
        before = (m.total.clone(), m.count.clone(), m.invalid.clone())
        with pytest.raises(ValueError, match="sparse_weight|sample_weight"):
            m.update(X, LAB, sample_weight=torch.ones(N + 1))
    assert all(torch.equal(a, b) for a, b in zip(before, (m.total, m.count, m.invalid)))


# -- on a GPU only: the default path is the verified fused one; one kernel, no host sync -----------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", list(CASES))
def test_triton_cost_on_cuda_default_path_one_kernel_no_sync(case):
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cls, kwargs, y_pred, y_true, update = CASES[case]
    cuda = torch.device("cuda")
    y_pred, y_true = y_pred.to(cuda), y_true.to(cuda)
    update = {k: v.to(cuda) for k, v in update.items()}
    metric = cls(**kwargs).to(cuda)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tka.kernel_path() as log:  # the default choice, logged
            metric.update(y_pred, y_true, **update)  # first use: compile, probe, first-batch check
        assert any(k.startswith("fused") for k in log.used), log.used
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            metric.update(y_pred, y_true, **update)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            metric.update(y_pred, y_true, **update)
            torch.cuda.synchronize()
    kernels = [e.name for e in prof.events() if e.device_type == DeviceType.CUDA]
    if not kernels:
        pytest.skip("the profiler saw no CUDA kernel (no CUPTI?)")
    assert len(kernels) <= 2, kernels
    want, _, _ = _run("reference", cls, kwargs, *CASES[case][2:])  # three batches on the CPU, as here
    for g, w in zip((metric.total, metric.count, metric.invalid), want[:3]):
        assert torch.equal(g.cpu(), w), (case, g, w)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
def test_triton_fused_update_flushes_subnormal_weights_as_the_reference(dtype):
    """TensorFlow's FTZ makes a subnormal weight count as 0 (keras_edges.json pins the reference);
    the fused kernels flush it in-kernel, so the triton path leaves the reference's states."""
    tiny = 1e-310 if dtype == torch.float64 else 1e-40
    w = torch.tensor([tiny, 1.0, -tiny, 0.5], dtype=torch.float64).to(dtype)
    p = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    t = torch.tensor([0, 1, 2, 1])
    states = {}
    for path in ("reference", "triton"):
        m = tka.SparseCategoricalAccuracy()
        with tka.kernel_path(path) as log:
            m.update(p, t, sample_weight=w)
        states[path] = (m.total.clone(), m.count.clone())
        assert path == "reference" or log.used == {"fused sparse_argmax": {"triton"}}, log.used
    assert all(torch.equal(a, b) for a, b in zip(states["reference"], states["triton"]))
    assert float(states["reference"][1]) == 1.5  # the two subnormal weights counted as 0
