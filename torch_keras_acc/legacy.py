"""Keras <= 2.2 (and tf.keras <= 2.1) accuracy, for reproducing old papers.

Before Keras 2.2.3, ``metrics=["accuracy"]`` meant one of three functions,
chosen from the *loss* (``keras/engine/training.py``, ``_compile_metrics``):

```python
if output_shape[-1] == 1 or loss_function == losses.binary_crossentropy:
    metric_fn = metrics.binary_accuracy
elif loss_function == losses.sparse_categorical_crossentropy:
    metric_fn = metrics.sparse_categorical_accuracy
else:
    metric_fn = metrics.categorical_accuracy
```

with (``keras/metrics.py``, Keras 2.2):

```python
def binary_accuracy(y_true, y_pred):
    return K.mean(K.equal(y_true, K.round(y_pred)), axis=-1)
def categorical_accuracy(y_true, y_pred):
    return K.cast(K.equal(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1)), K.floatx())
def sparse_categorical_accuracy(y_true, y_pred):
    return K.cast(K.equal(K.max(y_true, axis=-1),
                          K.cast(K.argmax(y_pred, axis=-1), K.floatx())), K.floatx())
```

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

from torch_keras_acc import _pitfalls as P
from torch_keras_acc._convert import ArrayLike
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc._options import MetricKwargs, OnInvalid, Unpack
from torch_keras_acc._spec import KernelSpec
from torch_keras_acc._dispatch import tf_argmax
from torch_keras_acc._tf_rules import flush_subnormal, round_half_even
from torch_keras_acc.functional import _class_id_labels, _equal, _inputs

__all__ = [
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "LegacyBinaryAccuracy",
    "LegacyCategoricalAccuracy",
    "LegacySparseCategoricalAccuracy",
]


def _legacy_inputs(name: str, y_true: ArrayLike, y_pred: ArrayLike, device: torch.device | None) -> tuple[Tensor, Tensor]:
    y_true, y_pred = _inputs(name, y_true, y_pred, device)
    # standardize_input_data: rank-1 arrays become (N, 1)
    y_pred = y_pred.unsqueeze(-1) if y_pred.ndim == 1 else y_pred
    y_true = y_true.unsqueeze(-1) if y_true.ndim == 1 else y_true
    if y_pred.ndim == 0 or y_true.ndim == 0:
        raise ValueError(f"{name}: expected arrays with a batch axis, got y_true {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}")
    return y_true, y_pred


def _binary_values(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    name = "legacy binary_accuracy"
    y_true, y_pred = _legacy_inputs(name, y_true, y_pred, device)
    matches = _equal(name, flush_subnormal(y_true.to(y_pred.dtype)), round_half_even(y_pred), "y_true and round(y_pred)")
    return matches.to(torch.float32).mean(dim=-1)


def _categorical_hits(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    name = "legacy categorical_accuracy"
    y_true, y_pred = _legacy_inputs(name, y_true, y_pred, device)
    return _equal(name, tf_argmax(y_true), tf_argmax(y_pred), "argmax(y_true) and argmax(y_pred)")


def _sparse_hits(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    name = "legacy sparse_categorical_accuracy"
    y_true, y_pred = _legacy_inputs(name, y_true, y_pred, device)
    labels = y_true.to(torch.float32).amax(dim=-1)
    return _equal(name, labels, tf_argmax(y_pred).to(torch.float32), "max(y_true) and argmax(y_pred)")


def binary_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    """Keras 2.2: ``mean(equal(y_true, round(y_pred)), axis=-1)``, round half to even."""
    return _binary_values(y_true, y_pred, device=device)


def categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    """Keras 2.2: ``equal(argmax(y_true, -1), argmax(y_pred, -1))``."""
    return _categorical_hits(y_true, y_pred, device=device).to(torch.float32)


def sparse_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, device: torch.device | None = None) -> Tensor:
    """Keras 2.2: ``equal(max(y_true, -1), float(argmax(y_pred, -1)))``."""
    return _sparse_hits(y_true, y_pred, device=device).to(torch.float32)


SPECS: dict[str, KernelSpec] = {
    spec.name: spec
    for spec in (
        # Keras 2.2's binary value is a mean over the last axis: a float per sample, not a bool.
        KernelSpec("legacy binary_accuracy", _binary_values, "elementwise", value_rules=P.ROUNDING_VALUE_RULES),
        KernelSpec("legacy categorical_accuracy", _categorical_hits, "one_hot", shape_rules=P.ONE_HOT_RULES),
        KernelSpec(
            "legacy sparse_categorical_accuracy", _sparse_hits, "class_ids", shape_rules=P.CLASS_ID_RULES, invalid_labels=_class_id_labels
        ),
    )
}


class LegacyBinaryAccuracy(KerasMeanMetric):
    """Keras 2.2's binary ``"accuracy"``: ``y_true == round(y_pred)``, averaged over the last axis.

    Args:
        name: the metric's name (Keras's default ``"binary_accuracy"``).
        dtype: the result's dtype (float32 by default).
        on_invalid: what ``compute()`` does with invalid class-id labels (this metric takes none): ``"warn"`` once, ``"raise"`` or ``"ignore"``.
        warn_pitfalls: warn once when the first batch looks like a common mistake; ``False`` silences it.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``, ...).

    ``update``/``update_state``/``forward`` take ``mask=`` as every metric does
    (see [`KerasMeanMetric`][torch_keras_acc.KerasMeanMetric]).
    """

    spec = SPECS["legacy binary_accuracy"]

    def __init__(
        self,
        name: str = "binary_accuracy",
        dtype: Any = None,
        *,
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        super().__init__(name, dtype, on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, **kwargs)


class LegacyCategoricalAccuracy(KerasMeanMetric):
    """Keras 2.2's categorical ``"accuracy"``.

    Args:
        name: the metric's name (Keras's default ``"categorical_accuracy"``).
        dtype: the result's dtype (float32 by default).
        on_invalid: what ``compute()`` does with invalid class-id labels (this metric takes none): ``"warn"`` once, ``"raise"`` or ``"ignore"``.
        warn_pitfalls: warn once when the first batch looks like a common mistake; ``False`` silences it.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``, ...).

    ``update``/``update_state``/``forward`` take ``mask=`` as every metric does
    (see [`KerasMeanMetric`][torch_keras_acc.KerasMeanMetric]).
    """

    spec = SPECS["legacy categorical_accuracy"]

    def __init__(
        self,
        name: str = "categorical_accuracy",
        dtype: Any = None,
        *,
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        super().__init__(name, dtype, on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, **kwargs)


class LegacySparseCategoricalAccuracy(KerasMeanMetric):
    """Keras 2.2's sparse categorical ``"accuracy"`` (labels of shape (N, 1)).

    Args:
        name: the metric's name (Keras's default ``"sparse_categorical_accuracy"``).
        dtype: the result's dtype (float32 by default).
        on_invalid: what ``compute()`` does with labels that are not integers in ``[0, C)``: ``"warn"`` once, ``"raise"`` or ``"ignore"``.
        warn_pitfalls: warn once when the first batch looks like a common mistake; ``False`` silences it.
        ignore_index: a label value to leave out (``-100`` padding): neither counted nor reported invalid.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``, ...).

    ``update``/``update_state``/``forward`` take ``mask=`` as every metric does
    (see [`KerasMeanMetric`][torch_keras_acc.KerasMeanMetric]).
    """

    spec = SPECS["legacy sparse_categorical_accuracy"]

    def __init__(
        self,
        name: str = "sparse_categorical_accuracy",
        dtype: Any = None,
        *,
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        ignore_index: int | None = None,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        super().__init__(name, dtype, on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, ignore_index=ignore_index, **kwargs)
