"""``mask=`` and ``ignore_index``: which per-sample positions count.

Keras 3 applies a masked output's ``_keras_mask`` through
``losses.loss.apply_mask(..., reduction="sum")``: the mask becomes 0/1 sample
weights, multiplied into ``sample_weight`` (``apply_mask``). ``ignore_index``
(PyTorch's ``-100`` padding) is a mask made from the labels (``keep_positions``).

Example:
    >>> import torch
    >>> from torch_keras_acc._masks import keep_positions
    >>> keep_positions("m", torch.tensor([1, -100, 0]), torch.ones(3, dtype=torch.bool), None, -100)
    tensor([ True, False,  True])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torch_keras_acc._convert import ArrayLike, to_tensor
from torch_keras_acc._tf_rules import squeeze_or_expand_to_same_rank


def check_ignore_index(name: str, value: Any) -> int | None:
    """The constructor's ``ignore_index``, checked: an int or None."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"{name}: ignore_index must be an int (e.g. -100) or None, got {value!r}")


def apply_mask(name: str, sample_weight: Tensor | None, mask: Tensor | None) -> Tensor | None:
    """Keras's ``losses.loss.apply_mask(..., reduction="sum")``: the mask becomes 0/1
    weights, multiplied into ``sample_weight`` (ranks aligned as Keras aligns them)."""
    if mask is None:
        return sample_weight
    float_mask = mask.to(sample_weight.dtype if sample_weight is not None else torch.float64)
    if sample_weight is None:
        return float_mask
    m, w = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    if m.ndim != w.ndim and w.ndim > 0:
        # Keras broadcasts (N,) weights against an (N, T) mask from the last axis: an error,
        # or, when N == T, each token weighed by its position's weight. Neither is meant.
        raise ValueError(
            f"{name}: sample_weight of shape {tuple(sample_weight.shape)} cannot be combined with a mask of shape "
            f"{tuple(mask.shape)}; pass one weight per masked position (e.g. sample_weight[:, None].expand_as(mask))"
        )
    try:
        return w * m
    except RuntimeError:
        raise ValueError(
            f"{name}: sample_weight of shape {tuple(sample_weight.shape)} and mask of shape {tuple(mask.shape)} cannot be broadcast"
        ) from None


def keep_positions(name: str, y_true: Tensor, hits: Tensor, mask: ArrayLike | None, ignore_index: int | None) -> Tensor | None:
    """The per-sample positions that count (shape of ``hits``), from ``mask`` and ``ignore_index``; None: all."""
    keep = None
    if mask is not None:
        keep = to_tensor(mask, "mask", name, hits.device)
        if keep.dtype != torch.bool:
            raise TypeError(f"{name}: mask must be a bool tensor (True: counted), got dtype {keep.dtype}")
        # Keras's reduction aligns weights with the leading axes of the values.
        aligned, values = squeeze_or_expand_to_same_rank(keep, hits)
        if aligned.ndim > values.ndim or any(m not in (v, 1) for m, v in zip(aligned.shape, values.shape)):
            raise ValueError(
                f"{name}: mask of shape {tuple(keep.shape)} does not fit the per-sample values of shape "
                f"{tuple(hits.shape)}; expected y_pred's leading shape, e.g. (N,) or (N, T)"
            )
    if ignore_index is None:
        return keep
    labels = y_true != ignore_index
    if labels.numel() != hits.numel():
        raise ValueError(f"{name}: ignore_index needs one label per sample; y_true has shape {tuple(y_true.shape)}")
    labels = labels.reshape(hits.shape)
    if keep is None:
        return labels
    labels, keep = squeeze_or_expand_to_same_rank(labels, keep)
    try:
        return labels & keep
    except RuntimeError:
        raise ValueError(f"{name}: mask of shape {tuple(keep.shape)} does not match the samples' shape {tuple(hits.shape)}") from None
