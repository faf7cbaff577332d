"""Keras 3's cast of class ids to the scores' dtype: the rule behind ``label_cast="keras3"``.

Keras 3 casts sparse labels to ``y_pred``'s dtype, takes the argmax, and casts
the predicted index to that dtype too before ``equal`` (CategoricalAccuracy casts
both argmax indices; ``from_sorted_ids`` casts the labels to the ids' dtype;
SparseTopKCategoricalAccuracy casts its labels to int32). Where the dtype cannot
hold every class id, two ids become one number and compare equal: with float16
scores labels above 2048 round (2049 -> 2048), with bfloat16 above 256, and with
int8 scores they wrap (768 -> 0). Our default (``label_cast="exact"``) compares
class ids exactly; ``"keras3"`` reproduces this cast, as TensorFlow computes it:

* to a float dtype: rounded to nearest, then TensorFlow's flush-to-zero;
* to an integer dtype: integers wrap (two's complement), floats are truncated
  toward zero; a float outside the integer dtype's range (or not finite) has no
  defined cast (C++ undefined behaviour: TensorFlow saturates or wraps depending
  on the tensor's size): a miss here;
* to bool: non-zero is True (a subnormal float is zero first, FTZ).

Example:
    >>> import torch
    >>> keras3_equal("acc", torch.tensor([2049, 768]), torch.tensor([2048, 0]), torch.float16).tolist()
    [True, False]
    >>> keras3_equal("acc", torch.tensor([2049, 768]), torch.tensor([2048, 0]), torch.int8).tolist()
    [False, True]
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Mapping

import torch
from torch import Tensor

from torch_keras_acc._spec import Rule
from torch_keras_acc._tf_rules import flush_subnormal

LabelCast = Literal["exact", "keras3"]
LABEL_CASTS = ("exact", "keras3")


def check_label_cast(name: str, value: Any) -> LabelCast:
    """A spec's config check for ``label_cast``."""
    if value == "exact" or value == "keras3":
        return value
    raise ValueError(
        f"{name}: label_cast must be 'exact' (class ids compared exactly, the default) or 'keras3' "
        f"(Keras 3's cast of labels and the predicted index to the scores' dtype), got {value!r}"
    )


# The largest n such that every class id in [0, n] survives a cast to the dtype.
_EXACT_LIMIT = {
    torch.float16: 2**11,
    torch.bfloat16: 2**8,
    torch.float32: 2**24,
    torch.int8: 2**7 - 1,
    torch.uint8: 2**8 - 1,
    torch.int16: 2**15 - 1,
    torch.bool: 1,
}


def exact_int_limit(dtype: torch.dtype) -> int | None:
    """The largest n such that every class id in [0, n] survives Keras 3's cast to ``dtype``,
    or None when every id a tensor can index does (float64, int32 and wider)."""
    return _EXACT_LIMIT.get(dtype)


def keras3_cast(x: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
    """``tf.cast(x, dtype)`` for class ids (labels or an argmax index): the cast values, and
    where the cast is undefined (non-finite or huge floats into an integer dtype) a mask of the
    values that can match (None: all)."""
    if dtype.is_floating_point:
        return flush_subnormal(x.to(dtype)), None
    if dtype == torch.bool:
        return (flush_subnormal(x) != 0) if x.is_floating_point() else (x != 0), None
    if not x.is_floating_point():
        return x.to(dtype), None  # integer narrowing wraps, in torch as in TensorFlow
    info = torch.iinfo(dtype)
    t = x.trunc()
    # Outside the integer range C++ leaves the cast undefined, and TensorFlow's answer depends on
    # the tensor's size (its vectorized kernel saturates, its scalar path wraps): a miss here.
    defined = torch.isfinite(t) & (t >= info.min) & (t <= info.max)
    return torch.where(defined, t, torch.zeros_like(t)).to(dtype), defined


def keras3_equal(name: str, labels: Tensor, index: Tensor, scores_dtype: torch.dtype) -> Tensor:
    """Keras 3's ``equal(cast(labels), cast(index))``, both cast to ``scores_dtype``
    (``index``: the argmax, or sorted class ids already of that dtype), broadcast as NumPy does."""
    a, a_ok = keras3_cast(labels, scores_dtype)
    b, b_ok = keras3_cast(index, scores_dtype)
    try:
        hits = a == b
    except RuntimeError:
        raise ValueError(
            f"{name}: y_true and argmax(y_pred) of shape {tuple(labels.shape)} and {tuple(index.shape)} cannot be compared; "
            "expected the same batch shape (Keras also rejects these)"
        ) from None
    for ok in (a_ok, b_ok):
        if ok is not None:
            hits = hits & ok
    return hits


def keras3_int32_labels(labels: Tensor) -> Tensor:
    """SparseTopKCategoricalAccuracy's labels as Keras 3 casts them: int32, so int64 labels
    wrap (2**32 is class 0); float labels keep the exact rule (out of int32: a miss either way)."""
    if labels.is_floating_point() or labels.dtype == torch.bool:
        return labels
    return labels.to(torch.int32).to(torch.int64)


def merged_ids(dtype: torch.dtype, largest: int) -> tuple[int, int] | None:
    """Two class ids in ``[0, largest]`` that Keras 3's cast to ``dtype`` makes one number:
    ``(label, what it becomes)``, the first id that changes; None when none changes."""
    limit = exact_int_limit(dtype)
    if limit is None or largest <= limit:
        return None
    first = limit + 1
    cast, _ = keras3_cast(torch.tensor([first]), dtype)
    return first, int(cast.to(torch.float64).item()) if dtype != torch.bool else int(bool(cast.item()))


def _largest_id(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> int | None:
    """The largest class id this batch compares: the predicted index's bound (C - 1, from the
    shape), the sorted ids' and the labels' largest magnitudes (read on the host: first batch only)."""
    if y_pred.ndim == 0 or y_pred.numel() == 0:
        return None
    finite = y_true[torch.isfinite(y_true)] if y_true.is_floating_point() else y_true
    largest = int(finite.abs().max().item()) if finite.numel() and finite.dtype != torch.bool else 0
    if config.get("from_sorted_ids"):
        ids = y_pred[torch.isfinite(y_pred)] if y_pred.is_floating_point() else y_pred
        return max(largest, int(ids.abs().max().item()) if ids.numel() and ids.dtype != torch.bool else 0)
    return max(largest, y_pred.shape[-1] - 1)


def label_cast_rule(hits: Callable[..., Tensor]) -> Rule:
    """A spec's value rule (first batch only): the scores' dtype cannot hold every class id
    this batch compares, so Keras 3's number differs from ours; the warning gives both
    (this batch, unweighted) and the argument that reproduces Keras 3."""

    def rule(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any]) -> str | None:
        limit = exact_int_limit(y_pred.dtype)
        if config.get("label_cast", "exact") != "exact" or limit is None or limit >= 2**24:
            return None  # float32 scores: class ids beyond 2**24 only
        if "from_sorted_ids" in config and not config["from_sorted_ids"]:
            return None  # top-k over scores casts labels to int32, not to the scores' dtype
        largest = _largest_id(y_true, y_pred, config)
        if largest is None or largest <= limit:
            return None
        merged = merged_ids(y_pred.dtype, largest)
        assert merged is not None
        try:
            ours = float(hits(y_true, y_pred, **{**config, "label_cast": "exact"}).float().mean())
            theirs = float(hits(y_true, y_pred, **{**config, "label_cast": "keras3"}).float().mean())
        except ValueError:
            return None
        dtype = str(y_pred.dtype).replace("torch.", "")
        return (
            f"y_pred is {dtype}, which holds class ids exactly only up to {limit}, and this batch compares ids up to "
            f"{largest}. Keras 3 casts labels and the predicted index to {dtype}, where {merged[0]} becomes {merged[1]}, "
            f"so distinct classes compare equal: on this batch Keras 3 reports {theirs:.4f}, this metric {ours:.4f} "
            "(class ids compared exactly). Pass label_cast='keras3' to reproduce Keras 3's number, or cast y_pred to float32."
        )

    return rule
