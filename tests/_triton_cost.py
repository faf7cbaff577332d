"""What one update costs on the triton path, counted on the CPU (issue 17).

Triton's interpreter runs the very kernels a CUDA tensor would run, program by
program. Instrumenting it and PyTorch's dispatcher counts, per update:

* ``launches``: kernel launches (``GridExecutor.__call__``, one per launch);
* ``ops``: aten ops outside launches that would run on the device: every op
  except views, allocations and metadata queries (a cast, a ``zeros``, an ``add_``
  each cost a CUDA launch);
* ``host_reads``: ``_local_scalar_dense`` / ``is_nonzero`` (``.item()``, ``int(t)``,
  ``if t:``), each a device-to-host sync on a GPU;
* ``loaded``: bytes each named input had loaded inside kernels (masked-off lanes
  excluded), by address range, to compare with the input's own bytes.

Ops inside a launch (the interpreter's copies of the arguments) are not counted:
on a GPU they do not happen. Example (not collected: this is a helper)::

    with TritonCost(inputs={"y_pred": x, "y_true": y}) as cost:
        metric.update(x, y)
    assert cost.device_ops <= 2 and cost.host_reads == 0
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Ops that launch nothing on a device: allocations (an empty tensor is no work) and
# metadata. Views are recognised by their schema (``OpOverload.is_view``).
_FREE = {
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "lift_fresh", "lift_fresh_copy",
    "detach", "alias", "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "is_same_size", "resolve_conj",
    "resolve_neg", "_has_compatible_shallow_copy_type", "set_",
}
_HOST_READS = {"_local_scalar_dense", "is_nonzero", "item"}


@dataclass
class TritonCost:
    """A context manager counting the cost of the code it wraps (see the module docstring)."""

    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    launches: int = 0
    kernels: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    host_reads: int = 0
    loaded: dict[str, int] = field(default_factory=dict)
    loaded_elsewhere: int = 0
    touched: dict[str, set] = field(default_factory=dict)  # distinct byte addresses loaded, per input
    _stack: contextlib.ExitStack | None = None
    _in_launch: int = 0

    @property
    def device_ops(self) -> int:
        """Launches plus device ops outside them: what the issue's target bounds (at most 2)."""
        return self.launches + len(self.ops)

    def read_ratio(self, name: str) -> float:
        """Bytes loaded from input ``name`` over its own bytes (1.0: read once)."""
        t = self.inputs[name]
        return self.loaded.get(name, 0) / max(1, t.numel() * t.element_size())

    def coverage(self, name: str) -> float:
        """Distinct bytes of input ``name`` loaded over its bytes (1.0: every byte read at least once)."""
        t = self.inputs[name]
        return len(self.touched.get(name, ())) / max(1, t.numel() * t.element_size())

    def summary(self) -> str:
        ratios = ", ".join(f"{k} {self.read_ratio(k):.2f}x" for k in self.inputs)
        return f"{self.launches} launch(es) {self.kernels}, {len(self.ops)} other op(s) {self.ops}, {self.host_reads} host read(s), read: {ratios}"

    # -- instrumentation ---------------------------------------------------------------------
    def __enter__(self) -> TritonCost:
        from triton.runtime import interpreter

        cost = self
        ranges = [(name, t.data_ptr(), t.data_ptr() + t.untyped_storage().nbytes()) for name, t in self.inputs.items()]
        launch = interpreter.GridExecutor.__call__
        load = interpreter.InterpreterBuilder.create_masked_load

        def counted_launch(executor: Any, *args: Any, **kwargs: Any) -> Any:
            cost.launches += 1
            cost.kernels.append(executor.fn.__name__)
            cost._in_launch += 1
            try:
                return launch(executor, *args, **kwargs)
            finally:
                cost._in_launch -= 1

        def counted_load(builder: Any, ptrs: Any, mask: Any, *args: Any, **kwargs: Any) -> Any:
            itemsize = np.dtype(interpreter._get_np_dtype(ptrs.get_element_ty())).itemsize
            addresses = np.broadcast_to(ptrs.data, np.shape(mask.data))[np.asarray(mask.data, dtype=bool)]
            for name, lo, hi in ranges:
                inside = (addresses >= lo) & (addresses < hi)
                cost.loaded[name] = cost.loaded.get(name, 0) + int(inside.sum()) * itemsize
                cost.touched.setdefault(name, set()).update((int(a) + b for a in addresses[inside] for b in range(itemsize)))
                addresses = addresses[~inside]
            cost.loaded_elsewhere += addresses.size * itemsize
            return load(builder, ptrs, mask, *args, **kwargs)

        self._stack = contextlib.ExitStack()
        self._stack.enter_context(_patched(interpreter.GridExecutor, "__call__", counted_launch))
        self._stack.enter_context(_patched(interpreter.InterpreterBuilder, "create_masked_load", counted_load))
        self._stack.enter_context(_Ops(self))
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._stack is not None
        self._stack.close()


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Any:
    old = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


class _Ops(TorchDispatchMode):
    """Sees every aten op; records the ones outside launches that cost device work."""

    def __init__(self, cost: TritonCost) -> None:
        super().__init__()
        self.cost = cost

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = func.overloadpacket.__name__
        if not self.cost._in_launch:
            if name in _HOST_READS:
                self.cost.host_reads += 1
            elif not (func.is_view or name in _FREE):
                self.cost.ops.append(name)
        return func(*args, **(kwargs or {}))
