"""Which implementation runs: the one module that decides the path, and the public switch.

Every primitive (argmax, in_top_k, the invalid-label count) and the fused
whole-batch update have several implementations that give bit-identical answers:

| path | when it runs by default |
|---|---|
| cpu_fast | eager CPU tensors: one fast reduction, the reference on rare rows; plain batches counted into the states |
| triton | CUDA tensors, opt-in (``TORCH_KERAS_ACC_TRITON=1``): fused kernels |
| compiled | CUDA tensors, opt-in (``TORCH_KERAS_ACC_COMPILE_CUDA=1``): inductor |
| reference | everything else: plain PyTorch (``_reference.py``), the definition |

A ``PathTable`` lists a primitive's rows in order of preference; the first
row that applies to the input runs (while ``torch.compile`` traces, always the
reference, which inductor fuses). An optional row that fails at run time (no
compiler, no GPU driver) is dropped for the rest of the process with one warning.
[`kernel_path`][torch_keras_acc.kernel_path] forces one path inside a ``with`` block (tests and the
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

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import Tensor

from torch_keras_acc import _cpu_fast, _fused, _reference, _verify
from torch_keras_acc._compat import is_compiling
from torch_keras_acc._switch import DEFAULT_ON_CUDA, PathLog, active, forced, kernel_path, record, tuned
from torch_keras_acc._spec import KernelSpec
from torch_keras_acc._tf_rules import class_ids, flush_subnormal, label_index

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

    def __call__(self, x: Tensor, *args: Any) -> Tensor:
        if is_compiling():
            # Traced by torch.compile: the reference, whole, which inductor fuses (dynamo
            # cannot trace a ContextVar, and a forced path has no meaning inside a graph).
            return self.rows[-1].run(x, *args)
        log = active()  # read once per call: the hot path
        chosen = log.forced if log is not None else None
        for row in self.rows:
            if row.path in self._broken or (chosen is not None and row.path not in (chosen, "reference")):
                continue
            if row.path != "reference" and not row.applies(x, row.path == chosen):
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
            if log is not None:
                log.record(self.primitive, row.path)
            return out
        raise AssertionError("unreachable: the reference row always runs")  # pragma: no cover


def _eager_cpu(x: Tensor, forced: bool = False) -> bool:
    """The data-dependent CPU rows' condition: a plain (non-traced) CPU tensor with elements."""
    return type(x) is Tensor and x.is_cpu and x.ndim > 0 and x.numel() > 0


def _opt_in(path: str) -> Callable[[Tensor, bool], bool]:
    """A device path's condition: asked for by name (then anywhere: Triton runs CPU tensors in its
    interpreter), or the CUDA default switched on for it."""
    return lambda x, forced: x.numel() > 0 and (forced or (x.is_cuda and DEFAULT_ON_CUDA[path]))


def _verified(kernel: str, applies: Callable[[Tensor, bool], bool]) -> Callable[[Tensor, bool], bool]:
    """A triton row's condition: ``applies``, and the kernel passed its probe at first use (``_verify``)."""
    return lambda x, forced: applies(x, forced) and _verify.usable(kernel, x.dtype, x.device)


def _compiled(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``fn`` compiled by inductor on first use (dynamic shapes, one fused kernel), once per row."""
    compiled: list[Callable[..., Tensor]] = []

    def run(*args: object) -> Tensor:
        if not compiled:
            compiled.append(torch.compile(fn, dynamic=True, fullgraph=True))
        return compiled[0](*args)

    return run


def _triton(name: str) -> Callable[..., Any]:
    """The Triton function ``name`` (``_triton.py``, or its per-primitive ``_triton_wrappers.py``),
    imported on first use (triton is optional)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        from torch_keras_acc import _triton, _triton_wrappers

        if not _triton.AVAILABLE:
            raise RuntimeError("triton is not installed")
        return getattr(_triton_wrappers if hasattr(_triton_wrappers, name) else _triton, name)(*args, **kwargs)

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
        chunk = tuned("chunk_elements", _reference.CHUNK_ELEMENTS)
        return _on_rows(lambda rows: _reference.in_row_chunks(reference, rows, chunk))(x)

    def cpu(x: Tensor) -> Tensor:
        sizes = tuned("small_elements", _cpu_fast.SMALL_ELEMENTS, True), tuned("chunk_elements", _cpu_fast.CHUNK_ELEMENTS, True)
        return _cpu_fast.argmax_cpu(x, reference, *sizes)

    def float_input(applies: Callable[[Tensor, bool], bool]) -> Callable[[Tensor, bool], bool]:
        return lambda x, forced: x.is_floating_point() and x.ndim > 0 and applies(x, forced)

    return PathTable(
        "argmax",
        [
            Row("cpu_fast", _eager_cpu, cpu),
            Row(
                "triton",
                _verified("argmax", float_input(_opt_in("triton"))),
                _on_rows(_verify.first_call("argmax", lambda rows: _triton("argmax")(rows, zero_rule), reference)),
            ),
            Row("compiled", float_input(_opt_in("compiled")), _on_rows(_compiled(reference))),
            Row("reference", lambda x, forced: True, plain),
        ],
    )


def _top_k_reference(predictions: Tensor, targets: Tensor, k: int) -> Tensor:
    if is_compiling():
        return _reference.in_top_k_whole(targets, predictions, k)  # traced: inductor fuses the whole (N stays dynamic)
    return _reference.in_top_k_reference(targets, predictions, k, tuned("chunk_elements", _reference.CHUNK_ELEMENTS))


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
            lambda p, t, k: _cpu_fast.in_top_k_cpu(t, p, k, tuned("chunk_elements", _cpu_fast.CHUNK_ELEMENTS, True)),
        ),
        Row(
            "triton",
            _verified("in_top_k", _has_classes(_opt_in("triton"))),
            _verify.first_call("in_top_k", lambda p, t, k: _triton("in_top_k")(t, p, k), lambda p, t, k: _reference.in_top_k_reference(t, p, k)),
        ),
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
    """``tf.math.argmax(x, axis=-1)`` as Keras <= 2.2 called it: ``argmax_last`` without
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
    if not is_compiling() and _eager_cpu(labels) and forced() in (None, "cpu_fast"):
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
Sums = tuple[Tensor, "Tensor | float"]  # the batch's (total, count); an unweighted count is a host number
States = tuple[Tensor, Tensor, Tensor]


def _cpu_sums(kernel: str) -> Callable[..., Sums | None]:
    """The CPU rows of the fused update: unweighted, unmasked batches that ``_cpu_fast`` counts
    straight into the states where its arithmetic is exact (else None: the per-sample path)."""

    def run(y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any], states: States, log: PathLog | None) -> Sums | None:
        small = _cpu_fast.SMALL_ELEMENTS if log is None or log.small_elements is None else log.small_elements
        if kernel == "sparse_argmax":
            return _cpu_fast.sparse_small_sums(y_true, y_pred, states[0], states[1], small)
        chunk = _cpu_fast.CHUNK_ELEMENTS if log is None or log.chunk_elements is None else log.chunk_elements
        return _cpu_fast.elementwise_sums(kernel, y_true, y_pred, config, states[0], states[1], chunk, small)

    return run


_CPU_SUMS = {kernel: _cpu_sums(kernel) for kernel in ("sparse_argmax", "binary", "equal")}


def triton_in_force(device: torch.device) -> bool:
    """Whether the triton path is in force for a batch on ``device``: forced by
    ``kernel_path("triton")`` (CPU tensors: interpreted), or CUDA's default (each kernel
    verified at first use, ``_verify.py``). Never while torch.compile traces."""
    if is_compiling():
        return False  # traced: the reference, which inductor fuses
    path = forced()
    if path not in (None, "triton") or (path is None and (device.type != "cuda" or not DEFAULT_ON_CUDA["triton"])):
        return False  # decided before importing triton: a CPU update never pays for it
    from torch_keras_acc import _triton

    return _triton.AVAILABLE and device.type in ("cuda", "cpu")


def fused_sums(
    spec: KernelSpec, y_true: Tensor, y_pred: Tensor, config: Mapping[str, Any], weight: Tensor | None,
    *, mask: object, ignore_index: int | None, integer: bool, states: States, reference: Callable[[], Any],
) -> Sums | None:
    """A whole batch in one fused launch that adds into ``states`` (total, count, invalid) and
    returns the batch's own ``(total, count)``; or None: nothing was added, take the per-sample path.

    On the triton path, ``_fused.PLANNERS[spec.fused]`` maps the batch onto one launch (shapes,
    every weight form, ``mask``, ``ignore_index``) or declines. ``reference``: this batch's sums on
    the reference path, for the first-use check of kernel x dtype x device (``_verify.py``). On the
    CPU (``cpu_fast``), ``_CPU_SUMS`` counts an unweighted, unmasked batch of the sparse, binary and
    equality kernels straight into the states where that is exact, or declines. Not for an
    ``integer`` result dtype, whose weights Keras truncates, nor for ``label_cast="keras3"`` (both
    compare class ids exactly).
    """
    if spec.fused is None or integer or is_compiling():
        return None
    log = active()
    if not y_pred.is_cuda and (log is None or log.forced in (None, "cpu_fast")):
        # The common CPU update: a plain batch counted in a few ops (_CPU_SUMS), or the per-sample path.
        lane = _CPU_SUMS.get(spec.fused)
        if lane is None or weight is not None or mask is not None or ignore_index is not None or config.get("label_cast") == "keras3":
            return None
        sums = lane(y_true, y_pred, config, states, log)
        if sums is not None and log is not None:
            log.record(f"fused {spec.fused}", "cpu_fast")
        return sums
    if log is None and not DEFAULT_ON_CUDA["triton"]:
        return None
    if config.get("label_cast") == "keras3" or not triton_in_force(y_pred.device):
        return None
    sums = _fused.PLANNERS[spec.fused](y_true, y_pred, config, weight, mask, ignore_index, states, reference, spec.hits)
    if sums is not None:
        record(f"fused {spec.fused}", "triton")
    return sums
