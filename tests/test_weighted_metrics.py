"""collection(metrics, weighted_metrics=...): Keras's compile semantics. Keys and values
against real evaluate runs are pinned in tests/test_keras_model.py (keras_models.json);
here: the routing of sample_weight, the warning, the old positional loss, and
torchmetrics metrics beside Keras names."""

from __future__ import annotations

import warnings

import pytest
import torch
from torchmetrics.classification import MulticlassAUROC

import torch_keras_acc as tka

G = torch.Generator().manual_seed(22)
P1, T1 = torch.randn(32, 5, generator=G), torch.randint(0, 5, (32,), generator=G)
P2, T2 = torch.randn(20, 5, generator=G), torch.randint(0, 5, (20,), generator=G)
W1 = torch.ones(32)  # uniform weights first: a weighted and an unweighted metric agree after this batch
W2 = torch.randint(0, 4, (20,), generator=G).float()


def _alone(weighted: bool) -> float:
    m = tka.SparseCategoricalAccuracy()
    m.update(P1, T1, sample_weight=W1 if weighted else None)
    m.update(P2, T2, sample_weight=W2 if weighted else None)
    return float(m.compute())


def test_metrics_ignore_weights_weighted_metrics_use_them():
    metrics = tka.collection(["sparse_categorical_accuracy"], weighted_metrics=["sparse_categorical_accuracy"])
    assert sorted(metrics.keys()) == ["sparse_categorical_accuracy", "weighted_sparse_categorical_accuracy"]
    metrics.update(P1, T1, sample_weight=W1)
    metrics.update(P2, T2, W2)  # positional, as the metrics' own update takes it
    got = {k: float(v) for k, v in metrics.compute().items()}
    # (compute groups would have merged the two after the first batch, whose weights are all 1)
    assert got == {"sparse_categorical_accuracy": _alone(False), "weighted_sparse_categorical_accuracy": _alone(True)}
    assert _alone(False) != _alone(True)


def test_forward_routes_the_same_way_with_prefix():
    metrics = tka.collection(["accuracy"], weighted_metrics=["accuracy"], prefix="val_")
    batch = metrics(P2, T2, sample_weight=W2)
    unweighted, weighted = tka.SparseCategoricalAccuracy(), tka.SparseCategoricalAccuracy()
    assert set(batch) == {"val_accuracy", "val_weighted_accuracy"}
    assert float(batch["val_accuracy"]) == float(unweighted(P2, T2))
    assert float(batch["val_weighted_accuracy"]) == float(weighted(P2, T2, sample_weight=W2))


def test_warns_once_when_no_entry_takes_the_weights():
    metrics = tka.collection(["accuracy"])
    with pytest.warns(tka.KerasPitfallWarning, match=r"ignore it, as Keras's compiled metrics do; pass them as weighted_metrics"):
        metrics.update(P1, T1, sample_weight=W2[:1].expand(32))
    with warnings.catch_warnings():
        warnings.simplefilter("error", tka.KerasPitfallWarning)
        metrics.update(P2, T2, sample_weight=W2)
        tka.collection(["accuracy"], weighted_metrics=["accuracy"]).update(P2, T2, sample_weight=W2)  # some entry takes them
    assert float(metrics["accuracy"].compute()) == float(tka.SparseCategoricalAccuracy()(torch.cat([P1, P2]), torch.cat([T1, T2])))


def test_only_weighted_metrics():
    metrics = tka.collection(None, weighted_metrics=["sparse_categorical_accuracy"])
    metrics.update(P1, T1, sample_weight=W1)
    metrics.update(P2, T2, sample_weight=W2)
    assert float(metrics.compute()["sparse_categorical_accuracy"]) == _alone(True)


def test_clash_names_follow_keras():
    top = tka.SparseTopKCategoricalAccuracy(k=2, name="top")
    metrics = tka.collection(["accuracy", "accuracy", top], weighted_metrics=["accuracy", tka.SparseCategoricalAccuracy(name="top"), "accuracy"])
    assert sorted(metrics.keys()) == ["accuracy", "accuracy_1", "top", "weighted_accuracy", "weighted_accuracy_1", "weighted_top"]


def test_positional_loss_still_works():
    metrics = tka.collection(["accuracy"], "sparse_categorical_crossentropy")
    assert metrics["accuracy"].loss == "sparse_categorical_crossentropy"
    loss = torch.nn.CrossEntropyLoss()
    old = tka.collection(["accuracy"], loss, "val_")  # collection(metrics, loss, prefix), the old signature
    assert old["accuracy"].loss is loss and list(old.keys()) == ["val_accuracy"]
    with pytest.raises(TypeError, match="weighted_metrics must be a list"):
        tka.collection(["accuracy"], "sparse_categorical_crossentropy", prefix="val_", loss="sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match="per-output dict is not supported"):
        tka.collection(["accuracy"], weighted_metrics={"out": ["accuracy"]})


def test_torchmetrics_metric_beside_keras_names():
    auroc = MulticlassAUROC(num_classes=5)
    metrics = tka.collection(["accuracy", auroc, ("auc", MulticlassAUROC(num_classes=5, average="weighted"))], weighted_metrics=["accuracy"])
    assert sorted(metrics.keys()) == ["MulticlassAUROC", "accuracy", "auc", "weighted_accuracy"]
    assert metrics["MulticlassAUROC"] is auroc
    probs = P1.softmax(-1)
    metrics.update(probs, T1, sample_weight=W1)
    assert float(metrics.compute()["MulticlassAUROC"]) == float(MulticlassAUROC(num_classes=5)(probs, T1))
    with pytest.raises(TypeError, match="weighted_metrics entry 'MulticlassAUROC' .* takes no sample_weight"):
        tka.collection([], weighted_metrics=[MulticlassAUROC(num_classes=5)])


def test_empty_lists_are_refused():
    with pytest.raises(ValueError, match="empty"):
        tka.collection([], weighted_metrics=[])


def test_plain_functions_are_named_as_compile_names_them():
    import functools

    def perSampleMiss(y_true, y_pred):  # noqa: N802
        return (y_true != y_pred.argmax(-1)).float()

    metrics = tka.collection([perSampleMiss, functools.partial(perSampleMiss), torch.nn.functional.l1_loss])
    assert sorted(metrics.keys()) == ["l1_loss", "partial", "per_sample_miss"]
    assert isinstance(metrics["per_sample_miss"], tka.MeanMetricWrapper)
