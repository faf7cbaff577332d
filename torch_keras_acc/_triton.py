"""Triton kernels for the hot primitives: one pass over the scores, TensorFlow's rules in the kernel.

Called by the fused update (``_fused.py``, CUDA's default path) and by the ``triton`` rows
of the path tables; each kernel is checked on its device at first use (``_verify.py``). Each
returns bit for bit what its pure-PyTorch reference returns, and the reference stays the
definition of the semantics:

| family | reference |
|---|---|
| ``argmax`` | ``_reference.argmax_last_reference`` / ``tf_argmax_reference`` |
| ``sparse`` | ``functional.sparse_categorical_accuracy.hits`` (``keras_cast``; else labels compared exactly) |
| ``onehot`` | ``functional.categorical_accuracy.hits`` |
| ``topk`` | ``_reference.in_top_k_reference`` (float targets: of ``_tf_rules.label_index``); one-hot targets: ``top_k_categorical_accuracy.hits`` |
| ``binary`` | ``functional.binary_accuracy.hits`` on same-shape inputs |
| ``equal`` | ``functional.accuracy.hits`` on same-shape inputs |

Each family function takes a ``Reduction``: the batch as N samples of E elements,
weighted as Keras weighs it (none, one per sample, per element, a scalar; a mask and
``ignore_index`` as 0/1 weights), reduced in the kernel into 0-d states, deterministically
(see ``_finish`` in _triton_kernels.py): an update writes no per-sample tensor and is one
launch. ``invalid_out += `` labels that are not integers in ``[0, C)`` (the rule of
``_tf_rules.invalid_labels``). The per-primitive ``*_hits`` / ``*_count``
wrappers (one weight per row) are ``_triton_wrappers.py``.

Devices: CUDA tensors run compiled kernels; CPU tensors run the same kernels in
Triton's interpreter (slow; for tests), whatever ``TRITON_INTERPRET`` says (see
_triton_kernels.py). Inputs keep their strides: scores, labels, weights and masks are read
through their strides, never copied; the element-wise kernels read an (N, E) view (a copy
only for inputs that cannot be viewed so). No wrapper reads a device value on the host.

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

import copy
import functools
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

__all__ = ["AVAILABLE", "Reduction", "argmax", "sparse", "onehot", "topk", "binary", "equal", "needs_cast"]

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


@functools.lru_cache(maxsize=None)
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


class Reduction:
    """The reduction of one ``*_count`` launch: the layout of the batch, its weights and mask,
    and the states it adds into, checked; dummies for the unused arguments.

    ``n`` samples of ``e`` elements each. ``w_mode``: 0 unweighted, 1 one weight per sample
    (``weight`` (n,)), 2 per-element weights (``weight`` addressed as ``[s * w_strides[0] +
    j * w_strides[1]]``, strides 0 broadcast), 3 one scalar weight for the batch (0-d).
    ``keep``: bool positions that count (a mask), addressed like the weights; ``ignore``: the
    labels' ignore_index. Both make the weights per element, as Keras's mask does. After the
    launch, ``batch`` holds this batch's (total, count, invalid) as float64, on the device.
    """

    def __init__(self, name: str, device: torch.device, n: int, total_out: Tensor, count_out: Tensor | None = None,
                 invalid_out: Tensor | None = None, weight: Tensor | None = None, *, e: int = 1, w_mode: int | None = None,
                 w_strides: tuple[int, int] | None = None, keep: Tensor | None = None,
                 keep_strides: tuple[int, int] = (0, 0), ignore: int | float | None = None) -> None:
        sums = (torch.float64,) if weight is not None else (torch.int64, torch.float64)
        _check_state(name, total_out, "total_out", sums)
        _check_state(name, count_out, "count_out", sums)
        _check_state(name, invalid_out, "invalid_out", (torch.int64,))
        if w_mode is None:  # the *_count functions: one weight per sample
            w_mode = 0 if weight is None else 1
            if weight is not None:
                weight = _as_kernel_input(name, weight, "weight")
                if weight.ndim != 1 or weight.shape[0] != n:
                    raise ValueError(
                        f"{name}: weight of shape {tuple(weight.shape)} must hold one value per sample ({n},); "
                        "a scalar weight is not fused (count unweighted and scale)"
                    )
                w_strides = (weight.stride(0), 0)
        elif weight is not None:
            weight = _as_kernel_input(name, weight, "weight")
        _check_device(name, device, total_out=total_out, count_out=count_out, invalid_out=invalid_out, weight=weight, keep=keep)
        self.n, self.e, self.w_mode = n, e, w_mode
        self.total = total_out
        self.count = count_out if count_out is not None else total_out
        self.invalid = invalid_out if invalid_out is not None else total_out
        self.weight = weight if weight is not None else total_out
        self.keep = keep.view(torch.uint8) if keep is not None else total_out
        self.w_strides = w_strides or (0, 0)
        self.keep_strides = keep_strides
        self.ignore = 0 if ignore is None else ignore
        self.masked = keep is not None or ignore is not None
        if self.masked and w_mode != 2:
            raise ValueError(f"{name}: a mask or ignore_index makes the weights per element (w_mode 2), got w_mode {w_mode}")
        ftz = 0 if weight is None else {torch.float32: 32, torch.bfloat16: 32, torch.float64: 64}.get(weight.dtype, 0)
        self.flags = dict(W_MODE=w_mode, W_FTZ=ftz, HAS_W=weight is not None, HAS_KEEP=keep is not None, MASKED=self.masked,
                          IGNORE=ignore is not None, COUNT_INVALID=invalid_out is not None, HAS_COUNT=count_out is not None)
        self.batch = torch.empty(3, dtype=torch.float64, device=device)

    def into(self, total_out: Tensor, count_out: Tensor, invalid_out: Tensor) -> Reduction:
        """The same reduction adding into other states (of the same dtypes), e.g. zeros to check a batch."""
        other = copy.copy(self)
        other.total, other.count = total_out, count_out
        other.invalid = invalid_out if self.flags["COUNT_INVALID"] else total_out
        other.batch = torch.empty_like(self.batch)
        return other


def _pow2(n: int) -> int:
    return 1 << max(0, (max(n, 1) - 1).bit_length())


def _row_blocks(rows: int, cols: int) -> tuple[int, int]:
    """(BLOCK_R, BLOCK_C): whole short rows per program, long rows looped over in blocks.

    Both depend on C only through a power of two clamped to [_MIN_BLOCK_C, _MAX_BLOCK_C],
    and not on the batch size: few compiled variants (each costs a compile on first use)."""
    block_c = max(_MIN_BLOCK_C, min(_pow2(cols), _MAX_BLOCK_C))
    return max(1, _TILE // block_c), block_c


_TICKETS: dict[tuple[torch.device, int], Tensor] = {}
_BLOCK_G = 1024  # scratch rows the last program adds per step


def _ticket(device: torch.device) -> Tensor:
    """The integer counter the programs of a launch take tickets from, one per device and
    stream (launches on one stream run in order; the last program resets it to 0)."""
    stream = torch.cuda.current_stream(device).cuda_stream if device.type == "cuda" else 0
    key = (device, stream)
    if key not in _TICKETS:
        _TICKETS[key] = torch.zeros(1, dtype=torch.int32, device=device)
    return _TICKETS[key]


def _launch(name: str, kernel_name: str, device: torch.device, lanes: int, n: int, e: int, args: tuple,
            consts: dict[str, Any], red: Reduction | None, hits: Tensor | None) -> None:
    """The one launch helper: SB samples x EB elements per program, the common arguments, one launch."""
    kernels = _kernels(name, device)
    eb = min(_pow2(e), _pow2(lanes))
    sb = max(1, _pow2(lanes) // eb)
    grid = triton.cdiv(n, sb)
    dummy = args[0]
    if red is not None:
        part = torch.empty(grid * 3, dtype=torch.int64, device=device)  # float64 bits (see _finish)
        common = (red.weight, red.keep, hits if hits is not None else dummy, part, _ticket(device), red.batch, red.total,
                  red.count, red.invalid, n, e, *red.w_strides, *red.keep_strides, red.ignore)
        flags = dict(red.flags, REDUCE=True)
    else:
        common = (dummy, dummy, hits, dummy, dummy, dummy, dummy, dummy, dummy, n, e, 0, 0, 0, 0, 0)
        flags = dict(W_MODE=0, W_FTZ=0, HAS_W=False, HAS_KEEP=False, MASKED=False, IGNORE=False, COUNT_INVALID=False,
                     HAS_COUNT=False, REDUCE=False)
    getattr(kernels, kernel_name)[(grid,)](*args, *common, **consts, **flags, SB=sb, EB=eb,
                                           STORE_HITS=hits is not None, BLOCK_G=_BLOCK_G)


def _hits_out(n: int, device: torch.device) -> Tensor:
    return torch.empty(n, dtype=torch.uint8, device=device)  # bools stored as bytes, viewed as bool


def _labels_flag(labels: Tensor) -> bool:
    return labels.dtype in _FLOATS


def _rows3(name: str, x: Tensor, what: str) -> Tensor:
    """(B, C) scores as (B, 1, C); (N, E, C) ones as they are."""
    if x.ndim == 2:
        return x.unsqueeze(1)
    _check_rank(name, x, what, 3)
    return x


def _labels2(labels: Tensor) -> Tensor:
    return labels.unsqueeze(1) if labels.ndim == 1 else labels


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


def _lab_tiny(labels: Tensor, scores_dtype: torch.dtype) -> float:
    """The smallest normal of the scores' dtype when float labels flush below it (0.0: never)."""
    if labels.dtype not in _FLOATS or scores_dtype not in _FLOATS or flush_limit(scores_dtype) is None:
        return 0.0
    return float(torch.finfo(scores_dtype).tiny)


def sparse(name: str, scores: Tensor, labels: Tensor, red: Reduction | None, keras3_zero_rule: bool = True,
           hits: bool = False, keras_cast: bool = False) -> Tensor | None:
    """The sparse argmax kernel on (B, C) / (N, E, C) scores and (B,) / (N, E) labels: per-row hits
    (``hits``) and/or the reduction ``red``. Float labels are compared exactly, or with
    ``keras_cast`` as Keras casts them (``_tf_rules.class_ids``; for float labels whose cast to
    the scores' dtype is exact, where only TensorFlow's flush of a subnormal matters, and for
    float64 labels with float32 scores, rounded in the kernel)."""
    x = _rows3(name, _as_kernel_input(name, scores, "scores"), "scores")
    lab = _labels2(_as_kernel_input(name, labels, "labels"))
    n, e, c = x.shape
    if lab.shape != (n, e):
        raise ValueError(f"{name}: labels of shape {tuple(labels.shape)} must have one entry per row of scores {tuple(scores.shape)}")
    _check_device(name, x.device, labels=lab)
    out = _hits_out(n * e, x.device) if hits else None
    if n * e == 0:
        return out.view(torch.bool) if out is not None else None
    block_r, block_c = _row_blocks(n * e, c)
    _launch(name, "sparse_kernel", x.device, block_r, n, e,
            (x, lab, c, x.stride(0), x.stride(1), x.stride(2), lab.stride(0), lab.stride(1)),
            dict(_argmax_consts(scores.dtype), KERAS3=bool(keras3_zero_rule), LAB_FLOAT=_labels_flag(lab),
                 LAB_TINY=_lab_tiny(lab, scores.dtype) if keras_cast else 0.0,
                 LAB_TO_F32=keras_cast and lab.dtype == torch.float64 and scores.dtype == torch.float32,
                 BLOCK_C=block_c), red, out)
    return out.view(torch.bool) if out is not None else None


# -- one-hot argmax -------------------------------------------------------------------------------
def onehot(name: str, y_true: Tensor, y_pred: Tensor, red: Reduction | None, hits: bool = False) -> Tensor | None:
    """argmax(y_true) == argmax(y_pred) on (B, C) / (N, E, C) inputs (the two C may differ)."""
    t = _rows3(name, _as_kernel_input(name, y_true, "y_true"), "y_true")
    x = _rows3(name, _as_kernel_input(name, y_pred, "y_pred"), "y_pred")
    n, e, cp = x.shape
    if t.shape[:2] != (n, e):
        raise ValueError(f"{name}: y_true of shape {tuple(y_true.shape)} must have one row per row of y_pred {tuple(y_pred.shape)}")
    _check_device(name, x.device, y_true=t)
    ct = t.shape[2]
    out = _hits_out(n * e, x.device) if hits else None
    if n * e == 0:
        return out.view(torch.bool) if out is not None else None
    block_r, block_c = _row_blocks(n * e, max(ct, cp))
    consts = {f"T_{key}": v for key, v in _argmax_consts(y_true.dtype).items()}
    consts.update({f"X_{key}": v for key, v in _argmax_consts(y_pred.dtype).items()})
    _launch(name, "onehot_kernel", x.device, block_r, n, e,
            (t, x, ct, cp, max(ct, cp), *t.stride(), *x.stride()), dict(consts, BLOCK_C=block_c), red, out)
    return out.view(torch.bool) if out is not None else None


# -- in_top_k ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _topk_consts(dtype: torch.dtype) -> dict[str, Any]:
    if dtype in _FLOATS:
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


def topk(name: str, targets: Tensor, scores: Tensor, k: int, red: Reduction | None, hits: bool = False,
         onehot_targets: bool = False) -> Tensor | None:
    """in_top_k on (B, C) / (N, E, C) scores; targets: raw sparse labels (B,) / (N, E), or with
    ``onehot_targets`` one-hot rows (.., CT) whose Keras 3 argmax is the target."""
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"{name}: k must be an int, got {k!r}")
    x = _rows3(name, _as_kernel_input(name, scores, "scores2d"), "scores2d")
    lab = _as_kernel_input(name, targets, "targets1d")
    lab = _rows3(name, lab, "targets") if onehot_targets else _labels2(lab)
    _kernels(name, x.device)  # fails early without triton or on another device
    n, e, c = x.shape
    if lab.shape[:2] != (n, e):
        raise ValueError(f"{name}: targets of shape {tuple(targets.shape)} must have one entry per row of scores {tuple(scores.shape)}")
    _check_device(name, x.device, targets1d=lab)
    out = _hits_out(n * e, x.device) if hits else None
    if n * e == 0:
        return out.view(torch.bool) if out is not None else None
    ct = lab.shape[2] if onehot_targets else 1
    block_r, block_c = _row_blocks(n * e, max(c, ct))
    # At most C - 1 scores are greater than the target's: k clamped to [0, C] gives the same
    # hits and keeps k a 32-bit kernel argument.
    k = max(0, min(k, c))
    t_consts = {f"T_{key}": v for key, v in _argmax_consts(targets.dtype if onehot_targets else torch.int64).items()}
    _launch(name, "topk_kernel", x.device, block_r, n, e,
            (x, lab, c, k, x.stride(0), x.stride(1), x.stride(2), lab.stride(0), lab.stride(1),
             lab.stride(2) if onehot_targets else 0, ct),
            dict(_topk_consts(scores.dtype), **t_consts, LAB_FLOAT=_labels_flag(lab) and not onehot_targets,
                 ONEHOT=onehot_targets, BLOCK_C=block_c), red, out)
    return out.view(torch.bool) if out is not None else None


# -- element-wise: binary and equality --------------------------------------------------------------
def _pair2(name: str, y_true: Tensor, y_pred: Tensor, n: int | None) -> tuple[Tensor, Tensor]:
    """Same-shape inputs as (N, E) views (N: the first axis, or all elements when ``n`` is None)."""
    t = _as_kernel_input(name, y_true, "y_true")
    p = _as_kernel_input(name, y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(
            f"{name}: y_true of shape {tuple(t.shape)} and y_pred of shape {tuple(p.shape)} must have the same shape "
            "(align ranks and broadcast first, as functional does)"
        )
    _check_device(name, p.device, y_true=t)
    rows = p.numel() if n is None else n
    return t.reshape(rows, -1 if rows else 0), p.reshape(rows, -1 if rows else 0)


@functools.lru_cache(maxsize=None)
def _binary_consts(threshold: float, pred_dtype: torch.dtype, true_dtype: torch.dtype) -> tuple[int, dict[str, Any]]:
    """The threshold's bits (the reference's own rule: float32, then FTZ) and the constants; cached
    per configuration, so a warm update computes nothing on the host."""
    cmp = torch.promote_types(pred_dtype, torch.float32)
    thr_bits = int(threshold_operand(threshold, cmp).view(_INT_OF[cmp]))
    if true_dtype in _FLOATS:
        consts = dict(T_IS_FLOAT=True, T_BITS=_tl(_INT_OF[true_dtype]), T_MAG=_MAG_MASK[true_dtype],
                      T_ONE=_bits_of(1.0, true_dtype, _INT_OF[true_dtype]))
    else:
        consts = dict(T_IS_FLOAT=False, T_BITS=tl.int32, T_MAG=0, T_ONE=0)
    consts.update(CMP=_tl(cmp), CMP_BITS=_tl(_INT_OF[cmp]))
    return thr_bits, consts


def binary(name: str, y_true: Tensor, y_pred: Tensor, threshold: float, red: Reduction | None, hits: bool = False,
           n: int | None = None) -> Tensor | None:
    """y_true == (y_pred > threshold) on same-shape inputs, as ``n`` samples (None: one per element)."""
    _kernels(name, y_pred.device if isinstance(y_pred, Tensor) else torch.device("cpu"))
    t, p = _pair2(name, y_true, y_pred, n)
    rows, e = p.shape
    out = _hits_out(rows * e, p.device) if hits else None
    if rows * e:
        thr_bits, consts = _binary_consts(float(threshold), y_pred.dtype, y_true.dtype)
        _launch(name, "binary_kernel", p.device, _BLOCK, rows, e, (t, p, *t.stride(), *p.stride(), thr_bits), consts, red, out)
    return out.view(torch.bool).view(y_pred.shape) if out is not None else None


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


@functools.lru_cache(maxsize=None)
def _equal_consts(dtype: torch.dtype) -> dict[str, Any]:
    if dtype in _FLOATS:
        return dict(P_FLOAT=True, P=_tl(dtype) if dtype in (torch.float32, torch.float64) else
                    (tl.float16 if dtype == torch.float16 else tl.bfloat16), P_BITS=_tl(_INT_OF[dtype]),
                    WIDE=_tl(torch.promote_types(dtype, torch.float32)),
                    SMALL=_SMALL_MASK[dtype], FLUSH=flush_limit(dtype) is not None)
    return dict(P_FLOAT=False, P=tl.int64, P_BITS=tl.int64, WIDE=tl.float64, SMALL=0, FLUSH=False)


def needs_cast(true_dtype: torch.dtype, pred_dtype: torch.dtype) -> bool:
    """Whether Keras's cast of y_true to y_pred's dtype must run before the kernel (it rounds)."""
    return true_dtype != pred_dtype and pred_dtype not in _EXACT_INTO.get(true_dtype, ())


def equal(name: str, y_true: Tensor, y_pred: Tensor, red: Reduction | None, hits: bool = False,
          n: int | None = None) -> Tensor | None:
    """flush(y_true as y_pred's dtype) == flush(y_pred) on same-shape inputs, as ``n`` samples."""
    if isinstance(y_true, Tensor) and isinstance(y_pred, Tensor) and needs_cast(y_true.dtype, y_pred.dtype):
        # A rounding cast (or one to an integer dtype) runs as torch runs it: one more pass over y_true.
        y_true = y_true.to(y_pred.dtype)
    _kernels(name, y_pred.device if isinstance(y_pred, Tensor) else torch.device("cpu"))
    t, p = _pair2(name, y_true, y_pred, n)
    rows, e = p.shape
    out = _hits_out(rows * e, p.device) if hits else None
    if rows * e:
        _launch(name, "equal_kernel", p.device, _BLOCK, rows, e, (t, p, *t.stride(), *p.stride()),
                _equal_consts(y_pred.dtype), red, out)
    return out.view(torch.bool).view(y_pred.shape) if out is not None else None


