"""Command line: ``keras-accuracy explain --y-true FILE --y-pred FILE`` (or ``python -m torch_keras_acc``).

Reads .npy, .npz (``FILE.npz:key`` picks an array, else the only/first one),
.pt/.pth (a tensor, loaded with ``weights_only=True``) and .csv (numbers,
comma-separated, an optional header line). Prints the [`explain()`][torch_keras_acc.explain.explain] report
as a table, or JSON with ``--json``; ``--sweep`` adds accuracy per binary
threshold (binary and multi-label problems only), and ``--plot out.png``
draws it (needs matplotlib). ``--version`` prints the package version.
``keras-accuracy check-kernels [--device cuda]`` checks the Triton kernels on this
device against the reference and prints ``check_kernels()``'s report.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from torch_keras_acc import __version__
from torch_keras_acc._losses import KERAS_LOSSES, TORCH_LOSSES, check_loss_name  # noqa: F401  (the lists: re-exported)
from torch_keras_acc.explain import AccuracyReport, explain, float32_repr, threshold_sweep

# The loss names --loss accepts live in _losses.py, shared with the Python API.


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
            lines = [line for line in path.read_text().splitlines() if line.strip()]
            try:
                float(lines[0].split(",")[0])
                skip = 0
            except (ValueError, IndexError):
                skip = 1  # a header line
            if len(lines) <= skip:  # checked here: np.loadtxt would only warn and return shape (0, 1)
                why = "only a header line" if lines else "it is empty"
                raise InputError(f"{spec}: the CSV file holds no rows of numbers ({why})")
            return np.loadtxt(lines, delimiter=",", skiprows=skip, ndmin=1)
    except InputError:
        raise
    except Exception as e:  # numpy/torch/zip errors: say which file and why, not a traceback
        raise InputError(f"{spec}: could not read it as {suffix} ({type(e).__name__}: {e})") from None
    raise InputError(f"{spec}: unsupported file type {suffix!r}; expected .npy, .npz, .pt, .pth or .csv")


def check_loss(name: str | None) -> str | None:
    """``name`` if it is a loss we know (any case), else an error listing the closest valid names."""
    try:
        check_loss_name(name, "--loss")
    except ValueError as err:
        raise InputError(str(err).replace("--loss: loss ", "--loss ", 1)) from None
    return name


def _prog() -> str:
    """How the user called us, for usage lines: the console script or ``python -m``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m torch_keras_acc" if name in ("", "__main__.py", "-m", "-c") else name


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``keras-accuracy`` / ``python -m torch_keras_acc``."""
    parser = argparse.ArgumentParser(prog=_prog(), description="Keras accuracy, exactly, inside PyTorch.")
    parser.add_argument("--version", action="version", version=f"torch_keras_acc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", help="why do my accuracies differ?")
    ex.add_argument("--y-true", required=True, help="labels file (.npy, .npz[:key], .pt, .csv)")
    ex.add_argument("--y-pred", required=True, help="predictions file (classes on the last axis)")
    ex.add_argument("--sample-weight", help="optional weights file")
    ex.add_argument("--loss", help="Keras or PyTorch loss name (e.g. binary_crossentropy), for the Keras <= 2.2 resolution")
    ex.add_argument("--threshold", type=float, default=0.5, help="binary threshold (default 0.5)")
    ex.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ex.add_argument("--sweep", action="store_true", help="add binary accuracy per threshold (binary and multi-label problems)")
    ex.add_argument("--plot", metavar="PNG", help="plot the threshold sweep to this PNG (needs matplotlib)")
    ck = sub.add_parser("check-kernels", help="check the Triton kernels on this device against the reference")
    ck.add_argument("--device", help="cuda, cuda:1, cpu (interpreted, slow); default: CUDA if available, else the CPU")
    ck.add_argument("--dtype", action="append", help="a scores dtype to check (repeatable; default: all)")
    ck.add_argument("--kernel", action="append", help="a kernel to check (repeatable; default: all)")
    return parser


def _check_kernels(args: argparse.Namespace) -> int:
    """``check-kernels``: the report of ``check_kernels()``; exit 1 if a kernel fell back."""
    from torch_keras_acc._check import check_kernels

    try:
        report = check_kernels(args.device, dtypes=args.dtype, kernels=args.kernel)
    except (ValueError, TypeError, AttributeError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.ok else 1


def _load(spec: str) -> np.ndarray:
    array = load_array(spec)
    if array.size == 0:
        raise InputError(f"{spec}: holds no values (shape {array.shape})")
    return array


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input)."""
    args = build_parser().parse_args(argv)
    if args.command == "check-kernels":
        return _check_kernels(args)
    try:
        loss = check_loss(args.loss)
        y_true, y_pred = _load(args.y_true), _load(args.y_pred)
        weight = _load(args.sample_weight) if args.sample_weight else None
        report = explain(y_true, y_pred, loss=loss, sample_weight=weight, threshold=args.threshold)
    except (InputError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    # From here on the report stands: a sweep that cannot be made is a note, never an error.
    sweep, sweep_note, plot_note = None, None, None
    if args.sweep or args.plot:
        sweep_note = _why_no_sweep(report)
        if sweep_note is None:
            try:
                sweep = threshold_sweep(y_true, y_pred, sample_weight=weight)
                if args.threshold not in {t for t, _ in sweep}:  # the threshold in use is always a point of the sweep
                    sweep = threshold_sweep(y_true, y_pred, sorted({t for t, _ in sweep} | {args.threshold}), weight)
            except (ValueError, TypeError) as e:
                sweep_note = f"threshold sweep skipped: {e}"
    if args.plot and sweep is not None:
        try:
            _plot(sweep, args.plot, args.threshold, report)
        except ImportError:
            plot_note = "--plot needs matplotlib (pip install matplotlib): no plot written"
        except OSError as e:
            plot_note = f"could not write the plot to {args.plot}: {e}"
    elif args.plot:
        plot_note = f"no plot written to {args.plot}: there is no threshold sweep"

    if args.json:
        out = report.to_dict()
        if args.sweep or args.plot:
            rows = [{"threshold": t, "binary_accuracy": a} for t, a in sweep] if sweep is not None else None
            out["threshold_sweep"] = float32_repr(rows)
            if sweep_note:
                out["threshold_sweep_note"] = sweep_note
        print(json.dumps(out, indent=2))
    else:
        print(report)
        if sweep is not None:
            print("\nThreshold sweep (binary accuracy, y_pred > t):")
            for t, a in sweep:
                print(f"  t={t:<8g} {a:.4f}")
            best_t, best_a = sweep[best_threshold(sweep, args.threshold)]
            print(f"best: t = {best_t:g} ({best_a:.4f}); the threshold used: t = {args.threshold:g}")
        elif sweep_note:
            print(f"\n{sweep_note}")
        if args.plot and plot_note is None:
            print(f"\nplot written to {args.plot}")
    if plot_note:
        print(f"warning: {plot_note}", file=sys.stderr)
    if sweep_note and args.json:
        print(f"note: {sweep_note}", file=sys.stderr)
    return 2 if plot_note and sweep is not None else 0


def _why_no_sweep(report: AccuracyReport) -> str | None:
    """None if a binary-threshold sweep means something here, else the reason it does not."""
    if report.problem in ("binary", "multilabel"):
        return None
    return (
        f"threshold sweep skipped: this is a {report.problem} problem (y_true {tuple(report.y_true_shape)}, y_pred "
        f"{tuple(report.y_pred_shape)}), scored by argmax over the classes, with no threshold to vary; "
        "--sweep applies to binary (one score per sample) and multi-label (0/1 targets of y_pred's shape) problems"
    )


def best_threshold(sweep: list[tuple[float, float]], threshold: float) -> int:
    """The index of the sweep's best accuracy; on ties, the threshold nearest the one in use
    (the text output and the plot mark the same point)."""
    return max(range(len(sweep)), key=lambda i: (sweep[i][1], -abs(sweep[i][0] - threshold)))


def _plot(sweep: list[tuple[float, float]], path: str, threshold: float, report: AccuracyReport) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts, accs = [t for t, _ in sweep], [a for _, a in sweep]
    best = best_threshold(sweep, threshold)
    used = [a for t, a in sweep if t == threshold]
    shape = report.y_pred_shape
    n = f"N = {shape[0]}" + (f" samples x {int(np.prod(shape[1:]))} labels" if report.problem == "multilabel" else "")

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot(ts, accs, marker="o", markersize=3.5, color="tab:blue", label="binary accuracy")
    ax.axvline(threshold, color="tab:gray", linestyle="--", linewidth=1)
    ax.plot([threshold] * len(used), used, marker="o", markersize=8, color="tab:gray", linestyle="none",
            label=f"threshold used: t = {threshold:g}" + (f" ({used[0]:.4f})" if used else ""))
    ax.plot([ts[best]], [accs[best]], marker="*", markersize=14, color="tab:red", linestyle="none",
            label=f"best: t = {ts[best]:g} ({accs[best]:.4f})")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("threshold t (Keras: y_pred > t)")
    ax.set_ylabel("binary accuracy")
    ax.set_title(f"Keras binary_accuracy vs threshold ({report.problem}, {n})", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower center", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
