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
from typing import Any, Callable, Mapping

import torch
from torch import Tensor

from torch_keras_acc._reference import invalid_count_reference
from torch_keras_acc._tf_rules import (
    WIDE_TINY, compare_dtype, flush_limit, flush_subnormal, largest_subnormal, squeeze_or_expand_to_same_rank, target_score,
    threshold_value, valid_targets,
)

# Elements per chunk: 1 MiB of float32, so a chunk and its temporaries stay in L2 while
# the scores stream from memory once.
CHUNK_ELEMENTS = 1 << 18
# Below this many scores, argmax's per-call overhead matters more than its passes.
SMALL_ELEMENTS = 1 << 10
# The top-k sums 1.0s in float32 (or float64): counts are exact up to here.
MAX_FLOAT32_COUNT = 1 << 24
_LOW_PRECISION = (torch.float16, torch.bfloat16)
_LABELS = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
_NEG_INF = float("-inf")
_EXACT_FLOAT32_COUNT = 1 << 24  # a float32 sum of 0.0/1.0 values is exact up to here
_COUNTS: dict[int, Tensor] = {}  # the batch size as a 0-d float64: adding it costs less than a Python float


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


def sparse_small_sums(y_true: Tensor, y_pred: Tensor, total: Tensor, count: Tensor,
                      small_elements: int = SMALL_ELEMENTS) -> tuple[Tensor, float] | None:
    """A small unweighted ``sparse_categorical_accuracy`` batch counted and added into the float64
    states ``total`` and ``count``: the batch's ``(hits, N)``; or None, and nothing is added (the
    per-sample path then runs, and explains any error).

    On a small batch the per-op overhead is the whole cost, so this is the per-sample path's
    arithmetic with nothing around it, and it takes only batches where that arithmetic is
    exact: (N, C) float scores with no NaN, zero or subnormal (``argmax_cpu``'s small-input
    check: torch's argmax is TensorFlow's there), integer labels (N,) or (N, 1) all in
    ``[0, C)`` (no invalid label to count; ``class_ids`` leaves them as they are).
    """
    if type(y_pred) is not Tensor or type(y_true) is not Tensor or y_pred.ndim != 2 or y_pred.dtype not in WIDE_TINY:
        return None
    n, c = y_pred.shape
    if y_true.dtype not in _LABELS or tuple(y_true.shape) not in ((n,), (n, 1)) or not 0 < n * c <= small_elements:
        return None
    if not (y_pred.is_cpu and y_true.is_cpu and total.dtype == count.dtype == torch.float64):
        return None
    index = y_pred.argmax(dim=1)
    if not float(torch.linalg.vector_norm(y_pred, _NEG_INF)) >= WIDE_TINY[y_pred.dtype][1]:  # min |x|; NaN: False
        return None
    lo, hi = torch.aminmax(y_true)
    if int(lo) < 0 or int(hi) >= c:
        return None
    hits = torch.count_nonzero((y_true if y_true.ndim == 1 else y_true.reshape(n)) == index)
    size = _COUNTS.get(n)
    if size is None:
        size = torch.tensor(float(n), dtype=torch.float64)
        if len(_COUNTS) < 1024:  # bounded; a run repeats a few batch sizes
            _COUNTS[n] = size
    total.add_(hits)
    count.add_(size)
    return hits, float(n)


def elementwise_sums(kind: str, y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any], total: Tensor, count: Tensor,
                     chunk_elements: int = CHUNK_ELEMENTS, small_elements: int = SMALL_ELEMENTS) -> tuple[Tensor, float] | None:
    """An unweighted ``binary_accuracy`` (``kind="binary"``) or ``accuracy`` (``"equal"``) batch,
    inputs (N,) or (N, L) alike once their ranks are aligned, counted and added into the float64
    states: the batch's ``(total, N)``; or None, and nothing is added (the per-sample path runs).

    The per-sample path's arithmetic, a cache-sized chunk of samples at a time, each hit
    written as 1.0/0.0 into a reused float buffer (a bool result costs more on the CPU, and a
    float32 count of 0/1 values is exact): binary ``y_pred > threshold`` (the threshold operand in
    the comparison dtype, 16-bit scores widened to it) against ``y_true``; equality of
    ``y_true`` cast to y_pred's dtype and y_pred, each flushed as TensorFlow's FTZ does
    (``hardshrink`` by the largest subnormal is ``flush_subnormal`` but for the sign of a zero,
    which equality ignores) in one pass. Each sample's mean is its count over L, as torch's
    ``mean`` computes it (``mean_hits_sum_cpu``), summed in float64. Up to ``small_elements``
    values, where per-op overhead is the cost, the hits are bools counted in one op instead.
    """
    if type(y_pred) is not Tensor or type(y_true) is not Tensor or y_pred.dtype not in WIDE_TINY:
        return None
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)  # as the kernels align them
    if y_true.shape != y_pred.shape or y_pred.ndim not in (1, 2) or y_pred.numel() == 0 or y_true.dtype.is_complex:
        return None
    if not (y_pred.is_cpu and y_true.is_cpu and total.dtype == count.dtype == torch.float64):
        return None
    n, e = y_pred.shape[0], (y_pred.shape[1] if y_pred.ndim == 2 else 1)
    if e > _EXACT_FLOAT32_COUNT:
        return None
    dtype = y_pred.dtype
    # Compared in the wider of float32 and y_pred's dtype: 16-bit scores widened exactly (each
    # equality and each comparison is the same there), and TensorFlow's FTZ judged there too.
    wide = compare_dtype(dtype)
    threshold = threshold_value(float(config["threshold"]), wide) if kind == "binary" else 0.0
    flush = largest_subnormal(wide)  # equality: |x| above it stays, the rest is zero
    float_labels = y_true.is_floating_point()

    def hits(p: Tensor, t: Tensor, out: Tensor | None, widened: Tensor | None) -> Tensor:
        """The chunk's hits: bools, or 1.0/0.0 written into ``out`` (``widened``: a buffer for 16-bit scores)."""
        if dtype != wide:
            p = p.to(wide) if widened is None else widened.copy_(p)
        if kind == "binary":
            predicted = torch.gt(p, threshold) if out is None else torch.gt(p, threshold, out=out)
            return torch.eq(predicted, t) if out is None else torch.eq(predicted, t, out=out)
        labels = t.to(dtype).to(wide)  # Keras's cast of y_true to y_pred's dtype rounds there
        if float_labels:
            labels = torch.nn.functional.hardshrink(labels, flush)
        flushed = torch.nn.functional.hardshrink(p, flush)
        return torch.eq(flushed, labels) if out is None else torch.eq(flushed, labels, out=out)

    batch: Tensor
    if n * e <= small_elements:  # per-op overhead is the cost: bools, counted, no buffer
        h = hits(y_pred, y_true, None, None)
        batch = torch.count_nonzero(h) if e == 1 else torch.count_nonzero(h, dim=1).to(torch.float64).div_(e).sum()
    else:
        rows = max(1, min(n, chunk_elements // e, _EXACT_FLOAT32_COUNT // e))
        shape = (rows, e) if y_pred.ndim == 2 else (rows,)
        buffer = torch.empty(shape, dtype=wide)
        widened = torch.empty(shape, dtype=wide) if dtype != wide else None
        per_sample = torch.empty(n, dtype=wide) if e > 1 else None
        counted: Tensor | None = None
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            out = hits(y_pred[start:stop], y_true[start:stop], buffer[: stop - start], None if widened is None else widened[: stop - start])
            if per_sample is None:
                # Summed in the buffer's dtype (exact: at most 2**24 values of 0.0/1.0; a casting
                # float64 sum would copy the chunk first), added up in float64.
                chunk_hits = out.sum()
                counted = chunk_hits.to(torch.float64) if counted is None else counted.add_(chunk_hits)
            else:
                torch.sum(out, dim=1, out=per_sample[start:stop])
        if per_sample is None:
            assert counted is not None  # n > 0: at least one chunk
            batch = counted
        else:
            batch = per_sample.to(torch.float64).div_(e).sum()
    total.add_(batch)
    count.add_(float(n))
    return batch, float(n)
