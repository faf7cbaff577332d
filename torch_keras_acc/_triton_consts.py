"""The per-dtype constants the Triton kernels take as ``tl.constexpr`` arguments: bit masks,
widened dtypes and the threshold's bits, computed once per configuration on the host (cached,
so a warm update computes nothing here). ``_triton`` passes them to each launch.

``import`` never fails: without triton only the dtype tuples and ``needs_cast`` are usable.

Example:
    >>> import torch
    >>> from torch_keras_acc._triton_consts import needs_cast
    >>> needs_cast(torch.int64, torch.float32), needs_cast(torch.int16, torch.float32)
    (True, False)
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from torch_keras_acc._tf_rules import flush_limit, largest_subnormal, threshold_operand

try:
    import triton.language as tl
except ImportError:  # the package never needs triton
    tl = None

__all__ = ["FLOATS", "INTS", "argmax_consts", "topk_consts", "binary_consts", "equal_consts", "needs_cast"]

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
INTS = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _bits_of(value: float, dtype: torch.dtype, int_dtype: torch.dtype, widen_to: torch.dtype | None = None) -> int:
    """The bit pattern of ``value`` rounded to ``dtype`` (then widened to ``widen_to``), as a signed integer."""
    x = torch.tensor(value, dtype=torch.float64).to(dtype)
    return int((x if widen_to is None else x.to(widen_to)).view(int_dtype))


_INT_OF = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32, torch.float64: torch.int64}
# Exponent field masks. ``small`` (zero or subnormal once widened to >= float32) is an
# exponent field of zero; float16 values widen to normal float32, so only its zeros are small.
_EXP_MASK = {torch.float16: 0x7C00, torch.bfloat16: 0x7F80, torch.float32: 0x7F800000, torch.float64: 0x7FF0000000000000}
_SMALL_MASK = {**_EXP_MASK, torch.float16: 0x7FFF}
_MAG_MASK = {torch.float16: 0x7FFF, torch.bfloat16: 0x7FFF, torch.float32: 0x7FFFFFFF, torch.float64: 0x7FFFFFFFFFFFFFFF}


def _tl(dtype: torch.dtype) -> Any:
    names = {torch.int16: "int16", torch.int32: "int32", torch.int64: "int64", torch.float32: "float32", torch.float64: "float64"}
    return getattr(tl, names[dtype])


@functools.lru_cache(maxsize=None)
def argmax_consts(dtype: torch.dtype) -> dict[str, Any]:
    """IS_FLOAT, BITS, SMALL, WIDE, WIDE_BITS, NEG_TINY for scores of ``dtype``."""
    if dtype not in FLOATS:  # integers: a plain argmax; the float constants are unused
        return dict(IS_FLOAT=False, BITS=tl.int32, SMALL=0, WIDE=tl.float32, WIDE_BITS=tl.int32, NEG_TINY=0)
    wide = torch.promote_types(dtype, torch.float32)
    return dict(
        IS_FLOAT=True,
        BITS=_tl(_INT_OF[dtype]),
        SMALL=_SMALL_MASK[dtype],
        WIDE=_tl(wide),
        WIDE_BITS=_tl(_INT_OF[wide]),
        NEG_TINY=_bits_of(-torch.finfo(wide).tiny, wide, _INT_OF[wide]),
    )


@functools.lru_cache(maxsize=None)
def topk_consts(dtype: torch.dtype) -> dict[str, Any]:
    if dtype in FLOATS:
        wide = torch.promote_types(dtype, torch.float32)
        flush = flush_limit(dtype) is not None
        return dict(
            IS_FLOAT=True, BITS=_tl(_INT_OF[dtype]), SMALL=_SMALL_MASK[dtype], EXP=_EXP_MASK[dtype], FLUSH=flush,
            # The largest subnormal of the scores' dtype, widened (exactly), as bits of the wide dtype.
            LARGEST_SUB=_bits_of(largest_subnormal(dtype), dtype, _INT_OF[wide], wide) if flush else 0,
            WIDE=_tl(wide), WIDE_BITS=_tl(_INT_OF[wide]),
        )
    return dict(IS_FLOAT=False, BITS=tl.int32, SMALL=0, EXP=0, FLUSH=False, LARGEST_SUB=0, WIDE=tl.float32,
                WIDE_BITS=tl.int32)


@functools.lru_cache(maxsize=None)
def binary_consts(threshold: float, pred_dtype: torch.dtype, true_dtype: torch.dtype) -> tuple[int, dict[str, Any]]:
    """The threshold's bits (the reference's own rule: float32, then FTZ) and the constants; cached
    per configuration, so a warm update computes nothing on the host."""
    cmp = torch.promote_types(pred_dtype, torch.float32)
    thr_bits = int(threshold_operand(threshold, cmp).view(_INT_OF[cmp]))
    if true_dtype in FLOATS:
        consts = dict(T_IS_FLOAT=True, T_BITS=_tl(_INT_OF[true_dtype]), T_MAG=_MAG_MASK[true_dtype],
                      T_ONE=_bits_of(1.0, true_dtype, _INT_OF[true_dtype]))
    else:
        consts = dict(T_IS_FLOAT=False, T_BITS=tl.int32, T_MAG=0, T_ONE=0)
    consts.update(CMP=_tl(cmp), CMP_BITS=_tl(_INT_OF[cmp]))
    return thr_bits, consts


# Casts the kernel may do itself: every value of the source dtype is exact in the target.
_EXACT_INTO = {
    torch.float16: {torch.float32, torch.float64},
    torch.bfloat16: {torch.float32, torch.float64},
    torch.float32: {torch.float64},
    torch.int16: {torch.float32, torch.float64},
    torch.int32: {torch.float64},
}
for _small in (torch.bool, torch.uint8, torch.int8):
    _EXACT_INTO[_small] = set(FLOATS)


@functools.lru_cache(maxsize=None)
def equal_consts(dtype: torch.dtype) -> dict[str, Any]:
    if dtype in FLOATS:
        return dict(P_FLOAT=True, P=_tl(dtype) if dtype in (torch.float32, torch.float64) else
                    (tl.float16 if dtype == torch.float16 else tl.bfloat16), P_BITS=_tl(_INT_OF[dtype]),
                    WIDE=_tl(torch.promote_types(dtype, torch.float32)),
                    SMALL=_SMALL_MASK[dtype], FLUSH=flush_limit(dtype) is not None)
    return dict(P_FLOAT=False, P=tl.int64, P_BITS=tl.int64, WIDE=tl.float64, SMALL=0, FLUSH=False)


def needs_cast(true_dtype: torch.dtype, pred_dtype: torch.dtype) -> bool:
    """Whether Keras's cast of y_true to y_pred's dtype must run before the kernel (it rounds)."""
    return true_dtype != pred_dtype and pred_dtype not in _EXACT_INTO.get(true_dtype, ())
