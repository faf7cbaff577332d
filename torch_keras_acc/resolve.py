"""The string ``"accuracy"``: which metric Keras means, and ``get()``.

In ``model.compile(metrics=["accuracy"])`` (or ``"acc"``, any case) Keras 3
and tf.keras >= 2.2 pick the metric from the shapes of y_true and y_pred
(``keras/src/trainers/compile_utils.py``, ``is_binary_or_sparse_categorical``):

====================================================  =============================
rule, checked in this order                            metric
====================================================  =============================
y_pred's last dim is 1                                 ``BinaryAccuracy``
y_true has lower rank than y_pred, or y_true's last    ``SparseCategoricalAccuracy``
dim is 1 and y_pred's is not
otherwise                                              ``CategoricalAccuracy``
====================================================  =============================

The loss plays no part. Keras <= 2.2 chose from the loss instead (see
:mod:`torch_keras_acc.legacy`): binary if y_pred's last dim is 1 or the loss is
binary crossentropy, sparse only for sparse categorical crossentropy, else
categorical. ``semantics="legacy"`` selects that rule.

Example:
    >>> import torch
    >>> from torch_keras_acc import resolve_accuracy, KerasAccuracy
    >>> resolve_accuracy(torch.tensor([2, 0]), torch.rand(2, 3)).__name__
    'SparseCategoricalAccuracy'
    >>> resolve_accuracy([[1.0], [0.0]], [[0.2, 0.8], [0.6, 0.4]], loss="binary_crossentropy", semantics="legacy").__name__
    'LegacyBinaryAccuracy'
    >>> acc = KerasAccuracy()
    >>> acc.update_state([[1], [0]], [[0.9], [0.3]])
    >>> acc.variant.__name__, float(acc.result())
    ('BinaryAccuracy', 1.0)
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Literal

from torch import Tensor

from torch_keras_acc import legacy
from torch_keras_acc._convert import ArrayLike, to_tensor
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc.metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)

__all__ = ["KerasAccuracy", "get", "resolve_accuracy", "loss_kind"]

Semantics = Literal["keras3", "legacy"]  # for type checkers; SEMANTICS for the runtime check
SEMANTICS = ("keras3", "legacy")

# Keras names of losses (function and class spellings, and Keras's aliases).
_LOSS_NAMES = {
    "binary": {"binary_crossentropy", "binarycrossentropy", "bce"},
    "sparse": {"sparse_categorical_crossentropy", "sparsecategoricalcrossentropy"},
    "categorical": {"categorical_crossentropy", "categoricalcrossentropy", "cce"},
}
# PyTorch losses, by class or function name.
_TORCH_BINARY = {"bceloss", "bcewithlogitsloss", "binary_cross_entropy", "binary_cross_entropy_with_logits"}
_TORCH_CLASS_INDEX = {"crossentropyloss", "nllloss", "cross_entropy", "nll_loss"}


def loss_kind(loss: Any, y_true: Tensor | None = None, y_pred: Tensor | None = None) -> str | None:
    """``"binary"``, ``"sparse"``, ``"categorical"``, ``"other"``, or None for no loss.

    Accepts Keras loss names, Keras loss objects or functions, and PyTorch
    losses (modules or ``torch.nn.functional`` functions). ``nn.CrossEntropyLoss``
    is sparse with class-index targets (integer, or lower rank than y_pred) and
    categorical with probability targets.
    """
    if loss is None:
        return None
    if isinstance(loss, str):
        key = loss.lower()
    else:
        key = getattr(loss, "__name__", None) or type(loss).__name__
        key = key.lower()
    for kind, names in _LOSS_NAMES.items():
        if key in names:
            return kind
    if key in _TORCH_BINARY:
        return "binary"
    if key in _TORCH_CLASS_INDEX:
        if y_true is None or y_pred is None:
            return "sparse"
        index_targets = not y_true.is_floating_point() or y_true.ndim < y_pred.ndim
        return "sparse" if index_targets else "categorical"
    return "other"


def _shapes(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[Tensor, Tensor]:
    y_pred = to_tensor(y_pred, "y_pred", "accuracy")
    y_true = to_tensor(y_true, "y_true", "accuracy")
    if y_pred.ndim == 0 or y_true.ndim == 0:
        raise ValueError(f"accuracy: expected arrays with a batch axis, got y_true {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}")
    return y_true, y_pred


def resolve_accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, loss: Any = None, semantics: Semantics = "keras3"
) -> type[KerasMeanMetric]:
    """The metric class that ``metrics=["accuracy"]`` stands for on these inputs.

    Uses shapes only (and for ``"legacy"``, the loss), never values, so it
    costs nothing on the GPU. See the module docstring for the rules.
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"accuracy: semantics must be one of {SEMANTICS}, got {semantics!r}")
    y_true, y_pred = _shapes(y_true, y_pred)
    kind = loss_kind(loss, y_true, y_pred)
    if semantics == "legacy":
        # Keras 2.2 models never output rank 1: such arrays stand for (N, 1).
        if y_pred.ndim == 1 or y_pred.shape[-1] == 1 or kind == "binary":
            return legacy.LegacyBinaryAccuracy
        if kind == "sparse":
            return legacy.LegacySparseCategoricalAccuracy
        return legacy.LegacyCategoricalAccuracy
    if y_pred.shape[-1] == 1:
        return BinaryAccuracy
    if y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


_KIND_OF = {BinaryAccuracy: "binary", SparseCategoricalAccuracy: "sparse", CategoricalAccuracy: "categorical"}


class KerasAccuracy(KerasMeanMetric):
    """The string ``"accuracy"`` of ``model.compile``: a metric that picks its
    variant from the first batch's shapes, as Keras does at compile time.

    Args:
        name: Keras names the metric after the string (``"accuracy"`` or ``"acc"``).
        dtype: result dtype (float32 by default).
        loss: optional; a Keras loss name/object or a PyTorch loss. Required by
            ``semantics="legacy"`` to tell binary and sparse apart; with
            ``"keras3"`` it only feeds a warning when Keras's shape rule picks
            a variant that does not fit the loss (e.g. (N,) logits with
            ``BCEWithLogitsLoss`` resolve to categorical accuracy in Keras).
        semantics: ``"keras3"`` (Keras 3 and tf.keras >= 2.2) or ``"legacy"``
            (Keras <= 2.2, tf.keras <= 2.1).

    The choice is exposed as ``metric.variant`` (a class) and in ``repr``; a later
    batch whose shapes would resolve differently raises ``ValueError`` (the
    state is left untouched). ``reset()`` keeps the variant, like a compiled model.
    """

    def __init__(
        self, name: str = "accuracy", dtype: Any = None, loss: Any = None, semantics: Semantics = "keras3", **kwargs: Any
    ) -> None:
        if semantics not in SEMANTICS:
            raise ValueError(f"{name}: semantics must be one of {SEMANTICS}, got {semantics!r}")
        super().__init__(name, dtype, **kwargs)
        self.loss = loss
        self.semantics = semantics
        self.variant: type[KerasMeanMetric] | None = None
        self._pending: type[KerasMeanMetric] | None = None

    def _kernel(self, target: ArrayLike, preds: ArrayLike) -> tuple[Callable[..., Tensor], dict[str, Any]]:
        chosen = resolve_accuracy(target, preds, self.loss, self.semantics)
        if self.variant is not None and chosen is not self.variant:
            raise ValueError(
                f"{self.name}: this batch (y_true {tuple(to_tensor(target, 'y_true', self.name).shape)}, "
                f"y_pred {tuple(to_tensor(preds, 'y_pred', self.name).shape)}) resolves to {chosen.__name__}, but "
                f"earlier batches resolved to {self.variant.__name__}; Keras fixes the variant at compile time. "
                "Use one metric per output, or the explicit class."
            )
        self._pending = chosen
        return chosen._fn, {}

    def _accumulate(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None) -> tuple[Tensor, Tensor | float]:
        out = super()._accumulate(preds, target, sample_weight)
        if self.variant is None and self._pending is not None:  # only once the first batch is known to be valid
            self.variant = self._pending
            self._warn_if_loss_disagrees(self._pending)
        return out

    def _warn_if_loss_disagrees(self, chosen: type[KerasMeanMetric]) -> None:
        kind = loss_kind(self.loss)
        if self.semantics != "keras3" or kind in (None, "other") or _KIND_OF.get(chosen) == kind:
            return
        if kind == "categorical" and chosen is SparseCategoricalAccuracy:
            return  # CrossEntropyLoss with index targets: loss_kind without tensors cannot tell
        warnings.warn(
            f"{self.name}: Keras 3 resolves 'accuracy' from shapes alone and chose {chosen.__name__}, "
            f"although the loss is {kind} crossentropy. Keras would report the same number; if that is not "
            "what you want, use the explicit class (e.g. BinaryAccuracy(threshold=0.0) for logits of shape (N,)), "
            "reshape y_pred to (N, 1) for binary, or pass semantics='legacy' for Keras <= 2.2's loss-based rule.",
            UserWarning,
            stacklevel=4,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.semantics != "keras3":
            config["semantics"] = self.semantics
        return config

    def extra_repr(self) -> str:
        chosen = self.variant.__name__ if self.variant else "unresolved"
        return f"{super().extra_repr()}, semantics={self.semantics!r}, variant={chosen}"


_CLASSES: dict[str, type[KerasMeanMetric]] = {
    cls.__name__: cls
    for cls in (
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        TopKCategoricalAccuracy,
        SparseTopKCategoricalAccuracy,
        KerasAccuracy,
    )
}
_FUNCTION_NAMES = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
}


def get(identifier: Any, **kwargs: Any) -> KerasMeanMetric:
    """A metric from a Keras identifier, like ``keras.metrics.get`` / ``model.compile``.

    * ``"accuracy"`` / ``"acc"`` (any case, as in ``compile``): :class:`KerasAccuracy`
      named after the string. Note ``keras.metrics.get("accuracy")`` itself
      returns the element-wise ``Accuracy``; ``compile`` does not, and we follow
      ``compile``. For element-wise equality use :class:`Accuracy` or its config.
    * a metric's function or class name (``"sparse_categorical_accuracy"``,
      ``"SparseTopKCategoricalAccuracy"``, ...): that metric, named as Keras does.
    * a Keras config dict, ``{"class_name": ..., "config": {...}}`` as written by
      ``keras.metrics.serialize`` (extra keys like ``"module"`` are ignored).
    * a metric class (instantiated with ``kwargs``) or instance (returned as is).

    Example:
        >>> from torch_keras_acc import get
        >>> get("acc")
        KerasAccuracy(name='acc', dtype='float32', semantics='keras3', variant=unresolved)
        >>> get({"class_name": "SparseTopKCategoricalAccuracy", "config": {"k": 3, "name": "top3"}}).k
        3
    """
    if isinstance(identifier, (list, tuple)):
        raise ValueError(
            f"get: returns one metric, got a {type(identifier).__name__} of {len(identifier)}; for a Keras "
            "compile(metrics=[...]) list use torch_keras_acc.collection(metrics), a MetricCollection keyed as Keras's history"
        )
    if isinstance(identifier, KerasMeanMetric):
        if kwargs:
            raise ValueError(f"get: keyword arguments {sorted(kwargs)} cannot apply to an existing metric instance")
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, KerasMeanMetric):
        return identifier(**kwargs)
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"get: a config dict needs 'class_name' and 'config' (keras.metrics.serialize format), got keys {sorted(identifier)}")
        cls = _CLASSES.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"get: unknown class_name {identifier['class_name']!r}; expected one of {sorted(_CLASSES)}")
        return cls.from_config({**identifier.get("config", {}), **kwargs})
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return KerasAccuracy(name=identifier, **kwargs)
        if identifier in _FUNCTION_NAMES:
            return _FUNCTION_NAMES[identifier](**{"name": identifier, **kwargs})
        if identifier in _CLASSES:
            return _CLASSES[identifier](**kwargs)
    raise ValueError(
        f"get: could not interpret metric identifier {identifier!r}; expected 'accuracy'/'acc', a Keras accuracy "
        f"name such as 'sparse_categorical_accuracy', a class name such as 'TopKCategoricalAccuracy', a Keras config dict, "
        "or a metric class or instance"
    )
