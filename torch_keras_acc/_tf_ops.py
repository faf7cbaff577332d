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

Every function here works on any device, never syncs the host, and never
indexes out of bounds (out-of-range targets are clamped before the gather and
masked after it).

Speed. ``argmax_last`` (and ``tf_argmax``, the same without Keras 3's ``-0.0``
rule, for the Keras 2.2 kernels) and ``in_top_k`` run every training step. Each
is a :class:`~torch_keras_acc._paths.PathTable` of bit-identical
implementations (tests/test_fast_paths.py; tests/test_cuda.py on a GPU):

* ``reference`` (``_argmax_last_reference``, ``_tf_argmax_reference``,
  ``_in_top_k_reference``): plain, branch-free PyTorch, the definition of the
  semantics, run in chunks of rows (``_REFERENCE_CHUNK_ELEMENTS`` scores at a
  time: exact, no host sync, temporaries bounded whatever N x C is), or whole
  while ``torch.compile`` traces (inductor fuses it).
* ``cpu_fast``: eager CPU tensors. One fast reduction over the scores (16-bit
  floats widened to float32 a cache-sized chunk at a time), then the reference
  only on the rare rows where TensorFlow's rules can change the answer. On the
  CPU, testing whether such rows exist is a memory read, not a device sync.
* ``compiled``: the reference compiled by inductor (dynamic shapes): one fused
  reduction, one read of the scores. CUDA default only with
  ``TORCH_KERAS_ACC_COMPILE_CUDA=1`` until measured on a GPU; the reference if
  compiling fails.
* ``triton``: one-pass Triton kernels (``_triton.py``) with every rule applied
  in the kernel. CUDA default only with ``TORCH_KERAS_ACC_TRITON=1``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from torch_keras_acc import _paths
from torch_keras_acc._compat import is_compiling as _is_compiling

# Scores processed at once by the eager references (off the CPU): bounds their
# rows x C temporaries to a few million elements, whatever N is.
_REFERENCE_CHUNK_ELEMENTS = 1 << 22
# Elements per chunk on the CPU fast paths: 1 MiB of float32, so a chunk and
# its temporaries stay in L2 while the scores stream from memory once.
_CPU_CHUNK_ELEMENTS = 1 << 18
# The CPU top-k sums 1.0s in float32 (or float64): counts are exact up to here.
_MAX_FLOAT32_COUNT = 1 << 24
_LOW_PRECISION = (torch.float16, torch.bfloat16)
# Below this many scores, argmax_last's per-call overhead matters more than its passes.
_SMALL_ELEMENTS = 1 << 10

# Per float dtype: the dtype argmax compares in, and its smallest normal number (cached: finfo costs per call).
_WIDE_TINY = {
    dtype: (wide, torch.finfo(wide).tiny)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
    for wide in [torch.promote_types(dtype, torch.float32)]
}

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


def _largest_subnormal(dtype: torch.dtype) -> float:
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
    return torch.where(t.abs() < lim, torch.full_like(t, _largest_subnormal(dtype)), t)


# -- dispatch -----------------------------------------------------------------
def _cpu_fast_path(x: Tensor) -> bool:
    """Whether the data-dependent CPU path may run: eager, a plain (non-traced)
    CPU tensor with a class axis and at least one element."""
    return type(x) is Tensor and x.is_cpu and x.ndim > 0 and x.numel() > 0 and not _is_compiling() and _paths.allows("cpu_fast")


def _opt_in(path: str) -> Callable[[Tensor, bool], bool]:
    """A device path's condition: asked for by name, or the CUDA default switched on (see _paths)."""

    def applies(x: Tensor, forced: bool) -> bool:
        if x.numel() == 0 or _is_compiling():
            return False
        if forced:  # forced, the path runs anywhere (Triton on CPU tensors under its interpreter)
            return True
        return x.is_cuda and _paths.DEFAULT_ON_CUDA[path]

    return applies


def _compiled_run(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``fn`` compiled by inductor on first use (dynamic shapes, one fused kernel), once per table row."""
    compiled: list[Callable[..., Tensor]] = []

    def run(*args: object) -> Tensor:
        if not compiled:
            compiled.append(torch.compile(fn, dynamic=True, fullgraph=True))
        return compiled[0](*args)

    return run


def _in_row_chunks(fn: Callable[[Tensor], Tensor], rows: Tensor) -> Tensor:
    """``fn(rows)`` for a per-row ``fn`` on (N, C) rows, ``_REFERENCE_CHUNK_ELEMENTS``
    scores at a time: bounded temporaries, and no host sync (the split uses shapes only)."""
    n, c = rows.shape
    step = max(1, _paths.tuned("chunk_elements", _REFERENCE_CHUNK_ELEMENTS) // max(c, 1))
    if n <= step:
        return fn(rows)
    return torch.cat([fn(rows[start : start + step]) for start in range(0, n, step)])


def _triton_run(name: str) -> Callable[..., Tensor]:
    """The Triton implementation ``name`` of ``_triton.py``, imported on first use (triton is optional)."""

    def run(*args: object) -> Tensor:
        from torch_keras_acc import _triton

        if not _triton.AVAILABLE:
            raise RuntimeError("triton is not installed")
        return getattr(_triton, name)(*args)

    return run


def _first_call(kernel: str, run: Callable[..., Tensor], reference: Callable[..., Tensor], key_arg: int = 0) -> Callable[..., Tensor]:
    """A triton row's run, its first real call compared with the reference (_verify.first_call)."""
    from torch_keras_acc import _verify

    return _verify.first_call(kernel, run, reference, key_arg)


def _verified(kernel: str, applies: Callable[[Tensor, bool], bool]) -> Callable[[Tensor, bool], bool]:
    """A triton row's condition: ``applies``, and the kernel passed its check at first use (_verify.py)."""

    def check(x: Tensor, forced: bool) -> bool:
        from torch_keras_acc import _verify

        return applies(x, forced) and _verify.usable(kernel, x.dtype, x.device)

    return check


# -- argmax ---------------------------------------------------------------------
def argmax_last(x: Tensor) -> Tensor:
    """``keras.ops.argmax(x, axis=-1)`` on TensorFlow, as int64.

    Floats are widened to at least float32 (as Keras does), subnormals
    flushed, ``-0.0`` becomes ``-tiny`` (Keras's flush-to-zero fix, so ``+0.0``
    wins over ``-0.0``), and
    NaN becomes ``-inf`` so it is never picked unless the whole row is NaN or
    ``-inf``, in which case the first index wins, as in TensorFlow.

    Example:
        >>> argmax_last(torch.tensor([[float("nan"), 1.0, 1.0], [-0.0, 0.0, -1.0]]))
        tensor([1, 1])
    """
    return _ARGMAX[True](x)


def tf_argmax(x: Tensor) -> Tensor:
    """``tf.math.argmax(x, axis=-1)``, as Keras <= 2.2 called it, as int64: :func:`argmax_last`
    without Keras 3's ``-0.0`` rule, so ``+0.0`` and ``-0.0`` tie (the first wins).

    Example:
        >>> tf_argmax(torch.tensor([[float("nan"), 1.0, 1.0], [-0.0, 0.0, -1.0]]))
        tensor([1, 0])
    """
    return _ARGMAX[False](x)


def _on_rows(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``fn`` on (N, C) rows (one rank per compiled graph, one layout per kernel), reshaped back."""

    def run(x: Tensor) -> Tensor:
        return fn(x.reshape(-1, x.shape[-1])).reshape(x.shape[:-1])

    return run


def _argmax_table(zero_rule: bool) -> _paths.PathTable:
    reference = _argmax_last_reference if zero_rule else _tf_argmax_reference

    def plain(x: Tensor) -> Tensor:
        # Integers, scalars, empty inputs and traced calls: the reference whole (inductor fuses it).
        if not x.is_floating_point() or x.ndim == 0 or x.numel() == 0 or _is_compiling():
            return reference(x)
        return _on_rows(lambda rows: _in_row_chunks(reference, rows))(x)

    def float_input(applies: Callable[[Tensor, bool], bool]) -> Callable[[Tensor, bool], bool]:
        return lambda x, forced: x.is_floating_point() and x.ndim > 0 and applies(x, forced)

    return _paths.PathTable(
        "argmax",
        [
            _paths.Row("cpu_fast", lambda x, forced: _cpu_fast_path(x), lambda x: _argmax_cpu(x, reference)),
            _paths.Row("triton", _verified("argmax", float_input(_opt_in("triton"))), _on_rows(_first_call("argmax", lambda rows: _triton_run("argmax")(rows, zero_rule), lambda rows: _in_row_chunks(reference, rows)))),
            _paths.Row("compiled", float_input(_opt_in("compiled")), _on_rows(_compiled_run(reference))),
            _paths.Row("reference", lambda x, forced: True, plain),
        ],
    )


def _argmax_last_reference(x: Tensor) -> Tensor:
    """The definition of :func:`argmax_last`: Keras 3's ``-0.0`` rule, then :func:`tf_argmax`'s."""
    if x.is_floating_point():
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        lim = torch.finfo(x.dtype).tiny
        # Flushed, a negative subnormal is a -0.0: both become -tiny, below +0.0.
        x = torch.where((x.abs() < lim) & torch.signbit(x), torch.full_like(x, -lim), x)
    return _tf_argmax_reference(x)


def _tf_argmax_reference(x: Tensor) -> Tensor:
    """The definition of :func:`tf_argmax`: TensorFlow's rules applied element-wise, then ``torch.argmax``."""
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if x.is_floating_point():
        x = torch.nan_to_num(flush_subnormal(x), nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))
    if x.shape[-1] == 0:
        # TensorFlow returns 0 for an empty class axis rather than failing.
        return torch.zeros(x.shape[:-1], dtype=torch.int64, device=x.device)
    # torch.argmax returns the first of tied maxima, like TensorFlow.
    return torch.argmax(x, dim=-1)


def _argmax_cpu(x: Tensor, reference: Callable[[Tensor], Tensor]) -> Tensor:
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
    if x.dtype not in _WIDE_TINY:  # e.g. float8: rare, and slow anyway
        return reference(x)
    rows = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
    wide, tiny = _WIDE_TINY[x.dtype]  # TensorFlow's rules are judged in the wider of float32 and x's dtype
    if rows.numel() <= _paths.tuned("small_elements", _SMALL_ELEMENTS):
        # Small inputs: per-op overhead is the cost. No score NaN, zero or subnormal
        # anywhere (one check over the whole tensor) means torch's answer stands.
        index = rows.argmax(dim=1)
        suspects = not _min_abs_at_least(rows, tiny)
        values = rows.amax(dim=1).to(wide) if suspects else None
    else:
        values, index = _row_max(rows)
        suspects = not _min_abs_at_least(values, tiny)
    if suspects:
        assert values is not None  # for mypy: suspects implies values (the rare path)
        suspect = (~(values.abs() >= tiny)).nonzero().squeeze(1)
        index[suspect] = reference(rows[suspect])
    return index if x.ndim == 2 else index.reshape(x.shape[:-1])


def _min_abs_at_least(x: Tensor, tiny: float) -> bool:
    """``min |x| >= tiny`` in one op, read on the host (CPU only); False when x holds a NaN."""
    return float(torch.linalg.vector_norm(x, float("-inf"))) >= tiny


def _row_max(rows: Tensor) -> tuple[Tensor, Tensor]:
    """``rows.max(dim=1)`` in float32 or float64. torch's CPU reductions on 16-bit
    floats run several times below memory speed, so those rows are widened (exactly)
    to float32 one cache-sized chunk at a time."""
    if rows.dtype not in _LOW_PRECISION:
        return rows.max(dim=1)
    n, c = rows.shape
    step = max(1, _paths.tuned("chunk_elements", _CPU_CHUNK_ELEMENTS) // c)
    values = torch.empty(n, dtype=torch.float32)
    index = torch.empty(n, dtype=torch.int64)
    wide = torch.empty(min(step, n), c, dtype=torch.float32)  # reused: no allocation per chunk
    for start in range(0, n, step):
        stop = min(start + step, n)
        chunk = wide[: stop - start].copy_(rows[start:stop])
        torch.max(chunk, dim=1, out=(values[start:stop], index[start:stop]))
    return values, index


_ARGMAX = {True: _argmax_table(True), False: _argmax_table(False)}


# -- in_top_k -------------------------------------------------------------------
def in_top_k(targets: Tensor, predictions: Tensor, k: int) -> Tensor:
    """``tf.math.in_top_k(targets, predictions, k)`` for (B,) targets and (B, C) scores.

    Counts, per row, the scores strictly greater than the target's score; a hit
    is ``count < k``. Works in chunks of rows, so no temporary grows with B x C.
    Accepts every float dtype (TensorFlow's kernel is float32-only); the
    comparison is exact in the input dtype.

    Example:
        >>> in_top_k(torch.tensor([2, 0, 1]), torch.tensor([[0.1, 0.9, 0.9], [1.0, float("inf"), 0.0], [0.5, 0.5, 0.4]]), 1)
        tensor([ True, False,  True])
    """
    return _IN_TOP_K(predictions, targets, k)


def _valid_targets(targets: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """(valid, safe): which targets lie in ``[0, c)``, and the targets with the others set to 0 for the gather."""
    targets = targets.to(torch.int64)
    valid = (targets >= 0) & (targets < c)
    return valid, torch.where(valid, targets, torch.zeros_like(targets))


def _target_score(p: Tensor, safe: Tensor, flush_dtype: torch.dtype) -> Tensor:
    """Each row's target score, shape (B, 1), with TensorFlow's FTZ applied per row:
    against a target score that flushes to zero, a score is greater iff it is
    ``>= tiny``, i.e. greater than the largest subnormal of ``flush_dtype``."""
    return flush_operand(p.gather(1, safe.unsqueeze(1)), flush_dtype)


def _in_top_k_block(p: Tensor, safe: Tensor, k: int) -> Tensor:
    """The definition of :func:`in_top_k` on rows whose targets are in range."""
    greater = (p > _target_score(p, safe, p.dtype)).sum(dim=1)
    finite = torch.isfinite(p).all(dim=1)
    return finite & (greater < k)


def _in_top_k_reference(targets: Tensor, predictions: Tensor, k: int) -> Tensor:
    """The definition of :func:`in_top_k`, branch-free, in chunks of ``_REFERENCE_CHUNK_ELEMENTS``."""
    b, c = predictions.shape
    valid, safe = _valid_targets(targets, c)
    if c == 0 or b == 0:
        return torch.zeros(b, dtype=torch.bool, device=predictions.device)
    rows = max(1, _paths.tuned("chunk_elements", _REFERENCE_CHUNK_ELEMENTS) // c)
    out = [_in_top_k_block(predictions[start : start + rows], safe[start : start + rows], k) for start in range(0, b, rows)]
    return torch.cat(out) & valid


def _in_top_k_whole(targets: Tensor, predictions: Tensor, k: int) -> Tensor:
    """The reference in one block, for inductor (which fuses it into one reduction, so no temporary)."""
    valid, safe = _valid_targets(targets, predictions.shape[1])
    return _in_top_k_block(predictions, safe, k) & valid


def _in_top_k_cpu(targets: Tensor, predictions: Tensor, k: int) -> Tensor:
    """:func:`in_top_k` on the CPU, one cache-sized chunk of rows at a time.

    16-bit scores are compared widened to float32 (exact; torch's 16-bit CPU
    kernels are slow). The comparison writes 1.0/0.0 into a float buffer, ~3x
    faster on CPU than a bool result, and the float sum counts exactly (C <= 2**24).
    """
    b, c = predictions.shape
    valid, safe = _valid_targets(targets, c)
    wide = torch.promote_types(predictions.dtype, torch.float32)
    step = max(1, _paths.tuned("chunk_elements", _CPU_CHUNK_ELEMENTS) // c)
    rows = min(step, b)
    widened = torch.empty(rows, c, dtype=wide) if predictions.dtype != wide else None
    greater = torch.empty(rows, c, dtype=wide)
    hits = torch.empty(b, dtype=torch.bool)
    for start in range(0, b, step):
        stop = min(start + step, b)
        p = predictions[start:stop]
        if widened is not None:
            p = widened[: stop - start].copy_(p)
        score = _target_score(p, safe[start:stop], predictions.dtype)
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


def _whole_when_traced(targets: Tensor, predictions: Tensor, k: int) -> Tensor:
    if _is_compiling():
        return _in_top_k_whole(targets, predictions, k)  # traced: inductor fuses the whole (and N stays dynamic)
    return _in_top_k_reference(targets, predictions, k)


def _scores_first(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Tables dispatch on their first argument: for top-k, the scores."""
    return lambda predictions, targets, k: fn(targets, predictions, k)


def _cpu_top_k_applies(p: Tensor, forced: bool) -> bool:
    return _cpu_fast_path(p) and p.dtype in _WIDE_TINY and p.shape[1] <= _MAX_FLOAT32_COUNT


_IN_TOP_K = _paths.PathTable(
    "in_top_k",
    [
        _paths.Row("cpu_fast", _cpu_top_k_applies, _scores_first(_in_top_k_cpu)),
        _paths.Row("triton", _verified("in_top_k", lambda p, forced: p.shape[1] > 0 and _opt_in("triton")(p, forced)), _scores_first(_first_call("in_top_k", _triton_run("in_top_k"), _in_top_k_reference, 1))),
        _paths.Row("compiled", lambda p, forced: p.shape[1] > 0 and _opt_in("compiled")(p, forced), _scores_first(_compiled_run(_in_top_k_whole))),
        _paths.Row("reference", lambda p, forced: True, _scores_first(_whole_when_traced)),
    ],
)
