"""Keras accuracy, exactly, inside PyTorch.

Six torchmetrics ``Metric`` classes that reproduce ``keras.metrics`` accuracy
sample for sample, and their per-sample kernels in
[`torch_keras_acc.functional`][torch_keras_acc.functional].

Example:
    >>> import torch_keras_acc as tka
    >>> m = tka.BinaryAccuracy()
    >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> m.result()
    tensor(0.7500)
"""

from torch_keras_acc import distributed, functional, legacy
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc._dispatch import kernel_path
from torch_keras_acc._check import check_kernels
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
from torch_keras_acc.resolve import KerasAccuracy, loss_kind, resolve_accuracy
from torch_keras_acc import registry
from torch_keras_acc.registry import get
from torch_keras_acc.explain import AccuracyReport, explain, threshold_sweep
from torch_keras_acc.collection import collection
from torch_keras_acc.wrapper import MeanMetricWrapper
from torch_keras_acc.keras_model import from_keras_model
from torch_keras_acc import hf

# The one place the version is written: pyproject.toml reads it (dynamic = ["version"]).
__version__ = "0.1.0"

# The metric classes come from the registry; the names above are imported one by one
# only so that type checkers see them (tests/test_structure.py checks the two agree).
__all__ = [
    *(entry.cls.__name__ for entry in registry.ENTRIES),
    "AccuracyReport",
    "KerasMeanMetric",
    "KerasPitfallWarning",
    "MeanMetricWrapper",
    "__version__",
    "check_kernels",
    "collection",
    "distributed",
    "explain",
    "from_keras_model",
    "functional",
    "get",
    "hf",
    "kernel_path",
    "legacy",
    "loss_kind",
    "registry",
    "resolve_accuracy",
    "threshold_sweep",
]
