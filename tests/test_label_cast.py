"""label_cast="exact" (default) / "keras3": configuration, identity, the pitfall warning, and
Keras 3's raw answers on the label-cast deviations of keras_parity.json and keras_fuzz.json.

Keras's numbers come from the fixtures (real Keras); tests/test_edges.py replays keras_edges.json.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import torch_keras_acc as tka
from torch_keras_acc import functional as F
from tests.conftest import CLASSES, FIXTURES, assert_value, parity, to_torch

CAST_METRICS = ("sparse_categorical_accuracy", "categorical_accuracy", "sparse_top_k_categorical_accuracy")
CAST_CLASSES = [tka.SparseCategoricalAccuracy, tka.CategoricalAccuracy, tka.SparseTopKCategoricalAccuracy]


def _label_deviations() -> list[dict]:
    """Cases whose only documented difference is the label cast: Keras 3's raw answer is what keras3 gives."""
    fuzz = json.loads((FIXTURES / "keras_fuzz.json").read_text())["cases"]
    keep = []
    for c in parity()["cases"] + fuzz:
        dev = set(c.get("deviation", "").split("+")) - {""}
        if c["metric"] in CAST_METRICS and dev and dev <= {"label_precision", "int32_wrap", "label_cast_exact", "float64_state"}:
            if "float64_state" in dev and any(bt.get("sample_weight") for bt in c["batches"]):
                continue  # float64 weights: a second difference
            if any(_undefined_int_cast(bt) for bt in c["batches"]):
                continue  # TensorFlow's float -> int cast is undefined there (tests/test_edges.py: a miss)
            keep.append(c)
    return keep


def _undefined_int_cast(batch: dict) -> bool:
    """Float labels outside the integer scores' range (or not finite): C++ leaves that cast undefined."""
    yt, yp = to_torch(batch["y_true"]), to_torch(batch["y_pred"])
    if not (isinstance(yt, torch.Tensor) and yt.is_floating_point()) or yp.is_floating_point() or yp.dtype == torch.bool:
        return False
    info = torch.iinfo(yp.dtype)
    t = yt.to(torch.float64).trunc()
    return bool((~torch.isfinite(t) | (t < info.min) | (t > info.max)).any())


DEVIATIONS = _label_deviations()


def test_the_deviations_cover_every_low_precision_dtype():
    dtypes = {bt["y_pred"]["dtype"] for c in DEVIATIONS for bt in c["batches"]}
    assert {"float16", "bfloat16", "int8", "uint8"} <= dtypes and len(DEVIATIONS) >= 14


@pytest.mark.filterwarnings("ignore::torch_keras_acc.KerasPitfallWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in DEVIATIONS])
def test_keras3_cast_is_raw_keras(case):
    fn = getattr(F, case["metric"])
    kwargs = {k: v for k, v in case["kwargs"].items() if k != "dtype"}
    m = CLASSES[case["metric"]](label_cast="keras3", **case["kwargs"])
    for i, batch in enumerate(case["batches"]):
        yt, yp, sw = to_torch(batch["y_true"]), to_torch(batch["y_pred"]), to_torch(batch.get("sample_weight"))
        want = case["keras3"]["fn"][i]
        if "error" in want:
            with pytest.raises((ValueError, TypeError)):
                fn(yt, yp, label_cast="keras3", **kwargs)
            continue
        assert fn(yt, yp, label_cast="keras3", **kwargs).flatten().tolist() == torch.tensor(want["data"]).flatten().tolist(), f"batch {i}"
        m.update_state(yt, yp, sample_weight=sw)
        assert_value(m.result(), case["keras3"]["cumulative"][i], f"result() after batch {i}")


@pytest.mark.parametrize("cls", CAST_CLASSES)
def test_configuration(cls):
    exact, keras3 = cls(), cls(label_cast="keras3")
    assert exact.label_cast == "exact" and keras3.label_cast == "keras3"
    assert "label_cast" not in exact.get_config()  # Keras's config, unchanged by default
    assert keras3.get_config()["label_cast"] == "keras3" and "label_cast='keras3'" in repr(keras3)
    assert cls.from_config(keras3.get_config()).label_cast == "keras3"
    assert not torch.equal(exact.kernel, keras3.kernel)  # compute groups never merge the two
    with pytest.raises(ValueError, match="another kind or configuration"):
        exact.merge_state(keras3)
    with pytest.raises(ValueError, match="label_cast must be 'exact'"):
        cls(label_cast="float16")


def test_keras_accuracy_passes_it_to_the_variant():
    m = tka.KerasAccuracy(label_cast="keras3")
    assert m.get_config()["label_cast"] == "keras3" and not torch.equal(m.kernel, tka.KerasAccuracy().kernel)
    labels = torch.tensor([2049, 3])
    scores = torch.nn.functional.one_hot(torch.tensor([2048, 3]), 2100).to(torch.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # label_cast chosen: no pitfall warning
        m.update_state(labels, scores)
    assert m.variant is tka.SparseCategoricalAccuracy and float(m.result()) == 1.0  # Keras 3's cast: 2049 is 2048
    b = tka.KerasAccuracy(label_cast="keras3")
    b.update_state([[1.0], [0.0]], [[0.75], [0.25]])  # binary: no class ids to cast
    assert b.variant is tka.BinaryAccuracy and float(b.result()) == 1.0
    with pytest.raises(ValueError, match="legacy"):
        tka.KerasAccuracy(semantics="legacy", label_cast="keras3")


def test_pitfall_warning_names_both_numbers_once():
    """On issue 20's example (keras_edges.json): the warning gives Keras 3's number and ours, both from real Keras."""
    v = json.loads((FIXTURES / "keras_edges.json").read_text())["vocab"][0]
    labels, predicted = torch.tensor(v["labels"]), torch.tensor(v["predicted"])
    scores = torch.nn.functional.one_hot(predicted, v["classes"]).to(torch.bfloat16)
    want = v["keras3"]["bfloat16"]
    m = tka.SparseCategoricalAccuracy()
    with pytest.warns(tka.KerasPitfallWarning) as record:
        m.update_state(labels, scores)
    messages = [str(w.message) for w in record if w.category is tka.KerasPitfallWarning]
    assert len(messages) == 1
    assert f"Keras 3 reports {want['sparse_keras3']:.4f}" in messages[0] and f"this metric {want['sparse_exact']:.4f}" in messages[0]
    assert "label_cast='keras3'" in messages[0] and "257 becomes 256" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.update_state(labels, scores)  # once: value rules read the first batch only
    assert_value(m.result(), want["sparse_exact"], "exact ids")


@pytest.mark.parametrize(
    "scores",
    [
        torch.nn.functional.one_hot(torch.tensor([3, 1]), 2048).to(torch.float16),  # ids up to 2047: exact
        torch.nn.functional.one_hot(torch.tensor([3, 1]), 5000).to(torch.float32),
        torch.nn.functional.one_hot(torch.tensor([3, 1]), 100).to(torch.int8),
    ],
)
def test_no_warning_where_every_id_is_exact(scores):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tka.SparseCategoricalAccuracy().update_state(torch.tensor([3, 1]), scores)
        tka.SparseTopKCategoricalAccuracy(k=1).update_state(torch.tensor([3, 1]), scores.float())


def test_int8_labels_beyond_range_warn_even_with_few_classes():
    # 256 wraps to 0 in int8: Keras 3 counts a hit for class 0
    with pytest.warns(tka.KerasPitfallWarning, match="int8"):
        tka.SparseCategoricalAccuracy().update_state(torch.tensor([256, 1]), torch.tensor([[3, 1], [0, 5]], dtype=torch.int8))


def test_sorted_ids_take_the_ids_dtype():
    ids = torch.tensor([[2048.0, 3.0], [5.0, 1.0]], dtype=torch.float16)
    labels = torch.tensor([2049, 1])
    assert F.sparse_top_k_categorical_accuracy(labels, ids, k=1, from_sorted_ids=True).tolist() == [0.0, 0.0]
    assert F.sparse_top_k_categorical_accuracy(labels, ids, k=1, from_sorted_ids=True, label_cast="keras3").tolist() == [1.0, 0.0]


def test_top_k_over_scores_wraps_int64_labels_to_int32():
    scores = torch.tensor([[0.75, 0.25], [0.25, 0.75]])
    labels = torch.tensor([2**32, 2**32 + 1])
    assert F.sparse_top_k_categorical_accuracy(labels, scores, k=1).tolist() == [0.0, 0.0]
    assert F.sparse_top_k_categorical_accuracy(labels, scores, k=1, label_cast="keras3").tolist() == [1.0, 1.0]
