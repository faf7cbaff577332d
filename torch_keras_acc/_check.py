"""``check_kernels()``: verify every Triton kernel on this device now, and say what runs.

The checks themselves (the probe of TensorFlow's edge values, the first real batch, the one
warning and the fallback) are ``_verify.py``'s; this names, for each fused kernel, the Keras
kernel of ``functional.SPECS`` it must agree with.

Example:
    >>> import torch_keras_acc as tka
    >>> report = tka.check_kernels("cpu", dtypes=("float32",), kernels=("binary",))  # interpreted on a CPU
    >>> report.results[0].kernel, report.results[0].status
    ('binary', 'verified')
"""

from __future__ import annotations

from typing import Any, Sequence

from torch_keras_acc import _verify
from torch_keras_acc._verify import KERNELS, KernelReport
from torch_keras_acc.functional import SPECS

__all__ = ["KERNELS", "KernelReport", "check_kernels"]


def check_kernels(device: Any = None, *, dtypes: Sequence[Any] | None = None, kernels: Sequence[str] | None = None) -> KernelReport:
    """Run the first-use checks of every Triton kernel now and report.

    Args:
        device: where to check (default: CUDA when available, else the CPU, interpreted: slow).
        dtypes: scores dtypes (torch dtypes or names; default float16, bfloat16, float32,
            float64 and int32).
        kernels: a subset of ``KERNELS``.

    Returns:
        A ``KernelReport``: ``str(report)`` is the readable form (which path each kernel takes,
        what was verified, what fell back and why), ``report.ok`` whether all passed.
    """
    hits_of: dict[str, Any] = {spec.fused: spec.hits for spec in SPECS.values() if spec.fused is not None}
    return _verify.run_checks(hits_of, device, dtypes=dtypes, kernels=kernels)
