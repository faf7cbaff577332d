"""The six Keras accuracy metrics as torchmetrics ``Metric`` subclasses.

Each class names its kernel's spec (:data:`torch_keras_acc.functional.SPECS`)
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

from torch_keras_acc._mean import KerasMeanMetric
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
    """How often predictions equal labels (``keras.metrics.Accuracy``)."""

    spec = SPECS["accuracy"]

    def __init__(self, name: str = "accuracy", dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(name, dtype, **kwargs)


class BinaryAccuracy(KerasMeanMetric):
    """How often ``y_pred > threshold`` matches binary labels (``keras.metrics.BinaryAccuracy``)."""

    spec = SPECS["binary_accuracy"]

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5, **kwargs: Any) -> None:
        super().__init__(name, dtype, {"threshold": threshold}, **kwargs)


class CategoricalAccuracy(KerasMeanMetric):
    """How often argmax of scores matches argmax of one-hot labels (``keras.metrics.CategoricalAccuracy``)."""

    spec = SPECS["categorical_accuracy"]

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None, *, label_cast: str = "exact", **kwargs: Any) -> None:
        super().__init__(name, dtype, {"label_cast": label_cast}, **kwargs)


class SparseCategoricalAccuracy(KerasMeanMetric):
    """How often argmax of scores matches integer labels (``keras.metrics.SparseCategoricalAccuracy``)."""

    spec = SPECS["sparse_categorical_accuracy"]

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None, *, label_cast: str = "exact", **kwargs: Any) -> None:
        super().__init__(name, dtype, {"label_cast": label_cast}, **kwargs)


class TopKCategoricalAccuracy(KerasMeanMetric):
    """How often the one-hot target is in the top k scores (``keras.metrics.TopKCategoricalAccuracy``)."""

    spec = SPECS["top_k_categorical_accuracy"]

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(name, dtype, {"k": k}, **kwargs)


class SparseTopKCategoricalAccuracy(KerasMeanMetric):
    """How often the integer target is in the top k scores (``keras.metrics.SparseTopKCategoricalAccuracy``)."""

    spec = SPECS["sparse_top_k_categorical_accuracy"]

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype: Any = None,
        from_sorted_ids: bool = False,
        *,
        label_cast: str = "exact",
        **kwargs: Any,
    ) -> None:
        super().__init__(name, dtype, {"k": k, "from_sorted_ids": from_sorted_ids, "label_cast": label_cast}, **kwargs)
