"""Masks and ignore_index, against real Keras 3 (tests/fixtures/keras_masks.json).

``mask=``: Keras models with a ``Masking`` layer or ``Embedding(mask_zero=True)`` were
run through ``model.evaluate``; we replay the model's output, the mask Keras computed
for it, the labels and the weights, batch by batch, and must give evaluate's value.
``ignore_index``: labels padded with -100 must give Keras's value on the same batches
with those positions removed. Both written by tests/fixtures/generate.py (gen_masks.py).
"""

from __future__ import annotations

import json
from functools import lru_cache

import pytest

import torch_keras_acc as tka
from tests.conftest import FIXTURES, assert_value, to_torch


@lru_cache(maxsize=None)
def fixture() -> dict:
    return json.loads((FIXTURES / "keras_masks.json").read_text())


MASKED = fixture()["masked_models"]
IGNORED = fixture()["ignore_index"]


def _metric(name: str, kwargs: dict, **extra):
    cls = tka.KerasAccuracy if name in ("accuracy", "KerasAccuracy") else getattr(tka, name)
    return cls(**kwargs, **extra)


def test_fixture_covers_models_metrics_and_weights():
    assert {c["model"].split("_")[0] for c in MASKED} == {"masking", "embedding"}
    assert {c["metric"] for c in MASKED} == {"SparseCategoricalAccuracy", "CategoricalAccuracy", "BinaryAccuracy",
                                             "SparseTopKCategoricalAccuracy", "accuracy"}
    assert {c["id"].split("/")[3] for c in MASKED} == {"none", "per_token", "per_sample"}
    # the masks really drop tokens, and change Keras's number
    assert all(not all(sum(c["mask"]["data"], [])) for c in MASKED)
    assert sum(abs(c["keras3"]["value"] - c["unmasked"]) > 1e-3 for c in MASKED if "unmasked" in c and "value" in c["keras3"]) > 20
    # per-sample (N,) weights cannot broadcast against the (N, T) mask: evaluate fails in Keras
    assert all("error" in c["keras3"] for c in MASKED if "/per_sample/" in c["id"])


@pytest.mark.parametrize("spelling", ["update_state", "update"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in MASKED])
def test_mask_matches_keras_evaluate(case, spelling):
    y_pred, y_true, mask = to_torch(case["y_pred"]), to_torch(case["y_true"]), to_torch(case["mask"])
    sw = to_torch(case["sample_weight"])
    m = _metric(case["metric"], case["kwargs"], warn_pitfalls=False)
    want, bs = case["keras3"], case["batch_size"]

    def run():
        for i in range(0, len(y_pred), bs):
            s = slice(i, i + bs)
            w = None if sw is None else sw[s]
            if spelling == "update_state":
                m.update_state(y_true[s], y_pred[s], sample_weight=w, mask=mask[s])
            else:
                m.update(y_pred[s], y_true[s], sample_weight=w, mask=mask[s])

    if "error" in want:
        with pytest.raises(ValueError, match="sample_weight"):
            run()
        return
    run()
    assert_value(m.compute(), want["value"], f"Keras evaluate() with batch_size={bs}")
    if "class" in want:
        assert m.variant.__name__ == want["class"]


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in IGNORED])
def test_ignore_index_equals_keras_on_the_remaining_tokens(case):
    # on_invalid="raise": ignored positions must not be reported as invalid labels
    m = _metric(case["metric"], case["kwargs"], ignore_index=case["ignore_index"], on_invalid="raise")
    for bt in case["batches"]:
        m.update(to_torch(bt["y_pred"]), to_torch(bt["y_true"]), sample_weight=to_torch(bt["sample_weight"]))
    assert_value(m.compute(), case["keras3"], "Keras on the filtered tokens")
    if case["metric"] == "KerasAccuracy":
        assert m.variant is tka.SparseCategoricalAccuracy


def test_ignore_index_fixture_has_padding_in_every_batch_and_shape():
    assert {c["id"].split("/")[1].replace("_weighted", "") for c in IGNORED} == {"n", "n1", "nt", "nt1"}
    for c in IGNORED:
        for bt in c["batches"]:
            flat = to_torch(bt["y_true"]).flatten().tolist()
            assert c["ignore_index"] in flat and any(x != c["ignore_index"] for x in flat)
