"""``explain()``: why do my accuracies differ?

Given labels and predictions, report what Keras's ``"accuracy"`` means for
these shapes (Keras 3 and legacy), the value of every Keras variant that
applies, what scikit-learn's ``accuracy_score`` and torchmetrics' ``Accuracy``
report (computed with the real libraries when installed), one line per
difference saying why, and the common mistakes the inputs show.

Every "Keras" number is what Keras 3 itself reports. Where a documented
deliberate difference changes it (e.g. Keras 3's cast of class ids to bfloat16
scores), the report shows Keras 3's number, ours beside it (``ours``, the
``torch_keras_acc`` rows), and a line saying why and which argument reproduces
Keras (see ``_keras_itself.py``).

Example:
    >>> import torch_keras_acc as tka
    >>> report = tka.explain([[1], [0], [1], [0]], [[0.9], [0.6], [0.4], [0.1]])
    >>> report.keras3["metric"], report.keras3["value"]
    ('BinaryAccuracy', 0.5)
    >>> report.to_dict()["variants"]["binary_accuracy(threshold=0.5)"]
    0.5
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from torch_keras_acc import functional as F
from torch_keras_acc import registry
from torch_keras_acc._losses import check_loss_name
from torch_keras_acc._convert import ArrayLike, to_tensor
from torch_keras_acc._keras_itself import keras3_itself
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc._tf_rules import label_index
from torch_keras_acc.resolve import Semantics, resolve_accuracy

__all__ = ["AccuracyReport", "explain", "threshold_sweep"]


def float32_repr(x: Any) -> Any:
    """A float as the float32 value a user reads (``0.24``, not ``0.23999999463558197``).

    Metric results are float32; widened to a Python float they print with
    float64's digits. The shortest repr of the float32 is what Keras shows.
    Other values pass through; dicts, lists and tuples are converted inside.
    """
    if isinstance(x, float):
        return float(str(np.float32(x))) if np.isfinite(x) and abs(x) < 3e38 else x
    if isinstance(x, dict):
        return {k: float32_repr(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [float32_repr(v) for v in x]
    return x


@dataclass
class AccuracyReport:
    """What [`explain()`][torch_keras_acc.explain.explain] found. ``print(report)`` shows a table; ``to_dict()`` / ``to_json()`` the data."""

    y_true_shape: list[int]
    y_pred_shape: list[int]
    problem: str  # "binary", "multiclass", "multilabel"
    keras3: dict[str, Any]
    legacy: dict[str, Any]
    variants: dict[str, Any] = field(default_factory=dict)  # Keras 3's own numbers (an error's name where it raises)
    ours: dict[str, float] = field(default_factory=dict)  # ours, for the rows where a documented difference changes it
    external: dict[str, Any] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data, numbers as the float32 values a user reads (see [`float32_repr`][torch_keras_acc.explain.float32_repr])."""
        return float32_repr(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        rows = [("Keras 3 'accuracy'", self.keras3["metric"], self.keras3["value"])]
        if "ours" in self.keras3:  # a documented difference: Keras 3's own number above, ours here
            rows.append(("torch_keras_acc", self.keras3["metric"], self.keras3["ours"]))
        rows.append(("Keras <= 2.2 'accuracy'", self.legacy["metric"], self.legacy["value"]))
        for name, v in self.variants.items():
            rows.append(("Keras variant", name, v))
            if name in self.ours:
                rows.append(("torch_keras_acc", name, self.ours[name]))
        rows += [("other library", name, v) for name, v in self.external.items()]
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        lines = [
            f"y_true {tuple(self.y_true_shape)}, y_pred {tuple(self.y_pred_shape)}: {self.problem} problem",
            "",
            f"{'source':<{w0}}  {'metric':<{w1}}  value",
            f"{'-' * w0}  {'-' * w1}  ------",
        ]
        for src, name, v in rows:
            lines.append(f"{src:<{w0}}  {name:<{w1}}  {_fmt(v)}")
        for title, items in (("Why they differ", self.differences), ("Likely mistakes", self.mistakes), ("Notes", self.notes)):
            if items:
                lines += ["", f"{title}:"] + [f"- {x}" for x in items]
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _value(metric: KerasMeanMetric, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None) -> float:
    metric.update_state(y_true, y_pred, sample_weight)
    return float(metric.result())


def _quiet(cls: type[KerasMeanMetric], **kw: Any) -> KerasMeanMetric:
    return cls(warn_pitfalls=False, on_invalid="ignore", **kw)


def explain(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    loss: Any = None,
    sample_weight: ArrayLike | None = None,
    threshold: float = 0.5,
) -> AccuracyReport:
    """Explain the accuracies that Keras, scikit-learn and torchmetrics give on these inputs.

    Classes are on the last axis, as in Keras. ``loss`` (a Keras name or a
    PyTorch loss) only matters for the legacy resolution; ``threshold`` is the
    binary threshold of the Keras variants.
    """
    check_loss_name(loss, "explain")
    yt = to_tensor(y_true, "y_true", "explain")
    yp = to_tensor(y_pred, "y_pred", "explain")
    sw = None if sample_weight is None else to_tensor(sample_weight, "sample_weight", "explain")
    if yp.ndim == 0 or yt.ndim == 0:
        raise ValueError(f"explain: expected arrays with a batch axis, got y_true {tuple(yt.shape)} and y_pred {tuple(yp.shape)}")
    c = yp.shape[-1]
    binary_like = yp.ndim == 1 or c == 1
    same_shape = tuple(yt.shape) == tuple(yp.shape)
    problem = "binary" if binary_like else ("multilabel" if same_shape and _multi_hot(yt) else "multiclass")

    def resolved(semantics: Semantics) -> dict[str, Any]:
        cls = resolve_accuracy(yt, yp, loss=loss, semantics=semantics)
        return {"metric": cls.__name__, "value": _value(_quiet(cls), yt, yp, sw)}

    logits = bool(yp.is_floating_point() and yp.numel() and ((yp < 0).any() or (yp > 1).any()))
    try:
        report = AccuracyReport(list(yt.shape), list(yp.shape), problem, {}, resolved("legacy"))
        chosen = resolve_accuracy(yt, yp, loss=loss, semantics="keras3")
        # Keras 3's own numbers (what its logs show); ours beside them where a documented difference applies.
        report.keras3 = {"metric": chosen.__name__, "value": _keras3_number(report, "Keras 3 'accuracy'", chosen, {}, yt, yp, sw)}
        if "Keras 3 'accuracy'" in report.ours:
            report.keras3["ours"] = report.ours.pop("Keras 3 'accuracy'")
        for label, cls, config, optional in _rows(problem, binary_like, same_shape, c, logits, threshold):
            entry = registry.by_class(cls)
            keras3 = entry is not None and entry.family == "keras" and not optional
            try:
                report.variants[label] = _keras3_number(report, label, cls, config, yt, yp, sw) if keras3 else _value(_quiet(cls, **config), yt, yp, sw)
            except ValueError:
                if not optional:  # only element-wise equality may refuse shapes the others take
                    raise
    except ValueError as err:  # named after the user's call, not after a kernel they never asked for
        raise ValueError(
            f"explain: y_true of shape {tuple(yt.shape)} and y_pred of shape {tuple(yp.shape)} cannot be scored: {_without_kernel(err)}"
        ) from None
    _external(report, yt, yp, sw, threshold, logits)
    _differences(report, loss, logits, threshold)
    _mistakes(report, yt, yp, threshold)
    return report


def _without_kernel(err: ValueError) -> str:
    """An error's message without its leading kernel name (``"legacy binary_accuracy: "``)."""
    head, sep, rest = str(err).partition(": ")
    return rest if sep and head in {e.cls.spec.name for e in registry.ENTRIES if e.cls.spec is not None} else str(err)


def _rows(
    problem: str, binary_like: bool, same_shape: bool, c: int, logits: bool, threshold: float
) -> list[tuple[str, type[KerasMeanMetric], dict[str, Any], bool]]:
    """The registry's metrics that apply to these shapes, as (row label, class, config, optional):
    binary ones first (for binary and multi-label problems), then the one-hot or the
    class-id ones (top-k only when there are more classes than k), element-wise equality last."""
    rows = []
    for entry in registry.ENTRIES:
        spec = entry.cls.spec
        if entry.row is None or spec is None:
            continue
        binary = entry.kind == "binary"
        if binary and not (binary_like or problem == "multilabel"):
            continue
        if spec.labels != "elementwise" and (binary_like or same_shape != (spec.labels == "one_hot")):
            continue
        if "k" in spec.config and c <= spec.defaults["k"]:
            continue
        configs = [dict(spec.defaults)]
        if "threshold" in spec.config:
            configs = [{"threshold": threshold}] + ([{"threshold": 0.0}] if logits and threshold != 0.0 else [])
        order = 0 if binary else (2 if spec.labels == "elementwise" else 1)
        rows += [(order, entry.row.format(**config), entry.cls, config) for config in configs]
    return [(label, cls, config, order == 2) for order, label, cls, config in sorted(rows, key=lambda r: r[0])]


def _keras3_number(
    report: AccuracyReport, row: str, cls: type[KerasMeanMetric], config: dict[str, Any], yt: Tensor, yp: Tensor, sw: Tensor | None
) -> float | str:
    """Keras 3's own number for a row (``_keras_itself``); where a documented difference changes it,
    ours goes to ``report.ours`` and one line per difference to ``report.differences``."""
    view = keras3_itself(cls, config, yt, yp, sw)
    if view.differences:
        report.ours[row] = view.ours
        for d in view.differences:
            report.differences.append(f"{row}: Keras 3 reports {_fmt(view.keras3)}, torch_keras_acc {view.ours:.4f}: {d.why}")
    return view.keras3


def _multi_hot(y: Tensor) -> bool:
    """Labels of y_pred's shape with some row not exactly one-hot (several or no 1s)."""
    if not ((y == 0) | (y == 1)).all():
        return False
    return bool((y.sum(dim=-1) != 1).any())


def _hard_labels(yt: Tensor, yp: Tensor, problem: str, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """What a user hands scikit-learn: class labels from argmax, or thresholded columns."""
    if problem == "binary":
        t = yt.reshape(yt.shape[0], -1)[:, 0] if yt.ndim > 1 else yt
        p = yp.reshape(yp.shape[0], -1)[:, 0] if yp.ndim > 1 else yp
        return t.numpy().astype(np.int64), (p > threshold).numpy().astype(np.int64)
    if problem == "multilabel":
        return yt.numpy().astype(np.int64).reshape(yt.shape[0], -1), (yp > threshold).numpy().astype(np.int64).reshape(yp.shape[0], -1)
    labels = label_index(yt) if yt.ndim < yp.ndim or yt.shape[-1] == 1 else torch.argmax(yt, dim=-1)
    return labels.reshape(-1).numpy(), torch.argmax(torch.nan_to_num(yp.float(), nan=-np.inf), dim=-1).reshape(-1).numpy()


def _external(report: AccuracyReport, yt: Tensor, yp: Tensor, sw: Tensor | None, threshold: float, logits: bool) -> None:
    ext, notes = report.external, report.notes
    true_labels, pred_labels = _hard_labels(yt, yp, report.problem, threshold)
    try:
        from sklearn.metrics import accuracy_score
    except ImportError:
        notes.append("scikit-learn is not installed: accuracy_score skipped (pip install scikit-learn)")
    else:
        weight = None
        if sw is not None and sw.ndim == 1 and sw.shape[0] == yt.shape[0] and yp.ndim <= 2:
            weight = sw.numpy()
        elif sw is not None:
            notes.append("accuracy_score skipped: it takes one weight per sample of a rank-1 or rank-2 problem")
        if sw is None or weight is not None:
            ext["sklearn accuracy_score"] = float(accuracy_score(true_labels, pred_labels, sample_weight=weight))
            if report.problem == "multilabel":
                notes.append("scikit-learn's accuracy_score on multi-label indicators is subset accuracy: a sample counts only if all its labels are right")
    try:
        import torchmetrics
    except ImportError:  # pragma: no cover - torchmetrics is a dependency
        return
    if sw is not None:
        notes.append("torchmetrics' Accuracy takes no sample weights: its values below ignore them")
    try:
        _torchmetrics_values(report, torchmetrics, yp, true_labels, threshold)
    except (RuntimeError, ValueError) as err:  # its own input checks, e.g. binary labels other than 0/1
        notes.append(f"torchmetrics refused these inputs, so its values are missing: {str(err).splitlines()[0]}")


def _torchmetrics_values(report: AccuracyReport, torchmetrics: Any, yp: Tensor, true_labels: np.ndarray, threshold: float) -> None:
    ext, notes = report.external, report.notes
    if report.problem == "binary":
        p = yp.reshape(yp.shape[0], -1)[:, 0] if yp.ndim > 1 else yp
        t = torch.as_tensor(true_labels)
        ext["torchmetrics Accuracy(task='binary')"] = float(torchmetrics.Accuracy(task="binary", threshold=threshold)(p.float(), t))
    elif report.problem == "multilabel":
        n = yp.shape[-1]
        p, t = yp.reshape(-1, n).float(), torch.as_tensor(true_labels).reshape(-1, n)
        ext["torchmetrics Accuracy(task='multilabel')"] = float(torchmetrics.Accuracy(task="multilabel", num_labels=n, threshold=threshold)(p, t))
    else:
        c = yp.shape[-1]
        p, t = yp.reshape(-1, c).float(), torch.as_tensor(true_labels).reshape(-1)
        valid = (t >= 0) & (t < c)
        if not bool(valid.all()):
            notes.append("torchmetrics rejects labels outside [0, C): they were left out of its values")
        p, t = p[valid], t[valid]
        ext["torchmetrics Accuracy(task='multiclass')"] = float(torchmetrics.Accuracy(task="multiclass", num_classes=c)(p, t))
        ext["torchmetrics MulticlassAccuracy() (macro)"] = float(torchmetrics.classification.MulticlassAccuracy(num_classes=c)(p, t))
        if yp.ndim > 2:
            notes.append("torchmetrics expects classes on dim 1; the (N, T, C) scores were flattened to (N*T, C) for it")


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 or (a != a and b != b)


def _cause(name: str, report: AccuracyReport, logits: bool, threshold: float) -> str:
    if "macro" in name:
        return "it averages the accuracy of each class (macro); Keras counts every sample once (micro)"
    if "task='binary'" in name and logits:
        return f"torchmetrics applies a sigmoid to scores outside [0, 1] before its threshold; Keras compares the raw values with {threshold}"
    if "sklearn" in name and report.problem == "multilabel":
        return "on multi-label indicators scikit-learn counts a sample only if all its labels are right (subset accuracy)"
    if "multilabel" in name:
        return "it averages over every label of every sample"
    if report.keras3["metric"] == "CategoricalAccuracy" and report.problem != "multiclass":
        return "it thresholds each column, while Keras's 'accuracy' took an argmax here"
    return "the label handling differs (e.g. NaN scores, ties or out-of-range labels)"


def _differences(report: AccuracyReport, loss: Any, logits: bool, threshold: float) -> None:
    d, k3, lg = report.differences, report.keras3, report.legacy
    if k3["metric"] != lg["metric"].replace("Legacy", "") or not _close(k3["value"], lg["value"]):
        d.append(
            f"Keras 3 resolves 'accuracy' from the shapes to {k3['metric']} ({k3['value']:.4f}); Keras <= 2.2 resolved it "
            f"from the loss ({'none given' if loss is None else loss}) to {getattr(registry.by_name(lg['metric']), 'summary', lg['metric'])} ({lg['value']:.4f})"
            + ("; pass loss= to see the legacy answer for your loss." if loss is None else ".")
        )
    if report.problem == "multilabel" and k3["metric"] == "CategoricalAccuracy":
        d.append(
            "Multi-label targets: Keras 3's 'accuracy' is CategoricalAccuracy here (argmax over the labels), whatever the "
            "loss, so it is not the per-label accuracy; BinaryAccuracy is (the famous binary_crossentropy + 'accuracy' question)."
        )
    for name, value in report.external.items():
        if _close(value, k3["value"]):
            continue
        same = [v for v, x in report.variants.items() if isinstance(x, float) and _close(x, value)]
        also = f" (it equals Keras's {same[0]})" if same else ""
        cause = _cause(name, report, logits, threshold)
        if "ours" in k3 and _close(k3["ours"], value) and "macro" not in name:
            cause, also = "it compares class ids exactly, as torch_keras_acc does; Keras 3's cast of the ids explains the gap (see above)", ""
        d.append(f"{name} = {value:.4f} vs Keras 'accuracy' {k3['value']:.4f}: {cause}{also}.")


def _mistakes(report: AccuracyReport, yt: Tensor, yp: Tensor, threshold: float) -> None:
    chosen = registry.by_name(report.keras3["metric"])
    assert chosen is not None and chosen.cls.spec is not None
    config = {"threshold": threshold} if "threshold" in chosen.cls.spec.config else {}
    report.mistakes += chosen.cls.spec.pitfalls(yt, yp, config)
    # keras.metrics.Accuracy (element-wise equality) is listed among the variants with what it
    # is; its own pitfall (scores are never equal to labels) is no mistake of the user's here.
    if report.keras3["metric"] == "CategoricalAccuracy" and yp.ndim == 1:
        report.mistakes.append(
            "y_pred has rank 1, so Keras's 'accuracy' takes the whole batch as one row of class scores "
            "(categorical accuracy over the batch axis). Reshape y_pred and y_true to (N, 1) for binary accuracy."
        )
    if report.keras3["metric"] == "SparseCategoricalAccuracy":
        bad = int(F.invalid_label_count(yt, yp))
        if bad:
            report.mistakes.append(f"{bad} label(s) are not integers in [0, {yp.shape[-1]}): Keras scores them as misses.")


def threshold_sweep(
    y_true: ArrayLike, y_pred: ArrayLike, thresholds: Any = None, sample_weight: ArrayLike | None = None
) -> list[tuple[float, float]]:
    """Binary accuracy (Keras's ``y_pred > t``) for each threshold ``t``.

    Defaults to 0.0, 0.05, ..., 1.0, extended to cover logits when y_pred leaves [0, 1].

    Example:
        >>> threshold_sweep([1, 0, 1], [0.7, 0.4, 0.2], thresholds=[0.1, 0.5])
        [(0.1, 0.6666666865348816), (0.5, 0.6666666865348816)]
    """
    yp = to_tensor(y_pred, "y_pred", "threshold_sweep")
    if thresholds is None:
        lo, hi = min(0.0, float(yp.min())) if yp.numel() else 0.0, max(1.0, float(yp.max())) if yp.numel() else 1.0
        # always include 0.0 (logits) and 0.5 (probabilities), Keras's two usual thresholds
        thresholds = sorted(set(np.round(np.linspace(lo, hi, 21), 4).tolist()) | {0.0, 0.5})
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in thresholds:
            m = _quiet(registry.variant("binary", "keras3"), threshold=float(t))
            out.append((float(t), _value(m, to_tensor(y_true, "y_true", "threshold_sweep"), yp, None if sample_weight is None else to_tensor(sample_weight, "sample_weight", "threshold_sweep"))))
    return out
