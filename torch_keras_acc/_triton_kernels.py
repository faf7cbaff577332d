"""The ``@triton.jit`` kernels behind ``_triton`` (import that module, not this one).

This file imports triton unconditionally; ``_triton`` imports it only when triton
is installed. ``_triton`` loads it twice: once as a normal module (kernels compiled
for CUDA tensors by ``triton.jit``) and once with ``_JIT`` preset to Triton's
interpreter (``InterpretedFunction``), so CPU tensors run interpreted in the
same process whatever ``TRITON_INTERPRET`` says. Two module copies are needed
because a kernel finds its helper functions in its module's globals, and a
compiled kernel's helpers must be compiled, an interpreted kernel's interpreted.

TensorFlow's rules are written out in integer arithmetic on the bit patterns
wherever a subnormal or a signed zero decides the answer, so the result does not
depend on the hardware's flush-to-zero mode (GPU) or on NumPy's (interpreter):

* ``small``: the exponent field is zero (a zero or a subnormal of the input's
  dtype, after widening to >= float32; float16 values are never subnormal
  there, so for float16 ``small`` means a zero).
* ``nonfinite``: the exponent field is all ones (inf or NaN).
* NaN is found as ``v != v`` and replaced before any max or comparison.

Masks and constants per dtype come from the wrapper as ``tl.constexpr`` arguments.
"""

from __future__ import annotations

import triton
import triton.language as tl

# The loader presets _JIT to the interpreter for the CPU copy (see the module docstring).
_INTERPRETER = globals().get("_JIT")
_jit = _INTERPRETER or triton.jit


def _kernel(*dynamic: str):
    """``@triton.jit`` for a kernel, with the arguments in ``dynamic`` not specialized on their
    values (sizes, label/weight strides, the threshold's bits): one compiled variant serves
    every batch size instead of one per divisibility class."""

    def decorate(fn):
        return _INTERPRETER(fn) if _INTERPRETER else triton.jit(fn, do_not_specialize=list(dynamic))

    return decorate

_NO_INDEX = tl.constexpr(2147483647)  # larger than any column: "no column of this block"


# Reductions through tl.reduce with triton's own combine functions, not tl.max/tl.min/tl.sum:
# those are @triton.jit functions decorated when triton was imported, so an interpreted kernel
# (when TRITON_INTERPRET was unset at that import) could not call them. The interpreter maps
# these combine functions to NumPy reductions; compiled, this is what tl.max & co. do for
# 32- and 64-bit inputs (no NaN reaches them: the kernels replace NaN first).
@_jit
def _rmax(x, axis: tl.constexpr):
    return tl.reduce(x, axis, tl.standard._elementwise_max)


@_jit
def _rmin(x, axis: tl.constexpr):
    return tl.reduce(x, axis, tl.standard._elementwise_min)


@_jit
def _rsum(x, axis: tl.constexpr):
    return tl.reduce(x, axis, tl.standard._sum_combine)


@_jit
def _argmax_key(v, IS_FLOAT: tl.constexpr, BITS: tl.constexpr, SMALL: tl.constexpr, WIDE: tl.constexpr,
                WIDE_BITS: tl.constexpr, NEG_TINY: tl.constexpr, KERAS3: tl.constexpr):
    """The value argmax compares: widened, small values flushed to 0.0 (Keras 3: negative
    ones and -0.0 to -tiny), NaN to -inf. Integers: int64."""
    if IS_FLOAT:
        bits = v.to(BITS, bitcast=True)
        small = (bits & SMALL) == 0
        w = v.to(WIDE)
        key = tl.where(small, 0.0, w)
        if KERAS3:
            neg_tiny = tl.full(w.shape, NEG_TINY, WIDE_BITS).to(WIDE, bitcast=True)
            key = tl.where(small & (bits < 0), neg_tiny, key)
        key = tl.where(w != w, float("-inf"), key)
    else:
        key = v.to(tl.int64)
    return key


@_jit
def _block_argmax(x_ptr, row_off, row_mask, stride_c, start, C, IS_FLOAT: tl.constexpr, BITS: tl.constexpr,
                  SMALL: tl.constexpr, WIDE: tl.constexpr, WIDE_BITS: tl.constexpr, NEG_TINY: tl.constexpr,
                  KERAS3: tl.constexpr, BLOCK_C: tl.constexpr):
    """(max key, first column holding it) per row over columns [start, start + BLOCK_C)."""
    cols = start + tl.arange(0, BLOCK_C)
    mask = row_mask[:, None] & (cols < C)[None, :]
    v = tl.load(x_ptr + row_off[:, None] + cols[None, :].to(tl.int64) * stride_c, mask=mask, other=0)
    key = _argmax_key(v, IS_FLOAT, BITS, SMALL, WIDE, WIDE_BITS, NEG_TINY, KERAS3)
    if IS_FLOAT:
        key = tl.where(mask, key, float("-inf"))
    else:
        key = tl.where(mask, key, -9223372036854775807 - 1)
    best = _rmax(key, axis=1)
    # First index of the maximum: explicit, so no reliance on tl.argmax's tie rule.
    index = _rmin(tl.where(mask & (key == best[:, None]), cols[None, :], _NO_INDEX), axis=1)
    return best, index


@_jit
def _row_argmax(x_ptr, row_off, row_mask, stride_c, C, IS_FLOAT: tl.constexpr, BITS: tl.constexpr,
                SMALL: tl.constexpr, WIDE: tl.constexpr, WIDE_BITS: tl.constexpr, NEG_TINY: tl.constexpr,
                KERAS3: tl.constexpr, BLOCK_C: tl.constexpr):
    """TensorFlow's argmax of each row, int32: one pass over C in blocks; the first index wins ties."""
    best, index = _block_argmax(x_ptr, row_off, row_mask, stride_c, 0, C, IS_FLOAT, BITS, SMALL, WIDE, WIDE_BITS,
                                NEG_TINY, KERAS3, BLOCK_C)
    for start in range(BLOCK_C, C, BLOCK_C):
        m, i = _block_argmax(x_ptr, row_off, row_mask, stride_c, start, C, IS_FLOAT, BITS, SMALL, WIDE, WIDE_BITS,
                             NEG_TINY, KERAS3, BLOCK_C)
        better = m > best  # strictly: an equal maximum in a later block keeps the earlier index
        best = tl.where(better, m, best)
        index = tl.where(better, i, index)
    return tl.where(index < C, index, 0)  # C == 0: TensorFlow's 0


@_jit
def _label_ok(lab, C, LAB_FLOAT: tl.constexpr):
    """Whether each label is an integer in [0, C) (``_tf_rules.invalid_labels``)."""
    if LAB_FLOAT:
        x = lab.to(tl.float64)
        in_range = (x >= 0) & (x < C)  # False for NaN
        safe = tl.where(in_range, x, 0.0)  # no float-to-int conversion of NaN/inf/huge values
        ok = in_range & (safe.to(tl.int64).to(tl.float64) == safe)
    else:
        x = lab.to(tl.int64)
        ok = (x >= 0) & (x < C)
    return ok


@_jit
def _label_index(lab, LAB_FLOAT: tl.constexpr):
    """``_tf_rules.label_index``: float labels truncated toward zero; NaN, inf and |x| >= 2**62 give -1."""
    if LAB_FLOAT:
        x = lab.to(tl.float64)
        representable = (x == x) & (tl.abs(x) < 4611686018427387904.0)
        index = tl.where(representable, x, -1.0).to(tl.int64)
    else:
        index = lab.to(tl.int64)
    return index


@_jit
def _reduce(hit, ok, valid, w_ptr, w_off, total_ptr, count_ptr, invalid_ptr, WEIGHTED: tl.constexpr,
            HAS_COUNT: tl.constexpr, COUNT_INVALID: tl.constexpr):
    """Add this program's share to the 0-d states: one atomic add per state.

    Unweighted: total += hits, count += samples (exact integers). Weighted: total +=
    sum(hit * w), count += sum(w) in float64 (as _reduction.weighted_sums: 0 * NaN is NaN)."""
    if WEIGHTED:
        w = tl.load(w_ptr + w_off, mask=valid, other=0).to(tl.float64)
        tl.atomic_add(total_ptr, _rsum(hit.to(tl.float64) * w, axis=0).to(total_ptr.dtype.element_ty))
        if HAS_COUNT:
            tl.atomic_add(count_ptr, _rsum(w, axis=0).to(count_ptr.dtype.element_ty))
    else:
        tl.atomic_add(total_ptr, _rsum(hit.to(tl.int32), axis=0).to(total_ptr.dtype.element_ty))
        if HAS_COUNT:
            tl.atomic_add(count_ptr, _rsum(valid.to(tl.int32), axis=0).to(count_ptr.dtype.element_ty))
    if COUNT_INVALID:
        tl.atomic_add(invalid_ptr, _rsum((valid & (ok == 0)).to(tl.int32), axis=0).to(tl.int64))


# -- kernels: one program handles BLOCK_R rows (or BLOCK elements) ----------------------
@_kernel("B")
def argmax_kernel(x_ptr, out_ptr, B, C, stride_r, stride_c, IS_FLOAT: tl.constexpr, BITS: tl.constexpr,
                  SMALL: tl.constexpr, WIDE: tl.constexpr, WIDE_BITS: tl.constexpr, NEG_TINY: tl.constexpr,
                  KERAS3: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < B
    rows64 = rows.to(tl.int64)
    index = _row_argmax(x_ptr, rows64 * stride_r, row_mask, stride_c, C, IS_FLOAT, BITS, SMALL, WIDE, WIDE_BITS,
                        NEG_TINY, KERAS3, BLOCK_C)
    tl.store(out_ptr + rows64, index.to(tl.int64), mask=row_mask)


@_kernel("B", "stride_l", "stride_w")
def sparse_kernel(x_ptr, lab_ptr, w_ptr, hits_ptr, total_ptr, count_ptr, invalid_ptr, B, C, stride_r, stride_c,
                  stride_l, stride_w, IS_FLOAT: tl.constexpr, BITS: tl.constexpr, SMALL: tl.constexpr,
                  WIDE: tl.constexpr, WIDE_BITS: tl.constexpr, NEG_TINY: tl.constexpr, KERAS3: tl.constexpr,
                  LAB_FLOAT: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr, WEIGHTED: tl.constexpr,
                  HAS_COUNT: tl.constexpr, COUNT_INVALID: tl.constexpr, BLOCK_R: tl.constexpr,
                  BLOCK_C: tl.constexpr):
    """argmax(scores) == label (functional._compare_labels), and the invalid-label count."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < B
    rows64 = rows.to(tl.int64)
    index = _row_argmax(x_ptr, rows64 * stride_r, row_mask, stride_c, C, IS_FLOAT, BITS, SMALL, WIDE, WIDE_BITS,
                        NEG_TINY, KERAS3, BLOCK_C)
    lab = tl.load(lab_ptr + rows64 * stride_l, mask=row_mask, other=0)
    if LAB_FLOAT:
        hit = lab.to(tl.float64) == index.to(tl.float64)  # a non-integral or NaN label never matches
    else:
        hit = lab.to(tl.int64) == index.to(tl.int64)
    hit = hit & row_mask
    if STORE_HITS:
        tl.store(hits_ptr + rows64, hit.to(tl.uint8), mask=row_mask)
    if REDUCE:
        ok = _label_ok(lab, C, LAB_FLOAT)
        _reduce(hit, ok, row_mask, w_ptr, rows64 * stride_w, total_ptr, count_ptr, invalid_ptr, WEIGHTED, HAS_COUNT,
                COUNT_INVALID)


@_kernel("B", "stride_w")
def onehot_kernel(t_ptr, x_ptr, w_ptr, hits_ptr, total_ptr, count_ptr, B, CT, CP, CMAX, stride_tr, stride_tc, stride_xr,
                  stride_xc, stride_w, T_IS_FLOAT: tl.constexpr, T_BITS: tl.constexpr, T_SMALL: tl.constexpr,
                  T_WIDE: tl.constexpr, T_WIDE_BITS: tl.constexpr, T_NEG_TINY: tl.constexpr, X_IS_FLOAT: tl.constexpr,
                  X_BITS: tl.constexpr, X_SMALL: tl.constexpr, X_WIDE: tl.constexpr, X_WIDE_BITS: tl.constexpr,
                  X_NEG_TINY: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr,
                  WEIGHTED: tl.constexpr, HAS_COUNT: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """argmax(y_true) == argmax(y_pred), both Keras 3 argmaxes taken in the same pass over the columns."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < B
    rows64 = rows.to(tl.int64)
    t_off = rows64 * stride_tr
    x_off = rows64 * stride_xr
    t_best, t_index = _block_argmax(t_ptr, t_off, row_mask, stride_tc, 0, CT, T_IS_FLOAT, T_BITS, T_SMALL, T_WIDE,
                                    T_WIDE_BITS, T_NEG_TINY, True, BLOCK_C)
    x_best, x_index = _block_argmax(x_ptr, x_off, row_mask, stride_xc, 0, CP, X_IS_FLOAT, X_BITS, X_SMALL, X_WIDE,
                                    X_WIDE_BITS, X_NEG_TINY, True, BLOCK_C)
    for start in range(BLOCK_C, CMAX, BLOCK_C):
        m, i = _block_argmax(t_ptr, t_off, row_mask, stride_tc, start, CT, T_IS_FLOAT, T_BITS, T_SMALL, T_WIDE,
                             T_WIDE_BITS, T_NEG_TINY, True, BLOCK_C)
        better = m > t_best
        t_best = tl.where(better, m, t_best)
        t_index = tl.where(better, i, t_index)
        m, i = _block_argmax(x_ptr, x_off, row_mask, stride_xc, start, CP, X_IS_FLOAT, X_BITS, X_SMALL, X_WIDE,
                             X_WIDE_BITS, X_NEG_TINY, True, BLOCK_C)
        better = m > x_best
        x_best = tl.where(better, m, x_best)
        x_index = tl.where(better, i, x_index)
    t_index = tl.where(t_index < CT, t_index, 0)
    x_index = tl.where(x_index < CP, x_index, 0)
    hit = (t_index == x_index) & row_mask
    if STORE_HITS:
        tl.store(hits_ptr + rows64, hit.to(tl.uint8), mask=row_mask)
    if REDUCE:
        _reduce(hit, row_mask, row_mask, w_ptr, rows64 * stride_w, total_ptr, count_ptr, count_ptr, WEIGHTED,
                HAS_COUNT, False)


@_kernel("B", "k", "stride_l", "stride_w")
def topk_kernel(x_ptr, lab_ptr, w_ptr, hits_ptr, total_ptr, count_ptr, invalid_ptr, B, C, k, stride_r, stride_c,
                stride_l, stride_w, IS_FLOAT: tl.constexpr, BITS: tl.constexpr, SMALL: tl.constexpr,
                EXP: tl.constexpr, FLUSH: tl.constexpr, LARGEST_SUB: tl.constexpr, WIDE: tl.constexpr,
                WIDE_BITS: tl.constexpr, LAB_FLOAT: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr,
                WEIGHTED: tl.constexpr, HAS_COUNT: tl.constexpr, COUNT_INVALID: tl.constexpr,
                BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """tf.math.in_top_k: fewer than k scores strictly greater than the target's, in a row without NaN/inf."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < B
    rows64 = rows.to(tl.int64)
    row_off = rows64 * stride_r
    lab = tl.load(lab_ptr + rows64 * stride_l, mask=row_mask, other=0)
    target = _label_index(lab, LAB_FLOAT)
    in_range = (target >= 0) & (target < C)
    safe = tl.where(in_range, target, 0)  # an out-of-range target never reads out of bounds
    s = tl.load(x_ptr + row_off + safe * stride_c, mask=row_mask & in_range, other=0)
    if IS_FLOAT:
        score = s.to(WIDE)
        if FLUSH:  # a target score that flushes to zero compares as the largest subnormal
            largest = tl.full(score.shape, LARGEST_SUB, WIDE_BITS).to(WIDE, bitcast=True)
            score = tl.where((s.to(BITS, bitcast=True) & SMALL) == 0, largest, score)
    else:
        score = s.to(tl.int64)
    greater = tl.full([BLOCK_R], 0, tl.int32)  # tl.zeros is a triton.jit function (see _rmax)
    finite = row_mask
    for start in range(0, C, BLOCK_C):
        cols = start + tl.arange(0, BLOCK_C)
        mask = row_mask[:, None] & (cols < C)[None, :]
        v = tl.load(x_ptr + row_off[:, None] + cols[None, :].to(tl.int64) * stride_c, mask=mask, other=0)
        if IS_FLOAT:
            p = v.to(WIDE)
            nonfinite = mask & ((v.to(BITS, bitcast=True) & EXP) == EXP)
            finite = finite & (_rmax(nonfinite.to(tl.int32), axis=1) == 0)
        else:
            p = v.to(tl.int64)
        greater += _rsum((mask & (p > score[:, None])).to(tl.int32), axis=1)
    hit = row_mask & in_range & finite & (greater < k)
    if STORE_HITS:
        tl.store(hits_ptr + rows64, hit.to(tl.uint8), mask=row_mask)
    if REDUCE:
        ok = _label_ok(lab, C, LAB_FLOAT)
        _reduce(hit, ok, row_mask, w_ptr, rows64 * stride_w, total_ptr, count_ptr, invalid_ptr, WEIGHTED, HAS_COUNT,
                COUNT_INVALID)


@_kernel("n", "stride_w", "thr_bits")
def binary_kernel(t_ptr, p_ptr, w_ptr, hits_ptr, total_ptr, count_ptr, n, stride_t, stride_p, stride_w, thr_bits,
                  CMP: tl.constexpr, CMP_BITS: tl.constexpr, T_IS_FLOAT: tl.constexpr, T_BITS: tl.constexpr,
                  T_MAG: tl.constexpr, T_ONE: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr,
                  WEIGHTED: tl.constexpr, HAS_COUNT: tl.constexpr, BLOCK: tl.constexpr):
    """y_true == (y_pred > threshold), element-wise (functional.binary_accuracy)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    offs64 = offs.to(tl.int64)
    # The threshold arrives as its bit pattern: a float64 threshold (e.g. a flushed one) is no float32.
    threshold = tl.cast(tl.cast(thr_bits, CMP_BITS), CMP, bitcast=True)
    predicted = tl.load(p_ptr + offs64 * stride_p, mask=mask, other=0).to(CMP) > threshold
    y = tl.load(t_ptr + offs64 * stride_t, mask=mask, other=0)
    if T_IS_FLOAT:  # y == 1.0 / y == 0.0 on the bits: a subnormal label is not 0 whatever the hardware's FTZ mode
        bits = y.to(T_BITS, bitcast=True)
        is_one = bits == T_ONE
        is_zero = (bits & T_MAG) == 0
    else:
        is_one = y.to(tl.int64) == 1
        is_zero = y.to(tl.int64) == 0
    hit = mask & tl.where(predicted, is_one, is_zero)
    if STORE_HITS:
        tl.store(hits_ptr + offs64, hit.to(tl.uint8), mask=mask)
    if REDUCE:
        _reduce(hit, mask, mask, w_ptr, offs64 * stride_w, total_ptr, count_ptr, count_ptr, WEIGHTED, HAS_COUNT, False)


@_kernel("n", "stride_w")
def equal_kernel(t_ptr, p_ptr, w_ptr, hits_ptr, total_ptr, count_ptr, n, stride_t, stride_p, stride_w,
                 P_FLOAT: tl.constexpr, P: tl.constexpr, P_BITS: tl.constexpr, WIDE: tl.constexpr, SMALL: tl.constexpr,
                 FLUSH: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr, WEIGHTED: tl.constexpr,
                 HAS_COUNT: tl.constexpr, BLOCK: tl.constexpr):
    """flush(y_true as y_pred's dtype) == flush(y_pred), element-wise (functional.accuracy)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    offs64 = offs.to(tl.int64)
    b = tl.load(p_ptr + offs64 * stride_p, mask=mask, other=0)
    a = tl.load(t_ptr + offs64 * stride_t, mask=mask, other=0)
    if P_FLOAT:
        a = a.to(P)  # the wrapper casts on the host side unless this conversion is exact
        # Compared widened (exact): the interpreter compares bfloat16 by its bits (NaN == NaN there).
        same = a.to(WIDE) == b.to(WIDE)
        if FLUSH:  # both flush to a zero: equal
            a_small = (a.to(P_BITS, bitcast=True) & SMALL) == 0
            b_small = (b.to(P_BITS, bitcast=True) & SMALL) == 0
            same = same | (a_small & b_small)
    else:
        same = a.to(tl.int64) == b.to(tl.int64)
    hit = mask & same
    if STORE_HITS:
        tl.store(hits_ptr + offs64, hit.to(tl.uint8), mask=mask)
    if REDUCE:
        _reduce(hit, mask, mask, w_ptr, offs64 * stride_w, total_ptr, count_ptr, count_ptr, WEIGHTED, HAS_COUNT, False)
