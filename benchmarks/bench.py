"""Accuracy ``update()`` speed and memory: torch_keras_acc next to its peers, in one run.

    python benchmarks/bench.py              # CPU (CUDA too when present), sizes scaled for a small machine
    python benchmarks/bench.py --quick      # smaller sizes, fewer repetitions: a smoke run
    python benchmarks/bench.py --full       # the issue's sizes (N=65536 C=1000, N=16384 C=32000, N=16M)
    python benchmarks/bench.py --device cuda
    python benchmarks/bench.py --only pairs # only the paired shape matrix and the overhead (pairs.py)

For each workload and implementation it prints the median time of one update,
that time over the read limit (the time to read the inputs once, measured in
the same run as ``sum()`` over a float32 buffer of the same byte size), over
the bare torch one-liner, and the peak extra memory of one update. See
benchmarks/README.md for the columns. On the CPU it then prints the shape matrix
of ``pairs.py`` (ours against each peer as interleaved pairs in one process, the
median of the per-round ratios, each peer's one-liner beside its row) and the
per-update overhead of a (32, 10) step (aten ops, host reads, Python time outside
aten); ``--no-pairs`` skips them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch  # noqa: E402
import torchmetrics  # noqa: E402
from torchmetrics.classification import BinaryAccuracy as TMBinary  # noqa: E402
from torchmetrics.classification import MulticlassAccuracy  # noqa: E402

import torch_keras_acc as tka  # noqa: E402
from torch_keras_acc import functional as F  # noqa: E402

Inputs = dict[str, torch.Tensor]
Step = Callable[[], object]


# -- workloads ----------------------------------------------------------------------
@dataclass
class Workload:
    name: str
    kind: str  # "sparse", "topk", "binary" or "categorical"
    n: int
    c: int = 1
    dtype: torch.dtype = torch.float32

    def inputs(self, device: torch.device, seed: int = 0) -> Inputs:
        """Scores and labels as a training step would hand them over (int64 class labels)."""
        gen = torch.Generator().manual_seed(seed)
        if self.kind == "binary":
            preds = torch.rand(self.n, generator=gen)
            target = (torch.rand(self.n, generator=gen) < 0.5).float()
            return {"preds": preds.to(device), "target": target.to(device)}
        if self.kind == "equal":
            preds = torch.randint(0, 10, (self.n,), generator=gen)
            target = torch.randint(0, 10, (self.n,), generator=gen)
            return {"preds": preds.to(device), "target": target.to(device)}
        preds = torch.randn(self.n, self.c, generator=gen).to(self.dtype)
        target = torch.randint(0, self.c, (self.n,), generator=gen)
        out = {"preds": preds.to(device), "target": target.to(device)}
        if self.kind in ("categorical", "onehot_topk"):
            out["target"] = torch.nn.functional.one_hot(target, self.c).float().to(device)
        return out

    def label(self) -> str:
        return f"{self.name}, N={self.n}" + ("" if self.kind in ("binary", "equal") else f" C={self.c}")


def workloads(scale: int) -> list[Workload]:
    """The issue's six workloads, N divided by ``scale`` (1 = the issue's sizes)."""
    return [
        Workload("sparse argmax fp32", "sparse", 65536 // scale, 1000),
        Workload("sparse argmax bf16", "sparse", 16384 // scale, 32000, torch.bfloat16),
        Workload("sparse top-5 fp32", "topk", 65536 // scale, 1000),
        Workload("sparse top-5 bf16", "topk", 16384 // scale, 32000, torch.bfloat16),
        Workload("binary fp32", "binary", (1 << 24) // scale),
        Workload("categorical one-hot fp32", "categorical", 65536 // scale, 1000),
        Workload("top-5 one-hot fp32", "onehot_topk", 65536 // scale, 1000),
        Workload("accuracy int64", "equal", (1 << 24) // scale),
    ]


# -- implementations --------------------------------------------------------------------
def _one_liner(w: Workload, x: Inputs) -> Step:
    p, t = x["preds"], x["target"]
    if w.kind == "sparse":
        return lambda: (p.argmax(-1) == t).float().mean()
    if w.kind == "topk":
        return lambda: ((p > p.gather(-1, t[:, None])).sum(-1) < 5).float().mean()
    if w.kind == "binary":
        return lambda: ((p > 0.5) == t).float().mean()
    if w.kind == "equal":
        return lambda: (p == t).float().mean()
    if w.kind == "onehot_topk":
        return lambda: ((p > p.gather(-1, t.argmax(-1, keepdim=True))).sum(-1) < 5).float().mean()
    return lambda: (p.argmax(-1) == t.argmax(-1)).float().mean()


# Each workload's Keras metric and its arguments; the class comes from the package's registry.
_KERAS_METRIC = {
    "sparse": ("sparse_categorical_accuracy", {}),
    "topk": ("sparse_top_k_categorical_accuracy", {"k": 5}),
    "binary": ("binary_accuracy", {}),
    "categorical": ("categorical_accuracy", {}),
    "onehot_topk": ("top_k_categorical_accuracy", {"k": 5}),
    "equal": ("accuracy", {}),
}


def _ours(w: Workload, x: Inputs, device: torch.device) -> Step:
    name, config = _KERAS_METRIC[w.kind]
    metric = tka.get(name, **config).to(device)
    return lambda: metric.update(x["preds"], x["target"])


def _ours_kernel(w: Workload, x: Inputs) -> Step:
    name, config = _KERAS_METRIC[w.kind]
    fn = getattr(F, name)
    return lambda: fn(x["target"], x["preds"], **config)


def _triton(w: Workload, x: Inputs, device: torch.device) -> Step | None:
    """The fused Triton kernels of torch_keras_acc._triton (opt-in, CUDA only: on the CPU they
    run interpreted), adding into 0-d states as a metric's update would: one launch per update."""
    try:
        from torch_keras_acc import _triton as T
        from torch_keras_acc import _triton_wrappers as TW
    except ImportError:  # an installed torch_keras_acc older than the kernels
        return None
    if device.type != "cuda" or not T.AVAILABLE:
        return None
    p, t = x["preds"], x["target"]
    total, count = torch.zeros((), dtype=torch.float64, device=device), torch.zeros((), dtype=torch.float64, device=device)
    invalid = torch.zeros((), dtype=torch.int64, device=device)
    if w.kind == "sparse":
        return lambda: TW.sparse_argmax_count(p, t, total, invalid, count_out=count)
    if w.kind == "topk":
        return lambda: TW.in_top_k_count(t, p, 5, total, invalid, count_out=count)
    if w.kind == "binary":
        return lambda: TW.binary_count(t, p, 0.5, total, count_out=count)
    if w.kind == "equal":
        return lambda: TW.equal_count(t, p, total, count_out=count)
    if w.kind == "onehot_topk":
        return None  # its fused count has no standalone wrapper: the "tka update" row is the fused update
    return lambda: TW.onehot_argmax_count(t, p, total, count_out=count)


def _torchmetrics(w: Workload, x: Inputs, device: torch.device, validate: bool) -> Step:
    p, t = x["preds"], x["target"]
    if w.kind == "binary":
        metric = TMBinary(validate_args=validate).to(device)
        return lambda: metric.update(p, t)
    if w.kind == "equal":  # exact equality of class ids: torchmetrics' multiclass accuracy over 10 classes
        metric = MulticlassAccuracy(num_classes=10, average="micro", validate_args=validate).to(device)
        return lambda: metric.update(p, t)
    top_k = 5 if w.kind in ("topk", "onehot_topk") else 1
    metric = MulticlassAccuracy(num_classes=w.c, average="micro", top_k=top_k, validate_args=validate).to(device)
    if w.kind in ("categorical", "onehot_topk"):  # torchmetrics takes class indices: the argmax of the one-hot labels is part of the step
        return lambda: metric.update(p, t.argmax(-1))
    return lambda: metric.update(p, t)


def _keras(w: Workload, x: Inputs, device: torch.device) -> Step | None:
    keras = _import_keras()
    if keras is None:
        return None
    with keras.device(device.type):  # variables and computation on our device
        metric = {
            "sparse": keras.metrics.SparseCategoricalAccuracy,
            "topk": lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=5),
            "binary": keras.metrics.BinaryAccuracy,
            "categorical": keras.metrics.CategoricalAccuracy,
            "onehot_topk": lambda: keras.metrics.TopKCategoricalAccuracy(k=5),
            "equal": keras.metrics.Accuracy,
        }[w.kind]()

    def step() -> None:
        with keras.device(device.type):
            metric.update_state(x["target"], x["preds"])

    return step


def _import_keras():  # type: ignore[no-untyped-def]
    try:
        import keras
    except ImportError:
        return None
    return keras if keras.backend.backend() == "torch" else None


def implementations(w: Workload, x: Inputs, device: torch.device) -> dict[str, Step]:
    """Name -> one update step, every implementation of the workload's semantics."""
    impls = {
        "torch one-liner": _one_liner(w, x),
        "tka update": _ours(w, x, device),
        "tka kernel only": _ours_kernel(w, x),
        REFERENCE: _with_reference_kernels(_ours(w, x, device)),
        "torchmetrics validate_args=True": _torchmetrics(w, x, device, True),
        "torchmetrics validate_args=False": _torchmetrics(w, x, device, False),
    }
    triton_step = _triton(w, x, device)
    if triton_step is not None:
        impls["tka triton, fused count"] = triton_step
    keras = _keras(w, x, device)
    if keras is not None:
        impls["keras 3 (torch backend)"] = keras
    return impls


REFERENCE = "tka update, reference kernels"
# On the CPU, torch.profiler keeps every buffer freed during profiling alive until
# it stops, so memory grows with all bytes allocated in the call, not the peak. The
# chunked reference allocates ~10x its (widened) input over one call: past this
# input size its CPU profile would need tens of GiB. Its peak is bounded by the
# chunk size anyway, so the default-size run reports it.
_PROFILE_REFERENCE_MAX_BYTES = 512 << 20


def _with_reference_kernels(step: Step) -> Step:
    """``step`` on the "reference" path (the chunked eager references: CUDA's default path)."""

    def run() -> object:
        with tka.kernel_path("reference"):
            return step()

    return run


# -- measuring ------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(step: Step, device: torch.device, reps: int, budget_s: float) -> float:
    """Median seconds of one call after a warm-up call; fewer repetitions for slow steps."""
    _sync(device)
    start = time.perf_counter()
    step()
    _sync(device)
    first = time.perf_counter() - start
    reps = max(3, min(reps, int(budget_s / max(first, 1e-9))))
    times = []
    for _ in range(reps):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_tiny(step: Step, samples: int = 7, sample_s: float = 0.2) -> float:
    """Median seconds per call of a fast step, each sample a loop of many calls."""
    for _ in range(50):
        step()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < sample_s / 4:
        step()
        calls += 1
    loop = max(10, int(calls * 4))
    per_call = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(loop):
            step()
        per_call.append((time.perf_counter() - start) / loop)
    return statistics.median(per_call)


def peak_extra_bytes(step: Step, device: torch.device) -> int | None:
    """Peak bytes allocated and not yet freed during one call, above what was allocated before.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: torch.profiler's memory
    timeline (every CPU tensor allocation and free, in order); None if this
    torch's profiler cannot produce it. Memory outside torch's allocator
    (NumPy, Python objects) is not counted.
    """
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        _sync(device)
        return torch.cuda.max_memory_allocated(device) - before
    try:
        from torch.profiler import ProfilerActivity, profile
        from torch.profiler._memory_profiler import Action

        with warnings.catch_warnings(), _quiet_stderr():  # the profiler logs each start and stop
            warnings.simplefilter("ignore")
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
                step()
            timeline = prof._memory_profile().timeline
    except Exception:  # private API: report "n/a" rather than fail the benchmark
        return None
    current = peak = 0
    for _, action, _, size in sorted(timeline, key=lambda row: row[0]):
        if action == Action.CREATE:
            current += size
        elif action == Action.DESTROY:
            current -= size
        peak = max(peak, current)
    return peak


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C++ logging on file descriptor 2 for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_BANDWIDTH: dict[str, float] = {}


def copy_bandwidth(device: torch.device, reps: int) -> float:
    """Bytes per second a device-to-device copy moves (read + write), the best of ``reps``
    copies of a buffer far larger than the caches (1 GiB on a GPU, 256 MiB on a CPU)."""
    key = str(device)
    if key not in _BANDWIDTH:
        n = (1 << 28) if device.type == "cuda" else (1 << 26)
        src = torch.rand(n, device=device)
        dst = torch.empty_like(src)
        dst.copy_(src)
        best = float("inf")
        for _ in range(max(reps, 5)):
            _sync(device)
            start = time.perf_counter()
            dst.copy_(src)
            _sync(device)
            best = min(best, time.perf_counter() - start)
        _BANDWIDTH[key] = 2 * src.numel() * src.element_size() / best
        del src, dst
    return _BANDWIDTH[key]


def read_time(nbytes: int, device: torch.device, reps: int) -> float:
    """The read limit for ``nbytes`` of input: those bytes over the bandwidth a copy reaches."""
    return nbytes / copy_bandwidth(device, reps)


def input_bytes(x: Inputs) -> int:
    return sum(t.numel() * t.element_size() for t in x.values())


# -- running and printing ---------------------------------------------------------------
@dataclass
class Row:
    workload: str
    impl: str
    seconds: float
    read_s: float
    one_liner_s: float
    peak: int | None
    scores_bytes: int


def run_workload(w: Workload, device: torch.device, reps: int, budget_s: float, memory: bool) -> list[Row]:
    x = w.inputs(device)
    read_s = read_time(input_bytes(x), device, reps)
    measured: dict[str, tuple[float, int | None]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics' and our one-time notices
        scores = x["preds"].numel() * x["preds"].element_size()
        for name, step in implementations(w, x, device).items():
            seconds = time_step(step, device, reps, budget_s)
            profile = memory and not (name == REFERENCE and device.type == "cpu" and scores > _PROFILE_REFERENCE_MAX_BYTES)
            measured[name] = (seconds, peak_extra_bytes(step, device) if profile else None)
    one_liner = measured["torch one-liner"][0]
    return [Row(w.label(), name, s, read_s, one_liner, peak, scores) for name, (s, peak) in measured.items()]


def run_tiny(device: torch.device) -> list[tuple[str, float, float | None]]:
    """(implementation, update seconds, forward seconds) for N=32, C=10 sparse argmax."""
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(32, 10, generator=gen).to(device)
    t = torch.randint(0, 10, (32,), generator=gen).to(device)
    metrics = {
        "tka SparseCategoricalAccuracy": tka.SparseCategoricalAccuracy(),
        "torchmetrics validate_args=True": MulticlassAccuracy(num_classes=10, average="micro"),
        "torchmetrics validate_args=False": MulticlassAccuracy(num_classes=10, average="micro", validate_args=False),
    }
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, metric in metrics.items():
            metric = metric.to(device)
            rows.append((name, time_tiny(lambda: metric.update(p, t)), time_tiny(lambda: metric(p, t))))
        keras = _import_keras()
        if keras is not None:
            km = keras.metrics.SparseCategoricalAccuracy()
            rows.append(("keras 3 (torch backend) update_state", time_tiny(lambda: km.update_state(t, p)), None))
        rows.append(("torch one-liner", time_tiny(lambda: (p.argmax(-1) == t).float().mean()), None))
        triton_step = _triton(Workload("tiny", "sparse", 32, 10), {"preds": p, "target": t}, device)
        if triton_step is not None:
            rows.append(("tka triton sparse_argmax_count", time_tiny(triton_step), None))
    return rows


def _fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}"


def _fmt_bytes(nbytes: int | None) -> str:
    if nbytes is None:
        return "n/a"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes} B"


def print_table(rows: list[Row]) -> None:
    header = ["workload", "implementation", "µs/update", "x read", "x one-liner", "peak extra", "x scores"]
    cells = [
        [
            r.workload,
            r.impl,
            _fmt_us(r.seconds),
            f"{r.seconds / r.read_s:.2f}",
            f"{r.seconds / r.one_liner_s:.2f}",
            _fmt_bytes(r.peak),
            "n/a" if r.peak is None else f"{r.peak / r.scores_bytes:.3f}",
        ]
        for r in rows
    ]
    _markdown(header, cells, left=2)


def print_tiny(rows: list[tuple[str, float, float | None]]) -> None:
    base_update, base_forward = rows[1][1], rows[1][2]
    header = ["implementation", "update µs", "x torchmetrics", "forward µs", "x torchmetrics"]
    cells = []
    for name, update, forward in rows:
        fwd = "-" if forward is None else _fmt_us(forward)
        fwd_ratio = "-" if forward is None or base_forward is None else f"{forward / base_forward:.2f}"
        cells.append([name, _fmt_us(update), f"{update / base_update:.2f}", fwd, fwd_ratio])
    _markdown(header, cells, left=1)


def _markdown(header: list[str], cells: list[list[str]], left: int) -> None:
    """A Markdown table: the first ``left`` columns left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *cells]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        padded = (str(v).ljust(widths[i]) if i < left else str(v).rjust(widths[i]) for i, v in enumerate(row))
        return "| " + " | ".join(padded) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) if i < left else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")
    for row in cells:
        print(line(row))
    sys.stdout.flush()


def describe_machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    parts = [f"CPU: {cpu}, {os.cpu_count()} logical cores, torch threads: {torch.get_num_threads()}"]
    if device.type == "cuda":
        parts.append(f"GPU: {torch.cuda.get_device_name(device)}")
    keras = _import_keras()
    keras_version = f"{keras.__version__} (torch backend)" if keras else "not installed"
    versions = f"torch {torch.__version__}, torchmetrics {torchmetrics.__version__}, keras {keras_version}"
    parts.append(f"Python {platform.python_version()}, {versions}")
    try:
        parts.append(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    except OSError:
        pass
    return "\n".join(parts)


def _print_pairs(quick: bool) -> None:
    """The paired shape matrix and the per-update overhead (benchmarks/pairs.py)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import pairs

    rounds = 9 if quick else 41
    print(f"\n### Shape matrix, CPU: ours / peer, interleaved pairs, median of {rounds} rounds" + (" (--quick: N / 16)" if quick else "") + "\n")
    pairs.run_matrix(16 if quick else 1, rounds)
    print("\n### Per-update overhead, CPU: one (32, 10) step\n")
    pairs.run_overhead()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="N / 16 and few repetitions: a smoke run")
    size.add_argument("--full", action="store_true", help="the issue's sizes (about 1 GiB of bf16 scores)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CPU, and CUDA too when present")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per implementation (median reported)")
    parser.add_argument("--only", default=None, help="run the workloads whose name contains this text")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--no-tiny", action="store_true", help="skip the N=32 C=10 update/forward table")
    parser.add_argument("--no-pairs", action="store_true", help="skip the paired shape matrix and the overhead counts (pairs.py)")
    args = parser.parse_args(argv)

    scale = 1 if args.full else 16 if args.quick else 4
    reps = args.reps or (3 if args.quick else 9)
    budget_s = 1.0 if args.quick else 4.0
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    if args.device == "auto":
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    else:
        devices = [torch.device(args.device)]
    chosen = [w for w in workloads(scale) if args.only is None or args.only in w.name]
    size_note = "the issue's sizes" if scale == 1 else f"N / {scale} of the issue's sizes (--full for those)"

    if args.only == "pairs":
        chosen, args.no_tiny = [], True
    for device in devices:
        print(f"\n## {device.type.upper()}\n")
        print(describe_machine(device).replace("\n", "  \n"))
        print(f"\nSizes: {size_note}; median of up to {reps} timed calls after one warm-up.\n")
        rows: list[Row] = []
        for w in chosen:
            rows += run_workload(w, device, reps, budget_s, memory=not args.no_memory)
        if rows:
            print_table(rows)
            print("\nRead limit per workload (the inputs' bytes over the bandwidth of a copy):")
        for label in dict.fromkeys(r.workload for r in rows):
            r = next(r for r in rows if r.workload == label)
            print(f"- {label}: {_fmt_us(r.read_s)} µs")
        if not args.no_tiny:
            print(f"\n### Tiny batches, {device.type.upper()}: sparse argmax N=32 C=10 (median per call)\n")
            print_tiny(run_tiny(device))
        if device.type == "cpu" and not args.no_pairs:
            _print_pairs(args.quick)
    if not torch.cuda.is_available() and args.device != "cpu":
        print("\nNo CUDA device here: the CUDA table is pending.")


if __name__ == "__main__":
    main()
