"""The keyword options every public metric spells out, so type checkers catch a typo.

Our own options (``on_invalid``, ``warn_pitfalls``, ``ignore_index``) are named
in each class's signature; torchmetrics' own ``Metric`` keyword arguments are
typed by ``MetricKwargs`` through ``**kwargs: Unpack[MetricKwargs]``, so
``SparseCategoricalAccuracy(warn_pitfals=False)`` or ``sync_on_compute="no"``
is a mypy/pyright error, not only a run-time one.

Example:
    >>> import inspect
    >>> import torch_keras_acc as tka
    >>> list(inspect.signature(tka.SparseCategoricalAccuracy).parameters)
    ['name', 'dtype', 'on_invalid', 'warn_pitfalls', 'ignore_index', 'kwargs']
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional, TypedDict

from torch_keras_acc._mean import OnInvalid

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover  (torch depends on typing_extensions)
    from typing_extensions import Unpack

__all__ = ["MetricKwargs", "OnInvalid", "Unpack"]


class MetricKwargs(TypedDict, total=False):
    """torchmetrics' ``Metric`` keyword arguments (its documentation has the details)."""

    compute_on_cpu: bool
    dist_sync_on_step: bool
    process_group: Optional[Any]
    dist_sync_fn: Optional[Callable[..., Any]]
    distributed_available_fn: Optional[Callable[[], bool]]
    sync_on_compute: bool
    compute_with_cache: bool
