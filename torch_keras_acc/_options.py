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
    ['name', 'dtype', 'label_cast', 'on_invalid', 'warn_pitfalls', 'ignore_index', 'kwargs']
"""

from __future__ import annotations

import sys
import difflib
from typing import Any, Callable, Iterable, Literal, Mapping, Optional, TypedDict

import numpy as np

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover  (torch depends on typing_extensions)
    from typing_extensions import Unpack

__all__ = ["MetricKwargs", "OnInvalid", "Unpack", "check_option_names", "option_repr"]

# What compute() does with labels that are not integers in [0, C).
OnInvalid = Literal["warn", "raise", "ignore"]
# Names people reach for from other libraries, and ours.
_ALIASES = {"top_k": "k", "topk": "k", "num_top": "k", "ignore_label": "ignore_index", "ignore_idx": "ignore_index"}


class MetricKwargs(TypedDict, total=False):
    """torchmetrics' ``Metric`` keyword arguments (its documentation has the details)."""

    compute_on_cpu: bool
    dist_sync_on_step: bool
    process_group: Optional[Any]
    dist_sync_fn: Optional[Callable[..., Any]]
    distributed_available_fn: Optional[Callable[[], bool]]
    sync_on_compute: bool
    compute_with_cache: bool


def check_option_names(metric: str, given: Mapping[str, Any], options: Iterable[str]) -> None:
    """A ``TypeError`` naming ``metric`` when a keyword in ``given`` (what reached ``**kwargs``)
    is neither torchmetrics' nor ours but looks like one of ``options`` (``top_k=`` -> ``k=``,
    ``warn_pitfals=`` -> ``warn_pitfalls=``); other unknown keywords are left to torchmetrics."""
    known = list(options)
    for key in given:
        if key in MetricKwargs.__annotations__:
            continue
        close = [_ALIASES[key]] if _ALIASES.get(key) in known else difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        if close:
            raise TypeError(f"{metric}: unexpected keyword argument {key!r}; did you mean {close[0]}=?")


def option_repr(value: Any) -> str:
    """``repr``, but a float that is exactly a float32 value (a threshold given as a float32
    tensor) as the float32 a user typed: 0.3, not 0.30000001192092896."""
    if isinstance(value, float) and value == value and float(np.float32(value)) == value:
        return str(np.float32(value))
    return repr(value)
