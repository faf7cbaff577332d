"""Differential test against live Keras 3 on the torch backend (skipped without keras).

Keras on the torch backend is *not* our reference: on edge cases (NaN/inf,
ties, k above the number of classes) it disagrees with Keras on TensorFlow,
which the fixtures settle. Here hypothesis draws ordinary inputs only:
distinct finite scores (no ties), k below the class count, labels in range.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was already imported
    pytest.skip("keras is not on the torch backend in this process", allow_module_level=True)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import torch_keras_acc as tka  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=1, max_size=2)))  # (N,) or (N, T)
    c = draw(st.integers(2, 12))
    k = draw(st.integers(1, c - 1))
    # distinct scores per row: a random permutation scaled, so no ties anywhere
    scores = rng.permuted(np.tile(np.arange(c, dtype=np.float32), shape + (1,)), axis=-1) / c + rng.random(shape + (1,), dtype=np.float32)
    labels = rng.integers(0, c, size=shape)
    weighted = draw(st.booleans())
    weights = rng.random(shape[:1]).astype(np.float32) * 2 if weighted else None
    threshold = draw(st.sampled_from([0.0, 0.25, 0.5, 0.75]))
    return scores.astype(np.float32), labels, c, k, weights, threshold, rng


def _check(ours, theirs, y_true, y_pred, w):
    ours.update_state(y_true, y_pred, sample_weight=w)
    theirs.update_state(y_true, y_pred, sample_weight=w)
    assert abs(float(ours.result()) - float(theirs.result())) <= 1e-6


@SETTINGS
@given(problems())
def test_sparse_and_categorical(p):
    scores, labels, c, k, w, _, _ = p
    onehot = np.eye(c, dtype=np.float32)[labels]
    _check(tka.SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy(), labels, scores, w)
    _check(tka.CategoricalAccuracy(), keras.metrics.CategoricalAccuracy(), onehot, scores, w)


@SETTINGS
@given(problems())
def test_top_k(p):
    scores, labels, c, k, w, _, _ = p
    onehot = np.eye(c, dtype=np.float32)[labels]
    _check(tka.SparseTopKCategoricalAccuracy(k=k), keras.metrics.SparseTopKCategoricalAccuracy(k=k), labels, scores, w)
    _check(tka.TopKCategoricalAccuracy(k=k), keras.metrics.TopKCategoricalAccuracy(k=k), onehot, scores, w)


@SETTINGS
@given(problems())
def test_binary_and_equality(p):
    scores, labels, c, _, w, threshold, rng = p
    probs = scores[..., 0] / 2  # in [0, 1)
    y_bin = (labels % 2).astype(np.float32)
    _check(tka.BinaryAccuracy(threshold=threshold), keras.metrics.BinaryAccuracy(threshold=threshold), y_bin, probs, w)
    guess = rng.integers(0, c, size=labels.shape)
    _check(tka.Accuracy(), keras.metrics.Accuracy(), labels, guess, w)


def test_functional_shapes_match():
    y_true = np.array([[2], [1]])
    y_pred = np.array([[0.1, 0.6, 0.3], [0.05, 0.95, 0.0]], dtype=np.float32)
    ours = tka.functional.sparse_categorical_accuracy(y_true, y_pred)
    theirs = keras.metrics.sparse_categorical_accuracy(y_true, y_pred)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert torch.equal(ours, torch.as_tensor(np.asarray(theirs.cpu())))
