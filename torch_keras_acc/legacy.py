"""Keras <= 2.2 (and tf.keras <= 2.1) accuracy, for reproducing old papers.

Before Keras 2.2.3, ``metrics=["accuracy"]`` meant one of three functions,
chosen from the *loss* (``keras/engine/training.py``, ``_compile_metrics``)::

    if output_shape[-1] == 1 or loss_function == losses.binary_crossentropy:
        metric_fn = metrics.binary_accuracy
    elif loss_function == losses.sparse_categorical_crossentropy:
        metric_fn = metrics.sparse_categorical_accuracy
    else:
        metric_fn = metrics.categorical_accuracy

with (``keras/metrics.py``, Keras 2.2)::

    def binary_accuracy(y_true, y_pred):
        return K.mean(K.equal(y_true, K.round(y_pred)), axis=-1)
    def categorical_accuracy(y_true, y_pred):
        return K.cast(K.equal(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1)), K.floatx())
    def sparse_categorical_accuracy(y_true, y_pred):
        return K.cast(K.equal(K.max(y_true, axis=-1),
                              K.cast(K.argmax(y_pred, axis=-1), K.floatx())), K.floatx())

``K.round`` is TensorFlow's round half to even (0.5 -> 0, 1.5 -> 2), so a
probability of exactly 0.5 is class 0, and the binary value of a sample is
the mean over its last axis. Keras 2.2 fed rank-1 arrays as (N, 1)
(``standardize_input_data``); these kernels do the same. The fixtures check
them against TensorFlow's own ``round``/``equal``/``reduce_mean``/``argmax``.

Sample weights follow today's Keras rules (the metric classes share them);
Keras 2.2 only weighted ``weighted_metrics``, with a different formula.

Example:
    >>> from torch_keras_acc import legacy
    >>> legacy.binary_accuracy([[1], [0], [1]], [[0.5], [0.5], [0.7]])
    tensor([0., 1., 1.])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torch_keras_acc._convert import ArrayLike, to_tensor
from torch_keras_acc._mean import _SPARSE_LABEL_KERNELS, KerasMeanMetric
from torch_keras_acc._tf_ops import flush_subnormal, tf_argmax

__all__ = [
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "LegacyBinaryAccuracy",
    "LegacyCategoricalAccuracy",
    "LegacySparseCategoricalAccuracy",
]


def _inputs(name: str, y_true: ArrayLike, y_pred: ArrayLike, device: torch.device | None) -> tuple[Tensor, Tensor]:
    y_pred = to_tensor(y_pred, "y_pred", name, device)
    y_true = to_tensor(y_true, "y_true", name, y_pred.device)
    # standardize_input_data: rank-1 arrays become (N, 1)
    y_pred = y_pred.unsqueeze(-1) if y_pred.ndim == 1 else y_pred
    y_true = y_true.unsqueeze(-1) if y_true.ndim == 1 else y_true
    if y_pred.ndim == 0 or y_true.ndim == 0:
        raise ValueError(f"{name}: expected arrays with a batch axis, got y_true {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}")
    return y_true, y_pred


def _equal(name: str, a: Tensor, b: Tensor) -> Tensor:
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(f"{name}: y_true of shape {tuple(a.shape)} and y_pred of shape {tuple(b.shape)} cannot be compared") from None
    return a == b


def binary_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    """Keras 2.2: ``mean(equal(y_true, round(y_pred)), axis=-1)``, round half to even."""
    name = "legacy binary_accuracy"
    y_true, y_pred = _inputs(name, y_true, y_pred, device)
    rounded = torch.round(y_pred) if y_pred.is_floating_point() else y_pred  # torch.round is half-to-even too
    matches = _equal(name, flush_subnormal(y_true.to(y_pred.dtype)), rounded)
    return matches.to(torch.float32).mean(dim=-1)


def categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    """Keras 2.2: ``equal(argmax(y_true, -1), argmax(y_pred, -1))``."""
    name = "legacy categorical_accuracy"
    y_true, y_pred = _inputs(name, y_true, y_pred, device)
    return _equal(name, tf_argmax(y_true), tf_argmax(y_pred)).to(torch.float32)


def sparse_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    """Keras 2.2: ``equal(max(y_true, -1), float(argmax(y_pred, -1)))``."""
    name = "legacy sparse_categorical_accuracy"
    y_true, y_pred = _inputs(name, y_true, y_pred, device)
    labels = y_true.to(torch.float32).amax(dim=-1)
    return _equal(name, labels, tf_argmax(y_pred).to(torch.float32)).to(torch.float32)


_SPARSE_LABEL_KERNELS.add(sparse_categorical_accuracy)


class LegacyBinaryAccuracy(KerasMeanMetric):
    """Keras 2.2's binary ``"accuracy"``: ``y_true == round(y_pred)``, averaged over the last axis."""

    _fn = staticmethod(binary_accuracy)

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(name, dtype, **kwargs)


class LegacyCategoricalAccuracy(KerasMeanMetric):
    """Keras 2.2's categorical ``"accuracy"``."""

    _fn = staticmethod(categorical_accuracy)

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(name, dtype, **kwargs)


class LegacySparseCategoricalAccuracy(KerasMeanMetric):
    """Keras 2.2's sparse categorical ``"accuracy"`` (labels of shape (N, 1))."""

    _fn = staticmethod(sparse_categorical_accuracy)

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(name, dtype, **kwargs)
