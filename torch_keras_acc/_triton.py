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
(see ``_finish`` in _triton_shared.py): an update writes no per-sample tensor and is one
launch. ``invalid_out += `` labels that are not integers in ``[0, C)`` (the rule of
``_tf_rules.invalid_labels``). The per-primitive ``*_hits`` / ``*_count``
wrappers (one weight per row) are ``_triton_wrappers.py``.

The constants each launch takes per dtype are ``_triton_consts.py``.

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
import importlib.util
import types
from typing import Any

import torch
from torch import Tensor

from torch_keras_acc._tf_rules import flush_limit
from torch_keras_acc._triton_consts import FLOATS, INTS, argmax_consts, binary_consts, equal_consts, needs_cast, topk_consts

try:
    import triton
except ImportError:  # the package never needs triton
    triton = None

AVAILABLE: bool = triton is not None

__all__ = ["AVAILABLE", "Reduction", "argmax", "sparse", "onehot", "topk", "binary", "equal", "needs_cast"]

# Tile sizes (elements). Row kernels: BLOCK_R rows x BLOCK_C columns, C looped over in
# BLOCK_C steps; several rows per program when C is small. Tests shrink them.
_TILE = 4096
_MIN_BLOCK_C = 64
_MAX_BLOCK_C = 2048
_BLOCK = 1024  # element-wise kernels


# -- loading the kernels --------------------------------------------------------------
_modules: dict[str, types.ModuleType] = {}


def _load_copy(module: str, **preset: Any) -> types.ModuleType:
    """A second copy of ``torch_keras_acc.<module>``, run with ``preset`` in its globals first."""
    spec = importlib.util.find_spec(f"torch_keras_acc.{module}")
    assert spec is not None and spec.origin is not None
    spec = importlib.util.spec_from_file_location(f"torch_keras_acc.{module}_interpreted", spec.origin)
    assert spec is not None and spec.loader is not None
    copy_ = importlib.util.module_from_spec(spec)
    vars(copy_).update(preset)
    spec.loader.exec_module(copy_)
    return copy_


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

            # Both files again, with _JIT preset: the kernels and their helpers all interpreted.
            shared = _load_copy("_triton_shared", _JIT=InterpretedFunction)
            _modules[kind] = _load_copy("_triton_kernels", _JIT=InterpretedFunction, _SHARED=shared)
    return _modules[kind]


# -- argument checks ----------------------------------------------------------------------
def _as_kernel_input(name: str, x: Tensor, what: str) -> Tensor:
    """``x`` as the kernels read it (bool as uint8), or a TypeError naming the dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOATS and x.dtype not in INTS:
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
    return labels.dtype in FLOATS


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
        x, out, b, c, x.stride(0), x.stride(1), **argmax_consts(x2d.dtype), KERAS3=bool(keras3_zero_rule),
        BLOCK_R=block_r, BLOCK_C=block_c,
    )
    return out


def _lab_tiny(labels: Tensor, scores_dtype: torch.dtype) -> float:
    """The smallest normal of the scores' dtype when float labels flush below it (0.0: never)."""
    if labels.dtype not in FLOATS or scores_dtype not in FLOATS or flush_limit(scores_dtype) is None:
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
            dict(argmax_consts(scores.dtype), KERAS3=bool(keras3_zero_rule), LAB_FLOAT=_labels_flag(lab),
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
    consts = {f"T_{key}": v for key, v in argmax_consts(y_true.dtype).items()}
    consts.update({f"X_{key}": v for key, v in argmax_consts(y_pred.dtype).items()})
    _launch(name, "onehot_kernel", x.device, block_r, n, e,
            (t, x, ct, cp, max(ct, cp), *t.stride(), *x.stride()), dict(consts, BLOCK_C=block_c), red, out)
    return out.view(torch.bool) if out is not None else None


# -- in_top_k ------------------------------------------------------------------------------------
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
    t_consts = {f"T_{key}": v for key, v in argmax_consts(targets.dtype if onehot_targets else torch.int64).items()}
    _launch(name, "topk_kernel", x.device, block_r, n, e,
            (x, lab, c, k, x.stride(0), x.stride(1), x.stride(2), lab.stride(0), lab.stride(1),
             lab.stride(2) if onehot_targets else 0, ct),
            dict(topk_consts(scores.dtype), **t_consts, LAB_FLOAT=_labels_flag(lab) and not onehot_targets,
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


def binary(name: str, y_true: Tensor, y_pred: Tensor, threshold: float, red: Reduction | None, hits: bool = False,
           n: int | None = None) -> Tensor | None:
    """y_true == (y_pred > threshold) on same-shape inputs, as ``n`` samples (None: one per element)."""
    _kernels(name, y_pred.device if isinstance(y_pred, Tensor) else torch.device("cpu"))
    t, p = _pair2(name, y_true, y_pred, n)
    rows, e = p.shape
    out = _hits_out(rows * e, p.device) if hits else None
    if rows * e:
        thr_bits, consts = binary_consts(float(threshold), y_pred.dtype, y_true.dtype)
        _launch(name, "binary_kernel", p.device, _BLOCK, rows, e, (t, p, *t.stride(), *p.stride(), thr_bits), consts, red, out)
    return out.view(torch.bool).view(y_pred.shape) if out is not None else None


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
                equal_consts(y_pred.dtype), red, out)
    return out.view(torch.bool).view(y_pred.shape) if out is not None else None


