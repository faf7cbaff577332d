"""The fused update: a whole ``update()`` as one Triton launch that adds into the metric's states.

``_dispatch.fused_sums`` runs the planner a spec's ``fused`` names (``PLANNERS``). It maps the
batch (shapes, ``sample_weight`` in each broadcast form Keras accepts, ``mask=``,
``ignore_index``) onto one launch of a counting kernel of ``_triton``,
which reduces hits, weights and invalid labels in-kernel, deterministically, straight into
``total``, ``count`` and ``invalid``. Anything it does not map exactly (unusual shapes,
weight forms Keras rejects, dtypes whose label cast rounds) returns None, and the batch takes
the reference path, which stays the definition of the semantics (and raises the errors).

No host read, no CPU-only branch: CPU tensors (under ``kernel_path("triton")``) run the same
code as CUDA tensors, the launch interpreted.

Example:
    >>> import torch, torch_keras_acc as tka
    >>> m = tka.SparseCategoricalAccuracy()
    >>> with tka.kernel_path("triton") as log:  # CPU tensors: Triton's interpreter
    ...     m.update(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    >>> float(m.compute())
    0.5
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping

import torch
from torch import Tensor

from torch_keras_acc import _verify
from torch_keras_acc._tf_rules import squeeze_or_expand_to_same_rank

States = tuple[Tensor, Tensor, Tensor]  # total (float64), count (float64), invalid (int64)
Fused = Callable[..., "tuple[Tensor, Tensor] | None"]
_MAX_ELEMENTS = 1 << 16  # elements per sample the grouped layout takes (more: the reference)


@functools.lru_cache(maxsize=None)
def _exact_in(value: int, dtype: torch.dtype) -> bool:
    """Whether the int ``value`` is exact in ``dtype`` (so ``labels != value`` compares exactly)."""
    if dtype.is_floating_point:
        return float(torch.tensor(float(value), dtype=dtype)) == value
    if dtype in (torch.bool, torch.uint8):
        return False  # torch wraps a negative ignore_index into these: leave them to the reference
    info = torch.iinfo(dtype)
    return info.min <= value <= info.max


def _layout(name: str, hits_shape: tuple[int, ...], device: torch.device, states: States, weight: Tensor | None,
            mask: Any, ignore: int | None, labels: Tensor | None, count_invalid: bool) -> Any:
    """The ``_triton.Reduction`` for hits of ``hits_shape``, or None when Keras's weighting
    of this batch is not one the kernels mirror."""
    from torch_keras_acc import _triton
    from torch_keras_acc._convert import to_tensor

    total, count, invalid = states
    if total.dtype != torch.float64 or count.dtype != torch.float64 or invalid.dtype != torch.int64:
        return None
    if len(hits_shape) == 0 or 0 in hits_shape:
        return None
    n, e = hits_shape[0], math.prod(hits_shape[1:])
    if e > _MAX_ELEMENTS:
        return None
    keep = None
    if mask is not None:
        keep = mask if isinstance(mask, Tensor) else to_tensor(mask, "mask", name, device)
        if keep.dtype != torch.bool or tuple(keep.shape) != hits_shape or keep.device != device or keep.ndim > 2:
            return None  # the reference checks and explains it
    if ignore is not None and (labels is None or not _exact_in(ignore, labels.dtype)):
        return None
    masked = keep is not None or ignore is not None
    if (weight is not None or masked) and len(hits_shape) > 2:
        return None
    if weight is not None and (weight.dtype.is_complex or weight.device != device):
        return None
    k_strides = (keep.stride(0), keep.stride(1) if keep.ndim > 1 else 0) if keep is not None else (0, 0)
    # Keras's weighting (_mean.apply_mask, then _mean.weighted_sums), form by form.
    if weight is None:
        mode, w_strides = (2 if masked else 0), (0, 0)
    elif weight.ndim == 0:
        mode, w_strides = (2 if masked else 3), (0, 0)
    elif weight.shape[0] != n or weight.ndim > 2:
        return None
    elif e == 1 and weight.numel() == n:  # (N,) or (N, 1): one weight per sample
        mode, w_strides = (2 if masked else 1), (weight.stride(0), 0)
    elif weight.ndim == 1:  # (N,) against (N, T) values: the sample's mean, weighted (no mask: Keras fails)
        if masked:
            return None
        mode, w_strides = 1, (weight.stride(0), 0)
    elif weight.shape[1] == 1:  # (N, 1): broadcast over the elements
        mode, w_strides = 2, (weight.stride(0), 0)
    elif tuple(weight.shape) == hits_shape:
        mode, w_strides = 2, (weight.stride(0), weight.stride(1))
    else:
        return None
    return _triton.Reduction(name, device, n, total, count, invalid if count_invalid else None, weight, e=e, w_mode=mode,
                             w_strides=w_strides, keep=keep, keep_strides=k_strides, ignore=ignore)


def _run(kernel: str, dtype: torch.dtype, red: Any, launch: Callable[[Any], Any], reference: Callable[[], Any],
         hits: Callable[..., Tensor]) -> tuple[Tensor, Tensor] | None:
    """``launch(red)`` through the check at first use of kernel x dtype x device (see _verify):
    the batch's (total, count) once added into the states, or None (not added: the reference runs)."""
    done = _verify.fused_launch(kernel, dtype, red, launch, reference, hits)
    return None if done is None else (done.batch[0], done.batch[1])


def sparse(kernel: str) -> Fused:
    """The fused update of a class-id kernel: ``"sparse_argmax"`` or ``"in_top_k"``."""

    def fused(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any], weight: Tensor | None, mask: Any,
              ignore: int | None, states: States, reference: Callable[[], Any], hits: Callable[..., Tensor]) -> tuple[Tensor, Tensor] | None:
        if config.get("from_sorted_ids") or y_true.device != y_pred.device:
            return None
        from torch_keras_acc import _triton  # only now: a CPU update never imports triton
        if y_pred.ndim not in (2, 3) or y_pred.shape[-1] == 0 or y_pred.dtype.is_complex or y_true.dtype.is_complex:
            return None
        lead = tuple(y_pred.shape[:-1])
        if tuple(y_true.shape) not in (lead, (*lead, 1)):
            return None
        if kernel == "sparse_argmax" and y_true.is_floating_point():
            rounded_in_kernel = y_true.dtype == torch.float64 and y_pred.dtype == torch.float32
            exact = not _triton.needs_cast(y_true.dtype, y_pred.dtype)
            if not (exact or rounded_in_kernel):
                return None  # Keras's label cast rounds here: the reference applies it
        if kernel == "in_top_k" and y_true.ndim == 3:
            return None  # hits keep the labels' (N, T, 1) shape there
        hits_shape = lead if (len(lead) == 1 or lead[1] > 1) else lead[:1]
        red = _layout(kernel, hits_shape, y_pred.device, states, weight, mask, ignore, y_true, True)
        if red is None:
            return None
        labels = y_true.reshape(lead)
        if kernel == "in_top_k":
            k = int(config["k"])
            return _run(kernel, y_pred.dtype, red, lambda r: _triton.topk(kernel, labels, y_pred, k, r), reference, hits)
        return _run(kernel, y_pred.dtype, red, lambda r: _triton.sparse(kernel, y_pred, labels, r, keras_cast=True), reference, hits)

    return fused


def one_hot(kernel: str) -> Fused:
    """The fused update of a one-hot kernel: ``"onehot_argmax"`` or ``"onehot_top_k"``."""

    def fused(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any], weight: Tensor | None, mask: Any,
              ignore: int | None, states: States, reference: Callable[[], Any], hits: Callable[..., Tensor]) -> tuple[Tensor, Tensor] | None:
        if y_true.device != y_pred.device or ignore is not None:
            return None
        from torch_keras_acc import _triton  # only now: a CPU update never imports triton
        if y_pred.ndim not in (2, 3) or y_true.ndim != y_pred.ndim or y_true.shape[:-1] != y_pred.shape[:-1]:
            return None
        if y_pred.shape[-1] == 0 or y_true.shape[-1] == 0 or y_pred.dtype.is_complex or y_true.dtype.is_complex:
            return None
        lead = tuple(y_pred.shape[:-1])
        red = _layout(kernel, lead, y_pred.device, states, weight, mask, None, None, False)
        if red is None:
            return None
        if kernel == "onehot_top_k":
            if y_pred.is_floating_point() and _triton.needs_cast(y_true.dtype, y_pred.dtype):
                y_true = y_true.to(y_pred.dtype)  # Keras's cast of the targets rounds: one more pass
            k, t = int(config["k"]), y_true
            return _run(kernel, y_pred.dtype, red, lambda r: _triton.topk(kernel, t, y_pred, k, r, onehot_targets=True), reference, hits)
        return _run(kernel, y_pred.dtype, red, lambda r: _triton.onehot(kernel, y_true, y_pred, r), reference, hits)

    return fused


def elementwise(kernel: str) -> Fused:
    """The fused update of an element-wise kernel: ``"binary"`` or ``"equal"``."""

    def fused(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any], weight: Tensor | None, mask: Any,
              ignore: int | None, states: States, reference: Callable[[], Any], hits: Callable[..., Tensor]) -> tuple[Tensor, Tensor] | None:
        if y_true.device != y_pred.device or ignore is not None:
            return None
        from torch_keras_acc import _triton  # only now: a CPU update never imports triton
        if y_pred.dtype.is_complex or y_true.dtype.is_complex:
            return None
        if kernel == "equal" and _triton.needs_cast(y_true.dtype, y_pred.dtype):
            y_true = y_true.to(y_pred.dtype)  # Keras's cast rounds here: one more pass
        t, p = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if t.shape != p.shape or p.ndim == 0:
            return None
        red = _layout(kernel, tuple(p.shape), p.device, states, weight, mask, None, None, False)
        if red is None:
            return None
        if kernel == "binary":
            threshold = float(config["threshold"])
            return _run(kernel, p.dtype, red, lambda r: _triton.binary(kernel, t, p, threshold, r, n=p.shape[0]), reference, hits)
        return _run(kernel, p.dtype, red, lambda r: _triton.equal(kernel, t, p, r, n=p.shape[0]), reference, hits)

    return fused


#: The planner of each fused kernel a spec may name (``KernelSpec.fused``).
PLANNERS: dict[str, Fused] = {
    "sparse_argmax": sparse("sparse_argmax"),
    "in_top_k": sparse("in_top_k"),
    "onehot_argmax": one_hot("onehot_argmax"),
    "onehot_top_k": one_hot("onehot_top_k"),
    "binary": elementwise("binary"),
    "equal": elementwise("equal"),
}
