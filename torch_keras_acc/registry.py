"""The one table of metrics: a row per class, with its Keras names.

Every place that maps a name to a metric reads this table: [`get()`][torch_keras_acc.resolve.get],
the resolution of ``"accuracy"``, [`explain()`][torch_keras_acc.explain.explain], [`collection()`][torch_keras_acc.collection.collection], the tests
and the benchmark.

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

from dataclasses import dataclass
from typing import Literal

from torch_keras_acc import legacy, metrics
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc.resolve import KerasAccuracy

Kind = Literal["binary", "sparse", "categorical"]
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
        kind: what ``"accuracy"`` resolves to this class for, or None.
        strings: the identifiers ``get`` accepts for it besides ``class_name`` (compared
            case-insensitively for the ``"string"`` family, as ``compile`` does).
        summary: what it computes, in words (explain() reports use it).
    """

    cls: type[KerasMeanMetric]
    name: str
    class_name: str
    family: Family
    kind: Kind | None = None
    strings: tuple[str, ...] = ()
    summary: str = ""


ENTRIES: tuple[Entry, ...] = (
    Entry(metrics.Accuracy, "accuracy", "Accuracy", "keras"),
    Entry(metrics.BinaryAccuracy, "binary_accuracy", "BinaryAccuracy", "keras", "binary", ("binary_accuracy",)),
    Entry(metrics.CategoricalAccuracy, "categorical_accuracy", "CategoricalAccuracy", "keras", "categorical", ("categorical_accuracy",)),
    Entry(
        metrics.SparseCategoricalAccuracy,
        "sparse_categorical_accuracy",
        "SparseCategoricalAccuracy",
        "keras",
        "sparse",
        ("sparse_categorical_accuracy",),
    ),
    Entry(metrics.TopKCategoricalAccuracy, "top_k_categorical_accuracy", "TopKCategoricalAccuracy", "keras", None, ("top_k_categorical_accuracy",)),
    Entry(
        metrics.SparseTopKCategoricalAccuracy,
        "sparse_top_k_categorical_accuracy",
        "SparseTopKCategoricalAccuracy",
        "keras",
        None,
        ("sparse_top_k_categorical_accuracy",),
    ),
    Entry(KerasAccuracy, "accuracy", "KerasAccuracy", "string", None, ("accuracy", "acc")),
    Entry(
        legacy.LegacyBinaryAccuracy, "binary_accuracy", "LegacyBinaryAccuracy", "legacy", "binary",
        summary="binary accuracy as y_true == round(y_pred), averaged over the last axis",
    ),
    Entry(
        legacy.LegacyCategoricalAccuracy, "categorical_accuracy", "LegacyCategoricalAccuracy", "legacy", "categorical",
        summary="categorical accuracy (argmax of one-hot labels)",
    ),
    Entry(
        legacy.LegacySparseCategoricalAccuracy, "sparse_categorical_accuracy", "LegacySparseCategoricalAccuracy", "legacy", "sparse",
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


def by_spec(spec: object) -> Entry:
    """The entry of the class that declares ``spec`` (each spec belongs to one class)."""
    return next(e for e in ENTRIES if e.cls.spec is spec)


def variant(kind: Kind, semantics: Literal["keras3", "legacy"]) -> type[KerasMeanMetric]:
    """The class ``"accuracy"`` stands for on a problem of this kind."""
    family = "keras" if semantics == "keras3" else "legacy"
    return next(e.cls for e in ENTRIES if e.family == family and e.kind == kind)


def names() -> list[str]:
    """Every string ``get`` accepts (for error messages and suggestions)."""
    out: list[str] = []
    for entry in ENTRIES:
        out += [s for s in (*entry.strings, entry.class_name) if s not in out]
    return out
