"""Keras accuracy, exactly, inside PyTorch.

Six torchmetrics ``Metric`` classes that reproduce ``keras.metrics`` accuracy
sample for sample, and their per-sample kernels in
:mod:`torch_keras_acc.functional`.

Example:
    >>> import torch_keras_acc as tka
    >>> m = tka.BinaryAccuracy()
    >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> m.result()
    tensor(0.7500)
"""

from torch_keras_acc import distributed, functional, legacy
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc._paths import kernel_path
from torch_keras_acc._verify import check_kernels
from torch_keras_acc._pitfalls import KerasPitfallWarning
from torch_keras_acc.legacy import LegacyBinaryAccuracy, LegacyCategoricalAccuracy, LegacySparseCategoricalAccuracy
from torch_keras_acc.metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
from torch_keras_acc.resolve import KerasAccuracy, get, loss_kind, resolve_accuracy
from torch_keras_acc import registry  # noqa: E402  (after resolve: it lists KerasAccuracy)
from torch_keras_acc.explain import AccuracyReport, explain, threshold_sweep  # noqa: E402
from torch_keras_acc.collection import collection  # noqa: E402
from torch_keras_acc import hf  # noqa: E402

# The one place the version is written: pyproject.toml reads it (dynamic = ["version"]).
__version__ = "0.1.0"

__all__ = [
    "Accuracy",
    "AccuracyReport",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "KerasAccuracy",
    "KerasMeanMetric",
    "KerasPitfallWarning",
    "LegacyBinaryAccuracy",
    "LegacyCategoricalAccuracy",
    "LegacySparseCategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "__version__",
    "check_kernels",
    "collection",
    "distributed",
    "functional",
    "get",
    "hf",
    "kernel_path",
    "legacy",
    "loss_kind",
    "registry",
    "resolve_accuracy",
    "explain",
    "threshold_sweep",
]
