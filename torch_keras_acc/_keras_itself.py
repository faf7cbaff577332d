"""What Keras 3 itself reports where we differ on purpose (README, "Deliberate differences").

``explain`` must never state our number as Keras's. For one metric on one
batch, ``keras3_itself`` applies each documented difference that concerns
the data, with this library's own rules (never by importing Keras), and says
what Keras 3 would report, what we report, why, and which argument (or which
change of inputs) reproduces Keras.

Example:
    >>> import torch
    >>> from torch_keras_acc.metrics import SparseCategoricalAccuracy
    >>> labels = torch.tensor([2049, 5])
    >>> scores = torch.nn.functional.one_hot(torch.tensor([2048, 5]), 2100).to(torch.float16)
    >>> view = keras3_itself(SparseCategoricalAccuracy, {}, labels, scores, None)
    >>> view.keras3, view.ours, [d.name for d in view.differences]
    (1.0, 0.5, ['label_cast'])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from torch_keras_acc._keras3_cast import exact_int_limit, merged_ids
from torch_keras_acc._mean import KerasMeanMetric

_F32_TINY = float(torch.finfo(torch.float32).tiny)
_F32_MAX = float(torch.finfo(torch.float32).max)


@dataclass(frozen=True)
class Difference:
    """One documented difference that changes this metric's number on this data."""

    name: str  # the README row, in short
    why: str  # one line: why the numbers differ, and what reproduces Keras 3


@dataclass
class KerasView:
    """Keras 3's own number (a float, or the error it raises) beside ours, and why they differ."""

    keras3: float | str
    ours: float
    differences: list[Difference] = field(default_factory=list)


def _value(cls: type[KerasMeanMetric], config: dict[str, Any], yt: Tensor, yp: Tensor, sw: Tensor | None) -> tuple[float, Tensor, Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = cls(warn_pitfalls=False, on_invalid="ignore", **config)
        m.update_state(yt, yp, sw)
        return float(m.result()), m.total, m.count


def _dtype(d: torch.dtype) -> str:
    return str(d).replace("torch.", "")


def keras3_itself(cls: type[KerasMeanMetric], config: dict[str, Any], yt: Tensor, yp: Tensor, sw: Tensor | None) -> KerasView:
    """Keras 3's number for ``cls(**config)`` on one batch, and ours, with the reasons they differ."""
    spec = cls.spec
    assert spec is not None
    ours, total, count = _value(cls, config, yt, yp, sw)
    diffs: list[Difference] = []
    k_config, k_yt, k_sw = dict(config), yt, sw
    sorted_ids = bool(config.get("from_sorted_ids"))
    top_k_scores = "top_k" in spec.name and not sorted_ids

    if top_k_scores and yp.dtype != torch.float32:
        why = (
            f"Keras 3's in_top_k takes float32 scores only and raises InvalidArgumentError on {_dtype(yp.dtype)} scores; "
            f"torch_keras_acc computes it exactly in {_dtype(yp.dtype)}. Cast y_pred to float32 to run it in Keras."
        )
        return KerasView("InvalidArgumentError", ours, [Difference("top-k scores not float32", why)])
    if "label_cast" in spec.config and config.get("label_cast", "exact") == "exact":
        k_config["label_cast"] = "keras3"
        if top_k_scores:
            why_cast = "Keras 3 casts int64 labels to int32 (2**32 becomes class 0); torch_keras_acc keeps them out of range"
        else:
            limit = exact_int_limit(yp.dtype)
            merged = merged_ids(yp.dtype, 2**31)
            example = f" ({merged[0]} becomes {merged[1]})" if merged else ""
            why_cast = (
                f"Keras 3 casts the labels and the predicted index to {_dtype(yp.dtype)}, which holds class ids exactly only up "
                f"to {limit}{example}, so distinct classes compare equal there; torch_keras_acc compares class ids exactly"
                if limit is not None
                else f"Keras 3 casts the labels to {_dtype(yp.dtype)} (wrapping or rounding them); torch_keras_acc compares class ids exactly"
            )
        cast_value = _value(cls, k_config, yt, yp, sw)[0]
        if not _same(cast_value, ours):
            diffs.append(Difference("label_cast", f"{why_cast}. label_cast='keras3' reproduces Keras 3's number."))
    if spec.name == "binary_accuracy" and yt.is_floating_point():
        sub = (yt != 0) & (yt.to(torch.float64).abs() < _F32_TINY)
        if bool(sub.any()):
            k_yt = torch.where(sub, torch.zeros_like(yt), yt)
            diffs.append(Difference(
                "subnormal binary labels",
                f"TensorFlow flushes the {int(sub.sum())} subnormal label(s) (0 < |y_true| < 1.18e-38) to 0 before comparing; "
                "torch_keras_acc compares them as given. No argument reproduces it: flush them first "
                "(y_true * (y_true.abs() >= 1.18e-38)).",
            ))
    if sw is not None and sw.dtype == torch.float64:
        k_sw = sw.to(torch.float32)
        if not _same(_value(cls, config, yt, yp, k_sw)[0], ours):
            diffs.append(Difference(
                "float64 sample_weight",
                "Keras 3 rounds float64 sample weights to float32; torch_keras_acc uses them as given. Pass float32 weights for Keras's number.",
            ))
    keras3 = _value(cls, k_config, k_yt, yp, k_sw)[0] if (k_config != config or k_yt is not yt or k_sw is not sw) else ours
    if abs(float(total)) > _F32_MAX or abs(float(count)) > _F32_MAX:
        t32, c32 = np.float32(float(total)), np.float32(float(count))  # inf: float32 overflows
        with np.errstate(all="ignore"):
            keras3 = 0.0 if c32 == 0 else float(t32 / c32)
        diffs.append(Difference(
            "float32 overflow of the weighted sums",
            f"the weighted sums ({float(total):.3g} / {float(count):.3g}) pass float32's range (3.4e38): Keras 3's float32 total "
            "and count overflow to inf, so it reports nan or 0; torch_keras_acc's float64 states stay exact. Scale the weights "
            "down for a finite number in Keras.",
        ))
    return KerasView(keras3, ours, diffs)


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b) or abs(a - b) <= 1e-7
