"""What a kernel *is*, declared once: [`KernelSpec`][torch_keras_acc._spec.KernelSpec].

A metric class names one spec; the weighted-mean base class reads nothing
else about it. A spec says which per-sample hits function defines the
semantics, what its labels are, which keyword arguments configure it (and how
each is checked), which pitfall rules apply, and whether invalid labels are
counted. ``ignore_index`` applies exactly to specs whose labels are class ids.

Example:
    >>> from torch_keras_acc.functional import SPECS
    >>> spec = SPECS["sparse_top_k_categorical_accuracy"]
    >>> spec.labels, list(spec.config)
    ('class_ids', ['k', 'from_sorted_ids', 'label_cast'])
    >>> spec.check_config("top_k", {"k": 3, "from_sorted_ids": 0})
    {'k': 3, 'from_sorted_ids': False, 'label_cast': 'exact'}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import numpy as np
import torch
from torch import Tensor

LabelKind = Literal["class_ids", "one_hot", "elementwise"]
# A pitfall rule: (y_true, y_pred, config) -> a sentence, or None when the batch looks fine.
Rule = Callable[[Tensor, Tensor, Mapping[str, Any]], "str | None"]
# A config check: (metric name, value) -> the value to store, or raise TypeError/ValueError naming the metric.
Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class KernelSpec:
    """One Keras accuracy kernel and everything a metric needs to know about it.

    Attributes:
        name: the Keras function name (``"binary_accuracy"``), also the pitfall and error prefix.
        hits: ``hits(y_true, y_pred, *, device=None, **config)``: one bool per sample,
            the definition of the semantics (the public kernel is its float32 form).
        labels: ``"class_ids"`` (sparse labels: ``ignore_index`` applies), ``"one_hot"``
            or ``"elementwise"``.
        config: keyword arguments of ``hits`` in Keras's config order, each with its check.
        defaults: the default of each config key (Keras's).
        shape_rules: pitfall rules that read shapes only (also used to explain errors).
        value_rules: pitfall rules that read values (first batch only: one host read).
        invalid_labels: ``(y_true, y_pred, config, keep) -> count`` of labels that are not
            integers in ``[0, C)`` among those ``keep`` marks (None: all), or None when
            this kernel takes no class indices to validate.
        omit_default: config keys Keras writes into ``get_config()`` only when not at their default.
        fused: the name of the fused whole-batch kernel (``_fused.PLANNERS``): ``_dispatch.fused_sums``
            runs it when the triton path is in force and the batch maps onto one launch, adding into
            the states in-kernel; otherwise ``hits`` runs. Its sums are those of ``hits`` under
            Keras's weighted mean, bit for bit.
    """

    name: str
    hits: Callable[..., Tensor]
    labels: LabelKind
    config: Mapping[str, Check] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    shape_rules: tuple[Rule, ...] = ()
    value_rules: tuple[Rule, ...] = ()
    invalid_labels: Callable[[Tensor, Tensor, Mapping[str, Any], "Tensor | None"], "Tensor | int"] | None = None
    omit_default: tuple[str, ...] = ()
    fused: Literal["sparse_argmax", "in_top_k", "onehot_argmax", "onehot_top_k", "binary", "equal"] | None = None

    def check_config(self, metric: str, values: Mapping[str, Any], ignore_index: int | None = None, cls: str = "") -> dict[str, Any]:
        """The config with each value checked (and normalized), or a TypeError/ValueError naming ``metric``
        (``ignore_index`` applies only to class-id labels; ``cls`` names the class in that error)."""
        if ignore_index is not None and self.labels != "class_ids":
            raise ValueError(f"{metric}: ignore_index applies to metrics of integer class labels; {cls or self.name} takes {self.labels} labels")
        unknown = set(values) - set(self.config)
        if unknown:
            raise TypeError(f"{metric}: unexpected argument(s) {sorted(unknown)}; {self.name} takes {list(self.config) or 'none'}")
        return {key: check(metric, values.get(key, self.defaults.get(key))) for key, check in self.config.items()}

    def keras_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` as Keras writes it into ``get_config()`` (``omit_default`` keys left out at their default)."""
        return {k: v for k, v in config.items() if not (k in self.omit_default and v == self.defaults.get(k))}

    def pitfalls(self, y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any], values_too: bool = True) -> list[str]:
        """The messages of the rules that match this batch (value rules only if ``values_too``)."""
        rules = self.shape_rules + (self.value_rules if values_too else ())
        return [msg for rule in rules if (msg := rule(y_true, y_pred, config))]


# -- configuration checks (run at construction, naming the metric) --------------
def check_k(name: str, k: Any) -> int:
    if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
        return int(k)
    raise TypeError(f"{name}: k must be an int, got {k!r}")


def check_threshold(name: str, threshold: Any) -> float:
    if isinstance(threshold, (int, float, np.integer, np.floating)) and not isinstance(threshold, (bool, np.bool_)):
        return float(threshold)
    if isinstance(threshold, (Tensor, np.ndarray)) and threshold.ndim == 0 and threshold.dtype not in (torch.bool, np.bool_):
        return float(threshold)
    raise TypeError(f"{name}: threshold must be a number, got {threshold!r}")


def check_bool(key: str) -> Callable[[str, Any], bool]:
    def check(name: str, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
            return bool(value)
        raise TypeError(f"{name}: {key} must be True or False, got {value!r}")

    return check
