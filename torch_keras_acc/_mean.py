"""The one stateful piece: Keras's weighted mean of per-sample values.

``KerasMeanMetric`` is our ``MeanMetricWrapper``: a subclass names a kernel
from :mod:`torch_keras_acc.functional` and its keyword arguments; this class
applies Keras's ``sample_weight`` rules and keeps ``total`` and ``count``.

Unlike Keras, the two states are float64 (Keras: float32, whose ``count``
stops growing at 2**24 samples), so results stay exact on any dataset size
(integer counts are exact up to 2**53).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch
from torch import Tensor
from torchmetrics import Metric

from torch_keras_acc._convert import ArrayLike, dtype_name, resolve_dtype, to_tensor
from torch_keras_acc._tf_ops import squeeze_or_expand_to_same_rank

_ACC = torch.float64  # accumulator dtype


def weighted_sums(name: str, values: Tensor, sample_weight: ArrayLike | None) -> tuple[Tensor, Tensor]:
    """This batch's ``(total, count)`` under Keras's ``reduce_to_samplewise_values``.

    Each sample weighs the same, not each element: values are averaged over
    their non-batch axes. With weights, ranks are aligned as in Keras, values
    averaged down to the weights' rank, weights broadcast to the values, and
    ``count`` grows by the weights (averaged over their own trailing axes).
    A scalar weight ``w`` makes the whole batch count as ``w``, as in Keras.
    """
    values = values.to(_ACC)
    if sample_weight is None:
        if values.ndim > 1:
            values = values.mean(dim=tuple(range(1, values.ndim)))
        n = values.shape[0] if values.ndim else 1
        return values.sum(), torch.tensor(float(n), dtype=_ACC, device=values.device)

    w = to_tensor(sample_weight, "sample_weight", name, values.device)
    if w.dtype == torch.bool or not w.is_floating_point():
        w = w.to(_ACC)
    w = w.to(_ACC)
    v_shape, w_shape = tuple(values.shape), tuple(w.shape)
    values, w = squeeze_or_expand_to_same_rank(values, w)
    w_ndim = w.ndim
    if values.ndim > w_ndim:
        values = values.mean(dim=tuple(range(w_ndim, values.ndim)))
    try:
        w = torch.broadcast_to(w, values.shape)
    except RuntimeError:
        raise ValueError(
            f"{name}: sample_weight of shape {w_shape} cannot be broadcast to the per-sample values of shape "
            f"{v_shape}; expected a scalar or a shape matching the leading axes of y_true, e.g. (N,), (N, 1) or (N, T)"
        ) from None
    values = values * w
    if w_ndim > 1:
        w = w.mean(dim=tuple(range(1, w_ndim)))
    if values.ndim > 1:
        values = values.mean(dim=tuple(range(1, values.ndim)))
    return values.sum(), w.sum()


class KerasMeanMetric(Metric):
    """Weighted mean of a per-sample Keras kernel, as a torchmetrics ``Metric``.

    Subclasses set ``_fn`` (a function of :mod:`torch_keras_acc.functional`)
    and pass its keyword arguments as ``fn_kwargs``; each becomes an attribute
    (``metric.k``, ``metric.threshold``) and part of ``get_config()``.

    Both spellings work: ``update(preds, target)`` / ``update_state(y_true,
    y_pred)``, ``compute()`` / ``result()``, ``reset()`` / ``reset_state()``.
    """

    is_differentiable: ClassVar[bool] = False
    higher_is_better: ClassVar[bool] = True
    full_state_update: ClassVar[bool] = False
    plot_lower_bound: ClassVar[float] = 0.0
    plot_upper_bound: ClassVar[float] = 1.0

    _fn: ClassVar[Callable[..., Tensor]]
    total: Tensor
    count: Tensor

    def __init__(self, name: str, dtype: Any = None, fn_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.result_dtype = resolve_dtype(dtype)
        self._fn_kwargs = dict(fn_kwargs or {})
        for key, value in self._fn_kwargs.items():
            setattr(self, key, value)
        # dist_reduce_fx="sum": the synced state is the sum over ranks, exact in float64.
        self.add_state("total", torch.tensor(0.0, dtype=_ACC), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0, dtype=_ACC), dist_reduce_fx="sum")

    # -- torchmetrics spelling ------------------------------------------------
    def update(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None) -> None:
        """Accumulate a batch. Every check runs before the state changes."""
        values = self._per_sample(target, preds)
        total, count = weighted_sums(self.name, values, sample_weight)
        self.total += total
        self.count += count

    def _per_sample(self, target: ArrayLike, preds: ArrayLike) -> Tensor:
        """The kernel's per-sample values for this batch (Keras order inside)."""
        return type(self)._fn(target, preds, device=self.device, **self._fn_kwargs)

    def compute(self) -> Tensor:
        """Weighted mean so far; 0.0 when the total weight is 0, like Keras's ``divide_no_nan``."""
        mean = torch.where(self.count == 0, torch.zeros_like(self.total), self.total / self.count)
        return mean.to(self.result_dtype)

    # -- Keras spelling -------------------------------------------------------
    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None) -> None:
        """Keras's argument order: ``update_state(y_true, y_pred, sample_weight=None)``."""
        self.update(y_pred, y_true, sample_weight)

    def result(self) -> Tensor:
        """Keras's name for :meth:`compute`."""
        return self.compute()

    def reset_state(self) -> None:
        """Keras's name for :meth:`reset`."""
        self.reset()

    # -- config ---------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Keras's config dict: ``name``, ``dtype`` and the kernel's arguments."""
        return {"name": self.name, "dtype": dtype_name(self.result_dtype), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KerasMeanMetric:
        """Build a metric from :meth:`get_config` output (or Keras's own)."""
        return cls(**config)

    def extra_repr(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return args
