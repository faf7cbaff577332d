"""MetricCollection and merge_state never mix two different metrics.

torchmetrics' compute groups merge the members of a collection whose states are
equal after the first batch; our metrics carry an identity state (first, never
cast) naming the class and the full configuration. Each test builds a first
batch on which the members agree, so a wrong merge would show on the second.
The oracle is each metric on its own (its values are pinned against Keras by
the parity suite). ``.ci/run`` also runs this file on the oldest torchmetrics
that pyproject.toml admits (which compares only the first state, and has no
``Metric.merge_state``).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torchmetrics import MetricCollection

import torch_keras_acc as tka

pytestmark = pytest.mark.filterwarnings("ignore::torch_keras_acc.KerasPitfallWarning")


def _alone(metric: tka.KerasMeanMetric, batches: list[tuple]) -> float:
    m = copy.deepcopy(metric)
    for batch in batches:
        m.update(*batch)
    return float(m.compute())


def _in_collection(metrics: dict, batches: list[tuple], cast: torch.dtype | None = None) -> dict[str, float]:
    collection = MetricCollection({k: copy.deepcopy(m) for k, m in metrics.items()})
    if cast is not None:
        collection.set_dtype(cast)
    for batch in batches:
        collection.update(*batch)
    return {k: float(v) for k, v in collection.compute().items()}


def _first_batch_all_right(c: int = 10, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    scores = torch.rand(n, c, generator=torch.Generator().manual_seed(0))
    return scores, scores.argmax(-1)


def _second_batch(c: int = 10, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    scores = torch.rand(n, c, generator=torch.Generator().manual_seed(1))
    return scores, (scores.argmax(-1) + 1 + torch.arange(n) % 3) % c  # wrong for argmax, often in the top 5


def test_keras3_and_legacy_accuracy_are_never_merged():
    # Batch 1: 0.2 and 0.9 score the same under y_pred > 0.5 and round(y_pred); batch 2: 1.7 is a hit
    # for Keras 3 (1.7 > 0.5) and a miss for Keras 2.2 (round(1.7) = 2 != 1).
    batches = [(torch.tensor([[0.2], [0.9]]), torch.tensor([[0.0], [1.0]])), (torch.tensor([[1.7], [0.9]]), torch.tensor([[1.0], [0.0]]))]
    metrics = {"k3": tka.KerasAccuracy(), "legacy": tka.KerasAccuracy(semantics="legacy", loss="binary_crossentropy")}
    got = _in_collection(metrics, batches)
    assert got == {k: _alone(m, batches) for k, m in metrics.items()}
    assert got["k3"] != got["legacy"]


@pytest.mark.parametrize("cast", [None, torch.float16, torch.bfloat16, torch.float64])
def test_argmax_and_top_k_are_never_merged(cast):
    batches = [_first_batch_all_right(), _second_batch()]
    metrics = {"top1": tka.SparseCategoricalAccuracy(), "top5": tka.SparseTopKCategoricalAccuracy(k=5), "top3": tka.SparseTopKCategoricalAccuracy(k=3)}
    got = _in_collection(metrics, batches, cast)
    want = {k: _alone(m, batches) for k, m in metrics.items()}
    assert got == pytest.approx(want, abs=1e-3 if cast in (torch.float16, torch.bfloat16) else 0)
    assert got["top1"] < got["top3"] < got["top5"]


def test_set_dtype_never_casts_the_identity_or_the_invalid_count():
    collection = MetricCollection([tka.SparseCategoricalAccuracy(), tka.SparseTopKCategoricalAccuracy()])
    before = {k: m.kernel.clone() for k, m in collection.items()}
    collection.set_dtype(torch.float16)
    for key, metric in collection.items():
        assert metric.kernel.dtype == metric.invalid.dtype == torch.int64
        assert torch.equal(metric.kernel, before[key])
        assert metric.total.dtype == torch.float16  # set_dtype is the explicit opt-in for the accumulators


@pytest.mark.parametrize(
    "a,b",
    [
        (tka.BinaryAccuracy(threshold=0.5), tka.BinaryAccuracy(threshold=0.3)),
        (tka.SparseTopKCategoricalAccuracy(k=2), tka.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)),
        (tka.SparseCategoricalAccuracy(), tka.SparseCategoricalAccuracy(ignore_index=-100)),
        (tka.KerasAccuracy(), tka.KerasAccuracy(semantics="legacy")),
        (tka.KerasAccuracy(semantics="legacy", loss="binary_crossentropy"), tka.KerasAccuracy(semantics="legacy", loss="mse")),
    ],
    ids=["threshold", "from_sorted_ids", "ignore_index", "semantics", "legacy_loss"],
)
def test_identity_names_the_full_configuration(a, b):
    assert not torch.equal(a.kernel, b.kernel)
    assert torch.equal(a.kernel, copy.deepcopy(a).kernel)
    # the name and the result dtype do not change what is counted: such metrics may share state
    assert torch.equal(tka.BinaryAccuracy(name="x", dtype="float64").kernel, tka.BinaryAccuracy().kernel)


def test_merge_state_refuses_another_configuration_and_merges_the_same():
    a, b, c = tka.SparseTopKCategoricalAccuracy(k=5), tka.SparseTopKCategoricalAccuracy(k=5), tka.SparseTopKCategoricalAccuracy(k=1)
    first, second = _first_batch_all_right(), _second_batch()
    a.update(*first)
    b.update(*second)
    c.update(*second)
    with pytest.raises(ValueError, match="another kind or configuration"):
        a.merge_state(c)
    with pytest.raises(ValueError, match="instance of SparseTopKCategoricalAccuracy"):
        a.merge_state(tka.SparseCategoricalAccuracy())
    a.merge_state(b)
    assert float(a.compute()) == _alone(tka.SparseTopKCategoricalAccuracy(k=5), [first, second])
    d = tka.SparseTopKCategoricalAccuracy(k=5)
    d.merge_state({"total": torch.tensor(3.0), "count": torch.tensor(4.0), "invalid": torch.tensor(0)})  # a bare state dict
    assert float(d.compute()) == 0.75


def test_legacy_binary_pitfall_names_only_arguments_it_has():
    m = tka.LegacyBinaryAccuracy()
    with pytest.warns(tka.KerasPitfallWarning) as record:
        m.update(torch.tensor([[-2.0], [3.0]]), torch.tensor([[0.0], [1.0]]))
    message = str(record[0].message)
    assert "LegacyBinaryAccuracy" in message and "round(y_pred)" in message
    assert "threshold" not in message.split("use")[0]  # it has no threshold; the advice names BinaryAccuracy's
    assert "BinaryAccuracy(threshold=0.0)" in message
