"""A new user's trip (issue 21): what they type first, and what they must be told.

Expected numbers are real Keras 3's (torch backend, ordinary inputs with no ties or
NaN, as in tests/test_hf.py); the rest checks errors, warnings and signatures.
"""

from __future__ import annotations

import inspect
import os
import re
import warnings

import numpy as np
import pytest
import torch
import torchmetrics

import torch_keras_acc as tka
from torch_keras_acc import registry
from torch_keras_acc._options import MetricKwargs
from torch_keras_acc.hf import compute_metrics
from tests.conftest import CLASSES, cases, expected_for, to_torch

PUBLIC = [e.cls for e in registry.ENTRIES]


def keras_value(make, y_true, y_pred):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    m = make(keras)
    m.update_state(np.asarray(y_true), np.asarray(y_pred))
    return float(np.float32(m.result()))


# -- defect 1: every keyword option is in the signature -------------------------------
@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_every_option_is_spelled_out_in_the_signature(cls):
    params = inspect.signature(cls).parameters
    keyword_only = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY]
    class_ids = cls.spec is None or cls.spec.labels == "class_ids"
    label_cast = cls.spec is None and cls.__name__ == "KerasAccuracy" or cls.spec is not None and "label_cast" in cls.spec.config
    assert keyword_only == (["label_cast"] if label_cast else []) + ["on_invalid", "warn_pitfalls"] + (["ignore_index"] if class_ids else [])
    assert params["on_invalid"].annotation == "OnInvalid" and params["kwargs"].annotation == "Unpack[MetricKwargs]"
    with pytest.raises(ValueError, match="on_invalid must be one of"):
        cls(on_invalid="warnn")
    with pytest.raises(TypeError, match="unexpected keyword argument 'warn_pitfals'; did you mean warn_pitfalls="):
        cls(warn_pitfals=False)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: `nothing_like_it`"):  # torchmetrics' own refusal
        cls(nothing_like_it=1)


def test_metric_kwargs_are_exactly_torchmetrics_own():
    source = inspect.getsource(torchmetrics.Metric.__init__)
    assert set(MetricKwargs.__annotations__) == set(re.findall(r'kwargs\.pop\("(\w+)"', source))


# -- defect 3: a misspelled loss is an error everywhere, as in the CLI -----------------
@pytest.mark.parametrize(
    "call",
    [
        lambda loss: tka.KerasAccuracy(loss=loss, semantics="legacy"),
        lambda loss: tka.resolve_accuracy([1, 0], [[0.3], [0.8]], loss=loss),
        lambda loss: tka.explain([1, 0], [[0.3], [0.8]], loss=loss),
        lambda loss: tka.collection(["accuracy"], loss=loss),
        lambda loss: compute_metrics(["accuracy"], loss=loss),
    ],
    ids=["KerasAccuracy", "resolve_accuracy", "explain", "collection", "hf"],
)
def test_a_misspelled_loss_is_refused_with_the_closest_names(call):
    with pytest.raises(ValueError, match=r"'categorical_crossentropyy' is not a Keras or PyTorch loss name; did you mean 'categorical_crossentropy'"):
        call("categorical_crossentropyy")
    for fine in ("Categorical_Crossentropy", "mse", "BCEWithLogitsLoss", torch.nn.CrossEntropyLoss(), None):
        call(fine)  # names any case, PyTorch's names, loss objects


def test_the_repr_names_semantics_once():
    text = repr(tka.KerasAccuracy(loss="categorical_crossentropy", semantics="legacy"))
    assert text.count("semantics=") == 1 and "semantics='legacy'" in text


# -- defect 4: a single-logit binary head in the Hugging Face helper -------------------
def _binary_head(seed=0, n=40):
    gen = np.random.default_rng(seed)
    logits = gen.normal(size=(n, 1)).astype(np.float32)
    labels = gen.integers(0, 2, size=n)
    labels[::5] = -100  # Trainer's padding label
    return logits, labels


def test_hf_scores_a_single_logit_head_as_logit_above_zero():
    logits, labels = _binary_head()
    keep = labels != -100
    want = keras_value(lambda k: k.metrics.BinaryAccuracy(threshold=0.0), labels[keep].reshape(-1, 1), logits[keep])
    fn = compute_metrics(["accuracy", "binary_accuracy", tka.BinaryAccuracy(threshold=0.0, name="mine")])
    assert fn((logits, labels)) == {"accuracy": pytest.approx(want, abs=1e-6), "binary_accuracy": pytest.approx(want, abs=1e-6),
                                    "mine": pytest.approx(want, abs=1e-6)}
    assert fn((logits, labels)) == fn((logits, labels))  # reset between calls


def test_hf_probability_heads_use_keras_threshold():
    logits, labels = _binary_head(1)
    probs = 1 / (1 + np.exp(-logits))
    keep = labels != -100
    want = keras_value(lambda k: k.metrics.BinaryAccuracy(), labels[keep].reshape(-1, 1), probs[keep])
    assert compute_metrics(["accuracy"], logits=False)((probs, labels)) == {"accuracy": pytest.approx(want, abs=1e-6)}


def test_hf_multiclass_heads_are_unchanged_by_the_binary_switch():
    gen = np.random.default_rng(2)
    logits, labels = gen.normal(size=(20, 4)).astype(np.float32), gen.integers(0, 4, size=20)
    want = keras_value(lambda k: k.metrics.SparseCategoricalAccuracy(), labels, logits)
    for flag in (True, False):
        assert compute_metrics(["accuracy"], logits=flag)((logits, labels)) == {"accuracy": pytest.approx(want, abs=1e-6)}


# -- defect 6: the top-k error shows the shape the user passed --------------------------
def test_top_k_shape_error_names_y_trues_own_shape():
    with pytest.raises(ValueError, match=r"y_true of shape \(32,\) does not match y_pred of shape \(32, 10\)") as info:
        tka.TopKCategoricalAccuracy().update(torch.randn(32, 10), torch.randint(0, 10, (32,)))
    assert "shape ()" not in str(info.value) and "Sparse variant" in str(info.value)


# -- friction 1: swapped arguments are named -------------------------------------------
SWAPS = [
    (tka.BinaryAccuracy, torch.tensor([[1.0], [0.0], [1.0]]), torch.tensor([[0.8], [0.3], [0.6]])),
    (tka.SparseCategoricalAccuracy, torch.tensor([0, 2, 1, 1]), torch.randn(4, 3)),
    (tka.CategoricalAccuracy, torch.eye(3), torch.softmax(torch.randn(3, 3), -1)),
    (tka.TopKCategoricalAccuracy, torch.eye(3), torch.softmax(torch.randn(3, 3), -1)),
    (tka.Accuracy, torch.tensor([[1.0], [0.0]]), torch.tensor([[0.7], [0.2]])),
]


@pytest.mark.parametrize("cls, labels, scores", SWAPS, ids=lambda x: getattr(x, "__name__", ""))
def test_swapped_arguments_are_named(cls, labels, scores):
    """update(target, preds): labels where scores belong. The warning names both orders."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cls().update(labels, scores)  # swapped: update takes (preds, target)
    swaps = [w for w in caught if issubclass(w.category, tka.KerasPitfallWarning) and "swapped" in str(w.message)]
    assert len(swaps) == 1 and "update(preds, target)" in str(swaps[0].message) and "update_state(y_true, y_pred)" in str(swaps[0].message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cls().update(scores, labels)  # the right order
    assert not [w for w in caught if "swapped" in str(w.message)]


def test_a_swap_that_fails_says_so():
    with pytest.raises(ValueError, match="Likely cause: .*look swapped"):
        tka.SparseTopKCategoricalAccuracy(k=2).update(torch.tensor([0, 2, 1, 1]), torch.randn(4, 3))


# -- friction 2 and 3: warnings point here, and -100 suggests ignore_index ---------------
def _warned_here(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    assert caught, "expected a warning"
    return [(w.filename, str(w.message)) for w in caught]


def test_warnings_point_at_the_users_line():
    m = tka.SparseCategoricalAccuracy()
    m.update(torch.tensor([[0.1, 0.9], [0.6, 0.4]]), torch.tensor([1, -100]))
    c = tka.collection(["sparse_categorical_accuracy"])
    c.update(torch.tensor([[0.1, 0.9], [0.6, 0.4]]), torch.tensor([1, -100]))
    fn = compute_metrics(["sparse_categorical_accuracy"], ignore_index=None)
    for action in (
        m.result,
        c.compute,
        lambda: fn((np.array([[0.1, 0.9]], dtype=np.float32), np.array([7]))),
        lambda: tka.BinaryAccuracy()(torch.tensor([[-1.0]]), torch.tensor([[1]])),  # forward: nn.Module's frames too
        lambda: tka.KerasAccuracy(loss="binary_crossentropy").update(torch.tensor([[0.1, 0.9]]), torch.tensor([[0.0, 1.0]])),
    ):
        assert {f for f, _ in _warned_here(action)} == {__file__}


def test_invalid_labels_suggest_ignore_index():
    m = tka.SparseCategoricalAccuracy()
    m.update(torch.tensor([[0.1, 0.9], [0.6, 0.4]]), torch.tensor([1, -100]))
    [(_, message)] = _warned_here(m.compute)
    assert "num_classes" not in message and "pass ignore_index=-100" in message
    quiet = tka.SparseCategoricalAccuracy(ignore_index=-1)
    quiet.update(torch.tensor([[0.1, 0.9], [0.6, 0.4]]), torch.tensor([1, -100]))
    [(_, message)] = _warned_here(quiet.compute)
    assert "ignore_index=-100" not in message  # they set one already


# -- friction 9: explain speaks of what the user asked --------------------------------
def test_explain_errors_are_named_after_explain():
    with pytest.raises(ValueError) as info:
        tka.explain(np.zeros((8, 4)), np.random.default_rng(0).random((8, 3)))
    assert str(info.value).startswith("explain: y_true of shape (8, 4) and y_pred of shape (8, 3) cannot be scored: ")
    assert "sparse_categorical_accuracy:" not in str(info.value)


def test_explain_lists_no_element_wise_mistake_on_ordinary_probabilities():
    report = tka.explain([[1], [0], [1]], [[0.8], [0.3], [0.4]])
    assert "accuracy (element-wise equality)" in report.variants
    assert not [m for m in report.mistakes if "strict equality" in m]


def test_explain_notes_what_torchmetrics_refuses_instead_of_crashing():
    report = tka.explain([[1], [0], [2]], [[0.8], [0.3], [0.4]])  # a label 2 in a binary problem
    assert any("torchmetrics refused" in n for n in report.notes)
    assert "sklearn accuracy_score" in report.external


# -- nice to have: k that decides alone, did-you-mean, the sweep's best line, threshold repr --
K_DECIDES = ["k10_c10", "k12_c10", "k0", "k_negative"]  # parity cases: TensorFlow Keras's answers


@pytest.mark.parametrize("metric", ["top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"])
@pytest.mark.parametrize("case_id", K_DECIDES)
def test_k_at_or_above_the_class_count_or_not_positive_warns_once_and_keeps_keras_value(metric, case_id):
    [case] = cases(id=f"{metric}/{case_id}")
    [batch] = case["batches"]
    m = CLASSES[metric](**case["kwargs"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # warned once, not per batch
            m.update_state(to_torch(batch["y_true"]), to_torch(batch["y_pred"]))
    [warning] = [w for w in caught if issubclass(w.category, tka.KerasPitfallWarning)]
    assert f"k={case['kwargs']['k']}" in str(warning.message) and warning.filename == __file__
    assert float(m.result()) == pytest.approx(expected_for(case)["cumulative"][0], abs=1e-6)  # Keras's value stays


def test_a_k_below_the_class_count_says_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error", tka.KerasPitfallWarning)
        tka.SparseTopKCategoricalAccuracy(k=2).update(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]))
        tka.TopKCategoricalAccuracy(k=2).update(torch.randn(2, 3), torch.eye(3)[:2])


def test_did_you_mean_for_metric_names_and_top_k():
    with pytest.raises(ValueError, match="did you mean 'accuracy'"):
        tka.get("acuracy")
    with pytest.raises(ValueError, match="did you mean 'sparse_top_k_categorical_accuracy'"):
        tka.collection(["sparse_top_k_categorical_acuracy"])
    with pytest.raises(TypeError, match="did you mean k="):
        tka.SparseTopKCategoricalAccuracy(top_k=3)


def test_the_text_sweep_prints_the_best_line(tmp_path, capsys):
    from torch_keras_acc.__main__ import best_threshold, main

    y_true = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=np.float32).reshape(-1, 1)
    y_pred = np.array([0.9, 0.2, 0.7, 0.4, 0.1, 0.6, 0.8, 0.3], dtype=np.float32).reshape(-1, 1)
    np.save(tmp_path / "t.npy", y_true)
    np.save(tmp_path / "p.npy", y_pred)
    assert main(["explain", "--y-true", str(tmp_path / "t.npy"), "--y-pred", str(tmp_path / "p.npy"), "--sweep"]) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("best:")]
    sweep = tka.threshold_sweep(y_true, y_pred)
    best_t, _ = sweep[best_threshold(sweep, 0.5)]  # the point the plot marks
    want = keras_value(lambda k: k.metrics.BinaryAccuracy(threshold=best_t), y_true, y_pred)
    assert line == f"best: t = {best_t:g} ({want:.4f}); the threshold used: t = 0.5"
    assert want >= max(keras_value(lambda k, t=t: k.metrics.BinaryAccuracy(threshold=t), y_true, y_pred) for t in (0.3, 0.5, 0.7))


def test_a_float32_threshold_reads_as_typed_in_the_repr():
    assert "threshold=0.3)" in repr(tka.BinaryAccuracy(threshold=torch.tensor(0.3)))
    assert "threshold=0.1)" in repr(tka.BinaryAccuracy(threshold=0.1))
