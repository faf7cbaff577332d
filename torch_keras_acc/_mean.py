"""The one stateful piece: Keras's weighted mean of per-sample values.

``KerasMeanMetric`` is our ``MeanMetricWrapper``: a subclass names the
:class:`~torch_keras_acc._spec.KernelSpec` of its kernel; this class applies
Keras's ``sample_weight`` and mask rules and keeps ``total`` and ``count``.
It reads nothing about a subclass but its spec and its constructor arguments.

Unlike Keras, the two states are float64 (Keras: float32, whose ``count``
stops growing at 2**24 samples), so results stay exact on any dataset size
(integer counts are exact up to 2**53).

Example:
    >>> import torch_keras_acc as tka
    >>> m = tka.SparseCategoricalAccuracy(ignore_index=-100)
    >>> m.update([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], [1, -100, 0])
    >>> m.result()
    tensor(0.5000)
"""

from __future__ import annotations

import warnings
import zlib
from typing import Any, ClassVar, Literal, Mapping, Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from torch_keras_acc._compat import CompatMetric, accumulator_dtype, add_to, is_compiling
from torch_keras_acc._convert import ArrayLike, dtype_name, resolve_dtype, to_tensor
from torch_keras_acc._pitfalls import KerasPitfallWarning
from torch_keras_acc._spec import KernelSpec
from torch_keras_acc._tf_ops import flush_subnormal, squeeze_or_expand_to_same_rank

OnInvalid = Literal["warn", "raise", "ignore"]
ON_INVALID = ("warn", "raise", "ignore")
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


def apply_mask(name: str, sample_weight: Tensor | None, mask: Tensor | None) -> Tensor | None:
    """Keras's ``losses.loss.apply_mask(..., reduction="sum")``: the mask becomes 0/1
    weights, multiplied into ``sample_weight`` (ranks aligned as Keras aligns them)."""
    if mask is None:
        return sample_weight
    float_mask = mask.to(sample_weight.dtype if sample_weight is not None else torch.float64)
    if sample_weight is None:
        return float_mask
    m, w = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    if m.ndim != w.ndim and w.ndim > 0:
        # Keras broadcasts (N,) weights against an (N, T) mask from the last axis: an error,
        # or, when N == T, each token weighed by its position's weight. Neither is meant.
        raise ValueError(
            f"{name}: sample_weight of shape {tuple(sample_weight.shape)} cannot be combined with a mask of shape "
            f"{tuple(mask.shape)}; pass one weight per masked position (e.g. sample_weight[:, None].expand_as(mask))"
        )
    try:
        return w * m
    except RuntimeError:
        raise ValueError(
            f"{name}: sample_weight of shape {tuple(sample_weight.shape)} and mask of shape {tuple(mask.shape)} cannot be broadcast"
        ) from None


def weighted_sums(name: str, values: Tensor, sample_weight: Tensor | None, integer: bool = False) -> tuple[Tensor, Tensor | float]:
    """This batch's ``(total, count)`` under Keras's ``reduce_to_samplewise_values``.

    Each sample weighs the same, not each element: values are averaged over
    their non-batch axes. With weights, ranks are aligned as in Keras, values
    averaged down to the weights' rank, weights broadcast to the values, and
    ``count`` grows by the weights (averaged over their own trailing axes).
    A scalar weight ``w`` makes the whole batch count as ``w``, as in Keras.
    Unweighted, ``count`` is a Python number: the batch size is known on the
    host, so it costs no tensor and no device work; and bool values (hits) are
    counted, so ``total`` is then an int64 tensor. ``integer``: the metric's dtype
    is an integer one, and Keras then truncates weights and each batch's sums.
    """
    acc = accumulator_dtype(values)
    if sample_weight is None:
        n = values.shape[0] if values.ndim else 1
        if values.ndim > 1:
            total = values.to(acc).mean(dim=tuple(range(1, values.ndim))).sum()
            return (total.trunc() if integer else total), float(n)
        return _exact_sum(values, acc), float(n)

    values = values.to(acc)
    w = sample_weight.to(acc)
    if integer:
        w = w.trunc()  # Keras casts the weights to the metric's integer dtype
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
    total, count = values.sum(), w.sum()
    return (total.trunc(), count.trunc()) if integer else (total, count)


def _ratio(total: Tensor, count: Tensor | float) -> Tensor:
    """``total / count``, 0.0 where ``count`` is 0: Keras's ``divide_no_nan``."""
    if not isinstance(count, Tensor):
        return total / count if count != 0 else torch.zeros_like(total, dtype=torch.float64 if not total.is_floating_point() else None)
    return torch.where(count == 0, torch.zeros_like(total), total / count)


def _check_ignore_index(name: str, value: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"{name}: ignore_index must be an int (e.g. -100) or None, got {value!r}")


class KerasMeanMetric(CompatMetric):
    """Weighted mean of a per-sample Keras kernel, as a torchmetrics ``Metric``.

    A subclass sets ``spec`` (a :class:`~torch_keras_acc._spec.KernelSpec`) and
    passes its Keras arguments as ``config``; each becomes an attribute
    (``metric.k``, ``metric.threshold``) and part of ``get_config()``.

    Both spellings work: ``update(preds, target)`` / ``update_state(y_true,
    y_pred)``, ``compute()`` / ``result()``, ``reset()`` / ``reset_state()``.

    Beyond Keras, every metric takes these keyword-only options:

    * ``on_invalid``: sparse labels outside ``[0, C)`` or non-integral are scored
      as Keras scores them, and counted on the device (no host sync per
      update). ``compute()`` then warns once (``"warn"``, default), raises
      ``ValueError`` (``"raise"``), or says nothing (``"ignore"``).
    * ``warn_pitfalls``: warn once (:class:`KerasPitfallWarning`) when the first
      batch looks like a common mistake, e.g. one-hot labels fed to a sparse
      metric. Value checks run on the first batch only (and not while torch.compile traces).
    * ``ignore_index`` (metrics with class-id labels): labels equal to it are
      neither counted nor reported invalid (PyTorch's ``-100`` padding).

    ``update``, ``update_state`` and ``forward`` also take ``mask=``: a bool
    tensor of the per-sample shape (y_pred's leading axes), applied as Keras
    applies a masked output's ``_keras_mask``: as 0/1 weights, multiplied into
    ``sample_weight``.
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

    spec: ClassVar[KernelSpec | None]  # None: resolved per batch (KerasAccuracy)
    kernel: Tensor  # the identity state
    total: Tensor
    count: Tensor
    invalid: Tensor
    _defaults: dict[str, Any]  # torchmetrics: list | Tensor; ours are all tensors
    _forward_cache: Any  # torchmetrics leaves it unannotated (None)

    def __init__(
        self,
        name: str,
        dtype: Any = None,
        config: Mapping[str, Any] | None = None,
        *,
        on_invalid: OnInvalid = "warn",
        warn_pitfalls: bool = True,
        ignore_index: int | None = None,
        identity: tuple = (),
        **kwargs: Any,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a str, got {name!r}")
        if on_invalid not in ON_INVALID:
            raise ValueError(f"{name}: on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        result_dtype = resolve_dtype(dtype, name)
        ignore_index = _check_ignore_index(name, ignore_index)
        config = self._check_config(name, dict(config or {}), ignore_index)
        super().__init__(**kwargs)
        self.name = name
        self.dtype_config = result_dtype  # Keras's dtype=, as given (an integer one is allowed)
        # The result dtype: Keras divides integer states into float32.
        self.result_dtype = result_dtype if result_dtype.is_floating_point else torch.float32
        self.on_invalid = on_invalid
        self.warn_pitfalls = bool(warn_pitfalls)
        self.ignore_index = ignore_index
        self._config = config
        for key, value in config.items():
            setattr(self, key, value)
        # The identity comes first: MetricCollection's compute groups merge metrics whose
        # states are equal after the first batch, and torchmetrics < 1.6.2 compares the
        # first state only. It names the class and the full configuration, so two
        # different metrics of ours never look equal. dist_reduce_fx="max": all ranks agree.
        signature = repr((type(self).__qualname__, sorted(config.items()), ignore_index, identity))
        # (Named "kernel" since 0.1, so checkpoints taken with persistent(True) still load.)
        self.add_state("kernel", torch.tensor(zlib.crc32(signature.encode()) & 0x7FFFFFFF, dtype=torch.int64), dist_reduce_fx="max")
        # dist_reduce_fx="sum": the synced state is the sum over ranks, exact in float64.
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("invalid", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self._pitfalls_checked = False
        self._invalid_reported = False
        self._in_forward = False

    @classmethod
    def _check_config(cls, name: str, config: dict[str, Any], ignore_index: int | None) -> dict[str, Any]:
        """The constructor's arguments, checked against the class's spec (at construction, not at update)."""
        if cls.spec is None:  # resolved per batch; checked there
            return dict(config)
        if ignore_index is not None and cls.spec.labels != "class_ids":
            raise ValueError(f"{name}: ignore_index applies to metrics of integer class labels; {cls.__name__} takes {cls.spec.labels} labels")
        return cls.spec.check_config(name, config)

    # -- accumulating ---------------------------------------------------------
    def update(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None, mask: ArrayLike | None = None) -> None:
        """Accumulate a batch. Every check runs before the state changes."""
        self._accumulate(preds, target, sample_weight, mask)

    def _batch_value(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None, mask: ArrayLike | None = None) -> Tensor:
        total, count = self._accumulate(preds, target, sample_weight, mask)
        return _ratio(total.to(self.total.dtype), count).to(self.result_dtype)  # int64 when counted

    def _batch_spec(self, y_true: Tensor, y_pred: Tensor) -> tuple[KernelSpec, Mapping[str, Any]]:
        """The kernel for this batch and its config: the class's own (``KerasAccuracy`` resolves one)."""
        assert self.spec is not None, "a class without a spec resolves one per batch"
        return self.spec, self._config

    def _accepted(self, spec: KernelSpec, y_true: Tensor, y_pred: Tensor) -> None:
        """Called once a batch has been added to the state (``KerasAccuracy`` fixes its variant)."""

    def _accumulate(
        self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None, mask: ArrayLike | None
    ) -> tuple[Tensor, Tensor | float]:
        """Add a batch to the state; return the batch's own ``(total, count)``."""
        # Convert once: lists and NumPy arrays are copied here and nowhere else.
        y_pred = to_tensor(preds, "y_pred", self.name, self.device)
        y_true = to_tensor(target, "y_true", self.name, self.device)
        spec, config = self._batch_spec(y_true, y_pred)
        weight = None if sample_weight is None else to_tensor(sample_weight, "sample_weight", self.name, self.device)
        if weight is not None and weight.is_floating_point():
            weight = flush_subnormal(weight)  # TensorFlow's FTZ: a subnormal float32 weight counts as 0, in total and count
        sums = None
        if spec.fused is not None and mask is None and self.ignore_index is None and self.dtype_config.is_floating_point:
            sums = spec.fused(y_true, y_pred, config, weight)  # one launch, or None: this batch takes the hits path
        keep = None
        if sums is None:
            try:
                hits = spec.hits(y_true, y_pred, device=self.device, **config)
            except ValueError as err:
                hints = spec.pitfalls(y_true, y_pred, config, values_too=False)
                if not hints:
                    raise
                raise ValueError(f"{err}. Likely cause: {' '.join(hints)}") from None
            keep = self._keep(y_true, hits, mask)
            weight = apply_mask(self.name, weight, keep)
            sums = weighted_sums(self.name, hits, weight, integer=not self.dtype_config.is_floating_point)
            if keep is not None and spec.invalid_labels is not None:  # class-id kernels: one hit per label
                # (a mask (N, 1) against hits squeezed to (N,), as when T = 1: the same samples)
                keep = keep.reshape(hits.shape) if keep.numel() == hits.numel() else torch.broadcast_to(keep, hits.shape)
                keep = keep.reshape(y_true.shape)
        total, count = sums
        invalid = None
        if spec.invalid_labels is not None:
            invalid = spec.invalid_labels(y_true, y_pred, config, keep)
        if self.warn_pitfalls and not self._pitfalls_checked and not is_compiling():  # value checks read the host
            self._warn_pitfalls(spec, config, y_true, y_pred)
        # In place: no module __setattr__ per step (torchmetrics' reset() installs fresh tensors).
        add_to(self.total, total)
        add_to(self.count, count)
        if isinstance(invalid, Tensor):  # an int is 0: nothing to add
            add_to(self.invalid, invalid)
        self._accepted(spec, y_true, y_pred)
        return total, count

    def _keep(self, y_true: Tensor, hits: Tensor, mask: ArrayLike | None) -> Tensor | None:
        """The per-sample positions that count (shape of ``hits``), from ``mask`` and ``ignore_index``; None: all."""
        keep = None
        if mask is not None:
            keep = to_tensor(mask, "mask", self.name, hits.device)
            if keep.dtype != torch.bool:
                raise TypeError(f"{self.name}: mask must be a bool tensor (True: counted), got dtype {keep.dtype}")
            # Keras's reduction aligns weights with the leading axes of the values.
            aligned, values = squeeze_or_expand_to_same_rank(keep, hits)
            if aligned.ndim > values.ndim or any(m not in (v, 1) for m, v in zip(aligned.shape, values.shape)):
                raise ValueError(
                    f"{self.name}: mask of shape {tuple(keep.shape)} does not fit the per-sample values of shape "
                    f"{tuple(hits.shape)}; expected y_pred's leading shape, e.g. (N,) or (N, T)"
                )
        if self.ignore_index is not None:
            labels = y_true != self.ignore_index
            if labels.numel() != hits.numel():
                raise ValueError(f"{self.name}: ignore_index needs one label per sample; y_true has shape {tuple(y_true.shape)}")
            labels = labels.reshape(hits.shape)
            if keep is not None:
                labels, keep = squeeze_or_expand_to_same_rank(labels, keep)
                try:
                    keep = labels & keep
                except RuntimeError:
                    raise ValueError(f"{self.name}: mask of shape {tuple(keep.shape)} does not match the samples' shape {tuple(hits.shape)}") from None
            else:
                keep = labels
        return keep

    def _warn_pitfalls(self, spec: KernelSpec, config: Mapping[str, Any], y_true: Tensor, y_pred: Tensor) -> None:
        self._pitfalls_checked = True  # value rules read the first batch only: one host sync per metric
        for message in spec.pitfalls(y_true, y_pred, config):
            warnings.warn(f"{self.name} ({type(self).__name__}): {message} (warn_pitfalls=False silences this)", KerasPitfallWarning, stacklevel=5)

    # -- results --------------------------------------------------------------
    def compute(self) -> Tensor:
        """Weighted mean so far; 0.0 when the total weight is 0, like Keras's ``divide_no_nan``."""
        if self.on_invalid != "ignore" and not self.__dict__.get("_in_forward"):
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

    # -- Keras spelling -------------------------------------------------------
    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None, mask: ArrayLike | None = None) -> None:
        """Keras's argument order: ``update_state(y_true, y_pred, sample_weight=None)``."""
        self.update(y_pred, y_true, sample_weight, mask)

    def result(self) -> Tensor:
        """Keras's name for :meth:`compute`."""
        return self.compute()

    def reset_state(self) -> None:
        """Keras's name for :meth:`reset`."""
        self.reset()

    # -- config ---------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Keras's config dict: ``name``, ``dtype`` and the kernel's arguments
        (``ignore_index`` too when set; Keras has none)."""
        config = {"name": self.name, "dtype": dtype_name(self.dtype_config), **self._config_for_keras()}
        if self.ignore_index is not None:
            config["ignore_index"] = self.ignore_index
        return config

    def _config_for_keras(self) -> dict[str, Any]:
        assert self.spec is not None
        omit = self.spec.omit_default
        return {k: v for k, v in self._config.items() if not (k in omit and v == self.spec.defaults.get(k))}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KerasMeanMetric:
        """Build a metric from :meth:`get_config` output (or Keras's own)."""
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())

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
