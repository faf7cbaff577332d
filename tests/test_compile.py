"""The functional kernels compile with ``torch.compile(fullgraph=True)`` and agree with eager.

Compiled on the kernels, not on the Metric objects (torchmetrics' update-count
bookkeeping would recompile every step). Two parts, kept small because each
inductor compile costs about a second on CPU (the first one ~15 s):

* every public kernel on a few ordinary parity-fixture cases (one per input
  dtype and rank, at most ``PER_KERNEL``): no graph break, same output as eager;
* the compiled references that run on CUDA (the "compiled" path), on CPU,
  on edge values: inductor keeps TensorFlow's NaN, signed-zero and subnormal rules;
* the metrics' ``update`` and ``forward``, compiled alone and inside a training
  step: one graph (plus one when the batch size first changes), exact states.
"""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch

import torch_keras_acc as tka
import torch_keras_acc.functional as F
from torch._dynamo.utils import counters
from torch_keras_acc import _dispatch, _reference
from tests.conftest import CLASSES, METRIC_CLASSES, cases, synthetic_batch, to_torch
from tests.test_fast_paths import _edge_scores, _targets

pytestmark = [
    pytest.mark.skipif(
        not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")),
        reason="torch.compile's CPU backend needs a C++ compiler",
    ),
    pytest.mark.filterwarnings("ignore::UserWarning"),  # inductor's own notices
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),  # torch internals
]

KERNELS = list(CLASSES)  # the six Keras functions
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
def test_compiled_path_keeps_tensorflow_rules(dtype):
    """The "compiled" path (CUDA's opt-in default) forced on the CPU: inductor's CPU backend."""
    for shape in [(300, 3), (40, 9)]:  # two shapes: the second runs the dynamic-shape graph
        x = _edge_scores(dtype, shape)
        t = _targets(shape[0], shape[1])
        with tka.kernel_path("compiled") as log:
            got_argmax, got_top_k = _dispatch.argmax_last(x), _dispatch.in_top_k(t, x, 2)
        assert log.used == {"argmax": {"compiled"}, "in_top_k": {"compiled"}}, "compiling failed and fell back"
        assert torch.equal(got_argmax, _reference.argmax_last_reference(x))
        assert torch.equal(got_top_k, _reference.in_top_k_reference(t, x, 2))


def test_binary_accuracy_compiles_when_the_threshold_changes():
    compiled = torch.compile(F.binary_accuracy, fullgraph=True)
    y_true, y_pred = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.7, 0.2, 0.4])
    for threshold in (0.5, 0.3, 0.0):
        assert torch.equal(compiled(y_true, y_pred, threshold=threshold), F.binary_accuracy(y_true, y_pred, threshold=threshold))


# -- metrics --------------------------------------------------------------------
def _same_state(a, b) -> bool:
    return all(torch.equal(getattr(a, s), getattr(b, s)) for s in ("total", "count", "invalid")) and a.update_count == b.update_count


@pytest.mark.parametrize("cls", METRIC_CLASSES, ids=lambda c: c.__name__)
def test_update_compiles_fullgraph_without_recompiling_each_step(cls):
    """``torch.compile(metric.update, fullgraph=True)``: exact states, and no recompile per step
    (torchmetrics' int update counter would force one; traced updates count in a tensor)."""
    compiled, eager = (cls(warn_pitfalls=False, on_invalid="ignore") for _ in range(2))
    update = torch.compile(compiled.update, fullgraph=True)
    counters.clear()
    for step in range(6):
        preds, target = synthetic_batch(cls, n=16 + step, seed=step)
        update(preds, target)
        eager.update(preds, target)
        assert _same_state(compiled, eager), f"step {step}"
    assert counters["stats"]["unique_graphs"] <= 2  # the first batch size, then a dynamic one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(compiled.compute(), eager.compute())
    compiled.reset()
    assert compiled.update_count == 0 and int(compiled._traced_updates) == 0 and float(compiled.total) == 0.0


def test_a_compiled_training_step_may_call_forward_and_update():
    """The metric inside a compiled step: batch values and states as in eager PyTorch."""
    compiled, eager = (tka.SparseCategoricalAccuracy(on_invalid="ignore") for _ in range(2))
    model = torch.nn.Linear(8, 5)

    @torch.compile(fullgraph=True)
    def step(x, y):
        logits = model(x)
        value = compiled(logits, y)
        compiled.update(logits, y, sample_weight=torch.full(y.shape, 0.5))
        return logits.sum(), value

    counters.clear()
    for i in range(6):
        gen = torch.Generator().manual_seed(i)
        x, y = torch.randn(20 + i, 8, generator=gen), torch.randint(0, 6, (20 + i,), generator=gen)
        _, value = step(x, y)
        with torch.no_grad():
            logits = model(x)
        assert torch.equal(value, eager(logits, y))
        eager.update(logits, y, sample_weight=torch.full(y.shape, 0.5))
        assert _same_state(compiled, eager), f"step {i}"
    assert counters["stats"]["unique_graphs"] <= 2
