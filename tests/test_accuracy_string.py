"""The string "accuracy": resolution as real Keras compiled it, legacy kernels, get(), configs.

Expected values come from tests/fixtures/keras_accuracy_string.json, written by
tests/fixtures/generate.py from real Keras 3 / tf_keras models and TensorFlow ops.
"""

from __future__ import annotations

import json
import warnings
from functools import lru_cache

import pytest
import torch
from torch import nn

import torch_keras_acc as tka
from tests.conftest import FIXTURES, assert_value, to_torch


@lru_cache(maxsize=None)
def fixture() -> dict:
    return json.loads((FIXTURES / "keras_accuracy_string.json").read_text())


def _spec(s):
    return {**s, "as": "array"}


GRID = fixture()["compile_grid"]
COMPILED = [
    pytest.param(c, ref, key, id=f"{ref}/{c['id']}/{key}")
    for c in GRID
    for ref in ("keras3", "tf_keras")
    for key, rec in c[ref].items()
    if "class" in rec
]


def test_grid_covers_every_variant_and_both_names():
    built = {rec["class"] for c in GRID for rec in c["keras3"].values() if "class" in rec}
    assert built == {"BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy"}
    assert any(k.endswith("/acc") for c in GRID for k in c["keras3"])
    assert len(COMPILED) > 60


@pytest.mark.parametrize("case,ref,key", COMPILED)
def test_resolves_and_evaluates_as_keras_compiled(case, ref, key):
    rec = case[ref][key]
    loss, name = key.split("/")
    y_true, y_pred = to_torch(_spec(case["y_true"])), to_torch(_spec(case["y_pred"]))
    assert tka.resolve_accuracy(y_true, y_pred).__name__ == rec["class"]
    # the loss never changes Keras 3's choice
    if loss != "zero":
        assert tka.resolve_accuracy(y_true, y_pred, loss=loss).__name__ == rec["class"]
    m = tka.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.update_state(y_true, y_pred)
    assert m.variant.__name__ == rec["class"] and m.name == name
    assert rec["class"] in repr(m)
    assert_value(m.result(), rec["value"], f"{ref} evaluate()")


LEGACY_KERNELS = {
    "binary": tka.legacy.binary_accuracy,
    "categorical": tka.legacy.categorical_accuracy,
    "sparse_categorical": tka.legacy.sparse_categorical_accuracy,
}


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in GRID])
@pytest.mark.parametrize("kernel", sorted(LEGACY_KERNELS))
def test_legacy_kernels_match_tensorflow_ops(case, kernel):
    want = case["legacy"][kernel]
    y_true, y_pred = to_torch(_spec(case["y_true"])), to_torch(_spec(case["y_pred"]))
    fn = LEGACY_KERNELS[kernel]
    if "error" in want:
        with pytest.raises(ValueError, match="legacy"):
            fn(y_true, y_pred)
        return
    got = fn(y_true, y_pred)
    assert list(got.shape) == want["shape"]
    assert got.flatten().tolist() == pytest.approx(torch.tensor(want["data"]).flatten().tolist(), abs=1e-6)


# Keras 2.2's rule, from keras/engine/training.py (cited in torch_keras_acc/legacy.py).
LEGACY_RULE = [
    ((8, 1), (8, 1), None, "LegacyBinaryAccuracy"),
    ((8,), (8,), nn.BCEWithLogitsLoss(), "LegacyBinaryAccuracy"),
    ((8, 10), (8, 10), "binary_crossentropy", "LegacyBinaryAccuracy"),  # differs from Keras 3 (categorical)
    ((8, 10), (8, 10), nn.BCELoss(), "LegacyBinaryAccuracy"),
    ((8, 1), (8, 10), "sparse_categorical_crossentropy", "LegacySparseCategoricalAccuracy"),
    ((8,), (8, 10), nn.CrossEntropyLoss(), "LegacySparseCategoricalAccuracy"),
    ((8, 1), (8, 10), "mse", "LegacyCategoricalAccuracy"),  # differs from Keras 3 (sparse)
    ((8, 10), (8, 10), "categorical_crossentropy", "LegacyCategoricalAccuracy"),
    ((8, 10), (8, 10), nn.CrossEntropyLoss(), "LegacyCategoricalAccuracy"),  # probability targets
    ((8, 10), (8, 10), None, "LegacyCategoricalAccuracy"),
]


@pytest.mark.parametrize("t_shape,p_shape,loss,want", LEGACY_RULE)
def test_legacy_rule(t_shape, p_shape, loss, want):
    y_true = torch.zeros(t_shape, dtype=torch.int64 if len(t_shape) < len(p_shape) else torch.float32)
    assert tka.resolve_accuracy(y_true, torch.rand(p_shape), loss=loss, semantics="legacy").__name__ == want


def test_legacy_metric_uses_round_half_even():
    case = [c for c in GRID if c["id"] == "legacy_round_half_even"][0]
    m = tka.KerasAccuracy(loss="binary_crossentropy", semantics="legacy", warn_pitfalls=False)
    m.update_state(to_torch(_spec(case["y_true"])), to_torch(_spec(case["y_pred"])))
    assert m.variant is tka.LegacyBinaryAccuracy
    want = case["legacy"]["binary"]["data"]
    assert_value(m.result(), sum(want) / len(want), "legacy binary")


def test_torch_losses():
    logits, target = torch.randn(6, 4), torch.randint(0, 4, (6,))
    assert tka.loss_kind(nn.CrossEntropyLoss(), target, logits) == "sparse"
    assert tka.loss_kind(nn.CrossEntropyLoss(), torch.softmax(logits, -1), logits) == "categorical"
    assert tka.loss_kind(nn.BCEWithLogitsLoss()) == "binary"
    assert tka.loss_kind(torch.nn.functional.cross_entropy, target, logits) == "sparse"
    assert tka.loss_kind("mse") == "other" and tka.loss_kind(None) is None


def test_keras3_warns_when_shapes_contradict_the_loss():
    m = tka.KerasAccuracy(loss=nn.BCEWithLogitsLoss())
    with pytest.warns(UserWarning, match="chose CategoricalAccuracy"):
        m.update(torch.randn(6), torch.randint(0, 2, (6,)).float())
    assert m.variant is tka.CategoricalAccuracy
    ok = tka.KerasAccuracy(loss=nn.CrossEntropyLoss())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok.update(torch.randn(6, 3), torch.randint(0, 3, (6,)))


def test_later_batch_resolving_differently_raises_and_keeps_state():
    m = tka.KerasAccuracy()
    m.update(torch.rand(4, 3), torch.randint(0, 3, (4,)))
    before = (m.total.clone(), m.count.clone())
    with pytest.raises(ValueError, match="resolves to BinaryAccuracy.*SparseCategoricalAccuracy"):
        m.update(torch.rand(4, 1), torch.randint(0, 2, (4,)))
    assert torch.equal(m.total, before[0]) and torch.equal(m.count, before[1])
    m.reset()
    assert m.variant is tka.SparseCategoricalAccuracy  # fixed, like a compiled model


def test_failed_first_batch_leaves_variant_unresolved():
    m = tka.KerasAccuracy()
    with pytest.raises(ValueError, match="sample_weight"):
        m.update(torch.rand(4, 3), torch.randint(0, 3, (4,)), sample_weight=torch.ones(5))
    assert m.variant is None and float(m.count) == 0


CONFIGS = fixture()["configs"]


@pytest.mark.parametrize("rec", [pytest.param(r, id=f"{r['class_name']}{r['args']}") for r in CONFIGS])
def test_config_round_trip_with_keras(rec):
    cls = getattr(tka, rec["class_name"])
    ours = cls(**rec["args"])
    assert ours.get_config() == rec["get_config"]
    assert cls.from_config(rec["get_config"]).get_config() == rec["get_config"]
    via_get = tka.get(rec["serialize"])
    assert type(via_get) is cls and via_get.get_config() == rec["get_config"]
    if "from_config" in rec:  # the dtype entries: Keras's round trip and its result after one batch
        assert cls.from_config(rec["get_config"]).get_config() == rec["from_config"]
        m = cls.from_config(rec["get_config"])
        m.update_state(rec["batch"]["y_true"], rec["batch"]["y_pred"])
        got = m.result()
        assert_value(got, rec["result"]["value"], f"result() with dtype={rec['args']['dtype']}")
        assert str(got.dtype) == f"torch.{rec['result']['dtype']}"


def test_config_dtypes_cover_tf_keras_config_tests():
    dtypes = {(r["class_name"], r["args"]["dtype"]) for r in CONFIGS if "from_config" in r}
    assert {("TopKCategoricalAccuracy", "int32"), ("SparseTopKCategoricalAccuracy", "int32")} <= dtypes
    assert len(dtypes) == 6 * 5


EVALUATE = fixture()["evaluate_batches"]


def test_evaluate_batches_cover_last_batches_of_one_and_weights():
    assert {(len(r["y_pred"]["shape"]), r["name"], "sample_weight" in r) for r in EVALUATE} >= {
        (d, n, w) for d in (1, 2, 3) for n in ("accuracy", "acc") for w in (False, True)}
    assert any(r["y_pred"]["shape"][0] % r["batch_size"] == 1 for r in EVALUATE)
    assert {r["class"] for r in EVALUATE if "class" in r} == {"BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy"}


@pytest.mark.parametrize("rec", [pytest.param(r, id=r["id"]) for r in EVALUATE])
def test_evaluate_in_batches_as_keras(rec):
    """KerasAccuracy fed evaluate()'s batches in order: the class Keras built and its value."""
    y_true, y_pred = to_torch(_spec(rec["y_true"])), to_torch(_spec(rec["y_pred"]))
    sw = to_torch(_spec(rec["sample_weight"])) if "sample_weight" in rec else None
    m = tka.get(rec["name"])
    bs = rec["batch_size"]

    def run():
        for i in range(0, len(y_pred), bs):
            m.update_state(y_true[i:i + bs], y_pred[i:i + bs], sample_weight=None if sw is None else sw[i:i + bs])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if "error" in rec:  # Keras: a (batch,) weight cannot broadcast to rank-1 outputs' one value per batch
            with pytest.raises(ValueError, match="sample_weight"):
                run()
            return
        run()
    assert m.variant.__name__ == rec["class"]
    assert_value(m.result(), rec["value"], f"Keras evaluate() with batch_size={bs}")


@pytest.mark.parametrize(
    "identifier,cls,name",
    [
        ("accuracy", tka.KerasAccuracy, "accuracy"),
        ("acc", tka.KerasAccuracy, "acc"),
        ("Accuracy", tka.KerasAccuracy, "Accuracy"),  # compile lower-cases the string
        ("binary_accuracy", tka.BinaryAccuracy, "binary_accuracy"),
        ("BinaryAccuracy", tka.BinaryAccuracy, "binary_accuracy"),
        ("categorical_accuracy", tka.CategoricalAccuracy, "categorical_accuracy"),
        ("sparse_categorical_accuracy", tka.SparseCategoricalAccuracy, "sparse_categorical_accuracy"),
        ("top_k_categorical_accuracy", tka.TopKCategoricalAccuracy, "top_k_categorical_accuracy"),
        ("SparseTopKCategoricalAccuracy", tka.SparseTopKCategoricalAccuracy, "sparse_top_k_categorical_accuracy"),
        (tka.SparseCategoricalAccuracy, tka.SparseCategoricalAccuracy, "sparse_categorical_accuracy"),
    ],
)
def test_get_names(identifier, cls, name):
    m = tka.get(identifier)
    assert type(m) is cls and m.name == name


def test_get_kwargs_instances_and_errors():
    assert tka.get("top_k_categorical_accuracy", k=3).k == 3
    assert tka.get("accuracy", semantics="legacy", loss="bce").semantics == "legacy"
    m = tka.BinaryAccuracy()
    assert tka.get(m) is m
    with pytest.raises(ValueError, match="could not interpret"):
        tka.get("mse")
    with pytest.raises(ValueError, match="unknown class_name"):
        tka.get({"class_name": "AUC", "config": {}})
    with pytest.raises(ValueError, match="semantics"):
        tka.KerasAccuracy(semantics="keras2")
