"""The six Keras accuracy metrics as torchmetrics ``Metric`` subclasses.

Each class names its kernel's spec (``torch_keras_acc.functional.SPECS``)
on the shared weighted mean; positional arguments follow the Keras constructors.
``label_cast="keras3"`` (keyword-only, on the metrics Keras 3 casts class ids
for) reproduces Keras 3's cast of labels and the predicted index to the scores'
dtype; the default, ``"exact"``, compares class ids exactly.

Example:
    >>> from torch_keras_acc import SparseCategoricalAccuracy
    >>> m = SparseCategoricalAccuracy()
    >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    >>> m.result()
    tensor(0.5000)
    >>> m.reset_state()
    >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    >>> round(float(m.result()), 4)
    0.3
"""

from __future__ import annotations

from typing import Any

from torch_keras_acc._keras3_cast import LabelCast
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc._options import MetricKwargs, OnInvalid, Unpack
from torch_keras_acc.functional import SPECS

__all__ = [
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
]


class Accuracy(KerasMeanMetric):
    """How often predictions equal labels (``keras.metrics.Accuracy``).

    Element-wise equality: for probabilities use a thresholded or argmax metric instead.

    Args:
        name: the metric's name (Keras's default ``"accuracy"``).
        dtype: the result's dtype (float32 by default, like Keras).
        on_invalid: ``"warn"``, ``"raise"`` or ``"ignore"``: what ``compute()`` does with invalid
            class-id labels (this metric takes none, so it never fires).
        warn_pitfalls: warn once ([`KerasPitfallWarning`][torch_keras_acc.KerasPitfallWarning]) when the
            first batch looks like a common mistake; ``False`` silences it.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``,
            ``dist_sync_fn``, ...).

    ``update(preds, target, sample_weight=None, mask=None)`` / ``update_state(y_true,
    y_pred, sample_weight=None, mask=None)``: ``mask`` is a bool tensor of the
    per-sample shape, True where a position counts (Keras's masked outputs; see
    [`KerasMeanMetric`][torch_keras_acc.KerasMeanMetric]).

    Example:
        >>> m = Accuracy()
        >>> m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
        >>> m.result()
        tensor(0.7500)
    """

    spec = SPECS["accuracy"]

    def __init__(
        self,
        name: str = "accuracy",
        dtype: Any = None,
        *,
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        super().__init__(name, dtype, on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, **kwargs)


class BinaryAccuracy(KerasMeanMetric):
    """How often ``y_pred > threshold`` matches binary labels (``keras.metrics.BinaryAccuracy``).

    Args:
        name: the metric's name (Keras's default ``"binary_accuracy"``).
        dtype: the result's dtype (float32 by default, like Keras).
        threshold: ``y_pred > threshold``, strictly, with no sigmoid: ``0.0`` for logits.
        on_invalid: ``"warn"``, ``"raise"`` or ``"ignore"``: what ``compute()`` does with invalid
            class-id labels (this metric takes none, so it never fires).
        warn_pitfalls: warn once ([`KerasPitfallWarning`][torch_keras_acc.KerasPitfallWarning]) when the
            first batch looks like a common mistake; ``False`` silences it.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``,
            ``dist_sync_fn``, ...).

    ``update(preds, target, sample_weight=None, mask=None)`` / ``update_state(y_true,
    y_pred, sample_weight=None, mask=None)``: ``mask`` is a bool tensor of the
    per-sample shape, True where a position counts (Keras's masked outputs; see
    [`KerasMeanMetric`][torch_keras_acc.KerasMeanMetric]).

    Example:
        >>> m = BinaryAccuracy(threshold=0.0)     # logits
        >>> m.update([[2.3], [-0.7], [0.4]], [[1], [1], [0]])
        >>> round(float(m.result()), 4)
        0.3333
    """

    spec = SPECS["binary_accuracy"]

    def __init__(
        self,
        name: str = "binary_accuracy",
        dtype: Any = None,
        threshold: float = 0.5,
        *,
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        super().__init__(name, dtype, {"threshold": threshold}, on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, **kwargs)


class CategoricalAccuracy(KerasMeanMetric):
    """How often argmax of scores matches argmax of one-hot labels (``keras.metrics.CategoricalAccuracy``).

    Args:
        name: the metric's name (Keras's default ``"categorical_accuracy"``).
        dtype: the result's dtype (float32 by default, like Keras).
        on_invalid: ``"warn"``, ``"raise"`` or ``"ignore"``: what ``compute()`` does with invalid
            class-id labels (this metric takes none, so it never fires).
        warn_pitfalls: warn once ([`KerasPitfallWarning`][torch_keras_acc.KerasPitfallWarning]) when the
            first batch looks like a common mistake; ``False`` silences it.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``,
            ``dist_sync_fn``, ...).

    ``update(preds, target, sample_weight=None, mask=None)`` / ``update_state(y_true,
    y_pred, sample_weight=None, mask=None)``: ``mask`` is a bool tensor of the
    per-sample shape, True where a position counts (Keras's masked outputs; see
    [`KerasMeanMetric`][torch_keras_acc.KerasMeanMetric]).

    Example:
        >>> m = CategoricalAccuracy()
        >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> m.result()
        tensor(0.5000)
    """

    spec = SPECS["categorical_accuracy"]

    def __init__(
        self,
        name: str = "categorical_accuracy",
        dtype: Any = None,
        *,
        label_cast: LabelCast = "exact",
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        super().__init__(name, dtype, {"label_cast": label_cast}, on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, **kwargs)


class SparseCategoricalAccuracy(KerasMeanMetric):
    """How often argmax of scores matches integer labels (``keras.metrics.SparseCategoricalAccuracy``).

    Args:
        name: the metric's name (Keras's default ``"sparse_categorical_accuracy"``).
        dtype: the result's dtype (float32 by default, like Keras).
        on_invalid: labels that are not integers in ``[0, C)`` are scored as Keras scores them
            and counted; ``compute()`` then warns once (``"warn"``), raises (``"raise"``) or
            says nothing (``"ignore"``).
        warn_pitfalls: warn once ([`KerasPitfallWarning`][torch_keras_acc.KerasPitfallWarning]) when the
            first batch looks like a common mistake; ``False`` silences it.
        ignore_index: a label value to leave out (PyTorch's and Hugging Face's ``-100``
            padding): neither counted nor reported invalid. ``None``: every label counts.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``,
            ``dist_sync_fn``, ...).

    ``update(preds, target, sample_weight=None, mask=None)`` / ``update_state(y_true,
    y_pred, sample_weight=None, mask=None)``: ``mask`` is a bool tensor of the
    per-sample shape, True where a position counts (Keras's masked outputs; see
    [`KerasMeanMetric`][torch_keras_acc.KerasMeanMetric]).

    Example:
        >>> m = SparseCategoricalAccuracy(ignore_index=-100)
        >>> m.update([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], [1, -100, 0])   # preds, target
        >>> m.result()
        tensor(0.5000)
    """

    spec = SPECS["sparse_categorical_accuracy"]

    def __init__(
        self,
        name: str = "sparse_categorical_accuracy",
        dtype: Any = None,
        *,
        label_cast: LabelCast = "exact",
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        ignore_index: int | None = None,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        super().__init__(name, dtype, {"label_cast": label_cast}, on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, ignore_index=ignore_index, **kwargs)


class TopKCategoricalAccuracy(KerasMeanMetric):
    """How often the one-hot target is in the top k scores (``keras.metrics.TopKCategoricalAccuracy``).

    Args:
        k: a hit when fewer than k scores are strictly greater than the target's (ties are hits).
        name: the metric's name (Keras's default ``"top_k_categorical_accuracy"``).
        dtype: the result's dtype (float32 by default, like Keras).
        on_invalid: ``"warn"``, ``"raise"`` or ``"ignore"``: what ``compute()`` does with invalid
            class-id labels (this metric takes none, so it never fires).
        warn_pitfalls: warn once ([`KerasPitfallWarning`][torch_keras_acc.KerasPitfallWarning]) when the
            first batch looks like a common mistake; ``False`` silences it.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``,
            ``dist_sync_fn``, ...).

    ``update(preds, target, sample_weight=None, mask=None)`` / ``update_state(y_true,
    y_pred, sample_weight=None, mask=None)``: ``mask`` is a bool tensor of the
    per-sample shape, True where a position counts (Keras's masked outputs; see
    [`KerasMeanMetric`][torch_keras_acc.KerasMeanMetric]).

    Example:
        >>> m = TopKCategoricalAccuracy(k=1)
        >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> m.result()
        tensor(0.5000)
    """

    spec = SPECS["top_k_categorical_accuracy"]

    def __init__(
        self,
        k: int = 5,
        name: str = "top_k_categorical_accuracy",
        dtype: Any = None,
        *,
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        super().__init__(name, dtype, {"k": k}, on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, **kwargs)


class SparseTopKCategoricalAccuracy(KerasMeanMetric):
    """How often the integer target is in the top k scores (``keras.metrics.SparseTopKCategoricalAccuracy``).

    Args:
        k: a hit when fewer than k scores are strictly greater than the target's (ties are hits).
        name: the metric's name (Keras's default ``"sparse_top_k_categorical_accuracy"``).
        dtype: the result's dtype (float32 by default, like Keras).
        from_sorted_ids: ``y_pred`` holds class ids sorted by score (Keras 3's option):
            a hit when the target is among the first k.
        on_invalid: labels that are not integers in ``[0, C)`` are scored as Keras scores them
            and counted; ``compute()`` then warns once (``"warn"``), raises (``"raise"``) or
            says nothing (``"ignore"``).
        warn_pitfalls: warn once ([`KerasPitfallWarning`][torch_keras_acc.KerasPitfallWarning]) when the
            first batch looks like a common mistake; ``False`` silences it.
        ignore_index: a label value to leave out (PyTorch's and Hugging Face's ``-100``
            padding): neither counted nor reported invalid. ``None``: every label counts.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``,
            ``dist_sync_fn``, ...).

    ``update(preds, target, sample_weight=None, mask=None)`` / ``update_state(y_true,
    y_pred, sample_weight=None, mask=None)``: ``mask`` is a bool tensor of the
    per-sample shape, True where a position counts (Keras's masked outputs; see
    [`KerasMeanMetric`][torch_keras_acc.KerasMeanMetric]).

    Example:
        >>> m = SparseTopKCategoricalAccuracy(k=2)
        >>> m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> m.result()
        tensor(1.)
    """

    spec = SPECS["sparse_top_k_categorical_accuracy"]

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype: Any = None,
        from_sorted_ids: bool = False,
        *,
        label_cast: LabelCast = "exact",
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        ignore_index: int | None = None,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        super().__init__(name, dtype, {"k": k, "from_sorted_ids": from_sorted_ids, "label_cast": label_cast}, on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, ignore_index=ignore_index, **kwargs)
