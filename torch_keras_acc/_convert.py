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
    "float8_e4m3fn": torch.float8_e4m3fn,
    "float8_e5m2": torch.float8_e5m2,
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
        t = _from_numpy(x, what, metric)
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


# NumPy extension dtypes (ml_dtypes: what TensorFlow and JAX hand out) that torch holds natively,
# read through an unsigned view of the same width.
_ML_DTYPES = {
    "bfloat16": (np.uint16, torch.bfloat16),
    "float8_e4m3fn": (np.uint8, torch.float8_e4m3fn),
    "float8_e5m2": (np.uint8, torch.float8_e5m2),
}


def _from_numpy(x: np.ndarray, what: str, metric: str) -> Tensor:
    """A tensor sharing or copying ``x``; 0-d arrays stay 0-d (a 0-d weight weighs the
    whole batch, as in Keras: ``np.ascontiguousarray`` would make it (1,))."""
    special = _ML_DTYPES.get(x.dtype.name)
    if special is None and (x.dtype == object or x.dtype.kind in "USV"):
        raise TypeError(f"{metric}: {what} must be numeric, got a NumPy array of dtype {x.dtype}")
    if not x.flags.c_contiguous or not x.flags.writeable:
        x = x.copy()  # negative strides and read-only buffers are not torch's to share
    if special is not None:
        return torch.from_numpy(x.view(special[0])).view(special[1])
    try:
        if x.dtype.kind not in "biufc":
            raise TypeError
        return torch.from_numpy(x)
    except TypeError:
        raise TypeError(f"{metric}: {what} has NumPy dtype {x.dtype}, which torch cannot hold; expected a bool, int or float dtype") from None


_INT_DTYPE_NAMES = {"int8": torch.int8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64, "uint8": torch.uint8}


def resolve_dtype(dtype: Any, name: str = "metric") -> torch.dtype:
    """A torch dtype from Keras's ``dtype=`` (a name, a torch or NumPy dtype, or None for float32).

    Float dtypes are the result's dtype; integer ones are accepted as Keras accepts
    them (its states are then integers: weights truncated, the result float32)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) and (dtype.is_floating_point or dtype in _INT_DTYPE_NAMES.values()):
        return dtype
    key = dtype if isinstance(dtype, str) else getattr(dtype, "__name__", None) if isinstance(dtype, type) else str(dtype)
    if isinstance(dtype, np.dtype):
        key = dtype.name
    if key in _DTYPE_NAMES:
        return _DTYPE_NAMES[key]
    if key in _INT_DTYPE_NAMES:
        return _INT_DTYPE_NAMES[key]
    raise ValueError(f"{name}: dtype must be a float or integer dtype such as 'float32', 'int32' or torch.float64, got {dtype!r}")


def dtype_name(dtype: torch.dtype) -> str:
    """Keras's name for a torch dtype ('float32', ...)."""
    return str(dtype).replace("torch.", "")
