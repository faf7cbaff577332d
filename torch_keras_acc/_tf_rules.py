"""Every TensorFlow/Keras value rule where PyTorch differs, written once.

Keras on the TensorFlow backend is our reference. Each function here is one
rule, element-wise or per row, on any device, with no host sync and no
out-of-bounds index; the reference implementations (``_reference.py``), the CPU
fast paths (``_cpu_fast.py``), the Triton kernels (``_triton_kernels.py``, in
bit arithmetic) and the Keras kernels (``functional.py``, ``legacy.py``) all
apply these and nothing else. This module imports only torch.

* Flush-to-zero: TensorFlow's CPU kernels run with FTZ/DAZ, so ``1e-45 > 0`` is
  False and ``1e-45 == 0`` True there; judged in the wider of float32 and the
  input dtype, as Keras computes (``flush_subnormal``, ``flush_operand``).
* argmax: NaN is never picked (an all-NaN row gives 0), Keras 3 maps ``-0.0`` to
  ``-tiny`` so ``+0.0`` beats ``-0.0`` (``argmax_operand``); an empty class
  axis gives 0.
* in_top_k: a target is in the top k when fewer than k scores are strictly
  greater than its own; False for rows holding a NaN or an infinity, or for a
  target outside ``[0, C)`` (``valid_targets``, ``target_score``).
* Casts: the binary threshold (``threshold_operand``), sparse labels to the
  scores' dtype (``class_ids``), labels to top-k indices (``label_index``),
  which labels are valid class ids (``invalid_labels``).
* Rank alignment (``squeeze_or_expand_to_same_rank``) and ``K.round``, half
  to even (``round_half_even``).

Example:
    >>> import torch
    >>> from torch_keras_acc import _tf_rules as R
    >>> R.flush_subnormal(torch.tensor([1e-40, -1e-40, 1.0]))
    tensor([0., -0., 1.])
    >>> R.class_ids(torch.tensor([1.0, 1.5, float("nan")]), torch.int8)
    tensor([1., 1., nan], dtype=torch.float64)
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor


def compare_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype Keras compares scores of ``dtype`` in: the wider of float32 and ``dtype``
    (Keras casts 16-bit floats up to its floatx, float32)."""
    return torch.promote_types(dtype, torch.float32)


# Per float dtype: the dtype argmax compares in, and that dtype's smallest normal number
# (cached: finfo costs microseconds per call on the hot path).
WIDE_TINY = {
    dtype: (compare_dtype(dtype), torch.finfo(compare_dtype(dtype)).tiny)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
}


# -- rank alignment -----------------------------------------------------------------
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


# -- flush-to-zero --------------------------------------------------------------------
def flush_limit(dtype: torch.dtype) -> float | None:
    """The smallest normal number TensorFlow's FTZ applies to values of ``dtype``,
    or None when nothing of that dtype can be subnormal once widened to float32
    (float16, integers, bool)."""
    if not dtype.is_floating_point:
        return None
    limit = torch.finfo(compare_dtype(dtype)).tiny
    return limit if torch.finfo(dtype).tiny == limit else None


def flush_subnormal(x: Tensor) -> Tensor:
    """Subnormal floats become a zero of the same sign (TensorFlow's FTZ/DAZ).

    A multiply by the 0/1 mask keeps the sign of zero and leaves NaN and inf alone."""
    limit = flush_limit(x.dtype)
    return x if limit is None else x * (x.abs() >= limit)


def largest_subnormal(dtype: torch.dtype) -> float:
    """The largest subnormal number of ``dtype``: against a flushed zero, ``x > 0`` iff ``x`` exceeds it."""
    fi = torch.finfo(dtype)
    return fi.tiny - fi.tiny * fi.eps


def flush_operand(t: Tensor, dtype: torch.dtype) -> Tensor:
    """A comparison operand (a threshold, a target's score) as TensorFlow's FTZ sees it.

    TensorFlow flushes an operand ``|t| < tiny`` to zero, and against zero a value
    is greater iff it is ``>= tiny``: iff it is greater than the largest subnormal
    of ``dtype``. So the operand becomes that number, and the comparison ``x > t``
    runs unflushed on the other side. ``t`` is already in ``dtype``.
    """
    lim = flush_limit(dtype)
    if lim is None:
        return t
    return torch.where(t.abs() < lim, torch.full_like(t, largest_subnormal(dtype)), t)


# -- argmax ---------------------------------------------------------------------------
def argmax_operand(x: Tensor, zero_rule: bool) -> Tensor:
    """The scores as TensorFlow's argmax compares them; ``torch.argmax`` (first of tied
    maxima, like TensorFlow) of the result is TensorFlow's answer on a non-empty axis.

    Floats are widened to at least float32 (as Keras does); ``zero_rule`` (Keras 3, not
    Keras <= 2.2): ``-0.0`` and negative subnormals become ``-tiny``, below ``+0.0``;
    subnormals flush; NaN becomes ``-inf`` (never picked unless the whole row is NaN or
    ``-inf``, when the first index wins). Bools compare as 0/1.
    """
    if x.dtype == torch.bool:
        return x.to(torch.uint8)
    if not x.is_floating_point():
        return x
    if zero_rule:
        x = x.to(compare_dtype(x.dtype))
        lim = torch.finfo(x.dtype).tiny
        # Flushed, a negative subnormal is a -0.0: both become -tiny, below +0.0.
        x = torch.where((x.abs() < lim) & torch.signbit(x), torch.full_like(x, -lim), x)
    return torch.nan_to_num(flush_subnormal(x), nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))


# -- in_top_k -------------------------------------------------------------------------
def valid_targets(targets: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """(valid, safe): which targets lie in ``[0, c)``, and the targets with the others set to 0 for the gather."""
    targets = targets.to(torch.int64)
    valid = (targets >= 0) & (targets < c)
    return valid, torch.where(valid, targets, torch.zeros_like(targets))


def target_score(p: Tensor, safe: Tensor, flush_dtype: torch.dtype) -> Tensor:
    """Each row's target score, shape (B, 1), with TensorFlow's FTZ applied per row:
    against a target score that flushes to zero, a score is greater iff it is
    ``>= tiny``, i.e. greater than the largest subnormal of ``flush_dtype``."""
    return flush_operand(p.gather(1, safe.unsqueeze(1)), flush_dtype)


# -- casts ----------------------------------------------------------------------------
def threshold_operand(threshold: float, cmp_dtype: torch.dtype) -> Tensor:
    """Keras's float32 threshold in the comparison dtype, as a 0-d tensor, FTZ applied.

    Keras makes the threshold a float32 tensor; casting it to a wider dtype flushes a
    float32 subnormal to zero first (TensorFlow's CPU kernels run with FTZ/DAZ). A
    tensor rather than a Python branch, so torch.compile traces any threshold."""
    t = flush_subnormal(torch.full((), float(threshold), dtype=torch.float32))
    return flush_operand(t.to(cmp_dtype), cmp_dtype)


@functools.lru_cache(maxsize=64)
def threshold_value(threshold: float, cmp_dtype: torch.dtype) -> float:
    """``threshold_operand`` as a host float, once per threshold and dtype (eager callers): it is
    a constant, and building it costs ten small ops and a host read, more than a small batch."""
    return float(threshold_operand(threshold, cmp_dtype))


def class_ids(labels: Tensor, scores_dtype: torch.dtype) -> Tensor:
    """Sparse labels as Keras compares them: cast to the scores' dtype, except where
    that cast would change an integral label (and merge two class ids), which stays
    exact. So only non-integral float labels change: truncated toward zero for
    integer scores, rounded to a float dtype otherwise (float64 ``1 + 1e-9`` with
    float32 scores is class 1), then flushed as TensorFlow's FTZ does. Integer
    labels come back as int64, float ones as float64 (exact, NaN never matches)."""
    if not labels.is_floating_point():
        return labels.to(torch.int64)
    integral = labels == labels.trunc()  # False for NaN; inf never matches an index anyway
    if scores_dtype.is_floating_point:
        cast = flush_subnormal(labels.to(scores_dtype)).to(torch.float64)
    elif scores_dtype == torch.bool:
        cast = (bool_operand(labels) != 0).to(torch.float64)  # to bool: any non-zero label is True, class 1
    else:
        cast = labels.trunc().to(torch.float64)  # TensorFlow's float -> int cast truncates
    if not scores_dtype.is_floating_point:  # a NaN label stays NaN: a miss (its integer cast is undefined)
        cast = torch.where(torch.isnan(labels), labels.to(torch.float64), cast)
    return torch.where(integral, labels.to(torch.float64), cast)


def bool_operand(x: Tensor) -> Tensor:
    """``x`` as TensorFlow's cast to bool reads it: a float32 or float64 subnormal is 0 (FTZ), so
    False; a bfloat16 one is True (that cast reads the bits: keras_edges.json)."""
    return flush_subnormal(x) if x.dtype in (torch.float32, torch.float64) else x


def label_index(labels: Tensor) -> Tensor:
    """Integer class indices as Keras makes them for top-k: float labels truncated toward
    zero. NaN, inf and values beyond int64 become -1 (out of range, a miss, as
    TensorFlow's int32 cast makes them); a bare cast would be undefined there."""
    if labels.is_floating_point():
        representable = torch.isfinite(labels) & (labels.abs() < 2.0**62)
        labels = torch.where(representable, labels, torch.full_like(labels, -1))
    return labels.to(torch.int64)


def invalid_labels(labels: Tensor, num_classes: int) -> Tensor:
    """Which sparse labels are not integers in ``[0, num_classes)`` (Keras scores them
    without complaint: out of range, a miss; non-integral, a miss for argmax and
    truncated for top-k). Float labels are judged in float64 (else the bound rounds:
    float16 C = 2049 is 2048, so label 2048 would look invalid); narrow integers
    are widened when the bound does not fit them (uint8 >= 300 is not uint8 >= 44)."""
    if labels.dtype == torch.bool:
        labels = labels.to(torch.uint8)
    if labels.is_floating_point():
        labels = labels.to(torch.float64)
    elif num_classes > torch.iinfo(labels.dtype).max:
        labels = labels.to(torch.int64)
    bad = labels >= num_classes
    if labels.dtype.is_signed:
        bad |= labels < 0
    if labels.is_floating_point():
        bad |= ~torch.isfinite(labels) | (labels != torch.trunc(labels))
    return bad


def round_half_even(x: Tensor) -> Tensor:
    """``K.round`` (TensorFlow's ``round``): half to even, 0.5 -> 0, 1.5 -> 2; integers unchanged.
    ``torch.round`` rounds half to even too."""
    return torch.round(x) if x.is_floating_point() else x
