"""The Triton kernels checked on the user's own device, at first use, bit for bit against the reference.

The first time a kernel runs for a scores dtype on a device in this process, it is run
on a built-in probe of TensorFlow's edge values (NaN, +-0, +-inf, subnormals, ties,
labels out of range, C = 1, k >= C) and compared with the reference path; the fused
update also compares its first real batch. A mismatch, a compile error or a launch error
gives one warning naming the kernel, the dtype and the device, and that kernel falls back
to the other paths (compiled where switched on, then the reference) for the rest of the
process.

``check_kernels()`` (``_check.py``) runs every check now.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from torch_keras_acc import _reference, _switch

KERNELS = ("argmax", "sparse_argmax", "in_top_k", "onehot_argmax", "onehot_top_k", "binary", "equal")
DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int32)
REPORT_HOW = (
    "please report it (an issue of torch_keras_acc, with the output of `keras-accuracy check-kernels` and your "
    "GPU, driver, torch and triton versions); results stay exact, only slower"
)


@dataclass
class Check:
    """What is known about one kernel x dtype x device in this process."""

    kernel: str
    dtype: str
    device: str
    status: str  # "verified" (probe passed), "failed"
    probe: bool = False
    first_batch: bool = False  # a real batch matched the reference too
    reason: str = ""


_CHECKS: dict[tuple[str, str, str], Check] = {}


def _key(kernel: str, dtype: torch.dtype, device: torch.device) -> tuple[str, str, str]:
    return kernel, str(dtype).replace("torch.", ""), str(device)


def _fail(check: Check, reason: str) -> None:
    check.status, check.reason = "failed", reason
    warnings.warn(
        f"torch_keras_acc: the Triton kernel {check.kernel} for {check.dtype} scores on {check.device} failed its check "
        f"({reason}); it falls back to the reference path for the rest of this process. {REPORT_HOW}",
        RuntimeWarning,
        stacklevel=4,
    )


def usable(kernel: str, dtype: torch.dtype, device: torch.device, hits: Callable[..., Tensor] | None = None) -> bool:
    """Whether the Triton ``kernel`` may run for ``dtype`` scores on ``device``: triton imports
    and the kernel passed its probe (run now on first use; a failure warns once). ``hits``: the
    Keras kernel it stands for (``spec.hits``), the probe's reference (None for ``argmax``)."""
    from torch_keras_acc import _triton

    if not _triton.AVAILABLE or device.type not in ("cuda", "cpu"):
        return False
    key = _key(kernel, dtype, device)
    check = _CHECKS.get(key)
    if check is None:
        check = _CHECKS[key] = Check(*key, status="verified")
        try:
            with _switch.kernel_path("reference"):  # the probe's own reference; the kernel is called directly
                reason = _PROBES[kernel](dtype, device, hits)
        except Exception as err:  # a compile or launch error: the kernel cannot serve this dtype here
            reason = f"{type(err).__name__}: {err}"
        if reason:
            _fail(check, reason)
        else:
            check.probe = True
    return check.status == "verified"


def _sums(total: Any, count: Any, invalid: Any) -> tuple[float, float, int]:
    return float(total), float(count), int(invalid) if invalid is not None else 0


def _same(a: tuple, b: tuple) -> bool:
    return all(x == y or (x != x and y != y) for x, y in zip(a, b))  # NaN equals NaN


def fused_launch(kernel: str, dtype: torch.dtype, red: Any, launch: Callable[[Any], Any],
                 reference: Callable[[], tuple[Any, Any, Any]], hits: Callable[..., Tensor]) -> Any:
    """Run ``launch(red)`` (a fused update into the states of ``red``) if the kernel is usable.

    The first real batch of a kernel x dtype x device goes into zero states first and is
    compared with ``reference()`` (the reference path's sums of the same batch, one host read
    at first use only); then added into the states. Returns the reduction that ran, or None:
    nothing was added, the caller takes the reference path."""
    device = red.batch.device
    if not usable(kernel, dtype, device, hits):
        return None
    check = _CHECKS[_key(kernel, dtype, device)]
    try:
        if check.first_batch:
            launch(red)
            return red
        z = lambda dt: torch.zeros((), dtype=dt, device=device)  # noqa: E731
        trial = red.into(z(red.total.dtype), z(red.count.dtype), z(torch.int64))
        launch(trial)
        got = _sums(trial.batch[0], trial.batch[1], trial.batch[2] if trial.flags["COUNT_INVALID"] else None)
    except Exception as err:  # compile/launch error (bad input never gets here: the planner checked it)
        _fail(check, f"{type(err).__name__}: {err}")
        return None
    with _switch.kernel_path("reference"):  # outside the try: its errors are the user's, not the kernel's
        want = _sums(*reference())
    if not _same(got, want):
        _fail(check, f"first real batch: (total, count, invalid) {got} != reference {want}")
        return None
    check.first_batch = True
    red.total.add_(trial.batch[0].to(red.total.dtype))
    if red.flags["HAS_COUNT"]:
        red.count.add_(trial.batch[1].to(red.count.dtype))
    if red.flags["COUNT_INVALID"]:
        red.invalid.add_(trial.batch[2].to(red.invalid.dtype))
    red.batch.copy_(trial.batch)
    return red


def first_call(kernel: str, run: Callable[..., Tensor], reference: Callable[..., Tensor], key_arg: int = 0) -> Callable[..., Tensor]:
    """``run`` (a path table's triton row) with its first real call per dtype x device compared
    bit for bit with ``reference`` on the same arguments (``args[key_arg]``: the scores). A
    mismatch warns once, fails the kernel (the table skips it from then on) and returns the
    reference's answer."""

    def checked(*args: Any) -> Tensor:
        x = args[key_arg]
        check = _CHECKS.get(_key(kernel, x.dtype, x.device))
        if check is None or check.first_batch:
            return run(*args)
        out = run(*args)
        with _switch.kernel_path("reference"):
            want = reference(*args)
        if torch.equal(out, want):
            check.first_batch = True
            return out
        _fail(check, f"first real batch: {int((out != want).sum())} of {out.numel()} values differ from the reference")
        return want

    return checked


# -- the probe: TensorFlow's edge values, per kernel -------------------------------------------------
def _edges(dtype: torch.dtype) -> list[float]:
    if not dtype.is_floating_point:
        return [-2, 0, 1, 1, 3, 7, -1, 2]
    fi = torch.finfo(dtype)
    sub = fi.tiny / 4  # a subnormal of every float dtype
    return [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, sub, -sub, 1.0, 1.0, -1.0, 2.0, fi.max, 0.5, fi.tiny]


def _scores(dtype: torch.dtype, rows: int, c: int, seed: int) -> Tensor:
    """Rows of edge values, with ties, signed zeros, all-NaN and subnormal-only rows among them."""
    edges = torch.tensor(_edges(dtype), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    x = edges[torch.randint(0, len(edges), (rows, c), generator=gen)]
    special = [[1.0] * c, [-0.0, 0.0] * c, [edges[0].item()] * c, [edges[5].item() if dtype.is_floating_point else 0, 0.0] * c]
    for i, row in enumerate(special[: rows]):
        x[i] = torch.tensor(row[:c], dtype=torch.float64)
    return x.to(dtype)


def _labels(rows: int, c: int) -> Tensor:
    base = torch.tensor([0, 1, c - 1, -1, c, 100, 2, 0], dtype=torch.int64)
    return base.repeat(rows // len(base) + 1)[:rows].clamp(min=-1)


def _reduction(name: str, device: torch.device, n: int, invalid: bool) -> tuple[Any, Tensor, Tensor]:
    """A probe reduction with per-element dyadic weights and a mask (the most general form)."""
    from torch_keras_acc import _triton

    w = (torch.arange(n, dtype=torch.float32) % 5) / 2.0
    keep = torch.arange(n) % 3 != 1
    z = lambda dt: torch.zeros((), dtype=dt, device=device)  # noqa: E731
    red = _triton.Reduction(name, device, n, z(torch.float64), z(torch.float64), z(torch.int64) if invalid else None,
                            w.to(device), e=1, w_mode=2, w_strides=(1, 0), keep=keep.to(device), keep_strides=(1, 0))
    return red, w, keep


def _compare(hits: Tensor | None, want_hits: Tensor, red: Any, w: Tensor, keep: Tensor, invalid: Tensor | int | None) -> str:
    """Why the kernel's hits and sums differ from the reference's ("" when they agree)."""
    if hits is None or not torch.equal(hits.cpu().reshape(-1), want_hits.reshape(-1)):
        return f"hits {None if hits is None else hits.cpu().reshape(-1).tolist()} != reference {want_hits.reshape(-1).tolist()}"
    h = want_hits.reshape(-1).double()
    wk = w.double() * keep.double()
    want = _sums((h * wk).sum(), wk.sum(), invalid)
    got = _sums(red.batch[0], red.batch[1], red.batch[2] if invalid is not None else None)
    if not _same(got, want) or not _same(_sums(red.total, red.count, red.invalid if invalid is not None else None), want):
        return f"(total, count, invalid) {got} != reference {want}"
    return ""


def _probe_argmax(dtype: torch.dtype, device: torch.device, hits: Any = None) -> str:
    from torch_keras_acc import _triton

    _argmax_last_reference, _tf_argmax_reference = _reference.argmax_last_reference, _reference.tf_argmax_reference

    for c in (1, 3, 5):
        x = _scores(dtype, 12, c, seed=c)
        for rule, reference in ((True, _argmax_last_reference), (False, _tf_argmax_reference)):
            got, want = _triton.argmax(x.to(device), keras3_zero_rule=rule).cpu(), reference(x)
            if not torch.equal(got, want):
                return f"argmax (keras3_zero_rule={rule}, C={c}) {got.tolist()} != reference {want.tolist()}"
    return ""


def _probe_sparse(dtype: torch.dtype, device: torch.device, keras_hits: Callable[..., Tensor]) -> str:
    from torch_keras_acc import _triton

    for c in (1, 5):
        x = _scores(dtype, 16, c, seed=c)
        labels = [_labels(16, c)]
        if dtype.is_floating_point:  # float labels of the scores' dtype: NaN, non-integral, subnormal ones too
            labels.append(torch.tensor([0, 1.5, float("nan"), torch.finfo(dtype).tiny / 4, -0.0, c, 0.25, 1] * 2, dtype=dtype))
        if dtype == torch.float32:  # float64 labels that round to a class id (or flush to 0) in float32
            labels.append(torch.tensor([1 + 1e-9, 1e-300, 1e-40, 2.5, 0.99999999999, -1e-300, 1e20, 0.5] * 2, dtype=torch.float64))
        for lab in labels:
            red, w, keep = _reduction("probe sparse_argmax", device, 16, True)
            hits = _triton.sparse("probe sparse_argmax", x.to(device), lab.to(device), red, hits=True, keras_cast=True)
            why = _compare(hits, keras_hits(lab, x), red, w, keep, _reference.invalid_count_reference(lab, c, keep))
            if why:
                return f"C={c}, {lab.dtype} labels: {why}"
    return ""


def _probe_topk(dtype: torch.dtype, device: torch.device, keras_hits: Callable[..., Tensor]) -> str:
    from torch_keras_acc import _triton

    for c, k in ((1, 1), (5, 2), (5, 7), (5, 0)):
        x = _scores(dtype, 16, c, seed=10 + c)
        labels = [_labels(16, c), torch.tensor([0, 1.5, float("nan"), -0.5, 2.9, c, 1e30, 1] * 2, dtype=torch.float32)]
        for lab in labels:
            red, w, keep = _reduction("probe in_top_k", device, 16, True)
            hits = _triton.topk("probe in_top_k", lab.to(device), x.to(device), k, red, hits=True)
            want = keras_hits(lab, x, k=k)
            why = _compare(hits, want, red, w, keep, _reference.invalid_count_reference(lab, c, keep))
            if why:
                return f"C={c}, k={k}, {lab.dtype} labels: {why}"
    return ""


def _probe_onehot(dtype: torch.dtype, device: torch.device, keras_hits: Callable[..., Tensor], top_k: bool) -> str:
    from torch_keras_acc import _triton

    for c, k in ((1, 1), (5, 2), (5, 6)):
        x = _scores(dtype, 16, c, seed=20 + c)
        t = _scores(dtype, 16, c, seed=30 + c) if dtype.is_floating_point else torch.eye(c, dtype=dtype)[_labels(16, c).clamp(0, c - 1)]
        red, w, keep = _reduction("probe onehot", device, 16, False)
        if top_k:
            hits = _triton.topk("probe onehot_top_k", t.to(device), x.to(device), k, red, hits=True, onehot_targets=True)
            want = keras_hits(t, x, k=k)
        else:
            hits = _triton.onehot("probe onehot_argmax", t.to(device), x.to(device), red, hits=True)
            want = keras_hits(t, x)
        why = _compare(hits, want, red, w, keep, None)
        if why:
            return f"C={c}{f', k={k}' if top_k else ''}: {why}"
    return ""


def _probe_elementwise(dtype: torch.dtype, device: torch.device, keras_hits: Callable[..., Tensor], binary: bool) -> str:
    from torch_keras_acc import _triton

    p = _scores(dtype, 8, 4, seed=40).reshape(-1)
    n = p.numel()
    trues = [torch.tensor([0, 1, 0.5, -0.0, float("nan"), 1e-42, 1, 0] * (n // 8), dtype=torch.float32), torch.arange(n) % 2]
    if not binary:
        trues = [_scores(dtype, 8, 4, seed=41).reshape(-1), p.clone(), (torch.arange(n) % 3).to(torch.int8)]
    for t in trues:
        for threshold in ((0.5, 0.0, 1e-40) if binary else (0.5,)):
            red, w, keep = _reduction("probe elementwise", device, n, False)
            if binary:
                hits = _triton.binary("probe binary", t.to(device), p.to(device), threshold, red, hits=True)
                want = keras_hits(t, p, threshold=threshold)
            else:
                hits = _triton.equal("probe equal", t.to(device), p.to(device), red, hits=True)
                want = keras_hits(t, p)
            why = _compare(hits, want, red, w, keep, None)
            if why:
                return f"{t.dtype} y_true" + (f", threshold {threshold}" if binary else "") + f": {why}"
    return ""


_PROBES: dict[str, Callable[[torch.dtype, torch.device, Any], str]] = {
    "argmax": _probe_argmax,
    "sparse_argmax": _probe_sparse,
    "in_top_k": _probe_topk,
    "onehot_argmax": lambda d, dev, h: _probe_onehot(d, dev, h, False),
    "onehot_top_k": lambda d, dev, h: _probe_onehot(d, dev, h, True),
    "binary": lambda d, dev, h: _probe_elementwise(d, dev, h, True),
    "equal": lambda d, dev, h: _probe_elementwise(d, dev, h, False),
}


# -- the report ---------------------------------------------------------------------------------------
@dataclass
class KernelReport:
    """What ``check_kernels()`` found: one ``Check`` per kernel x dtype, and the default path."""

    device: str
    default_path: str
    results: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status == "verified" for c in self.results)

    def __str__(self) -> str:
        lines = [f"torch_keras_acc kernels on {self.device}: default path {self.default_path}"]
        for c in self.results:
            what = "verified (probe" + (" and first real batch)" if c.first_batch else ")") if c.status == "verified" else f"FELL BACK to the reference: {c.reason}"
            lines.append(f"  {c.kernel:<14} {c.dtype:<9} triton {what}")
        if not self.ok:
            lines.append(f"Some kernels fell back: {REPORT_HOW}.")
        return "\n".join(lines)


def _default_path(device: torch.device) -> str:
    from torch_keras_acc import _triton

    if device.type == "cuda":
        if not _triton.AVAILABLE:
            return "reference (triton is not installed)"
        if not _switch.DEFAULT_ON_CUDA["triton"]:
            return "reference (TORCH_KERAS_ACC_TRITON=0)"
        return "triton, each kernel verified at first use (below)"
    if device.type == "cpu":
        return "cpu_fast / reference (triton runs on CPU tensors only under kernel_path('triton'), interpreted)"
    return "reference"


def run_checks(
    hits_of: dict[str, Callable[..., Tensor]], device: Any = None, *, dtypes: Sequence[Any] | None = None, kernels: Sequence[str] | None = None
) -> KernelReport:
    """The checks behind ``check_kernels()``; ``hits_of``: each fused kernel's Keras kernel."""
    from torch_keras_acc import _triton

    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and dev.index is None and torch.cuda.is_available():
        dev = torch.device("cuda", torch.cuda.current_device())  # the key tensors on it carry
    chosen = [getattr(torch, d) if isinstance(d, str) else d for d in (dtypes or DTYPES)]
    names = list(kernels or KERNELS)
    unknown = set(names) - set(KERNELS)
    if unknown:
        raise ValueError(f"check_kernels: unknown kernel(s) {sorted(unknown)}; expected some of {KERNELS}")
    report = KernelReport(str(dev), _default_path(dev))
    for name in names:
        for dtype in chosen:
            if not _triton.AVAILABLE:
                report.results.append(Check(name, str(dtype).replace("torch.", ""), str(dev), "failed", reason="triton is not installed"))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # the report says it
                usable(name, dtype, dev, hits_of.get(name))
            report.results.append(_CHECKS[_key(name, dtype, dev)])
    return report
