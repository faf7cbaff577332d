"""The one stateful piece: Keras's weighted mean of per-sample values.

``KerasMeanMetric`` is our ``MeanMetricWrapper``: a subclass names a kernel
from :mod:`torch_keras_acc.functional` and its keyword arguments; this class
applies Keras's ``sample_weight`` rules and keeps ``total`` and ``count``.

Unlike Keras, the two states are float64 (Keras: float32, whose ``count``
stops growing at 2**24 samples), so results stay exact on any dataset size
(integer counts are exact up to 2**53).
"""

from __future__ import annotations

import functools
import warnings
import zlib
from typing import Any, Callable, ClassVar, Literal, Sequence, cast

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.exceptions import TorchMetricsUserError

from torch_keras_acc._convert import ArrayLike, dtype_name, resolve_dtype, to_tensor
from torch_keras_acc._pitfalls import KerasPitfallWarning, rules_for
from torch_keras_acc._tf_ops import _is_compiling, squeeze_or_expand_to_same_rank
from torch_keras_acc.functional import _invalid_count, sparse_categorical_accuracy, sparse_top_k_categorical_accuracy

_ACC = torch.float64  # accumulator dtype
_EXACT_STATES = ("total", "count")  # float64, never cast by .to(dtype) / .half()
_INT_STATES = ("invalid", "kernel")


def _acc_dtype(where: Tensor | torch.device) -> torch.dtype:
    """float64, except on Apple's MPS, which has none: float32 there (exact up to 2**24 samples)."""
    mps = where.is_mps if isinstance(where, Tensor) else where.type == "mps"  # is_mps: no device object per update
    return torch.float32 if mps else _ACC


# Kernels whose y_true holds class indices (legacy.py registers its own).
_SPARSE_LABEL_KERNELS: set = {sparse_categorical_accuracy, sparse_top_k_categorical_accuracy}


_SUM_CHUNK = 1 << 18


def _exact_sum(values: Tensor, acc: torch.dtype) -> Tensor:
    """``values.sum(dtype=acc)``, exactly: bools are counted (an int64, one cheap pass);
    other values summed in chunks on large inputs, since one casting reduction over
    millions of CPU elements allocates (and page-faults) a fresh buffer on every call."""
    if values.dtype == torch.bool:
        return torch.count_nonzero(values)
    if values.numel() <= _SUM_CHUNK:
        return values.sum(dtype=acc)
    flat = values.reshape(-1)
    return torch.stack([chunk.sum(dtype=acc) for chunk in flat.split(_SUM_CHUNK)]).sum()


def weighted_sums(name: str, values: Tensor, sample_weight: ArrayLike | None) -> tuple[Tensor, Tensor | float]:
    """This batch's ``(total, count)`` under Keras's ``reduce_to_samplewise_values``.

    Each sample weighs the same, not each element: values are averaged over
    their non-batch axes. With weights, ranks are aligned as in Keras, values
    averaged down to the weights' rank, weights broadcast to the values, and
    ``count`` grows by the weights (averaged over their own trailing axes).
    A scalar weight ``w`` makes the whole batch count as ``w``, as in Keras.
    Unweighted, ``count`` is a Python number: the batch size is known on the
    host, so it costs no tensor and no device work; and bool values (hits) are
    counted, so ``total`` is then an int64 tensor.
    """
    acc = _acc_dtype(values)
    if sample_weight is None:
        n = values.shape[0] if values.ndim else 1
        if values.ndim > 1:
            return values.to(acc).mean(dim=tuple(range(1, values.ndim))).sum(), float(n)
        return _exact_sum(values, acc), float(n)

    values = values.to(acc)
    w = to_tensor(sample_weight, "sample_weight", name, values.device).to(acc)
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


OnInvalid = Literal["warn", "raise", "ignore"]  # for type checkers; ON_INVALID for the runtime check
ON_INVALID = ("warn", "raise", "ignore")


def _add_to(state: Tensor, value: Tensor | float) -> None:
    """``state += value`` in place, for a 0-d state.

    Traced by torch.compile, through a one-element view: inductor on the CPU
    (torch 2.13) silently drops in-place updates of a 0-d float64 tensor that
    is a graph input, and a view of it is updated correctly.
    """
    (state.view(1) if _is_compiling() else state).add_(value)


def _ratio(total: Tensor, count: Tensor | float) -> Tensor:
    """``total / count``, 0.0 where ``count`` is 0: Keras's ``divide_no_nan``."""
    if not isinstance(count, Tensor):
        return total / count if count != 0 else torch.zeros_like(total)
    return torch.where(count == 0, torch.zeros_like(total), total / count)


class KerasMeanMetric(Metric):
    """Weighted mean of a per-sample Keras kernel, as a torchmetrics ``Metric``.

    Subclasses set ``_fn`` (a function of :mod:`torch_keras_acc.functional`)
    and pass its keyword arguments as ``fn_kwargs``; each becomes an attribute
    (``metric.k``, ``metric.threshold``) and part of ``get_config()``.

    Both spellings work: ``update(preds, target)`` / ``update_state(y_true,
    y_pred)``, ``compute()`` / ``result()``, ``reset()`` / ``reset_state()``.

    Beyond Keras, every metric takes two keyword-only options:

    * ``on_invalid``: sparse labels outside ``[0, C)`` or non-integral are scored
      as Keras scores them, and counted on the device (no host sync per
      update). ``compute()`` then warns once (``"warn"``, default), raises
      ``ValueError`` (``"raise"``), or says nothing (``"ignore"``).
    * ``warn_pitfalls``: warn once (:class:`KerasPitfallWarning`) when the first
      batch looks like a common mistake, e.g. one-hot labels fed to a sparse
      metric. Value checks run on the first batch only (and not while torch.compile traces).
    """

    is_differentiable: bool = False
    higher_is_better: bool = True
    full_state_update: bool = False
    plot_lower_bound: float = 0.0
    plot_upper_bound: float = 1.0
    # torch.jit.script (e.g. Lightning's to_torchscript) compiles a metric as torchmetrics'
    # own: a placeholder whose forward is unused. TorchScript cannot read the string annotations
    # of the attributes below (from __future__ import annotations) nor our _update_count property.
    __jit_ignored_attributes__: ClassVar[list[str]] = [
        *Metric.__jit_ignored_attributes__, "total", "count", "invalid", "kernel", "_traced_updates", "_defaults", "_forward_cache"
    ]
    __jit_unused_properties__: ClassVar[list[str]] = [*Metric.__jit_unused_properties__, "_update_count", "update_called", "update_count"]

    _fn: ClassVar[Callable[..., Tensor]]
    total: Tensor
    count: Tensor
    invalid: Tensor
    kernel: Tensor
    _traced_updates: Tensor
    _defaults: dict[str, Any]  # torchmetrics: list | Tensor; ours are all tensors
    _forward_cache: Any  # torchmetrics leaves it unannotated (None)

    def __init__(
        self,
        name: str,
        dtype: Any = None,
        fn_kwargs: dict[str, Any] | None = None,
        *,
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        **kwargs: Any,
    ) -> None:
        if on_invalid not in ON_INVALID:
            raise ValueError(f"{name}: on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        super().__init__(**kwargs)
        self.name = name
        self.result_dtype = resolve_dtype(dtype)
        self.on_invalid = on_invalid
        self.warn_pitfalls = bool(warn_pitfalls)
        self._fn_kwargs = dict(fn_kwargs or {})
        for key, value in self._fn_kwargs.items():
            setattr(self, key, value)
        # dist_reduce_fx="sum": the synced state is the sum over ranks, exact in float64.
        self.add_state("total", torch.tensor(0.0, dtype=_ACC), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0, dtype=_ACC), dist_reduce_fx="sum")
        self.add_state("invalid", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        # A constant naming the kernel and its arguments. MetricCollection's compute
        # groups merge metrics whose states are equal after the first batch; with this
        # state, two different metrics of ours never look equal.
        self.add_state("kernel", torch.tensor(self._kernel_id(), dtype=torch.int64), dist_reduce_fx="max")
        # Updates run traced by torch.compile are counted here (see _update_count).
        self.register_buffer("_traced_updates", torch.tensor(0, dtype=torch.int64), persistent=False)
        self._pitfalls_checked = False
        self._invalid_reported = False
        self._in_forward = False

    def _kernel_id(self) -> int:
        signature = repr((type(self).__name__, sorted(self._fn_kwargs.items()), getattr(self, "semantics", None)))
        return zlib.crc32(signature.encode()) & 0x7FFFFFFF

    def _wrap_update(self, update: Callable) -> Callable:
        """torchmetrics' bookkeeping around ``update``, without its per-step costs.

        The same ``_computed`` / ``_update_count`` bookkeeping, written to the
        instance dict (``nn.Module.__setattr__`` costs microseconds a call), and
        no grad-mode context: inputs are detached on the way in, so no graph
        can form. This matters for small batches, where overhead is the cost.
        """

        @functools.wraps(update)
        def wrapped(*args: Any, **kwargs: Any) -> None:
            self._count_update()
            update(*args, **kwargs)

        return wrapped

    def _count_update(self) -> None:
        d = self.__dict__
        d["_computed"] = None
        if _is_compiling():
            # torch.compile treats an int attribute as a constant: incrementing
            # one would recompile the caller on every step. A tensor it is not.
            self._traced_updates.add_(1)
            d["_traced"] = True
        else:
            d["_eager_update_count"] += 1

    @property
    def _update_count(self) -> int:
        """torchmetrics' count of updates since the last reset, compiled ones included."""
        d = self.__dict__
        count = d.get("_eager_update_count", 0)
        if d.get("_traced"):  # read the device only once a traced update ran: no sync otherwise
            count += int(self._traced_updates)
        return count

    @_update_count.setter
    def _update_count(self, value: int) -> None:  # torchmetrics sets it (0 in reset, sums in merge_state)
        d = self.__dict__
        d["_eager_update_count"] = value
        if d.get("_traced"):
            self._traced_updates.zero_()
            d["_traced"] = False

    # -- torchmetrics spelling ------------------------------------------------
    def update(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None) -> None:
        """Accumulate a batch. Every check runs before the state changes."""
        self._accumulate(preds, target, sample_weight)

    def _accumulate(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None) -> tuple[Tensor, Tensor | float]:
        """Add a batch to the state; return the batch's own ``(total, count)``."""
        # Convert once: lists and NumPy arrays are copied here and nowhere else.
        preds = to_tensor(preds, "y_pred", self.name, self.device)
        target = to_tensor(target, "y_true", self.name, self.device)
        fn, fn_kwargs = self._kernel(target, preds)
        try:
            # The bool hits behind a functional kernel when it has them (see functional._float32_values).
            values = getattr(fn, "hits", fn)(target, preds, device=self.device, **fn_kwargs)
        except ValueError as err:
            hints = self._pitfalls(fn, fn_kwargs, target, preds, values_too=False)
            if not hints:
                raise
            raise ValueError(f"{err}. Likely cause: {' '.join(hints)}") from None
        total, count = weighted_sums(self.name, values, sample_weight)
        invalid = None
        if fn in _SPARSE_LABEL_KERNELS and not fn_kwargs.get("from_sorted_ids"):
            invalid = _invalid_count(target, preds.shape[-1])
        if self.warn_pitfalls and not self._pitfalls_checked and not _is_compiling():  # value checks read the host
            self._warn_pitfalls(fn, fn_kwargs, target, preds)
        # In place: no module __setattr__ per step (torchmetrics' reset() installs fresh tensors).
        _add_to(self.total, total)
        _add_to(self.count, count)
        if isinstance(invalid, Tensor):  # an int is 0: nothing to add
            _add_to(self.invalid, invalid)
        return total, count

    def _kernel(self, target: ArrayLike, preds: ArrayLike) -> tuple[Callable[..., Tensor], dict[str, Any]]:
        """The per-sample kernel for this batch and its keyword arguments."""
        return type(self)._fn, self._fn_kwargs

    def _pitfalls(
        self, fn: Callable[..., Tensor], fn_kwargs: dict[str, Any], target: ArrayLike, preds: ArrayLike, values_too: bool = True
    ) -> list[str]:
        """Messages of the pitfall rules that match this batch (value rules only if ``values_too``)."""
        try:
            y_pred = to_tensor(preds, "y_pred", self.name, self.device)
            y_true = to_tensor(target, "y_true", self.name, self.device)
        except (TypeError, ValueError):
            return []
        return [msg for rule in rules_for(fn.__name__, fn_kwargs, values_too) if (msg := rule(y_true, y_pred))]

    def _warn_pitfalls(self, fn: Callable[..., Tensor], fn_kwargs: dict[str, Any], target: ArrayLike, preds: ArrayLike) -> None:
        self._pitfalls_checked = True  # value rules read the first batch only: one host sync per metric
        for message in self._pitfalls(fn, fn_kwargs, target, preds):
            warnings.warn(f"{self.name} ({type(self).__name__}): {message} (warn_pitfalls=False silences this)", KerasPitfallWarning, stacklevel=4)

    @torch.jit.unused  # as torchmetrics' Metric.forward: metrics run in Python, not in TorchScript
    def forward(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None) -> Tensor:
        """Accumulate the batch and return its own value, in one pass.

        torchmetrics' generic ``forward`` saves the state, resets, updates,
        computes and merges back; for a weighted mean the batch's ``(total,
        count)`` already give both. With ``dist_sync_on_step=True`` the generic
        path runs, since the batch value must then be synced.
        """
        if self._is_synced:  # torchmetrics' own guard: a synced state holds every rank's sums
            raise TorchMetricsUserError(
                "The Metric shouldn't be synced when performing ``forward``. HINT: Did you forget to call ``unsync`` ?."
            )
        self._in_forward = True
        try:
            if self.dist_sync_on_step:
                return super().forward(preds, target, sample_weight)
            self._count_update()  # the bookkeeping of the wrapped update (see _wrap_update)
            total, count = self._accumulate(preds, target, sample_weight)
            self._forward_cache = _ratio(total.to(self.total.dtype), count).to(self.result_dtype)  # int64 when counted
            return self._forward_cache
        finally:
            self._in_forward = False

    def compute(self) -> Tensor:
        """Weighted mean so far; 0.0 when the total weight is 0, like Keras's ``divide_no_nan``."""
        if self.on_invalid != "ignore" and not self._in_forward:
            self._report_invalid()
        return _ratio(self.total, self.count).to(self.result_dtype)

    def _report_invalid(self) -> None:
        n = int(self.invalid)  # compute() is the one place a host read is expected
        if n == 0:
            return
        message = (
            f"{self.name} ({type(self).__name__}): {n} label(s) were not integers in [0, num_classes); "
            "they were scored as Keras scores them (out of range: a miss; non-integral: a miss for argmax, "
            "truncated toward zero for top-k)"
        )
        if self.on_invalid == "raise":
            if self._is_synced:  # torchmetrics' sync context has no `finally`: leave it unsynced
                self.unsync()
            raise ValueError(message + ". Pass on_invalid='warn' or 'ignore' to accept them.")
        if not self._invalid_reported:
            self._invalid_reported = True
            warnings.warn(message + ". Pass on_invalid='ignore' to silence or 'raise' to fail.", UserWarning, stacklevel=4)

    def _apply(self, fn: Callable, exclude_state: Sequence[str] = ()) -> KerasMeanMetric:
        """Device moves reach every state; dtype casts never reach the accumulators.

        torchmetrics guards ``.half()``/``.double()`` but not ``Module.to(dtype)``, which
        Lightning's ``precision="16-true"`` uses. ``set_dtype()`` stays the explicit opt-in.
        """
        if self._dtype_convert:
            return cast(KerasMeanMetric, super()._apply(fn, exclude_state))
        this = cast(KerasMeanMetric, super()._apply(fn, exclude_state=(*exclude_state, *_EXACT_STATES, *_INT_STATES)))
        device = this.device
        if device.type == "mps" and this.total.dtype == _ACC:
            warnings.warn(f"{this.name}: MPS has no float64; accumulating in float32 there (counts exact up to 2**24 samples)", UserWarning, stacklevel=3)
        for key in (*_EXACT_STATES, *_INT_STATES):
            dtype = _acc_dtype(device) if key in _EXACT_STATES else torch.int64
            this._defaults[key] = this._defaults[key].to(device=device, dtype=dtype)
            setattr(this, key, getattr(this, key).to(device=device, dtype=dtype))
        return this

    def merge_state(self, incoming_state: dict[str, Any] | Metric) -> None:
        """torchmetrics' ``merge_state``, refusing a metric of another configuration (e.g. another k)."""
        if type(incoming_state) is type(self):  # another class: torchmetrics' own error
            mine, theirs = self._merge_key(), incoming_state._merge_key()
            if mine != theirs:
                raise ValueError(f"{self.name}: cannot merge a metric configured as {theirs} into one configured as {mine}")
        elif isinstance(incoming_state, dict):
            kernel = incoming_state.get("kernel", self.kernel)
            if not torch.equal(torch.as_tensor(kernel).to(self.kernel.device), self.kernel):
                raise ValueError(f"{self.name}: the incoming state comes from a metric of another kind or configuration")
            incoming_state = {**incoming_state, "kernel": self.kernel}  # a bare {total, count} dict is fine
        super().merge_state(incoming_state)

    def _merge_key(self) -> tuple:
        config = {k: v for k, v in self.get_config().items() if k not in ("name", "dtype")}
        return type(self).__name__, sorted(config.items())

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

    def plot(self, val: Tensor | Sequence[Tensor] | None = None, ax: Any = None) -> tuple[Any, Any]:
        """Plot one value or a sequence of values with torchmetrics' plotting (needs matplotlib).

        ``val``: a result of ``forward``/``compute``, or a list of them (e.g. one per
        epoch); ``None`` plots ``compute()``. ``ax``: a matplotlib axis to draw on.
        Returns ``(figure, axis)``; the y-axis always shows [0, 1], the metric's range.

        Example:
            >>> import pytest; _ = pytest.importorskip("matplotlib")  # skipped without matplotlib
            >>> import torch
            >>> from torch_keras_acc import SparseCategoricalAccuracy
            >>> metric = SparseCategoricalAccuracy()
            >>> values = [metric(torch.randn(16, 4), torch.randint(0, 4, (16,))) for _ in range(5)]
            >>> fig, ax = metric.plot(values)      # one point per batch
            >>> fig, ax = metric.plot()            # the running result, compute()
        """
        return self._plot(val, ax)
