"""Command line: ``python -m torch_keras_acc explain --y-true FILE --y-pred FILE``.

Reads .npy, .npz (``FILE.npz:key`` picks an array, else the only/first one),
.pt/.pth (a tensor, loaded with ``weights_only=True``) and .csv (numbers,
comma-separated, an optional header line). Prints the :func:`explain` report
as a table, or JSON with ``--json``; ``--sweep`` adds accuracy per binary
threshold, and ``--plot out.png`` draws it (needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from torch_keras_acc.explain import explain, threshold_sweep


class InputError(Exception):
    """A file that cannot be read as an array; the message says why."""


def load_array(spec: str) -> np.ndarray:
    """An array from ``path`` or ``path.npz:key``."""
    path_str, _, key = spec.partition(":") if spec.count(":") == 1 and not Path(spec).exists() else (spec, "", "")
    path = Path(path_str)
    if not path.is_file():
        raise InputError(f"{spec}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = list(z.keys())
                if not names:
                    raise InputError(f"{spec}: the .npz file holds no arrays")
                if key and key not in names:
                    raise InputError(f"{spec}: no array {key!r} in it; it holds {names}")
                return z[key or names[0]]
        if suffix in (".pt", ".pth"):
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(obj, torch.Tensor):
                raise InputError(f"{spec}: expected a saved tensor, found {type(obj).__name__}")
            return obj.float().numpy() if obj.dtype == torch.bfloat16 else obj.numpy()
        if suffix == ".csv":
            text = path.read_text().strip().splitlines()
            try:
                float(text[0].split(",")[0])
                skip = 0
            except (ValueError, IndexError):
                skip = 1  # a header line
            return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=1)
    except InputError:
        raise
    except Exception as e:  # numpy/torch/zip errors: say which file and why, not a traceback
        raise InputError(f"{spec}: could not read it as {suffix} ({type(e).__name__}: {e})") from None
    raise InputError(f"{spec}: unsupported file type {suffix!r}; expected .npy, .npz, .pt, .pth or .csv")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torch_keras_acc", description="Keras accuracy, exactly, inside PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", help="why do my accuracies differ?")
    ex.add_argument("--y-true", required=True, help="labels file (.npy, .npz[:key], .pt, .csv)")
    ex.add_argument("--y-pred", required=True, help="predictions file (classes on the last axis)")
    ex.add_argument("--sample-weight", help="optional weights file")
    ex.add_argument("--loss", help="Keras loss name, for the legacy (Keras <= 2.2) resolution")
    ex.add_argument("--threshold", type=float, default=0.5, help="binary threshold (default 0.5)")
    ex.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ex.add_argument("--sweep", action="store_true", help="add binary accuracy for a range of thresholds")
    ex.add_argument("--plot", metavar="PNG", help="plot the threshold sweep to this PNG (needs matplotlib)")
    args = parser.parse_args(argv)

    try:
        y_true, y_pred = load_array(args.y_true), load_array(args.y_pred)
        weight = load_array(args.sample_weight) if args.sample_weight else None
        report = explain(y_true, y_pred, loss=args.loss, sample_weight=weight, threshold=args.threshold)
        sweep = threshold_sweep(y_true, y_pred, sample_weight=weight) if (args.sweep or args.plot) else None
    except (InputError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if args.plot:
        try:
            _plot(sweep, args.plot)
        except ImportError:
            print("error: --plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
            return 2
    if args.json:
        out = report.to_dict()
        if sweep is not None:
            out["threshold_sweep"] = [{"threshold": t, "binary_accuracy": a} for t, a in sweep]
        print(json.dumps(out, indent=2))
    else:
        print(report)
        if sweep is not None:
            print("\nThreshold sweep (binary accuracy, y_pred > t):")
            for t, a in sweep:
                print(f"  t={t:<8g} {a:.4f}")
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return 0


def _plot(sweep: list[tuple[float, float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([t for t, _ in sweep], [a for _, a in sweep], marker="o")
    ax.set_xlabel("threshold t (Keras: y_pred > t)")
    ax.set_ylabel("binary accuracy")
    ax.set_title("Accuracy vs threshold")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
