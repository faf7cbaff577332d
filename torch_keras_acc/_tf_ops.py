"""TensorFlow's semantics for the few primitives where PyTorch differs.

Keras on the TensorFlow backend is our reference, and three of its building
blocks disagree with stock PyTorch on edge values:

* ``argmax``: TensorFlow never picks a NaN (an all-NaN row gives 0), and
  Keras maps ``-0.0`` to ``-tiny`` first, so ``+0.0`` beats ``-0.0``.
  ``torch.argmax`` treats NaN as the maximum.
* ``in_top_k``: a target is in the top k when fewer than k scores are
  strictly greater than its own (ties count as hits), and the answer is
  False for any row holding a NaN or an infinity, or for a target outside
  ``[0, C)``.
* subnormal floats: TensorFlow's CPU kernels run with flush-to-zero and
  denormals-are-zero, so ``1e-45 > 0`` is False and ``1e-45 == 0`` True there.
  We reproduce that (``flush_subnormal`` and the per-row tricks below), judged
  in the wider of float32 and the input dtype, as Keras computes.
* ``squeeze_or_expand_to_same_rank``: Keras's rank alignment of y_true and
  y_pred (and of values and sample weights).

Every function here is pure PyTorch, works on any device, never syncs the
host, and never indexes out of bounds (out-of-range targets are clamped
before the gather and masked after it).
"""

from __future__ import annotations

import torch
from torch import Tensor

# Rows of scores processed at once by ``in_top_k``: bounds the rows x C
# temporary of the comparison to a few million elements, whatever N is.
_TOPK_CHUNK_ELEMENTS = 1 << 22


def squeeze_or_expand_to_same_rank(x1: Tensor, x2: Tensor, expand_rank_1: bool = True) -> tuple[Tensor, Tensor]:
    """Keras's ``squeeze_or_expand_to_same_rank``: align ranks that differ by one
    through a trailing axis of size 1 (squeezed, or the rank-1 side expanded)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def flush_limit(dtype: torch.dtype) -> float | None:
    """The smallest normal number TensorFlow's FTZ applies to values of ``dtype``,
    or None when nothing of that dtype can be subnormal once widened to float32
    (float16, integers, bool)."""
    if not dtype.is_floating_point:
        return None
    limit = torch.finfo(torch.promote_types(dtype, torch.float32)).tiny
    return limit if torch.finfo(dtype).tiny == limit else None


def flush_subnormal(x: Tensor) -> Tensor:
    """Subnormal floats become a zero of the same sign (TensorFlow's FTZ/DAZ).

    A multiply by the 0/1 mask keeps the sign of zero and leaves NaN and inf alone."""
    limit = flush_limit(x.dtype)
    return x if limit is None else x * (x.abs() >= limit)


def _smallest_subnormal(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).tiny * torch.finfo(dtype).eps


def argmax_last(x: Tensor) -> Tensor:
    """``keras.ops.argmax(x, axis=-1)`` on TensorFlow, as int64.

    Floats are widened to at least float32 (as Keras does), subnormals
    flushed, ``-0.0`` becomes ``-tiny`` (Keras's flush-to-zero fix, so ``+0.0``
    wins over ``-0.0``), and
    NaN becomes ``-inf`` so it is never picked unless the whole row is NaN or
    ``-inf``, in which case the first index wins, as in TensorFlow.
    """
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if x.is_floating_point():
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        lim = torch.finfo(x.dtype).tiny
        # A flushed subnormal is a zero: negative ones join -0.0 at -tiny.
        x = torch.where((x.abs() < lim) & torch.signbit(x), torch.full_like(x, -lim), flush_subnormal(x))
        x = torch.nan_to_num(x, nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))
    if x.shape[-1] == 0:
        # TensorFlow returns 0 for an empty class axis rather than failing.
        return torch.zeros(x.shape[:-1], dtype=torch.int64, device=x.device)
    # torch.argmax returns the first of tied maxima, like TensorFlow.
    return torch.argmax(x, dim=-1)


def in_top_k(targets: Tensor, predictions: Tensor, k: int) -> Tensor:
    """``tf.math.in_top_k(targets, predictions, k)`` for (B,) targets and (B, C) scores.

    Counts, per row, the scores strictly greater than the target's score; a hit
    is ``count < k``. Works in chunks of rows so the temporary never exceeds
    ``_TOPK_CHUNK_ELEMENTS`` elements. Accepts every float dtype (TensorFlow's
    kernel is float32-only); the comparison is exact in the input dtype.
    """
    b, c = predictions.shape
    targets = targets.to(torch.int64)
    valid = (targets >= 0) & (targets < c)
    if c == 0 or b == 0:
        return torch.zeros(b, dtype=torch.bool, device=predictions.device)
    safe = torch.where(valid, targets, torch.zeros_like(targets))
    lim = flush_limit(predictions.dtype)
    if lim is not None:
        # FTZ per row, not per element: against a target score that flushes to
        # zero, a score is greater iff it is >= tiny, i.e. > the largest subnormal.
        largest_subnormal = lim - _smallest_subnormal(predictions.dtype)
    rows = max(1, _TOPK_CHUNK_ELEMENTS // c)
    out = []
    for start in range(0, b, rows):
        p = predictions[start : start + rows]
        t = safe[start : start + rows]
        score = p.gather(1, t.unsqueeze(1))
        if lim is not None:
            score = torch.where(score.abs() < lim, torch.full_like(score, largest_subnormal), score)
        greater = (p > score).sum(dim=1)
        finite = torch.isfinite(p).all(dim=1)
        out.append(finite & (greater < k))
    return torch.cat(out) & valid
