"""collection(): keys and values against what real Keras 3 wrote in history.

tests/fixtures/keras_history_names.json (tests/fixtures/gen_collection.py,
Keras 3 on TensorFlow) records, for each compile(metrics=[...]) list, the keys
of fit's history and evaluate's dict, the class Keras built per entry, and the
values evaluate returned on the stored data.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from torchmetrics import MetricCollection

import torch_keras_acc as tka
from tests.conftest import FIXTURES

DOC = json.loads((FIXTURES / "keras_history_names.json").read_text())
CASES = [pytest.param(c, id=c["id"]) for c in DOC["cases"]]


def ours(spec):
    """The list item as a user without Keras writes it: a Keras object becomes its config dict."""
    if isinstance(spec, str):
        return spec
    if "keras_object" in spec:
        return {"class_name": spec["keras_object"], "config": spec["config"]}
    return spec.get("keras_class") and getattr(tka, spec["keras_class"]) or spec["keras_function"]


def data(case):
    d = DOC["data"][case["data"]]
    return torch.tensor(d["y_true"]), torch.tensor(d["y_pred"], dtype=torch.float32)


def check(case, metrics):
    y_true, y_pred = data(case)
    keras_keys = [k for k in case["evaluate_keys"] if k != "loss"]
    assert sorted(metrics.keys()) == keras_keys
    val = tka.collection([ours(s) for s in case["metrics"]], loss=case["loss"], prefix="val_")
    assert sorted(val.keys()) == [k for k in case["fit_history_keys"] if k.startswith("val_") and k != "val_loss"]
    metrics.update(y_pred, y_true)
    got = {k: float(v) for k, v in metrics.compute().items()}
    assert got == pytest.approx(case["evaluate"], abs=1e-6)
    # each entry is the metric Keras built for it ("accuracy" resolves on the first batch)
    built = [m.variant.__name__ if isinstance(m, tka.KerasAccuracy) else type(m).__name__ for m in metrics.values(copy_state=False)]
    want = [b.split(":")[-1] for b in case["built"]]
    want = [type(tka.get(b)).__name__ if b.islower() else b for b in want]  # "function:binary_accuracy" -> BinaryAccuracy
    assert sorted(built) == sorted(want)


@pytest.mark.parametrize("case", CASES)
def test_keys_and_values_match_keras(case):
    metrics = tka.collection([ours(s) for s in case["metrics"]], loss=case["loss"])
    assert isinstance(metrics, MetricCollection)
    check(case, metrics)


@pytest.mark.parametrize("case", CASES)
def test_real_keras_objects_convert(case):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    import gen_collection  # tests/fixtures, put on sys.path below

    metrics = tka.collection([gen_collection.keras_item(keras, s) for s in case["metrics"]], loss=case["loss"])
    check(case, metrics)


@pytest.fixture(autouse=True, scope="module")
def _fixtures_on_path():
    import sys

    sys.path.insert(0, str(FIXTURES))
    yield
    sys.path.remove(str(FIXTURES))


def test_instances_are_used_as_given_and_loss_reaches_accuracy():
    top = tka.SparseTopKCategoricalAccuracy(k=2, name="top2")
    metrics = tka.collection(["accuracy", top, tka.SparseCategoricalAccuracy], loss="sparse_categorical_crossentropy", prefix="train_")
    assert sorted(metrics.keys()) == ["train_accuracy", "train_sparse_categorical_accuracy", "train_top2"]
    assert metrics["top2"] is top  # MetricCollection strips the prefix on lookup
    assert metrics["accuracy"].loss == "sparse_categorical_crossentropy"
    assert isinstance(metrics["sparse_categorical_accuracy"], tka.SparseCategoricalAccuracy)  # a class: built


def test_logs_like_keras_in_a_loop():
    metrics = tka.collection(["accuracy", "sparse_top_k_categorical_accuracy"])
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        batch = metrics(torch.randn(8, 6, generator=gen), torch.randint(0, 6, (8,), generator=gen))
        assert set(batch) == {"accuracy", "sparse_top_k_categorical_accuracy"}
    assert set(metrics.compute()) == set(batch)


@pytest.mark.parametrize(
    "bad,error,match",
    [
        ("accuracy", TypeError, "expected a list"),
        ({"class_name": "BinaryAccuracy"}, TypeError, "expected a list"),
        ([], ValueError, "empty"),
        (["sparse_categorical_acuracy"], ValueError, "collection: get: could not interpret"),
        ([3], TypeError, "cannot use 3"),
        ([torch.nn.Linear(2, 2)], TypeError, "cannot use Linear"),
    ],
)
def test_bad_lists_are_rejected_clearly(bad, error, match):
    with pytest.raises(error, match=match):
        tka.collection(bad)


def test_the_same_instance_twice_is_rejected():
    m = tka.BinaryAccuracy()
    with pytest.raises(ValueError, match="appears twice"):
        tka.collection([m, m])


def test_get_points_lists_to_collection():
    with pytest.raises(ValueError, match=r"returns one metric.*collection\(metrics\)"):
        tka.get(["accuracy", "sparse_top_k_categorical_accuracy"])


def test_non_accuracy_keras_metric_is_refused():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    with pytest.raises(ValueError, match="keras.metrics.AUC has no torch_keras_acc counterpart"):
        tka.collection([keras.metrics.AUC()])
    with pytest.raises(ValueError, match="not an accuracy metric"):
        tka.collection([keras.metrics.mean_squared_error])
