"""``MeanMetricWrapper``: any per-sample torch function under Keras's weighted mean.

Keras users write custom metrics as a function ``fn(y_true, y_pred, **kwargs)``
that returns one value per sample (or per element), wrapped in
``keras.metrics.MeanMetricWrapper``. This is the same wrapper on our weighted
mean: ``sample_weight`` broadcasting and reduction, ``mask=``, sync across
processes, collections and ``get_config()``, exactly as for the six accuracy
metrics. The function defines the semantics; a ``KernelSpec`` is built
from it, so the base class reads nothing but that spec.

Example:
    >>> import torch
    >>> import torch_keras_acc as tka
    >>> def squared_error(y_true, y_pred):
    ...     return (y_true - y_pred) ** 2
    >>> mse = tka.MeanMetricWrapper(squared_error, name="mse")
    >>> mse.update_state([[0.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]], sample_weight=[1.0, 3.0])
    >>> mse.result()  # sample means 0.5 and 0.0, weighted 1 : 3
    tensor(0.1250)
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import Tensor

from torch_keras_acc._convert import to_tensor
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc._spec import KernelSpec

__all__ = ["MeanMetricWrapper"]

# Keras's default name for a MeanMetricWrapper without one (``auto_name`` of the class name).
DEFAULT_NAME = "mean_metric_wrapper"


def _as_given(metric: str, value: Any) -> Any:
    """The config check of a wrapped function's keyword argument: the function itself judges it."""
    return value


class _FnValues:
    """The spec's ``hits``: calls ``fn(y_true, y_pred, **kwargs)`` and checks that it
    returned numbers. A class, not a closure, so that the metric pickles (DDP spawn)."""

    def __init__(self, fn: Callable[..., Any], metric: str) -> None:
        self.fn = fn
        self.metric = metric

    def __call__(self, y_true: Tensor, y_pred: Tensor, *, device: torch.device | None = None, **kwargs: Any) -> Tensor:
        values = self.fn(y_true, y_pred, **kwargs)
        if values is None:
            raise TypeError(f"{self.metric}: the wrapped function {_fn_name(self.fn)} returned None; expected one value per sample (a tensor)")
        values = to_tensor(values, "the wrapped function's result", self.metric, device)
        return values.detach()


def _fn_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _fn_identity(fn: Any) -> tuple:
    """What tells two wrapped functions apart in the identity state (MetricCollection's compute
    groups merge metrics whose states are equal: two functions must never look equal). A
    module-level function is named by module and qualified name, stable across processes; a
    lambda, closure, ``partial`` or callable object also by its ``id``."""
    qualname = getattr(fn, "__qualname__", None)
    stable = isinstance(qualname, str) and "<" not in qualname and getattr(fn, "__module__", None) is not None
    return (getattr(fn, "__module__", None), qualname or type(fn).__qualname__) if stable else (type(fn).__qualname__, id(fn))


class MeanMetricWrapper(KerasMeanMetric):
    """Keras's weighted mean of a per-sample function (``keras.metrics.MeanMetricWrapper``).

    Args:
        fn: ``fn(y_true, y_pred, **fn_kwargs)`` returning one value per sample, or per
            element (values are averaged over the trailing axes first, as in Keras).
            It receives tensors on the metric's device; a bool result is counted exactly.
        name: Keras's default is ``"mean_metric_wrapper"`` (``collection([fn])`` and
            Keras's ``compile`` name it ``fn.__name__``).
        dtype: the result dtype, a float dtype (float32 by default).
        **fn_kwargs: passed to ``fn`` on every call and kept in ``get_config()``, as in
            Keras. The keyword-only options of every metric (``on_invalid``,
            ``warn_pitfalls``, ``ignore_index``) and torchmetrics' own (``sync_on_compute``,
            ``process_group``, ...) are taken by the metric, not passed to ``fn``.

    ``get_config()`` holds the function itself under ``"fn"`` (Keras stores its
    registered name), so ``from_config`` round-trips in one process. Use a
    module-level function where the metric is pickled (DDP spawn, Ray): a lambda
    cannot be.
    """

    spec: ClassVar[KernelSpec | None] = None  # built per instance from fn: see _batch_spec
    # Keras can say nothing about a function's range or direction.
    higher_is_better: bool | None = None  # type: ignore[assignment]  # torchmetrics: Optional[bool]
    plot_lower_bound: float | None = None  # type: ignore[assignment]
    plot_upper_bound: float | None = None  # type: ignore[assignment]

    _METRIC_KWARGS: ClassVar[frozenset[str]] = frozenset({"on_invalid", "warn_pitfalls", "ignore_index"})

    def __init__(self, fn: Callable[..., Any], name: str | None = None, dtype: Any = None, **fn_kwargs: Any) -> None:
        label = name if isinstance(name, str) else DEFAULT_NAME
        if not callable(fn):
            raise TypeError(f"{label} (MeanMetricWrapper): fn must be a callable fn(y_true, y_pred, **kwargs), got {fn!r}")
        metric_kwargs = {k: fn_kwargs.pop(k) for k in list(fn_kwargs) if k in self._METRIC_KWARGS or k in _TORCHMETRICS_KWARGS}
        clashes = sorted(k for k in fn_kwargs if hasattr(KerasMeanMetric, k) or k in _RESERVED)
        if clashes:
            raise TypeError(
                f"{label} (MeanMetricWrapper): keyword argument(s) {clashes} for the wrapped function clash with the "
                "metric's own attributes; bind them with functools.partial instead"
            )
        self._fn_spec = KernelSpec(
            name=label,
            hits=_FnValues(fn, label),
            labels="elementwise",
            config={key: _as_given for key in fn_kwargs},
            defaults=dict(fn_kwargs),
        )
        super().__init__(
            DEFAULT_NAME if name is None else name, dtype, fn_kwargs, identity=_fn_identity(fn), **metric_kwargs
        )
        if not self.dtype_config.is_floating_point:
            # Keras casts each value to the integer dtype (truncating) and takes integer means;
            # 0/1 accuracy values survive that, arbitrary values do not: refuse, never a wrong number.
            raise ValueError(f"{self.name} (MeanMetricWrapper): dtype {dtype!r} is an integer dtype; use a float dtype such as 'float32'")
        self.fn = fn

    def _batch_spec(self, y_true: Tensor, y_pred: Tensor) -> tuple[KernelSpec, Mapping[str, Any]]:
        return self._fn_spec, self._config

    def _config_for_keras(self) -> dict[str, Any]:
        """Keras's config beyond ``name`` and ``dtype``: ``fn`` and the function's keyword arguments."""
        return {"fn": self.fn, **self._config}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={_fn_name(v) if k == 'fn' else repr(v)}" for k, v in self.get_config().items())


# Attributes the metric sets itself: a keyword argument of fn by these names would overwrite them.
_RESERVED = frozenset({"fn", "total", "count", "invalid", "kernel", "result_dtype", "dtype_config", "on_invalid", "warn_pitfalls", "ignore_index"})
# torchmetrics' Metric keyword arguments: the metric takes them, the function never does.
_TORCHMETRICS_KWARGS = frozenset(
    {"compute_on_cpu", "dist_sync_on_step", "process_group", "dist_sync_fn", "distributed_available_fn", "sync_on_compute", "compute_with_cache"}
)
