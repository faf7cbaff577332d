"""Keras's six accuracy functions, per sample, in PyTorch.

These kernels are the single source of truth for the semantics; the metric
classes only average their output. Each mirrors the function of the same name
in Keras 3 (``keras/src/metrics/accuracy_metrics.py``) running on TensorFlow,
and returns a float32 tensor of 0.0/1.0 with the shape Keras returns. Each also
has ``.hits``, the same answer as a bool tensor, which the metrics count.

Deliberate differences from Keras, all documented in the README:

* Sparse labels are cast to the scores' dtype as Keras casts them, except where
  that cast would change an integral label (float16 scores: labels above 2048;
  int8 scores: labels above 127), which would merge two class ids: those are
  compared with the predicted index exactly. Non-finite labels are misses.
* Top-k accepts every float and integer dtype; Keras on TensorFlow only float32.

Example:
    >>> import torch
    >>> from torch_keras_acc import functional as F
    >>> F.sparse_categorical_accuracy([2, 1], [[0.1, 0.6, 0.3], [0.05, 0.95, 0.0]])
    tensor([0., 1.])
    >>> F.binary_accuracy([1, 0, 1], [0.5, 0.2, 0.51])
    tensor([0., 1., 1.])
    >>> F.binary_accuracy.hits([1, 0, 1], [0.5, 0.2, 0.51])
    tensor([False,  True,  True])
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Protocol, cast

import torch
from torch import Tensor

from torch_keras_acc import _pitfalls as P
from torch_keras_acc._compat import is_compiling
from torch_keras_acc._convert import ArrayLike, to_tensor
from torch_keras_acc._dispatch import argmax_last, flush_values, in_top_k, invalid_count
from torch_keras_acc._keras3_cast import check_label_cast, keras3_equal, keras3_int32_labels, label_cast_rule
from torch_keras_acc._spec import KernelSpec, check_bool, check_k, check_threshold
from torch_keras_acc._tf_rules import bool_operand, class_ids, compare_dtype, flush_subnormal, label_index, squeeze_or_expand_to_same_rank, threshold_operand, threshold_value

__all__ = [
    "SPECS",
    "invalid_label_count",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
]

_OUT = torch.float32  # Keras's floatx: per-sample values are float32


class _Kernel(Protocol):
    """A public kernel: float32 0.0/1.0 per sample; ``.hits`` is the same as bools."""

    hits: Callable[..., Tensor]

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor: ...


def _float32_values(hits: Callable[..., Tensor]) -> _Kernel:
    """The public kernel around ``hits``, which returns a bool per sample.

    Keras returns float32 0.0/1.0 (its floatx), so the public kernel does too;
    the metrics call ``kernel.hits`` and count the bools, which saves two passes
    over the values (the float32 copy and a float64 sum) on every update.
    """

    @functools.wraps(hits)
    def kernel(*args: Any, **kwargs: Any) -> Tensor:
        return hits(*args, **kwargs).to(_OUT)

    kernel.hits = hits  # type: ignore[attr-defined]
    return cast(_Kernel, kernel)


def _inputs(name: str, y_true: ArrayLike, y_pred: ArrayLike, device: torch.device | None) -> tuple[Tensor, Tensor]:
    y_pred = to_tensor(y_pred, "y_pred", name, device)
    y_true = to_tensor(y_true, "y_true", name, y_pred.device)
    return y_true, y_pred


def _equal(name: str, a: Tensor, b: Tensor, what: str) -> Tensor:
    """Element-wise ``a == b`` with NumPy broadcasting, or a ValueError naming the shapes."""
    try:
        return a == b  # PyTorch checks broadcastability itself; no separate (slow) check
    except RuntimeError:
        raise ValueError(
            f"{name}: {what} of shape {tuple(a.shape)} and {tuple(b.shape)} cannot be compared; "
            "expected the same batch shape (Keras also rejects these)"
        ) from None


def _check_batch(name: str, y_true: Tensor, y_pred: Tensor) -> None:
    # Top-k flattens both sides; TensorFlow's in_top_k needs 2-D scores (N, C) and one target per row.
    if y_pred.ndim < 2:
        raise ValueError(
            f"{name}: y_pred of shape {tuple(y_pred.shape)} has no batch axis besides the class axis; "
            "expected scores of shape (N, C) or (N, T, C) (TensorFlow's in_top_k needs 2-D predictions)"
        )
    if y_true.numel() != math.prod(y_pred.shape[:-1]):
        raise ValueError(
            f"{name}: y_true of shape {tuple(y_true.shape)} does not match y_pred of shape "
            f"{tuple(y_pred.shape)}; expected one target per row of y_pred (classes on the last axis)"
        )


def _squeeze_last(name: str, x: Tensor, what: str) -> Tensor:
    if x.shape[-1] != 1:
        raise ValueError(f"{name}: cannot squeeze the last axis of {what} of shape {tuple(x.shape)}; expected size 1")
    return x.squeeze(-1)


@_float32_values
def accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    """How often predictions equal labels, element-wise (``keras.metrics.Accuracy``).

    y_true is cast to y_pred's dtype, the ranks aligned through a trailing
    axis of size 1, then compared with strict equality.

    Example:
        >>> accuracy([[1], [2], [3], [4]], [[0], [2], [3], [4]]).flatten()
        tensor([0., 1., 1., 1.])
    """
    y_true, y_pred = _inputs("accuracy", y_true, y_pred, device)
    if y_pred.dtype == torch.bool:
        y_true = bool_operand(y_true)  # TensorFlow's cast to bool reads a flushed float32 subnormal as False
    # An integer cast to a float is 0 or at least 1 in magnitude: only float labels can flush.
    float_labels = y_true.is_floating_point()
    y_true = y_true.to(y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_true, y_pred = flush_values(y_true) if float_labels else y_true, flush_values(y_pred)
    return _equal("accuracy", y_true, y_pred, "y_true and y_pred")


@_float32_values
def binary_accuracy(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 0.5, *, device: torch.device | None = None) -> Tensor:
    """How often ``y_pred > threshold`` equals y_true (``keras.metrics.BinaryAccuracy``).

    Strictly greater: a score equal to the threshold is class 0. No sigmoid is
    applied (use ``threshold=0.0`` for logits). y_true is never thresholded, so
    soft labels only match when exactly 0 or 1. The threshold is a float32, and
    the comparison runs in the wider of float32 and y_pred's dtype, as in Keras.

    Example:
        >>> binary_accuracy([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]).flatten()
        tensor([1., 1., 1., 0.])
    """
    y_true, y_pred = _inputs("binary_accuracy", y_true, y_pred, device)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    cmp_dtype = compare_dtype(y_pred.dtype)
    t: Tensor | float
    if type(threshold) in (float, int) and not is_compiling():
        t = threshold_value(threshold, cmp_dtype)  # eager: a host scalar, worked out once
    else:
        t = threshold_operand(threshold, cmp_dtype)
        if not is_compiling():
            t = float(t)
    # The bool is promoted to y_true's dtype inside ==; no N-sized copy.
    predicted = y_pred.to(cmp_dtype) > t
    return _equal("binary_accuracy", y_true, predicted, "y_true and y_pred")


def _compare_labels(name: str, labels: Tensor, index: Tensor, scores_dtype: torch.dtype, label_cast: str = "exact") -> Tensor:
    """``labels == index`` with Keras's label cast (``_tf_rules.class_ids``), exactly; with
    ``label_cast="keras3"``, both cast to the scores' dtype as Keras 3 does (``_keras3_cast``)."""
    if label_cast == "keras3":
        return keras3_equal(name, labels, index, scores_dtype)
    ids = class_ids(labels, scores_dtype)
    return _equal(name, ids, index.to(ids.dtype), "y_true and argmax(y_pred)")


def _check_classes(name: str, x: Tensor, what: str) -> None:
    """argmax over the last axis needs one (TensorFlow's argmax raises on an empty axis)."""
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(
            f"{name}: {what} of shape {tuple(x.shape)} has no class axis to take the argmax of; "
            "expected classes on the last axis, at least one (Keras raises here too)"
        )


@_float32_values
def categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, label_cast: str = "exact", device: torch.device | None = None) -> Tensor:
    """How often ``argmax(y_pred)`` equals ``argmax(y_true)`` over the last axis
    (``keras.metrics.CategoricalAccuracy``).

    y_true is one-hot (or label-smoothed) with classes on the last axis; the
    first index wins ties; NaN scores are never picked (TensorFlow's argmax).
    ``label_cast="keras3"`` casts both indices to the scores' dtype first, as
    Keras 3 does (float16 scores: index 2049 equals 2048); the default compares
    them exactly.

    Example:
        >>> categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        tensor([0., 1.])
    """
    name = "categorical_accuracy"
    y_true, y_pred = _inputs(name, y_true, y_pred, device)
    _check_classes(name, y_true, "y_true")
    _check_classes(name, y_pred, "y_pred")
    labels = argmax_last(y_true)
    shape = labels.shape
    reshape = labels.ndim == y_pred.ndim
    if reshape:
        labels = _squeeze_last(name, labels, "argmax(y_true)")
    # Keras casts both indices to the scores' dtype; that cast can only merge two
    # class ids (e.g. float16 beyond 2048), so the indices are compared exactly.
    if label_cast == "keras3":
        matches = keras3_equal(name, labels, argmax_last(y_pred), y_pred.dtype)
    else:
        matches = _equal(name, labels, argmax_last(y_pred), "argmax(y_true) and argmax(y_pred)")
    return matches.reshape(shape) if reshape else matches


@_float32_values
def sparse_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, label_cast: str = "exact", device: torch.device | None = None) -> Tensor:
    """How often ``argmax(y_pred)`` equals the integer label
    (``keras.metrics.SparseCategoricalAccuracy``).

    y_true has shape (N,), (N, 1) or, for sequences, (N, T) / (N, T, 1); a
    trailing axis of size 1 is squeezed from the result. Float labels are
    accepted; a non-integral or out-of-range label is a miss. Labels whose cast
    to the scores' dtype would change them are compared exactly, unless
    ``label_cast="keras3"``: then labels and the predicted index are cast to the
    scores' dtype, as Keras 3 does (bfloat16 scores: label 257 equals 256).

    Example:
        >>> sparse_categorical_accuracy([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
        tensor([0., 1.])
    """
    name = "sparse_categorical_accuracy"
    y_true, y_pred = _inputs(name, y_true, y_pred, device)
    shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.ndim > 0 and y_true.shape[-1] == 1
    if reshape:
        y_true = y_true.squeeze(-1)
    _check_classes(name, y_pred, "y_pred")
    matches = _compare_labels(name, y_true, argmax_last(y_pred), y_pred.dtype, label_cast)
    if reshape:
        matches = matches.reshape(shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches.squeeze(-1)
    return matches


def _top_k(name: str, labels: Tensor, y_pred: Tensor, k: int) -> Tensor:
    """Shared tail of both top-k functions: flatten to (B, C), ``in_top_k``, restore shape."""
    _check_batch(name, labels, y_pred)  # C = 0 is allowed: every target is out of range, a miss (as in Keras)
    if y_pred.ndim > 2 and y_pred.shape[-1] == 0 and labels.numel() != math.prod(d for d in y_pred.shape[:-1] if d):
        # Keras reshapes such scores to (-1, 0), and TensorFlow infers -1 from the non-zero axes
        # only: (2, 3, 0) becomes (6, 0), but (0, 1, 0) becomes (1, 0), a row the labels lack.
        raise ValueError(
            f"{name}: y_pred of shape {tuple(y_pred.shape)} has no classes and more than two axes; Keras flattens it "
            f"to rows that do not match y_true of shape {tuple(labels.shape)} (TensorFlow rejects it too)"
        )
    shape = labels.shape
    hits = in_top_k(labels.reshape(-1), y_pred.reshape(labels.numel(), y_pred.shape[-1]), k)
    return hits.reshape(shape)


@_float32_values
def top_k_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, k: int = 5, *, device: torch.device | None = None) -> Tensor:
    """How often ``argmax(y_true)`` is among the top k scores
    (``keras.metrics.TopKCategoricalAccuracy``).

    A target is in the top k when fewer than k scores are strictly greater
    than its own, so ties at the k-th place count as hits; a row holding a NaN
    or an infinity is a miss (TensorFlow's ``in_top_k``).

    Example:
        >>> top_k_categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], k=1)
        tensor([0., 1.])
    """
    name = "top_k_categorical_accuracy"
    y_true, y_pred = _inputs(name, y_true, y_pred, device)
    _check_classes(name, y_true, "y_true")
    # Keras casts the one-hot targets to the scores' dtype before its argmax (for
    # integer scores, which TensorFlow refuses, we score as Keras would on float32 ones).
    if y_pred.is_floating_point():
        y_true = y_true.to(y_pred.dtype)
    if y_pred.ndim >= 2 and math.prod(y_true.shape[:-1]) != math.prod(y_pred.shape[:-1]):
        # Checked before the argmax, so the message shows the shape the user passed, not argmax(y_true)'s.
        raise ValueError(
            f"{name}: y_true of shape {tuple(y_true.shape)} does not match y_pred of shape {tuple(y_pred.shape)}; "
            "expected one-hot labels with one row per row of y_pred (classes on the last axis)"
        )
    labels = argmax_last(y_true)
    return _top_k(name, labels, y_pred, check_k(name, k))


@_float32_values
def sparse_top_k_categorical_accuracy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    k: int = 5,
    from_sorted_ids: bool = False,
    *,
    label_cast: str = "exact",
    device: torch.device | None = None,
) -> Tensor:
    """How often the integer label is among the top k scores
    (``keras.metrics.SparseTopKCategoricalAccuracy``).

    Float labels are truncated toward zero first (Keras casts them to int32).
    With ``from_sorted_ids=True``, y_pred holds class ids sorted by score and a
    hit is the label appearing among its first k columns. ``label_cast="keras3"``
    casts the labels as Keras 3 does: to the ids' dtype with ``from_sorted_ids``
    (float16 ids: label 2049 equals 2048), else to int32 (int64 labels wrap).

    Example:
        >>> sparse_top_k_categorical_accuracy([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], k=1)
        tensor([0., 1.])
        >>> sparse_top_k_categorical_accuracy([2, 1], [[1, 0, 3], [1, 2, 3]], k=1, from_sorted_ids=True)
        tensor([0., 1.])
    """
    name = "sparse_top_k_categorical_accuracy"
    y_true, y_pred = _inputs(name, y_true, y_pred, device)
    k = check_k(name, k)
    if not from_sorted_ids:
        labels = keras3_int32_labels(y_true) if label_cast == "keras3" else y_true
        return _top_k(name, label_index(labels), y_pred, k)
    if y_true.ndim == 0:
        raise ValueError(f"{name}: y_true is a scalar; from_sorted_ids=True needs one label per row of y_pred, e.g. shape (N,)")
    _check_batch(name, y_true, y_pred)
    shape = y_true.shape
    ids = y_pred.reshape(y_true.numel(), y_pred.shape[-1])[:, :k]  # Python's slice, as Keras's: k=-1 drops the last
    if label_cast == "keras3":
        return keras3_equal(name, y_true.reshape(-1, 1), ids, y_pred.dtype).any(dim=1).reshape(shape)
    # Keras casts the labels to the ids' dtype first (``_tf_rules.class_ids``); the ids are compared
    # as they are (never truncated: float id 1.5 matches no label), subnormals flushed (FTZ).
    labels = class_ids(y_true.reshape(-1, 1), y_pred.dtype)
    if labels.is_floating_point() or ids.is_floating_point():
        labels, ids = labels.to(torch.float64), flush_subnormal(ids).to(torch.float64)
    return (labels == ids.to(labels.dtype)).any(dim=1).reshape(shape)


def invalid_label_count(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    """How many sparse labels are not integers in ``[0, C)`` (C = y_pred's last dim).

    Keras scores such labels without complaint (out of range: a miss; non-integral:
    a miss for argmax, truncated for top-k); the metrics count them on the device,
    without a host sync, and report them at ``compute()``.

    Example:
        >>> invalid_label_count([0, 3, -1, 1.5], [[0.1, 0.2, 0.7]] * 4)
        tensor(3)
    """
    y_true, y_pred = _inputs("invalid_label_count", y_true, y_pred, device)
    return torch.as_tensor(invalid_count(y_true, y_pred.shape[-1] if y_pred.ndim else 0), device=y_true.device)


def _class_id_labels(y_true: Tensor, y_pred: Tensor, config: Any, keep: Tensor | None) -> Tensor | int:
    """A spec's ``invalid_labels``: sparse labels checked against y_pred's class count
    (not with ``from_sorted_ids``, where y_pred holds ids of any value)."""
    if config.get("from_sorted_ids"):
        return 0
    return invalid_count(y_true, y_pred.shape[-1] if y_pred.ndim else 0, keep)


# -- the specs: what each kernel is, declared once --------------------------------
SPECS: dict[str, KernelSpec] = {
    spec.name: spec
    for spec in (
        KernelSpec("accuracy", accuracy.hits, "elementwise", value_rules=P.ELEMENTWISE_VALUE_RULES, fused="equal"),
        KernelSpec(
            "binary_accuracy",
            binary_accuracy.hits,
            "elementwise",
            config={"threshold": check_threshold},
            defaults={"threshold": 0.5},
            value_rules=P.BINARY_VALUE_RULES,
            fused="binary",
        ),
        KernelSpec(
            "categorical_accuracy",
            categorical_accuracy.hits,
            "one_hot",
            config={"label_cast": check_label_cast},
            defaults={"label_cast": "exact"},
            shape_rules=P.ONE_HOT_RULES,
            value_rules=(*P.ONE_HOT_VALUE_RULES, label_cast_rule(categorical_accuracy.hits)),
            omit_default=("label_cast",),  # ours, not Keras's: written only when set
            fused="onehot_argmax",
        ),
        KernelSpec(
            "sparse_categorical_accuracy",
            sparse_categorical_accuracy.hits,
            "class_ids",
            config={"label_cast": check_label_cast},
            defaults={"label_cast": "exact"},
            shape_rules=P.CLASS_ID_RULES,
            value_rules=(label_cast_rule(sparse_categorical_accuracy.hits),),
            invalid_labels=_class_id_labels,
            omit_default=("label_cast",),  # ours, not Keras's: written only when set
            fused="sparse_argmax",
        ),
        KernelSpec(
            "top_k_categorical_accuracy",
            top_k_categorical_accuracy.hits,
            "one_hot",
            config={"k": check_k},
            defaults={"k": 5},
            shape_rules=P.ONE_HOT_RULES,
            value_rules=P.TOP_K_ONE_HOT_VALUE_RULES,
            fused="onehot_top_k",
        ),
        KernelSpec(
            "sparse_top_k_categorical_accuracy",
            sparse_top_k_categorical_accuracy.hits,
            "class_ids",
            config={"k": check_k, "from_sorted_ids": check_bool("from_sorted_ids"), "label_cast": check_label_cast},
            defaults={"k": 5, "from_sorted_ids": False, "label_cast": "exact"},
            shape_rules=P.SORTED_IDS_AWARE_RULES,
            value_rules=(*P.TOP_K_VALUE_RULES, label_cast_rule(sparse_top_k_categorical_accuracy.hits)),
            invalid_labels=_class_id_labels,
            omit_default=("from_sorted_ids", "label_cast"),  # Keras writes from_sorted_ids only when True; label_cast is ours
            fused="in_top_k",
        ),
    )
}
