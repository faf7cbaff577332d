"""The shape matrix of issue 19 as interleaved pairs, and the per-update overhead, counted.

    python benchmarks/pairs.py             # the issue's sizes, 41 rounds per row
    python benchmarks/pairs.py --quick     # N / 16, 9 rounds: a smoke run (never evidence of a target)

``bench.py`` prints these tables too (``--no-pairs`` skips them). Each row times
ours (B) against its peer (A) as rounds of A n times then B n times in one process,
and reports the median of the per-round ratios B/A: separate timings drift by
10-30 % on a shared machine, paired rounds cancel most of that. The peer of each row
is printed beside it (a torch one-liner, or torchmetrics). Results are checked to
agree before anything is timed.

The overhead table counts what one small-batch step costs: the aten ops it runs
(each one a kernel launch on a GPU), its host reads (``_local_scalar_dense``,
``is_nonzero``, ``item``: each one a device sync on a GPU) and the Python time
spent outside aten (the step's time minus the time inside its aten ops).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch_keras_acc as tka  # noqa: E402
from ab_versions import paired  # noqa: E402  (A n times, B n times, repeated; median of B/A)

Step = Callable[[], object]
HOST_READS = ("_local_scalar_dense", "is_nonzero", "item")


@dataclass
class Pair:
    """One row: ours against a peer, the target ratio, and how to check they agree."""

    name: str
    peer: str  # printed beside the row
    target: float
    make: Callable[[], tuple[Step, Step, Callable[[], tuple[float, float]]]]  # -> (peer step, our step, (peer value, ours))


def _one_liner_pair(name: str, text: str, target: float, metric: Callable[[], tka.KerasMeanMetric],
                    inputs: Callable[[], dict[str, torch.Tensor]], one_liner: Callable[..., tuple[torch.Tensor, torch.Tensor | float]]) -> Pair:
    """Ours ``metric().update(**inputs)`` against ``one_liner(**inputs)`` -> (hits, count)."""

    def make() -> tuple[Step, Step, Callable[[], tuple[float, float]]]:
        x = inputs()
        m = metric()
        peer: Step = lambda: one_liner(**x)  # noqa: E731
        ours: Step = lambda: m.update(**x)  # noqa: E731

        def values() -> tuple[float, float]:
            m.reset()
            m.update(**x)
            hits, count = one_liner(**x)
            return float(hits) / float(count), float(m.compute())

        return peer, ours, values

    return Pair(name, text, target, make)


def matrix(scale: int) -> list[Pair]:
    """The issue's shape matrix, N divided by ``scale``."""
    big, mid, seq = (1 << 20) // scale, 8192 // scale, max(1, 16 // scale)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731

    def binary(shape: tuple[int, ...]) -> Callable[[], dict[str, torch.Tensor]]:
        def inputs() -> dict[str, torch.Tensor]:
            g = gen()
            return {"preds": torch.rand(shape, generator=g), "target": (torch.rand(shape, generator=g) < 0.5).float()}
        return inputs

    def scores(n: int, c: int, dtype: torch.dtype = torch.float32, **extra: Callable[[torch.Generator], torch.Tensor]) -> Callable[[], dict[str, torch.Tensor]]:
        def inputs() -> dict[str, torch.Tensor]:
            g = gen()
            out = {"preds": torch.randn(n, c, generator=g).to(dtype), "target": torch.randint(0, c, (n,), generator=g)}
            out["target"][::2] = out["preds"][::2].float().argmax(-1)  # about half right, as in training
            out.update({k: f(g) for k, f in extra.items()})
            return out
        return inputs

    def equality(dtype: torch.dtype = torch.float32) -> Callable[[], dict[str, torch.Tensor]]:
        def inputs() -> dict[str, torch.Tensor]:
            g = gen()
            return {"preds": torch.randint(0, 3, (big, 1), generator=g).to(dtype), "target": torch.randint(0, 3, (big, 1), generator=g).float()}
        return inputs

    def binary16(shape: tuple[int, ...]) -> Callable[[], dict[str, torch.Tensor]]:
        def inputs() -> dict[str, torch.Tensor]:
            x = binary(shape)()
            return {"preds": x["preds"].to(torch.bfloat16), "target": x["target"]}
        return inputs

    def one_hot() -> dict[str, torch.Tensor]:
        x = scores(mid, 1000)()
        return {"preds": x["preds"], "target": torch.nn.functional.one_hot(x["target"], 1000).float()}

    def tokens() -> dict[str, torch.Tensor]:
        g = gen()
        p, t = torch.randn(seq, 512, 1000, generator=g), torch.randint(0, 1000, (seq, 512), generator=g)
        t[:, ::2] = p[:, ::2].argmax(-1)
        t[torch.rand(seq, 512, generator=g) < 0.25] = -100
        return {"preds": p, "target": t}

    def thresholded(preds: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, float]:
        return ((preds > 0.5).to(target.dtype) == target).sum(), float(target.numel())

    def masked(preds: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = target != -100
        return ((preds.argmax(-1) == target) & keep).sum(), keep.sum()

    return [
        _one_liner_pair("binary (N, 1), the Dense(1) head", "((p > 0.5).to(t.dtype) == t).sum()", 1.10,
                        tka.BinaryAccuracy, binary((big, 1)), thresholded),
        _one_liner_pair("binary (N,)", "((p > 0.5).to(t.dtype) == t).sum()", 1.10, tka.BinaryAccuracy, binary((big,)), thresholded),
        _one_liner_pair("binary multilabel (N, 20)", "((p > 0.5).to(t.dtype) == t).float().mean(-1).sum()", 1.10,
                        tka.BinaryAccuracy, binary((big // 16, 20)),
                        lambda preds, target: (((preds > 0.5).to(target.dtype) == target).float().mean(-1).sum(), float(target.shape[0]))),
        _one_liner_pair("Accuracy equality (N, 1)", "(p == t).sum()", 1.25, tka.Accuracy, equality(),
                        lambda preds, target: ((preds == target).sum(), float(target.numel()))),
        # Not in the table: mixed-precision scores (bfloat16), compared widened to float32 as Keras does.
        _one_liner_pair("binary multilabel (N, 20), bfloat16 scores", "((p > 0.5).to(t.dtype) == t).float().mean(-1).sum()", 1.10,
                        tka.BinaryAccuracy, binary16((big // 16, 20)),
                        lambda preds, target: (((preds > 0.5).to(target.dtype) == target).float().mean(-1).sum(), float(target.shape[0]))),
        _one_liner_pair("Accuracy equality (N, 1), bfloat16 scores", "(p == t).sum()", 1.25, tka.Accuracy, equality(torch.bfloat16),
                        lambda preds, target: ((preds == target).sum(), float(target.numel()))),
        _one_liner_pair("sparse (N, 1000), sample_weight (N,)", "((p.argmax(-1) == t).to(w.dtype) * w).sum(), w.sum()", 1.25,
                        tka.SparseCategoricalAccuracy, scores(mid, 1000, sample_weight=lambda g: torch.rand(mid, generator=g)),
                        lambda preds, target, sample_weight: (((preds.argmax(-1) == target).to(sample_weight.dtype) * sample_weight).sum(), sample_weight.sum())),
        _one_liner_pair("categorical one-hot (N, 1000)", "(p.argmax(-1) == t.argmax(-1)).sum()", 1.25, tka.CategoricalAccuracy, one_hot,
                        lambda preds, target: ((preds.argmax(-1) == target.argmax(-1)).sum(), float(target.shape[0]))),
        _one_liner_pair('"accuracy" sparse (N, 1000)', "(p.argmax(-1) == t).sum()", 1.25, tka.KerasAccuracy, scores(mid, 1000),
                        lambda preds, target: ((preds.argmax(-1) == target).sum(), float(target.numel()))),
        _one_liner_pair("tokens (B, 512, 1000), ignore_index=-100 on 1/4", "keep = t != -100; ((p.argmax(-1) == t) & keep).sum(), keep.sum()", 1.25,
                        lambda: tka.SparseCategoricalAccuracy(ignore_index=-100), tokens, masked),
        _one_liner_pair("sparse bfloat16 (N, 32000)", "(p.argmax(-1) == t).sum()", 1.25, tka.SparseCategoricalAccuracy,
                        scores(max(1, 2048 // scale), 32000, torch.bfloat16),
                        lambda preds, target: ((preds.argmax(-1) == target).sum(), float(target.numel()))),
        *small_batch_pairs(),
    ]


def small_batch_pairs() -> list[Pair]:
    """The (32, 10) rows: ours against torchmetrics' ``MulticlassAccuracy(average="micro")``."""
    from torchmetrics.classification import MulticlassAccuracy

    def pair(name: str, ours_cls: Callable[[], tka.KerasMeanMetric], forward: bool) -> Pair:
        def make() -> tuple[Step, Step, Callable[[], tuple[float, float]]]:
            p, t = tiny_inputs()
            tm, m = MulticlassAccuracy(num_classes=10, average="micro"), ours_cls()
            if forward:
                return (lambda: tm(p, t)), (lambda: m(p, t)), lambda: (float(tm(p, t)), float(m(p, t)))
            return (lambda: tm.update(p, t)), (lambda: m.update(p, t)), lambda: (float(tm(p, t)), float(m(p, t)))

        return Pair(name, 'torchmetrics MulticlassAccuracy(num_classes=10, average="micro")', 0.5, make)

    return [
        pair("(32, 10) update", tka.SparseCategoricalAccuracy, False),
        pair('(32, 10) "accuracy" update', tka.KerasAccuracy, False),
        pair("(32, 10) forward", tka.SparseCategoricalAccuracy, True),
    ]


def tiny_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(32, 10, generator=g), torch.randint(0, 10, (32,), generator=g)


def run_matrix(scale: int, rounds: int, only: str | None = None) -> None:
    print("| workload | peer (A) | ours / peer | target |\n|---|---|---:|---:|")
    for row in matrix(scale):
        if only is not None and only not in row.name:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer, ours, values = row.make()
            want, got = values()
            assert abs(want - got) <= 1e-6 * max(1.0, abs(want)), f"{row.name}: ours {got} but the peer {want}"
            ratio = paired(peer, ours, rounds)
        print(f"| {row.name} | `{row.peer}` | {ratio:.2f} | <= {row.target:.2f} |", flush=True)


# -- the per-update overhead -------------------------------------------------------------
class AtenCounter(TorchDispatchMode):
    """Counts the aten ops (and host reads) run inside it, and the time spent in them."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []
        self.seconds = 0.0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.ops.append(func.overloadpacket.__name__)
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        self.seconds += time.perf_counter() - start
        return out


def overhead(step: Step, calls: int = 200, rounds: int = 7) -> tuple[int, int, float, float]:
    """(aten ops, host reads, µs per call, µs per call outside aten) of one steady-state call.

    µs per call: the median over ``rounds`` loops of ``calls``. The time inside aten is the
    self time of the ``aten::`` ops that ``torch.profiler`` records over ``calls`` more calls
    (it includes the profiler's own cost per op, so the time outside aten is if anything
    understated); outside aten is the call's time minus that."""
    for _ in range(20):
        step()
    with AtenCounter() as one:
        step()
    plain = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            step()
        plain.append((time.perf_counter() - start) / calls)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            step()
    inside = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key.startswith("aten::")) / calls  # µs
    reads = sum(op in HOST_READS for op in one.ops)
    per_call = statistics.median(plain) * 1e6
    return len(one.ops), reads, per_call, max(0.0, per_call - inside)


def run_overhead() -> None:
    from torchmetrics.classification import MulticlassAccuracy

    p, t = tiny_inputs()
    steps: list[tuple[str, Step]] = []
    for label, metric in (
        ("SparseCategoricalAccuracy", tka.SparseCategoricalAccuracy()),
        ('"accuracy" (KerasAccuracy)', tka.KerasAccuracy()),
        ('torchmetrics MulticlassAccuracy(average="micro")', MulticlassAccuracy(num_classes=10, average="micro")),
    ):
        steps += [(f"{label} update", lambda m=metric: m.update(p, t)), (f"{label} forward", lambda m=metric: m(p, t))]
    print("| (32, 10) step | aten ops | host reads | µs/call | µs outside aten |\n|---|---:|---:|---:|---:|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, step in steps:
            ops, reads, total, outside = overhead(step)
            print(f"| {label} | {ops} | {reads} | {total:.1f} | {outside:.1f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N / 16 and 9 rounds: a smoke run")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--only", default=None, help="the rows whose name contains this text")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"Interleaved pairs, torch threads: {torch.get_num_threads()}, median of the per-round ratios.\n")
    run_matrix(16 if args.quick else 1, args.rounds or (9 if args.quick else 41), args.only)
    print()
    run_overhead()


if __name__ == "__main__":
    main()
