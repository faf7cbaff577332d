"""MeanMetricWrapper against real Keras 3 (tests/fixtures/keras_wrapper.json, from gen_wrapper.py):
Keras's own MetricWrapperTest cases, element-wise and broadcast weights, a keyword argument,
an integer dtype, and plain functions in collection() named and valued as compile does."""

from __future__ import annotations

import functools
import json
import pickle

import pytest
import torch
from torchmetrics import MetricCollection

import torch_keras_acc as tka
from tests.conftest import FIXTURES

DOC_PATH = FIXTURES / "keras_wrapper.json"
DOC = json.loads(DOC_PATH.read_text()) if DOC_PATH.exists() else {"cases": [], "compiled_functions": None}


# The generator's functions, in torch (same names: compile and the wrapper name them so).
def mse(y_true, y_pred):
    return (y_true - y_pred) ** 2


def abs_power(y_true, y_pred, power=1.0):
    return (y_true - y_pred).abs() ** power


def rank1_error(y_true, y_pred):
    return (y_true - y_pred)[:, 0] ** 2


def meanAbsoluteMiss(y_true, y_pred):  # noqa: N802  (the name Keras snake-cases)
    return (y_true - y_pred).abs()


FUNCTIONS = {"mse": mse, "abs_power": abs_power, "rank1_error": rank1_error, "meanAbsoluteMiss": meanAbsoluteMiss}


def test_fixture_exists_and_holds_keras_own_cases():
    ids = {c["id"] for c in DOC["cases"]}
    assert {"keras test_unweighted", "keras test_weighted", "keras test_weighted_broadcast", "element-wise weights"} <= ids


@pytest.mark.parametrize("case", DOC["cases"], ids=lambda c: c["id"])
def test_equals_keras(case):
    metric = tka.MeanMetricWrapper(FUNCTIONS[case["fn"]], name=case["name_given"], dtype=case["dtype"], **case["kwargs"])
    assert metric.name == case["name"]
    assert sorted(metric.get_config()) == case["config_keys"]
    for batch, want in zip(case["batches"], case["cumulative"]):
        metric.update_state(batch["y_true"], batch["y_pred"], sample_weight=batch.get("sample_weight"))
        assert float(metric.result()) == pytest.approx(want, abs=1e-6)


def test_keras_test_config_round_trip():
    # Keras's MetricWrapperTest.test_config
    m = tka.MeanMetricWrapper(fn=mse, name="mse", dtype="float32")
    m2 = tka.MeanMetricWrapper.from_config(m.get_config())
    assert (m2.name, m2.get_config()["dtype"]) == ("mse", "float32")
    assert "fn" in m2.get_config() and m2.fn is mse
    kw = tka.MeanMetricWrapper(abs_power, power=3.0)
    assert tka.MeanMetricWrapper.from_config(kw.get_config()).get_config()["power"] == 3.0


@pytest.mark.skipif(DOC["compiled_functions"] is None, reason="fixture missing")
def test_plain_functions_in_collection_as_compile():
    case = DOC["compiled_functions"]
    def item(spec):
        if isinstance(spec, str):
            return FUNCTIONS[spec]
        return functools.partial(FUNCTIONS[spec["partial"]], power=spec["power"])

    metrics = tka.collection([item(f) for f in case["metrics"]], weighted_metrics=[item(f) for f in case["weighted_metrics"]])
    assert sorted(metrics.keys()) == sorted(k for k in case["evaluate_keys"] if k != "loss")
    y_pred, y_true, w = (torch.tensor(case[k]) for k in ("y_pred", "y_true", "sample_weight"))
    for i in range(0, len(y_pred), 8):  # evaluate's batches
        metrics.update(y_pred[i : i + 8], y_true[i : i + 8], sample_weight=w[i : i + 8])
    for key, value in metrics.compute().items():
        assert float(value) == pytest.approx(case["evaluate"][key], abs=1e-6), key


def test_mask_is_keras_0_1_weights():
    # Keras's apply_mask: the mask multiplies sample_weight; masked samples neither count nor weigh.
    m = tka.MeanMetricWrapper(mse)
    m.update([[1.0], [0.0], [3.0]], [[0.0], [0.0], [0.0]], mask=torch.tensor([True, True, False]))
    masked = float(m.compute())
    m.reset()
    m.update([[1.0], [0.0], [3.0]], [[0.0], [0.0], [0.0]], sample_weight=[1.0, 1.0, 0.0])
    assert masked == float(m.compute())


def test_two_functions_are_never_merged_by_compute_groups():
    # Equal states after the first batch, different after the second: torchmetrics must not merge them.
    def first(y_true, y_pred):
        return (y_true - y_pred).abs()

    def second(y_true, y_pred):
        return (y_true - y_pred) ** 2

    together = MetricCollection({"a": tka.MeanMetricWrapper(first), "b": tka.MeanMetricWrapper(second)})
    alone = {"a": tka.MeanMetricWrapper(first), "b": tka.MeanMetricWrapper(second)}
    for y_true in ([[1.0], [0.0]], [[2.0], [3.0]]):  # |d| == d**2 on the first batch only
        together.update([[0.0], [0.0]], y_true)
        for m in alone.values():
            m.update([[0.0], [0.0]], y_true)
    got = together.compute()
    assert {k: float(v) for k, v in got.items()} == {k: float(m.compute()) for k, m in alone.items()}
    assert float(got["a"]) != float(got["b"])


def test_pickles_and_syncs_like_any_metric():
    m = tka.MeanMetricWrapper(mse, name="mse")
    m.update([[1.0, 2.0]], [[0.0, 0.0]])
    clone = pickle.loads(pickle.dumps(m))
    assert float(clone.compute()) == float(m.compute()) and clone.fn is mse
    assert {"total", "count"} <= set(m._reductions)


@pytest.mark.parametrize(
    "build,error,match",
    [
        (lambda: tka.MeanMetricWrapper("mse"), TypeError, "fn must be a callable"),
        (lambda: tka.MeanMetricWrapper(mse, total=1), TypeError, r"clash with the metric's own attributes"),
        (lambda: tka.MeanMetricWrapper(mse, name=3), TypeError, "name must be a str"),
        (lambda: tka.MeanMetricWrapper(mse, dtype="int32"), ValueError, "integer dtype; use a float dtype"),
    ],
)
def test_bad_construction_is_refused(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_bad_batches_are_refused_and_leave_the_state():
    m = tka.MeanMetricWrapper(mse, name="mse")
    m.update([[1.0], [2.0]], [[0.0], [0.0]])
    before = float(m.compute())
    with pytest.raises(ValueError, match=r"mse: sample_weight of shape \(3,\) cannot be broadcast"):
        m.update([[1.0], [2.0]], [[0.0], [0.0]], sample_weight=[1.0, 2.0, 3.0])
    none = tka.MeanMetricWrapper(lambda y_true, y_pred: None, name="broken")
    with pytest.raises(TypeError, match="broken: the wrapped function .* returned None"):
        none.update([[1.0]], [[0.0]])
    assert float(m.compute()) == before


def test_sync_sums_the_states_of_every_rank():
    # One process standing for two ranks: the "other rank" holds the second half of the data.
    y_true, y_pred, w = torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]), torch.zeros(3, 2), torch.tensor([1.0, 2.0, 0.5])
    mine, other, whole = (tka.MeanMetricWrapper(mse) for _ in range(3))
    mine.update(y_pred[:1], y_true[:1], sample_weight=w[:1])
    other.update(y_pred[1:], y_true[1:], sample_weight=w[1:])
    whole.update(y_pred, y_true, sample_weight=w)
    others = {id(getattr(mine, name)): getattr(other, name) for name in mine._defaults}

    def gather(tensor, group=None):
        return [tensor, others[id(tensor)]]

    mine.sync(dist_sync_fn=gather, distributed_available=lambda: True)
    assert float(mine.total) == float(whole.total) and float(mine.count) == float(whole.count)
