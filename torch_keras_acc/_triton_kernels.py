"""The ``@triton.jit`` kernels behind ``_triton``, one per family (import ``_triton``, not this one).

This file imports triton unconditionally; ``_triton`` imports it only when triton
is installed. ``_triton`` loads it twice: once as a normal module (kernels compiled
for CUDA tensors by ``triton.jit``) and once with ``_JIT`` preset to Triton's
interpreter (``InterpretedFunction``) and ``_SHARED`` to the interpreted copy of
``_triton_shared``, so CPU tensors run interpreted in the same process whatever
``TRITON_INTERPRET`` says. Two module copies are needed because a kernel finds its
helper functions in its module's globals, and a compiled kernel's helpers must be
compiled, an interpreted kernel's interpreted.

The rules on bit patterns (``small``, ``nonfinite``, NaN) are in ``_triton_shared``'s docstring.
"""

from __future__ import annotations

import triton
import triton.language as tl

# The loader presets _JIT and _SHARED for the CPU copy (see the module docstring).
_INTERPRETER = globals().get("_JIT")
if "_SHARED" in globals():
    _shared = globals()["_SHARED"]
else:
    from torch_keras_acc import _triton_shared as _shared

# Module globals, so that each kernel finds its helpers (of its own kind) by name.
_block_argmax, _chunk, _finish = _shared._block_argmax, _shared._chunk, _shared._finish
_label_index, _label_ok, _lanes = _shared._label_index, _shared._label_ok, _shared._lanes
_not_ignored, _rmax, _row_argmax = _shared._not_ignored, _shared._rmax, _shared._row_argmax
_rsum, _to64 = _shared._rsum, _shared._to64


def _kernel(*dynamic: str):
    """``@triton.jit`` for a kernel, with the arguments in ``dynamic`` not specialized on their
    values (sizes, label/weight strides, the threshold's bits): one compiled variant serves
    every batch size instead of one per divisibility class."""

    def decorate(fn):
        return _INTERPRETER(fn) if _INTERPRETER else triton.jit(fn, do_not_specialize=list(dynamic))

    return decorate


# -- kernels: one program handles BLOCK_R rows (or BLOCK elements) ----------------------
@_kernel("B")
def argmax_kernel(x_ptr, out_ptr, B, C, stride_r, stride_c, IS_FLOAT: tl.constexpr, BITS: tl.constexpr,
                  SMALL: tl.constexpr, WIDE: tl.constexpr, WIDE_BITS: tl.constexpr, NEG_TINY: tl.constexpr,
                  KERAS3: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """tf.math.argmax over the last axis (``_tf_rules.argmax_operand``; Keras 3's signed-zero rule when
    KERAS3, else tf_argmax): the first index of the maximum, NaN never picked, subnormals flushed."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < B
    rows64 = rows.to(tl.int64)
    index = _row_argmax(x_ptr, rows64 * stride_r, row_mask, stride_c, C, IS_FLOAT, BITS, SMALL, WIDE, WIDE_BITS,
                        NEG_TINY, KERAS3, BLOCK_C)
    tl.store(out_ptr + rows64, index.to(tl.int64), mask=row_mask)


@_kernel("N", "E", "stride_wn", "stride_we", "stride_kn", "stride_ke", "ignore", "stride_ln", "stride_le")
def sparse_kernel(x_ptr, lab_ptr, C, stride_xn, stride_xe, stride_c, stride_ln, stride_le, w_ptr, keep_ptr, hits_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E, stride_wn,
        stride_we, stride_kn, stride_ke, ignore, SB: tl.constexpr, EB: tl.constexpr, W_MODE: tl.constexpr, W_FTZ: tl.constexpr,
        HAS_W: tl.constexpr, HAS_KEEP: tl.constexpr, MASKED: tl.constexpr, IGNORE: tl.constexpr,
        COUNT_INVALID: tl.constexpr, HAS_COUNT: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr,
        BLOCK_G: tl.constexpr,
                  IS_FLOAT: tl.constexpr, BITS: tl.constexpr, SMALL: tl.constexpr, WIDE: tl.constexpr,
                  WIDE_BITS: tl.constexpr, NEG_TINY: tl.constexpr, KERAS3: tl.constexpr, LAB_FLOAT: tl.constexpr,
                  LAB_TINY: tl.constexpr, LAB_TO_F32: tl.constexpr, BLOCK_C: tl.constexpr):
    """argmax(scores) == label: TensorFlow's argmax (Keras 3's zero rule when KERAS3) against
    Keras's label cast (``_tf_rules.class_ids``, for labels whose cast to the scores' dtype is
    exact, or float64 labels with float32 scores (LAB_TO_F32); LAB_TINY > 0 is the scores'
    smallest normal, below which a cast label flushes to 0)."""
    acc_v = tl.full([SB], 0.0, tl.float64)
    acc_w = tl.full([SB], 0.0, tl.float64)
    bad = tl.full([SB], 0, tl.int32)
    for j0 in range(0, E, EB):
        s, j, valid = _lanes(j0, N, E, SB, EB)
        index = _row_argmax(x_ptr, s * stride_xn + j * stride_xe, valid, stride_c, C, IS_FLOAT, BITS, SMALL, WIDE,
                            WIDE_BITS, NEG_TINY, KERAS3, BLOCK_C)
        lab = tl.load(lab_ptr + s * stride_ln + j * stride_le, mask=valid, other=0)
        if LAB_FLOAT:
            x = _to64(lab)
            if LAB_TO_F32:  # float64 labels, float32 scores: Keras's cast rounds the non-integral ones
                big = tl.abs(x) >= 4503599627370496.0  # 2**52: every such float is an integer
                integral = big | (tl.where(big, 0.0, x).to(tl.int64).to(tl.float64) == x)  # False for NaN
                x = tl.where(integral, x, x.to(tl.float32).to(tl.float64))
            hit = x == index.to(tl.float64)  # a non-integral or NaN label never matches
            if LAB_TINY > 0:  # TensorFlow's flush-to-zero of the cast label: a subnormal is class 0
                hit = hit | ((x != 0) & (tl.abs(x) < LAB_TINY) & (index == 0))
        else:
            hit = lab.to(tl.int64) == index.to(tl.int64)
        hit = hit & valid
        ok = _label_ok(lab, C, LAB_FLOAT)
        keep = _not_ignored(lab, valid, ignore, IGNORE, LAB_FLOAT)
        if STORE_HITS:
            tl.store(hits_ptr + s * E + j, hit.to(tl.uint8), mask=valid)
        if REDUCE:
            v, w, b = _chunk(hit, ok, keep, s, j, valid, w_ptr, keep_ptr, stride_wn, stride_we, stride_kn, stride_ke,
                             SB, EB, W_MODE, W_FTZ, HAS_W, HAS_KEEP, MASKED)
            acc_v += v
            acc_w += w
            bad += b
    if REDUCE:
        _finish(acc_v, acc_w, bad, w_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E,
                stride_wn, SB, W_MODE, W_FTZ, HAS_COUNT, COUNT_INVALID, BLOCK_G)


@_kernel("N", "E", "stride_wn", "stride_we", "stride_kn", "stride_ke", "ignore")
def onehot_kernel(t_ptr, x_ptr, CT, CP, CMAX, stride_tn, stride_te, stride_tc, stride_xn, stride_xe, stride_xc,
                  w_ptr, keep_ptr, hits_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E, stride_wn,
        stride_we, stride_kn, stride_ke, ignore, SB: tl.constexpr, EB: tl.constexpr, W_MODE: tl.constexpr, W_FTZ: tl.constexpr,
        HAS_W: tl.constexpr, HAS_KEEP: tl.constexpr, MASKED: tl.constexpr, IGNORE: tl.constexpr,
        COUNT_INVALID: tl.constexpr, HAS_COUNT: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr,
        BLOCK_G: tl.constexpr,
                  T_IS_FLOAT: tl.constexpr, T_BITS: tl.constexpr, T_SMALL: tl.constexpr, T_WIDE: tl.constexpr,
                  T_WIDE_BITS: tl.constexpr, T_NEG_TINY: tl.constexpr, X_IS_FLOAT: tl.constexpr, X_BITS: tl.constexpr,
                  X_SMALL: tl.constexpr, X_WIDE: tl.constexpr, X_WIDE_BITS: tl.constexpr, X_NEG_TINY: tl.constexpr,
                  BLOCK_C: tl.constexpr):
    """argmax(y_true) == argmax(y_pred) (functional.categorical_accuracy), both Keras 3 argmaxes
    taken in the same pass over the columns."""
    acc_v = tl.full([SB], 0.0, tl.float64)
    acc_w = tl.full([SB], 0.0, tl.float64)
    bad = tl.full([SB], 0, tl.int32)
    for j0 in range(0, E, EB):
        s, j, valid = _lanes(j0, N, E, SB, EB)
        t_off = s * stride_tn + j * stride_te
        x_off = s * stride_xn + j * stride_xe
        t_best, t_index = _block_argmax(t_ptr, t_off, valid, stride_tc, 0, CT, T_IS_FLOAT, T_BITS, T_SMALL, T_WIDE,
                                        T_WIDE_BITS, T_NEG_TINY, True, BLOCK_C)
        x_best, x_index = _block_argmax(x_ptr, x_off, valid, stride_xc, 0, CP, X_IS_FLOAT, X_BITS, X_SMALL, X_WIDE,
                                        X_WIDE_BITS, X_NEG_TINY, True, BLOCK_C)
        for start in range(BLOCK_C, CMAX, BLOCK_C):
            m, i = _block_argmax(t_ptr, t_off, valid, stride_tc, start, CT, T_IS_FLOAT, T_BITS, T_SMALL, T_WIDE,
                                 T_WIDE_BITS, T_NEG_TINY, True, BLOCK_C)
            better = m > t_best
            t_best = tl.where(better, m, t_best)
            t_index = tl.where(better, i, t_index)
            m, i = _block_argmax(x_ptr, x_off, valid, stride_xc, start, CP, X_IS_FLOAT, X_BITS, X_SMALL, X_WIDE,
                                 X_WIDE_BITS, X_NEG_TINY, True, BLOCK_C)
            better = m > x_best
            x_best = tl.where(better, m, x_best)
            x_index = tl.where(better, i, x_index)
        t_index = tl.where(t_index < CT, t_index, 0)
        x_index = tl.where(x_index < CP, x_index, 0)
        hit = (t_index == x_index) & valid
        if STORE_HITS:
            tl.store(hits_ptr + s * E + j, hit.to(tl.uint8), mask=valid)
        if REDUCE:
            v, w, b = _chunk(hit, valid, valid, s, j, valid, w_ptr, keep_ptr, stride_wn, stride_we, stride_kn, stride_ke,
                             SB, EB, W_MODE, W_FTZ, HAS_W, HAS_KEEP, MASKED)
            acc_v += v
            acc_w += w
            bad += b
    if REDUCE:
        _finish(acc_v, acc_w, bad, w_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E,
                stride_wn, SB, W_MODE, W_FTZ, HAS_COUNT, COUNT_INVALID, BLOCK_G)


@_kernel("N", "E", "stride_wn", "stride_we", "stride_kn", "stride_ke", "ignore", "k", "stride_ln", "stride_le")
def topk_kernel(x_ptr, lab_ptr, C, k, stride_xn, stride_xe, stride_c, stride_ln, stride_le, stride_lc, CT,
                w_ptr, keep_ptr, hits_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E, stride_wn,
        stride_we, stride_kn, stride_ke, ignore, SB: tl.constexpr, EB: tl.constexpr, W_MODE: tl.constexpr, W_FTZ: tl.constexpr,
        HAS_W: tl.constexpr, HAS_KEEP: tl.constexpr, MASKED: tl.constexpr, IGNORE: tl.constexpr,
        COUNT_INVALID: tl.constexpr, HAS_COUNT: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr,
        BLOCK_G: tl.constexpr,
                IS_FLOAT: tl.constexpr, BITS: tl.constexpr, SMALL: tl.constexpr, EXP: tl.constexpr,
                FLUSH: tl.constexpr, LARGEST_SUB: tl.constexpr, WIDE: tl.constexpr, WIDE_BITS: tl.constexpr,
                LAB_FLOAT: tl.constexpr, ONEHOT: tl.constexpr, T_IS_FLOAT: tl.constexpr, T_BITS: tl.constexpr,
                T_SMALL: tl.constexpr, T_WIDE: tl.constexpr, T_WIDE_BITS: tl.constexpr, T_NEG_TINY: tl.constexpr,
                BLOCK_C: tl.constexpr):
    """tf.math.in_top_k: fewer than k scores strictly greater than the target's, in a row without
    NaN/inf. The target: a sparse label (functional._label_index), or with ONEHOT the Keras 3
    argmax of a one-hot row of CT columns (functional.top_k_categorical_accuracy)."""
    acc_v = tl.full([SB], 0.0, tl.float64)
    acc_w = tl.full([SB], 0.0, tl.float64)
    bad = tl.full([SB], 0, tl.int32)
    for j0 in range(0, E, EB):
        s, j, valid = _lanes(j0, N, E, SB, EB)
        row_off = s * stride_xn + j * stride_xe
        if ONEHOT:
            target = _row_argmax(lab_ptr, s * stride_ln + j * stride_le, valid, stride_lc, CT, T_IS_FLOAT, T_BITS,
                                 T_SMALL, T_WIDE, T_WIDE_BITS, T_NEG_TINY, True, BLOCK_C).to(tl.int64)
            lab = target
        else:
            lab = tl.load(lab_ptr + s * stride_ln + j * stride_le, mask=valid, other=0)
            target = _label_index(lab, LAB_FLOAT)
        in_range = (target >= 0) & (target < C)
        safe = tl.where(in_range, target, 0)  # an out-of-range target never reads out of bounds
        sc = tl.load(x_ptr + row_off + safe * stride_c, mask=valid & in_range, other=0)
        if IS_FLOAT:
            score = sc.to(WIDE)
            if FLUSH:  # a target score that flushes to zero compares as the largest subnormal
                largest = tl.full(score.shape, LARGEST_SUB, WIDE_BITS).to(WIDE, bitcast=True)
                score = tl.where((sc.to(BITS, bitcast=True) & SMALL) == 0, largest, score)
        else:
            score = sc.to(tl.int64)
        greater = tl.full([SB * EB], 0, tl.int32)  # tl.zeros is a triton.jit function (see _rmax)
        finite = valid
        for start in range(0, C, BLOCK_C):
            cols = start + tl.arange(0, BLOCK_C)
            mask = valid[:, None] & (cols < C)[None, :]
            v = tl.load(x_ptr + row_off[:, None] + cols[None, :].to(tl.int64) * stride_c, mask=mask, other=0)
            if IS_FLOAT:
                p = v.to(WIDE)
                nonfinite = mask & ((v.to(BITS, bitcast=True) & EXP) == EXP)
                finite = finite & (_rmax(nonfinite.to(tl.int32), axis=1) == 0)
            else:
                p = v.to(tl.int64)
            greater += _rsum((mask & (p > score[:, None])).to(tl.int32), axis=1)
        hit = valid & in_range & finite & (greater < k)
        ok = _label_ok(lab, C, LAB_FLOAT)  # ONEHOT: the wrapper passes LAB_FLOAT=False
        keep = _not_ignored(lab, valid, ignore, IGNORE, LAB_FLOAT)
        if STORE_HITS:
            tl.store(hits_ptr + s * E + j, hit.to(tl.uint8), mask=valid)
        if REDUCE:
            v, w, b = _chunk(hit, ok, keep, s, j, valid, w_ptr, keep_ptr, stride_wn, stride_we, stride_kn, stride_ke,
                             SB, EB, W_MODE, W_FTZ, HAS_W, HAS_KEEP, MASKED)
            acc_v += v
            acc_w += w
            bad += b
    if REDUCE:
        _finish(acc_v, acc_w, bad, w_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E,
                stride_wn, SB, W_MODE, W_FTZ, HAS_COUNT, COUNT_INVALID, BLOCK_G)


@_kernel("N", "E", "stride_wn", "stride_we", "stride_kn", "stride_ke", "ignore", "thr_bits")
def binary_kernel(t_ptr, p_ptr, stride_tn, stride_te, stride_pn, stride_pe, thr_bits, w_ptr, keep_ptr, hits_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E, stride_wn,
        stride_we, stride_kn, stride_ke, ignore, SB: tl.constexpr, EB: tl.constexpr, W_MODE: tl.constexpr, W_FTZ: tl.constexpr,
        HAS_W: tl.constexpr, HAS_KEEP: tl.constexpr, MASKED: tl.constexpr, IGNORE: tl.constexpr,
        COUNT_INVALID: tl.constexpr, HAS_COUNT: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr,
        BLOCK_G: tl.constexpr,
                  CMP: tl.constexpr, CMP_BITS: tl.constexpr, T_IS_FLOAT: tl.constexpr, T_BITS: tl.constexpr,
                  T_MAG: tl.constexpr, T_ONE: tl.constexpr):
    """y_true == (y_pred > threshold), element-wise (functional.binary_accuracy)."""
    # The threshold arrives as its bit pattern: a float64 threshold (e.g. a flushed one) is no float32.
    threshold = tl.cast(tl.cast(thr_bits, CMP_BITS), CMP, bitcast=True)
    acc_v = tl.full([SB], 0.0, tl.float64)
    acc_w = tl.full([SB], 0.0, tl.float64)
    bad = tl.full([SB], 0, tl.int32)
    for j0 in range(0, E, EB):
        s, j, valid = _lanes(j0, N, E, SB, EB)
        predicted = tl.load(p_ptr + s * stride_pn + j * stride_pe, mask=valid, other=0).to(CMP) > threshold
        y = tl.load(t_ptr + s * stride_tn + j * stride_te, mask=valid, other=0)
        if T_IS_FLOAT:  # y == 1.0 / y == 0.0 on the bits: a subnormal label is not 0 whatever the hardware's FTZ mode
            bits = y.to(T_BITS, bitcast=True)
            is_one = bits == T_ONE
            is_zero = (bits & T_MAG) == 0
        else:
            is_one = y.to(tl.int64) == 1
            is_zero = y.to(tl.int64) == 0
        hit = valid & tl.where(predicted, is_one, is_zero)
        if STORE_HITS:
            tl.store(hits_ptr + s * E + j, hit.to(tl.uint8), mask=valid)
        if REDUCE:
            v, w, b = _chunk(hit, valid, valid, s, j, valid, w_ptr, keep_ptr, stride_wn, stride_we, stride_kn, stride_ke,
                             SB, EB, W_MODE, W_FTZ, HAS_W, HAS_KEEP, MASKED)
            acc_v += v
            acc_w += w
            bad += b
    if REDUCE:
        _finish(acc_v, acc_w, bad, w_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E,
                stride_wn, SB, W_MODE, W_FTZ, HAS_COUNT, COUNT_INVALID, BLOCK_G)


@_kernel("N", "E", "stride_wn", "stride_we", "stride_kn", "stride_ke", "ignore")
def equal_kernel(t_ptr, p_ptr, stride_tn, stride_te, stride_pn, stride_pe, w_ptr, keep_ptr, hits_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E, stride_wn,
        stride_we, stride_kn, stride_ke, ignore, SB: tl.constexpr, EB: tl.constexpr, W_MODE: tl.constexpr, W_FTZ: tl.constexpr,
        HAS_W: tl.constexpr, HAS_KEEP: tl.constexpr, MASKED: tl.constexpr, IGNORE: tl.constexpr,
        COUNT_INVALID: tl.constexpr, HAS_COUNT: tl.constexpr, STORE_HITS: tl.constexpr, REDUCE: tl.constexpr,
        BLOCK_G: tl.constexpr,
                 P_FLOAT: tl.constexpr, P: tl.constexpr, P_BITS: tl.constexpr, WIDE: tl.constexpr, SMALL: tl.constexpr,
                 FLUSH: tl.constexpr):
    """flush(y_true as y_pred's dtype) == flush(y_pred), element-wise (functional.accuracy)."""
    acc_v = tl.full([SB], 0.0, tl.float64)
    acc_w = tl.full([SB], 0.0, tl.float64)
    bad = tl.full([SB], 0, tl.int32)
    for j0 in range(0, E, EB):
        s, j, valid = _lanes(j0, N, E, SB, EB)
        b = tl.load(p_ptr + s * stride_pn + j * stride_pe, mask=valid, other=0)
        a = tl.load(t_ptr + s * stride_tn + j * stride_te, mask=valid, other=0)
        if P_FLOAT:
            if P == tl.bfloat16:  # through float32 (exact here): see _to64
                a = a.to(tl.float32)
            a = a.to(P)  # the wrapper casts on the host side unless this conversion is exact
            # Compared widened (exact): the interpreter compares bfloat16 by its bits (NaN == NaN there).
            same = a.to(WIDE) == b.to(WIDE)
            if FLUSH:  # both flush to a zero: equal
                a_small = (a.to(P_BITS, bitcast=True) & SMALL) == 0
                b_small = (b.to(P_BITS, bitcast=True) & SMALL) == 0
                same = same | (a_small & b_small)
        else:
            same = a.to(tl.int64) == b.to(tl.int64)
        hit = valid & same
        if STORE_HITS:
            tl.store(hits_ptr + s * E + j, hit.to(tl.uint8), mask=valid)
        if REDUCE:
            v, w, b = _chunk(hit, valid, valid, s, j, valid, w_ptr, keep_ptr, stride_wn, stride_we, stride_kn, stride_ke,
                             SB, EB, W_MODE, W_FTZ, HAS_W, HAS_KEEP, MASKED)
            acc_v += v
            acc_w += w
            bad += b
    if REDUCE:
        _finish(acc_v, acc_w, bad, w_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E,
                stride_wn, SB, W_MODE, W_FTZ, HAS_COUNT, COUNT_INVALID, BLOCK_G)
