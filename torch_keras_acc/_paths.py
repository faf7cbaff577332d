"""Which implementation of a primitive runs: one table per primitive, and a public switch.

Every primitive of :mod:`torch_keras_acc._tf_ops` (argmax, in_top_k) has
several implementations that give bit-identical answers:

========== =================================================================
path       when it runs by default
========== =================================================================
cpu_fast   eager CPU tensors: one fast reduction, the reference on rare rows
triton     CUDA tensors (``TORCH_KERAS_ACC_TRITON=0``: off): fused kernels, verified at first use
compiled   CUDA tensors, opt-in (``TORCH_KERAS_ACC_COMPILE_CUDA=1``): inductor
reference  everything else: plain PyTorch, the definition of the semantics
========== =================================================================

A table lists its rows in order of preference; the first row that applies to
the input runs (while ``torch.compile`` traces, always the reference, which
inductor fuses). :func:`kernel_path` forces one path inside a ``with`` block
(tests and the benchmark use it; so can a user who wants the reference): the
forced row runs wherever it can run at all (``compiled`` and ``triton`` then
run on the CPU too, the latter under ``TRITON_INTERPRET=1``), and inputs it
cannot take fall back to ``reference``. The block's log records which path
each primitive took.

Example:
    >>> import torch
    >>> import torch_keras_acc as tka
    >>> from torch_keras_acc._tf_ops import argmax_last
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
from typing import Any, Callable, Iterator, Literal

from torch import Tensor

from torch_keras_acc._compat import is_compiling

PathName = Literal["reference", "cpu_fast", "compiled", "triton"]
PATHS: tuple[str, ...] = ("reference", "cpu_fast", "compiled", "triton")

# Defaults for CUDA, read once. Triton: on (when triton imports), each kernel verified at first
# use (_verify.py); TORCH_KERAS_ACC_TRITON=0 switches it off. Compiled: opt-in, never measured.
DEFAULT_ON_CUDA = {
    "triton": os.environ.get("TORCH_KERAS_ACC_TRITON", "1") != "0",
    "compiled": os.environ.get("TORCH_KERAS_ACC_COMPILE_CUDA", "0") == "1",
}


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


def tuned(name: str, default: int) -> int:
    """The size ``name`` ("chunk_elements" or "small_elements") in force: the block's override, else ``default``."""
    if is_compiling():
        return default
    log = _ACTIVE.get()
    value = getattr(log, name) if log is not None else None
    return default if value is None else value


def forced() -> str | None:
    """The path a :func:`kernel_path` block forces now, or None."""
    log = _ACTIVE.get()
    return log.forced if log is not None else None


def record(primitive: str, path: str) -> None:
    """Log that ``primitive`` ran on ``path`` (for work done outside a table: a fused update)."""
    log = _ACTIVE.get()
    if log is not None:
        log.record(primitive, path)


def allows(path: str) -> bool:
    """Whether ``path`` may run now: no block forces another one. For shortcuts that live
    inside a kernel rather than in a table (the CPU's min/max label check)."""
    log = _ACTIVE.get()
    return log is None or log.forced is None or log.forced == path


@dataclass(frozen=True)
class Row:
    """One implementation: ``applies(x, forced)`` says whether it can take input ``x``
    (``forced``: it was asked for by name, so opt-in and device conditions are lifted)."""

    path: str
    applies: Callable[[Tensor, bool], bool]
    run: Callable[..., Tensor]


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
        log = _ACTIVE.get()
        forced = log.forced if log is not None else None
        for row in self.rows:
            if row.path in self._broken or (forced is not None and row.path not in (forced, "reference")):
                continue
            if row.path != "reference" and not row.applies(x, row.path == forced):
                continue
            try:
                out = row.run(x, *args)
            except Exception as err:  # an optional path failed to build: stay exact, lose speed
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
