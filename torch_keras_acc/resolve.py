"""The string ``"accuracy"``: which metric Keras means, and ``get()``.

In ``model.compile(metrics=["accuracy"])`` (or ``"acc"``, any case) Keras 3
and tf.keras >= 2.2 pick the metric from the shapes of y_true and y_pred
(``keras/src/trainers/compile_utils.py``, ``is_binary_or_sparse_categorical``):

| rule, checked in this order | metric |
|---|---|
| y_pred's last dim is 1 | ``BinaryAccuracy`` |
| y_true has lower rank than y_pred, or y_true's last dim is 1 and y_pred's is not | ``SparseCategoricalAccuracy`` |
| otherwise | ``CategoricalAccuracy`` |

The loss plays no part. Keras <= 2.2 chose from the loss instead (see
[`torch_keras_acc.legacy`][torch_keras_acc.legacy]): binary if y_pred's last dim is 1 or the loss is
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

from typing import Any, Literal, Mapping, cast

from torch import Tensor

from torch_keras_acc import legacy, metrics
from torch_keras_acc._convert import ArrayLike, to_tensor
from torch_keras_acc._losses import check_loss_name
from torch_keras_acc._keras3_cast import LabelCast, check_label_cast
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc._options import MetricKwargs, OnInvalid, Unpack, option_repr
from torch_keras_acc._warn import warn_user
from torch_keras_acc._spec import KernelSpec

__all__ = ["KerasAccuracy", "VARIANTS", "resolve_accuracy", "loss_kind"]

Semantics = Literal["keras3", "legacy"]
SEMANTICS = ("keras3", "legacy")
Kind = Literal["binary", "sparse", "categorical"]

#: What ``"accuracy"`` stands for, per semantics and kind of problem (the registry reads it too).
VARIANTS: dict[tuple[Semantics, Kind], type[KerasMeanMetric]] = {
    ("keras3", "binary"): metrics.BinaryAccuracy,
    ("keras3", "sparse"): metrics.SparseCategoricalAccuracy,
    ("keras3", "categorical"): metrics.CategoricalAccuracy,
    ("legacy", "binary"): legacy.LegacyBinaryAccuracy,
    ("legacy", "sparse"): legacy.LegacySparseCategoricalAccuracy,
    ("legacy", "categorical"): legacy.LegacyCategoricalAccuracy,
}


def kind_of(cls: type) -> Kind | None:
    """The kind of problem ``"accuracy"`` resolves to ``cls`` for, or None."""
    return next((kind for (_, kind), c in VARIANTS.items() if c is cls), None)

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




def _shapes(y_true: ArrayLike, y_pred: ArrayLike, name: str = "accuracy") -> tuple[Tensor, Tensor]:
    y_pred = to_tensor(y_pred, "y_pred", name)
    y_true = to_tensor(y_true, "y_true", name)
    if y_pred.ndim == 0 or y_true.ndim == 0:
        raise ValueError(
            f"{name}: expected arrays with a batch axis, got y_true of shape {tuple(y_true.shape)} and y_pred of shape "
            f"{tuple(y_pred.shape)}; Keras resolves 'accuracy' from a model's outputs, which always have one"
        )
    return y_true, y_pred


def _non_batch_shapes(y_true: Tensor, y_pred: Tensor) -> tuple:
    return y_true.ndim, y_pred.ndim, tuple(y_true.shape[1:]), tuple(y_pred.shape[1:])


def resolve_accuracy(y_true: ArrayLike, y_pred: ArrayLike, loss: Any = None, semantics: Semantics = "keras3") -> type[KerasMeanMetric]:
    """The metric class that ``metrics=["accuracy"]`` stands for on these inputs.

    Uses shapes only (and for ``"legacy"``, the loss), never values, so it
    costs nothing on the GPU. See the module docstring for the rules. On rank-1
    arrays the last axis is the batch axis: Keras traces its model on shapes
    whose batch axis is the batch size when every batch is full and unknown
    otherwise, so rank-1 outputs give ``BinaryAccuracy`` for batches of one
    sample and ``CategoricalAccuracy`` for any other (``model.evaluate`` runs
    in the fixtures).
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"accuracy: semantics must be one of {SEMANTICS}, got {semantics!r}")
    check_loss_name(loss, "accuracy")
    y_true, y_pred = _shapes(y_true, y_pred)
    kind = loss_kind(loss, y_true, y_pred)
    if semantics == "legacy":
        # Keras 2.2 models never output rank 1: such arrays stand for (N, 1).
        if y_pred.ndim == 1 or y_pred.shape[-1] == 1 or kind == "binary":
            return VARIANTS["legacy", "binary"]
        return VARIANTS["legacy", "sparse" if kind == "sparse" else "categorical"]
    if y_pred.shape[-1] == 1:
        return VARIANTS["keras3", "binary"]
    if y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
        return VARIANTS["keras3", "sparse"]
    return VARIANTS["keras3", "categorical"]


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
        label_cast: keyword-only, ``"exact"`` (default) or ``"keras3"``: passed to the
            variant when it takes one (sparse and categorical accuracy), see
            [`SparseCategoricalAccuracy`][torch_keras_acc.SparseCategoricalAccuracy]. Keras 3 semantics only.
        on_invalid: what ``compute()`` does with sparse labels that are not integers in
            ``[0, C)``: warn once (``"warn"``), raise (``"raise"``) or nothing (``"ignore"``).
        warn_pitfalls: warn once ([`KerasPitfallWarning`][torch_keras_acc.KerasPitfallWarning])
            when the first batch looks like a common mistake; ``False`` silences it.
        ignore_index: a label value to leave out (``-100`` padding) when the variant is sparse.
        **kwargs: torchmetrics' ``Metric`` options (``sync_on_compute``, ``process_group``, ...).

    ``update``, ``update_state`` and ``forward`` take ``mask=`` (a bool tensor of the
    per-sample shape, True where a position counts), as every metric does.

    The choice is exposed as ``metric.variant`` (a class) and in ``repr``. Keras
    resolves once, when it traces the model, so a later batch that differs only in
    its batch size (a last batch of one sample included) keeps the variant; a later
    batch of other ranks or class counts that would resolve differently raises
    ``ValueError`` (the state is left untouched). ``reset()`` keeps the variant, like a compiled model.
    ``ignore_index`` applies when the variant is the sparse one.
    """

    spec = None  # resolved per batch: see _batch_spec

    def __init__(
        self,
        name: str = "accuracy",
        dtype: Any = None,
        loss: Any = None,
        semantics: Semantics = "keras3",
        *,
        label_cast: LabelCast = "exact",
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        ignore_index: int | None = None,
        **kwargs: Unpack[MetricKwargs],
    ) -> None:
        if semantics not in SEMANTICS:
            raise ValueError(f"{name}: semantics must be one of {SEMANTICS}, got {semantics!r}")
        check_loss_name(loss, name)
        label_cast = check_label_cast(name, label_cast)
        if semantics == "legacy" and label_cast != "exact":
            raise ValueError(f"{name}: label_cast={label_cast!r} reproduces Keras 3's cast; semantics='legacy' (Keras <= 2.2) takes label_cast='exact' only")
        # label_cast joins the identity only when set, so a default metric's identity is unchanged.
        identity = (semantics, loss_kind(loss)) + ((label_cast,) if label_cast != "exact" else ())
        super().__init__(
            name, dtype, identity=identity,
            on_invalid=on_invalid, warn_pitfalls=warn_pitfalls, ignore_index=ignore_index, **kwargs,
        )
        self.loss = loss
        self.semantics = semantics
        self.label_cast = label_cast
        self.variant: type[KerasMeanMetric] | None = None
        self._resolved_shapes: tuple | None = None  # the first batch's shapes but for the batch axis
        self._resolved_config: Mapping[str, Any] | None = None  # its kernel's config, once accepted

    def _batch_spec(self, y_true: Tensor, y_pred: Tensor) -> tuple[KernelSpec, Mapping[str, Any]]:
        config = self.__dict__.get("_resolved_config")  # (absent from a metric pickled by an older version)
        if config is not None and self.variant is not None and _non_batch_shapes(y_true, y_pred) == self._resolved_shapes:
            return cast(KernelSpec, self.variant.spec), config  # the hot path: the variant's kernel and config
        y_true, y_pred = _shapes(y_true, y_pred, self.name)
        # Keras resolves once, when it traces the model; the traced shapes carry no
        # batch size once a batch is partial. So a batch whose shapes differ from the
        # first one only in the batch axis (a last batch of one sample, say) keeps the
        # variant; only other ranks or class counts are resolved again.
        # An empty batch (e.g. `[]`, shape (0,) whatever it stands for) goes to the resolved variant,
        # as it would to the metric object Keras built; that variant accepts or rejects it.
        empty = y_true.numel() == 0 and y_pred.numel() == 0
        if self.variant is not None and (empty or _non_batch_shapes(y_true, y_pred) == self._resolved_shapes):
            chosen = self.variant
        else:
            chosen = resolve_accuracy(y_true, y_pred, self.loss, self.semantics)
        if self.variant is not None and chosen is not self.variant:
            raise ValueError(
                f"{self.name}: this batch (y_true {tuple(y_true.shape)}, y_pred {tuple(y_pred.shape)}) resolves to "
                f"{chosen.__name__}, but earlier batches resolved to {self.variant.__name__}; Keras fixes the variant "
                "at compile time. Use one metric per output, or the explicit class."
            )
        spec = chosen.spec
        assert spec is not None
        if self.ignore_index is not None and spec.labels != "class_ids":
            raise ValueError(
                f"{self.name}: ignore_index applies to integer class labels, but this batch (y_true {tuple(y_true.shape)}, "
                f"y_pred {tuple(y_pred.shape)}) resolves to {chosen.__name__}"
            )
        return spec, self._config_of(spec)

    def _config_of(self, spec: KernelSpec) -> Mapping[str, Any]:
        if "label_cast" in spec.config:  # the string takes no Keras arguments; label_cast is ours
            return {**spec.defaults, "label_cast": self.label_cast}
        return spec.defaults  # each variant's Keras defaults

    def _accepted(self, spec: KernelSpec, y_true: Tensor, y_pred: Tensor) -> None:
        if self.variant is None:  # only once the first batch is known to be valid
            self.variant = next(cls for cls in VARIANTS.values() if cls.spec is spec)
            self._resolved_shapes = _non_batch_shapes(y_true, y_pred)
            self._resolved_config = self._config_of(spec)
            self._warn_if_loss_disagrees(self.variant)

    def _warn_if_loss_disagrees(self, chosen: type[KerasMeanMetric]) -> None:
        kind = loss_kind(self.loss)
        chosen_kind = kind_of(chosen)
        if self.semantics != "keras3" or kind in (None, "other") or chosen_kind == kind:
            return
        if kind == "categorical" and chosen_kind == "sparse":
            return  # CrossEntropyLoss with index targets: loss_kind without tensors cannot tell
        warn_user(
            f"{self.name}: Keras 3 resolves 'accuracy' from shapes alone and chose {chosen.__name__}, "
            f"although the loss is {kind} crossentropy. Keras would report the same number; if that is not "
            "what you want, use the explicit class (e.g. BinaryAccuracy(threshold=0.0) for logits of shape (N,)), "
            "reshape y_pred to (N, 1) for binary, or pass semantics='legacy' for Keras <= 2.2's loss-based rule.",
            UserWarning,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.semantics != "keras3":
            config["semantics"] = self.semantics
        if self.label_cast != "exact":
            config["label_cast"] = self.label_cast
        return config

    def extra_repr(self) -> str:
        chosen = self.variant.__name__ if self.variant else "unresolved"
        # get_config() names semantics only when not the default; the repr always does, once.
        config = {k: v for k, v in self.get_config().items() if k != "semantics"}
        return ", ".join(f"{k}={option_repr(v)}" for k, v in config.items()) + f", semantics={self.semantics!r}, variant={chosen}"
