"""The one table of metrics: a row per class, with its Keras names, and ``get()``.

Every place that maps a name to a metric reads this table: [`get()`][torch_keras_acc.registry.get],
[`explain()`][torch_keras_acc.explain.explain], [`collection()`][torch_keras_acc.collection.collection],
the package's exports, the docs, the tests and the benchmark. (What ``"accuracy"`` resolves to is
the rule of ``resolve.py``; the table reads each class's kind from there.)

Example:
    >>> from torch_keras_acc import registry
    >>> registry.by_name("sparse_top_k_categorical_accuracy").cls.__name__
    'SparseTopKCategoricalAccuracy'
    >>> registry.variant("binary", "legacy").__name__
    'LegacyBinaryAccuracy'
    >>> [e.name for e in registry.KERAS]
    ['accuracy', 'binary_accuracy', 'categorical_accuracy', 'sparse_categorical_accuracy', 'top_k_categorical_accuracy', 'sparse_top_k_categorical_accuracy']
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from torch_keras_acc import legacy, metrics
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc.resolve import VARIANTS, KerasAccuracy, Kind, Semantics, kind_of

__all__ = ["Entry", "ENTRIES", "KERAS", "by_name", "by_class", "variant", "names", "get"]

Family = Literal["keras", "legacy", "string"]


@dataclass(frozen=True)
class Entry:
    """One metric class.

    Attributes:
        cls: our class.
        name: Keras's function name, the metric's default name (and its ``history`` key).
        class_name: the ``class_name`` of a Keras config dict (ours for classes Keras lacks).
        family: ``"keras"`` (a Keras 3 metric), ``"legacy"`` (Keras <= 2.2's kernels) or
            ``"string"`` (the string ``"accuracy"`` of ``compile``).
        strings: the identifiers ``get`` accepts for it besides ``class_name`` (compared
            case-insensitively for the ``"string"`` family, as ``compile`` does).
        summary: what it computes, in words (explain() reports use it).
        row: the label of its row in explain() reports, formatted with the config
            (``{threshold}``, ``{k}``); None: not shown there.
    """

    cls: type[KerasMeanMetric]
    name: str
    class_name: str
    family: Family
    strings: tuple[str, ...] = ()
    summary: str = ""
    row: str | None = None

    @property
    def kind(self) -> Kind | None:
        """What ``"accuracy"`` resolves to this class for (``resolve.VARIANTS``), or None."""
        return kind_of(self.cls)


ENTRIES: tuple[Entry, ...] = (
    Entry(metrics.Accuracy, "accuracy", "Accuracy", "keras", row="accuracy (element-wise equality)"),
    Entry(metrics.BinaryAccuracy, "binary_accuracy", "BinaryAccuracy", "keras", ("binary_accuracy",), row="binary_accuracy(threshold={threshold})"),
    Entry(metrics.CategoricalAccuracy, "categorical_accuracy", "CategoricalAccuracy", "keras", ("categorical_accuracy",), row="categorical_accuracy"),
    Entry(
        metrics.SparseCategoricalAccuracy, "sparse_categorical_accuracy", "SparseCategoricalAccuracy", "keras",
        ("sparse_categorical_accuracy",), row="sparse_categorical_accuracy",
    ),
    Entry(
        metrics.TopKCategoricalAccuracy, "top_k_categorical_accuracy", "TopKCategoricalAccuracy", "keras",
        ("top_k_categorical_accuracy",), row="top_k_categorical_accuracy(k={k})",
    ),
    Entry(
        metrics.SparseTopKCategoricalAccuracy, "sparse_top_k_categorical_accuracy", "SparseTopKCategoricalAccuracy", "keras",
        ("sparse_top_k_categorical_accuracy",), row="sparse_top_k_categorical_accuracy(k={k})",
    ),
    Entry(KerasAccuracy, "accuracy", "KerasAccuracy", "string", ("accuracy", "acc")),
    Entry(
        legacy.LegacyBinaryAccuracy, "binary_accuracy", "LegacyBinaryAccuracy", "legacy",
        summary="binary accuracy as y_true == round(y_pred), averaged over the last axis", row="legacy binary_accuracy (round)",
    ),
    Entry(
        legacy.LegacyCategoricalAccuracy, "categorical_accuracy", "LegacyCategoricalAccuracy", "legacy",
        summary="categorical accuracy (argmax of one-hot labels)",
    ),
    Entry(
        legacy.LegacySparseCategoricalAccuracy, "sparse_categorical_accuracy", "LegacySparseCategoricalAccuracy", "legacy",
        summary="sparse categorical accuracy",
    ),
)

#: The six Keras 3 metrics, in Keras's order.
KERAS: tuple[Entry, ...] = tuple(e for e in ENTRIES if e.family == "keras")


def by_name(identifier: str) -> Entry | None:
    """The entry ``get`` means by a string: ``"accuracy"``/``"acc"`` in any case (the
    ``compile`` string), a Keras function name, or a class name; None if unknown."""
    for entry in ENTRIES:
        if entry.family == "string" and identifier.lower() in entry.strings:
            return entry
    for entry in ENTRIES:
        if identifier in entry.strings or identifier == entry.class_name:
            return entry
    return None


def by_class(cls: type) -> Entry | None:
    """The entry of one of our classes (None for a class not in the table)."""
    return next((e for e in ENTRIES if e.cls is cls), None)


def variant(kind: Kind, semantics: Semantics) -> type[KerasMeanMetric]:
    """The class ``"accuracy"`` stands for on a problem of this kind."""
    return VARIANTS[semantics, kind]


def names() -> list[str]:
    """Every string ``get`` accepts (for error messages and suggestions)."""
    out: list[str] = []
    for entry in ENTRIES:
        out += [s for s in (*entry.strings, entry.class_name) if s not in out]
    return out


def get(identifier: Any, **kwargs: Any) -> KerasMeanMetric:
    """A metric from a Keras identifier, like ``keras.metrics.get`` / ``model.compile``.

    * ``"accuracy"`` / ``"acc"`` (any case, as in ``compile``): [`KerasAccuracy`][torch_keras_acc.resolve.KerasAccuracy]
      named after the string. Note ``keras.metrics.get("accuracy")`` itself
      returns the element-wise ``Accuracy``; ``compile`` does not, and we follow
      ``compile``. For element-wise equality use [`Accuracy`][torch_keras_acc.metrics.Accuracy] or its config.
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
    if isinstance(identifier, KerasMeanMetric):
        if kwargs:
            raise ValueError(f"get: keyword arguments {sorted(kwargs)} cannot apply to an existing metric instance")
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, KerasMeanMetric):
        return identifier(**kwargs)
    if isinstance(identifier, (list, tuple)):
        raise ValueError(
            f"get: returns one metric, got a {type(identifier).__name__} of {len(identifier)}; for a Keras "
            "compile(metrics=[...]) list use torch_keras_acc.collection(metrics), which returns a MetricCollection"
        )
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"get: a config dict needs 'class_name' and 'config' (keras.metrics.serialize format), got keys {sorted(identifier)}")
        found = next((e for e in ENTRIES if e.class_name == identifier["class_name"]), None)
        if found is None:
            raise ValueError(f"get: unknown class_name {identifier['class_name']!r}; expected one of {sorted(e.class_name for e in ENTRIES)}")
        return found.cls.from_config({**identifier.get("config", {}), **kwargs})
    if isinstance(identifier, str):
        found = by_name(identifier)
        if found is not None:
            if identifier == found.class_name:
                return found.cls(**kwargs)
            return found.cls(**{"name": identifier, **kwargs})  # named after the string, as compile does
    close = difflib.get_close_matches(identifier, names(), n=3, cutoff=0.6) if isinstance(identifier, str) else []
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    raise ValueError(
        f"get: could not interpret metric identifier {identifier!r}; {hint}expected 'accuracy'/'acc', a Keras accuracy "
        f"name such as 'sparse_categorical_accuracy', a class name such as 'TopKCategoricalAccuracy', a Keras config dict, "
        "or a metric class or instance"
    )
