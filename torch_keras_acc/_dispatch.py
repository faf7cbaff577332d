"""Which implementation runs: the one module that decides the path, and the public switch.

Every primitive (argmax, in_top_k, the invalid-label count) and the fused
whole-batch update have several implementations that give bit-identical answers:

========== =================================================================
path       when it runs by default
========== =================================================================
cpu_fast   eager CPU tensors: one fast reduction, the reference on rare rows
triton     CUDA tensors, opt-in (``TORCH_KERAS_ACC_TRITON=1``): fused kernels
compiled   CUDA tensors, opt-in (``TORCH_KERAS_ACC_COMPILE_CUDA=1``): inductor
reference  everything else: plain PyTorch (``_reference.py``), the definition
========== =================================================================

A :class:`PathTable` lists a primitive's rows in order of preference; the first
row that applies to the input runs (while ``torch.compile`` traces, always the
reference, which inductor fuses). An optional row that fails at run time (no
compiler, no GPU driver) is dropped for the rest of the process with one warning.
:func:`kernel_path` forces one path inside a ``with`` block (tests and the
benchmark use it; so can a user who wants the reference): the forced row runs
wherever it can run at all (``compiled`` and ``triton`` then run on the CPU too,
the latter in Triton's interpreter), and inputs it cannot take fall back to
``reference``. The block's log records which path each primitive took.

This module imports the paths (``_reference``, ``_cpu_fast``, ``_triton``); nothing
else does, but the tests that compare them.

Example:
    >>> import torch
    >>> import torch_keras_acc as tka
    >>> from torch_keras_acc._dispatch import argmax_last
    >>> with tka.kernel_path("reference") as log:
    ...     argmax_last(torch.tensor([[0.1, 0.9], [0.7, 0.3]]))
    tensor([1, 0])
    >>> log.used
    {'argmax': {'reference'}}
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping

import torch
from torch import Tensor

from torch_keras_acc import _cpu_fast, _reference
from torch_keras_acc._compat import is_compiling
from torch_keras_acc._spec import KernelSpec
from torch_keras_acc._tf_rules import class_ids, flush_subnormal, label_index

PathName = Literal["reference", "cpu_fast", "compiled", "triton"]
PATHS: tuple[str, ...] = ("reference", "cpu_fast", "compiled", "triton")

# Opt-in defaults for CUDA, read once: neither has been measured on a GPU yet.
DEFAULT_ON_CUDA = {
    "triton": os.environ.get("TORCH_KERAS_ACC_TRITON", "0") == "1",
    "compiled": os.environ.get("TORCH_KERAS_ACC_COMPILE_CUDA", "0") == "1",
}


# -- the switch -------------------------------------------------------------------------
@dataclass
class PathLog:
    """What ran inside a :func:`kernel_path` block: primitive -> the set of paths taken."""

    forced: str | None
    chunk_elements: int | None = None
    small_elements: int | None = None
    used: dict[str, set[str]] = field(default_factory=dict)

    def record(self, primitive: str, path: str) -> None:
        self.used.setdefault(primitive, set()).add(path)


_ACTIVE: contextvars.ContextVar[PathLog | None] = contextvars.ContextVar("torch_keras_acc_path", default=None)


@contextlib.contextmanager
def kernel_path(
    path: PathName | None = None, *, chunk_elements: int | None = None, small_elements: int | None = None
) -> Iterator[PathLog]:
    """Force one implementation of every primitive inside the block.

    Args:
        path: ``"reference"``, ``"cpu_fast"``, ``"compiled"`` or ``"triton"``; None keeps
            the default choice (to log it, or to set ``chunk_elements`` alone).
        chunk_elements: scores per chunk for the chunked paths (tests use tiny chunks to
            cross chunk boundaries on small inputs); None keeps the tuned sizes.
        small_elements: inputs with fewer scores take the CPU's small-input branch
            (0: none do; a huge value: all do); None keeps the tuned size.

    Yields:
        A :class:`PathLog`; ``log.used`` maps each primitive that ran to the paths it took.
    """
    if path is not None and path not in PATHS:
        raise ValueError(f"kernel_path: path must be one of {PATHS}, got {path!r}")
    for what, value, low in (("chunk_elements", chunk_elements, 1), ("small_elements", small_elements, 0)):
        if value is not None and (not isinstance(value, int) or value < low):
            raise ValueError(f"kernel_path: {what} must be an int >= {low}, got {value!r}")
    log = PathLog(path, chunk_elements, small_elements)
    token = _ACTIVE.set(log)
    try:
        yield log
    finally:
        _ACTIVE.reset(token)


def _tuned(name: str, default: int, eager: bool = False) -> int:
    """The size ``name`` in force: the block's override, else ``default`` (always, while traced;
    ``eager``: the caller runs only eagerly, so that needs no check)."""
    log = _ACTIVE.get() if eager or not is_compiling() else None
    value = getattr(log, name) if log is not None else None
    return default if value is None else value


def _forced() -> str | None:
    log = _ACTIVE.get()
    return log.forced if log is not None else None


def _record(primitive: str, path: str) -> None:
    log = _ACTIVE.get()
    if log is not None:
        log.record(primitive, path)


# -- the tables -------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One implementation: ``applies(x, forced)`` says whether it can take input ``x``
    (``forced``: it was asked for by name, so opt-in and device conditions are lifted)."""

    path: str
    applies: Callable[[Tensor, bool], bool]
    run: Callable[..., Any]


class PathTable:
    """The implementations of one primitive, in order of preference; the last row is the reference."""

    def __init__(self, primitive: str, rows: list[Row]) -> None:
        assert rows and rows[-1].path == "reference", "the reference row comes last and always applies"
        self.primitive = primitive
        self.rows = rows
        self._broken: set[str] = set()  # paths that failed at run time (e.g. no compiler): never tried again

    def __call__(self, x: Tensor, *args: Any) -> Any:
        if is_compiling():
            # Traced by torch.compile: the reference, whole, which inductor fuses (dynamo
            # cannot trace a ContextVar, and a forced path has no meaning inside a graph).
            return self.rows[-1].run(x, *args)
        forced = _forced()
        for row in self.rows:
            if row.path in self._broken or (forced is not None and row.path not in (forced, "reference")):
                continue
            if row.path != "reference" and not row.applies(x, row.path == forced):
                continue
            try:
                out = row.run(x, *args)
            except Exception as err:  # an optional path failed to build or launch: stay exact, lose speed
                if row.path not in ("compiled", "triton"):
                    raise
                self._broken.add(row.path)
                warnings.warn(
                    f"torch_keras_acc: the {row.path} path of {self.primitive} failed ({type(err).__name__}: {err}); "
                    "using the reference from now on (same results, slower)",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            if out is None:  # the row declined this input after looking closer (fused updates)
                continue
            _record(self.primitive, row.path)
            return out
        return None  # only a table whose reference may decline (the fused update) gets here


def _eager_cpu(x: Tensor, forced: bool = False) -> bool:
    """The data-dependent CPU rows' condition: a plain (non-traced) CPU tensor with elements."""
    return type(x) is Tensor and x.is_cpu and x.ndim > 0 and x.numel() > 0


def _opt_in(path: str) -> Callable[[Tensor, bool], bool]:
    """A device path's condition: asked for by name (then anywhere: Triton runs CPU tensors in its
    interpreter), or the CUDA default switched on for it."""
    return lambda x, forced: x.numel() > 0 and (forced or (x.is_cuda and DEFAULT_ON_CUDA[path]))


def _compiled(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``fn`` compiled by inductor on first use (dynamic shapes, one fused kernel), once per row."""
    compiled: list[Callable[..., Tensor]] = []

    def run(*args: object) -> Tensor:
        if not compiled:
            compiled.append(torch.compile(fn, dynamic=True, fullgraph=True))
        return compiled[0](*args)

    return run


def _triton(name: str) -> Callable[..., Any]:
    """The wrapper ``name`` of ``_triton.py``, imported on first use (triton is optional)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        from torch_keras_acc import _triton

        if not _triton.AVAILABLE:
            raise RuntimeError("triton is not installed")
        return getattr(_triton, name)(*args, **kwargs)

    return run


def _on_rows(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``fn`` on (N, C) rows (one rank per compiled graph, one layout per kernel), reshaped back."""
    return lambda x: fn(x.reshape(-1, x.shape[-1])).reshape(x.shape[:-1])


def argmax_table(zero_rule: bool) -> PathTable:
    """A new argmax table (``zero_rule``: Keras 3's ``-0.0`` rule); the package shares one of each."""
    reference = _reference.argmax_last_reference if zero_rule else _reference.tf_argmax_reference

    def plain(x: Tensor) -> Tensor:
        # Integers, scalars, empty inputs and traced calls: the reference whole (inductor fuses it).
        if not x.is_floating_point() or x.ndim == 0 or x.numel() == 0 or is_compiling():
            return reference(x)
        chunk = _tuned("chunk_elements", _reference.CHUNK_ELEMENTS)
        return _on_rows(lambda rows: _reference.in_row_chunks(reference, rows, chunk))(x)

    def cpu(x: Tensor) -> Tensor:
        sizes = _tuned("small_elements", _cpu_fast.SMALL_ELEMENTS, True), _tuned("chunk_elements", _cpu_fast.CHUNK_ELEMENTS, True)
        return _cpu_fast.argmax_cpu(x, reference, *sizes)

    def float_input(applies: Callable[[Tensor, bool], bool]) -> Callable[[Tensor, bool], bool]:
        return lambda x, forced: x.is_floating_point() and x.ndim > 0 and applies(x, forced)

    return PathTable(
        "argmax",
        [
            Row("cpu_fast", _eager_cpu, cpu),
            Row("triton", float_input(_opt_in("triton")), _on_rows(lambda rows: _triton("argmax")(rows, zero_rule))),
            Row("compiled", float_input(_opt_in("compiled")), _on_rows(_compiled(reference))),
            Row("reference", lambda x, forced: True, plain),
        ],
    )


def _top_k_reference(predictions: Tensor, targets: Tensor, k: int) -> Tensor:
    if is_compiling():
        return _reference.in_top_k_whole(targets, predictions, k)  # traced: inductor fuses the whole (N stays dynamic)
    return _reference.in_top_k_reference(targets, predictions, k, _tuned("chunk_elements", _reference.CHUNK_ELEMENTS))


def _has_classes(applies: Callable[[Tensor, bool], bool]) -> Callable[[Tensor, bool], bool]:
    return lambda p, forced: p.shape[1] > 0 and applies(p, forced)


# Tables dispatch on their first argument: for top-k, the scores.
_ARGMAX = {True: argmax_table(True), False: argmax_table(False)}
_IN_TOP_K = PathTable(
    "in_top_k",
    [
        Row(
            "cpu_fast",
            lambda p, forced: _eager_cpu(p) and _cpu_fast.in_top_k_applies(p),
            lambda p, t, k: _cpu_fast.in_top_k_cpu(t, p, k, _tuned("chunk_elements", _cpu_fast.CHUNK_ELEMENTS, True)),
        ),
        Row("triton", _has_classes(_opt_in("triton")), lambda p, t, k: _triton("in_top_k")(t, p, k)),
        Row("compiled", _has_classes(_opt_in("compiled")), lambda p, t, k, run=_compiled(_reference.in_top_k_whole): run(t, p, k)),
        Row("reference", lambda p, forced: True, _top_k_reference),
    ],
)


# -- the primitives ---------------------------------------------------------------------
def argmax_last(x: Tensor) -> Tensor:
    """``keras.ops.argmax(x, axis=-1)`` on TensorFlow, as int64 (``_tf_rules.argmax_operand``).

    Example:
        >>> argmax_last(torch.tensor([[float("nan"), 1.0, 1.0], [-0.0, 0.0, -1.0]]))
        tensor([1, 1])
    """
    return _ARGMAX[True](x)


def tf_argmax(x: Tensor) -> Tensor:
    """``tf.math.argmax(x, axis=-1)`` as Keras <= 2.2 called it: :func:`argmax_last` without
    Keras 3's ``-0.0`` rule, so ``+0.0`` and ``-0.0`` tie (the first wins).

    Example:
        >>> tf_argmax(torch.tensor([[float("nan"), 1.0, 1.0], [-0.0, 0.0, -1.0]]))
        tensor([1, 0])
    """
    return _ARGMAX[False](x)


def in_top_k(targets: Tensor, predictions: Tensor, k: int) -> Tensor:
    """``tf.math.in_top_k(targets, predictions, k)`` for (B,) int targets and (B, C) scores of any dtype.

    Example:
        >>> in_top_k(torch.tensor([2, 0, 1]), torch.tensor([[0.1, 0.9, 0.9], [1.0, float("inf"), 0.0], [0.5, 0.5, 0.4]]), 1)
        tensor([ True, False,  True])
    """
    return _IN_TOP_K(predictions, targets, k)


def invalid_count(labels: Tensor, num_classes: int, keep: Tensor | None = None) -> Tensor | int:
    """How many labels ``keep`` marks (None: all) are not integers in ``[0, num_classes)``;
    the int 0 when the CPU row proves every label valid (the metric then skips its state update)."""
    if not is_compiling() and _eager_cpu(labels) and _forced() in (None, "cpu_fast"):
        return _cpu_fast.invalid_count_cpu(labels, num_classes, keep)
    return _reference.invalid_count_reference(labels, num_classes, keep)


# -- CPU rows of issue 19 (element-wise kernels) --------------------------------------------
_FLUSH = PathTable("flush", [Row("cpu_fast", _eager_cpu, _cpu_fast.flush_subnormal_cpu), Row("reference", lambda x, forced: True, flush_subnormal)])


def _mean_hits_sum_reference(hits: Tensor, acc: torch.dtype) -> Tensor:
    return hits.to(acc).mean(dim=tuple(range(1, hits.ndim))).sum()


_MEAN_HITS = PathTable(
    "mean hits",
    [
        Row("cpu_fast", lambda x, forced: _eager_cpu(x) and x.dtype == torch.bool and x.ndim > 1, _cpu_fast.mean_hits_sum_cpu),
        Row("reference", lambda x, forced: True, _mean_hits_sum_reference),
    ],
)


def mean_hits_sum(hits: Tensor, acc: torch.dtype) -> Tensor:
    """Keras's per-sample mean of (N, ...) hits over their trailing axes, summed over the
    batch, in ``acc`` (``_reduction.weighted_sums``, unweighted).

    Example:
        >>> mean_hits_sum(torch.tensor([[True, False], [True, True]]), torch.float64)
        tensor(1.5000, dtype=torch.float64)
    """
    return _MEAN_HITS(hits, acc)


def flush_values(x: Tensor) -> Tensor:
    """``_tf_rules.flush_subnormal(x)`` (TensorFlow's FTZ), bit for bit; on the CPU ``x``
    itself (no copy, no multiply) when one pass finds no zero, subnormal or NaN in it.

    Example:
        >>> flush_values(torch.tensor([1e-40, 0.0, 2.0]))
        tensor([0., 0., 2.])
    """
    return _FLUSH(x)


# -- the fused update -------------------------------------------------------------------
Sums = tuple[Tensor, "Tensor | float"]


def fused_sums(
    spec: KernelSpec, y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any], weight: Tensor | None,
    *, mask: object = None, ignore_index: int | None = None, integer: bool = False,
) -> Sums | None:
    """A whole batch's ``(total, count)`` from one fused launch, or None: take the per-sample path.

    The fused kernels take (N,) or (N, 1) labels with (N, C) float scores and no or per-sample
    weights, where the metric adds nothing of its own (no ``mask``, no ``ignore_index``, not an
    ``integer`` result dtype, whose weights Keras truncates).
    """
    if spec.fused is None or mask is not None or ignore_index is not None or integer or config.get("from_sorted_ids"):
        return None
    if is_compiling():
        return None
    if not (y_pred.is_floating_point() and y_pred.ndim == 2 and y_pred.shape[1] > 0):
        return None
    n = y_pred.shape[0]
    if y_true.numel() != n or y_true.ndim > 2:
        return None
    if weight is not None and (weight.ndim == 0 or weight.numel() != n or weight.ndim > 2):
        return None  # a scalar weighs the whole batch; other shapes reduce differently
    if _forced() not in (None, "triton"):
        return None
    return _FUSED(y_pred, spec.fused, y_true.reshape(n), config, weight)


def _fused_triton(y_pred: Tensor, kernel: str, labels: Tensor, config: Mapping[str, Any], weight: Tensor | None) -> Sums:
    # Keras's label cast first, so the kernel compares exactly.
    labels = label_index(labels) if kernel == "in_top_k_count" else class_ids(labels, y_pred.dtype)
    n = y_pred.shape[0]
    total = torch.zeros((), dtype=torch.float64 if weight is not None else torch.int64, device=y_pred.device)
    count = torch.zeros((), dtype=torch.float64, device=y_pred.device) if weight is not None else None
    w = None if weight is None else weight.reshape(n).to(torch.float64)
    if kernel == "in_top_k_count":
        _triton(kernel)(labels, y_pred, config["k"], total, count_out=count, weight=w)
    else:
        _triton(kernel)(y_pred, labels, total, count_out=count, weight=w)
    _record(f"fused {kernel}", "triton")
    return total, (float(n) if count is None else count)


# One row and a declining reference: the per-sample path is the fused update's reference.
_FUSED = PathTable("fused update", [Row("triton", _opt_in("triton"), _fused_triton), Row("reference", lambda x, f: True, lambda *a: None)])
