"""Every diagnostic message: the input mistakes Keras users ask about most, and the reports.

Each rule returns a sentence (what is wrong, why the number will mislead, what
to use instead) or None. Shape rules are free; the value rules look at the
first batch only, so a metric syncs the host at most once in its life. The
metrics' own messages (the invalid-label report, the pitfall warning, the
"likely cause" of an error) are written here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import Tensor

from torch_keras_acc._warn import warn_user

if TYPE_CHECKING:
    from torch_keras_acc._spec import KernelSpec


class KerasPitfallWarning(UserWarning):
    """Inputs that Keras would score without complaint but almost surely by mistake.

    Silence with ``warn_pitfalls=False`` on the metric, or
    ``warnings.filterwarnings("ignore", category=KerasPitfallWarning)``.
    """


def _single_column(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
    if y_pred.ndim >= 1 and y_pred.shape[-1] == 1:
        return (
            "y_pred has a single column (shape %s): argmax over one column is always 0, so this measures how often "
            "the label is class 0. For one sigmoid output use BinaryAccuracy." % (tuple(y_pred.shape),)
        )
    return None


def _integer_labels_to_categorical(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
    if y_pred.ndim >= 1 and y_pred.shape[-1] > 1 and (y_true.ndim < y_pred.ndim or y_true.shape[-1] == 1):
        return (
            "y_true of shape %s looks like integer class labels, but this metric takes one-hot labels "
            "(argmax over the label axis). Use the Sparse variant, or one-hot encode y_true." % (tuple(y_true.shape),)
        )
    return None


def _one_hot_to_sparse(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
    if y_pred.ndim >= 2 and y_pred.shape[-1] > 1 and tuple(y_true.shape) == tuple(y_pred.shape):
        return (
            "y_true has the shape of y_pred %s, like one-hot labels, but this metric takes integer class "
            "indices. Use the non-sparse variant (CategoricalAccuracy / TopKCategoricalAccuracy)." % (tuple(y_pred.shape),)
        )
    return None


def _probabilities_to_accuracy(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
    # Value rule: first batch only (one host sync).
    if y_pred.is_floating_point() and y_pred.numel() and bool((y_pred != y_pred.round()).any()):
        return (
            "Accuracy compares y_true and y_pred for strict equality, and y_pred holds non-integral scores, "
            "so almost nothing will match. For probabilities use BinaryAccuracy (one column) or "
            "CategoricalAccuracy / SparseCategoricalAccuracy (one column per class)."
        )
    return None


def _logits_to_binary(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
    # Value rule: first batch only (one host sync).
    threshold = float(config["threshold"])
    if threshold > 0 and y_pred.is_floating_point() and y_pred.numel() and bool((y_pred < 0).any()):
        return (
            f"y_pred has negative values, so it looks like logits, but BinaryAccuracy applies no sigmoid and "
            f"compares y_pred > {threshold}. For logits pass threshold=0.0 (the same as sigmoid(logit) > 0.5)."
        )
    return None


def _logits_to_rounding(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
    # Value rule: first batch only (one host sync).
    if y_pred.is_floating_point() and y_pred.numel() and bool((y_pred < 0).any()):
        return (
            "y_pred has negative values, so it looks like logits, but Keras 2.2's binary accuracy compares "
            "round(y_pred) with the label, so a logit of -3 is 'class -3'. For logits use "
            "BinaryAccuracy(threshold=0.0), or apply a sigmoid first."
        )
    return None


_ORDER = (
    "update(preds, target), forward and metric(preds, target) take torchmetrics' order; "
    "update_state(y_true, y_pred) takes Keras's"
)


def _swapped_class_ids(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
    # Shape rule: y_true has the shape scores would have, (N, C), and y_pred that of labels, (N,).
    if y_true.ndim >= 2 and y_true.ndim == y_pred.ndim + 1 and tuple(y_true.shape[:-1]) == tuple(y_pred.shape) and y_true.shape[-1] > 1:
        return (
            f"y_true has shape {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}: the scores and the labels look "
            f"swapped (this metric takes integer labels of y_pred's leading shape). {_ORDER}."
        )
    return None


def _swapped_values(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
    # Value rule: first batch only (one host sync). Integral predictions against non-integral
    # labels: a swap, far more often than hard predictions scored against soft labels.
    if not (y_true.is_floating_point() and y_true.numel() and y_pred.numel()):
        return None
    labels_fractional = bool((torch.isfinite(y_true) & (y_true != y_true.round())).any())
    preds_integral = not y_pred.is_floating_point() or bool((y_pred == y_pred.round()).all())
    if labels_fractional and preds_integral:
        return (
            "y_pred holds only integral values, like labels, and y_true non-integral ones, like scores: the "
            f"arguments look swapped. {_ORDER}."
        )
    return None


def _k_decides_alone(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
    # Reads the config and a shape only; a first-batch rule, so it warns once per metric.
    k, classes = config.get("k"), (y_pred.shape[-1] if y_pred.ndim else 0)
    if k is None or config.get("from_sorted_ids"):
        return None
    if k <= 0:
        return f"k={k}: no score is among the top {k}, so every sample is a miss and the result is 0.0 (as in Keras)."
    if classes and k >= classes:
        return (
            f"k={k} is at least the number of classes ({classes}, y_pred's last axis): every label in range is in the top "
            f"{k}, so the result is 1.0 (as in Keras) whatever the model does (as for a Hugging Face model with 3 labels "
            f"and the default k=5). Pass a k below {classes}."
        )
    return None


def _sorted_ids_skip(rule: Any) -> Any:
    """``rule`` for top-k, which does not apply when y_pred holds sorted class ids."""

    def checked(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
        return None if config.get("from_sorted_ids") else rule(y_true, y_pred, config)

    return checked


# The rules each kind of kernel declares in its spec (functional.py, legacy.py).
ONE_HOT_RULES = (_single_column, _integer_labels_to_categorical)
CLASS_ID_RULES = (_single_column, _one_hot_to_sparse, _swapped_class_ids)
SORTED_IDS_AWARE_RULES = tuple(_sorted_ids_skip(r) for r in CLASS_ID_RULES[:2]) + (_swapped_class_ids,)
ONE_HOT_VALUE_RULES = (_swapped_values,)
# k is a first-batch rule, not a shape rule: shape rules also explain errors, which k never causes.
TOP_K_ONE_HOT_VALUE_RULES = (_swapped_values, _k_decides_alone)
TOP_K_VALUE_RULES = (_k_decides_alone,)
ELEMENTWISE_VALUE_RULES = (_probabilities_to_accuracy, _swapped_values)
BINARY_VALUE_RULES = (_logits_to_binary, _swapped_values)
ROUNDING_VALUE_RULES = (_logits_to_rounding, _swapped_values)


# -- the metrics' messages ----------------------------------------------------------
def warn_pitfalls(who: str, spec: KernelSpec, config: Mapping[str, Any], y_true: Tensor, y_pred: Tensor) -> None:
    """One [`KerasPitfallWarning`][torch_keras_acc.KerasPitfallWarning] per rule of ``spec`` that this batch matches, at the user's line."""
    for message in spec.pitfalls(y_true, y_pred, config):
        warn_user(f"{who}: {message} (warn_pitfalls=False silences this)", KerasPitfallWarning)


def with_likely_cause(err: ValueError, spec: KernelSpec, y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> ValueError:
    """``err`` with the shape rules that explain it appended (or ``err`` itself when none applies)."""
    hints = spec.pitfalls(y_true, y_pred, config, values_too=False)
    return ValueError(f"{err}. Likely cause: {' '.join(hints)}") if hints else err


def _invalid_labels(who: str, n: int, ignore_index_hint: bool) -> str:
    message = (
        f"{who}: {n} label(s) were not integers in [0, C), C being the number "
        "of classes (y_pred's last axis); they were scored as Keras scores them (out of range: a miss; "
        "non-integral: a miss for argmax, truncated toward zero for top-k)"
    )
    if ignore_index_hint:  # PyTorch's and Hugging Face's padding label is the usual cause
        message += ". If they are padding labels such as -100, pass ignore_index=-100 to leave them out"
    return message


def invalid_labels_message(who: str, n: int, ignore_index_hint: bool = True) -> str:
    """What ``compute()`` warns about ``n`` labels that were not valid class ids (``on_invalid="warn"``)."""
    return _invalid_labels(who, n, ignore_index_hint) + ". Pass on_invalid='ignore' to silence or 'raise' to fail."


def invalid_labels_error(who: str, n: int, ignore_index_hint: bool = True) -> ValueError:
    """What ``compute()`` raises for ``n`` labels that were not valid class ids (``on_invalid="raise"``)."""
    return ValueError(_invalid_labels(who, n, ignore_index_hint) + ". Pass on_invalid='warn' or 'ignore' to accept them.")
