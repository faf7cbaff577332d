"""Keras's weighted mean of per-sample values: ``reduce_to_samplewise_values`` and ``divide_no_nan``.

Keras's ``Mean`` (``keras/src/metrics/reduction_metrics.py``) keeps ``total`` and
``count``; each *sample* weighs the same, not each element. These functions give a
batch's ``(total, count)`` and the ratio; the metric only adds them to its states.

Example:
    >>> import torch
    >>> from torch_keras_acc._reduction import divide_no_nan, weighted_sums
    >>> total, count = weighted_sums("m", torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([1.0, 3.0]))
    >>> float(total), float(count), float(divide_no_nan(total, count))
    (3.5, 4.0, 0.875)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torch_keras_acc._compat import accumulator_dtype
from torch_keras_acc._dispatch import mean_hits_sum
from torch_keras_acc._tf_rules import squeeze_or_expand_to_same_rank

_SUM_CHUNK = 1 << 18


def exact_sum(values: Tensor, acc: torch.dtype) -> Tensor:
    """``values.sum(dtype=acc)``, exactly: bools are counted (an int64, one cheap pass);
    other values summed in chunks on large inputs, since one casting reduction over
    millions of CPU elements allocates (and page-faults) a fresh buffer on every call."""
    if values.dtype == torch.bool:
        return torch.count_nonzero(values)
    if values.numel() <= _SUM_CHUNK:
        return values.sum(dtype=acc)
    flat = values.reshape(-1)
    return torch.stack([chunk.sum(dtype=acc) for chunk in flat.split(_SUM_CHUNK)]).sum()


def weighted_sums(name: str, values: Tensor, sample_weight: Tensor | None, integer: bool = False) -> tuple[Tensor, Tensor | float]:
    """This batch's ``(total, count)`` under Keras's ``reduce_to_samplewise_values``.

    Each sample weighs the same, not each element: values are averaged over
    their non-batch axes. With weights, ranks are aligned as in Keras, values
    averaged down to the weights' rank, weights broadcast to the values, and
    ``count`` grows by the weights (averaged over their own trailing axes).
    A scalar weight ``w`` makes the whole batch count as ``w``, as in Keras.
    Unweighted, ``count`` is a Python number: the batch size is known on the
    host, so it costs no tensor and no device work; and bool values (hits) are
    counted, so ``total`` is then an int64 tensor. ``integer``: the metric's dtype
    is an integer one, and Keras then truncates weights and each batch's sums.
    """
    acc = accumulator_dtype(values)
    if sample_weight is None:
        n = values.shape[0] if values.ndim else 1
        if values.ndim > 1 and values.dtype == torch.bool and math.prod(values.shape[1:]) == 1:
            # One hit per sample ((N, 1), the Dense(1) head): its mean over the trailing axes of
            # size 1 is itself, so the count is exact as it is: no float64 copy, no mean pass.
            return exact_sum(values, acc), float(n)
        if values.ndim > 1:
            total = mean_hits_sum(values, acc)
            return (total.trunc() if integer else total), float(n)
        return exact_sum(values, acc), float(n)

    values = values.to(acc)
    w = sample_weight.to(acc)
    if integer:
        w = w.trunc()  # Keras casts the weights to the metric's integer dtype
    v_shape, w_shape = tuple(values.shape), tuple(w.shape)
    values, w = squeeze_or_expand_to_same_rank(values, w)
    w_ndim = w.ndim
    if values.ndim > w_ndim:
        values = values.mean(dim=tuple(range(w_ndim, values.ndim)))
    try:
        w = torch.broadcast_to(w, values.shape)
    except RuntimeError:
        raise ValueError(
            f"{name}: sample_weight of shape {w_shape} cannot be broadcast to the per-sample values of shape "
            f"{v_shape}; expected a scalar or a shape matching the leading axes of y_true, e.g. (N,), (N, 1) or (N, T)"
        ) from None
    values = values * w
    if w_ndim > 1:
        w = w.mean(dim=tuple(range(1, w_ndim)))
    if values.ndim > 1:
        values = values.mean(dim=tuple(range(1, values.ndim)))
    total, count = values.sum(), w.sum()
    return (total.trunc(), count.trunc()) if integer else (total, count)


def divide_no_nan(total: Tensor, count: Tensor | float) -> Tensor:
    """``total / count``, 0.0 where ``count`` is 0: Keras's ``divide_no_nan``."""
    if not isinstance(count, Tensor):
        return total / count if count != 0 else torch.zeros_like(total, dtype=torch.float64 if not total.is_floating_point() else None)
    return torch.where(count == 0, torch.zeros_like(total), total / count)
