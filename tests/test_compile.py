"""The functional kernels compile with ``torch.compile(fullgraph=True)`` and agree with eager.

Compiled on the kernels, not on the Metric objects (torchmetrics' update-count
bookkeeping would recompile every step). Two parts, kept small because each
inductor compile costs about a second on CPU (the first one ~15 s):

* every public kernel on a few ordinary parity-fixture cases (one per input
  dtype and rank, at most ``PER_KERNEL``): no graph break, same output as eager;
* the compiled references that run on CUDA (``_tf_ops._fused_on_cuda``), on CPU,
  on edge values: inductor keeps TensorFlow's NaN, signed-zero and subnormal rules.
"""

from __future__ import annotations

import shutil

import pytest
import torch

import torch_keras_acc.functional as F
from torch_keras_acc import _tf_ops
from tests.conftest import cases, to_torch
from tests.test_fast_paths import _edge_scores, _targets

pytestmark = [
    pytest.mark.skipif(
        not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")),
        reason="torch.compile's CPU backend needs a C++ compiler",
    ),
    pytest.mark.filterwarnings("ignore::UserWarning"),  # inductor's own notices
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),  # torch internals
]

KERNELS = [
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
]
EDGE_TAGS = {"nan", "subnormal", "error", "invalid_label", "pitfall"}
PER_KERNEL = 3


def _ordinary(metric: str) -> list[dict]:
    """A few tensor-input cases without edge values or errors, one per (dtypes, ranks), unweighted."""
    picked: dict[tuple, dict] = {}
    for case in cases(metric=metric):
        batch = case["batches"][0]
        if EDGE_TAGS & set(case.get("tags", [])) or batch.get("sample_weight") is not None:
            continue
        specs = batch["y_true"], batch["y_pred"]
        if any(s["as"] == "list" for s in specs):
            continue
        picked.setdefault(tuple((s["dtype"], len(s["shape"])) for s in specs), case)
    return list(picked.values())[:PER_KERNEL]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("metric", KERNELS)
def test_kernel_compiles_fullgraph_and_matches_eager(metric):
    fn = getattr(F, metric)
    selected = _ordinary(metric)
    assert selected, f"no ordinary fixture case for {metric}"
    for case in selected:
        torch._dynamo.reset()  # each case's arguments as compile-time constants, as one metric instance uses them
        compiled = torch.compile(fn, fullgraph=True)
        for batch in case["batches"]:
            y_true, y_pred = to_torch(batch["y_true"]), to_torch(batch["y_pred"])
            want = fn(y_true, y_pred, **case["kwargs"])
            got = compiled(y_true, y_pred, **case["kwargs"])
            assert got.dtype == want.dtype and torch.equal(got, want), case["id"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_cuda_fused_references_keep_tensorflow_rules(dtype, monkeypatch):
    """``_fused_on_cuda`` compiles the references as CUDA would; here inductor's CPU backend."""
    monkeypatch.setattr(_tf_ops, "_COMPILE_CUDA", True)
    monkeypatch.setattr(_tf_ops, "_compiled", {})
    for shape in [(300, 3), (40, 9)]:  # two shapes: the second runs the dynamic-shape graph
        x = _edge_scores(dtype, shape)
        t = _targets(shape[0], shape[1])
        assert torch.equal(_tf_ops._fused_on_cuda(_tf_ops._argmax_last_reference, x), _tf_ops._argmax_last_reference(x))
        assert torch.equal(_tf_ops._fused_on_cuda(_tf_ops._in_top_k_whole, t, x, 2), _tf_ops._in_top_k_reference(t, x, 2))
    assert _tf_ops._COMPILE_CUDA, "compiling failed and fell back to eager"
    assert set(_tf_ops._compiled) == {_tf_ops._argmax_last_reference, _tf_ops._in_top_k_whole}


def test_binary_accuracy_compiles_when_the_threshold_changes():
    compiled = torch.compile(F.binary_accuracy, fullgraph=True)
    y_true, y_pred = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.7, 0.2, 0.4])
    for threshold in (0.5, 0.3, 0.0):
        assert torch.equal(compiled(y_true, y_pred, threshold=threshold), F.binary_accuracy(y_true, y_pred, threshold=threshold))
