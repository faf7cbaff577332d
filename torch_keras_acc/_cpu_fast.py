"""The CPU fast rows: eager CPU tensors, bit-identical to ``_reference.py``.

One fast reduction over the scores (16-bit floats widened to float32 a
cache-sized chunk at a time), then the reference only on the rare rows where
TensorFlow's rules (``_tf_rules.py``) can change the answer. On the CPU, testing
whether such rows exist is a memory read, not a device sync, so these functions
may read values on the host; ``_dispatch.py`` runs them on eager CPU tensors only.

Example:
    >>> import torch
    >>> from torch_keras_acc._cpu_fast import argmax_cpu
    >>> from torch_keras_acc._reference import argmax_last_reference
    >>> argmax_cpu(torch.tensor([[float("nan"), 1.0, 1.0], [-0.0, 0.0, -1.0]]), argmax_last_reference)
    tensor([1, 1])
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from torch_keras_acc._reference import invalid_count_reference
from torch_keras_acc._tf_rules import WIDE_TINY, compare_dtype, flush_limit, flush_subnormal, target_score, valid_targets

# Elements per chunk: 1 MiB of float32, so a chunk and its temporaries stay in L2 while
# the scores stream from memory once.
CHUNK_ELEMENTS = 1 << 18
# Below this many scores, argmax's per-call overhead matters more than its passes.
SMALL_ELEMENTS = 1 << 10
# The top-k sums 1.0s in float32 (or float64): counts are exact up to here.
MAX_FLOAT32_COUNT = 1 << 24
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def argmax_cpu(
    x: Tensor, reference: Callable[[Tensor], Tensor], small_elements: int = SMALL_ELEMENTS, chunk_elements: int = CHUNK_ELEMENTS
) -> Tensor:
    """An argmax ``reference`` on the CPU: one ``max`` pass, the reference on suspect rows only.

    The rules of both references (subnormals flushed, Keras 3's -0.0 to -tiny, NaN
    to -inf) keep every value v with ``|v| >= tiny`` and never reorder two values.
    So in a row without NaN whose maximum m has ``|m| >= tiny``, the answer is the
    first index of m, which is torch's. Rows holding a NaN (``max`` propagates it)
    or whose maximum lies in (-tiny, tiny) are rare; the reference recomputes them.
    """
    if x.dtype == torch.bool:
        x = x.view(torch.uint8)
    if not x.is_floating_point():
        # No NaN, signed zero or subnormal; max() beats argmax() ~2x on CPU, same first index.
        return x.max(dim=-1).indices
    if x.dtype not in WIDE_TINY:  # e.g. float8: rare, and slow anyway
        return reference(x)
    rows = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
    wide, tiny = WIDE_TINY[x.dtype]  # TensorFlow's rules are judged in the wider of float32 and x's dtype
    if rows.numel() <= small_elements:
        # Small inputs: per-op overhead is the cost. No score NaN, zero or subnormal
        # anywhere (one check over the whole tensor) means torch's answer stands.
        index = rows.argmax(dim=1)
        suspects = not _min_abs_at_least(rows, tiny)
        values = rows.amax(dim=1).to(wide) if suspects else None
    else:
        values, index = _row_max(rows, chunk_elements)
        suspects = not _min_abs_at_least(values, tiny)
    if suspects:
        assert values is not None  # for mypy: suspects implies values (the rare path)
        suspect = (~(values.abs() >= tiny)).nonzero().squeeze(1)
        index[suspect] = reference(rows[suspect])
    return index if x.ndim == 2 else index.reshape(x.shape[:-1])


def _min_abs_at_least(x: Tensor, tiny: float) -> bool:
    """``min |x| >= tiny``, read on the host (CPU only); False when x holds a NaN.

    One op on small inputs; past them ``abs`` then ``amin``: torch's CPU ``-inf`` norm is not
    vectorized, about 10x (64 Ki values) to 25x (1 Mi) slower than the two passes.
    """
    if x.numel() <= SMALL_ELEMENTS:
        return float(torch.linalg.vector_norm(x, float("-inf"))) >= tiny
    return float(x.abs().amin()) >= tiny


def _row_max(rows: Tensor, chunk_elements: int) -> tuple[Tensor, Tensor]:
    """``rows.max(dim=1)`` in float32 or float64. torch's CPU reductions on 16-bit
    floats run several times below memory speed, so those rows are widened (exactly)
    to float32 one cache-sized chunk at a time."""
    if rows.dtype not in _LOW_PRECISION:
        return rows.max(dim=1)
    n, c = rows.shape
    step = max(1, chunk_elements // c)
    values = torch.empty(n, dtype=torch.float32)
    index = torch.empty(n, dtype=torch.int64)
    wide = torch.empty(min(step, n), c, dtype=torch.float32)  # reused: no allocation per chunk
    for start in range(0, n, step):
        stop = min(start + step, n)
        chunk = wide[: stop - start].copy_(rows[start:stop])
        torch.max(chunk, dim=1, out=(values[start:stop], index[start:stop]))
    return values, index


def in_top_k_applies(p: Tensor) -> bool:
    """Whether ``in_top_k_cpu`` takes these scores: a float dtype it widens exactly, and
    few enough classes for its float32 count to be exact."""
    return p.dtype in WIDE_TINY and p.shape[1] <= MAX_FLOAT32_COUNT


def in_top_k_cpu(targets: Tensor, predictions: Tensor, k: int, chunk_elements: int = CHUNK_ELEMENTS) -> Tensor:
    """``in_top_k`` on the CPU, one cache-sized chunk of rows at a time.

    16-bit scores are compared widened to float32 (exact; torch's 16-bit CPU
    kernels are slow). The comparison writes 1.0/0.0 into a float buffer, ~3x
    faster on CPU than a bool result, and the float sum counts exactly (C <= 2**24).
    """
    b, c = predictions.shape
    valid, safe = valid_targets(targets, c)
    wide = compare_dtype(predictions.dtype)
    step = max(1, chunk_elements // c)
    rows = min(step, b)
    widened = torch.empty(rows, c, dtype=wide) if predictions.dtype != wide else None
    greater = torch.empty(rows, c, dtype=wide)
    hits = torch.empty(b, dtype=torch.bool)
    for start in range(0, b, step):
        stop = min(start + step, b)
        p = predictions[start:stop]
        if widened is not None:
            p = widened[: stop - start].copy_(p)
        score = target_score(p, safe[start:stop], predictions.dtype)
        count = torch.gt(p, score, out=greater[: stop - start]).sum(dim=1)
        hits[start:stop] = (count < k) & _finite_rows(p)
    return hits & valid


def _finite_rows(p: Tensor) -> Tensor:
    """``isfinite(p).all(dim=1)``, mostly from one read-only reduction.

    A finite row sum proves a finite row (inf and NaN never sum to a finite
    value); only rows whose sum is not finite (a non-finite score, or a sum that
    overflowed) get the exact test.
    """
    finite = torch.isfinite(p.sum(dim=1))
    if not finite.all():
        suspect = (~finite).nonzero().squeeze(1)
        finite[suspect] = torch.isfinite(p[suspect]).all(dim=1)
    return finite


def invalid_count_cpu(labels: Tensor, num_classes: int, keep: Tensor | None = None) -> Tensor | int:
    """The invalid-label count on the CPU: the int 0 when one min/max pass, read on the host,
    proves every integer label valid (the metric then skips its state update), else the rule."""
    if not labels.is_floating_point():
        lo, hi = torch.aminmax(labels.to(torch.uint8) if labels.dtype == torch.bool else labels)
        if int(lo) >= 0 and int(hi) < num_classes:
            return 0
    return invalid_count_reference(labels, num_classes, keep)


def flush_subnormal_cpu(x: Tensor) -> Tensor:
    """``flush_subnormal`` on the CPU: ``x`` itself, uncopied, when one ``min |x| >= tiny``
    pass proves it holds no value the rule changes (no zero, subnormal or NaN); else the rule.

    The rule's multiply leaves every value ``|v| >= tiny`` (and inf) as it is, so ``x`` and
    the rule's result are equal element for element.
    """
    limit = flush_limit(x.dtype)
    if limit is None or x.numel() == 0 or _min_abs_at_least(x, limit):
        return x
    return flush_subnormal(x)


def mean_hits_sum_cpu(hits: Tensor, acc: torch.dtype) -> Tensor:
    """``hits.to(acc).mean(dim=trailing).sum()`` for bool hits of shape (N, ...), bit for bit.

    torch's CPU ``mean`` is ``sum`` then one division by the axis size, and a sum of 0/1
    values is an exact integer: counting the hits per sample gives the same dividend
    without the ``acc`` copy of every hit.
    """
    dims = tuple(range(1, hits.ndim))
    per_sample = torch.count_nonzero(hits, dim=dims).to(acc)
    return per_sample.div_(math.prod(hits.shape[1:])).sum()
