"""Bad input: clear errors, no crashes, nothing lost (issue: failure behaviour).

Keras's own verdicts on bad input (errors, NaN/inf, out-of-range labels, empty
batches) are pinned by the parity fixtures; this file checks our side of it:
messages, state safety, the invalid-label report, pitfall warnings, and
invariants under hypothesis-drawn inputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import torch_keras_acc as tka
import torch_keras_acc.functional as F
from tests.conftest import CLASSES, assert_value, cases, to_torch

ALL = list(CLASSES.values())


def quiet(cls, **kw):
    return cls(warn_pitfalls=False, **kw)


def _state(m):
    return m.total.clone(), m.count.clone(), m.invalid.clone()


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def _warm(m):
    """A metric with some state, so that a failed update has something to corrupt."""
    if isinstance(m, tka.BinaryAccuracy) or isinstance(m, tka.Accuracy):
        m.update(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([1.0, 1.0, 1.0]))
    elif isinstance(m, (tka.CategoricalAccuracy, tka.TopKCategoricalAccuracy)):
        m.update(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    else:
        m.update(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    return m


# -- shapes Keras rejects ------------------------------------------------------
BAD_SHAPES = {
    tka.Accuracy: (torch.zeros(6), torch.zeros(5)),
    tka.BinaryAccuracy: (torch.zeros(5, 2, 2), torch.zeros(5)),
    tka.CategoricalAccuracy: (torch.zeros(6, 3), torch.zeros(5, 3)),
    tka.SparseCategoricalAccuracy: (torch.zeros(6, 3), torch.zeros(5, dtype=torch.int64)),
    tka.TopKCategoricalAccuracy: (torch.zeros(6, 3), torch.zeros(5, 3)),
    tka.SparseTopKCategoricalAccuracy: (torch.zeros(6, 3), torch.zeros(5, dtype=torch.int64)),
}


@pytest.mark.parametrize("cls", ALL)
def test_shape_errors_name_metric_and_shapes_and_keep_state(cls):
    m = _warm(quiet(cls))
    before = _state(m)
    preds, target = BAD_SHAPES[cls]
    with pytest.raises(ValueError) as err:
        m.update(preds, target)
    msg = str(err.value)
    assert m.name in msg and "expected" in msg
    assert str(tuple(preds.shape)) in msg or str(tuple(preds.shape[:-1])) in msg
    assert _same(before, _state(m))


@pytest.mark.parametrize("cls", ALL)
def test_weight_shape_error_keeps_state(cls):
    m = _warm(quiet(cls))
    before = _state(m)
    if cls in (tka.BinaryAccuracy, tka.Accuracy):
        preds, target = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
    elif cls in (tka.CategoricalAccuracy, tka.TopKCategoricalAccuracy):
        preds, target = torch.rand(2, 3), torch.eye(3)[:2]
    else:
        preds, target = torch.rand(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"sample_weight of shape \(7,\)"):
        m.update(preds, target, sample_weight=torch.ones(7))
    assert _same(before, _state(m))


@pytest.mark.parametrize(
    "bad,exc,match",
    [
        (None, TypeError, "y_pred is None"),
        ("0.5", TypeError, "unsupported type str"),
        ([[0.1, 0.2], [0.3]], ValueError, "rectangular numeric array"),
        (np.array(["a", "b"]), TypeError, "must be numeric"),
        (torch.tensor([1 + 2j, 0j]), TypeError, "complex"),
        (np.array([{"a": 1}, 2], dtype=object), TypeError, "must be numeric"),
    ],
)
def test_unusable_inputs(bad, exc, match):
    m = _warm(quiet(tka.BinaryAccuracy))
    before = _state(m)
    with pytest.raises(exc, match=match):
        m.update(bad, torch.tensor([1.0, 0.0]))
    assert _same(before, _state(m))
    with pytest.raises(TypeError, match="y_true is None"):
        m.update_state(None, [0.1, 0.9])


# -- invalid labels: scored as Keras does, counted on the device, reported at compute()
def test_invalid_labels_are_counted_and_reported_once():
    case = cases(id="sparse_categorical_accuracy/labels_out_of_range")[0]
    b = case["batches"][0]
    m = quiet(tka.SparseCategoricalAccuracy)
    m.update(to_torch(b["y_pred"]), to_torch(b["y_true"]))
    m.update(to_torch(b["y_pred"]), to_torch(b["y_true"]))
    assert m.invalid.device == m.total.device and m.invalid.dtype == torch.int64
    with pytest.warns(UserWarning, match=r"8 label\(s\) were not integers") as rec:
        r = m.compute()
    assert len(rec) == 1
    assert_value(r, case["keras3"]["cumulative"][0], "scored as Keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.update(to_torch(b["y_pred"]), to_torch(b["y_true"]))
        m.compute()  # once per metric


def test_invalid_labels_raise_or_ignore():
    preds, labels = torch.rand(4, 3), torch.tensor([0.0, 1.5, float("nan"), 3.0])
    m = quiet(tka.SparseTopKCategoricalAccuracy, k=2, on_invalid="raise")
    m.update(preds, labels)  # update never syncs or raises on values
    with pytest.raises(ValueError, match=r"3 label\(s\)"):
        m.compute()
    ignoring = quiet(tka.SparseCategoricalAccuracy, on_invalid="ignore")
    ignoring.update(preds, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ignoring.compute()
    with pytest.raises(ValueError, match="on_invalid"):
        tka.SparseCategoricalAccuracy(on_invalid="skip")


@pytest.mark.parametrize("cpu_shortcut", [False, True], ids=["plain", "cpu_min_max"])
def test_narrow_label_dtypes_are_judged_against_the_true_class_count(cpu_shortcut):
    """uint8 labels with C = 300: the bound 300 must not wrap to 44 in uint8."""
    with tka.kernel_path("cpu_fast" if cpu_shortcut else "reference"):
        m = quiet(tka.SparseCategoricalAccuracy, on_invalid="raise")
        m.update(torch.rand(3, 300), torch.tensor([50, 250, 255], dtype=torch.uint8))
        assert int(m.invalid) == 0
        m.update(torch.rand(2, 200), torch.tensor([199, 201], dtype=torch.uint8))
        assert int(m.invalid) == 1


def test_forward_defers_the_invalid_report_to_compute():
    m = quiet(tka.SparseCategoricalAccuracy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m(torch.rand(3, 3), torch.tensor([5, 0, 1]))
    with pytest.warns(UserWarning, match=r"1 label\(s\)"):
        m.compute()


def test_valid_labels_warn_nothing_and_from_sorted_ids_is_exempt():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = tka.SparseCategoricalAccuracy()
        m.update(torch.rand(4, 3), torch.tensor([[0], [2], [1], [2]]))
        m.compute()
        s = tka.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
        s.update(torch.tensor([[7, 9], [3, 1]]), torch.tensor([9, 100]))
        s.compute()
    assert int(s.invalid) == 0


# -- pitfalls ------------------------------------------------------------------
PITFALLS = [
    (tka.Accuracy, {}, torch.tensor([0.2, 0.9, 0.6]), torch.tensor([0.0, 1.0, 1.0]), "strict equality"),
    (tka.BinaryAccuracy, {}, torch.tensor([-1.3, 2.0, 0.4]), torch.tensor([0.0, 1.0, 1.0]), "threshold=0.0"),
    (tka.CategoricalAccuracy, {}, torch.rand(3, 4), torch.tensor([0, 3, 1]), "Sparse variant"),
    (tka.TopKCategoricalAccuracy, {"k": 2}, torch.rand(3, 4), torch.tensor([[0], [3], [1]]), "Sparse variant"),
    (tka.SparseCategoricalAccuracy, {}, torch.rand(4, 4), torch.eye(4), "one-hot"),  # N == C broadcasts
    (tka.CategoricalAccuracy, {}, torch.rand(3, 1), torch.ones(3, 1), "single column"),
    (tka.SparseCategoricalAccuracy, {}, torch.rand(3, 1), torch.tensor([0, 1, 1]), "single column"),
]


@pytest.mark.parametrize("cls,kw,preds,target,match", PITFALLS)
def test_pitfalls_warn_once_and_can_be_silenced(cls, kw, preds, target, match):
    m = cls(**kw)
    with pytest.warns(tka.KerasPitfallWarning, match=match):
        m.update(preds, target)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tka.KerasPitfallWarning)
        m.update(preds, target)  # once per metric
        cls(warn_pitfalls=False, **kw).update(preds, target)


@pytest.mark.parametrize("cls,kw", [(tka.SparseCategoricalAccuracy, {}), (tka.SparseTopKCategoricalAccuracy, {"k": 2})])
def test_errors_explain_the_likely_pitfall(cls, kw):
    m = cls(**kw)
    with pytest.raises(ValueError, match=r"\(3, 4\).*Likely cause: y_true has the shape of y_pred.*one-hot"):
        m.update(torch.rand(3, 4), torch.eye(4)[:3])


def test_no_pitfall_on_correct_use():
    with warnings.catch_warnings():
        warnings.simplefilter("error", tka.KerasPitfallWarning)
        tka.Accuracy().update(torch.tensor([1, 2]), torch.tensor([1, 0]))
        tka.BinaryAccuracy().update(torch.tensor([0.2, 0.7]), torch.tensor([0.0, 1.0]))
        tka.BinaryAccuracy(threshold=0.0).update(torch.tensor([-0.2, 0.7]), torch.tensor([0.0, 1.0]))
        tka.CategoricalAccuracy().update(torch.rand(2, 3), torch.eye(3)[:2])
        tka.SparseCategoricalAccuracy().update(torch.rand(2, 3), torch.tensor([0, 2]))


# -- weights, grads, devices -----------------------------------------------------
def test_huge_integer_weights_do_not_overflow():
    m = quiet(tka.SparseCategoricalAccuracy)
    w = torch.tensor([2**40, 2**40, 1], dtype=torch.int64)
    m.update(torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9]]), torch.tensor([0, 1, 1]), sample_weight=w)
    assert float(m.count) == 2**41 + 1
    assert float(m.total) == 2**40 + 1


def test_inputs_on_cpu_move_to_the_metric_device():
    m = quiet(tka.SparseCategoricalAccuracy)
    m.update(np.random.rand(4, 3), [0, 1, 2, 0])
    assert m.total.device == m.device


# -- property-based invariants -----------------------------------------------------
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


@st.composite
def batches(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    n = draw(st.integers(0, 12))
    c = draw(st.integers(1, 6))
    seq = draw(st.sampled_from([(), (3,)]))
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(["none", "n", "n1", "scalar"]))
    scores = torch.randint(0, 4, (n, *seq, c), generator=g).to(dtype) / 4  # frequent ties
    if draw(st.booleans()):
        scores.view(-1)[:: max(1, scores.numel() // 3 or 1)] = draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
    labels = torch.randint(-1, c + 1, (n, *seq), generator=g)  # some out of range
    weights = {"none": None, "n": torch.rand(n, generator=g) * 3, "n1": torch.rand(n, 1, generator=g), "scalar": torch.tensor(0.7)}[kind]
    k = draw(st.integers(0, c + 1))
    return scores, labels, weights, k


def _metrics(k, c):
    return [
        quiet(tka.SparseCategoricalAccuracy, on_invalid="ignore"),
        quiet(tka.SparseTopKCategoricalAccuracy, k=k, on_invalid="ignore"),
        quiet(tka.CategoricalAccuracy),
        quiet(tka.TopKCategoricalAccuracy, k=k),
        quiet(tka.BinaryAccuracy),
    ]


def _inputs(m, scores, labels):
    c = scores.shape[-1]
    if isinstance(m, (tka.CategoricalAccuracy, tka.TopKCategoricalAccuracy)):
        return scores, torch.nn.functional.one_hot(labels.clamp(0, c - 1), c).float()
    if isinstance(m, tka.BinaryAccuracy):
        return scores[..., 0], (labels > 0).float()
    return scores, labels


@settings(max_examples=60, deadline=None, derandomize=True)
@given(batches())
def test_invariants(batch):
    scores, labels, weights, k = batch
    for m in _metrics(k, scores.shape[-1]):
        preds, target = _inputs(m, scores, labels)
        try:
            m.update(preds, target, sample_weight=weights)
        except ValueError as e:  # the only documented failure here: scalar weights on an empty batch etc.
            assert m.name in str(e)
            continue
        r = float(m.compute())
        if weights is None or bool((weights >= 0).all()):
            assert 0.0 <= r <= 1.0 or np.isnan(r)
        n = preds.shape[0]
        if weights is not None and weights.ndim == 0:
            continue  # a scalar weight weighs a whole batch, so chunks are not the same thing
        # chunks: same result as one batch
        chunked = type(m)(**m.get_config(), warn_pitfalls=False, on_invalid="ignore")
        for idx in torch.arange(n).split(max(1, n // 3)):
            chunked.update(preds[idx], target[idx], sample_weight=None if weights is None else weights[idx])
        assert float(chunked.compute()) == pytest.approx(r, abs=1e-12, nan_ok=True)
        # permutation: same result
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(n))
        shuffled = type(m)(**m.get_config(), warn_pitfalls=False, on_invalid="ignore")
        shuffled.update(preds[perm], target[perm], sample_weight=None if weights is None else weights[perm])
        assert float(shuffled.compute()) == pytest.approx(r, abs=1e-12, nan_ok=True)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(batches(), st.integers(1, 5))
def test_failed_update_leaves_state_untouched(batch, extra):
    scores, labels, weights, k = batch
    for m in _metrics(k, scores.shape[-1]):
        preds, target = _inputs(m, scores, labels)
        try:
            m.update(preds, target, sample_weight=weights)
        except ValueError:
            pass
        if preds.shape[0] < 2:
            continue  # a batch of 0 or 1 broadcasts against any label count, in Keras too
        before = _state(m)
        bad_target = torch.cat([target, target[:1].repeat(extra, *([1] * (target.ndim - 1)))]) if target.shape[0] else torch.zeros(extra, *target.shape[1:], dtype=target.dtype)
        with pytest.raises(ValueError):
            m.update(preds, bad_target)
        assert _same(before, _state(m))


@pytest.mark.parametrize("dtype,c", [(torch.float16, 2049), (torch.bfloat16, 257), (torch.float32, 2**24 + 1)])
def test_float_labels_are_judged_against_the_class_count_exactly(dtype, c):
    """The bound C is not rounded to the labels' dtype (float16 2049 is 2048): the last class is valid."""
    labels = torch.tensor([c - 1, c], dtype=torch.float64).to(dtype)
    want = int(float(labels[1]) >= c)  # the second label, rounded to the dtype, may land on c - 1 (valid)
    assert int(F.invalid_label_count(labels[:1], torch.zeros(1, c, dtype=torch.float16))) == 0
    assert int(F.invalid_label_count(labels[1:], torch.zeros(1, c, dtype=torch.float16))) == want
