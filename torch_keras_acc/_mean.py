"""The one stateful piece: ``KerasMeanMetric``, Keras's weighted mean of a per-sample kernel.

It keeps the states and runs the update pipeline; it reads nothing about a subclass but its
[`KernelSpec`][torch_keras_acc._spec.KernelSpec] and its constructor arguments. The rules live in the
kernels, ``_reduction``, ``_masks``, ``_dispatch``, ``_pitfalls`` and ``_compat``.

Example:
    >>> import torch_keras_acc as tka
    >>> m = tka.SparseCategoricalAccuracy(ignore_index=-100)
    >>> m.update([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], [1, -100, 0])
    >>> m.result()
    tensor(0.5000)
"""

from __future__ import annotations

import zlib
from typing import Any, ClassVar, Mapping, Sequence

import torch
from torch import Tensor

from torch_keras_acc import _pitfalls as P
from torch_keras_acc._compat import CompatMetric, add_to, is_compiling
from torch_keras_acc._convert import ArrayLike, dtype_name, resolve_dtype, to_tensor
from torch_keras_acc._dispatch import fused_sums
from torch_keras_acc._masks import apply_mask, check_ignore_index, keep_positions
from torch_keras_acc._options import OnInvalid, check_option_names, option_repr
from torch_keras_acc._plot import plot_accuracy
from torch_keras_acc._reduction import divide_no_nan, weighted_sums
from torch_keras_acc._spec import KernelSpec
from torch_keras_acc._tf_rules import flush_subnormal
from torch_keras_acc._warn import warn_user

ON_INVALID = ("warn", "raise", "ignore")


class KerasMeanMetric(CompatMetric):
    """Weighted mean of a per-sample Keras kernel, as a torchmetrics ``Metric``.

    A subclass sets ``spec`` (a [`KernelSpec`][torch_keras_acc._spec.KernelSpec]) and passes its Keras
    arguments as ``config``; each becomes an attribute (``metric.k``) and part of ``get_config()``.
    Both spellings work: ``update(preds, target)`` / ``update_state(y_true, y_pred)``,
    ``compute()`` / ``result()``, ``reset()`` / ``reset_state()``. Keyword-only options:

    * ``on_invalid``: sparse labels outside ``[0, C)`` or non-integral are scored as Keras scores
      them and counted on the device (no host sync per update); ``compute()`` then warns once
      (``"warn"``, default), raises ``ValueError`` (``"raise"``), or says nothing (``"ignore"``).
    * ``warn_pitfalls``: warn once ([`KerasPitfallWarning`][torch_keras_acc.KerasPitfallWarning]) when the first batch looks like
      a common mistake, e.g. one-hot labels fed to a sparse metric (value checks: first batch only).
    * ``ignore_index`` (class-id labels): labels equal to it are neither counted nor reported
      invalid (PyTorch's ``-100`` padding).

    ``update``, ``update_state`` and ``forward`` also take ``mask=``: a bool tensor of y_pred's
    leading shape, applied as Keras applies a masked output's ``_keras_mask`` (0/1 weights,
    multiplied into ``sample_weight``).
    """

    is_differentiable, higher_is_better, full_state_update = False, True, False

    spec: ClassVar[KernelSpec | None]  # None: resolved per batch (KerasAccuracy)
    kernel: Tensor  # the identity state; the others are sums
    total: Tensor; count: Tensor; invalid: Tensor  # noqa: E702

    def __init__(self, name: str, dtype: Any = None, config: Mapping[str, Any] | None = None, *, on_invalid: OnInvalid = "warn",
                 warn_pitfalls: bool = True, ignore_index: int | None = None, identity: tuple = (), **kwargs: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a str, got {name!r}")
        if on_invalid not in ON_INVALID:
            raise ValueError(f"{name}: on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        own = ("name", "dtype", "on_invalid", "warn_pitfalls", "ignore_index", *(self.spec.config if self.spec else ()))
        check_option_names(name, kwargs, own)  # before torchmetrics' bare "Unexpected keyword arguments"
        result_dtype = resolve_dtype(dtype, name)
        ignore_index = check_ignore_index(name, ignore_index)
        # Checked at construction, not at update; a class without a spec checks per batch.
        config = dict(config or {}) if self.spec is None else self.spec.check_config(name, config or {}, ignore_index, type(self).__name__)
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
        # The identity comes first: compute groups merge metrics whose states are equal after the first batch
        # (torchmetrics < 1.6.2 compares the first state only). It names the class and the full configuration,
        # so different metrics never look equal; "max": all ranks agree. ("kernel" since 0.1: checkpoints load.)
        signature = repr((type(self).__qualname__, sorted(config.items()), ignore_index, identity))
        self.add_state("kernel", torch.tensor(zlib.crc32(signature.encode()) & 0x7FFFFFFF, dtype=torch.int64), dist_reduce_fx="max")
        for state, dtype in (("total", torch.float64), ("count", torch.float64), ("invalid", torch.int64)):
            self.add_state(state, torch.tensor(0, dtype=dtype), dist_reduce_fx="sum")  # sums over ranks, exact
        self._pitfalls_checked = self._invalid_reported = self._in_forward = False

    def update(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None, mask: ArrayLike | None = None) -> None:
        """Accumulate a batch. Every check runs before the state changes."""
        self._accumulate(preds, target, sample_weight, mask)

    def _batch_value(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None, mask: ArrayLike | None = None) -> Tensor:
        total, count = self._accumulate(preds, target, sample_weight, mask)
        return divide_no_nan(total.to(self.total.dtype), count).to(self.result_dtype)  # int64 when counted

    def _batch_spec(self, y_true: Tensor, y_pred: Tensor) -> tuple[KernelSpec, Mapping[str, Any]]:
        """The kernel for this batch and its config: the class's own (``KerasAccuracy`` resolves one)."""
        assert self.spec is not None, "a class without a spec resolves one per batch"
        return self.spec, self._config

    def _accepted(self, spec: KernelSpec, y_true: Tensor, y_pred: Tensor) -> None:
        """Called once a batch has been added to the state (``KerasAccuracy`` fixes its variant)."""

    def _accumulate(self, preds: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None, mask: ArrayLike | None) -> tuple[Tensor, Tensor | float]:
        """Add a batch to the state; return the batch's own ``(total, count)``."""
        # Convert once: lists and NumPy arrays are copied here and nowhere else.
        y_pred = to_tensor(preds, "y_pred", self.name, self.device)
        y_true = to_tensor(target, "y_true", self.name, self.device)
        spec, config = self._batch_spec(y_true, y_pred)
        weight = None if sample_weight is None else to_tensor(sample_weight, "sample_weight", self.name, self.device)
        integer = not self.dtype_config.is_floating_point
        # One launch that adds into the states in-kernel (invalid labels too), or None: the hits path.
        sums = fused_sums(spec, y_true, y_pred, config, weight, mask=mask, ignore_index=self.ignore_index, integer=integer,
                          states=(self.total, self.count, self.invalid), reference=lambda: self._sums(spec, config, y_true, y_pred, weight, mask))
        count: Tensor | float
        if sums is not None:
            total, count = sums
        else:
            total, count, invalid = self._sums(spec, config, y_true, y_pred, weight, mask)
            # In place: no module __setattr__ per step (torchmetrics' reset() installs fresh tensors).
            add_to((self.total, total), (self.count, count), *([(self.invalid, invalid)] if isinstance(invalid, Tensor) else []))
        if self.warn_pitfalls and not self._pitfalls_checked and not is_compiling():  # value checks read the host
            self._pitfalls_checked = True  # value rules read the first batch only: one host sync per metric
            P.warn_pitfalls(f"{self.name} ({type(self).__name__})", spec, config, y_true, y_pred)
        self._accepted(spec, y_true, y_pred)
        return total, count

    def _sums(self, spec: KernelSpec, config: Mapping[str, Any], y_true: Tensor, y_pred: Tensor, weight: Tensor | None,
              mask: ArrayLike | None) -> tuple[Tensor, Tensor | float, Tensor | int | None]:
        """The batch's ``(total, count, invalid)`` from the per-sample hits; the states are not touched."""
        try:
            hits = spec.hits(y_true, y_pred, device=self.device, **config)
        except ValueError as err:
            raise P.with_likely_cause(err, spec, y_true, y_pred, config) from None
        keep = keep_positions(self.name, y_true, hits, mask, self.ignore_index)
        weight = None if weight is None else flush_subnormal(weight)  # TensorFlow's FTZ: a subnormal weight counts as 0 (the kernels too)
        total, count = weighted_sums(self.name, hits, apply_mask(self.name, weight, keep), integer=not self.dtype_config.is_floating_point)
        if keep is not None and spec.invalid_labels is not None:  # class-id kernels: one hit per label
            # (a mask (N, 1) against hits squeezed to (N,), as when T = 1: the same samples)
            keep = (keep.reshape(hits.shape) if keep.numel() == hits.numel() else torch.broadcast_to(keep, hits.shape)).reshape(y_true.shape)
        return total, count, None if spec.invalid_labels is None else spec.invalid_labels(y_true, y_pred, config, keep)

    def compute(self) -> Tensor:
        """Weighted mean so far; 0.0 when the total weight is 0, like Keras's ``divide_no_nan``."""
        if self.on_invalid != "ignore" and not self.__dict__.get("_in_forward"):
            self._report_invalid()
        return divide_no_nan(self.total, self.count).to(self.result_dtype)

    def _report_invalid(self) -> None:
        n = int(self.invalid)  # compute() is the one place a host read is expected
        who, hint = f"{self.name} ({type(self).__name__})", self.ignore_index is None  # -100 padding: the usual cause
        if n and self.on_invalid == "raise":
            self.raise_unsynced(P.invalid_labels_error(who, n, hint))
        if n and not self._invalid_reported:
            self._invalid_reported = True
            warn_user(P.invalid_labels_message(who, n, hint), UserWarning)

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None, mask: ArrayLike | None = None) -> None:
        """Keras's argument order: ``update_state(y_true, y_pred, sample_weight=None)``."""
        self.update(y_pred, y_true, sample_weight, mask)

    def result(self) -> Tensor:
        """Keras's name for [`compute()`][torch_keras_acc.KerasMeanMetric.compute]."""
        return self.compute()

    def reset_state(self) -> None:
        """Keras's name for torchmetrics' ``reset()``."""
        self.reset()

    def get_config(self) -> dict[str, Any]:
        """Keras's config dict: ``name``, ``dtype`` and the kernel's arguments
        (``ignore_index`` too when set; Keras has none)."""
        config = {"name": self.name, "dtype": dtype_name(self.dtype_config), **self._config_for_keras()}
        if self.ignore_index is not None:
            config["ignore_index"] = self.ignore_index
        return config

    def _config_for_keras(self) -> dict[str, Any]:
        return self.spec.keras_config(self._config) if self.spec is not None else {}  # "accuracy" takes none

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KerasMeanMetric:
        """Build a metric from [`get_config()`][torch_keras_acc.KerasMeanMetric.get_config] output (or Keras's own)."""
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={option_repr(v)}" for k, v in self.get_config().items())

    def plot(self, val: Tensor | Sequence[Tensor] | None = None, ax: Any = None) -> tuple[Any, Any]:
        """Plot ``val`` (a value or a list of them; None: ``compute()``) on [0, 1], labelled with ``name`` (needs matplotlib)."""
        return plot_accuracy(val if val is not None else self.compute(), ax, self.name, f"{self.name} ({type(self).__name__})")
