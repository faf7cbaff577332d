"""Warnings that point at the user's line, wherever in the call chain they are raised.

A fixed ``stacklevel`` is right for one path only: ``result()`` adds a frame,
a ``MetricCollection`` or the Hugging Face helper add torchmetrics' frames,
``forward`` adds ``torch.nn.Module``'s. ``user_stacklevel`` walks out of
those frames instead, to the first frame of the caller's own code.

Example:
    >>> import warnings
    >>> from torch_keras_acc._warn import warn_user
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("labels out of range")
    >>> "torch_keras_acc" in caught[0].filename   # attributed to a caller, never to this package
    False
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["user_stacklevel", "warn_user"]

# Modules whose frames are machinery between the user's call and our warning.
_INTERNAL = ("torch_keras_acc", "torchmetrics", "torch.nn.modules", "contextlib", "functools")


def _internal(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in _INTERNAL)


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a ``warnings.warn`` in the calling function point at
    the first frame outside this package, torchmetrics and ``torch.nn.Module``'s call."""
    frame = sys._getframe(1)  # the function that will call warnings.warn: stacklevel 1
    level = 1
    while frame.f_back is not None and _internal(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    return level


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)``, attributed to the user's line."""
    warnings.warn(message, category, stacklevel=user_stacklevel())
