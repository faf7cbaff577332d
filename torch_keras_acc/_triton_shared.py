"""The ``@triton.jit`` device functions every kernel of ``_triton_kernels`` shares: the argmax,
TensorFlow's label rules, and the fused update's layout and deterministic reduction (``_finish``).

Loaded as ``_triton_kernels`` is, twice (compiled, and with ``_JIT`` preset to Triton's
interpreter): a kernel's helpers must be compiled with it, or interpreted with it.

TensorFlow's rules are written out in integer arithmetic on the bit patterns
wherever a subnormal or a signed zero decides the answer, so the result does not
depend on the hardware's flush-to-zero mode (GPU) or on NumPy's (interpreter):

* ``small``: the exponent field is zero (a zero or a subnormal of the input's
  dtype, after widening to >= float32; float16 values are never subnormal
  there, so for float16 ``small`` means a zero).
* ``nonfinite``: the exponent field is all ones (inf or NaN).
* NaN is found as ``v != v`` and replaced before any max or comparison.

Masks and constants per dtype come from the wrapper as ``tl.constexpr`` arguments
(``_triton_consts.py``).
"""

from __future__ import annotations

import triton
import triton.language as tl

# The loader presets _JIT to the interpreter for the CPU copy (see _triton_kernels.py).
_jit = globals().get("_JIT") or triton.jit

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
def _w64(W_FTZ: tl.constexpr, x):
    """A weight as float64, flushed as ``_tf_rules.flush_subnormal`` flushes it (TensorFlow's FTZ):
    W_FTZ 32, float32/bfloat16 weights below float32's smallest normal; 64, float64 ones below
    float64's; 0, none (float16 widens to normal float32, integers). NaN and inf stay."""
    w = _to64(x)
    if W_FTZ == 32:
        w = tl.where(tl.abs(w) < 1.1754943508222875e-38, w * 0.0, w)
    elif W_FTZ == 64:
        w = tl.where(tl.abs(w) < 2.2250738585072014e-308, w * 0.0, w)
    return w


@_jit
def _to64(x):
    """``x`` as float64, exactly; bfloat16 through its float32 bits (Triton's interpreter
    converts bfloat16 only to and from float32, and flushes its subnormals)."""
    if x.dtype == tl.bfloat16:  # by the bits: the interpreter's own conversion flushes subnormals
        x = (x.to(tl.int16, bitcast=True).to(tl.int32) << 16).to(tl.float32, bitcast=True)
    return x.to(tl.float64)


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
        x = _to64(lab)
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
        x = _to64(lab)
        representable = (x == x) & (tl.abs(x) < 4611686018427387904.0)
        index = tl.where(representable, x, -1.0).to(tl.int64)
    else:
        index = lab.to(tl.int64)
    return index


# -- the fused update's layout and reduction, shared by every counting kernel --------------
# A batch is N samples of E elements each (E = 1: one per sample; (N, T) tokens; (N, L)
# labels). A program takes SB whole samples and walks their elements EB at a time, so each
# sample's mean is summed by one program in a fixed order. Its partial sums go to a scratch
# row; the program that takes the last ticket (an integer atomic) adds the rows in program
# order and adds the result into the states: no float atomic, the same bits on every run.
@_jit
def _lanes(j0, N, E, SB: tl.constexpr, EB: tl.constexpr):
    """(sample, element, valid) of each of the SB * EB lanes of this program's chunk at element j0."""
    r = tl.arange(0, SB * EB)
    s = (tl.program_id(0) * SB + r // EB).to(tl.int64)
    j = (j0 + r % EB).to(tl.int64)
    return s, j, (s < N) & (j < E)


@_jit
def _not_ignored(lab, valid, ignore, IGNORE: tl.constexpr, LAB_FLOAT: tl.constexpr):
    """``labels != ignore_index`` (the wrapper passes an ignore value exact in the labels' dtype)."""
    if IGNORE:
        if LAB_FLOAT:
            keep = _to64(lab) != ignore.to(tl.float64)
        else:
            keep = lab.to(tl.int64) != ignore.to(tl.int64)
    else:
        keep = valid
    return keep


@_jit
def _chunk(hit, ok, keep, s, j, valid, w_ptr, keep_ptr, stride_wn, stride_we, stride_kn, stride_ke,
           SB: tl.constexpr, EB: tl.constexpr, W_MODE: tl.constexpr, W_FTZ: tl.constexpr, HAS_W: tl.constexpr, HAS_KEEP: tl.constexpr,
           MASKED: tl.constexpr):
    """Per-sample sums over this chunk, each (SB,): hit * weight, weight, invalid labels kept.

    Keras's rules (``_masks.apply_mask``, ``_reduction.weighted_sums``): a mask (and ignore_index) becomes
    0/1 weights multiplied into the weights; per-element weights (W_MODE 2) multiply each hit;
    other modes sum the hits (weights applied per sample in _finish)."""
    if HAS_KEEP:
        m = tl.load(keep_ptr + s * stride_kn + j * stride_ke, mask=valid, other=0)
        keep = keep & (m != 0)
    keep = keep & valid
    hv = (hit & valid).to(tl.float64)
    if W_MODE == 2:
        if HAS_W:
            w = _w64(W_FTZ, tl.load(w_ptr + s * stride_wn + j * stride_we, mask=valid, other=0))
        else:
            w = tl.full([SB * EB], 1.0, tl.float64)
        if MASKED:
            w = w * keep.to(tl.float64)  # w * 0.0: NaN for an inf or NaN weight, as in the reference
        w = tl.where(valid, w, 0.0)
        v = hv * w
    else:
        w = hv * 0.0
        v = hv
    bad = (keep & (ok == 0)).to(tl.int32)
    return (_rsum(tl.reshape(v, (SB, EB)), axis=1), _rsum(tl.reshape(w, (SB, EB)), axis=1),
            _rsum(tl.reshape(bad, (SB, EB)), axis=1))


@_jit
def _finish(acc_v, acc_w, bad, w_ptr, part_ptr, ticket_ptr, batch_ptr, total_ptr, count_ptr, invalid_ptr, N, E,
            stride_wn, SB: tl.constexpr, W_MODE: tl.constexpr, W_FTZ: tl.constexpr, HAS_COUNT: tl.constexpr,
            COUNT_INVALID: tl.constexpr, BLOCK_G: tl.constexpr):
    """This program's (total, count, invalid) into its scratch row; the last program adds all rows,
    in program order, into ``batch`` and the states (mirrors ``_reduction.weighted_sums``).

    W_MODE 0: unweighted (count += N); 1: one weight per sample, applied to the sample's mean;
    2: per-element weights (count += each sample's mean weight); 3: one scalar weight w for the
    batch (total += mean of all hits * w, count += w)."""
    srows = tl.program_id(0) * SB + tl.arange(0, SB)
    sv = srows < N
    e = tl.cast(E, tl.float64)
    if W_MODE == 3:
        value = acc_v  # raw hit counts: the mean is over the whole batch
    else:
        value = acc_v / e
    if W_MODE == 1:
        ws = _w64(W_FTZ, tl.load(w_ptr + srows.to(tl.int64) * stride_wn, mask=sv, other=0))
        value = value * ws
        cnt = ws
    elif W_MODE == 2:
        cnt = acc_w / e
    else:
        cnt = acc_w * 0.0
    value = tl.where(sv, value, 0.0)
    cnt = tl.where(sv, cnt, 0.0)
    pid = tl.program_id(0)
    # Atomic (acq_rel, GPU scope) stores, a barrier, then the ticket: the last program's acquire
    # sees every row (the ordering of CUDA's threadFenceReduction sample).
    # The rows hold float64 bits in int64 (integer atomics everywhere, the interpreter's too).
    tl.atomic_xchg(part_ptr + pid * 3, _rsum(value, axis=0).to(tl.int64, bitcast=True))
    tl.atomic_xchg(part_ptr + pid * 3 + 1, _rsum(cnt, axis=0).to(tl.int64, bitcast=True))
    tl.atomic_xchg(part_ptr + pid * 3 + 2, _rsum(bad, axis=0).to(tl.float64).to(tl.int64, bitcast=True))
    tl.debug_barrier()
    programs = tl.num_programs(0)
    ticket = tl.atomic_add(ticket_ptr, 1)  # acq_rel: the last one sees every row
    if ticket == programs - 1:
        t_acc = tl.full([BLOCK_G], 0.0, tl.float64)
        c_acc = tl.full([BLOCK_G], 0.0, tl.float64)
        i_acc = tl.full([BLOCK_G], 0.0, tl.float64)
        for start in range(0, programs, BLOCK_G):
            g = start + tl.arange(0, BLOCK_G)
            gm = g < programs
            t_acc += tl.load(part_ptr + g * 3, mask=gm, other=0, volatile=True).to(tl.float64, bitcast=True)
            c_acc += tl.load(part_ptr + g * 3 + 1, mask=gm, other=0, volatile=True).to(tl.float64, bitcast=True)
            i_acc += tl.load(part_ptr + g * 3 + 2, mask=gm, other=0, volatile=True).to(tl.float64, bitcast=True)
        total = _rsum(t_acc, axis=0)
        count = _rsum(c_acc, axis=0)
        invalid = _rsum(i_acc, axis=0)
        if W_MODE == 3:
            w = _w64(W_FTZ, tl.load(w_ptr))
            total = total / (tl.cast(N, tl.float64) * e) * w
            count = w
        elif W_MODE == 0:
            count = tl.cast(N, tl.float64)
        tl.store(batch_ptr, total)
        tl.store(batch_ptr + 1, count)
        tl.store(batch_ptr + 2, invalid)
        tl.store(total_ptr, tl.load(total_ptr) + total.to(total_ptr.dtype.element_ty))
        if HAS_COUNT:
            tl.store(count_ptr, tl.load(count_ptr) + count.to(count_ptr.dtype.element_ty))
        if COUNT_INVALID:
            tl.store(invalid_ptr, tl.load(invalid_ptr) + invalid.to(tl.int64))
        tl.atomic_xchg(ticket_ptr, 0)  # ready for the next launch

