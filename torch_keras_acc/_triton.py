"""Triton kernels for the hot primitives: one pass over the scores, TensorFlow's rules in the kernel.

Opt-in (``_dispatch.py``'s ``triton`` rows call it): each wrapper returns
bit for bit what its pure-PyTorch reference returns, and the reference stays
the definition of the semantics:

=====================  ==============================================================
wrapper                reference
=====================  ==============================================================
``argmax``             ``_reference.argmax_last_reference`` / ``tf_argmax_reference``
``sparse_argmax_hits`` ``functional._compare_labels(name, labels, argmax_last(scores), torch.float64)`` (exact: callers apply Keras's label cast first)
``onehot_argmax_hits`` ``functional.categorical_accuracy.hits`` on 2-D inputs
``in_top_k``           ``_reference.in_top_k_reference`` (float targets: of ``_tf_rules.label_index``)
``binary_hits``        ``functional.binary_accuracy.hits`` on same-shape inputs
``equal_hits``         ``functional.accuracy.hits`` on same-shape inputs
=====================  ==============================================================

The ``*_count`` forms reduce inside the kernel and add into 0-d state tensors
(one atomic add per program and state), so an update writes no per-sample tensor
and is one launch. Unweighted: ``total_out += hits`` (an exact integer, into an
int64 or float64 state), ``count_out += samples``. Weighted (``weight``: one value
per row, any float dtype, widened to float64): ``total_out += sum(hit * w)``,
``count_out += sum(w)``, as ``_reduction.weighted_sums`` computes them for one weight per
sample (its sums may differ from these in the last bits only through summation
order). ``invalid_out += `` labels that are not integers in ``[0, C)`` (the rule of
``_tf_rules.invalid_labels``). A scalar weight (Keras: the batch weighs w) is not
fused: count unweighted and scale.

Devices: CUDA tensors run compiled kernels; CPU tensors run the same kernels in
Triton's interpreter (slow; for tests), whatever ``TRITON_INTERPRET`` says (see
_triton_kernels.py). Inputs keep their strides: 2-D scores and 1-D labels and
weights are read through their strides, never copied; the element-wise kernels
read a 1-D view (``reshape(-1)``, a copy only for inputs that cannot be viewed so).
No wrapper reads a device value on the host.

``import`` never fails: without triton, ``AVAILABLE`` is False and every wrapper
raises ``RuntimeError``.

Example:
    >>> import torch
    >>> from torch_keras_acc import _triton
    >>> scores = torch.tensor([[float("nan"), 1.0, 1.0], [-0.0, 0.0, -1.0]])
    >>> _triton.argmax(scores, keras3_zero_rule=True).tolist() if _triton.AVAILABLE else [1, 1]
    [1, 1]
"""

from __future__ import annotations

import importlib.util
import types
from typing import Any

import torch
from torch import Tensor

from torch_keras_acc._tf_rules import flush_limit, largest_subnormal, threshold_operand

try:
    import triton
    import triton.language as tl
except ImportError:  # the package never needs triton
    triton = None
    tl = None

AVAILABLE: bool = triton is not None

__all__ = [
    "AVAILABLE",
    "argmax",
    "sparse_argmax_hits",
    "onehot_argmax_hits",
    "in_top_k",
    "binary_hits",
    "equal_hits",
    "sparse_argmax_count",
    "in_top_k_count",
    "onehot_argmax_count",
    "binary_count",
    "equal_count",
]

# Tile sizes (elements). Row kernels: BLOCK_R rows x BLOCK_C columns, C looped over in
# BLOCK_C steps; several rows per program when C is small. Tests shrink them.
_TILE = 4096
_MIN_BLOCK_C = 64
_MAX_BLOCK_C = 2048
_BLOCK = 1024  # element-wise kernels

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INTS = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


# -- loading the kernels --------------------------------------------------------------
_modules: dict[str, types.ModuleType] = {}


def _kernels(name: str, device: torch.device) -> types.ModuleType:
    """The kernel module for ``device``: compiled for CUDA, interpreted for CPU."""
    if not AVAILABLE:
        raise RuntimeError(f"{name}: the Triton kernels need triton, which is not installed")
    if device.type not in ("cuda", "cpu"):
        raise ValueError(f"{name}: the Triton kernels run on CUDA tensors (or CPU tensors, interpreted); got {device}")
    kind = "compiled" if device.type == "cuda" else "interpreted"
    if kind not in _modules:
        if kind == "compiled":
            from torch_keras_acc import _triton_kernels

            _modules[kind] = _triton_kernels
        else:
            from triton.runtime.interpreter import InterpretedFunction

            spec = importlib.util.find_spec("torch_keras_acc._triton_kernels")
            assert spec is not None and spec.origin is not None
            spec = importlib.util.spec_from_file_location("torch_keras_acc._triton_kernels_interpreted", spec.origin)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            module._JIT = InterpretedFunction  # type: ignore[attr-defined]
            spec.loader.exec_module(module)
            _modules[kind] = module
    return _modules[kind]


# -- per-dtype constants for the kernels ------------------------------------------------
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


def _argmax_consts(dtype: torch.dtype) -> dict[str, Any]:
    """IS_FLOAT, BITS, SMALL, WIDE, WIDE_BITS, NEG_TINY for scores of ``dtype``."""
    if dtype not in _FLOATS:  # integers: a plain argmax; the float constants are unused
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


# -- argument checks ----------------------------------------------------------------------
def _as_kernel_input(name: str, x: Tensor, what: str) -> Tensor:
    """``x`` as the kernels read it (bool as uint8), or a TypeError naming the dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOATS and x.dtype not in _INTS:
        raise TypeError(f"{name}: {what} has dtype {x.dtype}; expected float16/bfloat16/float32/float64, an integer or bool")
    return x.view(torch.uint8) if x.dtype == torch.bool else x


def _check_rank(name: str, x: Tensor, what: str, ndim: int) -> None:
    if x.ndim != ndim:
        raise ValueError(
            f"{name}: {what} of shape {tuple(x.shape)} must have {ndim} dimension(s); reshape (N, T, C) to (N * T, C) first"
        )


def _check_rows(name: str, rows: int, x: Tensor, what: str) -> None:
    if x.shape[0] != rows:
        raise ValueError(f"{name}: {what} of shape {tuple(x.shape)} must have one entry per row ({rows} rows)")


def _check_device(name: str, device: torch.device, **tensors: Tensor | None) -> None:
    for what, t in tensors.items():
        if t is not None and t.device != device:
            raise ValueError(f"{name}: {what} is on {t.device} but the inputs are on {device}; expected one device")


def _check_state(name: str, t: Tensor | None, what: str, dtypes: tuple[torch.dtype, ...]) -> None:
    if t is None:
        return
    if not isinstance(t, Tensor) or t.ndim != 0 or t.dtype not in dtypes:
        got = f"shape {tuple(t.shape)} and dtype {t.dtype}" if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name}: {what} must be a 0-d tensor of dtype {' or '.join(map(str, dtypes))}; got {got}")


class _Reduction:
    """The state arguments of a ``*_count`` call, checked, with dummies for the unused ones."""

    def __init__(self, name: str, device: torch.device, rows: int, total_out: Tensor, count_out: Tensor | None,
                 weight: Tensor | None, invalid_out: Tensor | None = None) -> None:
        sums = (torch.float64,) if weight is not None else (torch.int64, torch.float64)
        _check_state(name, total_out, "total_out", sums)
        _check_state(name, count_out, "count_out", sums)
        _check_state(name, invalid_out, "invalid_out", (torch.int64,))
        if weight is not None:
            weight = _as_kernel_input(name, weight, "weight")
            if weight.ndim != 1 or weight.shape[0] != rows:
                raise ValueError(
                    f"{name}: weight of shape {tuple(weight.shape)} must hold one value per sample ({rows},); "
                    "a scalar weight is not fused (count unweighted and scale)"
                )
        _check_device(name, device, total_out=total_out, count_out=count_out, invalid_out=invalid_out, weight=weight)
        self.total = total_out
        self.count = count_out if count_out is not None else total_out
        self.invalid = invalid_out if invalid_out is not None else total_out
        self.weight = weight if weight is not None else total_out
        self.stride_w = weight.stride(0) if weight is not None else 0
        self.flags = dict(REDUCE=True, WEIGHTED=weight is not None, HAS_COUNT=count_out is not None)
        self.count_invalid = invalid_out is not None


def _pow2(n: int) -> int:
    return 1 << max(0, (max(n, 1) - 1).bit_length())


def _row_blocks(rows: int, cols: int) -> tuple[int, int]:
    """(BLOCK_R, BLOCK_C): whole short rows per program, long rows looped over in blocks.

    Both depend on C only through a power of two clamped to [_MIN_BLOCK_C, _MAX_BLOCK_C],
    and not on the batch size: few compiled variants (each costs a compile on first use)."""
    block_c = max(_MIN_BLOCK_C, min(_pow2(cols), _MAX_BLOCK_C))
    return max(1, _TILE // block_c), block_c


def _hits_out(n: int, device: torch.device) -> Tensor:
    return torch.empty(n, dtype=torch.uint8, device=device)  # bools stored as bytes, viewed as bool


def _labels_flag(labels: Tensor) -> bool:
    return labels.dtype in _FLOATS


# -- argmax ---------------------------------------------------------------------------------
def argmax(x2d: Tensor, keras3_zero_rule: bool = True) -> Tensor:
    """TensorFlow's argmax over the last axis of (B, C) scores, int64 (B,): Keras 3's
    ``argmax_last`` with ``keras3_zero_rule``, else ``tf_argmax`` (Keras 2.2)."""
    name = "triton argmax"
    x = _as_kernel_input(name, x2d, "x2d")
    _check_rank(name, x, "x2d", 2)
    kernels = _kernels(name, x.device)
    b, c = x.shape
    out = torch.empty(b, dtype=torch.int64, device=x.device)
    if b == 0:
        return out
    block_r, block_c = _row_blocks(b, c)
    kernels.argmax_kernel[(triton.cdiv(b, block_r),)](
        x, out, b, c, x.stride(0), x.stride(1), **_argmax_consts(x2d.dtype), KERAS3=bool(keras3_zero_rule),
        BLOCK_R=block_r, BLOCK_C=block_c,
    )
    return out


def _sparse(name: str, scores2d: Tensor, labels1d: Tensor, keras3_zero_rule: bool, hits: bool,
            make_reduction: Any) -> Tensor | None:
    x = _as_kernel_input(name, scores2d, "scores2d")
    labels = _as_kernel_input(name, labels1d, "labels1d")
    _check_rank(name, x, "scores2d", 2)
    _check_rank(name, labels, "labels1d", 1)
    b, c = x.shape
    _check_rows(name, b, labels, "labels1d")
    _check_device(name, x.device, labels1d=labels)
    kernels = _kernels(name, x.device)
    red = make_reduction(b) if make_reduction else None
    out = _hits_out(b, x.device) if hits else None
    if b == 0:
        return out.view(torch.bool) if out is not None else None
    block_r, block_c = _row_blocks(b, c)
    dummy = x
    kernels.sparse_kernel[(triton.cdiv(b, block_r),)](
        x, labels, red.weight if red else dummy, out if out is not None else dummy, red.total if red else dummy,
        red.count if red else dummy, red.invalid if red else dummy, b, c, x.stride(0), x.stride(1), labels.stride(0),
        red.stride_w if red else 0, **_argmax_consts(scores2d.dtype), KERAS3=bool(keras3_zero_rule),
        LAB_FLOAT=_labels_flag(labels), STORE_HITS=hits,
        **(red.flags if red else dict(REDUCE=False, WEIGHTED=False, HAS_COUNT=False)),
        COUNT_INVALID=bool(red and red.count_invalid), BLOCK_R=block_r, BLOCK_C=block_c,
    )
    return out.view(torch.bool) if out is not None else None


def sparse_argmax_hits(scores2d: Tensor, labels1d: Tensor, keras3_zero_rule: bool = True) -> Tensor:
    """``argmax(scores) == label`` per row, bool (B,); float labels compared exactly (a non-integral one never matches)."""
    out = _sparse("triton sparse_argmax_hits", scores2d, labels1d, keras3_zero_rule, True, None)
    assert out is not None
    return out


def sparse_argmax_count(scores2d: Tensor, labels1d: Tensor, total_out: Tensor, invalid_out: Tensor | None = None, *,
                        count_out: Tensor | None = None, weight: Tensor | None = None,
                        keras3_zero_rule: bool = True) -> None:
    """``sparse_argmax_hits`` reduced in the kernel into the states (see the module docstring)."""
    name = "triton sparse_argmax_count"
    device = scores2d.device if isinstance(scores2d, Tensor) else torch.device("cpu")
    _sparse(name, scores2d, labels1d, keras3_zero_rule, False,
            lambda b: _Reduction(name, device, b, total_out, count_out, weight, invalid_out))


# -- one-hot argmax -------------------------------------------------------------------------------
def _onehot(name: str, y_true2d: Tensor, y_pred2d: Tensor, hits: bool, make_reduction: Any) -> Tensor | None:
    t = _as_kernel_input(name, y_true2d, "y_true2d")
    x = _as_kernel_input(name, y_pred2d, "y_pred2d")
    _check_rank(name, t, "y_true2d", 2)
    _check_rank(name, x, "y_pred2d", 2)
    b, cp = x.shape
    ct = t.shape[1]
    _check_rows(name, b, t, "y_true2d")
    _check_device(name, x.device, y_true2d=t)
    kernels = _kernels(name, x.device)
    red = make_reduction(b) if make_reduction else None
    out = _hits_out(b, x.device) if hits else None
    if b == 0:
        return out.view(torch.bool) if out is not None else None
    block_r, block_c = _row_blocks(b, max(ct, cp))
    consts = {f"T_{key}": v for key, v in _argmax_consts(y_true2d.dtype).items()}
    consts.update({f"X_{key}": v for key, v in _argmax_consts(y_pred2d.dtype).items()})
    dummy = x
    kernels.onehot_kernel[(triton.cdiv(b, block_r),)](
        t, x, red.weight if red else dummy, out if out is not None else dummy, red.total if red else dummy,
        red.count if red else dummy, b, ct, cp, max(ct, cp), t.stride(0), t.stride(1), x.stride(0), x.stride(1),
        red.stride_w if red else 0, **consts, STORE_HITS=hits,
        **(red.flags if red else dict(REDUCE=False, WEIGHTED=False, HAS_COUNT=False)),
        BLOCK_R=block_r, BLOCK_C=block_c,
    )
    return out.view(torch.bool) if out is not None else None


def onehot_argmax_hits(y_true2d: Tensor, y_pred2d: Tensor) -> Tensor:
    """``argmax_last(y_true) == argmax_last(y_pred)`` per row, bool (B,); the two may have different C."""
    out = _onehot("triton onehot_argmax_hits", y_true2d, y_pred2d, True, None)
    assert out is not None
    return out


def onehot_argmax_count(y_true2d: Tensor, y_pred2d: Tensor, total_out: Tensor, *, count_out: Tensor | None = None,
                        weight: Tensor | None = None) -> None:
    """``onehot_argmax_hits`` reduced in the kernel into the states."""
    name = "triton onehot_argmax_count"
    device = y_pred2d.device if isinstance(y_pred2d, Tensor) else torch.device("cpu")
    _onehot(name, y_true2d, y_pred2d, False, lambda b: _Reduction(name, device, b, total_out, count_out, weight))


# -- in_top_k ------------------------------------------------------------------------------------
def _topk(name: str, targets1d: Tensor, scores2d: Tensor, k: int, hits: bool, make_reduction: Any) -> Tensor | None:
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"{name}: k must be an int, got {k!r}")
    x = _as_kernel_input(name, scores2d, "scores2d")
    labels = _as_kernel_input(name, targets1d, "targets1d")
    _check_rank(name, x, "scores2d", 2)
    _check_rank(name, labels, "targets1d", 1)
    b, c = x.shape
    _check_rows(name, b, labels, "targets1d")
    _check_device(name, x.device, targets1d=labels)
    kernels = _kernels(name, x.device)
    red = make_reduction(b) if make_reduction else None
    out = _hits_out(b, x.device) if hits else None
    if b == 0:
        return out.view(torch.bool) if out is not None else None
    block_r, block_c = _row_blocks(b, c)
    # At most C - 1 scores are greater than the target's: k clamped to [0, C] gives the same
    # hits and keeps k a 32-bit kernel argument.
    k = max(0, min(k, c))
    dtype = scores2d.dtype
    if dtype in _FLOATS:
        wide = torch.promote_types(dtype, torch.float32)
        flush = flush_limit(dtype) is not None
        consts = dict(
            IS_FLOAT=True, BITS=_tl(_INT_OF[dtype]), SMALL=_SMALL_MASK[dtype], EXP=_EXP_MASK[dtype], FLUSH=flush,
            # The largest subnormal of the scores' dtype, widened (exactly), as bits of the wide dtype.
            LARGEST_SUB=_bits_of(largest_subnormal(dtype), dtype, _INT_OF[wide], wide) if flush else 0,
            WIDE=_tl(wide), WIDE_BITS=_tl(_INT_OF[wide]),
        )
    else:
        consts = dict(IS_FLOAT=False, BITS=tl.int32, SMALL=0, EXP=0, FLUSH=False, LARGEST_SUB=0, WIDE=tl.float32,
                      WIDE_BITS=tl.int32)
    dummy = x
    kernels.topk_kernel[(triton.cdiv(b, block_r),)](
        x, labels, red.weight if red else dummy, out if out is not None else dummy, red.total if red else dummy,
        red.count if red else dummy, red.invalid if red else dummy, b, c, k, x.stride(0), x.stride(1),
        labels.stride(0), red.stride_w if red else 0, **consts, LAB_FLOAT=_labels_flag(labels), STORE_HITS=hits,
        **(red.flags if red else dict(REDUCE=False, WEIGHTED=False, HAS_COUNT=False)),
        COUNT_INVALID=bool(red and red.count_invalid), BLOCK_R=block_r, BLOCK_C=block_c,
    )
    return out.view(torch.bool) if out is not None else None


def in_top_k(targets1d: Tensor, scores2d: Tensor, k: int) -> Tensor:
    """``tf.math.in_top_k`` per row, bool (B,). Float targets are first made class indices as
    ``_tf_rules.label_index`` makes them (truncated toward zero; NaN, inf and huge ones invalid)."""
    out = _topk("triton in_top_k", targets1d, scores2d, k, True, None)
    assert out is not None
    return out


def in_top_k_count(targets1d: Tensor, scores2d: Tensor, k: int, total_out: Tensor, invalid_out: Tensor | None = None, *,
                   count_out: Tensor | None = None, weight: Tensor | None = None) -> None:
    """``in_top_k`` reduced in the kernel into the states; ``invalid_out`` counts the raw
    labels that are not integers in [0, C) (sparse top-k's invalid-label count)."""
    name = "triton in_top_k_count"
    device = scores2d.device if isinstance(scores2d, Tensor) else torch.device("cpu")
    _topk(name, targets1d, scores2d, k, False, lambda b: _Reduction(name, device, b, total_out, count_out, weight, invalid_out))


# -- element-wise: binary and equality --------------------------------------------------------------
def _flat_pair(name: str, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
    t = _as_kernel_input(name, y_true, "y_true")
    p = _as_kernel_input(name, y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(
            f"{name}: y_true of shape {tuple(t.shape)} and y_pred of shape {tuple(p.shape)} must have the same shape "
            "(align ranks and broadcast first, as functional does)"
        )
    _check_device(name, p.device, y_true=t)
    _kernels(name, p.device)  # fails early without triton or on another device
    return t.reshape(-1), p.reshape(-1)


def _elementwise(name: str, kernel_name: str, t: Tensor, p: Tensor, consts: dict[str, Any], hits: bool,
                 make_reduction: Any, *scalars: int) -> Tensor | None:
    kernels = _kernels(name, p.device)
    n = p.numel()
    red = make_reduction(n) if make_reduction else None
    out = _hits_out(n, p.device) if hits else None
    if n == 0:
        return out.view(torch.bool) if out is not None else None
    dummy = p
    getattr(kernels, kernel_name)[(triton.cdiv(n, _BLOCK),)](
        t, p, red.weight if red else dummy, out if out is not None else dummy, red.total if red else dummy,
        red.count if red else dummy, n, t.stride(0), p.stride(0), red.stride_w if red else 0, *scalars, **consts,
        STORE_HITS=hits, **(red.flags if red else dict(REDUCE=False, WEIGHTED=False, HAS_COUNT=False)), BLOCK=_BLOCK,
    )
    return out.view(torch.bool) if out is not None else None


def _binary(name: str, y_true: Tensor, y_pred: Tensor, threshold: float, hits: bool, make_reduction: Any) -> Tensor | None:
    t, p = _flat_pair(name, y_true, y_pred)
    cmp = torch.promote_types(y_pred.dtype, torch.float32)
    # The reference's own threshold rule (float32, then FTZ), as bits; a CPU scalar, no device read.
    thr_bits = int(threshold_operand(threshold, cmp).view(_INT_OF[cmp]))
    if y_true.dtype in _FLOATS:
        consts = dict(T_IS_FLOAT=True, T_BITS=_tl(_INT_OF[y_true.dtype]), T_MAG=_MAG_MASK[y_true.dtype],
                      T_ONE=_bits_of(1.0, y_true.dtype, _INT_OF[y_true.dtype]))
    else:
        consts = dict(T_IS_FLOAT=False, T_BITS=tl.int32, T_MAG=0, T_ONE=0)
    consts.update(CMP=_tl(cmp), CMP_BITS=_tl(_INT_OF[cmp]))
    out = _elementwise(name, "binary_kernel", t, p, consts, hits, make_reduction, thr_bits)
    return out.view(y_pred.shape) if out is not None else None


def binary_hits(y_true: Tensor, y_pred: Tensor, threshold: float = 0.5) -> Tensor:
    """``y_true == (y_pred > threshold)`` element-wise, bool of the inputs' (common) shape."""
    out = _binary("triton binary_hits", y_true, y_pred, threshold, True, None)
    assert out is not None
    return out


def binary_count(y_true: Tensor, y_pred: Tensor, threshold: float, total_out: Tensor, *, count_out: Tensor | None = None,
                 weight: Tensor | None = None) -> None:
    """``binary_hits`` reduced in the kernel: hits over all elements (one per sample for
    (N,) or (N, 1) inputs; for (N, T) inputs Keras averages each sample first)."""
    name = "triton binary_count"
    device = y_pred.device if isinstance(y_pred, Tensor) else torch.device("cpu")
    _binary(name, y_true, y_pred, threshold, False, lambda n: _Reduction(name, device, n, total_out, count_out, weight))


# Casts the kernel may do itself: every value of the source dtype is exact in the target.
_EXACT_INTO = {
    torch.float16: {torch.float32, torch.float64},
    torch.bfloat16: {torch.float32, torch.float64},
    torch.float32: {torch.float64},
    torch.int16: {torch.float32, torch.float64},
    torch.int32: {torch.float64},
}
for _small in (torch.bool, torch.uint8, torch.int8):
    _EXACT_INTO[_small] = set(_FLOATS)


def _equal(name: str, y_true: Tensor, y_pred: Tensor, hits: bool, make_reduction: Any) -> Tensor | None:
    if isinstance(y_true, Tensor) and isinstance(y_pred, Tensor) and y_true.dtype != y_pred.dtype:
        if y_pred.dtype not in _EXACT_INTO.get(y_true.dtype, ()):
            # A rounding cast (or one to an integer dtype) runs as torch runs it: one more pass over y_true.
            y_true = y_true.to(y_pred.dtype)
    t, p = _flat_pair(name, y_true, y_pred)
    dtype = y_pred.dtype
    if dtype in _FLOATS:
        consts = dict(P_FLOAT=True, P=_tl(dtype) if dtype in (torch.float32, torch.float64) else
                      (tl.float16 if dtype == torch.float16 else tl.bfloat16), P_BITS=_tl(_INT_OF[dtype]),
                      WIDE=_tl(torch.promote_types(dtype, torch.float32)),
                      SMALL=_SMALL_MASK[dtype], FLUSH=flush_limit(dtype) is not None)
    else:
        consts = dict(P_FLOAT=False, P=tl.int64, P_BITS=tl.int64, WIDE=tl.float64, SMALL=0, FLUSH=False)
    out = _elementwise(name, "equal_kernel", t, p, consts, hits, make_reduction)
    return out.view(y_pred.shape) if out is not None else None


def equal_hits(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_true == y_pred`` element-wise after Keras's cast of y_true to y_pred's dtype and
    TensorFlow's flush of subnormals, bool of the inputs' (common) shape."""
    out = _equal("triton equal_hits", y_true, y_pred, True, None)
    assert out is not None
    return out


def equal_count(y_true: Tensor, y_pred: Tensor, total_out: Tensor, *, count_out: Tensor | None = None,
                weight: Tensor | None = None) -> None:
    """``equal_hits`` reduced in the kernel into the states (hits over all elements)."""
    name = "triton equal_count"
    device = y_pred.device if isinstance(y_pred, Tensor) else torch.device("cpu")
    _equal(name, y_true, y_pred, False, lambda n: _Reduction(name, device, n, total_out, count_out, weight))
