"""This checkout's ``update()`` against another version of the package, as interleaved pairs.

    python benchmarks/ab_versions.py OTHER_CHECKOUT [--rounds 41]

``OTHER_CHECKOUT`` is a directory holding another ``torch_keras_acc/`` (e.g. a
``git worktree add /tmp/before <commit>``). Its package is copied under the name
``tka_other`` so that both import side by side in one process; then each workload
runs as rounds of (other n times, this n times), and the figure is the median of
the per-round ratios this/other. Separate timings on a shared machine drift by
10-30 %; paired rounds in one process cancel most of that drift. Results are
checked to agree before anything is timed.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_other(checkout: Path) -> object:
    """The package of ``checkout``, imported as ``tka_other`` (its absolute imports renamed)."""
    tmp = Path(tempfile.mkdtemp(prefix="tka_other_"))
    shutil.copytree(checkout / "torch_keras_acc", tmp / "tka_other")
    for path in (tmp / "tka_other").rglob("*.py"):
        path.write_text(path.read_text().replace("torch_keras_acc", "tka_other"))
    sys.path.insert(0, str(tmp))
    return importlib.import_module("tka_other")


Factory = Callable[[], "tuple[object, Callable[[], object]]"]


def workloads(tka: object) -> dict[str, Factory]:
    """Name -> a factory of (a fresh metric, one step on it); inputs made once."""
    gen = torch.Generator().manual_seed(0)
    tiny_p, tiny_t = torch.randn(32, 10, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    big_p, big_t = torch.randn(8192, 1000, generator=gen), torch.randint(0, 1000, (8192,), generator=gen)
    bin_p, bin_t = torch.rand(1 << 20, generator=gen), (torch.rand(1 << 20, generator=gen) < 0.5).float()

    def update(cls: str, p: torch.Tensor, t: torch.Tensor) -> Factory:
        def make() -> tuple[object, Callable[[], object]]:
            metric = getattr(tka, cls)()
            return metric, lambda: metric.update(p, t)
        return make

    def forward(cls: str, p: torch.Tensor, t: torch.Tensor) -> Factory:
        def make() -> tuple[object, Callable[[], object]]:
            metric = getattr(tka, cls)()
            return metric, lambda: metric(p, t)
        return make

    return {
        "tiny (32, 10) sparse update": update("SparseCategoricalAccuracy", tiny_p, tiny_t),
        "tiny (32, 10) 'accuracy' update": update("KerasAccuracy", tiny_p, tiny_t),
        "tiny (32, 10) sparse forward": forward("SparseCategoricalAccuracy", tiny_p, tiny_t),
        "large (8192, 1000) sparse update": update("SparseCategoricalAccuracy", big_p, big_t),
        "large (8192, 1000) top-5 update": update("SparseTopKCategoricalAccuracy", big_p, big_t),
        "large binary (1048576,) update": update("BinaryAccuracy", bin_p, bin_t),
    }


def paired(a: Callable[[], object], b: Callable[[], object], rounds: int, target_s: float = 0.02) -> float:
    """Median over rounds of time(b) / time(a), each side run n times per round."""
    for _ in range(3):
        a(), b()
    start = time.perf_counter()
    a()
    n = max(1, int(target_s / max(time.perf_counter() - start, 1e-7)))
    ratios = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            a()
        t1 = time.perf_counter()
        for _ in range(n):
            b()
        t2 = time.perf_counter()
        ratios.append((t2 - t1) / (t1 - t0))
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="a checkout holding the other torch_keras_acc/")
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    torch.set_num_threads(2)
    import torch_keras_acc as this

    other = load_other(args.other)
    print(f"this: {Path(this.__file__).parent}  other: {args.other}  rounds: {args.rounds}, threads: 2")
    print(f"{'workload':<36} this/other (median of paired ratios)")
    mine, theirs = workloads(this), workloads(other)
    for name in mine:
        (metric_a, step_a), (metric_b, step_b) = theirs[name](), mine[name]()
        step_a(), step_b()
        assert float(metric_a.compute()) == float(metric_b.compute()), f"{name}: the two versions disagree"  # type: ignore[attr-defined]
        print(f"{name:<36} {paired(step_a, step_b, args.rounds):.3f}", flush=True)


if __name__ == "__main__":
    main()
