"""Turning user inputs (tensors, NumPy arrays, nested lists) into tensors."""

from __future__ import annotations

from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[Tensor, np.ndarray, list, tuple, float, int, bool]

_DTYPE_NAMES = {
    "float16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float": torch.float32,
    "float64": torch.float64,
    "double": torch.float64,
}


def to_tensor(x: Any, what: str, metric: str, device: torch.device | None = None) -> Tensor:
    """A tensor for ``x`` (``what`` and ``metric`` name it in errors).

    Python lists follow Keras's ``convert_to_tensor``: floats become float32,
    ints an integer tensor, bools bool. Tensors keep their dtype and move to
    ``device`` when one is given. Inputs never carry autograd history further.
    """
    if type(x) is Tensor and not x.requires_grad and not x.is_complex() and (device is None or x.device == device):
        return x  # the common call, every training step: nothing to do
    if isinstance(x, Tensor):
        t = x.detach()
    elif isinstance(x, np.ndarray):
        if x.dtype == object or x.dtype.kind in "USV":
            raise TypeError(f"{metric}: {what} must be numeric, got a NumPy array of dtype {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, (list, tuple, float, int, bool, np.generic)):
        try:
            t = torch.as_tensor(x)
        except (ValueError, TypeError, RuntimeError) as e:
            raise ValueError(
                f"{metric}: {what} could not be read as a rectangular numeric array ({e}); "
                "expected a tensor, a NumPy array or a nested list of numbers of equal lengths"
            ) from None
        if t.is_floating_point():
            t = t.to(torch.float32)  # Keras's floatx, whatever torch's default dtype
    elif x is None:
        raise TypeError(f"{metric}: {what} is None; expected a tensor, a NumPy array or a list")
    else:
        raise TypeError(f"{metric}: {what} has unsupported type {type(x).__name__}; expected a tensor, a NumPy array or a list")
    if t.is_complex():
        raise TypeError(f"{metric}: {what} is complex ({t.dtype}); accuracy needs real numbers")
    if device is not None and t.device != device:
        t = t.to(device)
    return t


def resolve_dtype(dtype: Any) -> torch.dtype:
    """A torch floating dtype from Keras's ``dtype=`` (a name, a torch dtype, or None for float32)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPE_NAMES:
        return _DTYPE_NAMES[dtype]
    raise ValueError(f"dtype must be a floating dtype such as 'float32' or torch.float64, got {dtype!r}")


def dtype_name(dtype: torch.dtype) -> str:
    """Keras's name for a torch dtype ('float32', ...)."""
    return str(dtype).replace("torch.", "")
