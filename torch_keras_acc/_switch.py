"""The path switch: which path a ``kernel_path`` block forces, its log, and CUDA's defaults.

Read by the dispatcher (``_dispatch.py``) and the first-use checks (``_verify.py``); it imports
nothing of the package but ``_compat``, so both can use it without an import circle.

Example:
    >>> import torch_keras_acc as tka
    >>> from torch_keras_acc import _switch
    >>> with tka.kernel_path("reference"):
    ...     _switch.forced()
    'reference'
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass, field
from typing import Iterator, Literal

from torch_keras_acc._compat import is_compiling

PathName = Literal["reference", "cpu_fast", "compiled", "triton"]
PATHS: tuple[str, ...] = ("reference", "cpu_fast", "compiled", "triton")

# Defaults for CUDA, read once. Triton: on (when triton imports), each kernel verified at first
# use (_verify.py); TORCH_KERAS_ACC_TRITON=0 switches it off. Compiled: opt-in, never measured.
DEFAULT_ON_CUDA = {
    "triton": os.environ.get("TORCH_KERAS_ACC_TRITON", "1") != "0",
    "compiled": os.environ.get("TORCH_KERAS_ACC_COMPILE_CUDA", "0") == "1",
}


# -- the switch -------------------------------------------------------------------------
@dataclass
class PathLog:
    """What ran inside a [`kernel_path`][torch_keras_acc.kernel_path] block: primitive -> the set of paths taken."""

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
        A [`PathLog`][torch_keras_acc._dispatch.PathLog]; ``log.used`` maps each primitive that ran to the paths it took.
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


def tuned(name: str, default: int, eager: bool = False) -> int:
    """The size ``name`` in force: the block's override, else ``default`` (always, while traced;
    ``eager``: the caller runs only eagerly, so that needs no check)."""
    log = _ACTIVE.get() if eager or not is_compiling() else None
    value = getattr(log, name) if log is not None else None
    return default if value is None else value


def active() -> PathLog | None:
    """The log of the ``kernel_path`` block in force, or None (one ContextVar read: never while traced)."""
    return _ACTIVE.get()


def forced() -> str | None:
    log = _ACTIVE.get()
    return log.forced if log is not None else None


def record(primitive: str, path: str) -> None:
    log = _ACTIVE.get()
    if log is not None:
        log.record(primitive, path)
