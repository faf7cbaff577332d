"""Every workaround for torchmetrics and PyTorch internals, in one place.

Each override below says which upstream behaviour it works around; the
weighted-mean class in ``_mean.py`` is written against this base and touches
no torchmetrics internal itself. Tested on the oldest and newest supported
torchmetrics (``.ci/run`` runs the collection and merge tests on the floor
that ``pyproject.toml`` declares).

Example:
    >>> from torch_keras_acc._compat import is_compiling
    >>> is_compiling()
    False
"""

from __future__ import annotations

import functools
from typing import Any, Callable, ClassVar, NoReturn, Sequence, cast

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.exceptions import TorchMetricsUserError

# The one is_compiling of the package (torch >= 2.3 has it public; our floor is 2.13).
from torch.compiler import is_compiling

# States that hold exact counts or an identity: never cast by a dtype conversion.
INT_STATES = ("kernel", "invalid")
# float64 accumulators: moved by .to(device), cast only by an explicit set_dtype().
EXACT_STATES = ("total", "count")


def add_to(*pairs: tuple[Tensor, Tensor | float]) -> None:
    """``state += value`` in place for each ``(state, value)`` pair of 0-d states.

    Traced by torch.compile, through a one-element view: inductor on the CPU
    (torch 2.13) silently drops in-place updates of a 0-d float64 tensor that
    is a graph input, and a view of it is updated correctly.
    """
    traced = is_compiling()
    for state, value in pairs:
        (state.view(1) if traced else state).add_(value)


class CompatMetric(Metric):
    """``torchmetrics.Metric`` with the overrides our metrics need, each for a stated reason.

    Subclasses call ``_count_update`` once per accumulated batch when they
    bypass ``update`` (the one-pass ``forward``), and declare their states
    through ``add_state`` as usual.
    """

    # torch.jit.script (e.g. Lightning's to_torchscript) compiles a metric as torchmetrics'
    # own: a placeholder whose forward is unused. TorchScript cannot read the string annotations
    # of the attributes below (from __future__ import annotations) nor our _update_count property.
    __jit_ignored_attributes__: ClassVar[list[str]] = [
        *Metric.__jit_ignored_attributes__, "total", "count", "invalid", "kernel", "_traced_updates", "_defaults", "_forward_cache"
    ]
    __jit_unused_properties__: ClassVar[list[str]] = [*Metric.__jit_unused_properties__, "_update_count", "update_called", "update_count"]
    plot_lower_bound: float = 0.0
    plot_upper_bound: float = 1.0

    _traced_updates: Tensor
    _defaults: dict[str, Any]  # torchmetrics: list | Tensor; ours are all tensors
    _forward_cache: Any  # torchmetrics leaves it unannotated (None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Updates run traced by torch.compile are counted here (see _count_update).
        self.register_buffer("_traced_updates", torch.tensor(0, dtype=torch.int64), persistent=False)

    # -- update bookkeeping ------------------------------------------------------
    def _wrap_update(self, update: Callable) -> Callable:
        """torchmetrics' bookkeeping around ``update``, without its per-step costs.

        Why: ``Metric._wrap_update`` sets ``_computed`` and ``_update_count`` through
        ``nn.Module.__setattr__`` (microseconds a call) and enters a grad-mode context
        on every step; on tiny batches that overhead is the whole cost. Inputs are
        detached on the way in (``_convert.to_tensor``), so no graph can form. A batch
        counts once accepted: one that raises leaves ``update_count`` as it was (torchmetrics
        counts it first), like the states.
        """

        @functools.wraps(update)
        def wrapped(*args: Any, **kwargs: Any) -> None:
            update(*args, **kwargs)
            self._count_update()

        return wrapped

    def _count_update(self) -> None:
        d = self.__dict__
        d["_computed"] = None
        if is_compiling():
            # Why: torch.compile treats the int ``_update_count`` as a constant and
            # recompiles the caller on every step (Lightning-AI/torchmetrics#1780).
            # A tensor it is not.
            self._traced_updates.add_(1)
            d["_traced"] = True
        else:
            d["_eager_update_count"] = d.get("_eager_update_count", 0) + 1

    @property
    def _update_count(self) -> int:  # type: ignore[override]
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

    # -- forward -------------------------------------------------------------------
    @torch.jit.unused  # as torchmetrics' Metric.forward: metrics run in Python, not in TorchScript
    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """Accumulate the batch and return its own value, in one pass.

        Why: ``Metric.forward`` saves the state, resets, updates, computes and merges
        back; for a weighted mean the batch's own sums already give both (the subclass's
        ``_batch_value``). With ``dist_sync_on_step=True`` the generic path runs, since
        the batch value must then be synced.
        """
        if self._is_synced:  # torchmetrics' own guard: a synced state holds every rank's sums
            raise TorchMetricsUserError(
                "The Metric shouldn't be synced when performing ``forward``. HINT: Did you forget to call ``unsync`` ?."
            )
        self.__dict__["_in_forward"] = True  # compute() inside forward is not the user's compute()
        try:
            if self.dist_sync_on_step:
                return super().forward(*args, **kwargs)
            value = self._batch_value(*args, **kwargs)
            self._count_update()  # the bookkeeping of the wrapped update, once accepted (see _wrap_update)
            self._forward_cache = value
            return value
        finally:
            self.__dict__["_in_forward"] = False

    def _batch_value(self, *args: Any, **kwargs: Any) -> Tensor:
        raise NotImplementedError

    # -- dtype and device ----------------------------------------------------------
    def _apply(self, fn: Callable, exclude_state: Sequence[str] = ()) -> CompatMetric:
        """Device moves reach every state; dtype casts never reach the integer states,
        and reach the float64 accumulators only through ``set_dtype()``.

        Why: ``Metric._apply`` guards ``.half()``/``.float()``/``.double()``/``.type()`` but
        not ``Module.to(dtype)``, which Lightning's ``precision="16-true"`` uses; and
        ``set_dtype()`` casts every state, integer ones included, which turned the
        identity state into inf and let compute groups merge different metrics.
        """
        protected = INT_STATES if self._dtype_convert else (*EXACT_STATES, *INT_STATES)
        this = cast(CompatMetric, super()._apply(fn, exclude_state=(*exclude_state, *protected)))
        device = this.device
        for key in protected:
            dtype = torch.int64 if key in INT_STATES else accumulator_dtype(device)
            this._defaults[key] = this._defaults[key].to(device=device, dtype=dtype)
            setattr(this, key, getattr(this, key).to(device=device, dtype=dtype))
        return this

    def raise_unsynced(self, error: Exception) -> NoReturn:
        """Raise ``error`` from ``compute()``, leaving the state unsynced.

        Why: torchmetrics' sync context around ``compute`` has no ``finally``, so an error
        raised inside it would leave every rank's sums in the local state.
        """
        if self._is_synced:
            self.unsync()
        raise error

    # -- pickling --------------------------------------------------------------------
    def __setstate__(self, state: dict[str, Any]) -> None:
        """An unpickled metric owns the memory of its states.

        Why: ``torch.multiprocessing`` pickles CPU tensors into shared memory, and Lightning's
        ``ddp_spawn`` unshares only parameters and buffers (``_disable_module_memory_sharing``),
        so every spawned rank received the *same* state tensors. Our updates add in place
        (``add_to``), so all ranks' batches landed in one memory, racing, until the first
        ``reset()`` installed fresh tensors: epoch 0 was counted wrong, at random. (torchmetrics'
        own metrics replace their states on update, which hides the sharing from them.)
        """
        super().__setstate__(state)
        self._unshare(lambda t: t.is_shared())  # CPU shared memory, or CUDA (an IPC handle is shared too)

    def _unshare(self, shared: Callable[[Tensor], bool]) -> None:
        """Replace every state (and the traced-update counter) that ``shared`` flags by a private copy."""
        for key in self._defaults:
            value = getattr(self, key)
            if isinstance(value, Tensor) and shared(value):
                setattr(self, key, value.clone())
        counter = self._buffers.get("_traced_updates")
        if counter is not None and shared(counter):
            self._buffers["_traced_updates"] = counter.clone()

    # -- merging ---------------------------------------------------------------------
    def merge_state(self, incoming_state: dict[str, Any] | Metric) -> None:
        """``Metric.merge_state``, refusing a state from a metric of another configuration.

        Why: torchmetrics merges any instance of the same class (so a k=1 top-k into a
        k=5 one), and ``Metric.merge_state`` only exists from torchmetrics 1.6 on.
        """
        if isinstance(incoming_state, Metric):
            if type(incoming_state) is not type(self):
                raise ValueError(f"Expected incoming state to be an instance of {type(self).__name__} but got {type(incoming_state).__name__}")
            theirs = {key: getattr(incoming_state, key) for key in incoming_state._defaults}
        elif isinstance(incoming_state, dict):
            theirs = dict(incoming_state)
            theirs.setdefault("kernel", self.kernel)  # a bare {total, count} dict is fine
        else:
            raise ValueError(f"Expected incoming state to be a dict or an instance of {type(self).__name__} but got {type(incoming_state).__name__}")
        if not torch.equal(torch.as_tensor(theirs["kernel"]).to(self.kernel.device), self.kernel):
            raise ValueError(f"{getattr(self, 'name', type(self).__name__)}: cannot merge the state of a metric of another kind or configuration")
        for key in self._defaults:  # every state but the identity (kernel) is a sum
            if key == "kernel":
                continue
            if key not in theirs:
                raise ValueError(f"{type(self).__name__}: the incoming state lacks {key!r}; expected the keys {sorted(self._defaults)}")
            local = getattr(self, key)
            setattr(self, key, local + torch.as_tensor(theirs[key]).to(local))
        count = incoming_state._update_count if isinstance(incoming_state, Metric) else 1
        self._update_count = self._update_count + count
        self._computed = None

    kernel: Tensor  # the identity state, declared by the subclass (add_state "kernel")


def accumulator_dtype(where: Tensor | torch.device) -> torch.dtype:
    """float64, except on Apple's MPS, which has none: float32 there (exact up to 2**24 samples)."""
    mps = where.is_mps if isinstance(where, Tensor) else where.type == "mps"  # is_mps: no device object per update
    return torch.float32 if mps else torch.float64
